"""METObjectSelection and the kernel path of METSignificance equal numpy references bit for bit
(same kept objects, columns, schema and links; same significance record), including the
fallback where an |eta| lies within rounding of a cut."""

from __future__ import annotations

import numpy as np
import pytest

from metflow.edm import keys as mk
from metflow.edm.met import ObjectType
from metflow.framework.errors import ConfigurationError
from metflow.algorithms.met.maker import METMaker, rebuild_event_met
from metflow.algorithms.met.selection import ID_LEVELS, OBJECT_KINDS, METObjectSelection
from metflow.algorithms.met.significance import METSignificance

import test_maker_events

E = test_maker_events
N_EVENTS = 120
HARD = {mk.REF_ELE: ObjectType.Electron, mk.REF_GAMMA: ObjectType.Photon,
        mk.REF_TAU: ObjectType.Tau, mk.MUONS_TERM: ObjectType.Muon, mk.REF_JET: ObjectType.Jet}


@pytest.fixture(scope="module")
def reco_block():
    from metflow.algorithms.generation.synthetic import SyntheticSource
    run_reco = E.load("test_end_to_end").run_reco
    block = SyntheticSource(seed=5, process="mix", mu=40, n_events=N_EVENTS).read(0, N_EVENTS)
    store = run_reco(block, "AntiKt4EMPFlow")
    return block, store


def _same_container(a, b):
    assert a.equals(b)
    assert a.key == b.key and a.schema == b.schema and list(a.columns) == list(b.columns)
    assert a.original is b.original and a.original_key == b.original_key
    assert a["original_index"].dtype == b["original_index"].dtype


def _numpy_selection(alg, objects):
    """METObjectSelection in numpy through Container.shallow_copy: the reference the kernel
    path equals."""
    pt = objects.pt().astype(np.float64)
    eta = np.abs(objects.eta())
    keep = (pt > alg.min_pt) & (eta < alg.max_abs_eta)
    bit = ID_LEVELS[alg.id_level]
    if bit >= 0:
        keep &= (np.asarray(objects["id"]).astype(np.int64) >> bit) & 1 == 1
    if alg.require_isolated:
        keep &= np.asarray(objects["isolated"], bool)
    if alg.min_jvt > -1.0:
        tested = (pt < alg.jvt_max_pt) & (eta < 2.4)
        keep &= ~tested | (objects["jvt"] >= alg.min_jvt)
    overrides = None
    if alg.scale != 1.0:
        overrides = {c: (objects[c][keep] * np.float32(alg.scale)).astype(np.float32)
                     for c in ("px", "py", "pz", "e")}
    return objects.shallow_copy(overrides, select=keep, key=alg.key("selected"))


def _selection(kind, **options):
    key, pt, eta, idl, iso = OBJECT_KINDS[kind]
    opts = dict(objects=key, selected="METSelected" + key, min_pt=pt, max_abs_eta=eta,
                id_level=idl, require_isolated=iso and kind in ("electrons", "photons"))
    opts.update(options)
    alg = METObjectSelection(**opts)
    alg.initialize()
    return alg


@pytest.mark.parametrize("kind", list(OBJECT_KINDS))
@pytest.mark.parametrize("options", [{}, {"scale": 1.03}, {"max_abs_eta": 1.2, "min_pt": 0.0, "id_level": "none"},
                                     {"min_jvt": 0.59, "id_level": "none"}])
def test_selection_kernel_equals_numpy_path(reco_block, kind, options):
    block, _ = reco_block
    if "min_jvt" in options and kind != "jets":
        options = {}
    alg = _selection(kind, **options)
    objects = block[OBJECT_KINDS[kind][0]]
    fast, ref = alg.compute(objects), _numpy_selection(alg, objects)
    _same_container(fast, ref)
    if options.get("min_pt") == 0.0:
        assert 0 < len(fast) < len(objects)
    # a selection of a selection (original_index kept, root unchanged)
    _same_container(alg.compute(fast), _numpy_selection(alg, ref))


