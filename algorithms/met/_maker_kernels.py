"""Numba kernels of METMaker: object terms, jet term and soft terms over a block of events.

Every kernel loops over the events of the block itself and touches only arrays: the
association map (read-only, passed as the tuple built by `maker.map_arrays`), the helper's
per-association selection masks (`selected`, uint64, mutated), the objects' columns and the
float64 output accumulators. Kernels release the GIL, so several threads rebuild at once.

Layout of the map tuple `m` (see docs/internals.md, MissingETAssociationMap):
  0 assoc_offsets  1 jet_index  2 is_misc  3 obj_offsets  4 obj_container  5 obj_index
  6 obj_type  7 ovl_offsets  8 ovl_index  9 ovl_type  10 cal_offsets  11 cal_key
  12..16 cal_px, cal_py, cal_pz, cal_e, cal_sumpt  17 trk_offsets  18 trk_key
  19..23 trk_px, trk_py, trk_pz, trk_e, trk_sumpt  24..28 jettrk_px, _py, _pz, _e, _sumpt
"""

from __future__ import annotations

import numpy as np

from metflow.edm.units import GeV
from metflow.framework.jit import kernel

# xAOD::Type values of the objects held in the associations.
TYPE_JET = 2
TYPE_ELECTRON = 6
TYPE_PHOTON = 7
TYPE_MUON = 8
TYPE_TAU = 9
MUON_CALO_TAGGED = 3

_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_EL_TRK_PT_MIN = 90.0 * GeV       # electrons above this pT enter the jet electron-track rule
_JET_UNIQUE_TRK_MIN = 10.0 * GeV  # unique jet track pT for passJetForEl

# Indices into the float parameter array of `rebuild_jets`.
P_CEN_PT, P_FWD_PT, P_ETA_FORW, P_ETA_MAX, P_JVT_CUT, P_JVT_PT_MIN, P_JVT_PT_MAX, \
    P_JVT_ETA_MAX, P_MIN_EFRAC, P_MIN_WEIGHTED_PT, P_MU_JET_PT_RATIO, P_MU_TRK_FRAC, \
    P_MU_TRK_N, P_FSR_TRK_N, P_FSR_EMF, P_FSR_WIDTH, P_FSR_PS_E = range(17)
N_FLOAT_PARAMS = 17
# Indices into the integer flag array of `rebuild_jets`.
F_DO_JVT, F_CORRECT_PHI, F_REMOVE_MUON_JETS, F_REMOVE_ELEC_TRKS, F_TRACKS_FOR_HARD_JETS, \
    F_DO_CST, F_CST_CENTRAL_ONLY, F_DO_TST, F_TST_CENTRAL_ONLY, F_JET_CONTAINER, \
    F_MUON_CONTAINER, F_ELE_CONTAINER, F_JVT_MODE, F_ETA_MAX_VETO, F_MUON_JET_EM_SCALE, \
    F_VERY_GREEDY_PHOTONS = range(16)
N_FLAGS = 16
# F_JVT_MODE values: NNJvt selection tool on a stored decision (jvt > 0.5 passes) inside the
# tool's range, or the R21 fallback cut on the JVT moment.
JVT_NNJVT, JVT_R21_FALLBACK = 0, 1
# Columns of the jet-kernel output (n_events, 12): jet, cluster soft, track soft, MuonEloss terms.
O_JET, O_CST, O_TST, O_MUON_ELOSS = 0, 3, 6, 9
N_OUT = 12
# Per-jet status written by `rebuild_jets`.
JET_NOT_PROCESSED, JET_HARD, JET_SOFT, JET_REJECTED, JET_NO_ASSOC, JET_MUON_FSR = 0, 1, 2, 3, 4, 5

# Helpers that take the map tuple are inlined (kernel(inline="always")): that avoids passing (and
# reference-counting) its 29 arrays on every call, which otherwise dominates the kernels' run time.


@kernel(inline="always")
def _bit(i):
    return _ONE << np.uint64(i)


@kernel(inline="always")
def _find_object(obj_offsets, obj_container, obj_index, a0, a1, container, index, found_assoc,
                 found_obj):
    """Associations of event range [a0, a1) holding object (container, index); returns count."""
    n = 0
    for a in range(a0, a1):
        for o in range(obj_offsets[a], obj_offsets[a + 1]):
            if obj_container[o] == container and obj_index[o] == index:
                found_assoc[n] = a
                found_obj[n] = o
                n += 1
                break
    return n


