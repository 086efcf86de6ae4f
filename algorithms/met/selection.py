"""Analysis object selection for METMaker: a selected view (shallow copy) of a container.

`METObjectSelection` keeps the objects passing pT, |η|, identification, isolation and (for
jets) JVT cuts, in container order, as a shallow copy with `original_index`, so METMaker finds
each object's associations in the map. The copy may also replace the four-momenta (`scale`:
an object-energy-scale variation), which is how a systematic re-computes MET without running
reconstruction again. `selection_cfg(flags, kind)` builds one from the job flags.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metflow.edm import keys as mk
from metflow.edm.containers import ORIGINAL_INDEX, Container, ListColumn, Schema, original_index_field
from metflow.edm.units import GeV
from metflow.framework.component import Algorithm, Property, ReadHandleKey, WriteHandleKey
from metflow.framework.errors import ConfigurationError

from . import _maker_kernels as kern

__all__ = ["METObjectSelection", "selected_key", "declare_selection_flags", "selection_cfg",
           "ID_LEVELS", "OBJECT_KINDS"]

# Identification working points: bit of the `id` bitmask (schema v1: loose, medium, tight).
ID_LEVELS = {"none": -1, "loose": 0, "medium": 1, "tight": 2}
# kind -> (input container, default pT cut, default |eta| cut, default ID, default isolation)
OBJECT_KINDS: dict[str, tuple[str, float, float, str, bool]] = {
    "electrons": (mk.ELECTRONS, 10 * GeV, 2.47, "medium", True),
    "photons": (mk.PHOTONS, 25 * GeV, 2.37, "tight", True),
    "taus": (mk.TAUS, 20 * GeV, 2.5, "medium", False),
    "muons": (mk.MUONS, 10 * GeV, 2.7, "medium", False),
    "jets": (mk.jet_container_key("AntiKt4EMPFlow"), 0.0, 1e9, "none", False),
}
selected_key = mk.met_selected_key


class METObjectSelection(Algorithm):
    """Selects objects for METMaker (pT, |η|, ID, isolation, JVT) as a shallow-copy view."""

    objects = ReadHandleKey(mk.ELECTRONS, doc="calibrated objects (or a shallow copy of them)")
    selected = WriteHandleKey(selected_key(mk.ELECTRONS), doc="selected view, keeps original_index")
    min_pt = Property(float, 10 * GeV, doc="minimum pT", unit="MeV")
    max_abs_eta = Property(float, 2.47, doc="maximum |eta|")
    id_level = Property(str, "none", doc="identification: none, loose, medium, tight",
                        choices=tuple(ID_LEVELS))
    require_isolated = Property(bool, False, doc="require the `isolated` flag (e/gamma)")
    min_jvt = Property(float, -1.0, doc="jets: JVT cut for pT < jvt_max_pt and |eta| < 2.4 (-1: none)")
    jvt_max_pt = Property(float, 60 * GeV, doc="jets: JVT applies below this pT", unit="MeV")
    scale = Property(float, 1.0, doc="four-momentum scale factor (object energy-scale variation)")

    def initialize(self) -> None:
        self._cuts = self._cut_values()

    def _cut_values(self) -> tuple:
        """The kernel's cut arguments (|eta| cuts as brackets of sinh(cut), see select_objects);
        computed once in initialize (options are fixed from then on)."""
        cuts = self.__dict__.get("_cuts")
        if cuts is not None:
            return cuts

        def bracket(eta_cut: float) -> tuple[float, float]:
            if eta_cut > 700.0:
                return math.inf, math.inf
            x = math.sinh(eta_cut)
            return x * (1 - 1e-9), x * (1 + 1e-9)
        eta_lo, eta_hi = bracket(float(self.max_abs_eta))
        jvt_lo, jvt_hi = bracket(2.4)
        return (ID_LEVELS[self.id_level], bool(self.require_isolated), self.min_jvt > -1.0,
                float(self.min_jvt), float(self.jvt_max_pt), float(self.min_pt),
                eta_lo, eta_hi, jvt_lo, jvt_hi, np.float32(self.scale), self.scale != 1.0,
                self.key("selected"))

    def compute(self, objects: Container) -> Container:
        """The kept objects as a shallow copy: the cut columns go to one kernel pass, the kept
        rows of every column are gathered, and :meth:`Container.from_kernel` builds the copy."""
        (id_bit, use_iso, use_jvt, min_jvt, jvt_max_pt, min_pt, eta_lo, eta_hi, jvt_lo, jvt_hi,
         scale, scaled, key) = self._cut_values()
        cols = objects.columns
        px, py, pz = cols["px"], cols["py"], cols["pz"]
        ids = self._cut_column(cols, "id", "id_level=" + repr(self.id_level)) if id_bit >= 0 else _NO_IDS
        iso = self._cut_column(cols, "isolated", "require_isolated=True") if use_iso else _NO_FLAGS
        jvt = self._cut_column(cols, "jvt", "min_jvt set") if use_jvt else _NO_JVT
        # the JVT cut compares in the column's precision
        idx, offsets, local, status = kern.select_objects(
            objects.offsets, px, py, pz, ids, id_bit, iso, use_iso, jvt, use_jvt, jvt.dtype.type(min_jvt),
            jvt_max_pt, min_pt, eta_lo, eta_hi, jvt_lo, jvt_hi)
        if status == kern.SEL_UNDECIDED:   # an |eta| within rounding of a cut: numpy decides
            idx, offsets, local = self._kept_numpy(objects)
        orig = cols.get(ORIGINAL_INDEX)
        if orig is not None:
            root_field = objects.schema.field(ORIGINAL_INDEX)
            root_key = root_field.target if root_field is not None else None
            root = objects.original
        else:
            root_key, root = objects.key, objects
        out_cols: dict[str, Any] = {}
        for name, c in cols.items():
            if isinstance(c, ListColumn):
                out_cols[name] = ListColumn.from_kernel(*kern.take_lists(c.offsets, c.values, idx))
            else:
                out_cols[name] = c[idx]
        out_cols[ORIGINAL_INDEX] = orig[idx] if orig is not None else local
        if scaled:
            p4 = kern.scaled_p4(idx, px, py, cols["pz"], cols["e"], scale)
            out_cols["px"], out_cols["py"], out_cols["pz"], out_cols["e"] = p4
        return Container.from_kernel(_copy_schema(objects.schema, root_key), offsets, out_cols, key=key,
                                     original=root)

    def _cut_column(self, cols: dict[str, Any], name: str, why: str) -> np.ndarray:
        col = cols.get(name)
        if col is None:
            raise ConfigurationError(f"{type(self).__name__}/{self.name}: {why} but container "
                                     f"{self.key('objects')!r} has no {name!r} column")
        return col

    def _kept_numpy(self, objects: Container) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(kept index, kept offsets, event-local index) as :func:`kern.select_objects` returns
        them, decided in numpy (|eta| from numpy's asinh, for objects at a cut within rounding)."""
        pt = objects.pt().astype(np.float64)
        eta = np.abs(objects.eta())
        keep = (pt > self.min_pt) & (eta < self.max_abs_eta)
        bit = ID_LEVELS[self.id_level]
        if bit >= 0:
            keep &= (np.asarray(objects["id"]).astype(np.int64) >> bit) & 1 == 1
        if self.require_isolated:
            keep &= np.asarray(objects["isolated"], bool)
        if self.min_jvt > -1.0:
            tested = (pt < self.jvt_max_pt) & (eta < 2.4)
            keep &= ~tested | (objects["jvt"] >= self.min_jvt)
        idx = np.flatnonzero(keep).astype(np.int64)
        in_offsets = objects.offsets
        kept_before = np.zeros(keep.shape[0] + 1, np.int64)
        np.cumsum(keep, out=kept_before[1:])
        offsets = kept_before[in_offsets]
        event = np.searchsorted(in_offsets, idx, side="right") - 1
        return idx, offsets, (idx - in_offsets[event]).astype(np.int32)


