"""End-to-end "dynamic equals static": SyntheticSource events -> the real MET reconstruction
(``met_assoc_cfg``, algorithms computed in graph order) -> METMaker with random object and jet
selections, compared with a brute-force MET computed in this file from the constituents.

The brute force shares no code with reco or METMaker. It reads the raw containers (PFOs or
TopoClusters, InDetTracks, PrimaryVertices, jets, e/γ/τ/μ) and applies, per event:

* the documented track selection (reco.py docstring, athena_met.md B.2): a hard-scatter vertex at
  index 0, ``vertex == 0``, ``passes_quality``, pT > 0.5 GeV, |η| < 2.5, |(z0 − z_PV) sinθ| < 3 mm,
  |d0| < 2 mm;
* the association rules (B.2-B.5): an object (pT ≥ 4 GeV, every muon) owns its linked eligible
  constituents (PFlow: PFOs, charged ones only with an accepted track; EMTopo: clusters with E > 0
  and accepted tracks); a jet owns its constituents (EMTopo: also its accepted ghost tracks);
* METMaker's rules (C.2, C.4) written on constituent sets: overlap = sharing a constituent of the
  policy's type with an already flagged object; jets: O = C − (claimed) + (flagged-muon deposits),
  uniquefrac, the working point, JVT, DoRemoveMuonJets, the electron-track rule; soft terms =
  unclaimed constituents outside hard jets (CST: signals of non-rejected soft jets at the jet's
  constituent scale; TST: accepted tracks of every non-hard jet).

Every term and both totals must agree to float32 precision (the map stores float32 sums).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metflow.algorithms.generation.synthetic import SyntheticSource
from metflow.algorithms.met.config import met_assoc_cfg
from metflow.algorithms.met.maker import METBuilder, METMaker
from metflow.edm import keys as K
from metflow.edm.jet_collection import jet_collection
from metflow.edm.met import MissingETAssociationHelper, ObjectType, Source
from metflow.edm.units import GeV, MeV, mm
from test_reco_support import inputs_of, record_outputs

OBJECT_KINDS = {"e": (K.ELECTRONS, ObjectType.Electron, K.REF_ELE),
                "g": (K.PHOTONS, ObjectType.Photon, K.REF_GAMMA),
                "t": (K.TAUS, ObjectType.Tau, K.REF_TAU),
                "m": (K.MUONS, ObjectType.Muon, K.MUONS_TERM)}
TERMS = {"e": K.REF_ELE, "g": K.REF_GAMMA, "t": K.REF_TAU, "m": K.MUONS_TERM, "jet": K.REF_JET,
         "cst": K.SOFT_CLUS, "tst": K.PV_SOFT_TRK}

# documented configuration the brute force reproduces
TRACK_MIN_PT, TRACK_MAX_ETA, TRACK_MAX_Z0_SIN_THETA, TRACK_MAX_D0 = 0.5 * GeV, 2.5, 3 * mm, 2 * mm
OBJECT_MIN_PT = 4 * GeV                        # reco associators (muons: all)
GHOST_TRACK_MIN_PT = 500 * MeV                 # SumPtTrkPt500 / NumTrkPt500
MUON_JET = dict(pt_ratio=2.0, trk_frac=0.8, n_trk=5)
ELE_TRK_MIN_PT, JET_UNIQUE_TRK_MIN = 90 * GeV, 10 * GeV
CALO_TAGGED = 3


def run_reco(block: dict, jet_coll: str) -> dict:
    """The reconstruction chain of `jet_coll`, each algorithm's compute in the configured order."""
    store = dict(block)
    for alg in met_assoc_cfg(jet_coll).algorithms:
        record_outputs(alg, store, alg.compute(**inputs_of(alg, store)))
    return store


# ---------------------------------------------------------------------------------------------
# brute force

def _f64(container, name, sl):
    return np.asarray(container[name][sl], np.float64)


def _p4s(container, sl):
    return np.stack([_f64(container, c, sl) for c in ("px", "py", "pz", "e")], axis=1)


