"""MET rebuilt on PHYSLITE: the default object selection, the Z->ee recoil and the comparison table.

The default selection follows the object definitions of the ATLAS MET performance studies
(EPJC 78 (2018) 903) as most ATLAS analyses use them; docs/physlite.md lists and explains it.
:class:`PhysliteMETComparison` is the sink of ``jobs/physlite_met.py``: per input file it
compares the rebuilt ``FinalTrk`` with the truth ``NonInt`` MET, measures the Z->ee balance
and the bytes/event of the map + core in metflow Parquet vs the ATLAS branches.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from metflow.edm import keys as mk
from metflow.edm.containers import Container
from metflow.edm.units import GeV
from metflow.framework.component import Property
from metflow.framework.errors import ConfigurationError
from metflow.framework.io import Sink

from metflow.algorithms.met.selection import ID_LEVELS, METObjectSelection

from .naming import PhysliteNaming

__all__ = [
    "ObjectCuts", "DEFAULT_SELECTION", "CRACK_ETA", "ZEE_MIN_PT", "ZEE_MASS_WINDOW",
    "PhysliteObjectSelection", "declare_physlite_selection_flags", "physlite_selection_cfg",
    "ZeeCandidates", "zee_candidates", "recoil_components", "slope_and_correlation",
    "FileComparison", "PhysliteMETComparison", "format_comparison_table",
]

# Barrel-endcap transition of the electromagnetic calorimeter, excluded for e, gamma, tau.
CRACK_ETA = (1.37, 1.52)


@dataclass(frozen=True)
class ObjectCuts:
    """Default METMaker input cuts of one object kind."""

    min_pt: float
    max_abs_eta: float
    id_level: str
    isolated: bool
    crack_veto: bool


# Priority order of METMaker: electrons, photons, taus, muons (then jets and the soft term).
DEFAULT_SELECTION: dict[str, ObjectCuts] = {
    "electrons": ObjectCuts(10 * GeV, 2.47, "medium", True, True),   # Medium LH, Loose_VarRad
    "photons": ObjectCuts(25 * GeV, 2.37, "tight", True, True),      # Tight IsEM, FixedCutTight
    "taus": ObjectCuts(20 * GeV, 2.5, "medium", False, True),        # Medium tau ID
    # PHYSLITE's converted muons carry no isolation decision: Medium quality only.
    "muons": ObjectCuts(10 * GeV, 2.5, "medium", False, False),
}

# Z->ee candidate: two selected electrons above ZEE_MIN_PT, opposite charge, mass in the window.
ZEE_MIN_PT = 25 * GeV
ZEE_MASS_WINDOW = (66 * GeV, 116 * GeV)


class PhysliteObjectSelection(METObjectSelection):
    """METObjectSelection plus the calorimeter crack veto (1.37 < |eta| < 1.52) of e, gamma, tau."""

    crack_veto = Property(bool, False, doc="reject objects with 1.37 < |eta| < 1.52")

    def compute(self, objects: Container) -> Container:
        selected = super().compute(objects)
        if not self.crack_veto:
            return selected
        eta = np.abs(selected.eta())
        outside = ~((eta > CRACK_ETA[0]) & (eta < CRACK_ETA[1]))
        return selected.shallow_copy(select=outside, key=self.key("selected"))


def declare_physlite_selection_flags(flags: Any) -> None:
    """Flags ``met.<kind>.{min_pt,max_eta,id,isolated,crack_veto}`` with the PHYSLITE defaults."""
    for kind, cuts in DEFAULT_SELECTION.items():
        flags.declare(f"met.{kind}.min_pt", float, cuts.min_pt, f"{kind}: minimum pT [MeV]")
        flags.declare(f"met.{kind}.max_eta", float, cuts.max_abs_eta, f"{kind}: maximum |eta|")
        flags.declare(f"met.{kind}.id", str, cuts.id_level,
                      f"{kind}: identification ({'/'.join(ID_LEVELS)})")
        flags.declare(f"met.{kind}.isolated", bool, cuts.isolated,
                      f"{kind}: require the isolation decision")
        flags.declare(f"met.{kind}.crack_veto", bool, cuts.crack_veto,
                      f"{kind}: reject {CRACK_ETA[0]} < |eta| < {CRACK_ETA[1]}")


# Kinds whose converted PHYSLITE container has no ``isolated`` column.
_NO_ISOLATION_DECISION = ("taus", "muons")


def _kind_key(naming: PhysliteNaming, kind: str) -> str:
    return {"electrons": naming.electrons, "photons": naming.photons, "taus": naming.taus,
            "muons": naming.muons}[kind]


def physlite_selection_cfg(flags: Any, kind: str, naming: PhysliteNaming) -> PhysliteObjectSelection:
    """The selection of one object kind from the flags; its output is ``METSelected<key>``."""
    if kind not in DEFAULT_SELECTION:
        raise ConfigurationError(f"unknown object kind {kind!r}; use one of {list(DEFAULT_SELECTION)}")
    if flags[f"met.{kind}.id"] not in ID_LEVELS:
        raise ConfigurationError(f"met.{kind}.id: unknown {flags[f'met.{kind}.id']!r}; "
                                 f"choose one of {list(ID_LEVELS)}")
    if kind in _NO_ISOLATION_DECISION and flags[f"met.{kind}.isolated"]:
        raise ConfigurationError(f"met.{kind}.isolated=True: the PHYSLITE {kind} converted by "
                                 f"metflow carry no isolation decision")
    key = _kind_key(naming, kind)
    return PhysliteObjectSelection(
        name=f"PhysliteObjectSelection_{kind}", objects=key, selected=mk.met_selected_key(key),
        min_pt=flags[f"met.{kind}.min_pt"], max_abs_eta=flags[f"met.{kind}.max_eta"],
        id_level=flags[f"met.{kind}.id"], require_isolated=flags[f"met.{kind}.isolated"],
        crack_veto=flags[f"met.{kind}.crack_veto"])


# ---------------------------------------------------------------------------------------------
# Z->ee candidates and the hadronic recoil

@dataclass(frozen=True)
class ZeeCandidates:
    """Per event: whether a Z->ee candidate exists, its transverse momentum and mass (MeV)."""

    found: np.ndarray      # bool[n_events]
    px: np.ndarray         # float64[n_events], 0 where not found
    py: np.ndarray
    mass: np.ndarray


def zee_candidates(electrons: Container, *, min_pt: float = ZEE_MIN_PT,
                   mass_window: tuple[float, float] = ZEE_MASS_WINDOW) -> ZeeCandidates:
    """The two highest-pT electrons above ``min_pt`` of each event, kept when they have
    opposite charge and an invariant mass inside ``mass_window``."""
    n_events = electrons.n_events
    pt = electrons.pt().astype(np.float64)
    passing = np.flatnonzero(pt > min_pt)
    event = electrons.event_of_object()[passing]
    order = np.lexsort((-pt[passing], event))         # by event, then decreasing pT
    ranked, ranked_event = passing[order], event[order]
    counts = np.bincount(ranked_event, minlength=n_events)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pair = counts >= 2
    lead, sub = ranked[starts[pair]], ranked[starts[pair] + 1]
    p4 = {c: np.asarray(electrons[c], np.float64) for c in ("px", "py", "pz", "e")}
    sum4 = {c: p4[c][lead] + p4[c][sub] for c in p4}
    m2 = sum4["e"] ** 2 - sum4["px"] ** 2 - sum4["py"] ** 2 - sum4["pz"] ** 2
    mass = np.sqrt(np.maximum(m2, 0.0))
    charge = np.asarray(electrons["charge"], np.int64)
    ok = ((charge[lead] * charge[sub] < 0) & (mass > mass_window[0]) & (mass < mass_window[1]))
    found = np.zeros(n_events, bool)
    px, py, m = (np.zeros(n_events) for _ in range(3))
    events = np.flatnonzero(pair)[ok]
    found[events] = True
    px[events], py[events], m[events] = sum4["px"][ok], sum4["py"][ok], mass[ok]
    return ZeeCandidates(found, px, py, m)


def recoil_components(met_px, met_py, z_px, z_py) -> tuple[np.ndarray, np.ndarray]:
    """Hadronic recoil u = -(MET + pT(Z)) projected on the Z direction (u_par) and
    perpendicular to it (u_perp); perfect balance gives u_par = -pT(Z), u_perp = 0."""
    met_px, met_py = np.asarray(met_px, np.float64), np.asarray(met_py, np.float64)
    z_px, z_py = np.asarray(z_px, np.float64), np.asarray(z_py, np.float64)
    ux, uy = -(met_px + z_px), -(met_py + z_py)
    z_pt = np.hypot(z_px, z_py)
    safe = np.where(z_pt > 0, z_pt, 1.0)
    ex, ey = z_px / safe, z_py / safe
    return ux * ex + uy * ey, uy * ex - ux * ey


def slope_and_correlation(reco: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of reco on truth and their Pearson correlation (nan if undefined)."""
    reco, truth = np.asarray(reco, np.float64), np.asarray(truth, np.float64)
    if reco.size < 2:
        return float("nan"), float("nan")
    dr, dt = reco - reco.mean(), truth - truth.mean()
    var_t, var_r = float(np.dot(dt, dt)), float(np.dot(dr, dr))
    cov = float(np.dot(dr, dt))
    slope = cov / var_t if var_t > 0 else float("nan")
    corr = cov / np.sqrt(var_t * var_r) if var_t > 0 and var_r > 0 else float("nan")
    return slope, corr


