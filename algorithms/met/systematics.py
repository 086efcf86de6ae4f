"""MET soft-term systematics (ATLAS METSystematicsTool, athena_met.md C.7) and their algorithm.

`METSystematicsTool.apply_systematic_variation(name)` only stores the variation;
`apply_correction(met, term, ...)` varies one soft term of a rebuilt MET in place:

* track soft term (TST): the soft vector is projected on u = ptHard/|ptHard| (L) and its
  perpendicular (T): L += ±shift (+shift also for the resolution variations) + σ_para·g,
  T += σ_perp·g′ (ResoCorr: g′ = g), transformed back with the same (involutory) matrix;
  sumet unchanged. ptHard = truth NonInt (mpx, mpy) minus every reco term that is neither soft
  nor total, in the reference's sign convention.
* cluster soft term (CST): scale (mpx, mpy) × (1 ± s); resolution: σ = 0.7·√sumet[GeV],
  σ′ = σ·√((1+r)² − 1), (mpx, mpy) × (1 + g·σ′/|soft|).

The ATLAS tool reads these numbers from TH3 histograms (ptHard, hard-jet count, μ) that are
not available here, so they are documented parameterisations of |ptHard| only (GeV):

  TST shift      Δ     = 0.3 + 0.010·ptHard
  TST σ_para           = 1.5 + 0.020·ptHard
  TST σ_perp           = 1.5 + 0.015·ptHard
  CST scale      s     = 0.05;   CST resolution r = 0.1

Jet-track scale of track MET (MET_JetTrk_ScaleUp/Down, `apply_jet_track_correction`): on the
jet term of a track MET (source jet|track, built by `METMaker.rebuild_track_met`), every hard
jet with |η| ≤ 2.5 contributes u_j = jettrksumpt_j · r(pT_j, |η_j|), the relative uncertainty of
the jet's PV-track momentum sum; U = √(Σ u_j²) per event and, as in the reference,
mpx → mpx·(1 ± U/(|mpx|·√2)) (i.e. mpx ± sign(mpx)·U/√2), mpy likewise, sumet → sumet ± U.
A component that is exactly 0 is left unchanged (the reference would divide by zero). The
reference reads r from a TH2 in (pT/GeV, |η|) with overflow clamped to the last bin; here r is
the table `JET_TRK_REL_UNCERTAINTY` (toy values: the tracking-efficiency uncertainty of tracks
in jets, ~1 % in the barrel rising to 3 % at |η| ≈ 2.5, plus the loss in dense cores of
high-pT jets), looked up the same way. A calorimeter jet term (no Track bit) is not varied.

Random numbers are a counter-based hash of (run number, event number, systematic name), so a
variation is reproducible and independent of threads, slots and block boundaries (the jet-track
variations use none). Object energy-scale variations need no tool: a shallow copy with varied
four-momenta is rebuilt by METMakerAlg (see `met_rebuild_cfg` in jobs/met_rebuild.py).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from metflow.edm import keys as mk
from metflow.edm.met import MissingETContainer, Source
from metflow.edm.units import GeV
from metflow.framework.component import Algorithm, Property, ReadHandleKey, WriteHandleKey
from metflow.framework.errors import ConfigurationError

__all__ = ["METSystematicsTool", "METSystematicsAlg", "SOFT_TRK_VARIATIONS", "SOFT_CALO_VARIATIONS",
           "SOFT_SYSTEMATICS", "JET_TRK_VARIATIONS", "SYSTEMATICS", "JET_TRK_PT_EDGES",
           "JET_TRK_ETA_EDGES", "JET_TRK_REL_UNCERTAINTY", "jet_track_relative_uncertainty",
           "jet_track_uncertainty", "vary_jet_track_met", "event_normals", "pt_hard",
           "SystematicsError"]

SOFT_TRK_VARIATIONS = ("MET_SoftTrk_ScaleUp", "MET_SoftTrk_ScaleDown", "MET_SoftTrk_ResoPara",
                       "MET_SoftTrk_ResoPerp", "MET_SoftTrk_ResoCorr")
SOFT_CALO_VARIATIONS = ("MET_SoftCalo_ScaleUp", "MET_SoftCalo_ScaleDown", "MET_SoftCalo_Reso")
JET_TRK_VARIATIONS = ("MET_JetTrk_ScaleUp", "MET_JetTrk_ScaleDown")
SOFT_SYSTEMATICS = SOFT_TRK_VARIATIONS + SOFT_CALO_VARIATIONS
SYSTEMATICS = SOFT_SYSTEMATICS + JET_TRK_VARIATIONS

TST_SHIFT = (0.3 * GeV, 0.010)          # offset, slope in ptHard
TST_RESO_PARA = (1.5 * GeV, 0.020)
TST_RESO_PERP = (1.5 * GeV, 0.015)
CST_SCALE = 0.05
CST_RESO_REL = 0.1
CST_RESO_STOCHASTIC = 0.7               # sqrt(GeV)

# Jet-track scale: relative uncertainty of a hard jet's PV-track pT sum, binned in the jet's
# calibrated pT (rows, lower edges in MeV; the last bin takes the overflow) and |eta| (columns).
JET_TRK_PT_EDGES = np.array([20, 50, 100, 200, 500]) * GeV
JET_TRK_ETA_EDGES = np.array([0.0, 1.0, 1.5, 2.0])
JET_TRK_REL_UNCERTAINTY = np.array([
    [0.010, 0.015, 0.020, 0.030],
    [0.010, 0.015, 0.020, 0.030],
    [0.015, 0.020, 0.025, 0.035],
    [0.020, 0.025, 0.030, 0.040],
    [0.030, 0.035, 0.040, 0.050],
])
JET_TRK_ETA_MAX = 2.5


class SystematicsError(ValueError):
    """A systematic variation cannot be applied (unknown name, data, wrong term)."""


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        z = x
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def event_normals(run_number: np.ndarray, event_number: np.ndarray, name: str,
                  n: int = 2) -> np.ndarray:
    """float64[n_events, n] standard normals, a pure function of (run, event, name)."""
    tag = np.uint64(zlib.crc32(name.encode()))
    base = (np.asarray(event_number).astype(np.uint64) * np.uint64(0x100000001B3)) ^ \
        (np.asarray(run_number).astype(np.uint64) << np.uint64(32)) ^ tag
    out = np.empty((base.shape[0], n))
    for k in range(0, n, 2):
        h1 = _splitmix64(base ^ np.uint64(2 * k + 1))
        h2 = _splitmix64(h1 ^ np.uint64(2 * k + 2))
        u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 1.0) / 9007199254740993.0  # (0, 1]
        u2 = (h2 >> np.uint64(11)).astype(np.float64) / 9007199254740992.0
        r = np.sqrt(-2.0 * np.log(u1))
        out[:, k] = r * np.cos(2 * np.pi * u2)
        if k + 1 < n:
            out[:, k + 1] = r * np.sin(2 * np.pi * u2)
    return out


def pt_hard(terms: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], truth_mpx: np.ndarray,
            truth_mpy: np.ndarray, truth_sumet: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of ptHard per event from (source, mpx, mpy, sumet) of the reco terms."""
    x = np.asarray(truth_mpx, np.float64).copy()
    y = np.asarray(truth_mpy, np.float64).copy()
    s = np.asarray(truth_sumet, np.float64).copy()
    for source, mpx, mpy, sumet in terms:
        if Source.is_soft_term(source) or Source.is_total_term(source) or \
                Source.is_invisible_term(source):
            continue
        x -= mpx
        y -= mpy
        s += sumet
    neg = s < 0
    x[neg] = 0.0
    y[neg] = 0.0
    tiny = (s < 1e-6) & ~neg
    x[tiny], y[tiny] = 1e-6, 0.0
    zero = (np.hypot(x, y) == 0)
    x[zero] = 1e-6
    return x, y