def _lists(col, o0, o1):
    return [[int(v) for v in col.values[col.offsets[o]:col.offsets[o + 1]]] for o in range(o0, o1)]


def _pt(v):
    return float(np.hypot(v[0], v[1]))


@dataclass
class Analysis:
    """One random analysis: object masks (block-global), jet mask, priority order, jet cuts."""

    masks: dict
    jet_mask: np.ndarray
    order: str
    central_pt: float
    forward_pt: float
    jvt_cut: float
    do_jvt: bool
    eta_forw: float = 2.4          # METMaker with the R21 JVT fallback forces JetEtaForw = 2.4
    eta_max: float = 4.5
    jvt_pt_max: float = 60 * GeV
    jvt_eta_max: float = 2.4
    min_weighted_pt: float = 20 * GeV


def accepted_tracks(block: dict, e: int) -> np.ndarray:
    tracks, vertices = block[K.TRACKS], block[K.PRIMARY_VERTICES]
    t0, t1 = tracks.offsets[e], tracks.offsets[e + 1]
    v0, v1 = vertices.offsets[e], vertices.offsets[e + 1]
    if v1 == v0 or not bool(vertices["is_hard_scatter"][v0]):
        return np.zeros(t1 - t0, bool)
    p = _p4s(tracks, slice(t0, t1))
    pt = np.hypot(p[:, 0], p[:, 1])
    eta = np.arcsinh(np.divide(p[:, 2], pt, out=np.zeros_like(pt), where=pt > 0))
    sin_theta = 1.0 / np.cosh(eta)
    z0 = _f64(tracks, "z0", slice(t0, t1)) - float(vertices["z"][v0])
    d0 = _f64(tracks, "d0", slice(t0, t1))
    return ((np.asarray(tracks["vertex"][t0:t1]) == 0) & np.asarray(tracks["passes_quality"][t0:t1])
            & (pt > TRACK_MIN_PT) & (np.abs(eta) < TRACK_MAX_ETA)
            & (np.abs(z0 * sin_theta) < TRACK_MAX_Z0_SIN_THETA) & (np.abs(d0) < TRACK_MAX_D0))