_NO_IDS = np.zeros(0, np.uint8)
_NO_FLAGS = np.zeros(0, np.bool_)
_NO_JVT = np.zeros(0, np.float32)
_COPY_SCHEMAS: dict[tuple[int, str | None], tuple[Schema, Schema]] = {}


def _copy_schema(schema: Schema, root_key: str | None) -> Schema:
    """schema.with_field(original_index -> root_key), cached (a dataclass replace per block
    costs more than the selection kernel)."""
    hit = _COPY_SCHEMAS.get((id(schema), root_key))
    if hit is not None and hit[0] is schema:
        return hit[1]
    out = schema.with_field(original_index_field(root_key))
    _COPY_SCHEMAS[(id(schema), root_key)] = (schema, out)
    return out


def declare_selection_flags(flags: Any) -> None:
    """Job flags `met.<kind>.{min_pt,max_eta,id,isolated}` for every object kind."""
    for kind, (_, pt, eta, idl, iso) in OBJECT_KINDS.items():
        if kind == "jets":
            continue
        flags.declare(f"met.{kind}.min_pt", float, pt, f"{kind}: minimum pT [MeV]")
        flags.declare(f"met.{kind}.max_eta", float, eta, f"{kind}: maximum |eta|")
        flags.declare(f"met.{kind}.id", str, idl, f"{kind}: identification (none/loose/medium/tight)")
        flags.declare(f"met.{kind}.isolated", bool, iso, f"{kind}: require isolation (e/gamma)")


def selection_cfg(flags: Any, kind: str, *, input_key: str | None = None, variation: str = "",
                  scale: float = 1.0) -> METObjectSelection:
    """One selection algorithm for `kind` (electrons, photons, taus, muons) from the flags."""
    if kind not in OBJECT_KINDS or kind == "jets":
        raise ConfigurationError(f"unknown object kind {kind!r}; use one of "
                                 f"{[k for k in OBJECT_KINDS if k != 'jets']}")
    key = input_key or OBJECT_KINDS[kind][0]
    iso = flags[f"met.{kind}.isolated"] and kind in ("electrons", "photons")
    return METObjectSelection(
        name=f"METObjectSelection_{kind}" + (f"_{variation}" if variation else ""),
        objects=key, selected=selected_key(OBJECT_KINDS[kind][0], variation),
        min_pt=flags[f"met.{kind}.min_pt"], max_abs_eta=flags[f"met.{kind}.max_eta"],
        id_level=flags[f"met.{kind}.id"], require_isolated=iso, scale=scale)
