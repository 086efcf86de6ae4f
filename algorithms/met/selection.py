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
from metflow.edm.containers import ORIGINAL_INDEX, Container, ListColumn, Schema, _original_index
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
                np.float32(self.min_jvt), float(self.jvt_max_pt), float(self.min_pt),
                eta_lo, eta_hi, jvt_lo, jvt_hi, np.float32(self.scale), self.scale != 1.0,
                self.key("selected"))

    def compute(self, objects: Container) -> Container:
        """The kept objects as a shallow copy, from one kernel pass (numpy only gathers the
        plain columns); anything unusual goes through `_compute_checked`."""
        (id_bit, use_iso, use_jvt, min_jvt, jvt_max_pt, min_pt, eta_lo, eta_hi, jvt_lo, jvt_hi,
         scale, scaled, key) = self._cut_values()
        if objects.__class__ is not Container:
            return self._compute_checked(objects)
        cols = objects.columns
        try:
            ids = cols["id"] if id_bit >= 0 else _NO_IDS
            iso = cols["isolated"] if use_iso else _NO_FLAGS
            jvt = cols["jvt"] if use_jvt else _NO_JVT
            if jvt.dtype != np.float32:   # the cut compares in the column's precision
                return self._compute_checked(objects)
            idx, offsets, local, status = kern.select_objects(
                objects.offsets, cols["px"], cols["py"], cols["pz"], ids, id_bit, iso, use_iso,
                jvt, use_jvt, min_jvt, jvt_max_pt, min_pt, eta_lo, eta_hi, jvt_lo, jvt_hi)
        except (KeyError, TypeError):
            return self._compute_checked(objects)
        if status != 0:
            return self._compute_checked(objects)
        orig = cols.get(ORIGINAL_INDEX)
        if orig is not None:
            root_field = objects.schema.field(ORIGINAL_INDEX)
            root_key = root_field.target if root_field is not None else None
            root = objects.original
        else:
            root_key, root = objects.key, objects
        out_cols: dict[str, Any] = {}
        for name, c in cols.items():
            if c.__class__ is np.ndarray:
                out_cols[name] = c[idx]
            elif isinstance(c, ListColumn):
                lists = ListColumn.__new__(ListColumn)
                lists.offsets, lists.values = kern.take_lists(c.offsets, c.values, idx)
                out_cols[name] = lists
            else:
                return self._compute_checked(objects)
        out_cols[ORIGINAL_INDEX] = orig[idx] if orig is not None else local
        if scaled:
            p4 = kern.scaled_p4(idx, cols["px"], cols["py"], cols["pz"], cols["e"], scale)
            out_cols["px"], out_cols["py"], out_cols["pz"], out_cols["e"] = p4
        return _trusted_container(_copy_schema(objects.schema, root_key), offsets, out_cols, key, root)

    def _compute_checked(self, objects: Container) -> Container:
        """compute() in numpy through Container.shallow_copy: the reference the kernel path
        equals, and the path that names a missing column or an undecided |eta| cut."""
        owner = f"{type(self).__name__}/{self.name}"
        pt = objects.pt().astype(np.float64)
        eta = np.abs(objects.eta())
        keep = (pt > self.min_pt) & (eta < self.max_abs_eta)
        bit = ID_LEVELS[self.id_level]
        if bit >= 0:
            if "id" not in objects:
                raise ConfigurationError(f"{owner}: id_level={self.id_level!r} but container "
                                         f"{self.key('objects')!r} has no 'id' column")
            keep &= (np.asarray(objects["id"]).astype(np.int64) >> bit) & 1 == 1
        if self.require_isolated:
            if "isolated" not in objects:
                raise ConfigurationError(f"{owner}: require_isolated=True but container "
                                         f"{self.key('objects')!r} has no 'isolated' column")
            keep &= np.asarray(objects["isolated"], bool)
        if self.min_jvt > -1.0:
            if "jvt" not in objects:
                raise ConfigurationError(f"{owner}: min_jvt set but container "
                                         f"{self.key('objects')!r} has no 'jvt' column")
            tested = (pt < self.jvt_max_pt) & (eta < 2.4)
            keep &= ~tested | (objects["jvt"] >= self.min_jvt)
        overrides = None
        if self.scale != 1.0:
            overrides = {c: (objects[c][keep] * np.float32(self.scale)).astype(np.float32)
                         for c in ("px", "py", "pz", "e")}
        return objects.shallow_copy(overrides, select=keep, key=self.key("selected"))


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
    out = schema.with_field(_original_index(root_key))
    _COPY_SCHEMAS[(id(schema), root_key)] = (schema, out)
    return out


def _trusted_container(schema: Schema, offsets: np.ndarray, columns: dict[str, Any], key: str,
                       original: Container) -> Container:
    """A Container from columns already in its layout (the kernel gathered them from a valid
    container): the attributes Container.__init__ sets, without converting or checking."""
    out = Container.__new__(Container)
    out.schema = schema
    out.key = key
    out.offsets = offsets
    out.columns = columns
    out.original = original
    out._frozen = False
    out._event_of = None
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