def static_met(block: dict, jet_coll: str, e: int, ana: Analysis) -> dict:
    """Terms {e, g, t, m, jet, cst, tst} -> (mpx, mpy, sumet) of event e, from the constituents."""
    record = jet_collection(jet_coll)
    pflow = record.pflow
    signals = block[record.constituents]
    tracks = block[K.TRACKS]
    jets = block[K.jet_container_key(jet_coll)]
    s0, s1 = signals.offsets[e], signals.offsets[e + 1]
    t0, t1 = tracks.offsets[e], tracks.offsets[e + 1]
    sig_p4, trk_p4 = _p4s(signals, slice(s0, s1)), _p4s(tracks, slice(t0, t1))
    accepted = accepted_tracks(block, e)
    sig_track = np.asarray(signals["track"][s0:s1]) if pflow else np.full(s1 - s0, -1)

    # constituents: ("s", i) signals, ("t", i) tracks (event-local); their cal and trk vectors
    def cal(c):
        return sig_p4[c[1]] if c[0] == "s" else None

    def trk(c):
        if c[0] == "t":
            return trk_p4[c[1]]
        return trk_p4[sig_track[c[1]]] if sig_track[c[1]] >= 0 else None

    def eligible_signal(i):
        return bool(accepted[sig_track[i]]) if sig_track[i] >= 0 else sig_p4[i, 3] > 0

    j0, j1 = jets.offsets[e], jets.offsets[e + 1]
    jet_consts = _lists(jets["constituents"], j0, j1)
    jet_ghosts = _lists(jets["ghost_tracks"], j0, j1)
    jet_of: dict = {}
    for j in range(j1 - j0):
        for s in jet_consts[j]:
            jet_of[("s", s)] = j
        if not pflow:
            for t in jet_ghosts[j]:
                if accepted[t]:
                    jet_of[("t", t)] = j

    # objects: calibrated p4, eligible constituents, whether reco associated them
    objects = {}
    owners: dict = {}
    for kind, (key, _, _) in OBJECT_KINDS.items():
        cont = block[key]
        o0, o1 = cont.offsets[e], cont.offsets[e + 1]
        p4 = _p4s(cont, slice(o0, o1))
        if pflow:
            links = [[("s", s) for s in ls] for ls in _lists(cont["pfos"], o0, o1)]
        else:
            links = [[("s", s) for s in ls] for ls in _lists(cont["clusters"], o0, o1)]
            if kind == "m":
                trk_links = [[int(t)] if t >= 0 else [] for t in cont["id_track"][o0:o1]]
            else:
                trk_links = _lists(cont["tracks"], o0, o1)
            links = [ls + [("t", t) for t in tl] for ls, tl in zip(links, trk_links)]
        rows = []
        for i in range(o1 - o0):
            consts = {c for c in links[i] if (eligible_signal(c[1]) if c[0] == "s" else accepted[c[1]])}
            associated = kind == "m" or _pt(p4[i]) >= OBJECT_MIN_PT
            if associated:
                for c in consts:
                    owners.setdefault(c, set()).add((kind, i))
            rows.append(dict(p4=p4[i], consts=consts if associated else set(), associated=associated,
                             use=bool(ana.masks[kind][o0 + i]),
                             type=int(cont["type"][o0 + i]) if kind == "m" else -1,
                             id_track=int(cont["id_track"][o0 + i]) if kind == "m" else -1))
        objects[kind] = rows

    terms = {k: np.zeros(3) for k in TERMS}

    def add(term, v, pt=None):
        terms[term] += [-v[0], -v[1], _pt(v) if pt is None else pt]

    # objects, in priority order (C.2)
    flagged: set = set()
    for kind in ana.order:
        policy_kind = "s" if (pflow or kind != "m") else "t"   # OnlyCluster / OnlyTrack / PFlow
        for i, obj in enumerate(objects[kind]):
            if not obj["use"]:
                continue
            if not obj["associated"]:
                if kind != "e":          # not in the map: added, never flagged
                    add(kind, obj["p4"])
                continue
            overlap = any(c[0] == policy_kind and owners[c] & flagged for c in obj["consts"])
            if not overlap:
                flagged.add((kind, i))
            chosen = not overlap or kind == "m"
            if chosen and kind == "m" and obj["type"] == CALO_TAGGED:
                if any(o[0] == "e" and o in flagged for c in obj["consts"] for o in owners[c]):
                    chosen = False
            if chosen:
                add(kind, obj["p4"])

    def claimed(c):
        return bool(owners.get(c, set()) & flagged)

    # jets (C.4)
    jp4 = _p4s(jets, slice(j0, j1))
    constit = np.stack([_f64(jets, "constit_" + c, slice(j0, j1)) for c in ("px", "py", "pz", "e")], axis=1)
    jvt = np.asarray(jets["jvt"][j0:j1], np.float64)
    for j in range(j1 - j0):
        if not ana.jet_mask[j0 + j]:
            continue
        members = [c for c, jj in jet_of.items() if jj == j]
        owned = [c for c in members if c in owners]
        mine = [c for c in owned if claimed(c)]
        muons = {o for c in owned for o in owners[c] if o[0] == "m" and o in flagged}
        pt = _pt(jp4[j])
        aeta = abs(float(np.arcsinh(jp4[j, 2] / pt))) if pt > 0 else np.inf
        is_sel = pt > (ana.central_pt if aeta < ana.eta_forw else ana.forward_pt)
        reject = ana.eta_max > 0 and aeta > ana.eta_max
        if ana.do_jvt and pt < ana.jvt_pt_max and aeta < ana.jvt_eta_max:
            reject = jvt[j] < ana.jvt_cut
        if not reject and muons:     # DoRemoveMuonJets from the PV ghost tracks above 500 MeV
            ghosts = [t for t in jet_ghosts[j] if int(tracks["vertex"][t0 + t]) == 0
                      and _pt(trk_p4[t]) > GHOST_TRACK_MIN_PT]
            trk_sum, n_trk = sum(_pt(trk_p4[t]) for t in ghosts), len(ghosts)
            for _, m in sorted(muons):
                idt = objects["m"][m]["id_track"]
                mu_pt = _pt(trk_p4[idt]) if idt >= 0 else 0.0
                tsum = trk_sum + mu_pt if 0.9999 * mu_pt > trk_sum else trk_sum
                if mu_pt > 1e-9 and tsum > 1e-9 and pt / mu_pt < MUON_JET["pt_ratio"] \
                        and mu_pt / tsum > MUON_JET["trk_frac"] and n_trk < MUON_JET["n_trk"]:
                    reject = True
        cal_claimed = [c for c in mine if cal(c) is not None]
        calvec = sum((cal(c) for c in cal_claimed), np.zeros(4))
        mu_dep = sum((cal(c) for c in owned if cal(c) is not None and owners[c] & muons), np.zeros(4))
        o_xy = constit[j, :2] - calvec[:2] + mu_dep[:2]
        opt = float(np.hypot(*o_xy))
        ovl = [c for c in cal_claimed if not owners[c] & muons]
        uniquefrac = 1.0 if not ovl else 1.0 - sum(cal(c)[3] for c in ovl) / constit[j, 3]
        # electron-track rule: selected electrons above 90 GeV in the jet with tracks in it
        jet_trk = [c for c in members if trk(c) is not None and (c[0] == "t" or accepted[sig_track[c[1]]])]
        electrons = {o for c in owned for o in owners[c]
                     if o[0] == "e" and o in flagged and _pt(objects["e"][o[1]]["p4"]) > ELE_TRK_MIN_PT}
        el_trk = sum((trk(c) for c in owned if trk(c) is not None for o in owners[c] if o in electrons),
                     np.zeros(4))
        unique_trk = sum(_pt(trk(c)) for c in jet_trk if not claimed(c))
        pass_for_el = bool(electrons) and _pt(el_trk) > 1e-9 and unique_trk > JET_UNIQUE_TRK_MIN
        hard = False
        if is_sel and not reject:
            if not cal_claimed:
                hard = True
                add("jet", jp4[j])
            elif (uniquefrac > 0 or pass_for_el) and opt > ana.min_weighted_pt:
                hard = True
                add("jet", uniquefrac * jp4[j], uniquefrac * pt)
        if not hard and not reject:
            add("cst", o_xy, opt)
        if not hard:
            free = [trk(c) for c in jet_trk if not claimed(c)]
            if free:
                tj = sum(free, np.zeros(4))
                add("tst", tj, sum(_pt(v) for v in free))
    # misc: object constituents outside jets, unused by flagged objects; core: owned by nobody
    for i in range(s1 - s0):
        c = ("s", i)
        if c in jet_of or claimed(c) or not eligible_signal(i):
            continue
        add("cst", cal(c))
        if trk(c) is not None:
            add("tst", trk(c))
    if not pflow:
        for t in range(t1 - t0):
            c = ("t", t)
            if accepted[t] and c not in jet_of and not claimed(c):
                add("tst", trk(c))
    return terms


