"""SyntheticSource: schema, links, determinism, physics sanity of the generated events."""

import numpy as np
import pytest

from metflow.algorithms.generation.synthetic import (LRT_ELECTRONS, LRT_MUONS, MIX_FRACTIONS,
                                                     PROCESSES, SyntheticSource)
from metflow.edm.containers import Container, EventRecord, ListColumn, schema_for
from metflow.edm.links import check_links
from metflow.edm.units import GeV, mm
from metflow.framework import Source
from metflow.framework.errors import ConfigurationError, SourceError

PFLOW, TOPO = "AntiKt4EMPFlowJets", "AntiKt4EMTopoJets"


def read(n=40, first=0, **kw):
    kw.setdefault("n_events", 100000)
    src = SyntheticSource(**kw)
    return src, src.read(first, n)


def pt(c):
    return np.hypot(c["px"], c["py"])


def eta(c):
    return np.arcsinh(c["pz"] / np.maximum(pt(c), 1e-9))


def phi(c):
    return np.arctan2(c["py"], c["px"])


def owners(col: ListColumn) -> np.ndarray:
    return np.repeat(np.arange(len(col)), col.counts())


# ---------------------------------------------------------------------------------------------
# interface

def test_interface_and_name():
    src = SyntheticSource(seed=7, process="zee", mu=20, n_events=123)
    assert isinstance(src, Source)
    assert src.name == "synthetic(process=zee, mu=20, seed=7)"
    assert src.n_events() == 123
    assert src.keys() == ["EventInfo", "PrimaryVertices", "InDetTracks", "TopoClusters", "PFOs",
                          PFLOW, TOPO, "Electrons", "Photons", "Muons", "TauJets", "TruthMET"]
    assert SyntheticSource(lrt=True).keys()[-2:] == [LRT_ELECTRONS, LRT_MUONS]
    assert set(PROCESSES) == {"zee", "zmumu", "znunu", "wenu", "wmunu", "ttbar", "dijet", "llp", "mix"}
    assert sum(MIX_FRACTIONS.values()) == pytest.approx(1.0)


def test_read_returns_edm_objects_with_schema_dtypes():
    src, block = read(20, process="mix", mu=40, lrt=True)
    assert sorted(block) == sorted(src.keys())
    for key, obj in block.items():
        assert obj.n_events == 20
        schema = schema_for(key)
        if schema.per_event:
            assert isinstance(obj, EventRecord)
        else:
            assert isinstance(obj, Container)
        obj.validate(source=src.name)
        for f in schema.fields:
            if f.required and f.kind != "links":
                assert obj[f.name].dtype == np.dtype(f.dtype), (key, f.name)
    info = block["EventInfo"]
    assert np.array_equal(info["event_number"], np.arange(20))
    assert np.all(info["mu"] == np.float32(40))


def test_select_builds_only_consumed_keys():
    src = SyntheticSource(n_events=10)
    src.select(["InDetTracks", "TruthMET", "MET_Core_AntiKt4EMPFlow"])   # the last one: from an algorithm
    block = src.read(0, 5)
    assert sorted(block) == ["InDetTracks", "TruthMET"]
    assert np.array_equal(block["InDetTracks"]["px"], SyntheticSource(n_events=10).read(0, 5)["InDetTracks"]["px"])


def test_empty_block():
    block = SyntheticSource(n_events=10, lrt=True).read(10, 0)
    assert all(obj.n_events == 0 for obj in block.values())