class METSystematicsTool:
    """Soft-term variations of a rebuilt MET; one variation at a time."""

    def __init__(self) -> None:
        self.variation = ""

    def apply_systematic_variation(self, names: str | list[str] | tuple[str, ...]) -> "METSystematicsTool":
        """Choose the variation ('' for nominal); more than one at once is unsupported."""
        if not isinstance(names, str):
            names = [n for n in names if n]
            if len(names) > 1:
                raise SystematicsError(f"only one MET systematic at a time is supported, got {names}")
            names = names[0] if names else ""
        if names and names not in SYSTEMATICS:
            import difflib
            close = difflib.get_close_matches(names, SYSTEMATICS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SystematicsError(f"unknown MET systematic {names!r}{hint} (known: {list(SYSTEMATICS)})")
        self.variation = names
        return self

    def apply_correction(self, term: np.ndarray, source: int, pthard_x: np.ndarray,
                         pthard_y: np.ndarray, normals: np.ndarray, *, is_data: bool = False) -> None:
        """Vary `term` (float64[n_events, 3]: mpx, mpy, sumet) in place.

        Soft terms only; an irrelevant variation (e.g. a calo variation on the TST) leaves it
        unchanged. `normals`: float64[n_events, 2] from `event_normals`.
        """
        if is_data:
            raise SystematicsError("MET systematics apply to simulation only (is_data=True)")
        if not Source.is_soft_term(source):
            raise SystematicsError(f"apply_correction needs a soft term; source {int(source):#x} "
                                   f"is not (jet terms: apply_jet_track_correction)")
        v = self.variation
        if not v:
            return
        if Source.is_track_term(source) and v in SOFT_TRK_VARIATIONS:
            self._vary_tst(term, pthard_x, pthard_y, normals)
        elif not Source.is_track_term(source) and v in SOFT_CALO_VARIATIONS:
            self._vary_cst(term, normals)

    def apply_jet_track_correction(self, term: np.ndarray, source: int, uncertainty: np.ndarray, *,
                                   is_data: bool = False) -> None:
        """Vary the jet term `term` (float64[n_events, 3]) of a track MET in place by the
        per-event jet-track uncertainty U (`jet_track_uncertainty`); other variations and
        calorimeter jet terms are left unchanged."""
        if is_data:
            raise SystematicsError("MET systematics apply to simulation only (is_data=True)")
        if not Source.is_jet_term(source):
            raise SystematicsError(f"apply_jet_track_correction needs a jet term; source "
                                   f"{int(source):#x} is not")
        if self.variation not in JET_TRK_VARIATIONS or not Source.is_track_term(source):
            return
        u = np.asarray(uncertainty, np.float64)
        if self.variation == "MET_JetTrk_ScaleDown":
            u = -u
        for c in (0, 1):
            term[:, c] += np.sign(term[:, c]) * u / np.sqrt(2.0)
        term[:, 2] += u

    def _vary_tst(self, term, hx, hy, g):
        v = self.variation
        pth = np.hypot(hx, hy)
        ux, uy = hx / pth, hy / pth
        sx, sy = term[:, 0].copy(), term[:, 1].copy()
        para = ux * sx + uy * sy
        perp = uy * sx - ux * sy
        shift = TST_SHIFT[0] + TST_SHIFT[1] * pth
        if v == "MET_SoftTrk_ScaleDown":
            para -= shift
        else:
            para += shift
        if v in ("MET_SoftTrk_ResoPara", "MET_SoftTrk_ResoCorr"):
            para += (TST_RESO_PARA[0] + TST_RESO_PARA[1] * pth) * g[:, 0]
        if v == "MET_SoftTrk_ResoPerp":
            perp += (TST_RESO_PERP[0] + TST_RESO_PERP[1] * pth) * g[:, 1]
        if v == "MET_SoftTrk_ResoCorr":
            perp += (TST_RESO_PERP[0] + TST_RESO_PERP[1] * pth) * g[:, 0]
        term[:, 0] = ux * para + uy * perp
        term[:, 1] = uy * para - ux * perp

    def _vary_cst(self, term, g):
        v = self.variation
        if v == "MET_SoftCalo_ScaleUp":
            term[:, :2] *= 1 + CST_SCALE
        elif v == "MET_SoftCalo_ScaleDown":
            term[:, :2] *= 1 - CST_SCALE
        else:
            sigma = CST_RESO_STOCHASTIC * np.sqrt(np.maximum(term[:, 2], 0) / GeV) * GeV
            sigma_prime = sigma * np.sqrt((1 + CST_RESO_REL) ** 2 - 1)
            soft = np.hypot(term[:, 0], term[:, 1])
            factor = np.where(soft < 1e-9, 1.0, 1 + g[:, 0] * sigma_prime / np.maximum(soft, 1e-9))
            term[:, 0] *= factor
            term[:, 1] *= factor


def vary_met(met: MissingETContainer, variation: str, truth: Any, event_info: Any, *,
             key: str | None = None) -> MissingETContainer:
    """A copy of a rebuilt MET with soft-term `variation` applied to its soft terms; each total term gets
    the change of the soft terms it contains (FinalTrk: track soft terms, FinalClus: the others,
    any other total: all soft terms), as buildMETSum would give."""
    tool = METSystematicsTool().apply_systematic_variation(variation)
    sources = [int(s) for s in met.sources]
    values = np.stack([met.mpx, met.mpy, met.sumet], axis=2).astype(np.float64)
    terms = [(s, values[:, i, 0], values[:, i, 1], values[:, i, 2]) for i, s in enumerate(sources)]
    hx, hy = pt_hard(terms, truth["nonint_mpx"], truth["nonint_mpy"], truth["nonint_sumet"])
    g = event_normals(event_info["run_number"], event_info["event_number"], variation)
    deltas = {}
    for i, source in enumerate(sources):
        if Source.is_soft_term(source) and not Source.is_total_term(source):
            col = values[:, i, :].copy()
            tool.apply_correction(col, source, hx, hy, g)
            deltas[i] = col - values[:, i, :]
    for i, (name, source) in enumerate(zip(met.names, sources)):
        if not Source.is_total_term(source):
            continue
        for j, delta in deltas.items():
            track = Source.is_track_term(sources[j])
            if (name == mk.FINAL_TRK and not track) or (name == mk.FINAL_CLUS and track):
                continue
            values[:, i, :] += delta
    for j, delta in deltas.items():
        values[:, j, :] += delta
    mpx, mpy, sumet = (met.mpx.copy(), met.mpy.copy(), met.sumet.copy())
    changed = sorted(set(deltas) | {i for i, s in enumerate(sources) if Source.is_total_term(s)})
    for i in changed:
        mpx[:, i], mpy[:, i], sumet[:, i] = values[:, i, 0], values[:, i, 1], values[:, i, 2]
    return MissingETContainer(met.names, met.sources, mpx, mpy, sumet, key=key)


def jet_track_relative_uncertainty(pt: np.ndarray, abs_eta: np.ndarray) -> np.ndarray:
    """r(pT, |η|) from `JET_TRK_REL_UNCERTAINTY`, bins clamped like the reference's TH2 lookup."""
    i = np.clip(np.searchsorted(JET_TRK_PT_EDGES, np.asarray(pt), side="right") - 1, 0,
                len(JET_TRK_PT_EDGES) - 1)
    j = np.clip(np.searchsorted(JET_TRK_ETA_EDGES, np.asarray(abs_eta), side="right") - 1, 0,
                len(JET_TRK_ETA_EDGES) - 1)
    return JET_TRK_REL_UNCERTAINTY[i, j]


def jet_track_uncertainty(assoc_map: Any, jets: Any, hard: np.ndarray) -> np.ndarray:
    """U per event: quadrature sum over hard jets with |η| ≤ 2.5 of jettrksumpt · r(pT, |η|).

    `jets` are the jets passed to the rebuild (a shallow copy keeps original_index into the
    map's jets), `hard` a bool mask over them (the jet term's jets).
    """
    n_events = assoc_map.n_events
    hard = np.asarray(hard, bool)
    if hard.shape != (len(jets),):
        raise SystematicsError(f"hard-jet mask has shape {hard.shape}, expected ({len(jets)},) "
                               f"for jets {jets.key!r}")
    ev = jets.event_of_object()[hard]
    orig = jets.get("original_index")
    local = (orig if orig is not None else jets.local_index())[hard].astype(np.int64)
    assoc = assoc_map.assoc_offsets[ev] + local
    bad = (local < 0) | (assoc >= assoc_map.assoc_offsets[ev + 1]) | \
        (assoc_map.jet_index[np.minimum(assoc, assoc_map.n_associations - 1)] != local)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise SystematicsError(f"jet {int(local[k])} of event {int(ev[k])} ({jets.key!r}) has no "
                               f"association in the map {assoc_map.key!r}")
    pt = jets.pt()[hard].astype(np.float64)
    abs_eta = np.abs(jets.eta()[hard].astype(np.float64))
    central = abs_eta <= JET_TRK_ETA_MAX
    u = np.asarray(assoc_map.jettrk_sumpt, np.float64)[assoc] * jet_track_relative_uncertainty(pt, abs_eta)
    return np.sqrt(np.bincount(ev[central], (u * u)[central], minlength=n_events))


def vary_jet_track_met(met: Any, assoc_map: Any, variation: str, jet_term: str = mk.REF_JET, *,
                       key: str | None = None) -> MissingETContainer:
    """The MissingETContainer of a rebuilt track MET (a METBuilder from rebuild_track_met) with
    the jet-track `variation` applied to `jet_term`; totals containing the jet term follow."""
    tool = METSystematicsTool().apply_systematic_variation(variation)
    if variation not in JET_TRK_VARIATIONS:
        raise SystematicsError(f"{variation!r} is not a jet-track variation {list(JET_TRK_VARIATIONS)}")
    if jet_term not in met.links or jet_term not in met.jet_status:
        raise SystematicsError(f"MET term {jet_term!r} has no jets recorded; terms: {met.names}")
    jets, _ = met.links[jet_term]
    from ._maker_kernels import JET_HARD
    u = jet_track_uncertainty(assoc_map, jets, met.jet_status[jet_term] == JET_HARD)
    source = met.source(jet_term)
    term = met.term(jet_term)
    varied = term.copy()
    tool.apply_jet_track_correction(varied, source, u)
    delta = varied - term
    container = met.to_container(key=key)
    mpx, mpy, sumet = container.mpx.copy(), container.mpy.copy(), container.sumet.copy()
    for i, (name, src) in enumerate(zip(met.names, met.sources)):
        if name == jet_term or (Source.is_total_term(src) and name != mk.FINAL_CLUS):
            mpx[:, i] += delta[:, 0]
            mpy[:, i] += delta[:, 1]
            sumet[:, i] += delta[:, 2]
    return MissingETContainer(container.names, container.sources, mpx, mpy, sumet, key=key)


class METSystematicsAlg(Algorithm):
    """Writes MET_<name>_<syst> for each requested soft-term variation of MET_<name>."""

    met = ReadHandleKey(mk.met_key("AntiKt4EMPFlow"), doc="nominal rebuilt MET")
    truth = ReadHandleKey(mk.TRUTH_MET, doc="truth MET (NonInt) for ptHard: simulation only")
    event_info = ReadHandleKey(mk.EVENT_INFO, doc="run/event numbers seed the random numbers")
    varied = WriteHandleKey([], doc="one key per variation, met_syst_key(name, syst)")
    variations = Property(tuple, (), doc=f"soft-term systematics, from {list(SOFT_SYSTEMATICS)}")

    def initialize(self) -> None:
        keys = self.key("varied")
        if len(keys) != len(self.variations):
            raise ConfigurationError(f"{self.name}: {len(self.variations)} variations but "
                                     f"{len(keys)} output keys")
        for v in self.variations:
            try:
                METSystematicsTool().apply_systematic_variation(v)
            except SystematicsError as exc:
                raise ConfigurationError(f"{self.name}: {exc}") from None
            if v not in SOFT_SYSTEMATICS:
                raise ConfigurationError(f"{self.name}: {v!r} is not a soft-term variation; the "
                                         f"jet-track ones are applied by METMakerAlg "
                                         f"(track_met=True, jet_track_variations)")

    def compute(self, met, truth, event_info):
        return {"varied": [vary_met(met, v, truth, event_info, key=k)
                           for v, k in zip(self.variations, self.key("varied"))]}


# Object energy-scale variations: (object kinds, four-momentum scale factor). They are rebuilt by
# METMakerAlg from shallow copies with scaled four-momenta (no reconstruction re-run).
OBJECT_SCALE_VARIATIONS: dict[str, tuple[tuple[str, ...], float]] = {
    "EG_SCALE__1up": (("electrons", "photons"), 1.01),
    "EG_SCALE__1down": (("electrons", "photons"), 0.99),
    "MUON_SCALE__1up": (("muons",), 1.005),
    "MUON_SCALE__1down": (("muons",), 0.995),
    "TAUS_TES__1up": (("taus",), 1.03),
    "TAUS_TES__1down": (("taus",), 0.97),
    "JET_JES__1up": (("jets",), 1.03),
    "JET_JES__1down": (("jets",), 0.97),
}
__all__ += ["OBJECT_SCALE_VARIATIONS", "vary_met"]