# ---------------------------------------------------------------------------------------------
# the test

def rebuild(block, store, jet_coll, ana, maker):
    helper = MissingETAssociationHelper(store[K.met_assoc_key(jet_coll)])
    met = METBuilder(helper.map.n_events)
    for kind in ana.order:
        key, otype, term = OBJECT_KINDS[kind]
        maker.rebuild_met(term, otype, block[key], helper, met, select=ana.masks[kind])
    maker.rebuild_jet_met(K.REF_JET, (K.SOFT_CLUS, K.PV_SOFT_TRK), met,
                          block[K.jet_container_key(jet_coll)], store[K.met_core_key(jet_coll)], helper,
                          select=ana.jet_mask, do_jvt=ana.do_jvt, muons=block[K.MUONS],
                          electrons=block[K.ELECTRONS])
    maker.build_met_sum(K.FINAL_TRK, met, Source.track())
    maker.build_met_sum(K.FINAL_CLUS, met, Source.cluster_lc())
    return met.to_container()


@settings(max_examples=16, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(jet_coll=st.sampled_from(["AntiKt4EMPFlow", "AntiKt4EMTopo"]),
       seed=st.integers(1, 2**31), first=st.integers(0, 10_000),
       process=st.sampled_from(["zee", "zmumu", "znunu", "wenu", "wmunu", "ttbar", "dijet", "mix"]),
       mu=st.floats(0.0, 60.0), n_events=st.integers(1, 4), sel_seed=st.integers(0, 2**32 - 1),
       wp=st.sampled_from(["Loose", "Tight", "Tenacious", "Tier0"]), do_jvt=st.booleans(),
       order=st.sampled_from(["egtm", "getm", "tegm", "metg"]))
def test_synthetic_reco_rebuild_equals_brute_force(jet_coll, seed, first, process, mu, n_events,
                                                   sel_seed, wp, do_jvt, order):
    block = SyntheticSource(seed=seed, process=process, mu=mu, n_events=first + n_events).read(first, n_events)
    store = run_reco(block, jet_coll)
    rng = np.random.default_rng(sel_seed)
    keep = rng.uniform(0.3, 1.0)
    masks = {k: rng.random(len(block[key])) < keep for k, (key, _, _) in OBJECT_KINDS.items()}
    jet_mask = rng.random(len(block[K.jet_container_key(jet_coll)])) < 0.9
    pflow = jet_collection(jet_coll).pflow
    maker = METMaker(jet_selection=wp, do_pflow=pflow)
    wpt = maker.working_point
    ana_eta_forw = Analysis.eta_forw
    # METMaker::initialize: JVT cut 0.5 for PFlow jets at the standard working points
    jvt_cut = 0.5 if pflow and wp in ("Loose", "Tight", "Tighter", "Tenacious") else wpt.jvt_cut
    assert (jvt_cut, ana_eta_forw) == (maker.jvt_cut, maker.jet_eta_forw)
    ana = Analysis(masks, jet_mask, order, wpt.central_pt, wpt.forward_pt, jvt_cut,
                   do_jvt and wpt.jvt_pt_max > 0)
    out = rebuild(block, store, jet_coll, ana, maker)
    for e in range(n_events):
        static = static_met(block, jet_coll, e, ana)
        scale = 1.0 + sum(abs(v[2]) for v in static.values())
        want = dict(static)
        want["trk"] = sum(static[k] for k in ("e", "g", "t", "m", "jet", "tst"))
        want["clus"] = sum(static[k] for k in ("e", "g", "t", "m", "jet", "cst"))
        for k, name in [*TERMS.items(), ("trk", K.FINAL_TRK), ("clus", K.FINAL_CLUS)]:
            got = np.array([out[name].mpx[e], out[name].mpy[e], out[name].sumet[e]], np.float64)
            np.testing.assert_allclose(
                got, want[k], rtol=0, atol=2e-6 * scale + 0.05,
                err_msg=f"{jet_coll} event {first + e} (seed {seed}, {process}, mu {mu}) term {name}")


def test_brute_force_sees_the_selection():
    """The brute force is not trivially equal: dropping all objects changes the terms."""
    block = SyntheticSource(seed=3, process="zee", mu=20.0, n_events=4).read(0, 4)
    jets = block[K.jet_container_key("AntiKt4EMPFlow")]
    all_on = {k: np.ones(len(block[key]), bool) for k, (key, _, _) in OBJECT_KINDS.items()}
    all_off = {k: np.zeros(len(block[key]), bool) for k, (key, _, _) in OBJECT_KINDS.items()}
    on = Analysis(all_on, np.ones(len(jets), bool), "egtm", 20 * GeV, 30 * GeV, 0.59, True)
    off = Analysis(all_off, np.ones(len(jets), bool), "egtm", 20 * GeV, 30 * GeV, 0.59, True)
    ele = [static_met(block, "AntiKt4EMPFlow", e, on)["e"] for e in range(4)]
    assert any(v[2] > 20 * GeV for v in ele)
    assert all(static_met(block, "AntiKt4EMPFlow", e, off)["e"][2] == 0 for e in range(4))
