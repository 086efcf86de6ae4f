"""Random consistent PFlow events for the METMaker tests, and a brute-force static MET.

`random_block(seed, n_events)` makes tracks, PFOs, jets, e/γ/τ/μ and, like reconstruction
would, the association map and the core soft terms (this file's own small builder, written
from athena_met.md B.2-B.5, sharing no code with metflow's reco or METMaker).
`static_met(...)` computes the MET of a selection directly from the constituents, without the
map: it is the "static" reference the rebuilt ("dynamic") MET must equal.
No tests here; the other test files import it by path (see `load`).
"""

from __future__ import annotations

import importlib.util
import pathlib
from dataclasses import dataclass, field

import numpy as np

from metflow.algorithms.generation.track_moments import with_track_moments

from metflow.edm import keys as mk
from metflow.edm.containers import (ELECTRON_SCHEMA, MUON_SCHEMA, PFO_SCHEMA, PHOTON_SCHEMA,
                                    TAU_SCHEMA, TRACK_SCHEMA, container_from_events, jet_schema)
from metflow.edm.units import GeV

PFLOW_BIT = 1 << 3          # overlap type bit of a shared PFO (xAOD ParticleFlow)
TYPE_CODES = {"e": 6, "g": 7, "t": 9, "m": 8}
CONTAINERS = {"e": mk.ELECTRONS, "g": mk.PHOTONS, "t": mk.TAUS, "m": mk.MUONS}
SCHEMAS = {"e": ELECTRON_SCHEMA, "g": PHOTON_SCHEMA, "t": TAU_SCHEMA, "m": MUON_SCHEMA}
JETS = mk.jet_container_key("AntiKt4EMPFlow")