@kernel(inline="always")
def _is_selected_anywhere(obj_offsets, selected, found_assoc, found_obj, n):
    for k in range(n):
        a = found_assoc[k]
        if selected[a] & _bit(found_obj[k] - obj_offsets[a]):
            return True
    return False


@kernel(inline="always")
def _has_overlaps(ovl_offsets, ovl_index, ovl_type, selected, a, o, policy_mask):
    """MissingETAssociation::hasOverlaps: a selected overlapping object with a policy type bit."""
    if policy_mask == 0:
        return False
    for q in range(ovl_offsets[o], ovl_offsets[o + 1]):
        if (selected[a] & _bit(ovl_index[q])) and (ovl_type[q] & policy_mask) != 0:
            return True
    return False


@kernel(inline="always")
def _key_sum(offsets, keys, px, py, sumpt, a, mask, want_intersect, out):
    """Sum of the entries of association a whose key intersects `mask` (or, if not
    `want_intersect`, does not); out = (px, py, sumpt, e) accumulators, pz omitted."""
    for k in range(offsets[a], offsets[a + 1]):
        hit = (keys[k] & mask) != _ZERO
        if hit == want_intersect:
            out[0] += px[k]
            out[1] += py[k]
            out[2] += sumpt[k]


@kernel
def rebuild_objects(m, selected, container, ev_offsets, px, py, orig_index, use, muon_type,
                    policy_mask, remove_overlap, is_electron, greedy_mode, or_calo_tagged,
                    constituent_scale, constituent_trk, out, weight):
    """METMaker::rebuildMET for one object collection over a block.

    out: float64[n_events, 3] (mpx, mpy, sumet) accumulated in place; weight: float32 per
    object, 1 for objects added to the term. greedy_mode: 0 none, 1 flag overlapping
    electrons, 2 also jets (set by the caller for photons only).
    """
    assoc_offsets, obj_offsets, obj_container, obj_index, obj_type = m[0], m[3], m[4], m[5], m[6]
    ovl_offsets, ovl_index, ovl_type = m[7], m[8], m[9]
    cal_offsets, cal_key, cal_px, cal_py, cal_sumpt = m[10], m[11], m[12], m[13], m[16]
    trk_offsets, trk_key, trk_px, trk_py, trk_sumpt = m[17], m[18], m[19], m[20], m[23]
    n_events = ev_offsets.shape[0] - 1
    max_assoc = 1
    for e in range(n_events):
        max_assoc = max(max_assoc, assoc_offsets[e + 1] - assoc_offsets[e])
    found_assoc = np.empty(max_assoc, np.int64)
    found_obj = np.empty(max_assoc, np.int64)
    for e in range(n_events):
        a0 = assoc_offsets[e]
        a1 = assoc_offsets[e + 1]
        for i in range(ev_offsets[e], ev_offsets[e + 1]):
            weight[i] = 0.0
            if not use[i] or a0 == a1:  # empty map (no PV): the term stays empty
                continue
            n = _find_object(obj_offsets, obj_container, obj_index, a0, a1, container, orig_index[i],
                             found_assoc, found_obj)
            if n == 0 and is_electron:
                continue  # an electron missing from the map stays in the soft term
            if _is_selected_anywhere(obj_offsets, selected, found_assoc, found_obj, n):
                continue
            overlap = False
            for k in range(n):
                if _has_overlaps(ovl_offsets, ovl_index, ovl_type, selected, found_assoc[k],
                                 found_obj[k], policy_mask):
                    overlap = True
                    break
            if not overlap:
                for k in range(n):
                    a = found_assoc[k]
                    selected[a] |= _bit(found_obj[k] - obj_offsets[a])
            chosen = (not overlap) or (not remove_overlap)
            if chosen and greedy_mode > 0:
                for k in range(n):
                    a = found_assoc[k]
                    o = found_obj[k]
                    for q in range(ovl_offsets[o], ovl_offsets[o + 1]):
                        t = obj_type[obj_offsets[a] + ovl_index[q]]
                        if t == TYPE_ELECTRON or (greedy_mode == 2 and t == TYPE_JET):
                            selected[a] |= _bit(ovl_index[q])
            if chosen and or_calo_tagged and not remove_overlap and muon_type.shape[0] > 0 \
                    and muon_type[i] == MUON_CALO_TAGGED:
                for k in range(n):
                    a = found_assoc[k]
                    o = found_obj[k]
                    for q in range(ovl_offsets[o], ovl_offsets[o + 1]):
                        j = ovl_index[q]
                        if obj_type[obj_offsets[a] + j] == TYPE_ELECTRON and (selected[a] & _bit(j)):
                            chosen = False
            if not chosen:
                continue
            if constituent_scale:
                acc = np.zeros(4)
                for k in range(n):
                    a = found_assoc[k]
                    mask = _bit(found_obj[k] - obj_offsets[a])
                    if constituent_trk:
                        _key_sum(trk_offsets, trk_key, trk_px, trk_py, trk_sumpt, a, mask, True, acc)
                    else:
                        _key_sum(cal_offsets, cal_key, cal_px, cal_py, cal_sumpt, a, mask, True, acc)
                out[e, 0] -= acc[0]
                out[e, 1] -= acc[1]
                out[e, 2] += np.hypot(acc[0], acc[1])
            else:
                opx = np.float64(px[i])
                opy = np.float64(py[i])
                out[e, 0] -= opx
                out[e, 1] -= opy
                out[e, 2] += np.hypot(opx, opy)
            weight[i] = 1.0


