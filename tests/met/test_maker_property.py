"""Property test "dynamic equals static": the MET rebuilt from the association map equals a
brute-force MET computed from the constituents and tracks, for random events and selections.

Events, map and core come from `test_maker_events` (an independent builder written from the
reconstruction spec, since the comparison must not share code with METMaker); the static MET
is computed there from the constituents directly. Both soft-term flavours (TST and CST) are
compared, for every term and the totals, to float32 precision.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metflow.edm import keys as mk
from metflow.edm.met import MissingETAssociationHelper, ObjectType, Source

from metflow.algorithms.met.maker import METBuilder, METMaker



def _events():
    """The shared event builder, the sibling module test_maker_events (tests/met is on sys.path)."""
    import test_maker_events

    return test_maker_events


def make_block(seed: int, n_events: int):
    """Events, containers, map and core for a random block."""
    E = _events()
    rng = np.random.default_rng(seed)
    events = [E.random_event(rng) for _ in range(n_events)]
    return (events, *E.block(events))


KINDS = (("e", ObjectType.Electron, mk.REF_ELE), ("g", ObjectType.Photon, mk.REF_GAMMA),
         ("t", ObjectType.Tau, mk.REF_TAU), ("m", ObjectType.Muon, mk.MUONS_TERM))


def rebuild(conts, assoc_map, core, masks, jet_mask, maker, soft_terms, order="egtm", do_jvt=True):
    helper = MissingETAssociationHelper(assoc_map)
    met = METBuilder(assoc_map.n_events)
    for kind, otype, term in sorted(KINDS, key=lambda k: order.index(k[0])):
        maker.rebuild_met(term, otype, conts[kind], helper, met, select=masks[kind])
    maker.rebuild_jet_met(mk.REF_JET, soft_terms, met, conts["jets"], core, helper, select=jet_mask,
                          do_jvt=do_jvt)
    return met


def _per_event(mask, container):
    return [list(mask[container.offsets[e]:container.offsets[e + 1]]) for e in range(container.n_events)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), sel_seed=st.integers(0, 2**32 - 1),
       wp=st.sampled_from(["Loose", "Tight", "Tenacious"]), do_jvt=st.booleans(),
       order=st.sampled_from(["egtm", "getm", "tegm"]))
def test_dynamic_equals_static(seed, sel_seed, wp, do_jvt, order):
    E = _events()
    events, conts, assoc_map, core = make_block(seed, 12)
    before = {k: v.copy() for k, v in assoc_map.arrays().items()}
    rng = np.random.default_rng(sel_seed)
    masks = {k: rng.random(len(conts[k])) < 0.7 for k in "egtm"}
    jet_mask = rng.random(len(conts["jets"])) < 0.9
    maker = METMaker(jet_selection=wp, do_pflow=True)
    met = rebuild(conts, assoc_map, core, masks, jet_mask, maker,
                  (mk.SOFT_CLUS, mk.PV_SOFT_TRK), order, do_jvt)
    # one soft term at a time gives the same terms as both in one pass
    met_trk = rebuild(conts, assoc_map, core, masks, jet_mask, maker, mk.PV_SOFT_TRK, order, do_jvt)
    met_clus = rebuild(conts, assoc_map, core, masks, jet_mask, maker, mk.SOFT_CLUS, order, do_jvt)
    np.testing.assert_array_equal(met.term(mk.PV_SOFT_TRK), met_trk.term(mk.PV_SOFT_TRK))
    np.testing.assert_array_equal(met.term(mk.SOFT_CLUS), met_clus.term(mk.SOFT_CLUS))
    maker.build_met_sum(mk.FINAL_TRK, met, Source.track())
    maker.build_met_sum(mk.FINAL_CLUS, met, Source.cluster_lc())
    wpt = maker.working_point
    sel = E.Selection(use={k: _per_event(masks[k], conts[k]) for k in "egtm"},
                      use_jet=_per_event(jet_mask, conts["jets"]), central_pt=wpt.central_pt,
                      forward_pt=wpt.forward_pt, do_jvt=do_jvt, jvt_cut=maker.jvt_cut,
                      eta_forw=maker.jet_eta_forw)
    names = {"e": mk.REF_ELE, "g": mk.REF_GAMMA, "t": mk.REF_TAU, "m": mk.MUONS_TERM,
             "jet": mk.REF_JET, "cst": mk.SOFT_CLUS, "tst": mk.PV_SOFT_TRK}
    out = met.to_container()
    for e, ev in enumerate(events):
        static = E.static_met(ev, e, sel, order)
        static_trk = sum(static[k] for k in ("e", "g", "t", "m", "jet", "tst"))
        static_clus = sum(static[k] for k in ("e", "g", "t", "m", "jet", "cst"))
        scale = 1.0 + sum(abs(v[2]) for v in static.values())
        for k, name in [*names.items(), ("trk", mk.FINAL_TRK), ("clus", mk.FINAL_CLUS)]:
            want = static_trk if k == "trk" else static_clus if k == "clus" else static[k]
            got = np.array([out[name].mpx[e], out[name].mpy[e], out[name].sumet[e]], np.float64)
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * scale + 0.05,
                                       err_msg=f"event {e} term {name} (seed {seed}, sel {sel_seed})")
    for k, v in assoc_map.arrays().items():   # the map is never mutated
        np.testing.assert_array_equal(v, before[k], err_msg=k)
