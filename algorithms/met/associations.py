"""The intermediate products of MET reconstruction: jet associations and object fragments.

:class:`JetAssociations` (METJetAssocTool's output) holds one association per jet plus misc and
the constituent cache of a block; :class:`ObjectAssociations` (one per object associator) holds
that associator's part of the map in one packed int64 buffer. Both are immutable records built
per block by ``from_kernel`` from a kernel's fresh arrays; the map builder and the soft
associator read them (see :mod:`metflow.algorithms.met.reco`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from metflow.edm.errors import SchemaError

from . import _reco_kernels as kern

__all__ = ["JetAssociations", "ObjectAssociations"]


class _Immutable:
    """Fields set once, by the constructor, never reassigned. A plain class rather than a frozen
    dataclass: that sets each field through ``object.__setattr__``, a microsecond per object at
    batch size 1, where every algorithm call builds one."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()
                          if not isinstance(v, np.ndarray) and not k.startswith("_"))
        return f"{type(self).__name__}({shown})"


class JetAssociations(_Immutable):
    """Output of :class:`METJetAssocTool` for one block: associations and the constituent cache.

    Association indices are block-global: event ``i`` owns ``assoc_offsets[i]:assoc_offsets[i+1]``,
    one per jet in jet order, the misc association last. ``signal_assoc`` / ``track_assoc`` give,
    per signal (PFO or cluster) and per track of the block, the owning jet association or -1.
    """

    jet_collection: str
    pflow: bool
    signals_key: str
    assoc_offsets: np.ndarray  # int64[n_events+1]
    jet_index: np.ndarray  # int32[n_assoc], -1 for misc
    signal_assoc: np.ndarray  # int32[n_signals]
    track_assoc: np.ndarray  # int32[n_tracks]
    track_accepted: np.ndarray  # bool[n_tracks]
    jettrk: np.ndarray  # float64[5, n_assoc]: px, py, pz, e, sumpt of the jet's selected tracks

    def __init__(self, jet_collection: str, pflow: bool, signals_key: str, assoc_offsets: np.ndarray,
                 jet_index: np.ndarray, signal_assoc: np.ndarray, track_assoc: np.ndarray,
                 track_accepted: np.ndarray, jettrk: np.ndarray):
        fields = self.__dict__   # one store per field: every jet-association call builds one
        fields["jet_collection"] = jet_collection
        fields["pflow"] = pflow
        fields["signals_key"] = signals_key
        fields["assoc_offsets"] = assoc_offsets
        fields["jet_index"] = jet_index
        fields["signal_assoc"] = signal_assoc
        fields["track_assoc"] = track_assoc
        fields["track_accepted"] = track_accepted
        fields["jettrk"] = jettrk

    _ARRAYS: ClassVar[tuple[str, ...]] = ("assoc_offsets", "jet_index", "signal_assoc", "track_assoc",
                                          "track_accepted", "jettrk")

    @property
    def n_events(self) -> int:
        return self.assoc_offsets.shape[0] - 1

    @property
    def n_assoc(self) -> int:
        return int(self.assoc_offsets[-1])

    @property
    def is_misc(self) -> np.ndarray:
        return self.jet_index < 0

    @classmethod
    def from_kernel(cls, jet_collection: str, pflow: bool, signals_key: str, assoc_offsets: np.ndarray,
                    jet_index: np.ndarray, signal_assoc: np.ndarray, track_assoc: np.ndarray,
                    track_accepted: np.ndarray, jettrk: np.ndarray) -> "JetAssociations":
        """The frozen associations of a block from :func:`_reco_kernels.jet_associations`'s fresh
        arrays (taken over as they are and made read-only): the producer's constructor."""
        return cls(jet_collection, pflow, signals_key, assoc_offsets, jet_index, signal_assoc, track_assoc,
                   track_accepted, jettrk).freeze()

    def freeze(self) -> "JetAssociations":
        """Make every array read-only (the store does it when the object is recorded)."""
        if not self.__dict__.get("_frozen"):
            for name in self._ARRAYS:
                getattr(self, name).setflags(write=False)
            self.__dict__["_frozen"] = True
        return self


