"""Test support for the MET reconstruction tests: hand-made and random event blocks, and a plain
Python reference implementation of the association map and core soft terms (athena_met.md B)."""

from __future__ import annotations

import math

import numpy as np

from metflow.edm import keys as K
from metflow.edm.containers import Container, ListColumn, schema_for
from metflow.edm.jet_collection import jet_collection
from metflow.edm.units import GeV

OBJECT_KEYS = (K.MUONS, K.ELECTRONS, K.PHOTONS, K.TAUS)  # default associator order
OBJECT_TYPES = {K.MUONS: 8, K.ELECTRONS: 6, K.PHOTONS: 7, K.TAUS: 9}
INPUT_KEYS = (K.PRIMARY_VERTICES, K.TRACKS, K.CLUSTERS, K.PFOS,
              K.jet_container_key("AntiKt4EMPFlow"), K.jet_container_key("AntiKt4EMTopo"),
              *OBJECT_KEYS)

_DEFAULTS = {"vertex": -1, "track": -1, "cluster": -1, "id_track": -1, "passes_quality": True,
             "is_hard_scatter": False}


def p4(pt, eta, phi, m=0.0):
    px, py = pt * math.cos(phi), pt * math.sin(phi)
    pz = pt * math.sinh(eta)
    e = math.sqrt(px * px + py * py + pz * pz + m * m)
    return {"px": px, "py": py, "pz": pz, "e": e}


