"""The object associators run by the map builder: in its one kernel call they give the fragments
each associator gives alone, and the map and core terms of the associators run one by one; a
failure names the associator; an associator with its own compute runs as an algorithm of its
own, in association order."""

from __future__ import annotations

import numpy as np
import pytest

from metflow.algorithms.met import _reco_kernels as kern
from metflow.algorithms.met.config import met_assoc_cfg
from metflow.algorithms.met.object_associators import (STANDARD_ASSOCIATORS, METElectronAssociator,
                                                       METMuonAssociator, METObjectAssociator, associator_class)
from metflow.algorithms.met.reco import METAssocMapBuilder
from metflow.edm import keys as K
from metflow.edm.errors import LinkError, SchemaError
from metflow.edm.units import GeV
from metflow.framework import ReadHandleKey
from metflow.framework.errors import ConfigurationError
from test_reco_support import inputs_of, make_block, random_event, record_outputs

JETS = ("AntiKt4EMPFlow", "AntiKt4EMTopo")


def _store_with_jet_assoc(jet_coll: str, events: list[dict]) -> tuple[dict, METAssocMapBuilder]:
    store = make_block(events)
    algs = met_assoc_cfg(jet_coll).algorithms
    record_outputs(algs[0], store, algs[0].compute(**inputs_of(algs[0], store)))
    (builder,) = [a for a in algs if isinstance(a, METAssocMapBuilder)]
    return store, builder


def _alone(cls, builder: METAssocMapBuilder, pflow: bool) -> METObjectAssociator:
    return cls(objects=cls.default_objects_key(), jet_assoc=builder.key("jet_assoc"),
               fragment=f"alone_{cls.__name__}", signals=builder.key("signals"), pflow=pflow)


@pytest.mark.parametrize("jet_coll", JETS)
def test_builder_fragments_equal_each_associator_alone(jet_coll):
    rng = np.random.default_rng(5)
    store, builder = _store_with_jet_assoc(jet_coll, [random_event(rng) for _ in range(12)])
    inputs = inputs_of(builder, store)
    own = builder.associate(inputs["jet_assoc"], inputs["objects"], inputs["signals"], inputs["tracks"])
    assert [f.container_key for f in own] == [cls.default_objects_key() for cls in STANDARD_ASSOCIATORS]
    pflow = inputs["jet_assoc"].pflow
    for cls, fragment in zip(STANDARD_ASSOCIATORS, own):
        alone = _alone(cls, builder, pflow)
        expected = alone.compute(**inputs_of(alone, store))
        assert fragment.object_type == expected.object_type == int(cls.object_type)
        assert fragment.packed.dtype == expected.packed.dtype
        np.testing.assert_array_equal(fragment.packed, expected.packed)
        assert not fragment.packed.flags.writeable
    assert sum(f.n_objects for f in own) > 0


@pytest.mark.parametrize("jet_coll", JETS)
def test_map_and_core_equal_those_from_the_associators_run_alone(jet_coll):
    """The builder's one call (associators inside) and a builder fed the fragments of the
    associators run as algorithms give the same map and core terms, bit for bit."""
    rng = np.random.default_rng(9)
    store, builder = _store_with_jet_assoc(jet_coll, [random_event(rng) for _ in range(10)])
    inside = builder.compute(**inputs_of(builder, store))
    pflow = store[builder.key("jet_assoc")].pflow
    fragment_keys = []
    for cls in STANDARD_ASSOCIATORS:
        alone = _alone(cls, builder, pflow)
        record_outputs(alone, store, alone.compute(**inputs_of(alone, store)))
        fragment_keys.append(alone.key("fragment"))
    fed = METAssocMapBuilder(name="fed", jet_assoc=builder.key("jet_assoc"), associators=(), objects=(),
                             fragments=fragment_keys, jets=builder.key("jets"), signals=builder.key("signals"),
                             core="fed_core")
    outside = fed.compute(**inputs_of(fed, store))
    for name, got in inside["assoc_map"].arrays().items():
        want = outside["assoc_map"].arrays()[name]
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), name
    assert inside["assoc_map"].container_keys == outside["assoc_map"].container_keys
    for what in ("mpx", "mpy", "sumet"):
        assert getattr(inside["core"], what).tobytes() == getattr(outside["core"], what).tobytes()
    # half inside, half fed: the same again
    half = METAssocMapBuilder(name="half", jet_assoc=builder.key("jet_assoc"),
                              associators=STANDARD_ASSOCIATORS[:2], objects=[K.MUONS, K.ELECTRONS],
                              fragments=fragment_keys[2:], jets=builder.key("jets"),
                              signals=builder.key("signals"))
    mixed = half.compute(**inputs_of(half, store))
    assert mixed["core"] is None
    for name, got in mixed["assoc_map"].arrays().items():
        assert got.tobytes() == outside["assoc_map"].arrays()[name].tobytes(), name


