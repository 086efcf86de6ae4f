"""``rebuild_met``: METMaker on a PhysliteEvents chunk for the analyst's masks and kinematics.

The call sequence is ``rebuild_event_met``'s (markInvisible, e, γ, τ, μ, jets and soft term,
totals) with METMaker configured as ``jobs/physlite_met.py`` configures it, so the default
selection (:func:`default_selection`) gives physlite_met's MET bit for bit. Masks become
shallow copies with ``select=`` and replaced kinematics their ``overrides``, exactly the views
the job's selection algorithms record; the numba kernels do the work.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

import numpy as np

from metflow.algorithms.met.maker import JET_WORKING_POINTS, METBuilder, METMakerAlg
from metflow.algorithms.met.significance import RESOLUTION_MODELS, significance_for_model
from metflow.algorithms.physlite._deps import uproot_and_awkward
from metflow.algorithms.physlite.analysis import DEFAULT_SELECTION, physlite_selection_cfg
from metflow.algorithms.physlite.convert import _four_momentum
from metflow.algorithms.physlite.naming import ATLAS_NAMING
from metflow.edm import keys as mk
from metflow.edm.containers import Container
from metflow.edm.met import MissingETAssociationHelper, ObjectType, Source

from ._arrays import met_record
from ._events import OBJECT_KINDS, PhysliteEvents

# kind -> (xAOD object type, MET term), METMaker's priority order.
_TERMS = {"electrons": (ObjectType.Electron, mk.REF_ELE), "photons": (ObjectType.Photon, mk.REF_GAMMA),
          "taus": (ObjectType.Tau, mk.REF_TAU), "muons": (ObjectType.Muon, mk.MUONS_TERM)}
# soft_term -> soft terms built (rebuild_event_met's order) and the totals
SOFT_TERMS = {"track": (mk.PV_SOFT_TRK,), "cluster": (mk.SOFT_CLUS,),
              "both": (mk.SOFT_CLUS, mk.PV_SOFT_TRK)}
_CARTESIAN = ("px", "py", "pz", "e")
_POLAR = ("pt", "eta", "phi")


def default_selection(events: PhysliteEvents) -> dict[str, Any]:
    """Masks (awkward, over every object) of physlite_met's default selection
    (``DEFAULT_SELECTION``: pT, |eta|, ID, isolation, crack veto) for electrons, photons, taus
    and muons; the job's own selection algorithms decide each object."""
    _, ak = uproot_and_awkward()
    flags: dict[str, Any] = {}
    for kind, cuts in DEFAULT_SELECTION.items():
        flags.update({f"met.{kind}.min_pt": cuts.min_pt, f"met.{kind}.max_eta": cuts.max_abs_eta,
                      f"met.{kind}.id": cuts.id_level, f"met.{kind}.isolated": cuts.isolated,
                      f"met.{kind}.crack_veto": cuts.crack_veto})
    masks = {}
    for kind in DEFAULT_SELECTION:
        container = events.container(kind)
        selected = physlite_selection_cfg(flags, kind, ATLAS_NAMING).compute(container)
        flat = np.zeros(len(container), np.bool_)
        flat[selected.original_global_index()] = True
        masks[kind] = ak.unflatten(flat, container.counts())
    return masks


def _flat(values: Any, container: Container, what: str, dtype=None) -> np.ndarray:
    """A per-object array (awkward jagged like the container, or flat numpy) as flat numpy."""
    _, ak = uproot_and_awkward()
    if isinstance(values, np.ndarray) and values.ndim == 1:
        flat = values
    else:
        array = ak.Array(values) if not isinstance(values, ak.Array) else values
        if array.ndim != 2 or len(array) != container.n_events:
            raise ValueError(f"{what}: expected one list per event ({container.n_events} events, "
                             f"like the unfiltered objects), got type {ak.type(array)}")
        counts = ak.to_numpy(ak.num(array, axis=1))
        if not np.array_equal(counts, container.counts()):
            bad = int(np.flatnonzero(counts != container.counts())[0])
            raise ValueError(f"{what}: event {bad} has {counts[bad]} entries but "
                             f"{container.counts()[bad]} objects: masks and kinematics refer to "
                             f"the unfiltered objects (shape of ak.local_index), not a selection")
        flat = ak.to_numpy(ak.flatten(array, axis=1))
    if flat.shape != (len(container),):
        raise ValueError(f"{what}: {flat.shape[0]} values for {len(container)} objects")
    if dtype is np.bool_ and flat.dtype != np.bool_:
        raise ValueError(f"{what}: a mask must be boolean, got {flat.dtype}")
    return flat if dtype is None or dtype is np.bool_ else np.asarray(flat, dtype)


