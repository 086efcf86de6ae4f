"""MissingETAssociation: a view of one association of a map, with :class:`ConstVec` sums."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from metflow.edm.association_map_layout import _VEC
from metflow.edm.met_base import POLICY_OVERLAP_MASK, ObjectType, UsagePolicy

if TYPE_CHECKING:
    from metflow.edm.association_helper import MissingETAssociationHelper
    from metflow.edm.association_map import MissingETAssociationMap


@dataclass
class ConstVec:
    """The 5-vector of an association entry: (cpx, cpy, cpz, ce, sumpt), summed in float64."""

    cpx: float = 0.0
    cpy: float = 0.0
    cpz: float = 0.0
    ce: float = 0.0
    sumpt: float = 0.0

    def __iadd__(self, o: "ConstVec") -> "ConstVec":
        self.cpx += o.cpx; self.cpy += o.cpy; self.cpz += o.cpz; self.ce += o.ce; self.sumpt += o.sumpt
        return self

    def __isub__(self, o: "ConstVec") -> "ConstVec":
        self.cpx -= o.cpx; self.cpy -= o.cpy; self.cpz -= o.cpz; self.ce -= o.ce; self.sumpt -= o.sumpt
        return self

    def __add__(self, o: "ConstVec") -> "ConstVec":
        out = ConstVec(*self.as_tuple())
        out += o
        return out

    def __sub__(self, o: "ConstVec") -> "ConstVec":
        out = ConstVec(*self.as_tuple())
        out -= o
        return out

    def __mul__(self, s: float) -> "ConstVec":
        return ConstVec(*(s * v for v in self.as_tuple()))

    __rmul__ = __mul__

    def __truediv__(self, s: float) -> "ConstVec":
        if s < 1e-9:  # ATLAS: dividing by ~0 gives the null vector
            return ConstVec()
        return ConstVec(*(v / s for v in self.as_tuple()))

    def cpt(self) -> float:
        return math.hypot(self.cpx, self.cpy)

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (self.cpx, self.cpy, self.cpz, self.ce, self.sumpt)

    def is_close(self, o: "ConstVec", tol: float = 1e-5) -> bool:
        return all(abs(a - b) <= tol for a, b in zip(self.as_tuple(), o.as_tuple()))


def _key_has_bit(keys: np.ndarray, bit: int) -> np.ndarray:
    return (keys >> np.uint64(bit)) & np.uint64(1) == np.uint64(1)


class MissingETAssociation:
    """View of association ``index`` of a map (global index within the block)."""

    __slots__ = ("map", "index")

    def __init__(self, map: MissingETAssociationMap, index: int):
        self.map = map
        self.index = index

    # -- fields ------------------------------------------------------------------------------
    @property
    def event(self) -> int:
        return int(self.map.assoc_event()[self.index])

    @property
    def jet_index(self) -> int:
        return int(self.map.jet_index[self.index])

    @property
    def is_misc(self) -> bool:
        return bool(self.map.is_misc[self.index])

    @property
    def _obj_range(self) -> tuple[int, int]:
        return int(self.map.obj_offsets[self.index]), int(self.map.obj_offsets[self.index + 1])

    @property
    def n_objects(self) -> int:
        lo, hi = self._obj_range
        return hi - lo

    def objects(self) -> list[tuple[str, int, ObjectType]]:
        lo, hi = self._obj_range
        m = self.map
        return [(m.container_keys[m.obj_container[i]], int(m.obj_index[i]), ObjectType(int(m.obj_type[i])))
                for i in range(lo, hi)]

    def overlap_indices(self, obj_i: int) -> np.ndarray:
        g = self._obj(obj_i)
        return self.map.ovl_index[self.map.ovl_offsets[g]:self.map.ovl_offsets[g + 1]]

    def overlap_types(self, obj_i: int) -> np.ndarray:
        g = self._obj(obj_i)
        return self.map.ovl_type[self.map.ovl_offsets[g]:self.map.ovl_offsets[g + 1]]

    def _obj(self, obj_i: int) -> int:
        lo, hi = self._obj_range
        if not 0 <= obj_i < hi - lo:
            raise IndexError(f"object {obj_i} out of range: association has {hi - lo} objects")
        return lo + obj_i

    def _entries(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        off = getattr(self.map, f"{kind}_offsets")
        lo, hi = int(off[self.index]), int(off[self.index + 1])
        keys = getattr(self.map, f"{kind}_key")[lo:hi]
        vecs = np.stack([getattr(self.map, f"{kind}_{c}")[lo:hi] for c in _VEC], axis=1)
        return keys, vecs

    @property
    def cal_key(self) -> np.ndarray:
        return self._entries("cal")[0]

    @property
    def trk_key(self) -> np.ndarray:
        return self._entries("trk")[0]

    def cal_entry(self, k: int) -> ConstVec:
        """Cal entry ``k``; an invalid index gives the ATLAS sentinel (-9999999 everywhere)."""
        return self._entry("cal", k)

    def trk_entry(self, k: int) -> ConstVec:
        return self._entry("trk", k)

    def _entry(self, kind: str, k: int) -> ConstVec:
        keys, vecs = self._entries(kind)
        if not 0 <= k < keys.shape[0]:
            return ConstVec(*(-9999999.0,) * 5)
        return ConstVec(*(float(v) for v in vecs[k]))

    # -- derived queries ---------------------------------------------------------------------
    def find_index(self, container: str | int, index: int) -> int:
        """Position of object (container, index) among this association's objects, else -1."""
        lo, hi = self._obj_range
        try:
            cid = self.map.container_id(container)
        except KeyError:
            return -1
        hits = np.flatnonzero((self.map.obj_container[lo:hi] == cid) & (self.map.obj_index[lo:hi] == index))
        return int(hits[0]) if hits.size else -1

    def _sum(self, kind: str, select: np.ndarray) -> ConstVec:
        _, vecs = self._entries(kind)
        s = vecs[select].astype(np.float64).sum(axis=0) if select.any() else np.zeros(5)
        return ConstVec(*(float(v) for v in s))

    def cal_vec(self, obj_i: int) -> ConstVec:
        """Sum of cal entries whose key contains object ``obj_i`` (shared pieces included)."""
        self._obj(obj_i)
        return self._sum("cal", _key_has_bit(self.cal_key, obj_i))

    def trk_vec(self, obj_i: int) -> ConstVec:
        self._obj(obj_i)
        return self._sum("trk", _key_has_bit(self.trk_key, obj_i))

    def jet_trk_vec(self) -> ConstVec:
        m, a = self.map, self.index
        return ConstVec(*(float(getattr(m, f"jettrk_{c}")[a]) for c in _VEC))

    def _overlap_select(self, kind: str, helper: "MissingETAssociationHelper") -> np.ndarray:
        keys = getattr(self, f"{kind}_key")
        used = (keys & np.uint64(helper.get_obj_selection_flags(self.index))) != 0
        return ~used if self.is_misc else used

    def overlap_cal_vec(self, helper: "MissingETAssociationHelper") -> ConstVec:
        """Jet: cal entries claimed by selected objects. Misc: entries of no selected object."""
        return self._sum("cal", self._overlap_select("cal", helper))

    def overlap_trk_vec(self, helper: "MissingETAssociationHelper") -> ConstVec:
        return self._sum("trk", self._overlap_select("trk", helper))

    def has_overlaps(self, helper: "MissingETAssociationHelper", obj_i: int,
                     policy: UsagePolicy = UsagePolicy.OnlyCluster) -> bool:
        """True iff an already-selected object shares constituents of a policy type with obj_i."""
        mask = int(POLICY_OVERLAP_MASK[int(policy)])
        if mask == 0:
            return False
        flags = helper.get_obj_selection_flags(self.index)
        for j, t in zip(self.overlap_indices(obj_i).tolist(), self.overlap_types(obj_i).tolist()):
            if (flags >> j) & 1 and t & mask:
                return True
        return False

    def _jet_obj(self) -> int:
        if self.is_misc or self.map.jet_key is None or self.map.jet_key not in self.map.container_keys:
            return -1
        return self.find_index(self.map.jet_key, self.jet_index)

    def has_alternate_const_vec(self) -> bool:
        """True when the reference jet is an object of its own association (mismatched signals)."""
        return self._jet_obj() >= 0

    def get_alternate_const_vec(self) -> ConstVec:
        """Sum of the cal entries that contain the reference jet's bit."""
        j = self._jet_obj()
        if j < 0:
            return ConstVec()
        return self.cal_vec(j)

    def to_dict(self) -> dict[str, Any]:
        keys_c, vc = self._entries("cal")
        keys_t, vt = self._entries("trk")
        return {
            "jet_index": self.jet_index, "is_misc": self.is_misc,
            "objects": [(c, i, int(t)) for c, i, t in self.objects()],
            "overlaps": [list(zip(self.overlap_indices(k).tolist(), self.overlap_types(k).tolist()))
                         for k in range(self.n_objects)],
            "cal": [(int(k), *map(float, v)) for k, v in zip(keys_c, vc)],
            "trk": [(int(k), *map(float, v)) for k, v in zip(keys_t, vt)],
            "jettrk": self.jet_trk_vec().as_tuple(),
        }

    def __repr__(self) -> str:
        what = "misc" if self.is_misc else f"jet {self.jet_index}"
        return f"<MissingETAssociation event {self.event} {what}: {self.n_objects} objects>"
