"""Numba kernels of the toy detector: calorimeter deposits, topo-clustering, particle-flow subtraction.

Every kernel works on flat per-event arrays and takes its random numbers as arguments, so the
kernels themselves are deterministic; the caller owns the random streams.
"""

import numpy as np

from metflow.framework.jit import kernel


@kernel
def _wrap_phi_bin(iphi, n_phi):
    if iphi < 0:
        return iphi + n_phi
    if iphi >= n_phi:
        return iphi - n_phi
    return iphi


@kernel
def deposit_energy(eta, phi, e_em, e_had, eta_max, n_eta, n_phi, core_em, core_had, cell_em, cell_had, cell_of):
    """Add each particle's EM and hadronic deposits to a (eta, phi) cell grid.

    A fraction ``core_*`` goes to the impact cell, the rest is shared equally by its 8 neighbours
    (shares falling outside |eta| < eta_max stay in the impact cell). ``cell_of`` receives the
    impact cell of each particle (-1 outside the calorimeter).
    """
    d_eta = 2.0 * eta_max / n_eta
    d_phi = 2.0 * np.pi / n_phi
    for i in range(eta.size):
        if not (abs(eta[i]) < eta_max) or (e_em[i] <= 0.0 and e_had[i] <= 0.0):
            cell_of[i] = -1
            continue
        ie = int((eta[i] + eta_max) / d_eta)
        if ie >= n_eta:
            ie = n_eta - 1
        p = phi[i] % (2.0 * np.pi)
        ip = int(p / d_phi)
        if ip >= n_phi:
            ip = n_phi - 1
        centre = ie * n_phi + ip
        cell_of[i] = centre
        for which in range(2):
            energy = e_em[i] if which == 0 else e_had[i]
            if energy <= 0.0:
                continue
            core = core_em if which == 0 else core_had
            share = energy * (1.0 - core) / 8.0
            kept = energy * core
            for de in range(-1, 2):
                for dp in range(-1, 2):
                    if de == 0 and dp == 0:
                        continue
                    je = ie + de
                    if je < 0 or je >= n_eta:
                        kept += share
                        continue
                    c = je * n_phi + _wrap_phi_bin(ip + dp, n_phi)
                    if which == 0:
                        cell_em[c] += share
                    else:
                        cell_had[c] += share
            if which == 0:
                cell_em[centre] += kept
            else:
                cell_had[centre] += kept


@kernel
def topo_cluster(cell_e, cell_sigma, n_eta, n_phi, seed_sig, grow_sig, boundary_sig):
    """Topological clustering on the cell grid (seed/grow/boundary significance thresholds).

    Every seed (E > seed_sig * sigma) starts its own cluster; all clusters grow together, one ring
    of neighbours at a time (seeds in decreasing energy within a ring), through cells above
    grow_sig, and take neighbours above boundary_sig as their last layer. A cell belongs to the
    first cluster that reaches it, so a region with several seeds is split between them (the role
    of the ATLAS cluster splitter). Returns (cluster id per cell, n_clusters).
    """
    n_cells = cell_e.size
    owner = np.full(n_cells, -1, np.int32)
    significance = cell_e / cell_sigma
    seeds = np.where(significance > seed_sig)[0]
    order = np.argsort(-cell_e[seeds], kind="mergesort")
    queue = np.empty(n_cells, np.int64)
    tail = 0
    for s in range(order.size):
        seed = seeds[order[s]]
        owner[seed] = s
        queue[tail] = seed
        tail += 1
    head = 0
    while head < tail:
        c = queue[head]
        head += 1
        cid = owner[c]
        ie = c // n_phi
        ip = c % n_phi
        for de in range(-1, 2):
            je = ie + de
            if je < 0 or je >= n_eta:
                continue
            for dp in range(-1, 2):
                if de == 0 and dp == 0:
                    continue
                nb = je * n_phi + _wrap_phi_bin(ip + dp, n_phi)
                if owner[nb] >= 0:
                    continue
                if significance[nb] > grow_sig:
                    owner[nb] = cid
                    queue[tail] = nb
                    tail += 1
                elif significance[nb] > boundary_sig:
                    owner[nb] = cid
    return owner, order.size