# ---------------------------------------------------------------------------------------------
# comparison sink

# Truth MET RMS per axis below which the sample has no real MET: slope/correlation not shown.
_MIN_TRUTH_RMS = 1 * GeV
# Events per Parquet row group when measuring the map + core bytes.
_SIZE_ROW_GROUP = 1000


@dataclass
class FileComparison:
    """The comparison numbers of one input file (MeV; bytes per event)."""

    path: str
    n_events: int
    mean_met: float
    mean_truth_met: float
    dx_mean: float
    dx_rms: float
    dy_mean: float
    dy_rms: float
    slope: float
    correlation: float
    truth_rms: float
    n_zee: int
    mean_z_pt: float
    mean_met_zee: float
    mean_u_par: float
    rms_u_perp: float
    mean_z_mass: float
    metflow_bytes: float | None = None
    atlas_bytes: float | None = None
    atlas_format: str = ""
    atlas_n_events: int = 0


class _SizeMeter:
    """Writes the map + core blocks of one file to a temporary Parquet file (EDM layout,
    row groups of _SIZE_ROW_GROUP events whatever the block size) and measures its columns."""

    def __init__(self, keys: Sequence[str], directory: str, name: str):
        self.keys = list(keys)
        self.path = os.path.join(directory, name)
        self.pending: list[dict[str, Any]] = []
        self.pending_events = 0
        self.writer = None
        self.n_events = 0

    def add(self, data: dict[str, Any], start: int, stop: int) -> None:
        part = {k: data[k].slice(start, stop) for k in self.keys}
        self.pending.append(part)
        self.pending_events += stop - start
        while self.pending_events >= _SIZE_ROW_GROUP:
            self._flush(_SIZE_ROW_GROUP)

    def _flush(self, n: int) -> None:
        import pyarrow.parquet as pq

        from metflow.edm import persistence

        merged = {k: type(self.pending[0][k]).concatenate([p[k] for p in self.pending])
                  for k in self.keys}
        total = self.pending_events
        group = {k: v.slice(0, n) for k, v in merged.items()}
        rest = {k: v.slice(n, total) for k, v in merged.items()}
        self.pending, self.pending_events = ([rest], total - n) if total > n else ([], 0)
        table = persistence.to_table(group, source=self.path)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema,
                                           **persistence.parquet_writer_options(table.schema))
        self.writer.write_table(table, row_group_size=n)
        self.n_events += n

    def bytes_per_event(self) -> float | None:
        from metflow.edm import persistence

        if self.pending_events:
            self._flush(self.pending_events)
        if self.writer is None:
            return None
        self.writer.close()
        self.writer = None
        sizes = persistence.column_sizes(self.path)
        return sum(sizes[k]["compressed"] for k in self.keys) / self.n_events

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass
class _FileAccumulator:
    path: str
    start: int
    stop: int
    arrays: dict[str, list[np.ndarray]] = field(default_factory=dict)
    meter: _SizeMeter | None = None

    def append(self, name: str, values: np.ndarray) -> None:
        self.arrays.setdefault(name, []).append(np.asarray(values, np.float64))

    def get(self, name: str) -> np.ndarray:
        parts = self.arrays.get(name)
        return np.concatenate(parts) if parts else np.zeros(0)


