"""Pythia8 events through the toy detector, with pileup overlaid from a cached min-bias library.

Reproducibility: event ``i`` of a run with seed ``S`` depends only on ``(S, i)``. Every worker
initialises its own Pythia with a seed derived from ``S`` alone, then re-seeds Pythia's random
engine before each event from ``SeedSequence(S, spawn_key=(i,))``; the same sequence gives the
pileup and detector streams. Events are produced in blocks, but neither the block size nor the
number of worker processes changes the output.

Pileup: ``n ~ Poisson(mu)`` min-bias interactions per crossing, each a random event from the
library, rotated by a random phi, mirrored in z with probability 1/2, and placed at a vertex drawn
from the beam spot. The library (Pythia ``SoftQCD:inelastic``) is generated once and cached under
``$METFLOW_CACHE`` or ``~/.cache/metflow``.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from metflow.edm.units import GeV, mm
from metflow.algorithms.generation.detector_config import DetectorConfig
from metflow.algorithms.generation.toy_detector import OBJECT_KEYS, ToyDetector
from metflow.algorithms.generation.truth_particles import (
    HardScatterTruth, PileupParticles, TruthParticles, empty_particles)

GEN_EXTRA_HINT = 'pip install "metflow[gen]"'
CENTRE_OF_MASS_ENERGY = 13.6e3 * GeV
LIBRARY_VERSION = 1
LIBRARY_SEED = 8317
DEFAULT_LIBRARY_SIZE = 1000
DEFAULT_BLOCK_SIZE = 20
_MAX_PYTHIA_SEED = 900_000_000
# Parquet column order of the output (input schema v1)
OUTPUT_KEYS = ("EventInfo", *OBJECT_KEYS, "TruthMET")

_COMMON_SETTINGS = (
    "Next:numberCount = 0", "Next:numberShowEvent = 0", "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0", "Init:showChangedSettings = off", "Init:showChangedParticleData = off",
    "Init:showProcesses = off", "Init:showMultipartonInteractions = off", "Print:quiet = on",
    "ParticleDecays:limitTau0 = on", "ParticleDecays:tau0Max = 10.",   # ATLAS stable: c*tau > 10 mm
)

# process name -> (Pythia settings, one-line description)
PROCESSES: dict[str, tuple[tuple[str, ...], str]] = {
    "ttbar": (("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"), "top-quark pairs, all decays"),
    "zee": (("WeakSingleBoson:ffbar2gmZ = on", "WeakZ0:gmZmode = 2", "23:onMode = off", "23:onIfAny = 11"),
            "inclusive Z -> ee"),
    "zmumu": (("WeakSingleBoson:ffbar2gmZ = on", "WeakZ0:gmZmode = 2", "23:onMode = off", "23:onIfAny = 13"),
              "inclusive Z -> mumu"),
    "znunu": (("WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on", "WeakZ0:gmZmode = 2",
               "23:onMode = off", "23:onIfAny = 12 14 16", "PhaseSpace:pTHatMin = 30."),
              "Z(-> nunu) + jet, pT(hat) > 30 GeV"),
    "wenu": (("WeakSingleBoson:ffbar2W = on", "24:onMode = off", "24:onIfAny = 11 12"), "inclusive W -> e nu"),
    "wmunu": (("WeakSingleBoson:ffbar2W = on", "24:onMode = off", "24:onIfAny = 13 14"), "inclusive W -> mu nu"),
    "dijet": (("HardQCD:all = on", "PhaseSpace:pTHatMin = 20."), "QCD 2 -> 2, pT(hat) > 20 GeV"),
}
MINBIAS_SETTINGS = ("SoftQCD:inelastic = on",)


class MissingGeneratorDependency(ImportError):
    """pythia8mc or fastjet is not installed; the message gives the pip command."""


def require_generator_dependencies() -> None:
    """Import pythia8mc and fastjet or raise naming exactly what to install."""
    missing = []
    for module, package in (("pythia8mc", "pythia8mc==8.317.2"), ("fastjet", "fastjet")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise MissingGeneratorDependency(
            f"metflow generate needs {' and '.join(missing)}, which are not installed; "
            f"install the generator extra: {GEN_EXTRA_HINT}")


def default_cache_dir() -> str:
    return os.environ.get("METFLOW_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "metflow")


def _pythia_seed(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1)[0] % _MAX_PYTHIA_SEED) + 1


def event_streams(seed: int, index: int):
    """(Pythia seed, rng_hs, rng_pu, rng_det) of event ``index``: a function of (seed, index) only."""
    children = np.random.SeedSequence(seed, spawn_key=(index,)).spawn(4)
    return (_pythia_seed(children[0]), np.random.default_rng(children[1]), np.random.default_rng(children[2]),
            np.random.default_rng(children[3]))


# ---------------------------------------------------------------------------------------------
# Pythia

class PythiaGenerator:
    """One initialised Pythia for a process; ``generate(pythia_seed)`` gives one final state."""

    def __init__(self, settings: tuple[str, ...], init_seed: int, *, with_history: bool = True):
        require_generator_dependencies()
        import pythia8mc

        self._pythia = pythia8mc.Pythia("", False)
        self.with_history = with_history
        for s in (f"Beams:eCM = {CENTRE_OF_MASS_ENERGY / GeV}", *_COMMON_SETTINGS, *settings,
                  "Random:setSeed = on", f"Random:seed = {init_seed}"):
            if not self._pythia.readString(s):
                raise ValueError(f"Pythia rejected the setting {s!r}")
        if not self._pythia.init():
            raise RuntimeError(f"Pythia initialisation failed for settings {settings}")

    def generate(self, pythia_seed: int, *, max_tries: int = 20):
        """Final state of one event (re-seeding Pythia first): (TruthParticles, hadronic taus, weight)."""
        self._pythia.rndm.init(pythia_seed)
        for _ in range(max_tries):
            if self._pythia.next():
                break
        else:
            raise RuntimeError(f"Pythia failed {max_tries} times in a row (seed {pythia_seed})")
        return _final_state(self._pythia.event, self.with_history), float(self._pythia.infoPython().weight())


    def last_copy_p4(self, abs_pdg: int) -> np.ndarray | None:
        """(px, py, pz, e) in MeV of the last copy of the first |id| == abs_pdg particle of the
        current event (e.g. the Z after its recoils), or None; for truth studies and tests."""
        parts = self._pythia.event.particles()
        for p in parts:
            if abs(p.id()) == abs_pdg and not any(abs(parts[d].id()) == abs_pdg for d in p.daughterList()):
                return np.array([p.px(), p.py(), p.pz(), p.e()]) * GeV
        return None


def _final_state(event, with_history: bool):
    parts = event.particles()
    final = [i for i, p in enumerate(parts) if p.isFinal()]
    n = len(final)
    pdg = np.empty(n, np.int32)
    charge = np.empty(n, np.int8)
    kin = np.empty((7, n))
    for j, i in enumerate(final):
        p = parts[i]
        pdg[j] = p.id()
        charge[j] = int(round(p.charge()))
        kin[:, j] = (p.px(), p.py(), p.pz(), p.e(), p.xProd(), p.yProd(), p.zProd())
    kin[:4] *= GeV       # Pythia: GeV and mm
    kin[4:] *= mm
    prompt = np.ones(n, bool)
    taus = []
    if with_history:
        position = {i: j for j, i in enumerate(final)}
        hard = np.flatnonzero((np.isin(np.abs(pdg), (11, 13, 22))) & (np.hypot(kin[0], kin[1]) > 3 * GeV))
        for j in hard:
            prompt[j] = not _has_hadron_ancestor(parts, final[j])
        for i, p in enumerate(parts):
            if abs(p.id()) != 15 or any(abs(parts[d].id()) == 15 for d in p.daughterList()):
                continue
            if any(abs(parts[d].id()) in (11, 13) for d in p.daughterList()):
                continue
            descendants = []
            stack = list(p.daughterList())
            while stack:
                d = stack.pop()
                if parts[d].isFinal():
                    descendants.append(position[d])
                else:
                    stack.extend(parts[d].daughterList())
            taus.append(np.array(sorted(set(descendants)), np.int64))
    particles = TruthParticles(pdg, charge, kin[0], kin[1], kin[2], kin[3], kin[4], kin[5], kin[6], prompt)
    return particles, taus


def _has_hadron_ancestor(parts, i: int) -> bool:
    for _ in range(500):
        m = parts[i].mother1()
        if m <= 2:
            return False
        if parts[m].isHadron():
            return True
        i = m
    return False


# ---------------------------------------------------------------------------------------------
# min-bias library

@dataclass
class MinBiasLibrary:
    """Flat final-state particles of ``n`` min-bias events (offsets int64[n+1])."""

    offsets: np.ndarray
    particles: TruthParticles

    @property
    def n_events(self) -> int:
        return self.offsets.size - 1

    def event(self, k: int) -> TruthParticles:
        return self.particles.take(slice(self.offsets[k], self.offsets[k + 1]))


def library_path(cache_dir: str, n_events: int) -> str:
    tag = f"v{LIBRARY_VERSION}-{CENTRE_OF_MASS_ENERGY / GeV:.0f}-{n_events}-{LIBRARY_SEED}-" + ";".join(MINBIAS_SETTINGS)
    digest = hashlib.sha1(tag.encode()).hexdigest()[:10]
    return os.path.join(cache_dir, f"minbias_{n_events}_{digest}.npz")


def _library_chunk(args) -> list[TruthParticles]:
    first, n = args
    gen = _library_generator()
    out = []
    for k in range(first, first + n):
        seq = np.random.SeedSequence(LIBRARY_SEED, spawn_key=(k,))
        particles, _ = gen.generate(_pythia_seed(seq))[0]
        out.append(particles)
    return out


_LIBRARY_GEN: PythiaGenerator | None = None


def _library_generator() -> PythiaGenerator:
    global _LIBRARY_GEN
    if _LIBRARY_GEN is None:
        _LIBRARY_GEN = PythiaGenerator(MINBIAS_SETTINGS, LIBRARY_SEED, with_history=False)
    return _LIBRARY_GEN


def load_or_generate_library(cache_dir: str | None = None, n_events: int = DEFAULT_LIBRARY_SIZE,
                             processes: int = 1, log=None) -> tuple[MinBiasLibrary, str]:
    """The cached min-bias library (generated once, written atomically). Returns (library, path)."""
    cache_dir = cache_dir or default_cache_dir()
    path = library_path(cache_dir, n_events)
    if os.path.exists(path):
        try:
            return _read_library(path), path
        except Exception as exc:  # a damaged cache file is regenerated, not trusted
            if log:
                log(f"ignoring unreadable min-bias cache {path}: {exc}")
    os.makedirs(cache_dir, exist_ok=True)
    if log:
        log(f"generating min-bias library: {n_events} events -> {path} (once)")
    chunks = [(f, min(100, n_events - f)) for f in range(0, n_events, 100)]
    t0 = time.perf_counter()
    if processes > 1:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            events = [p for chunk in pool.imap(_library_chunk, chunks) for p in chunk]
    else:
        events = [p for chunk in map(_library_chunk, chunks) for p in chunk]
    counts = np.array([len(p) for p in events], np.int64)
    lib = MinBiasLibrary(np.concatenate([[0], np.cumsum(counts)]), TruthParticles.concatenate(events))
    fd, tmp = tempfile.mkstemp(prefix="minbias.", suffix=".npz.tmp", dir=cache_dir)
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, offsets=lib.offsets, **{k: getattr(lib.particles, k) for k in _PARTICLE_FIELDS})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if log:
        log(f"min-bias library ready in {time.perf_counter() - t0:.1f} s")
    return lib, path


_PARTICLE_FIELDS = ("pdg", "charge", "px", "py", "pz", "e", "vx", "vy", "vz", "prompt")


def _read_library(path: str) -> MinBiasLibrary:
    with np.load(path) as f:
        return MinBiasLibrary(f["offsets"], TruthParticles(**{k: f[k] for k in _PARTICLE_FIELDS}))


def overlay_pileup(library: MinBiasLibrary, mu: float, rng: np.random.Generator,
                   config: DetectorConfig) -> PileupParticles:
    """Poisson(mu) min-bias interactions placed at beam-spot vertices, randomly rotated in phi."""
    n = int(rng.poisson(mu)) if mu > 0 else 0
    picks = rng.integers(0, library.n_events, n)
    rot = rng.uniform(0, 2 * np.pi, n)
    mirror = rng.random(n) < 0.5
    xyz = np.column_stack([rng.normal(0, config.beamspot_sigma_xy, n), rng.normal(0, config.beamspot_sigma_xy, n),
                           rng.normal(0, config.beamspot_sigma_z, n)])
    if n == 0:
        return PileupParticles(empty_particles(), np.zeros(0, np.int64), np.zeros((0, 3)))
    groups, inter = [], []
    for k in range(n):
        p = library.event(int(picks[k]))
        c, s = np.cos(rot[k]), np.sin(rot[k])
        sign = -1.0 if mirror[k] else 1.0
        groups.append(TruthParticles(p.pdg, p.charge, c * p.px - s * p.py, s * p.px + c * p.py, sign * p.pz, p.e,
                                     c * p.vx - s * p.vy, s * p.vx + c * p.vy, sign * p.vz, p.prompt))
        inter.append(np.full(len(p), k + 1, np.int64))
    return PileupParticles(TruthParticles.concatenate(groups), np.concatenate(inter), xyz)


# ---------------------------------------------------------------------------------------------
# one worker: generate and reconstruct blocks of events

@dataclass(frozen=True)
class GenerationConfig:
    """Everything that defines the events of a run (the output is a function of this alone)."""

    process: str
    n_events: int
    mu: float = 0.0
    seed: int = 1
    library_size: int = DEFAULT_LIBRARY_SIZE
    cache_dir: str | None = None
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    run_number: int | None = None    # default: the seed

    def __post_init__(self):
        if self.process not in PROCESSES:
            import difflib
            close = difflib.get_close_matches(self.process, list(PROCESSES), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown process {self.process!r}{hint} (choose from {', '.join(PROCESSES)})")
        if self.n_events < 0:
            raise ValueError(f"--events must be >= 0, got {self.n_events}")
        if not np.isfinite(self.mu) or self.mu < 0:
            raise ValueError(f"--mu must be a finite number >= 0, got {self.mu}")
        if not 0 <= self.seed < 2 ** 63:
            raise ValueError(f"--seed must be a non-negative integer, got {self.seed}")


def needs_library(config: GenerationConfig) -> bool:
    """Pileup overlay and the pileup part of the calorimeter noise both come from the library."""
    return config.mu > 0 or config.detector.noise_mu_ref > 0


class EventFactory:
    """Hard scatter + pileup + toy detector for events by global index (one per worker process)."""

    def __init__(self, config: GenerationConfig, library: MinBiasLibrary | None):
        self.config = config
        init_seed = _pythia_seed(np.random.SeedSequence(config.seed, spawn_key=(2 ** 32 - 1,)))
        self.generator = PythiaGenerator(PROCESSES[config.process][0], init_seed)
        self.detector = ToyDetector(config.detector)
        if library is None and needs_library(config):
            library = load_or_generate_library(config.cache_dir, config.library_size)[0]
        self.library = library
        if library is not None:
            self.detector.set_pileup_noise(library.particles, library.n_events, config.detector.noise_mu_ref)

    def event(self, index: int) -> dict:
        c = self.config
        pythia_seed, rng_hs, rng_pu, rng_det = event_streams(c.seed, index)
        (particles, taus), weight = self.generator.generate(pythia_seed)
        det = c.detector
        origin = np.array([rng_hs.normal(0, det.beamspot_sigma_xy), rng_hs.normal(0, det.beamspot_sigma_xy),
                           rng_hs.normal(0, det.beamspot_sigma_z)])
        if c.mu > 0 and self.library is not None:
            pileup = overlay_pileup(self.library, c.mu, rng_pu, det)
        else:
            pileup = PileupParticles(empty_particles(), np.zeros(0, np.int64), np.zeros((0, 3)))
        out = self.detector.reconstruct(HardScatterTruth(particles, taus, weight), origin, pileup,
                                        rng_hs, rng_pu, rng_det)
        out["EventInfo"] = {"run_number": c.seed if c.run_number is None else c.run_number,
                            "event_number": index + 1, "mu": c.mu, "weight": weight}
        return out

    def block(self, first: int, n: int) -> dict:
        return assemble_block([self.event(i) for i in range(first, first + n)])


def assemble_block(events: list[dict]) -> dict:
    """Concatenate per-event dicts into ``{key: ("objects", offsets, columns) | ("record", columns)}``."""
    block = {}
    for key in OBJECT_KEYS:
        per_event = [ev[key] for ev in events]
        counts = np.array([len(ev["px"]) if "px" in ev else len(ev["x"]) for ev in per_event], np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        columns = {}
        for name in per_event[0] if per_event else ():
            values = [ev[name] for ev in per_event]
            if isinstance(values[0], list):       # list links: one int32 array per object
                lists = [lst for ev_lists in values for lst in ev_lists]
                lengths = np.array([len(x) for x in lists], np.int64)
                columns[name] = ("list", np.concatenate([[0], np.cumsum(lengths)]),
                                 np.concatenate(lists).astype(np.int32) if lists else np.zeros(0, np.int32))
            else:
                columns[name] = np.concatenate(values)
        block[key] = ("objects", offsets, columns)
    for key in ("EventInfo", "TruthMET"):
        names = events[0][key].keys() if events else ()
        block[key] = ("record", {name: np.array([ev[key][name] for ev in events]) for name in names})
    return block


def block_to_edm(block: dict) -> dict:
    """Wrap an assembled block as metflow.edm Containers / EventRecords keyed by store key."""
    from metflow.edm.containers import Container, EventRecord, ListColumn, schema_for

    out = {}
    for key in OUTPUT_KEYS:
        value = block[key]
        schema = schema_for(key)
        if value[0] == "record":
            columns = value[1] or {f.name: np.zeros(0, f.dtype) for f in schema.fields}
            out[key] = EventRecord(schema, columns, key=key, n_events=len(next(iter(columns.values()))))
        else:
            _, offsets, columns = value
            cols = {name: (ListColumn(c[1], c[2], key=key, column=name) if isinstance(c, tuple) else c)
                    for name, c in columns.items()}
            if not cols:   # no events: empty columns of the schema dtypes
                cols = {f.name: (ListColumn(np.zeros(1, np.int64), np.zeros(0, np.int32)) if f.kind == "links"
                                 else np.zeros(0, f.dtype)) for f in schema.fields}
            out[key] = Container(schema, offsets, cols, key=key)
    from .track_moments import with_track_moments

    return with_track_moments(out, out["InDetTracks"])


_FACTORY: EventFactory | None = None


def _worker_init(config: GenerationConfig, library_file: str | None) -> None:
    global _FACTORY
    library = _read_library(library_file) if library_file else None
    _FACTORY = EventFactory(config, library)


def _worker_block(args) -> dict:
    first, n = args
    return _FACTORY.block(first, n)


# ---------------------------------------------------------------------------------------------
# the run

@dataclass
class GenerationReport:
    n_events: int
    seconds: float
    bytes_written: int
    path: str | None

    @property
    def events_per_second(self) -> float:
        return self.n_events / self.seconds if self.seconds > 0 else float("inf")

    @property
    def bytes_per_event(self) -> float:
        return self.bytes_written / self.n_events if self.n_events else 0.0


def iter_blocks(config: GenerationConfig, *, processes: int = 1, block_size: int = DEFAULT_BLOCK_SIZE,
                library: MinBiasLibrary | None = None, log=None):
    """Yield ``(first, n, block)`` in event order; the events do not depend on processes/block_size."""
    require_generator_dependencies()
    if block_size < 1:
        raise ValueError(f"block size must be >= 1, got {block_size}")
    if processes < 1:
        raise ValueError(f"--threads must be >= 1, got {processes}")
    library_file = None
    if needs_library(config):
        if library is None:
            library, library_file = load_or_generate_library(config.cache_dir, config.library_size, processes, log)
    tasks = [(f, min(block_size, config.n_events - f)) for f in range(0, config.n_events, block_size)]
    if processes == 1 or len(tasks) <= 1:
        factory = EventFactory(config, library)
        for first, n in tasks:
            yield first, n, factory.block(first, n)
        return
    own_file = library is not None and library_file is None
    if own_file:   # a library handed in by the caller reaches the workers through a temporary file
        fd, library_file = tempfile.mkstemp(suffix=".npz")
        os.close(fd)
        np.savez(library_file, offsets=library.offsets, **{k: getattr(library.particles, k) for k in _PARTICLE_FIELDS})
    try:
        with multiprocessing.get_context("spawn").Pool(min(processes, len(tasks)), initializer=_worker_init,
                                                        initargs=(config, library_file)) as pool:
            for (first, n), block in zip(tasks, pool.imap(_worker_block, tasks)):
                yield first, n, block
    finally:
        if own_file:
            os.unlink(library_file)


ROW_GROUP_EVENTS = 2048  # Parquet row group size of generated files (smaller groups cost bytes and decode time)


def generate(config: GenerationConfig, output: str, *, processes: int = 1, block_size: int = DEFAULT_BLOCK_SIZE,
             progress: bool | None = None, log=None) -> GenerationReport:
    """Generate ``config.n_events`` events into the Parquet file ``output`` (written atomically)."""
    from metflow.edm.persistence import ParquetStreamWriter

    require_generator_dependencies()
    output = os.fspath(output)
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"output directory does not exist: {directory!r} (for {output!r})")
    show = sys.stderr.isatty() if progress is None else progress
    t0 = time.perf_counter()
    done = 0
    with ParquetStreamWriter(output, row_group_size=ROW_GROUP_EVENTS) as writer:
        for first, n, block in iter_blocks(config, processes=processes, block_size=block_size, log=log):
            writer.write(block_to_edm(block), source=f"{config.process} events {first}-{first + n - 1}")
            done += n
            if show:
                rate = done / max(time.perf_counter() - t0, 1e-9)
                print(f"\rgenerate {config.process}: {done}/{config.n_events} events, {rate:.1f} events/s",
                      end="", file=sys.stderr, flush=True)
        if done == 0:   # zero events: still a valid file with the full schema
            writer.write(block_to_edm(assemble_block([])), source=config.process)
    if show:
        print(file=sys.stderr)
    seconds = time.perf_counter() - t0
    return GenerationReport(done, seconds, os.path.getsize(output), output)