def _overrides(value: Any, container: Container, kind: str) -> dict[str, np.ndarray]:
    """Replacement (px, py, pz, e) float32 per object from records or a mapping that hold
    either (pt, eta, phi, m|mass), converted as the PHYSLITE reader converts, or (px, py, pz, e)."""
    _, ak = uproot_and_awkward()
    fields = set(value.keys() if isinstance(value, Mapping) else ak.fields(value))
    mass = "m" if "m" in fields else "mass"
    polar = set(_POLAR) <= fields and mass in fields
    cartesian = set(_CARTESIAN) <= fields
    if polar == cartesian:
        why = "both" if polar else "neither"
        raise ValueError(f"kinematics[{kind!r}] has {why} of (pt, eta, phi, m) and (px, py, pz, e) "
                         f"(fields: {sorted(fields)}); give exactly one set, e.g. "
                         f"{{'pt': jets.pt * 1.02, 'eta': jets.eta, 'phi': jets.phi, "
                         f"'m': jets.m * 1.02}}")
    names = (*_POLAR, mass) if polar else _CARTESIAN
    arrays = [_flat(value[n], container, f"kinematics[{kind!r}].{n}", np.float64) for n in names]
    if polar:
        return _four_momentum(*arrays)
    return {n: a.astype(np.float32) for n, a in zip(_CARTESIAN, arrays)}


def _view(container: Container, mask: np.ndarray | None, overrides: dict | None) -> Container:
    """The shallow copy METMaker reads: the masked objects, with replaced kinematics."""
    if mask is None and not overrides:
        return container
    return container.shallow_copy(overrides, select=mask, key=container.key)