def _fragment_column(i: int, name: str) -> property:
    def column(self: "ObjectAssociations") -> np.ndarray:
        return self._columns()[i]
    column.__name__ = name
    return property(column, doc=f"{name} (int64 view of ``packed``)")


class ObjectAssociations(_Immutable):
    """Output of one object associator: its selected objects split into per-association pieces.

    Selected objects of event ``i`` are ``obj_offsets[i]:obj_offsets[i+1]`` (descending pT),
    ``obj_index`` event-local. Object ``s`` owns pieces ``piece_offsets[s]:piece_offsets[s+1]``,
    each going to association ``piece_assoc`` (block-global; increasing within an object) with
    constituents ``const_offsets[p]:const_offsets[p+1]`` of kind ``const_kind`` (0 signal, 1 track)
    and block-global ``const_index``. The columns are int64 views of one buffer, ``packed``
    (``_reco_kernels.pack_fragment`` layout): an associator returns and freezes one array, and the
    map builder and the soft associator hand all fragments to their kernel as one concatenation.
    """

    container_key: str
    object_type: int
    jet_collection: str
    pflow: bool
    packed: np.ndarray

    def __init__(self, container_key: str, object_type: int, jet_collection: str, pflow: bool,
                 packed: np.ndarray):
        fields = self.__dict__   # one store per field: every associator call builds one
        fields["container_key"] = container_key
        fields["object_type"] = object_type
        fields["jet_collection"] = jet_collection
        fields["pflow"] = pflow
        fields["packed"] = packed

    @classmethod
    def from_columns(cls, container_key: str, object_type: int, jet_collection: str, pflow: bool, *,
                     obj_offsets: Any, obj_index: Any, piece_offsets: Any, piece_assoc: Any,
                     const_offsets: Any, const_kind: Any, const_index: Any) -> "ObjectAssociations":
        """A fragment from its columns (see the class docstring)."""
        cols = [np.ascontiguousarray(c, dtype=np.int64) for c in (
            obj_offsets, obj_index, piece_offsets, piece_assoc, const_offsets, const_kind, const_index)]
        if cols[2].shape[0] != cols[1].shape[0] + 1 or cols[4].shape[0] != cols[3].shape[0] + 1 or \
                cols[5].shape[0] != cols[6].shape[0] or cols[0].shape[0] < 1 or \
                cols[0][-1] != cols[1].shape[0]:
            raise SchemaError(f"object associations of {container_key!r}: inconsistent column lengths",
                              key=container_key)
        return cls(container_key=container_key, object_type=int(object_type), jet_collection=jet_collection,
                   pflow=pflow, packed=kern.pack_fragment(int(object_type), *cols))

    def _columns(self) -> list[np.ndarray]:
        p = self.packed
        n_events, n_sel, n_piece, n_const = p[1:kern.FRAGMENT_HEADER].tolist()
        seg = kern.fragment_segments(n_events, n_sel, n_piece, n_const).tolist()
        return [p[seg[i]:seg[i + 1]] for i in range(7)]

    obj_offsets = _fragment_column(0, "obj_offsets")
    obj_index = _fragment_column(1, "obj_index")
    piece_offsets = _fragment_column(2, "piece_offsets")
    piece_assoc = _fragment_column(3, "piece_assoc")
    const_offsets = _fragment_column(4, "const_offsets")
    const_kind = _fragment_column(5, "const_kind")
    const_index = _fragment_column(6, "const_index")

    @property
    def n_events(self) -> int:
        return int(self.packed[1])

    @property
    def n_objects(self) -> int:
        return int(self.packed[2])

    @classmethod
    def from_kernel(cls, container_key: str, object_type: int, jet_collection: str, pflow: bool,
                    packed: np.ndarray) -> "ObjectAssociations":
        """The frozen fragment of a block from :func:`_reco_kernels.object_associations`'s fresh
        ``packed`` buffer (taken over and made read-only): the associators' constructor."""
        return cls(container_key, object_type, jet_collection, pflow, packed).freeze()

    def freeze(self) -> "ObjectAssociations":
        """Make ``packed`` read-only (the store does it when the object is recorded)."""
        if not self.__dict__.get("_frozen"):
            self.packed.setflags(write=False)
            self.__dict__["_frozen"] = True
        return self
