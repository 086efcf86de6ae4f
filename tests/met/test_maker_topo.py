"""Property test "dynamic equals static" for the cluster + track flavour (AntiKt4EMTopo).

Here clusters and tracks are separate constituents, so the usage policies matter: e/γ/τ
overlap only through shared clusters (OnlyCluster), muons only through shared tracks
(OnlyTrack, and they are added even when overlapping). Random events, a small map builder
written from athena_met.md B (through `MissingETAssociationMap.from_events`), and a brute-force
static MET from the constituents; TST and CST compared to float32 precision.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metflow.edm import keys as mk
from metflow.edm.containers import (CLUSTER_SCHEMA, ELECTRON_SCHEMA, MUON_SCHEMA, PHOTON_SCHEMA,
                                    TAU_SCHEMA, TRACK_SCHEMA, container_from_events, jet_schema)
from metflow.edm.met import (MissingETAssociationHelper, MissingETAssociationMap,
                             MissingETContainer, ObjectType, Source)
from metflow.edm.units import GeV

from metflow.algorithms.met.maker import METBuilder, METMaker

JETS = mk.jet_container_key("AntiKt4EMTopo")
KINDS = {"e": (mk.ELECTRONS, ELECTRON_SCHEMA, ObjectType.Electron, mk.REF_ELE),
         "g": (mk.PHOTONS, PHOTON_SCHEMA, ObjectType.Photon, mk.REF_GAMMA),
         "t": (mk.TAUS, TAU_SCHEMA, ObjectType.Tau, mk.REF_TAU),
         "m": (mk.MUONS, MUON_SCHEMA, ObjectType.Muon, mk.MUONS_TERM)}
CLUSTER_BIT, TRACK_BIT = 1 << 1, 1 << 4


def _p4(rng, pt_scale, eta_max, m=0.0):
    pt, eta, phi = rng.exponential(pt_scale) + 0.5 * GeV, rng.uniform(-eta_max, eta_max), rng.uniform(-np.pi, np.pi)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.array([px, py, pz, np.sqrt(px * px + py * py + pz * pz + m * m)])


def random_event(rng):
    """Clusters, tracks (PV or pileup), jets (clusters + ghost tracks), objects owning both."""
    cl = [_p4(rng, 4 * GeV, 4.5) for _ in range(int(rng.integers(0, 30)))]
    tr = [_p4(rng, 3 * GeV, 2.5, 139.6) for _ in range(int(rng.integers(0, 25)))]
    vertex = [0 if rng.random() < 0.6 else 1 for _ in tr]
    jets = []
    cl_order, tr_order = rng.permutation(len(cl)), rng.permutation(len(tr))
    n_jets = int(rng.integers(0, 6))
    ccut = np.sort(rng.integers(0, len(cl) + 1, 2 * n_jets))
    tcut = np.sort(rng.integers(0, len(tr) + 1, 2 * n_jets))
    for j in range(n_jets):
        cs = [int(c) for c in cl_order[ccut[2 * j]:ccut[2 * j + 1]]]
        ts = [int(t) for t in tr_order[tcut[2 * j]:tcut[2 * j + 1]]]
        if cs and rng.random() < 0.5:
            f = rng.uniform(3, 15)
            for c in cs:
                cl[c] = cl[c] * f
        constit = np.sum([cl[c] for c in cs], axis=0) if cs else np.zeros(4)
        jets.append(dict(clusters=cs, tracks=ts, constit=constit, p4=constit * rng.uniform(1, 1.3),
                         jvt=float(rng.uniform())))
    pv_tracks = [t for t in range(len(tr)) if vertex[t] == 0]
    objects = {}
    for kind in "egtm":
        objs = []
        for _ in range(int(rng.integers(0, 3))):
            cs = sorted({int(c) for c in rng.choice(len(cl), size=min(len(cl), int(rng.integers(0, 3))), replace=False)}) if cl else []
            ts = sorted({int(t) for t in rng.choice(pv_tracks, size=min(len(pv_tracks), int(rng.integers(0, 2))), replace=False)}) if pv_tracks else []
            base = np.sum([cl[c] for c in cs] + [tr[t] for t in ts], axis=0) if cs or ts else _p4(rng, 20 * GeV, 2.4)
            o = dict(p4=base * rng.uniform(0.95, 1.1), clusters=cs, tracks=ts)
            if kind == "m":
                o.update(id_track=ts[0] if ts else -1, type=int(rng.integers(0, 4)))
            objs.append(o)
        objects[kind] = objs
    return dict(cl=cl, tr=tr, vertex=vertex, jets=jets, objects=objects)


def _vec(p):
    return (*[float(x) for x in p], float(np.hypot(p[0], p[1])))


def build(events):
    """Containers, map (via from_events) and core for the events."""
    assoc_events, core = [], np.zeros((len(events), 2, 3))
    for e, ev in enumerate(events):
        where = {}
        for j, jet in enumerate(ev["jets"]):
            where.update({("c", c): j for c in jet["clusters"]})
            where.update({("t", t): j for t in jet["tracks"] if ev["vertex"][t] == 0})
        n = len(ev["jets"])
        members = [[] for _ in range(n + 1)]
        for kind in "megt":
            for i, o in enumerate(ev["objects"][kind]):
                groups = {}
                for c in [("c", c) for c in o["clusters"]] + [("t", t) for t in o["tracks"]]:
                    groups.setdefault(where.get(c, n), []).append(c)
                for a, cs in (groups or {n: []}).items():
                    members[a].append((kind, i, cs))
        owned = set()
        assocs = []
        for a, objs in enumerate(members):
            owner = {}
            for k, (_, _, cs) in enumerate(objs):
                for c in cs:
                    owner[c] = owner.get(c, 0) | (1 << k)
                    owned.add(c)
            cal, trk = {}, {}
            for c, msk in owner.items():
                store, p = (cal, ev["cl"][c[1]]) if c[0] == "c" else (trk, ev["tr"][c[1]])
                store[msk] = np.add(store.get(msk, np.zeros(5)), _vec(p))
            overlaps = []
            for k, (_, _, cs) in enumerate(objs):
                ovl = []
                for j, (_, _, ds) in enumerate(objs):
                    shared = set(cs) & set(ds)
                    if j != k and shared:
                        ovl.append((j, (CLUSTER_BIT if any(s[0] == "c" for s in shared) else 0)
                                    | (TRACK_BIT if any(s[0] == "t" for s in shared) else 0)))
                overlaps.append(ovl)
            jettrk = (0.0,) * 5
            if a < n:
                pv = [ev["tr"][t] for t in ev["jets"][a]["tracks"] if ev["vertex"][t] == 0]
                jettrk = tuple(np.sum([_vec(p) for p in pv], axis=0)) if pv else jettrk
            assocs.append(dict(jet_index=a if a < n else -1,
                               objects=[(KINDS[kind][0], i, KINDS[kind][2]) for kind, i, _ in objs],
                               overlaps=overlaps, cal=[(k, *v) for k, v in sorted(cal.items())],
                               trk=[(k, *v) for k, v in sorted(trk.items())], jettrk=jettrk))
        assoc_events.append(assocs)
        for c, p in enumerate(ev["cl"]):
            if ("c", c) not in where and ("c", c) not in owned:
                core[e, 0] += [-p[0], -p[1], np.hypot(p[0], p[1])]
        for t, p in enumerate(ev["tr"]):
            if ev["vertex"][t] == 0 and ("t", t) not in where and ("t", t) not in owned:
                core[e, 1] += [-p[0], -p[1], np.hypot(p[0], p[1])]
    keys = [KINDS[k][0] for k in "egtm"]
    assoc_map = MissingETAssociationMap.from_events(assoc_events, keys, jet_key=JETS)
    core_cont = MissingETContainer(
        (mk.SOFT_CLUS_CORE, mk.PV_SOFT_TRK_CORE),
        np.array([Source.soft_event() | Source.cluster_lc(), Source.soft_event() | Source.track()], np.uint64),
        core[:, :, 0], core[:, :, 1], core[:, :, 2])
    p4c = lambda items, f=lambda x: x: {c: [float(f(x)[i]) for x in items] for i, c in enumerate(("px", "py", "pz", "e"))}  # noqa: E731
    conts = {"jets": container_from_events(jet_schema(mk.CLUSTERS), [dict(
        **p4c(ev["jets"], lambda j: j["p4"]),
        **{"constit_" + c: v for c, v in p4c(ev["jets"], lambda j: j["constit"]).items()},
        constituents=[j["clusters"] for j in ev["jets"]], ghost_tracks=[j["tracks"] for j in ev["jets"]],
        jvt=[j["jvt"] for j in ev["jets"]], emfrac=[0.5] * len(ev["jets"])) for ev in events], key=JETS)}
    for kind, (key, schema, _, _) in KINDS.items():
        rows = []
        for ev in events:
            objs = ev["objects"][kind]
            row = dict(**p4c(objs, lambda o: o["p4"]), charge=[0] * len(objs), clusters=[o["clusters"] for o in objs],
                       pfos=[[] for _ in objs], id=[7] * len(objs))
            if kind == "m":
                row.update(id_track=[o["id_track"] for o in objs], type=[o["type"] for o in objs])
            else:
                row["tracks"] = [o["tracks"] for o in objs]
                if kind in "eg":
                    row["isolated"] = [True] * len(objs)
            rows.append(row)
        conts[kind] = container_from_events(schema, rows, key=key)
    conts["tracks"] = container_from_events(TRACK_SCHEMA, [dict(
        **p4c(ev["tr"]), charge=[1] * len(ev["tr"]), z0=[0.0] * len(ev["tr"]), d0=[0.0] * len(ev["tr"]),
        vertex=ev["vertex"], passes_quality=[True] * len(ev["tr"])) for ev in events], key=mk.TRACKS)
    conts["clusters"] = container_from_events(CLUSTER_SCHEMA, [p4c(ev["cl"]) for ev in events], key=mk.CLUSTERS)
    return conts, assoc_map, core_cont


def static_met(ev, use, use_jet, wp, order):
    """Brute force from constituents: policies, jets, soft terms (no map)."""
    terms = {k: np.zeros(3) for k in ("e", "g", "t", "m", "jet", "cst", "tst")}
    flagged, flagged_mu, flagged_e = set(), set(), []
    cons = lambda o: {("c", c) for c in o["clusters"]} | {("t", t) for t in o["tracks"]}  # noqa: E731
    for kind in order:
        for i, o in enumerate(ev["objects"][kind]):
            if not use[kind][i]:
                continue
            cs = cons(o)
            kind_of = "t" if kind == "m" else "c"
            overlap = any(c in flagged and c[0] == kind_of for c in cs)
            if not overlap:
                flagged |= cs
                if kind == "m":
                    flagged_mu |= cs
                if kind == "e":
                    flagged_e.append(cs)
            added = not overlap if kind != "m" else not (o["type"] == 3 and any(cs & f for f in flagged_e))
            if added:
                terms[kind] += [-o["p4"][0], -o["p4"][1], np.hypot(o["p4"][0], o["p4"][1])]
    in_jet = set()
    for j, jet in enumerate(ev["jets"]):
        cache = {("c", c) for c in jet["clusters"]} | {("t", t) for t in jet["tracks"] if ev["vertex"][t] == 0}
        in_jet |= cache
        if not use_jet[j]:
            continue
        claimed = [c for c in jet["clusters"] if ("c", c) in flagged]
        mu = [c for c in jet["clusters"] if ("c", c) in flagged_mu]
        s = lambda cs: np.sum([ev["cl"][c] for c in cs], axis=0) if cs else np.zeros(4)  # noqa: E731
        calvec, mvec = s(claimed), s(mu)
        ovl_e = float(sum(ev["cl"][c][3] for c in claimed if ("c", c) not in flagged_mu))
        o = jet["constit"][:2] - calvec[:2] + mvec[:2]
        opt = float(np.hypot(*o))
        uf = 1.0 if ovl_e == 0 else 1 - ovl_e / jet["constit"][3]
        p = jet["p4"]
        pt = float(np.hypot(p[0], p[1]))
        aeta = abs(float(np.arcsinh(p[2] / pt))) if pt > 0 else np.inf
        is_sel = pt > (wp.central_pt if aeta < 2.4 else wp.forward_pt)   # R21 fallback: JetEtaForw 2.4
        reject = aeta > 4.5
        if pt < wp.jvt_pt_max and aeta < 2.4:
            reject = jet["jvt"] < wp.jvt_cut
        hard = False
        if is_sel and not reject:
            if not claimed:
                hard = True
                terms["jet"] += [-p[0], -p[1], pt]
            elif uf > 0 and opt > 20 * GeV:
                hard = True
                terms["jet"] += [-uf * p[0], -uf * p[1], uf * pt]
        if not hard and not reject:
            terms["cst"] += [-o[0], -o[1], opt]
        if not hard:
            for t in jet["tracks"]:
                if ev["vertex"][t] == 0 and ("t", t) not in flagged:
                    q = ev["tr"][t]
                    terms["tst"] += [-q[0], -q[1], np.hypot(q[0], q[1])]
    for c, q in enumerate(ev["cl"]):
        if ("c", c) not in in_jet and ("c", c) not in flagged:
            terms["cst"] += [-q[0], -q[1], np.hypot(q[0], q[1])]
    for t, q in enumerate(ev["tr"]):
        if ev["vertex"][t] == 0 and ("t", t) not in in_jet and ("t", t) not in flagged:
            terms["tst"] += [-q[0], -q[1], np.hypot(q[0], q[1])]
    return terms


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), sel_seed=st.integers(0, 2**32 - 1),
       wp=st.sampled_from(["Loose", "Tight", "Tenacious"]), order=st.sampled_from(["egtm", "gmet", "mteg"]))
def test_dynamic_equals_static_cluster_track(seed, sel_seed, wp, order):
    rng = np.random.default_rng(seed)
    events = [random_event(rng) for _ in range(10)]
    conts, m, core = build(events)
    srng = np.random.default_rng(sel_seed)
    masks = {k: srng.random(len(conts[k])) < 0.75 for k in "egtm"}
    jet_mask = srng.random(len(conts["jets"])) < 0.9
    maker = METMaker(jet_selection=wp, do_pflow=False)
    helper, met = MissingETAssociationHelper(m), METBuilder(m.n_events)
    for kind in order:
        key, _, otype, term = KINDS[kind]
        maker.rebuild_met(term, otype, conts[kind], helper, met, select=masks[kind])
    maker.rebuild_jet_met(mk.REF_JET, (mk.SOFT_CLUS, mk.PV_SOFT_TRK), met, conts["jets"], core, helper,
                          select=jet_mask)
    maker.build_met_sum(mk.FINAL_TRK, met, Source.track())
    maker.build_met_sum(mk.FINAL_CLUS, met, Source.cluster_lc())
    out = met.to_container()
    names = {"e": mk.REF_ELE, "g": mk.REF_GAMMA, "t": mk.REF_TAU, "m": mk.MUONS_TERM, "jet": mk.REF_JET,
             "cst": mk.SOFT_CLUS, "tst": mk.PV_SOFT_TRK}
    for e, ev in enumerate(events):
        sl = lambda c: slice(c.offsets[e], c.offsets[e + 1])  # noqa: E731
        static = static_met(ev, {k: masks[k][sl(conts[k])] for k in "egtm"}, jet_mask[sl(conts["jets"])],
                            maker.working_point, order)
        static["trk"] = sum(static[k] for k in ("e", "g", "t", "m", "jet", "tst"))
        static["clus"] = sum(static[k] for k in ("e", "g", "t", "m", "jet", "cst"))
        scale = 1.0 + sum(abs(v[2]) for v in static.values())
        for k, name in [*names.items(), ("trk", mk.FINAL_TRK), ("clus", mk.FINAL_CLUS)]:
            got = np.array([out[name].mpx[e], out[name].mpy[e], out[name].sumet[e]], np.float64)
            np.testing.assert_allclose(got, static[k], rtol=0, atol=2e-6 * scale + 0.05,
                                       err_msg=f"event {e} term {name} (seed {seed}, sel {sel_seed})")