def test_selection_eta_at_the_cut_takes_numpy_path(reco_block):
    block, _ = reco_block
    jets = block[mk.jet_container_key("AntiKt4EMPFlow")]
    abs_eta = np.abs(jets.eta())
    cut = float(abs_eta[np.argmax(abs_eta > 0.5)])   # an object's |eta| is the cut itself
    alg = _selection("jets", max_abs_eta=cut)
    fast, ref = alg.compute(jets), _numpy_selection(alg, jets)
    _same_container(fast, ref)
    assert not np.any(np.abs(fast.eta()) >= cut)


def test_selection_missing_column_is_named(reco_block):
    block, _ = reco_block
    taus = block[mk.TAUS]
    alg = _selection("taus", require_isolated=True)
    with pytest.raises(ConfigurationError, match="no 'isolated' column"):
        alg.compute(taus)


@pytest.mark.parametrize("soft_terms", ["both", "track", "cluster"])
def test_significance_kernel_equals_numpy_path(reco_block, soft_terms):
    block, store = reco_block
    objects = {kind: _selection(kind).compute(block[OBJECT_KINDS[kind][0]])
               for kind in ("electrons", "photons", "taus", "muons")}
    met, _ = rebuild_event_met(METMaker(do_pflow=True), store[mk.met_assoc_key("AntiKt4EMPFlow")],
                               store[mk.met_core_key("AntiKt4EMPFlow")],
                               block[mk.jet_container_key("AntiKt4EMPFlow")], objects,
                               soft_terms=soft_terms)
    for track in (False, True):
        total = mk.FINAL_TRK if track else mk.FINAL_CLUS
        if total not in met:
            continue
        sig = METSignificance(track_soft_term=track)
        fast = sig._from_builder_kernels(met, total, HARD, None, mk.REF_JET)
        ref = sig._from_builder_numpy(met, total, HARD, None, mk.REF_JET)
        assert fast is not None
        assert list(fast.columns) == list(ref.columns)
        for name, col in ref.columns.items():
            assert fast[name].dtype == col.dtype
            assert fast[name].tobytes() == col.tobytes(), name
        assert np.any(ref["s"] > 0)


def test_significance_inputs_the_kernels_cannot_take_are_named_not_rerouted(reco_block):
    """A hard term of a type without a resolution model, or objects without a column the
    model reads, is an error naming it (no fallback chosen by catching the kernels' error)."""
    block, store = reco_block
    objects = {kind: _selection(kind).compute(block[OBJECT_KINDS[kind][0]])
               for kind in ("electrons", "photons", "taus", "muons")}
    met, _ = rebuild_event_met(METMaker(do_pflow=True), store[mk.met_assoc_key("AntiKt4EMPFlow")],
                               store[mk.met_core_key("AntiKt4EMPFlow")],
                               block[mk.jet_container_key("AntiKt4EMPFlow")], objects)
    sig = METSignificance(track_soft_term=True)
    with pytest.raises(ValueError, match="no pT resolution for object type"):
        sig.from_builder(met, mk.FINAL_TRK, {**HARD, mk.REF_ELE: ObjectType.TrackParticle})
    electrons, weight = met.links[mk.REF_ELE]
    no_py = electrons.with_columns()
    del no_py.columns["py"]
    met.links[mk.REF_ELE] = (no_py, weight)
    with pytest.raises(KeyError, match=f"{electrons.key}.* no column 'py'"):
        sig.from_builder(met, mk.FINAL_TRK, HARD)


def test_selection_kernel_leaves_an_eta_at_the_cut_undecided(reco_block):
    from metflow.algorithms.met import _maker_kernels as kern
    block, _ = reco_block
    jets = block[mk.jet_container_key("AntiKt4EMPFlow")]
    abs_eta = np.abs(jets.eta())
    cut = float(abs_eta[np.argmax(abs_eta > 0.5)])
    alg = _selection("jets", max_abs_eta=cut)
    cuts = alg._cut_values()
    c = jets.columns
    status = kern.select_objects(jets.offsets, c["px"], c["py"], c["pz"], c["px"], -1,
                                 np.zeros(0, bool), False, c["jvt"], False, cuts[3], cuts[4],
                                 cuts[5], *cuts[6:10])[3]
    assert status == kern.SEL_UNDECIDED
