"""Electrons, photons, muons, taus and LRT leptons of the synthetic generator, with their links.

Objects are truth-seeded: a truth lepton with detector activity becomes a reconstructed one with
some efficiency, identification bits and isolation; jets fake electrons and photons and
hadronic taus (true and fake) are built from their seeds' PFOs. Random numbers come from the
event's object stream only.
"""

import math

from metflow.edm.units import GeV
from metflow.framework.jit import kernel
from ._synthetic_layout import (CL_PT, C_P, C_S, M_E, M_MU, P_CLU, P_CLU2, P_CPFO, P_ETA, P_NPFO, P_NPFO2,
                                P_PHI, P_PT, P_Q, P_SEED, P_TRK, P_TYPE, S_B, S_ETA, S_FIRST, S_KIND, S_LAST,
                                S_LIGHT, S_PT, S_PUJET, S_TAU, S_TAU_FAKE, TK_ETA, TK_PHI, TK_Q, T_CH, T_ELE,
                                T_LRT_ELE, T_LRT_MU, T_MU, T_PH, X_E, X_PX, X_PY, X_PZ)
from ._synthetic_random import normal, u01
from ._synthetic_kinematics import p4_from_e_eta_phi, p4_ptetaphim
from ._synthetic_jets import root
from ._synthetic_links import (L_ELE_CLU, L_ELE_PFO, L_ELE_TRK, L_LELE_CLU, L_LELE_PFO, L_LELE_TRK,
                               L_LMUO_CLU, L_LMUO_PFO, L_MUO_CLU, L_MUO_PFO, L_PHO_CLU, L_PHO_PFO, L_PHO_TRK,
                               L_TAU_CLU, L_TAU_PFO, L_TAU_TRK, add_link, link_particle)

MU_SPEC_ETA_MAX, ELE_ETA_MAX = 2.7, 2.47


@kernel
def _id_bits(st, p_loose, p_medium, p_tight):
    u = u01(st)
    if u < p_tight:
        return 7
    if u < p_medium:
        return 3
    if u < p_loose:
        return 1
    return 0


@kernel
def _particle_cluster_energy(P, C, i):
    e = 0.0
    for c in (P_CLU, P_CLU2):
        if P[i, c] >= 0:
            e += C[int(P[i, c]), X_E]
    return e


@kernel
def _is_isolated(S, n_seeds, s):
    """A seed is isolated when no other seed was merged with it or into its group."""
    r = root(S, s)
    for k in range(n_seeds):
        if k != s and root(S, k) == r:
            return False
    return True


@kernel
def _egamma_row(E, n, p4, q, ident, iso):
    for k in range(4):
        E[n, k] = p4[k]
    E[n, 4] = q
    E[n, 5] = ident
    E[n, 6] = 1.0 if iso else 0.0