def load(name: str):
    """Import a sibling test module by path (tests/met has no package __init__)."""
    import sys
    mod_name = f"_metflow_tests_{name}"
    if mod_name not in sys.modules:
        path = pathlib.Path(__file__).with_name(name + ".py")
        spec = importlib.util.spec_from_file_location(mod_name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[mod_name]


def _p4(pt, eta, phi, m=0.0):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.array([px, py, pz, np.sqrt(px * px + py * py + pz * pz + m * m)])


@dataclass
class Event:
    """One event as plain Python lists (MeV); each PFO: 4-vector, charge, track, is_pv."""

    trk_p4: list = field(default_factory=list)
    trk_vertex: list = field(default_factory=list)
    pfo_p4: list = field(default_factory=list)
    pfo_track: list = field(default_factory=list)
    jets: list = field(default_factory=list)        # dict(p4, constit, pfos, jvt)
    objects: dict = field(default_factory=lambda: {k: [] for k in "egtm"})  # dict(p4, pfos, ...)

    def pfo_is_soft_ok(self, p: int) -> bool:
        """Neutral, or charged with a PV track (what soft terms and objects may use)."""
        t = self.pfo_track[p]
        return t < 0 or self.trk_vertex[t] == 0


def random_event(rng: np.random.Generator, *, max_tracks: int = 25, max_neutrals: int = 25,
                 max_jets: int = 6, max_objects: int = 3) -> Event:
    """A random event; the maxima set the multiplicities (defaults: small events for tests)."""
    ev = Event()
    n_trk = int(rng.integers(0, max_tracks))
    for _ in range(n_trk):
        p = _p4(rng.exponential(3 * GeV) + 0.5 * GeV, rng.uniform(-2.5, 2.5), rng.uniform(-np.pi, np.pi), 139.6)
        ev.trk_p4.append(p)
        ev.trk_vertex.append(0 if rng.random() < 0.6 else int(rng.integers(1, 4)))
    for t in range(n_trk):  # one charged PFO per track, momentum close to the track's
        ev.pfo_p4.append(ev.trk_p4[t] * rng.uniform(0.9, 1.1))
        ev.pfo_track.append(t)
    for _ in range(int(rng.integers(0, max_neutrals))):
        ev.pfo_p4.append(_p4(rng.exponential(4 * GeV) + 0.2 * GeV, rng.uniform(-4.9, 4.9), rng.uniform(-np.pi, np.pi)))
        ev.pfo_track.append(-1)
    n_pfo = len(ev.pfo_p4)
    order = rng.permutation(n_pfo)
    n_jets = int(rng.integers(0, max_jets))
    cuts = np.sort(rng.integers(0, n_pfo + 1, size=2 * n_jets)) if n_pfo else np.zeros(2 * n_jets, int)
    for j in range(n_jets):
        pfos = [int(p) for p in order[cuts[2 * j]:cuts[2 * j + 1]]]
        constit = np.sum([ev.pfo_p4[p] for p in pfos], axis=0) if pfos else np.zeros(4)
        if pfos and rng.random() < 0.5:  # boost a jet so it can be hard
            scale = rng.uniform(3, 20)
            for p in pfos:
                ev.pfo_p4[p] = ev.pfo_p4[p] * scale
            constit = np.sum([ev.pfo_p4[p] for p in pfos], axis=0)
        ev.jets.append(dict(pfos=pfos, constit=constit, p4=constit * rng.uniform(1.0, 1.3),
                            jvt=float(rng.uniform(0, 1))))
    usable = [p for p in range(n_pfo) if ev.pfo_is_soft_ok(p)]
    for kind in "egtm":
        for _ in range(int(rng.integers(0, max_objects))):
            if kind == "m":
                charged = [p for p in usable if ev.pfo_track[p] >= 0]
                pfos = [int(rng.choice(charged))] if charged and rng.random() < 0.9 else []
                if usable and rng.random() < 0.4:
                    pfos.append(int(rng.choice(usable)))
                id_track = ev.pfo_track[pfos[0]] if pfos else -1
                extra = dict(id_track=id_track, type=int(rng.integers(0, 4)))
            else:
                k = int(rng.integers(0, 4))
                pfos = [int(p) for p in rng.choice(usable, size=min(k, len(usable)), replace=False)] if usable else []
                extra = {}
            pfos = sorted(set(pfos))
            base = np.sum([ev.pfo_p4[p] for p in pfos], axis=0) if pfos else _p4(
                rng.uniform(5, 50) * GeV, rng.uniform(-2.4, 2.4), rng.uniform(-np.pi, np.pi))
            ev.objects[kind].append(dict(p4=base * rng.uniform(0.95, 1.1), pfos=pfos, **extra))
    return ev


# ---------------------------------------------------------------------------------------------
# containers

def _pt(p):
    return float(np.hypot(p[0], p[1]))


def containers(events: list[Event]) -> dict:
    def p4cols(items, getter=lambda x: x):
        out = {c: [] for c in ("px", "py", "pz", "e")}
        for it in items:
            p = getter(it)
            for i, c in enumerate(("px", "py", "pz", "e")):
                out[c].append(float(p[i]))
        return out

    tracks = container_from_events(TRACK_SCHEMA, [dict(
        **p4cols(ev.trk_p4), charge=[1] * len(ev.trk_p4), z0=[0.0] * len(ev.trk_p4),
        d0=[0.0] * len(ev.trk_p4), vertex=ev.trk_vertex, passes_quality=[True] * len(ev.trk_p4))
        for ev in events], key=mk.TRACKS)
    pfos = container_from_events(PFO_SCHEMA, [dict(
        **p4cols(ev.pfo_p4), charge=[1 if t >= 0 else 0 for t in ev.pfo_track], track=ev.pfo_track,
        cluster=[-1] * len(ev.pfo_p4)) for ev in events], key=mk.PFOS)
    jets = container_from_events(jet_schema(mk.PFOS), [dict(
        **p4cols(ev.jets, lambda j: j["p4"]),
        **{"constit_" + c: v for c, v in p4cols(ev.jets, lambda j: j["constit"]).items()},
        constituents=[j["pfos"] for j in ev.jets],
        ghost_tracks=[[ev.pfo_track[p] for p in j["pfos"] if ev.pfo_track[p] >= 0] for j in ev.jets],
        jvt=[j["jvt"] for j in ev.jets], emfrac=[0.5] * len(ev.jets)) for ev in events], key=JETS)
    out = dict(tracks=tracks, pfos=pfos, jets=jets)
    for kind in "egtm":
        rows = []
        for ev in events:
            objs = ev.objects[kind]
            row = dict(**p4cols(objs, lambda o: o["p4"]), charge=[0] * len(objs), pfos=[o["pfos"] for o in objs],
                       id=[7] * len(objs), clusters=[[] for _ in objs])
            if kind == "m":
                row.update(id_track=[o["id_track"] for o in objs], type=[o["type"] for o in objs])
            else:
                row["tracks"] = [[] for _ in objs]
                if kind in "eg":
                    row["isolated"] = [True] * len(objs)
            rows.append(row)
        out[kind] = container_from_events(SCHEMAS[kind], rows, key=CONTAINERS[kind])
    # the jets' PV track moments and the muons' ID-track pT, as event files carry them
    moments = with_track_moments({JETS: out["jets"], CONTAINERS["m"]: out["m"]}, tracks)
    out["jets"], out["m"] = moments[JETS], moments[CONTAINERS["m"]]
    return out


# ---------------------------------------------------------------------------------------------
# "reconstruction": association map and core soft terms, from athena_met.md B

def build_map_columns(events: list[Event]) -> dict:
    """Columns of a MissingETAssociationMap (internals.md layout) plus the core terms."""
    ck = tuple(CONTAINERS[k] for k in "egtm") + (JETS,)
    col = {n: [] for n in ("jet_index", "is_misc", "obj_container", "obj_index", "obj_type",
                           "ovl_index", "ovl_type", "cal_key", "trk_key")}
    for n in ("cal", "trk", "jettrk"):
        for c in ("px", "py", "pz", "e", "sumpt"):
            col[f"{n}_{c}"] = []
    assoc_counts, obj_counts, ovl_counts, cal_counts, trk_counts = [], [], [], [], []
    core = np.zeros((len(events), 2, 3))  # SoftClusCore, PVSoftTrkCore; mpx, mpy, sumet
    for e, ev in enumerate(events):
        jet_of = {p: j for j, jet in enumerate(ev.jets) for p in jet["pfos"]}
        n_assoc = len(ev.jets) + 1
        members = [[] for _ in range(n_assoc)]  # (kind, index, constituents in this assoc)
        for kind in "megt":  # reco associator order: muons, electrons, photons, taus
            for i, obj in enumerate(ev.objects[kind]):
                groups: dict[int, list[int]] = {}
                for p in obj["pfos"]:
                    groups.setdefault(jet_of.get(p, n_assoc - 1), []).append(p)
                if not groups:
                    groups[n_assoc - 1] = []
                for a, ps in groups.items():
                    members[a].append((kind, i, ps))
        owned = set()
        for a in range(n_assoc):
            objs = members[a]
            assert len(objs) <= 64
            col["jet_index"].append(a if a < n_assoc - 1 else -1)
            col["is_misc"].append(a == n_assoc - 1)
            owner: dict[int, int] = {}
            for k, (kind, i, ps) in enumerate(objs):
                col["obj_container"].append("egtm".index(kind))
                col["obj_index"].append(i)
                col["obj_type"].append(TYPE_CODES[kind])
                for p in ps:
                    owner[p] = owner.get(p, 0) | (1 << k)
                    owned.add(p)
            for k, (_, _, ps) in enumerate(objs):
                n = 0
                for j, (_, _, qs) in enumerate(objs):
                    if j != k and set(ps) & set(qs):
                        col["ovl_index"].append(j)
                        col["ovl_type"].append(PFLOW_BIT)
                        n += 1
                ovl_counts.append(n)
            cal: dict[int, np.ndarray] = {}
            trk: dict[int, np.ndarray] = {}
            for p, msk in owner.items():
                v = ev.pfo_p4[p]
                cal.setdefault(msk, np.zeros(5))[:] += [*v, _pt(v)]
                if ev.pfo_track[p] >= 0:
                    t = ev.trk_p4[ev.pfo_track[p]]
                    trk.setdefault(msk, np.zeros(5))[:] += [*t, _pt(t)]
            for name, store in (("cal", cal), ("trk", trk)):
                for msk in sorted(store):
                    col[f"{name}_key"].append(msk)
                    for c, v in zip(("px", "py", "pz", "e", "sumpt"), store[msk]):
                        col[f"{name}_{c}"].append(v)
            cal_counts.append(len(cal))
            trk_counts.append(len(trk))
            jt = np.zeros(5)
            if a < n_assoc - 1:
                for p in ev.jets[a]["pfos"]:
                    t = ev.pfo_track[p]
                    if t >= 0 and ev.trk_vertex[t] == 0:
                        jt += [*ev.trk_p4[t], _pt(ev.trk_p4[t])]
            for c, v in zip(("px", "py", "pz", "e", "sumpt"), jt):
                col[f"jettrk_{c}"].append(v)
            obj_counts.append(len(objs))
        assoc_counts.append(n_assoc)
        for p, v in enumerate(ev.pfo_p4):
            if p in jet_of or p in owned or not ev.pfo_is_soft_ok(p):
                continue
            core[e, 0] += [-v[0], -v[1], _pt(v)]
            t = ev.pfo_track[p]
            if t >= 0:
                tv = ev.trk_p4[t]
                core[e, 1] += [-tv[0], -tv[1], _pt(tv)]

    def offs(counts):
        o = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=o[1:])
        return o

    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    cols = dict(
        container_keys=ck, assoc_offsets=offs(assoc_counts),
        jet_index=np.asarray(col["jet_index"], np.int32), is_misc=np.asarray(col["is_misc"], np.bool_),
        obj_offsets=offs(obj_counts), obj_container=np.asarray(col["obj_container"], np.uint8),
        obj_index=np.asarray(col["obj_index"], np.int32), obj_type=np.asarray(col["obj_type"], np.uint8),
        ovl_offsets=offs(ovl_counts), ovl_index=np.asarray(col["ovl_index"], np.int32),
        ovl_type=np.asarray(col["ovl_type"], np.uint8),
        cal_offsets=offs(cal_counts), cal_key=np.asarray(col["cal_key"], np.uint64),
        trk_offsets=offs(trk_counts), trk_key=np.asarray(col["trk_key"], np.uint64))
    for n in ("cal", "trk", "jettrk"):
        for c in ("px", "py", "pz", "e", "sumpt"):
            cols[f"{n}_{c}"] = f32(col[f"{n}_{c}"])
    return dict(map=cols, core=core.astype(np.float32))


