import math

import numpy as np
import pytest

from metflow.edm import keys
from metflow.edm.errors import MapConsistencyError, SchemaError, TooManyObjectsError
from metflow.edm.met import (ConstVec, MissingET, MissingETAssociationHelper, MissingETAssociationMap,
                             MissingETBase, MissingETContainer, ObjectType, Source, UsagePolicy)
from metflow.edm.units import GeV

from _factories import representative_map

CL = 1 << int(ObjectType.CaloCluster)
TRK = 1 << int(ObjectType.TrackParticle)
JETS = keys.jet_container_key("AntiKt4EMTopo")


def test_source_bit_values():
    S = MissingETBase.Source
    assert S.electron() == 0x10001 and S.photon() == 0x10002 and S.tau() == 0x10004
    assert S.muon() == 0x10008 and S.jet() == 0x10010 and S.soft_event() == 0x10020
    assert S.total() == 0x10040 and S.signal() == 0x15000 and S.track() == 0x14000
    assert S.cluster_lc() == 0x11000 and S.cluster_em() == 0x12000 and S.cluster() == 0x13000
    assert (S.calo_lc_topo(), S.calo_em_topo(), S.id_track()) == (0x41000, 0x42000, 0x84000)
    assert (S.NonInt, S.Int, S.IntOut, S.TruthMuons) == (0x21000, 0x22000, 0x24000, 0x28000)
    assert S.Invisible == 0x100000 and S.invisible() == 0x100000
    assert S.electron(S.Central) == 0x10101


def test_source_patterns():
    S = Source
    soft_clus_core = S.soft_event() | S.cluster_lc()
    pv_soft_trk_core = S.soft_event() | S.track()
    assert soft_clus_core == 0x11020 and S.is_soft_term(soft_clus_core) and not S.is_track_term(soft_clus_core)
    assert S.is_soft_term(pv_soft_trk_core) and S.is_track_term(pv_soft_trk_core)
    muon_eloss = S.Muon | S.Calo
    assert muon_eloss == 0x40008 and not S.is_muon_term(muon_eloss)
    trk_jet = S.jet() | S.track()
    assert trk_jet == 0x14010 and S.is_jet_term(trk_jet) and S.is_track_term(trk_jet)
    assert S.has_pattern(0x10101, 0x10001) and not S.has_pattern(0x10001, 0x10101)
    assert S.is_total_term(S.total() | S.track()) and S.is_invisible_term(S.muon() | S.Invisible)


def test_missinget_sign_conventions():
    t = MissingET("RefEle", source=Source.electron())
    t.add(3 * GeV, 4 * GeV, 5 * GeV)
    assert (t.mpx, t.mpy, t.sumet) == (-3 * GeV, -4 * GeV, 5 * GeV)
    t.add(1 * GeV, 0, 1 * GeV, scale=0.5)
    assert t.mpx == -3.5 * GeV and t.sumet == 5.5 * GeV
    total = MissingET("Final")
    total += t
    total += MissingET("x", 1, 2, 3)
    assert (total.mpx, total.mpy, total.sumet) == (t.mpx + 1, t.mpy + 2, t.sumet + 3)
    assert t.met == pytest.approx(math.hypot(t.mpx, t.mpy)) and t.phi == pytest.approx(math.atan2(t.mpy, t.mpx))


def test_constvec():
    v = ConstVec(1, 2, 3, 4, 5)
    assert (v + v).as_tuple() == (2, 4, 6, 8, 10)
    assert (v - v).as_tuple() == (0,) * 5
    assert (v / 0.0).as_tuple() == (0,) * 5
    assert (2 * v).cpt() == pytest.approx(math.hypot(2, 4))
    assert v.is_close(ConstVec(1, 2, 3, 4, 5 + 1e-6))