@pytest.mark.parametrize("kwargs, match", [
    (dict(process="zeee"), "did you mean 'zee'"),
    (dict(process="higgs"), "unknown process 'higgs'"),
    (dict(mu=-1.0), "mu must be in"),
    (dict(mu=float("nan")), "mu must be in"),
    (dict(mu="many"), "mu must be a number"),
    (dict(seed=1.5), "seed must be an integer"),
    (dict(n_events=-3), "n_events must be a non-negative integer"),
])
def test_bad_configuration_is_refused(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        SyntheticSource(**kwargs)


def test_read_outside_the_source_is_refused():
    src = SyntheticSource(process="zee", n_events=10)
    with pytest.raises(SourceError, match=r"synthetic\(process=zee.*\[8, 12\).*10 events"):
        src.read(8, 4)
    with pytest.raises(SourceError, match="cannot read"):
        src.read(-1, 2)
    with pytest.raises(SourceError, match="must be integers"):
        src.read(0.5, 2)


# ---------------------------------------------------------------------------------------------
# links and structure

@pytest.mark.parametrize("process", ["mix", "ttbar", "llp"])
def test_every_link_in_range(process):
    src, block = read(30, process=process, mu=40, lrt=True)
    check_links(block, source=src.name)   # raises LinkError on any index outside its event
    trk, pfo, clu = block["InDetTracks"], block["PFOs"], block["TopoClusters"]
    ev_pfo = pfo.event_of_object()
    charged = pfo["track"] >= 0
    assert np.all((pfo["track"] >= 0) | (pfo["cluster"] >= 0))
    assert np.all(pfo["charge"][~charged] == 0)
    # a charged PFO is its track, from the hard-scatter vertex
    glob = trk.offsets[ev_pfo[charged]] + pfo["track"][charged]
    assert np.all(trk["vertex"][glob] == 0)
    assert np.allclose(pfo["px"][charged], trk["px"][glob])
    # vertex links: -1 or a vertex of the same event
    nvtx = block["PrimaryVertices"].counts()[trk.event_of_object()]
    assert np.all((trk["vertex"] >= -1) & (trk["vertex"] < nvtx))
    assert len(clu) > 0


def test_primary_vertices():
    _, block = read(30, mu=40)
    vtx = block["PrimaryVertices"]
    first = vtx.offsets[:-1]
    assert np.all(vtx.counts() >= 1)
    assert np.all(vtx["is_hard_scatter"][first])
    assert vtx["is_hard_scatter"].sum() == 30
    assert np.std(vtx["z"]) == pytest.approx(45 * mm, rel=0.3)
    assert np.all(vtx["sumpt2"][first] > 0)


@pytest.mark.parametrize("key, target", [(PFLOW, "PFOs"), (TOPO, "TopoClusters")])
def test_jet_constituents_are_disjoint_and_sum_to_constituent_scale(key, target):
    _, block = read(40, process="ttbar", mu=40)
    jets, cons = block[key], block[target]
    lists = jets["constituents"]
    ev = jets.event_of_object()
    glob = cons.offsets[ev[owners(lists)]] + lists.values
    assert len(np.unique(glob)) == len(glob), "a constituent belongs to two jets"
    for c in ("px", "py", "pz", "e"):
        sums = np.bincount(owners(lists), weights=cons[c][glob].astype(np.float64), minlength=len(jets))
        assert np.allclose(sums, jets[f"constit_{c}"], rtol=1e-4, atol=1.0)
    assert np.all(pt(jets) >= 20 * GeV * 0.999)
    # pT ordered within each event
    for i in range(jets.n_events):
        p = pt(jets.event(i))
        assert np.all(np.diff(p) <= 1e-3)
    # calibration scales the constituent 4-vector (pileup subtraction x response correction)
    scale = jets["e"] / jets["constit_e"]
    assert np.allclose(jets["px"], jets["constit_px"] * scale, rtol=1e-4, atol=1.0)
    assert np.all((scale > 0.5) & (scale < 1.5))
    assert np.all((jets["emfrac"] >= 0) & (jets["emfrac"] <= 1))
    assert np.all(((jets["jvt"] >= 0) & (jets["jvt"] <= 1)) | (jets["jvt"] == np.float32(-0.1)))


def test_ghost_tracks_are_near_the_jet_and_jvt_separates_pileup():
    _, block = read(150, process="dijet", mu=60)
    jets, trk = block[TOPO], block["InDetTracks"]
    g = jets["ghost_tracks"]
    own = owners(g)
    glob = trk.offsets[jets.event_of_object()[own]] + g.values
    deta = eta(jets)[own] - eta(trk)[glob]
    dphi = np.angle(np.exp(1j * (phi(jets)[own] - phi(trk)[glob])))
    assert np.median(np.hypot(deta, dphi)) < 0.3
    # jets whose ghost tracks are all from pileup get a JVT near 0, hard-scatter jets near 1
    from_pv0 = np.bincount(own, weights=(trk["vertex"][glob] == 0) * pt(trk)[glob], minlength=len(jets))
    central = np.abs(eta(jets)) < 2.0
    hs = central & (from_pv0 > 5 * GeV)
    pu = central & (from_pv0 == 0) & (g.counts() > 0)
    assert hs.sum() > 50 and pu.sum() > 0
    assert np.median(jets["jvt"][hs]) > 0.8
    assert np.all(jets["jvt"][pu] < 0.05)


# ---------------------------------------------------------------------------------------------
# physics

def lepton_pair_mass(leptons):
    masses = []
    for i in range(leptons.n_events):
        ev = leptons.event(i)
        if len(ev) < 2:
            continue
        order = np.argsort(-pt(ev))[:2]
        p = {c: ev[c][order].astype(np.float64).sum() for c in ("px", "py", "pz", "e")}
        masses.append(np.sqrt(max(p["e"] ** 2 - p["px"] ** 2 - p["py"] ** 2 - p["pz"] ** 2, 0.0)))
    return np.array(masses)


def test_zee_has_two_electrons_at_the_z_mass():
    _, block = read(300, process="zee", mu=20)
    ele = block["Electrons"]
    assert np.mean(ele.counts() >= 2) > 0.45   # acceptance |eta| < 2.47 and efficiencies
    m = lepton_pair_mass(ele)
    assert np.median(m) == pytest.approx(91.19 * GeV, abs=3 * GeV)
    assert np.mean(np.abs(m - 91.19 * GeV) < 10 * GeV) > 0.7
    # opposite charges for the leading pair in most events
    q = [np.sort(ele.event(i)["charge"][np.argsort(-pt(ele.event(i)))[:2]]).tolist()
         for i in range(300) if ele.counts()[i] >= 2]
    assert np.mean([x == [-1, 1] for x in q]) > 0.9
    # electrons have a track and clusters; most are tight and isolated
    assert np.all(ele["tracks"].counts() == 1) and np.all(ele["clusters"].counts() >= 1)
    assert np.mean(ele["id"] & 4 > 0) > 0.5 and np.mean(ele["isolated"]) > 0.5


def test_zmumu_muons_have_id_track_and_mip_cluster():
    _, block = read(200, process="zmumu", mu=20)
    mu, trk, clu = block["Muons"], block["InDetTracks"], block["TopoClusters"]
    assert np.median(lepton_pair_mass(mu)) == pytest.approx(91.19 * GeV, abs=3 * GeV)
    comb = mu["type"] == 0
    assert comb.mean() > 0.8
    glob = trk.offsets[mu.event_of_object()[comb]] + mu["id_track"][comb]
    assert np.all(mu["id_track"][comb] >= 0)
    assert np.median(np.abs(pt(trk)[glob] / pt(mu)[comb] - 1)) < 0.05
    c = mu["clusters"]
    assert np.mean(c.counts() == 1) > 0.9
    cglob = clu.offsets[mu.event_of_object()[owners(c)]] + c.values
    assert np.all(clu["e"][cglob] < 20 * GeV) and np.median(clu["e"][cglob]) < 5 * GeV
    # MIP cluster's neutral PFO and the ID track's charged PFO are both muon PFOs
    assert np.mean(mu["pfos"].counts()[comb] == 2) > 0.8


def test_znunu_truth_met_is_the_boson_recoil():
    _, block = read(300, process="znunu", mu=0)
    truth, pfo = block["TruthMET"], block["PFOs"]
    tmx, tmy = truth["nonint_mpx"], truth["nonint_mpy"]
    assert np.all(truth["nonint_sumet"] >= np.hypot(tmx, tmy) * (1 - 1e-6))
    assert np.median(truth["nonint_sumet"]) > 40 * GeV   # two neutrinos from a Z
    # with no pileup the visible event recoils against the Z: -sum(PFO) follows the truth MET
    ev = pfo.event_of_object()
    mx = -np.bincount(ev, weights=pfo["px"].astype(np.float64), minlength=300)
    my = -np.bincount(ev, weights=pfo["py"].astype(np.float64), minlength=300)
    big = np.hypot(tmx, tmy) > 40 * GeV
    assert big.sum() > 20
    assert np.corrcoef(mx[big], tmx[big])[0, 1] > 0.9
    assert np.median(np.hypot(mx, my)[big] / np.hypot(tmx, tmy)[big]) == pytest.approx(1.0, abs=0.2)


def test_zmumu_has_truth_met_only_from_semileptonic_b_decays():
    _, block = read(200, process="zmumu", mu=0)
    assert np.mean(block["TruthMET"]["nonint_sumet"] == 0) > 0.9


def test_pileup_adds_tracks_and_clusters_but_not_pv0_tracks():
    _, low = read(40, process="mix", mu=0, seed=3)
    _, high = read(40, process="mix", mu=60, seed=3)

    def pv0_counts(b):
        t = b["InDetTracks"]
        return np.bincount(t.event_of_object()[t["vertex"] == 0], minlength=40)

    assert np.array_equal(pv0_counts(low), pv0_counts(high))
    for key in ("InDetTracks", "TopoClusters", "PrimaryVertices"):
        assert np.all(high[key].counts() > low[key].counts()), key
    assert high["PrimaryVertices"].counts().mean() == pytest.approx(60, rel=0.25)
    assert np.all(low["PrimaryVertices"].counts() == 1)


def test_met_resolution_grows_with_pileup():
    def resolution(mu):
        _, b = read(300, process="zmumu", mu=mu, seed=11)
        clu = b["TopoClusters"]
        ev = clu.event_of_object()
        # calorimeter MET: muons are invisible to it, so compare with the dimuon pT
        mux = np.bincount(b["Muons"].event_of_object(), weights=b["Muons"]["px"], minlength=300)
        cx = -np.bincount(ev, weights=clu["px"].astype(np.float64), minlength=300)
        return np.std(cx - mux)

    r0, r30, r60 = resolution(0), resolution(30), resolution(60)
    assert r0 < r30 < r60
    assert r60 > 1.5 * r0


def test_electron_clusters_inside_jets_are_jet_constituents():
    _, block = read(200, process="zee", mu=30)
    ele, jets = block["Electrons"], block[TOPO]
    jet_owner = {}
    cons = jets["constituents"]
    ev_jet = jets.event_of_object()
    for j, c in zip(owners(cons), cons.values):
        jet_owner[(ev_jet[j], c)] = j
    clusters = ele["clusters"]
    ev_ele = ele.event_of_object()
    hard = pt(ele) > 25 * GeV
    in_jet = [(ev_ele[o], c) in jet_owner for o, c in zip(owners(clusters), clusters.values) if hard[o]]
    assert len(in_jet) > 100
    assert np.mean(in_jet) > 0.95
    # and the same for the electrons' neutral PFOs in EMPFlow jets
    pf_jets = block[PFLOW]
    pf_owner = set(zip(pf_jets.event_of_object()[owners(pf_jets["constituents"])], pf_jets["constituents"].values))
    pf = ele["pfos"]
    in_pf = [(ev_ele[o], p) in pf_owner for o, p in zip(owners(pf), pf.values) if hard[o]]
    assert np.mean(in_pf) > 0.95


def test_fakes_and_taus_exist_in_ttbar():
    _, block = read(300, process="ttbar", mu=40)
    assert len(block["TauJets"]) > 0
    assert len(block["Photons"]) > 0
    assert len(block["Electrons"]) > 0 and len(block["Muons"]) > 0
    taus = block["TauJets"]
    assert np.all(np.isin(taus["tracks"].counts(), [0, 1, 2, 3]))
    assert np.mean(block["Electrons"]["isolated"]) < 1.0


def test_lrt_leptons_have_displaced_tracks():
    src, block = read(100, process="llp", mu=20, lrt=True)
    check_links(block, source=src.name)
    trk = block["InDetTracks"]
    n = 0
    for key, link in ((LRT_ELECTRONS, "tracks"), (LRT_MUONS, None)):
        obj = block[key]
        assert len(obj) > 10, key
        if link:
            idx = obj[link].values
            ev = obj.event_of_object()[owners(obj[link])]
        else:
            idx = obj["id_track"]
            ev = obj.event_of_object()
        glob = trk.offsets[ev] + idx
        assert np.all(np.abs(trk["d0"][glob]) > 2.9 * mm)
        assert np.all(np.abs(trk["d0"][glob]) < 301 * mm)
        assert np.all(trk["vertex"][glob] == -1)
        n += len(glob)
    assert n > 20
    # prompt-lepton containers hold no displaced tracks, and without lrt there are no LRT tracks
    assert np.mean(np.abs(trk["d0"][trk["vertex"] >= 0]) < 2 * mm) > 0.999
    _, plain = read(100, process="llp", mu=20, lrt=False)
    assert LRT_ELECTRONS not in plain
    assert np.all(np.abs(plain["InDetTracks"]["d0"]) < 3 * mm)


# ---------------------------------------------------------------------------------------------
# determinism

def columns_equal(a, b):
    assert type(a) is type(b)
    if isinstance(a, EventRecord):
        return all(np.array_equal(a[n], b[n]) for n in a.columns)
    if not np.array_equal(a.offsets, b.offsets):
        return False
    for name, col in a.columns.items():
        other = b.columns[name]
        if isinstance(col, ListColumn):
            if not (np.array_equal(col.offsets, other.offsets) and np.array_equal(col.values, other.values)):
                return False
        elif not np.array_equal(col, other):
            return False
    return True


def concat(a, b):
    if isinstance(a, EventRecord):
        return EventRecord.concatenate([a, b])
    offsets = np.concatenate([a.offsets, b.offsets[1:] + a.offsets[-1]])
    cols = {}
    for name, col in a.columns.items():
        other = b.columns[name]
        cols[name] = ListColumn.concatenate([col, other]) if isinstance(col, ListColumn) else np.concatenate([col, other])
    return Container(a.schema, offsets, cols, key=a.key)


@pytest.mark.parametrize("process", ["mix", "llp"])
def test_same_seed_same_events_for_any_block_size(process):
    src = SyntheticSource(seed=5, process=process, mu=40, lrt=True, n_events=100)
    whole = src.read(0, 10)
    parts = [src.read(0, 4), src.read(4, 6)]
    singles = [src.read(i, 1) for i in range(3, 7)]
    for key in src.keys():
        assert columns_equal(whole[key], concat(parts[0][key], parts[1][key])), key
        middle = concat(concat(singles[0][key], singles[1][key]), concat(singles[2][key], singles[3][key]))
        assert columns_equal(whole[key].slice(3, 7), middle), key
    again = SyntheticSource(seed=5, process=process, mu=40, lrt=True, n_events=100).read(0, 10)
    assert all(columns_equal(whole[k], again[k]) for k in src.keys())


def test_held_blocks_are_not_overwritten_by_later_reads():
    """Block buffers share one allocation per block: reading on must not touch a block still held."""
    src = SyntheticSource(seed=3, mu=40, n_events=100)
    held = src.read(0, 16)
    snapshot = {k: {name: (np.array(c.offsets), np.array(c.values)) if isinstance(c, ListColumn) else np.array(c)
                    for name, c in held[k].columns.items()} for k in src.keys()}
    for first in (16, 32, 0):
        src.read(first, 16)
    for key in src.keys():
        for name, col in held[key].columns.items():
            if isinstance(col, ListColumn):
                assert np.array_equal(col.offsets, snapshot[key][name][0]), (key, name)
                assert np.array_equal(col.values, snapshot[key][name][1]), (key, name)
            else:
                assert np.array_equal(col, snapshot[key][name]), (key, name)


def test_block_buffers_do_not_overlap():
    from metflow.algorithms.generation._synthetic_buffers import allocate_outputs
    bufs, links = allocate_outputs(7, 40.0)
    arrays = list(bufs) + [links]
    for i, a in enumerate(arrays):
        assert a.flags.c_contiguous and a.dtype in (np.float32, np.int32)
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)