class PhysliteMETComparison(Sink):
    """End-of-run table per input file: FinalTrk vs truth NonInt MET, Z->ee balance, and the
    bytes/event of the MET map + core in metflow Parquet vs the ATLAS PHYSLITE branches."""

    def __init__(self, *, met: str, truth: str, electrons: str, files: Sequence[tuple[str, int]],
                 assoc_map: str | None = None, core: str | None = None, total: str = mk.FINAL_TRK,
                 zee_min_pt: float = ZEE_MIN_PT,
                 zee_mass_window: tuple[float, float] = ZEE_MASS_WINDOW):
        """``files``: (path, events) of each input file in source order; ``assoc_map`` and
        ``core`` given -> the bytes/event are measured."""
        self.name = "PhysliteMETComparison"
        self.met, self.truth, self.electrons, self.total = met, truth, electrons, total
        self.assoc_map, self.core = assoc_map, core
        self.zee_min_pt, self.zee_mass_window = zee_min_pt, tuple(zee_mass_window)
        self.measure_sizes = assoc_map is not None and core is not None
        self._files: list[_FileAccumulator] = []
        start = 0
        for path, n in files:
            self._files.append(_FileAccumulator(os.fspath(path), start, start + int(n)))
            start += int(n)
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._results: list[FileComparison] | None = None

    def keys(self) -> list[str]:
        keys = [self.met, self.truth, self.electrons]
        if self.measure_sizes:
            keys += [self.assoc_map, self.core]
        return keys

    def open(self) -> None:
        if self.measure_sizes:
            self._tmp = tempfile.TemporaryDirectory(prefix="metflow-physlite-sizes-")
            for i, acc in enumerate(self._files):
                acc.meter = _SizeMeter([self.assoc_map, self.core], self._tmp.name, f"file{i}.parquet")

    def write(self, first: int, n: int, data: dict[str, Any]) -> None:
        met = data[self.met]
        if self.total not in met.names:
            raise ConfigurationError(f"{self.name}: {self.met!r} has no term {self.total!r} "
                                     f"(terms: {list(met.names)})")
        term = list(met.names).index(self.total)
        truth = data[self.truth]
        zee = zee_candidates(data[self.electrons], min_pt=self.zee_min_pt,
                             mass_window=self.zee_mass_window)
        columns = {"met_x": met.mpx[:, term], "met_y": met.mpy[:, term],
                   "truth_x": truth["nonint_mpx"], "truth_y": truth["nonint_mpy"],
                   "zee": zee.found, "z_px": zee.px, "z_py": zee.py, "z_mass": zee.mass}
        for acc in self._files:
            lo, hi = max(first, acc.start), min(first + n, acc.stop)
            if lo >= hi:
                continue
            for name, values in columns.items():
                acc.append(name, values[lo - first:hi - first])
            if acc.meter is not None:
                acc.meter.add(data, lo - first, hi - first)

    def close(self, success: bool) -> None:
        try:
            if success:
                self._results = [self._compare(acc) for acc in self._files if acc.arrays]
        finally:
            for acc in self._files:
                if acc.meter is not None:
                    acc.meter.close()
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def _compare(self, acc: _FileAccumulator) -> FileComparison:
        mx, my, tx, ty = (acc.get(c) for c in ("met_x", "met_y", "truth_x", "truth_y"))
        dx, dy = mx - tx, my - ty
        reco, truth = np.concatenate([mx, my]), np.concatenate([tx, ty])
        truth_rms = float(np.sqrt(np.mean(truth ** 2)))
        slope, corr = slope_and_correlation(reco, truth)
        zee = acc.get("zee") > 0
        z_px, z_py = acc.get("z_px")[zee], acc.get("z_py")[zee]
        u_par, u_perp = recoil_components(mx[zee], my[zee], z_px, z_py)
        n_zee = int(zee.sum())

        def mean(a):
            return float(np.mean(a)) if a.size else float("nan")

        result = FileComparison(
            path=acc.path, n_events=int(mx.size), mean_met=mean(np.hypot(mx, my)),
            mean_truth_met=mean(np.hypot(tx, ty)), dx_mean=mean(dx), dx_rms=float(np.std(dx)),
            dy_mean=mean(dy), dy_rms=float(np.std(dy)), slope=slope, correlation=corr,
            truth_rms=truth_rms, n_zee=n_zee, mean_z_pt=mean(np.hypot(z_px, z_py)),
            mean_met_zee=mean(np.hypot(mx[zee], my[zee])), mean_u_par=mean(u_par),
            rms_u_perp=float(np.sqrt(np.mean(u_perp ** 2))) if n_zee else float("nan"),
            mean_z_mass=mean(acc.get("z_mass")[zee]))
        if acc.meter is not None:
            result.metflow_bytes = acc.meter.bytes_per_event()
            from .sizes import atlas_met_bytes

            atlas = atlas_met_bytes(acc.path)
            result.atlas_bytes = atlas.bytes_per_event
            result.atlas_format = atlas.format
            result.atlas_n_events = atlas.n_events
        return result

    def results(self) -> list[FileComparison]:
        """The per-file numbers (after the run)."""
        return list(self._results or [])

    def summary(self) -> str:
        if not self._results:
            return ""
        return format_comparison_table(self._results, met_key=self.met, total=self.total)