def test_met_container_lookup_and_views():
    n = 3
    cont = MissingETContainer.from_terms(n, [
        (keys.REF_ELE, Source.electron(), [1, 2, 3], [0, 0, 0], [1, 2, 3]),
        (keys.PV_SOFT_TRK, Source.soft_event() | Source.track(), 4, 5, 6),
        (keys.FINAL_TRK, Source.total() | Source.track(), 7, 8, 9),
    ], key=keys.met_key("Test"))
    assert len(cont) == 3 and cont.n_events == 3 and cont.mpx.dtype == np.float32
    assert cont[keys.REF_ELE].mpx.tolist() == [1, 2, 3]
    assert cont.find(Source.soft_event() | Source.track()).name == keys.PV_SOFT_TRK
    assert cont.find(Source.tau()) is None
    ev = cont.event(2)
    assert [t.name for t in ev] == [keys.REF_ELE, keys.PV_SOFT_TRK, keys.FINAL_TRK]
    assert ev[0].mpx == 3 and ev[2].source == Source.total() | Source.track()
    with pytest.raises(KeyError, match="did you mean"):
        cont["RefEl"]
    with pytest.raises(SchemaError, match="already exists"):
        cont.with_term(keys.REF_ELE, 0, 0, 0, 0)
    more = cont.with_term(keys.REF_JET, Source.jet(), 1, 1, 1)
    assert more.names[-1] == keys.REF_JET and more.mpx.shape == (3, 4)
    assert MissingETContainer.concatenate([cont.slice(0, 1), cont.slice(1, 3)]).equals(cont)
    assert MissingETContainer.from_events([cont.event(i) for i in range(n)]).equals(cont)
    cont.freeze()
    with pytest.raises(ValueError):
        cont.mpx[0, 0] = 0


def _electron_in_jet_map():
    """Event 0: jet 0 holds electron 0 (cal 0b1, trk 0b1) and photon 0 sharing a cluster with it;
    jet 1 empty; misc holds muon 0 and electron 1."""
    ev0 = [
        {"jet_index": 0,
         "objects": [(keys.ELECTRONS, 0, ObjectType.Electron), (keys.PHOTONS, 0, ObjectType.Photon)],
         "overlaps": [[(1, CL)], [(0, CL)]],
         "cal": [(0b01, 10.0, 0.0, 0.0, 10.0, 10.0), (0b10, 0.0, 5.0, 0.0, 5.0, 5.0),
                 (0b11, 1.0, 1.0, 0.0, 2.0, 1.5)],
         "trk": [(0b01, 9.0, 0.0, 0.0, 9.0, 9.0)],
         "jettrk": (20.0, 1.0, 0.0, 21.0, 20.5)},
        {"jet_index": 1, "jettrk": (3.0, 0.0, 0.0, 3.0, 3.0)},
        {"jet_index": -1,
         "objects": [(keys.MUONS, 0, ObjectType.Muon), (keys.ELECTRONS, 1, ObjectType.Electron)],
         "cal": [(0b01, 1.0, 0.0, 0.0, 1.0, 1.0), (0b10, 0.0, 2.0, 0.0, 2.0, 2.0)],
         "trk": [(0b01, 30.0, 0.0, 0.0, 30.0, 30.0), (0b10, 0.0, 7.0, 0.0, 7.0, 7.0)]},
    ]
    ev1 = [{"jet_index": -1}]
    return MissingETAssociationMap.from_events([ev0, ev1], (keys.ELECTRONS, keys.PHOTONS, keys.MUONS),
                                               jet_key=JETS, key=keys.met_assoc_key("AntiKt4EMTopo"))


def test_map_fields_and_lookups():
    m = _electron_in_jet_map().validate().check_keys()
    assert m.n_events == 2 and m.n_associations == 4 and m.n_objects == 4
    assert m.assoc_offsets.tolist() == [0, 3, 4]
    assert m.jet_index.tolist() == [0, 1, -1, -1] and m.is_misc.tolist() == [False, False, True, True]
    for name in ("obj_container", "obj_type", "ovl_type"):
        assert getattr(m, name).dtype == np.uint8
    assert m.cal_key.dtype == np.uint64 and m.cal_px.dtype == np.float32
    assert all(getattr(m, n).flags.c_contiguous for n in ("cal_px", "obj_index", "ovl_offsets"))
    a = m.find_by_jet(0, 0)
    assert a.jet_index == 0 and not a.is_misc and a.n_objects == 2
    assert m.find_by_jet(0, 5) is None and m.find_by_jet(1, 0) is None
    assert m.misc_association(0).index == 2 and m.misc_association(1).index == 3
    el0 = m.associations_of(0, keys.ELECTRONS, 0)
    assert [x.index for x in el0] == [0]
    assert m.ref_jet(0, keys.ELECTRONS, 0) == 0 and m.ref_jet(0, keys.MUONS, 0) == -1
    assert a.find_index(keys.PHOTONS, 0) == 1 and a.find_index(keys.MUONS, 0) == -1
    assert a.objects()[0] == (keys.ELECTRONS, 0, ObjectType.Electron)