def test_different_seeds_differ():
    a = SyntheticSource(seed=1, n_events=10).read(0, 5)
    b = SyntheticSource(seed=2, n_events=10).read(0, 5)
    assert not np.array_equal(a["InDetTracks"]["px"][:20], b["InDetTracks"]["px"][:20])


def test_mix_process_fractions():
    src = SyntheticSource(process="mix", mu=0, n_events=4000)
    muons = src.read(0, 4000)["TruthMET"]
    with_nu = np.mean(muons["nonint_sumet"] > 0)
    # neutrinos in znunu, wenu, wmunu, most ttbar, some dijet b-jets: about half of the events
    expected = MIX_FRACTIONS["znunu"] + MIX_FRACTIONS["wenu"] + MIX_FRACTIONS["wmunu"]
    assert expected < with_nu < expected + MIX_FRACTIONS["ttbar"] + MIX_FRACTIONS["dijet"] + 0.02


def test_concurrent_reads_equal_serial_reads():
    from concurrent.futures import ThreadPoolExecutor
    src = SyntheticSource(seed=9, mu=40, n_events=64)
    serial = [src.read(8 * i, 8) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda i: src.read(8 * i, 8), range(8)))
    for a, b in zip(serial, parallel):
        assert all(columns_equal(a[k], b[k]) for k in src.keys())