def _gev(value: float, fmt: str = "7.1f") -> str:
    return "n/a" if value != value else format(value / GeV, fmt)


def format_comparison_table(results: Sequence[FileComparison], *, met_key: str = "MET",
                            total: str = mk.FINAL_TRK) -> str:
    """The comparison table, one column per input file (units in the row labels)."""
    rows: list[tuple[str, list[str]]] = [
        ("events", [str(r.n_events) for r in results]),
        (f"mean {total} MET [GeV]", [_gev(r.mean_met) for r in results]),
        ("mean truth NonInt MET [GeV]", [_gev(r.mean_truth_met) for r in results]),
        (f"{total}-truth x: mean / RMS [GeV]",
         [f"{_gev(r.dx_mean, '.1f')} / {_gev(r.dx_rms, '.1f')}" for r in results]),
        (f"{total}-truth y: mean / RMS [GeV]",
         [f"{_gev(r.dy_mean, '.1f')} / {_gev(r.dy_rms, '.1f')}" for r in results]),
    ]
    real = [r.truth_rms >= _MIN_TRUTH_RMS for r in results]
    rows.append(("slope reco vs truth (x,y)",
                 [f"{r.slope:.3f}" if ok else "n/a" for r, ok in zip(results, real)]))
    rows.append(("correlation reco vs truth (x,y)",
                 [f"{r.correlation:.3f}" if ok else "n/a" for r, ok in zip(results, real)]))
    rows += [
        ("Z->ee candidates", [str(r.n_zee) for r in results]),
        ("  mean m(ee) [GeV]", [_gev(r.mean_z_mass) for r in results]),
        ("  mean pT(ee) [GeV]", [_gev(r.mean_z_pt) for r in results]),
        (f"  mean {total} MET [GeV]", [_gev(r.mean_met_zee) for r in results]),
        ("  mean recoil u_par [GeV]", [_gev(r.mean_u_par) for r in results]),
        ("  RMS recoil u_perp [GeV]", [_gev(r.rms_u_perp) for r in results]),
    ]
    if any(r.metflow_bytes is not None for r in results):
        rows.append(("map+core metflow Parquet [B/event]",
                     ["n/a" if r.metflow_bytes is None else f"{r.metflow_bytes:.0f}" for r in results]))
        rows.append(("map+core ATLAS branches [B/event]",
                     ["n/a" if r.atlas_bytes is None else f"{r.atlas_bytes:.0f} ({r.atlas_format})"
                      for r in results]))
    names = [os.path.basename(r.path) for r in results]
    label_w = max(len(label) for label, _ in rows)
    widths = [max(len(n), *(len(v[i]) for _, v in rows)) for i, n in enumerate(names)]
    lines = [f"PHYSLITE MET comparison: {met_key} {total} vs MET_Truth NonInt, Z->ee balance, sizes",
             "  " + " " * label_w + "".join(f"  {n:>{w}}" for n, w in zip(names, widths))]
    for label, values in rows:
        lines.append("  " + f"{label:<{label_w}}" + "".join(f"  {v:>{w}}" for v, w in zip(values, widths)))
    if not all(real):
        lines.append("  slope/correlation n/a: the truth NonInt MET is ~0 (no invisible particles)")
    partial = [r for r in results if r.atlas_bytes is not None and r.atlas_n_events != r.n_events]
    for r in partial:
        lines.append(f"  note: {os.path.basename(r.path)}: ATLAS bytes are per event over all "
                     f"{r.atlas_n_events} events of the file, metflow over the {r.n_events} processed")
    return "\n".join(lines)
