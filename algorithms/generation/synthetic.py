"""Synthetic event source: physically plausible input-schema-v1 events from a seed, no files.

``SyntheticSource`` is the embedded default input of the MET jobs. Each event is a hard
scatter (Z->ee, Z->mumu, Z->nunu, W->enu, W->munu, ttbar-like, dijet, or a long-lived
H->ss->4 leptons "llp" process) balanced in pT against ISR jets and an underlying event,
plus Poisson(mu) pileup vertices overlaid from a seeded minimum-bias library. A toy detector
turns truth into tracks, topoclusters and PFOs; jets (EMPFlow and EMTopo), electrons, photons,
muons and taus are built from them with ATLAS-like links (electrons inside jets share their
clusters, muons carry a calorimeter MIP cluster, ...). Event i depends only on (seed, i), so
any block size gives the same events; the hard scatter (and so the PV-0 tracks) does not
depend on mu. The numba kernels live in the ``_synthetic_*`` modules, one per concept (random
streams, hard process, truth, detector, pileup library, jets, objects, links, faults, buffers,
event, block loop); ``_synthetic_block.generate_block`` is their entry point. The pileup library
(2048 minimum-bias vertices per seed, each overlaid with a random z, azimuthal rotation and eta
reflection) is built once per process and seed.

Conventions worth knowing (see the kernels for the model):
* ``InDetTracks.z0`` is w.r.t. the beam spot (z = 0): the distance to a vertex is z0 - vertex.z;
  ``d0`` w.r.t. the beam line. Track ``vertex`` = 0 for hard-scatter tracks, k > 0 for the
  pileup vertex k, -1 for unassociated tracks (and for all LRT tracks).
* ``TruthMET.nonint_mpx/mpy`` = + sum of the neutrinos' px/py (the direction reconstructed
  MET should point to), ``nonint_sumet`` = sum of their pT.
* ``EventInfo.mu`` is the configured mean number of pileup interactions (ATLAS
  "actual mu"); the number of pileup vertices fluctuates around it.
* ``lrt=True`` adds ``LRTElectrons`` and ``MuonsLRT`` (schemas of Electrons and Muons) for the
  displaced leptons of the "llp" process; their tracks (|d0| in 3-300 mm, vertex -1) are in
  InDetTracks but never ghost-associated to jets nor turned into charged PFOs (PFlow and the
  soft term use prompt tracks only); their clusters and neutral PFOs are linked as for prompt
  leptons. With ``lrt=False`` displaced electrons have no track and displaced muons are
  standalone Muons.

Detector faults (off by default; for MET-filter studies): ``noisy_cell_rate``,
``dead_region_rate`` and ``mismeasured_jet_rate`` are per-event probabilities. Faults are drawn
from their own random stream, so an event with a fault is the same event plus the fault, and
with all rates 0 the events are exactly those of a source without the options.

* noisy cell: a spurious hadronic-calorimeter cluster (and its neutral PFO) anywhere in
  |eta| < 4.4 with pT = 50 GeV + exponential(100 GeV), no EM energy and no track; it forms a
  jet with emfrac ~ 0 and no charged tracks. MET points away from it.
* dead region: clusters (hard scatter and pileup) inside a 0.8 x 0.8 eta-phi box centred
  (within 0.1) on the leading hard-scatter jet with |eta| < 1.7 (a central, Tile-like
  module) are lost; tracks are unaffected,
  so the PFlow jet keeps only its charged PFOs (emfrac ~ 0, charged fraction ~ 1). Events
  without such a jet are unaffected. MET points towards the box.
* mismeasured jet: the leading hard-scatter jet with |eta| < 2.4 and truth pT > 40 GeV is
  reconstructed at 10-40% of its calibrated four-momentum (in both jet collections); its
  tracks are unchanged, so its charged fraction exceeds 1. MET points towards it.

With any rate > 0, ``TruthMET`` gets an extra uint8 field ``injected_faults`` (bits
FAULT_NOISY = 1, FAULT_DEAD = 2, FAULT_MISMEASURED = 4): simulation truth for validation,
never for reconstruction or cleaning.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from metflow.algorithms.generation.track_moments import (JET_MOMENT_COLUMNS, MUON_TRACK_COLUMNS,
                                                          with_track_moments)
from metflow.edm import keys as _k
from metflow.edm.containers import Container, EventRecord, ListColumn, schema_for
from metflow.framework import Source
from metflow.framework.errors import ConfigurationError, SourceError, close_matches

from . import _synthetic_block as _block
from . import _synthetic_buffers as _buffers
from . import _synthetic_faults as _faults
from . import _synthetic_hard_process as _process
from . import _synthetic_layout as _layout
from . import _synthetic_links as _links
from . import _synthetic_pileup_library as _pileup

LRT_ELECTRONS = _k.LRT_ELECTRONS
LRT_MUONS = _k.LRT_MUONS
PFLOW_JETS = _k.jet_container_key("AntiKt4EMPFlow")
TOPO_JETS = _k.jet_container_key("AntiKt4EMTopo")

PROCESSES = {"zee": _process.ZEE, "zmumu": _process.ZMUMU, "znunu": _process.ZNUNU,
             "wenu": _process.WENU, "wmunu": _process.WMUNU, "ttbar": _process.TTBAR,
             "dijet": _process.DIJET, "llp": _process.LLP, "mix": _process.MIX}
"""Process names accepted by SyntheticSource; "mix" draws each event's process with
MIX_FRACTIONS."""

MIX_FRACTIONS = dict(zip(
    [name for name in PROCESSES if name != "mix"],
    np.diff(np.concatenate([[0.0], _process.MIX_CUMULATIVE])).round(6).tolist()))

FAULT_NOISY = _faults.FAULT_NOISY
FAULT_DEAD = _faults.FAULT_DEAD
FAULT_MISMEASURED = _faults.FAULT_MISMEASURED
FAULT_RATES = ("noisy_cell_rate", "dead_region_rate", "mismeasured_jet_rate")
"""Keyword options of SyntheticSource that inject detector faults (per-event probabilities)."""

MU_MAX = 1000.0
_SEED_MASK = (1 << 64) - 1

# output container key -> (kernel block-buffer index, [(column, dtype, buffer column)], link lists)
_F4, _I1, _I4, _U1, _B = np.float32, np.int8, np.int32, np.uint8, np.bool_
_P4 = [("px", _F4, 0), ("py", _F4, 1), ("pz", _F4, 2), ("e", _F4, 3)]
_JET_COLS = _P4 + [("constit_px", _F4, 4), ("constit_py", _F4, 5), ("constit_pz", _F4, 6),
                   ("constit_e", _F4, 7), ("jvt", _F4, 8), ("emfrac", _F4, 9)]
_EGAMMA_COLS = _P4 + [("charge", _I1, 4), ("id", _U1, 5), ("isolated", _B, 6)]
_MUON_COLS = _P4 + [("charge", _I1, 4), ("id_track", _I4, 5), ("type", _U1, 6), ("id", _U1, 7)]
_LAYOUT: dict[str, tuple[int, list, dict[str, int]]] = {
    _k.TRACKS: (_layout.O_TRK, _P4 + [("charge", _I1, 4), ("z0", _F4, 5), ("d0", _F4, 6),
                                      ("vertex", _I4, 7), ("passes_quality", _B, 8)], {}),
    _k.CLUSTERS: (_layout.O_CLU, _P4, {}),
    _k.PFOS: (_layout.O_PFO, _P4 + [("charge", _I1, 4), ("track", _I4, 5), ("cluster", _I4, 6)], {}),
    _k.PRIMARY_VERTICES: (_layout.O_VTX, [("x", _F4, 0), ("y", _F4, 1), ("z", _F4, 2), ("sumpt2", _F4, 3),
                                          ("is_hard_scatter", _B, 4)], {}),
    PFLOW_JETS: (_layout.O_JPF, _JET_COLS, {"constituents": _links.L_JPF_CONST,
                                            "ghost_tracks": _links.L_JPF_GHOST}),
    TOPO_JETS: (_layout.O_JTP, _JET_COLS, {"constituents": _links.L_JTP_CONST,
                                           "ghost_tracks": _links.L_JTP_GHOST}),
    _k.ELECTRONS: (_layout.O_ELE, _EGAMMA_COLS, {"clusters": _links.L_ELE_CLU, "tracks": _links.L_ELE_TRK,
                                                 "pfos": _links.L_ELE_PFO}),
    _k.PHOTONS: (_layout.O_PHO, _EGAMMA_COLS, {"clusters": _links.L_PHO_CLU, "tracks": _links.L_PHO_TRK,
                                               "pfos": _links.L_PHO_PFO}),
    _k.MUONS: (_layout.O_MUO, _MUON_COLS, {"clusters": _links.L_MUO_CLU, "pfos": _links.L_MUO_PFO}),
    _k.TAUS: (_layout.O_TAU, _P4 + [("charge", _I1, 4), ("id", _U1, 5)],
              {"tracks": _links.L_TAU_TRK, "clusters": _links.L_TAU_CLU, "pfos": _links.L_TAU_PFO}),
    LRT_ELECTRONS: (_layout.O_LELE, _EGAMMA_COLS, {"clusters": _links.L_LELE_CLU,
                                                   "tracks": _links.L_LELE_TRK, "pfos": _links.L_LELE_PFO}),
    LRT_MUONS: (_layout.O_LMUO, _MUON_COLS, {"clusters": _links.L_LMUO_CLU, "pfos": _links.L_LMUO_PFO}),
}
_BASE_KEYS = [_k.EVENT_INFO, _k.PRIMARY_VERTICES, _k.TRACKS, _k.CLUSTERS, _k.PFOS, PFLOW_JETS,
              TOPO_JETS, _k.ELECTRONS, _k.PHOTONS, _k.MUONS, _k.TAUS, _k.TRUTH_MET]

_LIBRARIES: dict[int, tuple] = {}
_LIBRARY_LOCK = threading.Lock()


def pileup_library(seed: int) -> tuple:
    """The pileup overlay library of a seed (built once per process, then shared)."""
    seed &= _SEED_MASK
    lib = _LIBRARIES.get(seed)
    if lib is None:
        with _LIBRARY_LOCK:
            lib = _LIBRARIES.get(seed)
            if lib is None:
                lib = _pileup.build_pileup_library(np.uint64(seed), _pileup.LIB_SIZE)
                _LIBRARIES[seed] = lib
    return lib


class SyntheticSource(Source):
    """Events generated on the fly from a seed: event i depends only on (seed, i).

    ``SyntheticSource(seed=1, process="mix", mu=40.0, n_events=10000, lrt=False)``;
    ``process`` is one of :data:`PROCESSES`, ``mu`` the mean number of pileup interactions,
    ``lrt`` adds the LRTElectrons / MuonsLRT containers; ``noisy_cell_rate``,
    ``dead_region_rate``, ``mismeasured_jet_rate`` inject detector faults (module docstring).
    """

    thread_safe = True

    def __init__(self, *, seed: int = 1, process: str = "mix", mu: float = 40.0,
                 n_events: int = 10000, lrt: bool = False, noisy_cell_rate: float = 0.0,
                 dead_region_rate: float = 0.0, mismeasured_jet_rate: float = 0.0):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ConfigurationError(f"synthetic source: seed must be an integer, got {seed!r}")
        if process not in PROCESSES:
            hint = close_matches(str(process), PROCESSES)
            raise ConfigurationError(
                f"synthetic source: unknown process {process!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f" (known: {', '.join(PROCESSES)})")
        try:
            mu = float(mu)
        except (TypeError, ValueError):
            raise ConfigurationError(f"synthetic source: mu must be a number, got {mu!r}") from None
        if not (math.isfinite(mu) and 0.0 <= mu <= MU_MAX):
            raise ConfigurationError(f"synthetic source: mu must be in [0, {MU_MAX:g}], got {mu}")
        if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) or n_events < 0:
            raise ConfigurationError(
                f"synthetic source: n_events must be a non-negative integer, got {n_events!r}")
        rates = {}
        for name, value in zip(FAULT_RATES, (noisy_cell_rate, dead_region_rate, mismeasured_jet_rate)):
            try:
                rate = float(value)
            except (TypeError, ValueError):
                raise ConfigurationError(f"synthetic source: {name} must be a number, got {value!r}") from None
            if isinstance(value, bool) or not (0.0 <= rate <= 1.0):
                raise ConfigurationError(f"synthetic source: {name} must be a probability in [0, 1], "
                                         f"got {value!r}")
            rates[name] = rate
        self.faults = rates
        self.seed = int(seed)
        self.process = process
        self.mu = mu
        self.lrt = bool(lrt)
        self._n_events = int(n_events)
        self._selected: set[str] | None = None
        faults = "".join(f", {k}={v:g}" for k, v in rates.items() if v > 0)
        self.name = (f"synthetic(process={process}, mu={mu:g}, seed={self.seed}" + (", lrt" if lrt else "")
                     + faults + ")")

    @property
    def has_faults(self) -> bool:
        """True when any detector fault is injected."""
        return any(v > 0 for v in self.faults.values())

    def keys(self) -> list[str]:
        return _BASE_KEYS + ([LRT_ELECTRONS, LRT_MUONS] if self.lrt else [])

    def n_events(self) -> int:
        return self._n_events

    def container_fields(self, key: str) -> set[str] | None:
        """Column names of container `key` as read() builds it (None for an unknown key)."""
        if key not in _LAYOUT:
            return None
        _, columns, links = _LAYOUT[key]
        names = {c[0] for c in columns} | set(links)
        if key.endswith("Jets"):
            names |= set(JET_MOMENT_COLUMNS)
        elif key.startswith(_k.MUONS):
            names |= set(MUON_TRACK_COLUMNS)
        return names

    def select(self, keys) -> None:
        """Build only the consumed containers in :meth:`read` (generation itself is unchanged).

        ``keys`` are all keys the job consumes; those this source does not provide (produced
        by algorithms) are ignored.
        """
        self._selected = set(keys) & set(self.keys())

    def read(self, first: int, n: int) -> dict[str, Any]:
        """Events [first, first+n) as EDM containers keyed by store key."""
        if isinstance(first, bool) or isinstance(n, bool) or int(first) != first or int(n) != n:
            raise SourceError(f"{self.name}: first and n must be integers, got first={first!r}, n={n!r}")
        first, n = int(first), int(n)
        if first < 0 or n < 0 or first + n > self._n_events:
            raise SourceError(f"{self.name}: cannot read events [{first}, {first + n}): "
                              f"the source has {self._n_events} events (0..{self._n_events - 1})")
        lib = pileup_library(self.seed)
        out_bufs, links = _buffers.allocate_outputs(n, self.mu)
        bufs, offsets, links, events = _block.generate_block(
            np.uint64(self.seed & _SEED_MASK), first, n, PROCESSES[self.process], self.mu, self.lrt, lib,
            out_bufs, links, *self.faults.values())
        wanted = self._selected if self._selected is not None else set(self.keys())
        lists = _split_links(links, offsets)
        out: dict[str, Any] = {}
        needs_tracks = any(k.endswith("Jets") or k.startswith(_k.MUONS) for k in wanted)
        for key in self.keys():
            if key not in wanted and not (key == _k.TRACKS and needs_tracks):
                continue
            if key == _k.EVENT_INFO:
                out[key] = EventRecord(schema_for(key), {
                    "run_number": events[:, 0].astype(np.int64),
                    "event_number": events[:, 1].astype(np.int64),
                    "mu": events[:, 2].astype(np.float32),
                    "weight": events[:, 3].astype(np.float32)}, key=key, n_events=n)
            elif key == _k.TRUTH_MET:
                truth = {"nonint_mpx": events[:, 4].astype(np.float32),
                         "nonint_mpy": events[:, 5].astype(np.float32),
                         "nonint_sumet": events[:, 6].astype(np.float32)}
                if self.has_faults:
                    truth["injected_faults"] = events[:, 8].astype(np.uint8)
                out[key] = EventRecord(schema_for(key), truth, key=key, n_events=n)
            else:
                index, columns, link_fields = _LAYOUT[key]
                total = int(offsets[-1, index])
                buf = bufs[index][:, :total]   # column-major: each row of buf is a column
                cols: dict[str, Any] = {name: buf[c].astype(dtype, copy=False) for name, dtype, c in columns}
                for name, kind in link_fields.items():
                    cols[name] = lists[kind]
                out[key] = Container(schema_for(key), np.ascontiguousarray(offsets[:, index]), cols, key=key)
        if needs_tracks:
            out = with_track_moments(out, out[_k.TRACKS])
            if _k.TRACKS not in wanted:
                del out[_k.TRACKS]
        return out

    def __repr__(self) -> str:
        return f"SyntheticSource({self.name}, n_events={self._n_events})"


def _split_links(links: np.ndarray, offsets: np.ndarray) -> list[ListColumn]:
    """(kind, owner object, target) rows -> one ListColumn per link kind (rows are grouped)."""
    n_objects = offsets[-1, _links.LINK_OWNER]
    values, vb, list_offsets, ob = _links.split_links(links, n_objects)
    return [ListColumn(list_offsets[ob[k]:ob[k + 1]], values[vb[k]:vb[k + 1]])
            for k in range(_links.N_LINK_KINDS)]


__all__ = ["SyntheticSource", "PROCESSES", "MIX_FRACTIONS", "LRT_ELECTRONS", "LRT_MUONS", "pileup_library",
           "FAULT_RATES", "FAULT_NOISY", "FAULT_DEAD", "FAULT_MISMEASURED"]
