import numpy as np
import pyarrow as pa
import pytest

from metflow.edm import keys
from metflow.edm.containers import (Container, EventRecord, ListColumn, container_from_events,
                                    empty_container, register_schema, schema_for)
from metflow.edm.errors import NonFiniteError, SchemaError, UnknownKeyError
from metflow.edm.units import GeV

from _factories import random_container

JETS = keys.jet_container_key("AntiKt4EMPFlow")


def electrons():
    schema = schema_for(keys.ELECTRONS)
    return container_from_events(schema, [
        dict(px=[10 * GeV, 20 * GeV], py=[0, 5 * GeV], pz=[1 * GeV, 0], e=[11 * GeV, 21 * GeV],
             charge=[1, -1], clusters=[[0], [1, 2]], tracks=[[], [0]], pfos=[[], []], id=[1, 7],
             isolated=[True, False]),
        dict(px=[], py=[], pz=[], e=[], charge=[], clusters=[], tracks=[], pfos=[], id=[], isolated=[]),
        dict(px=[3 * GeV], py=[4 * GeV], pz=[0], e=[5 * GeV], charge=[1], clusters=[[3]], tracks=[[1]],
             pfos=[[2]], id=[3], isolated=[True]),
    ], key=keys.ELECTRONS)


def test_schema_v1_fields_and_targets():
    jets = schema_for(JETS)
    assert jets.field("constituents").target == keys.PFOS
    assert schema_for("AntiKt4EMTopoJets").field("constituents").target == keys.CLUSTERS
    assert jets.field("ghost_tracks").target == keys.TRACKS
    assert schema_for(keys.PFOS).field("track").target == keys.TRACKS
    assert schema_for(keys.PFOS).field("cluster").target == keys.CLUSTERS
    assert schema_for(keys.TRACKS).field("vertex").target == keys.PRIMARY_VERTICES
    assert schema_for(keys.MUONS).field("id_track").target == keys.TRACKS
    for k in (keys.ELECTRONS, keys.PHOTONS, keys.TAUS):
        s = schema_for(k)
        assert (s.field("clusters").target, s.field("tracks").target, s.field("pfos").target) == \
            (keys.CLUSTERS, keys.TRACKS, keys.PFOS)
    assert schema_for(keys.EVENT_INFO).field("run_number").dtype == "int64"
    assert schema_for(keys.TRUTH_MET).per_event
    assert schema_for(keys.PRIMARY_VERTICES).field("is_hard_scatter").dtype == "bool"


def test_schema_for_variants_and_registration():
    assert schema_for("AntiKt4EMPFlowJets_Calib") is schema_for(JETS)
    assert schema_for("CalibratedElectrons") is schema_for(keys.ELECTRONS)
    assert schema_for("AntiKt4LCTopoJets").field("constituents").target == keys.CLUSTERS
    # a jet container's constituents come from its JetCollection record, not from its name
    from metflow.edm.jet_collection import JetCollection, jet_collection, register_jet_collection
    assert jet_collection("AntiKt4EMPFlow") == JetCollection("AntiKt4EMPFlow", keys.PFOS, True)
    assert schema_for("AntiKt4EMPFlowJets").field("constituents").target == keys.PFOS
    assert schema_for("MyPFlowJets").field("constituents").target == keys.CLUSTERS   # unregistered
    register_jet_collection(JetCollection("AntiKt4TestPFlow", constituents=keys.PFOS, pflow=True))
    assert schema_for("AntiKt4TestPFlowJets").field("constituents").target == keys.PFOS
    with pytest.raises(UnknownKeyError, match="did you mean"):
        schema_for("Electronz")
    custom = schema_for(keys.MUONS).with_targets(id_track="MyTracks")
    register_schema("MyMuonsForTest", custom)
    assert schema_for("MyMuonsForTest").field("id_track").target == "MyTracks"
    with pytest.raises(ValueError):
        register_schema("MyMuonsForTest", schema_for(keys.ELECTRONS))