@kernel
def cluster_sums(owner, n_clusters, cell_em, cell_had, cell_noise, n_eta, n_phi, eta_max, had_response):
    """Energy-weighted (eta, phi) and energies of each cluster.

    Returns eta, phi, E at EM scale, E at the local-hadronic (LC-like) scale where hadronic
    deposits are divided by the hadron response, and the EM fraction of the true deposits.
    """
    d_eta = 2.0 * eta_max / n_eta
    d_phi = 2.0 * np.pi / n_phi
    e_em_scale = np.zeros(n_clusters)
    e_lc = np.zeros(n_clusters)
    dep_em = np.zeros(n_clusters)
    dep_all = np.zeros(n_clusters)
    w_eta = np.zeros(n_clusters)
    w_cos = np.zeros(n_clusters)
    w_sin = np.zeros(n_clusters)
    w_pos = np.zeros(n_clusters)
    for c in range(owner.size):
        k = owner[c]
        if k < 0:
            continue
        e = cell_em[c] + cell_had[c] + cell_noise[c]
        e_em_scale[k] += e
        e_lc[k] += cell_em[c] + cell_had[c] / had_response + cell_noise[c]
        dep_em[k] += cell_em[c]
        dep_all[k] += cell_em[c] + cell_had[c]
        w = max(e, 0.0)
        w_pos[k] += w
        eta_c = -eta_max + (c // n_phi + 0.5) * d_eta
        phi_c = (c % n_phi + 0.5) * d_phi
        w_eta[k] += w * eta_c
        w_cos[k] += w * np.cos(phi_c)
        w_sin[k] += w * np.sin(phi_c)
    eta = np.zeros(n_clusters)
    phi = np.zeros(n_clusters)
    emfrac = np.zeros(n_clusters)
    for k in range(n_clusters):
        eta[k] = w_eta[k] / w_pos[k] if w_pos[k] > 0 else 0.0
        phi[k] = np.arctan2(w_sin[k], w_cos[k])
        emfrac[k] = dep_em[k] / dep_all[k] if dep_all[k] > 0 else 0.0
    return eta, phi, e_em_scale, e_lc, emfrac


@kernel
def pflow_subtract(trk_eta, trk_phi, trk_e_expected, trk_sigma_expected, trk_usable,
                   clus_eta, clus_phi, clus_e, max_dr, remnant_sigma):
    """eflow-like cell subtraction at cluster level.

    Tracks (already sorted by decreasing pT by the caller) are matched to the closest cluster
    within ``max_dr``; the expected deposit is subtracted from that cluster. When what is left is
    below ``remnant_sigma`` standard deviations of the expected deposit the whole cluster is
    removed. Returns (matched cluster per track or -1, remaining cluster energy).
    """
    remaining = clus_e.copy()
    matched = np.full(trk_eta.size, -1, np.int32)
    for t in range(trk_eta.size):
        if not trk_usable[t]:
            continue
        best = -1
        best_dr2 = max_dr * max_dr
        for k in range(clus_eta.size):
            if remaining[k] <= 0.0:
                continue
            dphi = abs(trk_phi[t] - clus_phi[k]) % (2.0 * np.pi)
            if dphi > np.pi:
                dphi = 2.0 * np.pi - dphi
            deta = trk_eta[t] - clus_eta[k]
            dr2 = deta * deta + dphi * dphi
            if dr2 < best_dr2:
                best_dr2 = dr2
                best = k
        if best < 0:
            continue
        matched[t] = best
        left = remaining[best] - trk_e_expected[t]
        if left < remnant_sigma * trk_sigma_expected[t]:
            remaining[best] = 0.0
        else:
            remaining[best] = left
    return matched, remaining


@kernel
def grid_median_density(eta, phi, pt, eta_max, n_eta_patch, n_phi_patch):
    """Median pT density (MeV per unit eta-phi area) over a patch grid in |eta| < eta_max."""
    n = n_eta_patch * n_phi_patch
    sums = np.zeros(n)
    d_eta = 2.0 * eta_max / n_eta_patch
    d_phi = 2.0 * np.pi / n_phi_patch
    for i in range(eta.size):
        if abs(eta[i]) >= eta_max:
            continue
        ie = min(int((eta[i] + eta_max) / d_eta), n_eta_patch - 1)
        ip = min(int((phi[i] % (2.0 * np.pi)) / d_phi), n_phi_patch - 1)
        sums[ie * n_phi_patch + ip] += pt[i]
    return np.median(sums) / (d_eta * d_phi)


@kernel
def cone_sum(obj_eta, obj_phi, eta, phi, pt, dr):
    """Sum of ``pt`` of the entries within ``dr`` of each object."""
    out = np.zeros(obj_eta.size)
    for o in range(obj_eta.size):
        s = 0.0
        for i in range(eta.size):
            dphi = abs(obj_phi[o] - phi[i]) % (2.0 * np.pi)
            if dphi > np.pi:
                dphi = 2.0 * np.pi - dphi
            deta = obj_eta[o] - eta[i]
            if deta * deta + dphi * dphi < dr * dr:
                s += pt[i]
        out[o] = s
    return out