def test_fused_kernel_equals_one_call_per_collection():
    rng = np.random.default_rng(8)
    store, builder = _store_with_jet_assoc("AntiKt4EMTopo", [random_event(rng) for _ in range(6)])
    inputs = inputs_of(builder, store)
    from metflow.algorithms.met.object_associators import collections_of

    collections = collections_of(builder._resolve().associators.configs[False], inputs["objects"])
    signals, tracks, ja = inputs["signals"], inputs["tracks"], inputs["jet_assoc"]
    shared = (signals.offsets, signals.columns["e"], kern.np.zeros(0, np.int32), tracks.offsets,
              ja.track_accepted, ja.signal_assoc, ja.track_assoc, ja.assoc_offsets, False)
    status, bad, packed, bounds = kern.object_associations_of(collections, *shared)
    assert status == kern.OK and bad.tolist() == [-1, -1, -1]
    for i, c in enumerate(collections):
        one = kern.object_associations(*c[:9], *shared, c[9])
        assert one[0] == kern.OK
        np.testing.assert_array_equal(packed[bounds[i]:bounds[i + 1]], one[3])
    assert bounds[-1] == packed.shape[0]


def test_a_bad_link_names_the_associator_and_its_container():
    rng = np.random.default_rng(2)
    events = [random_event(rng) for _ in range(3)]
    events[1][K.PHOTONS] = [{"px": 20 * GeV, "py": 0.0, "pz": 0.0, "e": 20 * GeV,   # above min_pt
                             "clusters": [10_000], "pfos": [10_000], "tracks": []}]
    for jet_coll in JETS:
        store, builder = _store_with_jet_assoc(jet_coll, events)
        with pytest.raises(LinkError, match=rf"METAssocMapBuilder_{jet_coll} \(METPhotonAssociator\): object 0 "
                                            r"has a constituent link out of range") as err:
            builder.compute(**inputs_of(builder, store), ctx=None)
        assert err.value.key == K.PHOTONS and err.value.event == 1


def test_objects_of_another_block_name_that_container():
    rng = np.random.default_rng(3)
    store, builder = _store_with_jet_assoc("AntiKt4EMPFlow", [random_event(rng) for _ in range(2)])
    other = make_block([random_event(rng)])
    inputs = inputs_of(builder, store)
    inputs["objects"][2] = other[K.PHOTONS]
    with pytest.raises(SchemaError, match=K.PHOTONS):
        builder.compute(**inputs)


def test_a_fragment_of_a_container_the_builder_associates_is_refused():
    """Electrons associated inside and fed as a fragment would enter every electron twice."""
    rng = np.random.default_rng(4)
    store, builder = _store_with_jet_assoc("AntiKt4EMPFlow", [random_event(rng) for _ in range(2)])
    alone = _alone(METElectronAssociator, builder, True)
    record_outputs(alone, store, alone.compute(**inputs_of(alone, store)))
    twice = METAssocMapBuilder(name="twice", jet_assoc=builder.key("jet_assoc"), fragments=[alone.key("fragment")])
    with pytest.raises(SchemaError, match=r"twice: two fragments of 'Electrons'") as err:
        twice.compute(**inputs_of(twice, store))
    assert err.value.key == K.ELECTRONS


class _OwnCompute(METMuonAssociator):
    """A plugin-style associator with its own association logic."""

    objects = ReadHandleKey("MuonsLRT")

    def compute(self, objects, signals, tracks, jet_assoc, ctx=None):
        return super().compute(objects, signals, tracks, jet_assoc, ctx)