def rebuild_met(events: PhysliteEvents, *, electrons: Any = None, photons: Any = None,
                taus: Any = None, muons: Any = None, jets: Any = None,
                kinematics: Mapping[str, Any] | None = None,
                invisible: Mapping[str, Any] | None = None, jet_selection: str = "Tight",
                soft_term: str = "track", significance: bool | str = False, do_jvt: bool = True,
                remove_muon_jets: bool = True, set_muon_jet_em_scale: bool = True,
                jet_eta_max_veto: bool = False):
    """MET rebuilt by METMaker from the chunk's map and core, per event, every term.

    - ``electrons``, ``photons``, ``taus``, ``muons``: boolean masks over every object of the
      chunk (jagged like ``events.electrons``, or flat numpy); None selects none of that kind.
      The selected objects enter their term (RefEle, RefGamma, RefTau, Muons) in that order.
    - ``jets``: None passes every jet to METMaker, whose working point ``jet_selection``
      (Loose, Tight, Tighter, Tenacious, Tier0, HRecoil) and NNJvt decision (``do_jvt``) decide;
      a mask rejects the jets it leaves out as METMaker's JetRejectionDec does (not in RefJet
      nor the CST; their tracks stay in the TST).
    - ``kinematics``: {kind: objects} replacing the four-momenta MET uses (a JES or EGamma
      variation), records or a mapping with (pt, eta, phi, m) or (px, py, pz, e), one entry per
      object like the masks. Jets keep their constituent scale (METMaker's overlap removal).
    - ``invisible``: {kind: mask}, one kind: markInvisible, as if those objects were not seen
      (term ``Invisibles``, left out of the total).
    - ``soft_term``: "track" (TST: PVSoftTrk, FinalTrk; ATLAS's choice with PFlow jets),
      "cluster" (CST: SoftClus, FinalClus) or "both". PHYSLITE stores both core terms
      (PVSoftTrkCore, SoftClusCore); the map's cluster sums are PFlow neutral constituents.
    - ``significance``: False, True ("atlas-random": ATLAS's constant 8.5 GeV soft term, the
      choice for PHYSLITE) or a model name of ``RESOLUTION_MODELS``; adds a ``significance``
      field {s, sqrt_s, met, var_l, var_t, rho} for the total term.
    - the muon-jet rules (DoRemoveMuonJets, DoSetMuonJetEMScale and its MuonEloss term) and
      ``jet_eta_max_veto`` default to ATLAS's PHYSLITE configuration (physlite_met's).

    Returns an awkward record per event: first the event identity (``IDENTITY_FIELDS``:
    runNumber, eventNumber, and where the file has them mcChannelNumber, mcEventWeight), then
    one field per term (Invisibles, RefEle, RefGamma, RefTau, Muons, MuonEloss, RefJet, the
    soft term(s), FinalTrk/FinalClus), each {mpx, mpy, sumet, met, phi} (float32, MeV). Every
    call has its own helper and builder: threads may rebuild concurrently, from the same events
    too.
    """
    masks = {"electrons": electrons, "photons": photons, "taus": taus, "muons": muons,
             "jets": jets}
    kinematics = dict(kinematics or {})
    invisible = dict(invisible or {})
    for what, given, allowed in (("kinematics", kinematics, OBJECT_KINDS),
                                 ("invisible", invisible, tuple(_TERMS))):
        unknown = [k for k in given if k not in allowed]
        if unknown:
            raise ValueError(f"{what}: unknown object kind(s) {unknown}; kinds: {list(allowed)}")
    if len(invisible) > 1:
        raise ValueError(f"invisible: one object kind (METMaker's markInvisible fills one "
                         f"Invisibles term), got {list(invisible)}")
    if jet_selection not in JET_WORKING_POINTS:
        close = difflib.get_close_matches(str(jet_selection), list(JET_WORKING_POINTS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"jet_selection: unknown working point {jet_selection!r}{hint} "
                         f"(known: {list(JET_WORKING_POINTS)})")
    if soft_term not in SOFT_TERMS:
        raise ValueError(f"soft_term: {soft_term!r}; choose one of {list(SOFT_TERMS)}")
    model = "atlas-random" if significance is True else (significance or "")
    if model and model not in RESOLUTION_MODELS:
        raise ValueError(f"significance: unknown model {model!r}; known: {list(RESOLUTION_MODELS)}")
    maker = METMakerAlg(
        name="rebuild_met", jet_selection=jet_selection, do_jvt=do_jvt, do_pflow=True,
        soft_terms=soft_term, use_r21_jvt_fallback=False, do_remove_muon_jets=remove_muon_jets,
        do_set_muon_jet_em_scale=set_muon_jet_em_scale,
        jet_eta_max_veto=jet_eta_max_veto).make_maker()

    views: dict[str, Container] = {}
    flat_masks: dict[str, np.ndarray | None] = {}
    overrides = {}
    for kind in OBJECT_KINDS:
        container = events.container(kind)
        given = masks[kind]
        if given is None:
            flat_masks[kind] = None if kind == "jets" else np.zeros(len(container), np.bool_)
        else:
            flat_masks[kind] = _flat(given, container, f"{kind} mask", np.bool_)
        overrides[kind] = (_overrides(kinematics[kind], container, kind)
                           if kind in kinematics else None)
        select = None if kind == "jets" else flat_masks[kind]
        views[kind] = _view(container, select, overrides[kind])

    assoc_map, core = events.assoc_map, events.core
    helper = MissingETAssociationHelper(assoc_map)
    met = METBuilder(events.n_events)
    rule_muons = views["muons"]
    for kind, given in invisible.items():
        obj_type = _TERMS[kind][0]
        mask = _flat(given, events.container(kind), f"invisible {kind} mask", np.bool_)
        hidden = _view(events.container(kind), mask, overrides[kind])
        maker.mark_invisible(obj_type, hidden, helper, met)
        if kind == "muons":   # the muon-jet rules see every used muon, as METMaker's do
            rule_muons = _view(events.container(kind), mask | flat_masks["muons"],
                               overrides[kind])
    for kind, (obj_type, term) in _TERMS.items():
        maker.rebuild_met(term, obj_type, views[kind], helper, met)
    names = SOFT_TERMS[soft_term]
    rejected = None if flat_masks["jets"] is None else ~flat_masks["jets"]
    maker.rebuild_jet_met(mk.REF_JET, names, met, views["jets"], core, helper, do_jvt=do_jvt,
                          rejected=rejected, muons=rule_muons, electrons=views["electrons"])
    if mk.PV_SOFT_TRK in names:
        maker.build_met_sum(mk.FINAL_TRK, met, Source.track())
    if mk.SOFT_CLUS in names:
        maker.build_met_sum(mk.FINAL_CLUS, met, Source.cluster_lc())
    extra = {}
    if model:
        total = mk.FINAL_TRK if mk.PV_SOFT_TRK in names else mk.FINAL_CLUS
        hard = {term: obj_type for obj_type, term in _TERMS.values()}
        hard[mk.REF_JET] = ObjectType.Jet
        sig = significance_for_model(model, track_soft_term=total == mk.FINAL_TRK)
        extra["significance"] = sig.from_builder(met, total, hard).columns
    return met_record(met.to_container(), extra, identity=events.identity_columns)


__all__ = ["rebuild_met", "default_selection", "SOFT_TERMS"]