def test_association_vectors():
    m = _electron_in_jet_map()
    a = m.find_by_jet(0, 0)
    assert a.cal_vec(0).as_tuple() == (11.0, 1.0, 0.0, 12.0, 11.5)   # own + shared
    assert a.cal_vec(1).as_tuple() == (1.0, 6.0, 0.0, 7.0, 6.5)
    assert a.trk_vec(0).as_tuple() == (9.0, 0.0, 0.0, 9.0, 9.0)
    assert a.trk_vec(1).as_tuple() == (0,) * 5
    assert a.jet_trk_vec().as_tuple() == (20.0, 1.0, 0.0, 21.0, 20.5)
    assert a.cal_entry(7).as_tuple() == (-9999999.0,) * 5
    assert not a.has_alternate_const_vec()


def test_helper_overlaps_and_misc_inversion():
    m = _electron_in_jet_map()
    before = {n: getattr(m, n).copy() for n in ("cal_px", "cal_key", "ovl_index")}
    h = MissingETAssociationHelper(m)
    jet, misc = m.find_by_jet(0, 0), m.misc_association(0)
    assert jet.overlap_cal_vec(h).as_tuple() == (0,) * 5
    # nothing selected: misc hands everything to the soft term
    assert misc.overlap_cal_vec(h).as_tuple() == (1.0, 2.0, 0.0, 3.0, 3.0)
    assert h.select_if_no_overlaps(0, keys.ELECTRONS, 0, UsagePolicy.OnlyCluster)
    assert h.obj_selected(0, 0) and h.obj_selected_any(0, keys.ELECTRONS, 0)
    assert jet.overlap_cal_vec(h).as_tuple() == (11.0, 1.0, 0.0, 12.0, 11.5)
    # the photon shares a cluster with the selected electron: refused under cluster policies
    assert jet.has_overlaps(h, 1, UsagePolicy.OnlyCluster)
    assert not jet.has_overlaps(h, 1, UsagePolicy.OnlyTrack)
    assert not jet.has_overlaps(h, 1, UsagePolicy.PhysicsObject)
    assert not h.select_if_no_overlaps(0, keys.PHOTONS, 0, UsagePolicy.TrackCluster)
    assert not h.obj_selected(0, 1)
    assert h.select_if_no_overlaps(0, keys.PHOTONS, 0, UsagePolicy.OnlyTrack)
    # misc: selecting the muon removes its entries from the misc complement
    assert h.select_if_no_overlaps(0, keys.MUONS, 0)
    assert misc.overlap_cal_vec(h).as_tuple() == (0.0, 2.0, 0.0, 2.0, 2.0)
    assert misc.overlap_trk_vec(h).as_tuple() == (0.0, 7.0, 0.0, 7.0, 7.0)
    h.set_obj_selection_flag(2, 0, False)
    assert not h.obj_selected(2, 0)
    h.reset_obj_selection_flags()
    assert not h.selected.any()
    for n, arr in before.items():
        assert np.array_equal(getattr(m, n), arr)


def test_alternate_const_vec_when_jet_is_its_own_object():
    m = MissingETAssociationMap.from_events([[
        {"jet_index": 0, "objects": [(JETS, 0, ObjectType.Jet), (keys.ELECTRONS, 0, ObjectType.Electron)],
         "overlaps": [[(1, CL)], [(0, CL)]],
         "cal": [(0b01, 5.0, 0, 0, 5.0, 5.0), (0b11, 2.0, 0, 0, 2.0, 2.0)]},
        {"jet_index": -1}]], jet_key=JETS)
    a = m.find_by_jet(0, 0)
    assert a.has_alternate_const_vec()
    assert a.get_alternate_const_vec().as_tuple() == (7.0, 0, 0, 7.0, 7.0)


