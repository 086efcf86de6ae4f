"""METObjectAssociatorGroup: several object associators in one execution and one kernel call give
the fragments each associator gives alone, name the failing associator, and are configured
from the associator classes (a plugin with its own compute runs alone)."""

from __future__ import annotations

import numpy as np
import pytest

from metflow.algorithms.met import _reco_kernels as kern
from metflow.algorithms.met.config import met_assoc_cfg
from metflow.algorithms.met.object_associators import (STANDARD_ASSOCIATORS, METMuonAssociator,
                                                       METObjectAssociator, METObjectAssociatorGroup,
                                                       associator_class)
from metflow.edm import keys as K
from metflow.edm.errors import LinkError, SchemaError
from metflow.edm.units import GeV
from metflow.framework import ReadHandleKey
from metflow.framework.errors import ConfigurationError
from test_reco_support import inputs_of, make_block, random_event, record_outputs

JETS = ("AntiKt4EMPFlow", "AntiKt4EMTopo")


def _store_with_jet_assoc(jet_coll: str, events: list[dict]) -> tuple[dict, METObjectAssociatorGroup]:
    store = make_block(events)
    algs = met_assoc_cfg(jet_coll).algorithms
    record_outputs(algs[0], store, algs[0].compute(**inputs_of(algs[0], store)))
    (group,) = [a for a in algs if isinstance(a, METObjectAssociatorGroup)]
    return store, group


@pytest.mark.parametrize("jet_coll", JETS)
def test_group_fragments_equal_each_associator_alone(jet_coll):
    rng = np.random.default_rng(5)
    store, group = _store_with_jet_assoc(jet_coll, [random_event(rng) for _ in range(12)])
    grouped = group.compute(**inputs_of(group, store))
    assert [f.container_key for f in grouped] == [cls.default_objects_key() for cls in STANDARD_ASSOCIATORS]
    pflow = group.pflow
    for cls, fragment, key in zip(STANDARD_ASSOCIATORS, grouped, group.key("fragments")):
        alone = cls(objects=cls.default_objects_key(), jet_assoc=group.key("jet_assoc"), fragment=key,
                    signals=group.key("signals"), pflow=pflow)
        expected = alone.compute(**inputs_of(alone, store))
        assert fragment.object_type == expected.object_type == int(cls.object_type)
        assert fragment.packed.dtype == expected.packed.dtype
        np.testing.assert_array_equal(fragment.packed, expected.packed)
        assert not fragment.packed.flags.writeable
    assert sum(f.n_objects for f in grouped) > 0


def test_fused_kernel_equals_one_call_per_collection():
    rng = np.random.default_rng(8)
    store, group = _store_with_jet_assoc("AntiKt4EMTopo", [random_event(rng) for _ in range(6)])
    inputs = inputs_of(group, store)
    from metflow.algorithms.met.object_associators import _collection

    config = group._resolve()
    collections = tuple(_collection(c, o) for c, o in zip(config.configs, inputs["objects"]))
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
        store, group = _store_with_jet_assoc(jet_coll, events)
        with pytest.raises(LinkError, match=r"METPhotonAssociator.*object 0 has a constituent link out "
                                            r"of range") as err:
            group.compute(**inputs_of(group, store), ctx=None)
        assert err.value.key == K.PHOTONS and err.value.event == 1


def test_objects_of_another_block_name_that_container():
    rng = np.random.default_rng(3)
    store, group = _store_with_jet_assoc("AntiKt4EMPFlow", [random_event(rng) for _ in range(2)])
    other = make_block([random_event(rng)])
    inputs = inputs_of(group, store)
    inputs["objects"][2] = other[K.PHOTONS]
    with pytest.raises(SchemaError, match=K.PHOTONS):
        group.compute(**inputs)


class _OwnCompute(METMuonAssociator):
    """A plugin-style associator with its own association logic."""

    objects = ReadHandleKey("MuonsLRT")

    def compute(self, objects, signals, tracks, jet_assoc, ctx=None):
        return super().compute(objects, signals, tracks, jet_assoc, ctx)


def test_configuration_groups_link_based_associators_and_runs_the_others_alone():
    cfg = met_assoc_cfg("AntiKt4EMPFlow", extra_associators=[_OwnCompute])
    names = [a.name for a in cfg.algorithms]
    assert names == ["METJetAssocTool_AntiKt4EMPFlow", "_OwnCompute_AntiKt4EMPFlow",
                     "METObjectAssociatorGroup_AntiKt4EMPFlow", "METAssocMapBuilder_AntiKt4EMPFlow"]
    group = cfg.algorithms[2]
    assert group.associators == STANDARD_ASSOCIATORS
    builder = cfg.algorithms[3]
    assert builder.key("fragments")[-1] == K.met_object_assoc_key("AntiKt4EMPFlow", "MuonsLRT")
    with pytest.raises(ConfigurationError, match="_OwnCompute has its own compute"):
        associator_class(_OwnCompute)

    class _OwnResolve(METMuonAssociator):
        objects = ReadHandleKey("MuonsLRT")

        def _resolve(self):
            return super()._resolve()._replace(min_pt=1.0)

    assert _OwnResolve.__name__ in [a.name.split("_AntiKt")[0] for a in
                                     met_assoc_cfg("AntiKt4EMPFlow", extra_associators=[_OwnResolve]).algorithms]


def test_associators_by_name_and_bad_configurations():
    group = METObjectAssociatorGroup(name="G", associators=["METTauAssociator", "METMuonAssociator"],
                                     objects=[K.TAUS, K.MUONS], fragments=["ft", "fm"])
    config = group._resolve()
    assert [c.objects_key for c in config.configs] == [K.TAUS, K.MUONS]
    assert [c.min_pt for c in config.configs] == [4 * GeV, 0.0]
    with pytest.raises(ConfigurationError, match=r"G: 2 associators but 1 fragments"):
        METObjectAssociatorGroup(name="G", associators=["METTauAssociator", "METMuonAssociator"],
                                 objects=[K.TAUS, K.MUONS], fragments=["ft"])._resolve()
    with pytest.raises(ConfigurationError, match=r"no algorithm named 'METTauAssociatr'.*METTauAssociator"):
        METObjectAssociatorGroup(name="G", associators=["METTauAssociatr"], objects=[K.TAUS],
                                 fragments=["ft"])._resolve()
    with pytest.raises(ConfigurationError, match="METSoftAssociator.*is not a MET object associator"):
        associator_class("METSoftAssociator")
    cut = METObjectAssociatorGroup(name="G", associators=[METMuonAssociator], objects=[K.MUONS],
                                   fragments=["fm"], min_pt=[7 * GeV])._resolve()
    assert cut.configs[0].min_pt == 7 * GeV
    assert issubclass(associator_class(METObjectAssociator), METObjectAssociator)