# ---------------------------------------------------------------------------------------------
# brute force

@dataclass
class Selection:
    """What the analysis selects: per-type object masks (per event lists), jet mask and cuts."""

    use: dict                  # kind -> list (events) of list of bool
    use_jet: list              # events -> list of bool
    central_pt: float = 20 * GeV
    forward_pt: float = 30 * GeV
    eta_forw: float = 2.4          # the R21 JVT fallback's JetEtaForw
    eta_max: float = 4.5
    do_jvt: bool = True
    jvt_cut: float = 0.59
    jvt_pt_max: float = 60 * GeV
    jvt_eta_max: float = 2.4
    min_weighted_pt: float = 20 * GeV


def _eta(p):
    pt = _pt(p)
    return np.inf if pt == 0 else float(np.arcsinh(p[2] / pt))


def static_met(ev: Event, e: int, sel: Selection, order: str = "egtm") -> dict:
    """Terms of the MET of one event from its constituents, for this selection."""
    terms = {k: np.zeros(3) for k in ("e", "g", "t", "m", "jet", "cst", "tst")}
    flagged: set[int] = set()     # PFOs owned by flagged objects
    flagged_muon: set[int] = set()
    flagged_objs = {k: [] for k in "egtm"}
    for kind in order:
        for i, obj in enumerate(ev.objects[kind]):
            if not sel.use[kind][e][i]:
                continue
            ps = set(obj["pfos"])
            overlap = bool(ps & flagged)
            if kind == "m":
                added = True
                if obj["type"] == 3 and any(ps & set(ev.objects["e"][j]["pfos"]) for j in flagged_objs["e"]):
                    added = False
                if not overlap:
                    flagged |= ps
                    flagged_muon |= ps
                    flagged_objs[kind].append(i)
            else:
                added = not overlap
                if added:
                    flagged |= ps
                    flagged_objs[kind].append(i)
            if added:
                p = obj["p4"]
                terms[kind] += [-p[0], -p[1], _pt(p)]
    in_jet = set()
    for j, jet in enumerate(ev.jets):
        in_jet |= set(jet["pfos"])
        if not sel.use_jet[e][j]:
            continue
        pfos = jet["pfos"]
        c = jet["constit"]
        claimed = [p for p in pfos if p in flagged]
        calvec = np.sum([ev.pfo_p4[p] for p in claimed], axis=0) if claimed else np.zeros(4)
        mu = [p for p in pfos if p in flagged_muon]
        mvec = np.sum([ev.pfo_p4[p] for p in mu], axis=0) if mu else np.zeros(4)
        ovl_only = [p for p in claimed if p not in flagged_muon]
        ovl_e = float(np.sum([ev.pfo_p4[p][3] for p in ovl_only])) if ovl_only else 0.0
        o = c[:2] - calvec[:2] + mvec[:2]
        opt = float(np.hypot(*o))
        uniquefrac = 1.0 if ovl_e == 0 else 1.0 - ovl_e / c[3]
        p = jet["p4"]
        pt, aeta = _pt(p), abs(_eta(p))
        is_sel = pt > (sel.central_pt if aeta < sel.eta_forw else sel.forward_pt)
        reject = sel.eta_max > 0 and aeta > sel.eta_max
        if sel.do_jvt and pt < sel.jvt_pt_max and aeta < sel.jvt_eta_max:
            reject = jet["jvt"] < sel.jvt_cut
        hard = False
        if is_sel and not reject:
            if not claimed:
                hard = True
                terms["jet"] += [-p[0], -p[1], pt]
            elif uniquefrac > 0 and opt > sel.min_weighted_pt:
                hard = True
                terms["jet"] += [-uniquefrac * p[0], -uniquefrac * p[1], uniquefrac * pt]
        if not hard and not reject:
            terms["cst"] += [-o[0], -o[1], opt]
        if not hard:
            for q in pfos:
                t = ev.pfo_track[q]
                if t >= 0 and ev.trk_vertex[t] == 0 and q not in flagged:
                    tv = ev.trk_p4[t]
                    terms["tst"] += [-tv[0], -tv[1], _pt(tv)]
    for q, v in enumerate(ev.pfo_p4):   # everything outside jets and not used by objects
        if q in in_jet or q in flagged or not ev.pfo_is_soft_ok(q):
            continue
        terms["cst"] += [-v[0], -v[1], _pt(v)]
        t = ev.pfo_track[q]
        if t >= 0:
            tv = ev.trk_p4[t]
            terms["tst"] += [-tv[0], -tv[1], _pt(tv)]
    return terms


def block(events: list[Event]):
    """Containers, MissingETAssociationMap and core MissingETContainer for these events."""
    from metflow.edm.met import MissingETAssociationMap, MissingETContainer, Source
    conts = containers(events)
    built = build_map_columns(events)
    cols = dict(built["map"])
    keys = cols.pop("container_keys")
    assoc_map = MissingETAssociationMap(keys, jet_key=JETS, key=mk.met_assoc_key("AntiKt4EMPFlow"), **cols)
    core_vals = built["core"]
    core = MissingETContainer(
        (mk.SOFT_CLUS_CORE, mk.PV_SOFT_TRK_CORE),
        np.array([Source.soft_event() | Source.cluster_lc(), Source.soft_event() | Source.track()], np.uint64),
        core_vals[:, :, 0], core_vals[:, :, 1], core_vals[:, :, 2], key=mk.met_core_key("AntiKt4EMPFlow"))
    return conts, assoc_map, core


def p4(pt_gev, eta, phi, m=0.0):
    """A 4-vector [px, py, pz, e] in MeV from pT in GeV."""
    return _p4(pt_gev * GeV, eta, phi, m)