# ---------------------------------------------------------------------------------------------
# detector faults (MET filters)

FAULTS = dict(noisy_cell_rate=0.3, dead_region_rate=0.3, mismeasured_jet_rate=0.3)


@pytest.mark.parametrize("process", ["ttbar", "zmumu"])
def test_faults_off_change_nothing_and_on_change_only_faulted_events(process):
    plain = SyntheticSource(seed=4, process=process, mu=30, n_events=200).read(0, 120)
    zero = SyntheticSource(seed=4, process=process, mu=30, n_events=200, noisy_cell_rate=0.0,
                           dead_region_rate=0.0, mismeasured_jet_rate=0.0).read(0, 120)
    for key in plain:
        assert columns_equal(plain[key], zero[key]), key
    assert "injected_faults" not in zero["TruthMET"]
    faulty = SyntheticSource(seed=4, process=process, mu=30, n_events=200, **FAULTS).read(0, 120)
    bits = faulty["TruthMET"]["injected_faults"]
    assert bits.dtype == np.uint8 and np.any(bits) and np.any(bits == 0)
    for i in np.flatnonzero(bits == 0):
        for key in (PFLOW, TOPO, "TopoClusters", "PFOs", "InDetTracks", "Muons", "Electrons"):
            a, b = plain[key], faulty[key]
            assert np.array_equal(a["px"][a.offsets[i]:a.offsets[i + 1]], b["px"][b.offsets[i]:b.offsets[i + 1]]), (key, i)
    # the hard scatter is the same event: truth MET and PV-0 tracks of faulted events unchanged
    assert np.array_equal(plain["TruthMET"]["nonint_mpx"], faulty["TruthMET"]["nonint_mpx"])
    for key in faulty:
        faulty[key].validate(source="faulty")