@kernel(inline="always")
def _lookup(ev_offsets, orig_index, values, e, index, default):
    for i in range(ev_offsets[e], ev_offsets[e + 1]):
        if orig_index[i] == index:
            return values[i]
    return default


@kernel(inline="always")
def _lookup_index(ev_offsets, orig_index, e, index):
    for i in range(ev_offsets[e], ev_offsets[e + 1]):
        if orig_index[i] == index:
            return i
    return -1


@kernel
def rebuild_jets(m, selected, par, flags, ev_offsets, px, py, pz, cpx, cpy, cpz, ce, jvt,
                 det_eta, orig_index, use, rejected, jet_trk_sumpt, jet_trk_n, jet_emfrac,
                 jet_width, jet_ps_e, mu_offsets, mu_orig, mu_id_pt, mu_eloss,
                 el_offsets, el_orig, el_pt, out, weight, status):
    """METMaker::rebuildJetMET / rebuildTrackMET over a block.

    out: float64[n_events, N_OUT], columns O_JET, O_CST, O_TST, O_MUON_ELOSS (mpx, mpy, sumet)
    accumulated in place on top of what the caller put there (the core soft terms). weight:
    uniquefrac per jet; status: JET_* code per jet. The muon-in-jet arrays (jet_trk_*,
    jet_emfrac, jet_width, jet_ps_e, mu_*) are float32 as the ATLAS decorations, and the
    muon-jet rules compute in float32 where METMaker does.
    """
    assoc_offsets, jet_index, is_misc, obj_offsets = m[0], m[1], m[2], m[3]
    obj_container, obj_index, obj_type = m[4], m[5], m[6]
    cal_offsets, cal_key, cal_px, cal_py, cal_pz, cal_e, cal_sumpt = \
        m[10], m[11], m[12], m[13], m[14], m[15], m[16]
    trk_offsets, trk_key, trk_px, trk_py, trk_sumpt = m[17], m[18], m[19], m[20], m[23]
    jt_px, jt_py, jt_e, jt_sumpt = m[24], m[25], m[27], m[28]
    do_jvt = flags[F_DO_JVT] != 0
    nnjvt = flags[F_JVT_MODE] == JVT_NNJVT
    tracks_for_hard = flags[F_TRACKS_FOR_HARD_JETS] != 0
    remove_muon_jets = flags[F_REMOVE_MUON_JETS] != 0
    muon_jet_em_scale = flags[F_MUON_JET_EM_SCALE] != 0
    do_cst = flags[F_DO_CST] != 0
    do_tst = flags[F_DO_TST] != 0
    jet_cont = flags[F_JET_CONTAINER]
    mu_cont = flags[F_MUON_CONTAINER]
    el_cont = flags[F_ELE_CONTAINER]
    n_events = ev_offsets.shape[0] - 1
    max_assoc = 1
    for e in range(n_events):
        max_assoc = max(max_assoc, assoc_offsets[e + 1] - assoc_offsets[e])
    found_assoc = np.empty(max_assoc, np.int64)
    found_obj = np.empty(max_assoc, np.int64)
    tmp = np.zeros(4)
    for e in range(n_events):
        a0 = assoc_offsets[e]
        a1 = assoc_offsets[e + 1]
        if a0 == a1:  # empty map (no PV): no jet or soft term, not even the core
            out[e, :] = 0.0
        for i in range(ev_offsets[e], ev_offsets[e + 1]):
            weight[i] = 0.0
            status[i] = JET_NOT_PROCESSED
            if not use[i] or a0 == a1:
                continue
            ji = orig_index[i]
            a = a0 + ji
            if ji < 0 or a >= a1 or jet_index[a] != ji or is_misc[a]:
                a = -1
                for b in range(a0, a1):
                    if jet_index[b] == ji and not is_misc[b]:
                        a = b
                        break
                if a < 0:
                    status[i] = JET_NO_ASSOC
                    continue
            jpx = np.float64(px[i])
            jpy = np.float64(py[i])
            jpt = np.hypot(jpx, jpy)
            aeta = np.abs(np.arcsinh(np.float64(pz[i]) / jpt)) if jpt > 0 else np.inf
            # a. kinematic selection, b. rejection: JetEtaMax, then the JVT decision overwrites it
            if aeta < par[P_ETA_FORW]:
                is_sel = jpt > par[P_CEN_PT]
            else:
                is_sel = jpt > par[P_FWD_PT]
            reject = par[P_ETA_MAX] > 0 and aeta > par[P_ETA_MAX]
            if do_jvt:
                if nnjvt:  # JvtSelectionToolBase: jets outside its pT and detector-eta range pass
                    in_range = not (jpt < par[P_JVT_PT_MIN] or jpt > par[P_JVT_PT_MAX]) \
                        and np.abs(np.float64(det_eta[i])) <= par[P_JVT_ETA_MAX]
                    reject = in_range and not (jvt[i] > 0.5)
                elif jpt < par[P_JVT_PT_MAX] and aeta < par[P_JVT_ETA_MAX]:
                    reject = jvt[i] < par[P_JVT_CUT]
            if flags[F_ETA_MAX_VETO] != 0 and par[P_ETA_MAX] > 0 and aeta > par[P_ETA_MAX]:
                reject = True
            if rejected[i]:
                reject = True
            # c. energy of selected objects inside the jet
            mask = selected[a]
            c_px = 0.0
            c_py = 0.0
            c_e = 0.0
            for k in range(cal_offsets[a], cal_offsets[a + 1]):
                if cal_key[k] & mask:
                    c_px += cal_px[k]
                    c_py += cal_py[k]
                    c_e += cal_e[k]
            caloverlap = c_e > 0
            # VeryGreedyPhotons: an overlapping jet holding a photon is counted as hard, so it
            # enters neither soft term (nor the jet term unless it passes the hard-jet cuts)
            forced_hard = False
            if caloverlap and flags[F_VERY_GREEDY_PHOTONS] != 0:
                for o in range(obj_offsets[a], obj_offsets[a + 1]):
                    if obj_type[o] == TYPE_PHOTON:
                        forced_hard = True
            # d. alternate constituent vector: express the overlap at the jet's constituent scale
            jpos = -1
            for o in range(obj_offsets[a], obj_offsets[a + 1]):
                if obj_type[o] == TYPE_JET and obj_container[o] == jet_cont and obj_index[o] == ji:
                    jpos = o - obj_offsets[a]
                    break
            jce = np.float64(ce[i])
            if jpos >= 0:
                alt_e = 0.0
                jbit = _bit(jpos)
                for k in range(cal_offsets[a], cal_offsets[a + 1]):
                    if cal_key[k] & jbit:
                        alt_e += cal_e[k]
                sf = jce / alt_e if alt_e > 1e-9 else 0.0
                c_px *= sf
                c_py *= sf
                c_e *= sf
            kpx = np.float64(cpx[i])
            kpy = np.float64(cpy[i])
            kpt = np.hypot(kpx, kpy)
            opx = kpx - c_px
            opy = kpy - c_py
            # f. selected muons and high-pT electrons among the jet's objects; h. muon-jet rules
            mu_mask = _ZERO
            mu_fsr_jet = False
            el_trk_px = 0.0
            el_trk_py = 0.0
            n_el = 0
            for o in range(obj_offsets[a], obj_offsets[a + 1]):
                local = o - obj_offsets[a]
                if obj_type[o] == TYPE_MUON:
                    if not (remove_muon_jets or muon_jet_em_scale):
                        continue
                    n = _find_object(obj_offsets, obj_container, obj_index, a0, a1,
                                     obj_container[o], obj_index[o], found_assoc, found_obj)
                    if not _is_selected_anywhere(obj_offsets, selected, found_assoc, found_obj, n):
                        continue
                    mu = _lookup_index(mu_offsets, mu_orig, e, obj_index[o]) \
                        if obj_container[o] == mu_cont else -1
                    if not reject and mu >= 0:
                        mu_pt = mu_id_pt[mu]
                        trk_sum = jet_trk_sumpt[i]
                        if 0.9999 * np.float64(mu_pt) > trk_sum:
                            trk_sum = np.float32(trk_sum + mu_pt)
                        trk_n = np.float64(jet_trk_n[i])
                        if remove_muon_jets and mu_pt > 1e-9 and trk_sum > 1e-9 \
                                and jpt / np.float64(mu_pt) < par[P_MU_JET_PT_RATIO] \
                                and np.float32(mu_pt / trk_sum) > par[P_MU_TRK_FRAC] \
                                and trk_n < par[P_MU_TRK_N]:
                            reject = True
                        if muon_jet_em_scale and trk_sum > 1e-9 and trk_n < par[P_FSR_TRK_N] \
                                and np.float32(mu_pt / trk_sum) > par[P_MU_TRK_FRAC] \
                                and jet_emfrac[i] > par[P_FSR_EMF] \
                                and jet_width[i] < par[P_FSR_WIDTH] \
                                and jet_ps_e[i] > par[P_FSR_PS_E]:
                            eloss = np.float64(mu_eloss[mu])
                            corr = np.float32(0.0) if eloss >= jce else np.float32(1.0 - eloss / jce)
                            opx *= corr
                            opy *= corr
                            mu_fsr_jet = True
                    mu_mask |= _bit(local)
                elif obj_type[o] == TYPE_ELECTRON and flags[F_REMOVE_ELEC_TRKS] != 0 \
                        and obj_container[o] == el_cont and (mask & _bit(local)):
                    if _lookup(el_offsets, el_orig, el_pt, e, obj_index[o], 0.0) > _EL_TRK_PT_MIN:
                        tmp[:] = 0.0
                        _key_sum(trk_offsets, trk_key, trk_px, trk_py, trk_sumpt, a, _bit(local),
                                 True, tmp)
                        el_trk_px += tmp[0]
                        el_trk_py += tmp[1]
                        n_el += 1
            # g. electron-track rule
            pass_jet_for_el = False
            if flags[F_REMOVE_ELEC_TRKS] != 0 and n_el > 0:
                tmp[:] = 0.0
                _key_sum(trk_offsets, trk_key, trk_px, trk_py, trk_sumpt, a, mask, True, tmp)
                unique_trk = np.float64(jt_sumpt[a]) - tmp[2]
                pass_jet_for_el = np.hypot(el_trk_px, el_trk_py) > 1e-9 and \
                    unique_trk > _JET_UNIQUE_TRK_MIN
            # i. muon calorimeter deposits are handed back to the jet
            m_px = 0.0
            m_py = 0.0
            m_e = 0.0
            if mu_mask != _ZERO:
                for k in range(cal_offsets[a], cal_offsets[a + 1]):
                    if cal_key[k] & mu_mask:
                        m_px += cal_px[k]
                        m_py += cal_py[k]
                        m_e += cal_e[k]
            opx += m_px
            opy += m_py
            opt = np.hypot(opx, opy)
            ovl_e = c_e - m_e
            if ovl_e == 0.0:
                uniquefrac = 1.0
            elif jce > 0:
                uniquefrac = 1.0 - ovl_e / jce
            else:
                uniquefrac = 0.0
            # k. a muon FSR jet goes, overlap-removed and energy-loss corrected, to MuonEloss only
            if mu_fsr_jet:
                out[e, O_MUON_ELOSS] -= opx
                out[e, O_MUON_ELOSS + 1] -= opy
                out[e, O_MUON_ELOSS + 2] += opt
                status[i] = JET_MUON_FSR
                continue
            # l. hard jet
            hard = forced_hard
            if is_sel and not reject:
                if not caloverlap:
                    hard = True
                    if not tracks_for_hard:
                        out[e, O_JET] -= jpx
                        out[e, O_JET + 1] -= jpy
                        out[e, O_JET + 2] += jpt
                elif (uniquefrac > par[P_MIN_EFRAC] or pass_jet_for_el) \
                        and opt > par[P_MIN_WEIGHTED_PT]:
                    hard = True
                    if not tracks_for_hard:
                        if flags[F_CORRECT_PHI] != 0:
                            jes = jpt / kpt if kpt > 0 else 0.0
                            out[e, O_JET] -= opx * jes
                            out[e, O_JET + 1] -= opy * jes
                            out[e, O_JET + 2] += opt * jes
                        else:
                            out[e, O_JET] -= uniquefrac * jpx
                            out[e, O_JET + 1] -= uniquefrac * jpy
                            out[e, O_JET + 2] += uniquefrac * jpt
            weight[i] = uniquefrac
            if hard:
                status[i] = JET_HARD
            elif reject:
                status[i] = JET_REJECTED
            else:
                status[i] = JET_SOFT
            # m. cluster soft term
            if not hard and do_cst and not reject:
                if aeta < 2.5 or flags[F_CST_CENTRAL_ONLY] == 0:
                    out[e, O_CST] -= opx
                    out[e, O_CST + 1] -= opy
                    out[e, O_CST + 2] += opt
            # n. track soft term (or jet tracks in track-MET mode)
            if do_tst and (not hard or tracks_for_hard):
                if jt_e[a] > 1e-9:
                    tmp[:] = 0.0
                    _key_sum(trk_offsets, trk_key, trk_px, trk_py, trk_sumpt, a, mask, True, tmp)
                    tpx = np.float64(jt_px[a]) - tmp[0]
                    tpy = np.float64(jt_py[a]) - tmp[1]
                    tpt = np.float64(jt_sumpt[a]) - tmp[2]
                else:
                    tpx = 0.0
                    tpy = 0.0
                    tpt = 0.0
                if hard:
                    out[e, O_JET] -= tpx
                    out[e, O_JET + 1] -= tpy
                    out[e, O_JET + 2] += tpt
                elif aeta < 2.5 or flags[F_TST_CENTRAL_ONLY] == 0:
                    out[e, O_TST] -= tpx
                    out[e, O_TST + 1] -= tpy
                    out[e, O_TST + 2] += tpt
        # 3. unselected objects of the misc association go to the soft terms
        for b in range(a1 - 1, a0 - 1, -1):
            if is_misc[b]:
                if do_tst:
                    tmp[:] = 0.0
                    _key_sum(trk_offsets, trk_key, trk_px, trk_py, trk_sumpt, b, selected[b],
                             False, tmp)
                    out[e, O_TST] -= tmp[0]
                    out[e, O_TST + 1] -= tmp[1]
                    out[e, O_TST + 2] += tmp[2]
                if do_cst:
                    tmp[:] = 0.0
                    _key_sum(cal_offsets, cal_key, cal_px, cal_py, cal_sumpt, b, selected[b],
                             False, tmp)
                    out[e, O_CST] -= tmp[0]
                    out[e, O_CST + 1] -= tmp[1]
                    out[e, O_CST + 2] += tmp[2]
                break


@kernel
def terms_to_f32(values):
    """float32[3, n_events, n_terms] (mpx, mpy, sumet) from the float64[n_events, 3] terms."""
    n_terms = len(values)
    n_events = values[0].shape[0]
    out = np.empty((3, n_events, n_terms), np.float32)
    for t in range(n_terms):
        v = values[t]
        for e in range(n_events):
            for c in range(3):
                out[c, e, t] = v[e, c]
    return out


# The selection and significance kernels live in modules named after them; re-exported here (their
# callers, and `metflow bench`'s kernel timing, reach every METMaker-side kernel through this module).
from ._selection_kernels import SEL_UNDECIDED, scaled_p4, select_objects, take_lists  # noqa: E402,F401
from ._significance_kernels import (SIG_ELECTRON_PHOTON, SIG_JET, SIG_MUON, SIG_TAU,  # noqa: E402,F401
                                    SIG_UNDECIDED, significance_record, significance_soft,
                                    significance_term)