def make_container(key: str, events: list[list[dict]]) -> Container:
    """A Container for ``key`` from per-event lists of object dicts (missing fields default)."""
    schema = schema_for(key)
    counts = [len(objs) for objs in events]
    offsets = np.zeros(len(events) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = [obj for objs in events for obj in objs]
    columns = {}
    for f in schema.fields:
        if not f.required and not any(f.name in o for o in flat):
            continue
        if f.kind == "links":
            columns[f.name] = ListColumn.from_lists([o.get(f.name, []) for o in flat])
        else:
            default = _DEFAULTS.get(f.name, 0)
            columns[f.name] = np.array([o.get(f.name, default) for o in flat], dtype=f.dtype)
    return Container(schema, offsets, columns, key=key)


def make_block(events: list[dict], extra_keys: tuple[str, ...] = ()) -> dict[str, Container]:
    """All input containers of a block from per-event dicts key -> list of object dicts, with
    the jets' PV track moments and the muons' ID-track pT as event producers add them."""
    from metflow.algorithms.generation.track_moments import with_track_moments

    block = {key: make_container(key, [ev.get(key, []) for ev in events]) for key in INPUT_KEYS + extra_keys}
    return with_track_moments(block, block[K.TRACKS])


def random_event(rng: np.random.Generator, *, n_clusters=40, n_tracks=30, n_jets=4, with_pv=True,
                 extra_keys: tuple[str, ...] = ()) -> dict:
    """A random event with consistent links: PFOs from tracks (charged) and clusters (neutral),
    jets partitioning part of the constituents, objects linking random (sometimes shared,
    sometimes jet, sometimes unclustered) constituents."""
    ev: dict = {}
    ev[K.PRIMARY_VERTICES] = ([{"z": rng.normal(0, 30), "is_hard_scatter": True}, {"z": rng.normal(0, 30)}]
                              if with_pv else [])
    tracks = []
    for _ in range(n_tracks):
        t = p4(rng.exponential(3 * GeV) + 0.2 * GeV, rng.uniform(-3, 3), rng.uniform(-np.pi, np.pi), 139.6)
        t.update(z0=rng.normal(0, 0.5), d0=rng.normal(0, 0.8), vertex=int(rng.choice([0, 0, 0, 1, -1])),
                 passes_quality=bool(rng.random() < 0.9), charge=int(rng.choice([-1, 1])))
        if ev[K.PRIMARY_VERTICES]:
            t["z0"] += ev[K.PRIMARY_VERTICES][0]["z"]
        else:
            t["vertex"] = -1
        tracks.append(t)
    clusters = []
    for _ in range(n_clusters):
        c = p4(rng.exponential(2 * GeV), rng.uniform(-4, 4), rng.uniform(-np.pi, np.pi))
        if rng.random() < 0.1:  # negative-energy noise cluster
            c = {k: -v for k, v in c.items()}
        clusters.append(c)
    pfos = [dict(t, track=i, charge=t["charge"]) for i, t in enumerate(tracks)]
    pfos += [dict(c, cluster=i) for i, c in enumerate(clusters)]
    ev[K.TRACKS], ev[K.CLUSTERS], ev[K.PFOS] = tracks, clusters, pfos
    for jet_key, n_const in ((K.jet_container_key("AntiKt4EMPFlow"), len(pfos)),
                             (K.jet_container_key("AntiKt4EMTopo"), len(clusters))):
        owner = rng.integers(-1, n_jets, size=n_const)  # -1: not in a jet
        ghost_owner = rng.integers(-1, n_jets, size=len(tracks))
        jets = []
        for j in range(n_jets):
            constituents = [int(i) for i in np.flatnonzero(owner == j)]
            jet = p4(rng.uniform(20, 100) * GeV, rng.uniform(-2.5, 2.5), rng.uniform(-np.pi, np.pi))
            jet.update(constituents=constituents,
                       ghost_tracks=[int(i) for i in np.flatnonzero(ghost_owner == j)])
            jets.append(jet)
        ev[jet_key] = jets
    for key in OBJECT_KEYS + tuple(extra_keys):
        objs = []
        for _ in range(int(rng.integers(0, 4))):
            o = p4(rng.exponential(15 * GeV), rng.uniform(-2.5, 2.5), rng.uniform(-np.pi, np.pi))
            o["clusters"] = [int(i) for i in rng.choice(len(clusters), size=int(rng.integers(0, 4)), replace=False)]
            o["pfos"] = [int(i) for i in rng.choice(len(pfos), size=int(rng.integers(0, 4)), replace=False)]
            trk = [int(i) for i in rng.choice(len(tracks), size=int(rng.integers(0, 3)), replace=False)]
            if key.startswith(K.MUONS):
                o["id_track"] = trk[0] if trk else -1
            else:
                o["tracks"] = trk
            objs.append(o)
        ev[key] = objs
    return ev


# ---------------------------------------------------------------------------------------------
# plain-Python reference (one event at a time)

def _pt(o):
    return math.hypot(o["px"], o["py"])


def accept_track(ev, t):
    pvs = ev.get(K.PRIMARY_VERTICES, [])
    if not pvs or not pvs[0].get("is_hard_scatter", False):
        return False
    if t.get("vertex", -1) != 0 or not t.get("passes_quality", True):
        return False
    t = {k: float(np.float32(v)) for k, v in t.items() if k in ("px", "py", "pz", "z0", "d0")}
    pt = _pt(t)
    p = math.sqrt(pt * pt + t["pz"] ** 2)
    eta = math.asinh(t["pz"] / pt) if pt > 0 else math.inf
    z_pv = float(np.float32(pvs[0]["z"]))
    return (pt > 500 and abs(eta) < 2.5 and abs((t.get("z0", 0.0) - z_pv) * pt / p) < 3
            and abs(t.get("d0", 0.0)) < 2)


def reference(ev: dict, jet_coll: str, object_keys=OBJECT_KEYS, object_types=None, min_pts=None):
    """(associations, soft) for one event. Each association is a dict with jet, objects
    [(key, index, type)], cal/trk {mask: [px,py,pz,e,sumpt]}, ovl [[(j, typebits)]], jettrk."""
    object_types = object_types or OBJECT_TYPES
    min_pts = min_pts or {}
    record = jet_collection(jet_coll)
    pflow = record.pflow
    f = lambda o: [float(np.float32(o[c])) for c in ("px", "py", "pz", "e")]  # noqa: E731
    tracks, pfos, clusters = ev.get(K.TRACKS, []), ev.get(K.PFOS, []), ev.get(K.CLUSTERS, [])
    signals = ev.get(record.constituents, [])
    acc = [accept_track(ev, t) for t in tracks]
    jets = ev.get(K.jet_container_key(jet_coll), [])
    sig_owner, trk_owner = {}, {}
    assocs = []
    for j, jet in enumerate(jets):
        jettrk = [0.0] * 5
        for c in jet["constituents"]:
            sig_owner[c] = j
            if pflow and signals[c].get("track", -1) >= 0 and acc[signals[c]["track"]]:
                v = f(tracks[signals[c]["track"]])
                jettrk = [a + b for a, b in zip(jettrk, v + [math.hypot(v[0], v[1])])]
        if not pflow:
            for t in jet["ghost_tracks"]:
                if acc[t]:
                    trk_owner[t] = j
                    v = f(tracks[t])
                    jettrk = [a + b for a, b in zip(jettrk, v + [math.hypot(v[0], v[1])])]
        assocs.append({"jet": j, "objects": [], "consts": [], "jettrk": jettrk})
    assocs.append({"jet": -1, "objects": [], "consts": [], "jettrk": [0.0] * 5})
    misc = len(jets)
    used_sig, used_trk = set(), set()
    for key in object_keys:
        objs = ev.get(key, [])
        min_pt = min_pts.get(key, 0.0 if key.startswith(K.MUONS) else 4 * GeV)
        order = sorted((i for i, o in enumerate(objs) if _pt({c: np.float32(o[c]) for c in ("px", "py")}) >= min_pt),
                       key=lambda i: -_pt({c: np.float64(np.float32(objs[i][c])) for c in ("px", "py")}))
        for i in order:
            o = objs[i]
            consts = set()
            if pflow:
                for c in o.get("pfos", []):
                    trk = pfos[c].get("track", -1)
                    if (acc[trk] if trk >= 0 else np.float32(pfos[c]["e"]) > 0):
                        consts.add(("sig", c))
            else:
                for c in o.get("clusters", []):
                    if np.float32(clusters[c]["e"]) > 0:
                        consts.add(("sig", c))
                trks = o.get("tracks", [])
                if "id_track" in o:
                    trks = [o["id_track"]] if o["id_track"] >= 0 else []
                for t in trks:
                    if acc[t]:
                        consts.add(("trk", t))
            groups: dict[int, set] = {}
            for kind, c in consts:
                a = (sig_owner if kind == "sig" else trk_owner).get(c, misc)
                groups.setdefault(a, set()).add((kind, c))
                (used_sig if kind == "sig" else used_trk).add(c)
            if not groups:
                groups[misc] = set()
            for a, cs in groups.items():
                assocs[a]["objects"].append((key, i, object_types[key]))
                assocs[a]["consts"].append(cs)
    type_bit = {"sig": 1 << (3 if pflow else 1), "trk": 1 << 4}
    for assoc in assocs:
        owner: dict = {}
        for slot, cs in enumerate(assoc["consts"]):
            for c in cs:
                owner[c] = owner.get(c, 0) | (1 << slot)
        cal, trk = {}, {}
        for (kind, c), m in owner.items():
            if kind == "sig":
                v = f(signals[c])
                cal.setdefault(m, []).append(v)
                if pflow and signals[c].get("track", -1) >= 0:
                    trk.setdefault(m, []).append(f(tracks[signals[c]["track"]]))
            else:
                trk.setdefault(m, []).append(f(tracks[c]))
        summed = lambda vs: [sum(v[k] for v in vs) for k in range(4)] + [sum(math.hypot(v[0], v[1]) for v in vs)]  # noqa: E731
        assoc["cal"] = {m: summed(vs) for m, vs in sorted(cal.items())}
        assoc["trk"] = {m: summed(vs) for m, vs in sorted(trk.items())}
        n = len(assoc["objects"])
        ovl = [[] for _ in range(n)]
        for i in range(n):
            for j in range(n):
                shared = assoc["consts"][i] & assoc["consts"][j]
                if i != j and shared:
                    ovl[i].append((j, int(np.bitwise_or.reduce([type_bit[k] for k, _ in shared]))))
        assoc["ovl"] = ovl
    # soft terms
    soft_cal, soft_trk = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    soft_sig, soft_trks = set(), set()

    def add(term, v):
        term[0] -= v[0]
        term[1] -= v[1]
        term[2] += math.hypot(v[0], v[1])

    for c, s in enumerate(signals):
        if c in sig_owner or c in used_sig:
            continue
        if pflow and s.get("track", -1) >= 0:
            if not acc[s["track"]]:
                continue
            soft_trks.add(s["track"])
        elif not np.float32(s["e"]) > 0:
            continue
        soft_sig.add(c)
        add(soft_cal, f(s))
    if not pflow:
        soft_trks = {t for t in range(len(tracks)) if acc[t] and t not in trk_owner and t not in used_trk}
    for t in sorted(soft_trks):
        add(soft_trk, f(tracks[t]))
    return assocs, {"SoftClusCore": soft_cal, "PVSoftTrkCore": soft_trk, "signals": soft_sig,
                    "tracks": soft_trks, "accepted": acc}


def inputs_of(alg, store: dict) -> dict:
    """An algorithm's compute() inputs from `store`, keyed as the framework passes them."""
    return {attr: (store[alg.key(attr)] if isinstance(alg.key(attr), str)
                   else [store[k] for k in alg.key(attr)]) for attr in alg.inputs_declared()}


def record_outputs(alg, store: dict, out) -> None:
    """Put what compute() returned under the algorithm's output key(s), frozen, as the framework
    does: one output's object (a list for a list of keys), or a dict by output name."""
    outputs = list(alg.outputs_declared())
    results = out if len(outputs) > 1 else {outputs[0]: out}
    for attr in outputs:
        keys = alg.key(attr)
        if keys is None:   # an unconfigured optional output
            continue
        value = results[attr]
        for key, obj in ([(keys, value)] if isinstance(keys, str) else zip(keys, value, strict=True)):
            store[key] = obj.freeze()