def test_constituent_cache_is_transient():
    from metflow.edm.containers import ListColumn, Container, schema_for
    from metflow.edm.persistence import map_to_arrow
    m = _electron_in_jet_map()
    js = schema_for(JETS)
    cols = {f.name: np.zeros(2, f.dtype) for f in js.fields if f.kind == "value"}
    cols.update(constituents=ListColumn.from_lists([[0, 2], [1]]), ghost_tracks=ListColumn.from_lists([[], []]))
    jets = Container(js, [0, 2, 2], cols, key=JETS)
    cl = Container(schema_for(keys.CLUSTERS), [0, 4, 5], {c: np.zeros(5, np.float32) for c in ("px", "py", "pz", "e")})
    arrow_before = map_to_arrow(m)
    cache = m.constituent_association(jets, cl)
    assert cache.tolist() == [0, 1, 0, -1, -1]
    assert m.constituent_association(jets, cl) is cache
    assert map_to_arrow(m).equals(arrow_before)


def test_check_keys_detects_violations():
    base = [[{"jet_index": -1, "objects": [(keys.MUONS, 0, ObjectType.Muon), (keys.MUONS, 1, ObjectType.Muon)],
              "overlaps": [[(1, TRK)], [(0, TRK)]], "cal": [(0b01, 1, 1, 1, 1, 1)], "trk": [(0b11, 1, 1, 1, 1, 1)]}]]
    MissingETAssociationMap.from_events(base).check_keys()
    cases = {
        "zero": {"cal": [(0, 1, 1, 1, 1, 1)]},
        "beyond": {"cal": [(0b100, 1, 1, 1, 1, 1)]},
        "duplicate": {"trk": [(0b01, 1, 1, 1, 1, 1), (0b01, 2, 2, 2, 2, 2)]},
        "not symmetric": {"overlaps": [[(1, TRK)], []]},
        "self": {"overlaps": [[(0, TRK)], []]},
    }
    for what, change in cases.items():
        ev = [[dict(base[0][0], **change)]]
        with pytest.raises(MapConsistencyError) as info:
            MissingETAssociationMap.from_events(ev, key="METAssoc_X").check_keys(source="f.parquet")
        assert info.value.event == 0 and info.value.key == "METAssoc_X", what


def test_validate_detects_layout_violations():
    with pytest.raises(MapConsistencyError, match="misc"):
        MissingETAssociationMap.from_events([[{"jet_index": 0}]]).validate()
    with pytest.raises(MapConsistencyError, match="last"):
        MissingETAssociationMap.from_events([[{"jet_index": -1}, {"jet_index": 0}]]).validate()
    with pytest.raises(MapConsistencyError, match="order"):
        MissingETAssociationMap.from_events([[{"jet_index": 1}, {"jet_index": 0}, {"jet_index": -1}]]).validate()


def test_more_than_64_objects_raise_naming_event_jet_and_count():
    objs = [(keys.ELECTRONS, i, ObjectType.Electron) for i in range(65)]
    events = [[{"jet_index": -1}], [{"jet_index": 0}, {"jet_index": 1, "objects": objs}, {"jet_index": -1}]]
    with pytest.raises(TooManyObjectsError) as info:
        MissingETAssociationMap.from_events(events, key="METAssoc_AntiKt4EMPFlow")
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.event, err.jet_index, err.n_objects) == (1, 1, 65)
    assert "event 1" in str(err) and "jet 1" in str(err) and "65 objects" in str(err)
    # exactly 64 is fine, including the top bit of the key
    events[1][1]["objects"] = objs[:64]
    events[1][1]["cal"] = [(1 << 63, 1, 1, 1, 1, 1)]
    m = MissingETAssociationMap.from_events(events)
    m.check_keys()
    h = MissingETAssociationHelper(m)
    assert h.select_if_no_overlaps(1, keys.ELECTRONS, 63)
    assert m.find_by_jet(1, 1).overlap_cal_vec(h).as_tuple() == (1, 1, 1, 1, 1)


def test_map_slice_concatenate_and_events_round_trip():
    m = representative_map(12, seed=4)
    parts = [m.slice(0, 5), m.slice(5, 6), m.slice(6, 12)]
    assert MissingETAssociationMap.concatenate(parts).equals(m)
    back = MissingETAssociationMap.from_events(m.to_events(), m.container_keys, jet_key=m.jet_key, key=m.key)
    assert back.equals(m)
    assert m.slice(3, 3).n_events == 0


def test_helper_is_never_stored():
    import pickle
    h = MissingETAssociationHelper(_electron_in_jet_map())
    with pytest.raises(TypeError):
        pickle.dumps(h)
    assert not hasattr(h, "to_arrow") and not hasattr(h, "freeze")