def test_fault_rates_are_probabilities():
    src = SyntheticSource(n_events=10, dead_region_rate=0.5)
    assert "dead_region_rate=0.5" in src.name and src.has_faults
    for bad in (-0.1, 1.5, "often", True):
        with pytest.raises(ConfigurationError, match="noisy_cell_rate"):
            SyntheticSource(noisy_cell_rate=bad)


def _pv_charged_pt(block, jets_key):
    jets, tracks = block[jets_key], block["InDetTracks"]
    ghosts = jets["ghost_tracks"]
    out = np.zeros(len(jets))
    tpt = pt(tracks)
    for e in range(jets.n_events):
        for j in range(jets.offsets[e], jets.offsets[e + 1]):
            idx = tracks.offsets[e] + ghosts[j]
            ok = (tracks["vertex"][idx] == 0) & tracks["passes_quality"][idx]
            out[j] = tpt[idx][ok].sum()
    return out


@pytest.mark.parametrize("fault, bit", [("noisy_cell_rate", 1), ("dead_region_rate", 2), ("mismeasured_jet_rate", 4)])
def test_each_fault_leaves_its_signature_in_reconstructed_jets(fault, bit):
    n = 150
    clean = SyntheticSource(seed=8, process="dijet", mu=20, n_events=n).read(0, n)
    block = SyntheticSource(seed=8, process="dijet", mu=20, n_events=n, **{fault: 1.0}).read(0, n)
    hit = (block["TruthMET"]["injected_faults"] & bit) > 0
    assert hit.mean() > 0.3
    jets = block[PFLOW]
    chf = _pv_charged_pt(block, PFLOW) / pt(jets)
    ev = np.repeat(np.arange(n), np.diff(jets.offsets))
    if fault == "noisy_cell_rate":   # a big jet with no EM energy and no tracks
        bad = (jets["emfrac"] < 0.05) & (chf < 0.05) & (pt(jets) > 50 * GeV)
    elif fault == "dead_region_rate":   # tracks but no calorimeter energy
        bad = (jets["emfrac"] < 0.05) & (chf > 0.6) & (np.abs(eta(jets)) < 2.4)
        assert len(block["TopoClusters"]) < len(clean["TopoClusters"])
    else:   # the tracks carry more pT than the jet
        bad = chf > 1.15
    with_bad = np.zeros(n, bool)
    with_bad[ev[bad]] = True
    assert with_bad[hit].mean() > 0.6
    clean_chf = _pv_charged_pt(clean, PFLOW) / pt(clean[PFLOW])
    assert np.mean(clean_chf > 1.15) < 0.01