@kernel
def reco_objects(st, lrt, P, S, T, C, F, cnt, ELE, PHO, MUO, TAU, LELE, LMUO, nobj, Lk):
    """Electrons, photons, muons, taus (and LRT leptons) from truth + detector tables."""
    n_seeds = cnt[C_S]
    for k in range(6):
        nobj[k] = 0
    for i in range(cnt[C_P]):
        ptype = int(P[i, P_TYPE])
        pt, eta, phi, q = P[i, P_PT], P[i, P_ETA], P[i, P_PHI], P[i, P_Q]
        if ptype == T_ELE or ptype == T_LRT_ELE:
            if abs(eta) > ELE_ETA_MAX or pt < 4.5 * GeV or P[i, P_CLU] < 0 or u01(st) > 0.95:
                continue
            e = _particle_cluster_energy(P, C, i)
            s = int(P[i, P_SEED])
            iso = _is_isolated(S, n_seeds, s)
            iso = (u01(st) < 0.97) if iso else (u01(st) < 0.1)
            tr = int(P[i, P_TRK])
            if tr >= 0:
                p4 = p4_from_e_eta_phi(e, T[tr, TK_ETA], T[tr, TK_PHI], M_E)
            else:
                p4 = p4_from_e_eta_phi(e, eta, phi, 0.0)
            if ptype == T_LRT_ELE:
                if tr >= 0:
                    n = nobj[4]
                    _egamma_row(LELE, n, p4, q, _id_bits(st, 0.9, 0.8, 0.65), iso)
                    link_particle(Lk, cnt, P, i, n, L_LELE_CLU, L_LELE_TRK, L_LELE_PFO, True, False)
                    nobj[4] = n + 1
                continue
            if tr >= 0:
                n = nobj[0]
                _egamma_row(ELE, n, p4, q, _id_bits(st, 0.95, 0.88, 0.78), iso)
                link_particle(Lk, cnt, P, i, n, L_ELE_CLU, L_ELE_TRK, L_ELE_PFO, True, True)
                nobj[0] = n + 1
                ambiguous = u01(st) < 0.08
            else:
                ambiguous = True
            if ambiguous:
                n = nobj[1]
                _egamma_row(PHO, n, p4, 0.0, _id_bits(st, 0.5, 0.2, 0.05), iso)
                link_particle(Lk, cnt, P, i, n, L_PHO_CLU, L_PHO_TRK, L_PHO_PFO, False, False)
                nobj[1] = n + 1
        elif ptype == T_MU or ptype == T_LRT_MU:
            if abs(eta) > MU_SPEC_ETA_MAX or pt < 3 * GeV or u01(st) > 0.97:
                continue
            tr = int(P[i, P_TRK])
            lrt_mu = ptype == T_LRT_MU and tr >= 0
            if tr >= 0:
                mtype = 0
                if pt < 6 * GeV and u01(st) < 0.3:
                    mtype = 2
                elif abs(eta) < 0.1 and u01(st) < 0.5:
                    mtype = 3
                sigma = math.sqrt(0.02 ** 2 + (0.0002 * pt / GeV) ** 2)
            else:
                mtype = 1
                sigma = 0.08
            mpt = pt * max(1.0 + sigma * normal(st), 0.1)
            p4 = p4_ptetaphim(mpt, eta, phi, M_MU)
            ident = 1 if mtype == 3 else _id_bits(st, 0.99, 0.96, 0.9)
            if lrt_mu:
                M, n, kc, kp = LMUO, nobj[5], L_LMUO_CLU, L_LMUO_PFO
            else:
                M, n, kc, kp = MUO, nobj[2], L_MUO_CLU, L_MUO_PFO
            for k in range(4):
                M[n, k] = p4[k]
            M[n, 4] = q
            M[n, 5] = tr
            M[n, 6] = mtype
            M[n, 7] = ident
            link_particle(Lk, cnt, P, i, n, kc, -1, kp, False, True)
            if lrt_mu:
                nobj[5] = n + 1
            else:
                nobj[2] = n + 1
    # fakes from jets and hadronic taus
    for s in range(n_seeds):
        kind = int(S[s, S_KIND])
        first, last = int(S[s, S_FIRST]), int(S[s, S_LAST])
        if kind == S_TAU or kind == S_TAU_FAKE:
            px, py, pz, e, charge = 0.0, 0.0, 0.0, 0.0, 0.0
            for i in range(first, last):
                for c in (P_CPFO, P_NPFO, P_NPFO2):
                    if P[i, c] >= 0:
                        f = int(P[i, c])
                        px += F[f, X_PX]
                        py += F[f, X_PY]
                        pz += F[f, X_PZ]
                        e += F[f, X_E]
                if P[i, P_TRK] >= 0:
                    charge += T[int(P[i, P_TRK]), TK_Q]
            if math.hypot(px, py) < 20 * GeV or abs(S[s, S_ETA]) > 2.5 or u01(st) > 0.8:
                continue
            n = nobj[3]
            TAU[n, 0], TAU[n, 1], TAU[n, 2], TAU[n, 3] = px, py, pz, e
            TAU[n, 4] = max(min(charge, 3.0), -3.0)
            TAU[n, 5] = _id_bits(st, 0.8, 0.6, 0.45) if kind == S_TAU else _id_bits(st, 0.3, 0.1, 0.03)
            for i in range(first, last):
                if P[i, P_TRK] >= 0:
                    add_link(Lk, cnt, L_TAU_TRK, n, int(P[i, P_TRK]))
            for i in range(first, last):
                for c in (P_CLU, P_CLU2):
                    if P[i, c] >= 0:
                        add_link(Lk, cnt, L_TAU_CLU, n, int(P[i, c]))
            for i in range(first, last):
                for c in (P_CPFO, P_NPFO, P_NPFO2):
                    if P[i, c] >= 0:
                        add_link(Lk, cnt, L_TAU_PFO, n, int(P[i, c]))
            nobj[3] = n + 1
        elif (kind == S_LIGHT or kind == S_B or kind == S_PUJET) and S[s, S_PT] > 20 * GeV:
            lead_ph, lead_ch = -1, -1
            for i in range(first, last):
                if P[i, P_TYPE] == T_PH and P[i, P_CLU] >= 0:
                    if lead_ph < 0 or P[i, P_PT] > P[lead_ph, P_PT]:
                        lead_ph = i
                elif P[i, P_TYPE] == T_CH and P[i, P_TRK] >= 0:
                    if lead_ch < 0 or P[i, P_PT] > P[lead_ch, P_PT]:
                        lead_ch = i
            if lead_ph < 0:
                continue
            u = u01(st)
            cl = int(P[lead_ph, P_CLU])
            if u < 0.03 and lead_ch >= 0:
                tr = int(P[lead_ch, P_TRK])
                e = C[cl, X_E] + _particle_cluster_energy(P, C, lead_ch)
                p4 = p4_from_e_eta_phi(e, T[tr, TK_ETA], T[tr, TK_PHI], M_E)
                n = nobj[0]
                _egamma_row(ELE, n, p4, T[tr, TK_Q], _id_bits(st, 0.5, 0.15, 0.03), u01(st) < 0.05)
                add_link(Lk, cnt, L_ELE_CLU, n, cl)
                if P[lead_ch, P_CLU] >= 0:
                    add_link(Lk, cnt, L_ELE_CLU, n, int(P[lead_ch, P_CLU]))
                add_link(Lk, cnt, L_ELE_TRK, n, tr)
                for c in (P_CPFO, P_NPFO):
                    if P[lead_ch, c] >= 0:
                        add_link(Lk, cnt, L_ELE_PFO, n, int(P[lead_ch, c]))
                if P[lead_ph, P_NPFO] >= 0:
                    add_link(Lk, cnt, L_ELE_PFO, n, int(P[lead_ph, P_NPFO]))
                nobj[0] = n + 1
            elif u < 0.07 and C[cl, CL_PT] > 5 * GeV:
                n = nobj[1]
                p4 = (C[cl, X_PX], C[cl, X_PY], C[cl, X_PZ], C[cl, X_E])
                _egamma_row(PHO, n, p4, 0.0, _id_bits(st, 0.4, 0.1, 0.02), u01(st) < 0.1)
                add_link(Lk, cnt, L_PHO_CLU, n, cl)
                if P[lead_ph, P_NPFO] >= 0:
                    add_link(Lk, cnt, L_PHO_PFO, n, int(P[lead_ph, P_NPFO]))
                nobj[1] = n + 1