def test_container_basics_and_views():
    el = electrons()
    assert el.n_events == 3 and len(el) == 3
    assert el.counts().tolist() == [2, 0, 1]
    assert el["px"].dtype == np.float32 and el["charge"].dtype == np.int8
    assert isinstance(el["clusters"], ListColumn)
    ev = el.event(0)
    assert len(ev) == 2 and ev["px"].tolist() == [10 * GeV, 20 * GeV]
    obj = ev[1]
    assert obj.px == pytest.approx(20 * GeV) and obj.clusters.tolist() == [1, 2]
    assert obj.pt == pytest.approx(np.hypot(20, 5) * GeV)
    assert [o.index for o in el.event(2)] == [0]
    assert len(el.event(1)) == 0
    assert el.event_of_object().tolist() == [0, 0, 2]
    assert el.local_index().tolist() == [0, 1, 0]
    with pytest.raises(IndexError):
        el.event(3)
    np.testing.assert_allclose(el.pt()[2], 5 * GeV)


def test_slice_and_concatenate():
    el = electrons()
    tail = el.slice(1, 3)
    assert tail.n_events == 2 and tail.offsets.tolist() == [0, 0, 1]
    assert tail["clusters"].tolist() == [[3]]
    assert np.shares_memory(tail["px"], el["px"])
    back = Container.concatenate([el.slice(0, 1), el.slice(1, 2), el.slice(2, 3)])
    assert back.equals(el)


def test_freeze_makes_read_only():
    el = electrons().freeze()
    assert el.frozen
    with pytest.raises(ValueError):
        el["px"][0] = 1.0
    with pytest.raises(ValueError):
        el["clusters"].values[0] = 5
    with pytest.raises(ValueError):
        el.offsets[1] = 0


def test_arrow_round_trip_zero_copy():
    el = electrons()
    arr = el.to_arrow()
    assert isinstance(arr, pa.ListArray) and len(arr) == 3
    assert arr.type.value_type.field("clusters").metadata[b"target"] == keys.CLUSTERS.encode()
    back = Container.from_arrow(arr, schema_for(keys.ELECTRONS), key=keys.ELECTRONS)
    assert back.equals(el)
    # numeric columns share memory with the Arrow buffers
    px_buf = arr.values.field("px").buffers()[1]
    assert back["px"].ctypes.data == px_buf.address
    # sliced arrow arrays (offset != 0) decode correctly
    assert Container.from_arrow(arr.slice(1, 2), schema_for(keys.ELECTRONS)).equals(el.slice(1, 3))


def test_extra_fields_tolerated():
    el = electrons()
    more = el.with_columns(weight_sf=np.ones(len(el), np.float32))
    back = Container.from_arrow(more.to_arrow(), schema_for(keys.ELECTRONS))
    assert "weight_sf" in back and back["weight_sf"].dtype == np.float32
    strings = pa.StructArray.from_arrays(
        [*more.to_arrow().values.flatten(), pa.array(["a", "b", "c"])],
        names=[*more.to_arrow().type.value_type.names, "label"])
    arr = pa.ListArray.from_arrays(more.to_arrow().offsets, strings)
    assert "label" not in Container.from_arrow(arr, schema_for(keys.ELECTRONS))


def test_constructor_casts_same_kind_but_rejects_other_kinds():
    schema = schema_for(keys.CLUSTERS)
    c = Container(schema, [0, 1], {"px": np.array([1.0]), "py": [2.0], "pz": [3.0], "e": [4.0]})
    assert c["px"].dtype == np.float32
    with pytest.raises(SchemaError, match="column 'px'"):
        Container(schema, [0, 1], {"px": np.array(["x"]), "py": [2.0], "pz": [3.0], "e": [4.0]}, key="C")