def test_configuration_runs_link_based_associators_in_the_builder_and_the_others_alone():
    cfg = met_assoc_cfg("AntiKt4EMPFlow", extra_associators=[_OwnCompute])
    names = [a.name for a in cfg.algorithms]
    assert names == ["METJetAssocTool_AntiKt4EMPFlow", "_OwnCompute_AntiKt4EMPFlow",
                     "METAssocMapBuilder_AntiKt4EMPFlow"]
    builder = cfg.algorithms[2]
    assert builder.associators == STANDARD_ASSOCIATORS
    assert builder.key("objects") == tuple(cls.default_objects_key() for cls in STANDARD_ASSOCIATORS)
    assert builder.key("fragments") == (K.met_object_assoc_key("AntiKt4EMPFlow", "MuonsLRT"),)
    with pytest.raises(ConfigurationError, match="_OwnCompute has its own compute"):
        associator_class(_OwnCompute)
    # an own-compute associator first: every later one runs alone too, so the order holds
    cfg = met_assoc_cfg("AntiKt4EMPFlow", associators=[METElectronAssociator, _OwnCompute, METMuonAssociator])
    assert [a.name for a in cfg.algorithms] == [
        "METJetAssocTool_AntiKt4EMPFlow", "_OwnCompute_AntiKt4EMPFlow", "METMuonAssociator_AntiKt4EMPFlow",
        "METAssocMapBuilder_AntiKt4EMPFlow"]
    builder = cfg.algorithms[-1]
    assert builder.associators == (METElectronAssociator,) and builder.key("objects") == (K.ELECTRONS,)
    assert builder.key("fragments") == (K.met_object_assoc_key("AntiKt4EMPFlow", "MuonsLRT"),
                                        K.met_object_assoc_key("AntiKt4EMPFlow", K.MUONS))

    class _OwnResolve(METMuonAssociator):
        objects = ReadHandleKey("MuonsLRT")

        def _resolve(self):
            return super()._resolve()._replace(min_pt=1.0)

    assert _OwnResolve.__name__ in [a.name.split("_AntiKt")[0] for a in
                                     met_assoc_cfg("AntiKt4EMPFlow", extra_associators=[_OwnResolve]).algorithms]


def test_associators_by_name_and_bad_configurations():
    builder = METAssocMapBuilder(name="B", associators=["METTauAssociator", "METMuonAssociator"],
                                 objects=[K.TAUS, K.MUONS])
    config = builder._resolve().associators
    for pflow in (True, False):
        assert [c.objects_key for c in config.configs[pflow]] == [K.TAUS, K.MUONS]
        assert [c.min_pt for c in config.configs[pflow]] == [4 * GeV, 0.0]
        assert all(c.pflow == pflow for c in config.configs[pflow])
    assert config.owners == ("B (METTauAssociator)", "B (METMuonAssociator)")
    with pytest.raises(ConfigurationError, match=r"B: 2 associators but 1 objects"):
        METAssocMapBuilder(name="B", associators=["METTauAssociator", "METMuonAssociator"],
                           objects=[K.TAUS])._resolve()
    with pytest.raises(ConfigurationError, match=r"no algorithm named 'METTauAssociatr'.*METTauAssociator"):
        METAssocMapBuilder(name="B", associators=["METTauAssociatr"], objects=[K.TAUS])._resolve()
    with pytest.raises(ConfigurationError, match="METSoftAssociator.*is not a MET object associator"):
        associator_class("METSoftAssociator")
    with pytest.raises(ConfigurationError, match="B: two associators for one container"):
        METAssocMapBuilder(name="B", associators=[METMuonAssociator, METElectronAssociator],
                           objects=[K.MUONS, K.MUONS])._resolve()
    cut = METAssocMapBuilder(name="B", associators=[METMuonAssociator], objects=[K.MUONS],
                             min_pt=[7 * GeV])._resolve()
    assert cut.associators.configs[True][0].min_pt == 7 * GeV
    assert issubclass(associator_class(METObjectAssociator), METObjectAssociator)