def test_constructor_errors_name_key_and_column():
    schema = schema_for(keys.CLUSTERS)
    with pytest.raises(SchemaError) as info:
        Container(schema, [0, 1], {"px": [1.0], "py": [1.0], "pz": [1.0]}, key="TopoClusters")
    assert info.value.column == "e" and "TopoClusters" in str(info.value)
    with pytest.raises(SchemaError) as info:
        Container(schema, [0, 2, 1], {c: [1.0, 2.0] for c in ("px", "py", "pz", "e")}, key="TopoClusters")
    assert "not monotonic" in str(info.value) and info.value.event == 1
    with pytest.raises(SchemaError, match="offsets say"):
        Container(schema, [0, 3], {c: [1.0, 2.0] for c in ("px", "py", "pz", "e")})


def test_validate_non_finite_and_negative_links():
    el = electrons()
    px = el["px"].copy()
    px[2] = np.nan
    with pytest.raises(NonFiniteError) as info:
        el.with_columns(px=px).validate(source="f.parquet")
    assert (info.value.column, info.value.event, info.value.source) == ("px", 2, "f.parquet")
    bad = ListColumn(el["tracks"].offsets, np.where(el["tracks"].values == 1, -3, el["tracks"].values))
    with pytest.raises(SchemaError) as info:
        el.with_columns(tracks=bad).validate()
    assert info.value.column == "tracks" and info.value.event == 2


def test_event_record():
    info = EventRecord(schema_for(keys.EVENT_INFO), {"run_number": [1, 1], "event_number": [7, 8],
                                                     "mu": [40.5, 51.0], "weight": [1.0, 0.5]},
                       key=keys.EVENT_INFO)
    assert info.n_events == 2 and info["event_number"].dtype == np.int64
    assert info.event(1) == {"run_number": 1, "event_number": 8, "mu": 51.0, "weight": 0.5}
    back = EventRecord.from_arrow(info.to_arrow(), schema_for(keys.EVENT_INFO))
    assert back.equals(info)
    assert EventRecord.concatenate([info.slice(0, 1), info.slice(1, 2)]).equals(info)
    info.freeze()
    with pytest.raises(ValueError):
        info["mu"][0] = 1


def test_empty_container_and_random_factory():
    c = empty_container(schema_for(JETS), 4, key=JETS)
    assert c.n_events == 4 and len(c) == 0
    back = Container.from_arrow(c.to_arrow(), schema_for(JETS))
    assert back.equals(c)
    rng = np.random.default_rng(3)
    r = random_container(keys.TRACKS, 5, rng, target_counts={keys.PRIMARY_VERTICES: np.full(5, 2)})
    assert r.validate() is r


def test_list_column_operations():
    lc = ListColumn.from_lists([[1, 2], [], [3]])
    assert len(lc) == 3 and lc.counts().tolist() == [2, 0, 1]
    assert lc.take(np.array([True, False, True])).tolist() == [[1, 2], [3]]
    assert lc.take(np.array([2, 0])).tolist() == [[3], [1, 2]]
    assert ListColumn.concatenate([lc.slice(0, 1), lc.slice(1, 3)]).equals(lc)
    with pytest.raises(SchemaError):
        ListColumn([0, 2], [1])


def test_awkward_round_trip_via_arrow():
    ak = pytest.importorskip("awkward")
    el = electrons()
    arr = el.to_awkward()
    assert ak.num(arr, axis=1).tolist() == [2, 0, 1]
    assert arr[0, 1].clusters.tolist() == [1, 2]
    back = Container.from_awkward(arr, schema_for(keys.ELECTRONS), key=keys.ELECTRONS)
    assert back.equals(el)
    wrong = ak.with_field(arr, ak.values_astype(arr.px, np.float64), "px")
    with pytest.raises(SchemaError) as info:
        Container.from_awkward(wrong, schema_for(keys.ELECTRONS), key=keys.ELECTRONS)
    assert info.value.column == "px"
