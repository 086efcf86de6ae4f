"""A documented toy ATLAS-like detector: truth particles in, schema-v1 reconstructed objects out.

The physics meaning of every parameter is in docs/toy_detector.md. The model, in order:
tracking (efficiency, pT / z0 / d0 smearing, truth-assisted vertex association), a cell-grid
calorimeter (EM and hadronic response, lateral spread, noise), topo-clustering (4-2-0), particle flow
(charged PFOs from tracks with their expected deposit subtracted, neutral PFOs from what is left),
anti-kt R = 0.4 EMTopo and EMPFlow jets (constituent scale, pileup-subtracted and calibrated scale,
ghost-associated tracks, JVT-like discriminant), truth-seeded electrons, photons, muons and
hadronic taus with identification/isolation and links to their constituents, truth MET.

Random numbers come from three streams that the caller passes: ``rng_hs`` (everything about the
hard-scatter tracks and vertex), ``rng_pu`` (pileup tracks and vertices) and ``rng_det``
(calorimeter and objects). Hard-scatter tracks therefore do not change when pileup is added.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from metflow.edm.units import GeV, MeV, mrad
from metflow.algorithms.generation import _detector_kernels as _kern
from metflow.algorithms.generation.detector_config import DetectorConfig
from metflow.algorithms.generation.truth_particles import HardScatterTruth, PileupParticles, TruthParticles

PION_MASS = 139.57 * MeV
MUON_MASS = 105.66 * MeV
ELECTRON_MASS = 0.511 * MeV
# Pythia ids of particles that leave no trace in the detector (neutrinos, neutralino, gravitino).
INVISIBLE_PDG = (12, 14, 16, 1000012, 1000014, 1000016, 1000022, 1000039)

# The objects a reconstructed event holds, in the order they are written.
OBJECT_KEYS = ("PrimaryVertices", "InDetTracks", "TopoClusters", "PFOs", "AntiKt4EMPFlowJets",
               "AntiKt4EMTopoJets", "Electrons", "Photons", "Muons", "TauJets")
RECORD_KEYS = ("EventInfo", "TruthMET")


def _kinematics(px, py, pz):
    pt = np.hypot(px, py)
    phi = np.arctan2(py, px)
    p = np.sqrt(pt * pt + pz * pz)
    eta = np.arcsinh(np.divide(pz, pt, out=np.full_like(pz, 1e6), where=pt > 0) * np.ones_like(pz))
    return pt, eta, phi, p


def _p4_from_pt_eta_phi(pt, eta, phi, mass):
    px = pt * np.cos(phi)
    py = pt * np.sin(phi)
    pz = pt * np.sinh(eta)
    e = np.sqrt(px * px + py * py + pz * pz + mass * mass)
    return px, py, pz, e


def _delta_r2(eta1, phi1, eta2, phi2):
    dphi = np.abs(phi1 - phi2) % (2 * np.pi)
    dphi = np.where(dphi > np.pi, 2 * np.pi - dphi, dphi)
    return (eta1 - eta2) ** 2 + dphi ** 2


def _id_bits(u, eff):
    loose, medium, tight = eff
    return ((u < loose).astype(np.uint8) | ((u < medium).astype(np.uint8) << 1)
            | ((u < tight).astype(np.uint8) << 2))


_BANNER_SILENCED = False


def _silence_fastjet_banner() -> None:
    """FastJet prints its banner to C++ stdout on first use; print it once into /dev/null."""
    global _BANNER_SILENCED
    if _BANNER_SILENCED:
        return
    import fastjet._swig

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            fastjet._swig.ClusterSequence.print_banner()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _BANNER_SILENCED = True


class ToyDetector:
    """Turns the truth final state of a bunch crossing into the schema-v1 containers of one event."""

    def __init__(self, config: DetectorConfig | None = None):
        _silence_fastjet_banner()
        self.config = config or DetectorConfig()
        c = self.config
        n_cells = c.calo_n_eta * c.calo_n_phi
        d_eta = 2 * c.calo_eta_max / c.calo_n_eta
        cell_eta = -c.calo_eta_max + (np.arange(n_cells) // c.calo_n_phi + 0.5) * d_eta
        a = np.abs(cell_eta)
        self._cell_eta = cell_eta
        self._electronic_sigma = np.where(a < 2.5, c.cell_noise[0], np.where(a < 3.2, c.cell_noise[1], c.cell_noise[2]))
        self._cell_sigma = self._electronic_sigma

    def set_pileup_noise(self, minbias: TruthParticles, n_interactions: int, mu: float) -> None:
        """Add the expected pileup noise at ``mu`` to the cell noise used by topo-clustering.

        As in ATLAS, the clustering thresholds are in units of the total (electronic + pileup) noise,
        otherwise pileup deposits would percolate into one giant cluster. The per-interaction variance
        of a cell's energy is estimated from the min-bias particles at mean response, per eta ring.
        """
        c = self.config
        if mu <= 0 or n_interactions <= 0:
            self._cell_sigma = self._electronic_sigma
            return
        pt, eta, _, _ = _kinematics(minbias.px, minbias.py, minbias.pz)
        apdg = np.abs(minbias.pdg)
        reaches = ~np.isin(apdg, INVISIBLE_PDG) & ~((minbias.charge != 0) & (pt < c.bend_pt)) & (apdg != 13)
        is_em = (apdg == 11) | (apdg == 22)
        deposit = np.where(is_em, minbias.e, c.had_response * minbias.e) * reaches
        core = np.where(is_em, c.core_fraction_em, c.core_fraction_had)
        share2 = deposit ** 2 * (core ** 2 + (1 - core) ** 2 / 8)
        inside = np.abs(eta) < c.calo_eta_max
        ring = ((eta[inside] + c.calo_eta_max) / (2 * c.calo_eta_max / c.calo_n_eta)).astype(np.int64)
        ring = np.minimum(ring, c.calo_n_eta - 1)
        var_ring = np.bincount(ring, weights=share2[inside], minlength=c.calo_n_eta) / (n_interactions * c.calo_n_phi)
        var_cell = np.repeat(var_ring, c.calo_n_phi)
        self._cell_sigma = np.sqrt(self._electronic_sigma ** 2 + mu * var_cell)

    # ---------------------------------------------------------------------------------------
    # tracking

    def _tracking(self, parts: TruthParticles, origin: np.ndarray, rng: np.random.Generator):
        """Reconstructed tracks of one group of particles; returns per-particle arrays."""
        c = self.config
        n = len(parts)
        pt, eta, phi, _ = _kinematics(parts.px, parts.py, parts.pz)
        apdg = np.abs(parts.pdg)
        # draws are made for every particle so the stream does not depend on selections
        u_eff, u_qual = rng.random(n), rng.random(n)
        g = rng.standard_normal((4, n))
        eff = np.where(np.abs(eta) < 1.3, c.track_eff_central, c.track_eff_forward)
        eff = np.where(apdg == 11, c.track_eff_electron, eff)
        eff = np.where(apdg == 13, c.track_eff_muon, eff)
        sigma_rel = np.hypot(np.where(np.abs(eta) < 1.5, 1.0, 2.0) * c.track_sigma_pt_const,
                             c.track_sigma_pt_slope * pt)
        inv_pt = (1.0 / np.maximum(pt, 1e-3)) * (1.0 + sigma_rel * g[0])
        pt_reco = 1.0 / np.maximum(inv_pt, 1e-12)
        phi_reco = phi + 1 * mrad * g[1]
        sin_theta = 1.0 / np.cosh(eta)
        x = parts.vx + origin[0]
        y = parts.vy + origin[1]
        z = parts.vz + origin[2]
        d0_true = y * np.cos(phi) - x * np.sin(phi)
        z0_true = z - (x * np.cos(phi) + y * np.sin(phi)) * np.sinh(eta)
        gev_over_pt = GeV / np.maximum(pt, 1e-3)
        sd0 = np.hypot(c.track_sigma_d0[0], c.track_sigma_d0[1] / GeV * gev_over_pt / np.sqrt(sin_theta))
        sz0 = np.hypot(c.track_sigma_z0[0], c.track_sigma_z0[1] / GeV * gev_over_pt / sin_theta ** 1.5)
        d0 = d0_true + sd0 * g[2]
        z0 = z0_true + sz0 * g[3]
        reco = ((parts.charge != 0) & (np.abs(eta) < c.track_eta_max) & (u_eff < eff)
                & (pt_reco > c.track_pt_min))
        quality = u_qual < c.track_quality_fraction
        return reco, pt_reco, eta, phi_reco, z0, d0, quality

    def _vertices(self, truth_xyz: np.ndarray, rng: np.random.Generator):
        sig = np.asarray(self.config.vertex_sigma_xyz)
        return truth_xyz + sig * rng.standard_normal(truth_xyz.shape)

    # ---------------------------------------------------------------------------------------

    def reconstruct(self, hard: HardScatterTruth, hs_origin: np.ndarray, pileup: PileupParticles,
                    rng_hs: np.random.Generator, rng_pu: np.random.Generator,
                    rng_det: np.random.Generator) -> dict:
        """Reconstruct one bunch crossing; returns ``{key: {column: array or list of int arrays}}``."""
        c = self.config
        hs = hard.particles
        n_hs = len(hs)
        n_pu_int = pileup.vertex_xyz.shape[0]
        parts = TruthParticles.concatenate([hs, pileup.particles])
        interaction = np.concatenate([np.zeros(n_hs, np.int64), pileup.interaction.astype(np.int64)])

        # --- tracking and vertices (hard scatter and pileup from separate streams)
        hs_vtx_reco = self._vertices(hs_origin[None, :], rng_hs)
        trk_hs = self._tracking(hs, hs_origin, rng_hs)
        pu_vtx_reco = self._vertices(pileup.vertex_xyz, rng_pu)
        origins = pileup.vertex_xyz[pileup.interaction - 1] if n_pu_int else np.zeros((0, 3))
        trk_pu = self._tracking(pileup.particles, origins.T if n_pu_int else np.zeros(3), rng_pu)
        reco, pt, eta, phi, z0, d0, quality = (np.concatenate([a, b]) for a, b in zip(trk_hs, trk_pu))
        vtx_reco = np.vstack([hs_vtx_reco, pu_vtx_reco])

        trk_particle = np.flatnonzero(reco)
        t_int = interaction[trk_particle]
        t_pt, t_eta, t_phi = pt[trk_particle], eta[trk_particle], phi[trk_particle]
        t_z0, t_d0, t_quality = z0[trk_particle], d0[trk_particle], quality[trk_particle]
        t_charge = parts.charge[trk_particle].astype(np.int8)
        t_mass = np.where(np.abs(parts.pdg[trk_particle]) == 11, ELECTRON_MASS,
                          np.where(np.abs(parts.pdg[trk_particle]) == 13, MUON_MASS, PION_MASS))
        t_px, t_py, t_pz, t_e = _p4_from_pt_eta_phi(t_pt, t_eta, t_phi, t_mass)
        sin_theta = 1.0 / np.cosh(t_eta)
        compatible = (t_quality & (np.abs(t_z0 - vtx_reco[t_int, 2]) * sin_theta < c.vertex_dz0_sin_theta_max)
                      & (np.abs(t_d0) < c.vertex_d0_max))
        n_assoc = np.bincount(t_int[compatible], minlength=n_pu_int + 1)
        sumpt2 = np.bincount(t_int[compatible], weights=t_pt[compatible] ** 2, minlength=n_pu_int + 1)
        kept_pu = np.flatnonzero(n_assoc[1:] >= c.vertex_min_tracks) + 1
        kept_pu = kept_pu[np.argsort(-sumpt2[kept_pu], kind="stable")]
        vertex_order = np.concatenate([[0], kept_pu]).astype(np.int64)
        vertex_index_of_int = np.full(n_pu_int + 1, -1, np.int64)
        vertex_index_of_int[vertex_order] = np.arange(vertex_order.size)
        t_vertex = np.where(compatible, vertex_index_of_int[t_int], -1).astype(np.int32)
        track_of_particle = np.full(len(parts), -1, np.int64)
        track_of_particle[trk_particle] = np.arange(trk_particle.size)

        vertices = {
            "x": vtx_reco[vertex_order, 0], "y": vtx_reco[vertex_order, 1], "z": vtx_reco[vertex_order, 2],
            "sumpt2": sumpt2[vertex_order], "is_hard_scatter": vertex_order == 0,
        }
        tracks = {"px": t_px, "py": t_py, "pz": t_pz, "e": t_e, "charge": t_charge, "z0": t_z0, "d0": t_d0,
                  "vertex": t_vertex, "passes_quality": t_quality}

        # --- calorimeter
        p_pt, p_eta, p_phi, p_p = _kinematics(parts.px, parts.py, parts.pz)
        apdg = np.abs(parts.pdg)
        visible = ~np.isin(apdg, INVISIBLE_PDG)
        charged = parts.charge != 0
        reaches = visible & ~(charged & (p_pt < c.bend_pt))
        bend = np.where(charged & reaches, np.arcsin(np.minimum(c.bend_pt / np.maximum(p_pt, 1e-3), 1.0)), 0.0)
        calo_phi = p_phi - np.sign(parts.charge) * bend
        forward = np.abs(p_eta) > 3.2
        e_gev = np.maximum(parts.e, 1e-3) / GeV
        g = rng_det.standard_normal((2, len(parts)))
        is_em = (apdg == 11) | (apdg == 22)
        is_mu = apdg == 13
        s_em = np.hypot(np.where(forward, c.em_sampling[1], c.em_sampling[0]) / np.sqrt(e_gev),
                        np.where(forward, c.em_constant[1], c.em_constant[0]))
        s_had = np.hypot(np.where(forward, c.had_sampling[1], c.had_sampling[0]) / np.sqrt(e_gev),
                         np.where(forward, c.had_constant[1], c.had_constant[0]))
        e_em = np.where(is_em & reaches, parts.e * (1 + s_em * g[0]), 0.0)
        e_em = np.where(is_mu & reaches, np.minimum(parts.e, c.muon_deposit) * (1 + 0.1 * g[0]), e_em)
        e_had = np.where(reaches & ~is_em & ~is_mu, c.had_response * parts.e * (1 + s_had * g[1]), 0.0)
        e_em = np.maximum(e_em, 0.0)
        e_had = np.maximum(e_had, 0.0)
        n_cells = c.calo_n_eta * c.calo_n_phi
        cell_em = np.zeros(n_cells)
        cell_had = np.zeros(n_cells)
        cell_of = np.empty(len(parts), np.int64)
        _kern.deposit_energy(p_eta, calo_phi, e_em, e_had, c.calo_eta_max, c.calo_n_eta, c.calo_n_phi,
                             c.core_fraction_em, c.core_fraction_had, cell_em, cell_had, cell_of)
        cell_noise = self._cell_sigma * rng_det.standard_normal(n_cells)
        cell_e = cell_em + cell_had + cell_noise
        owner, n_raw = _kern.topo_cluster(cell_e, self._cell_sigma, c.calo_n_eta, c.calo_n_phi,
                                          *c.topo_thresholds)
        k_eta, k_phi, k_e_em, k_e_lc, k_emfrac = _kern.cluster_sums(
            owner, n_raw, cell_em, cell_had, cell_noise, c.calo_n_eta, c.calo_n_phi, c.calo_eta_max,
            c.had_response)
        keep = (k_e_em > 0) & (k_e_lc > 0)
        new_id = np.full(n_raw + 1, -1, np.int64)       # last entry maps owner -1 to -1
        new_id[np.flatnonzero(keep)] = np.arange(keep.sum())
        cluster_of_cell = new_id[owner]
        k_eta, k_phi, k_e_em, k_e_lc, k_emfrac = (a[keep] for a in (k_eta, k_phi, k_e_em, k_e_lc, k_emfrac))
        k_pt = k_e_lc / np.cosh(k_eta)
        cl_px, cl_py, cl_pz, cl_e = _p4_from_pt_eta_phi(k_pt, k_eta, k_phi, 0.0)
        clusters = {"px": cl_px, "py": cl_py, "pz": cl_pz, "e": cl_e}
        cluster_of_particle = np.where(cell_of >= 0, cluster_of_cell[np.maximum(cell_of, 0)], -1)

        # --- particle flow
        t_apdg = apdg[trk_particle]
        t_reach_phi = t_phi - np.sign(t_charge) * np.arcsin(np.minimum(c.bend_pt / t_pt, 1.0))
        t_egev = t_e / GeV
        expected = np.where(t_apdg == 11, t_e, np.where(t_apdg == 13, np.minimum(t_e, c.muon_deposit),
                                                          c.had_response * t_e))
        sigma_expected = np.where(
            t_apdg == 11, t_e * np.hypot(c.em_sampling[0] / np.sqrt(t_egev), c.em_constant[0]),
            np.where(t_apdg == 13, 0.1 * expected,
                     expected * np.hypot(c.had_sampling[0] / np.sqrt(t_egev), c.had_constant[0])))
        order = np.argsort(-t_pt, kind="stable")
        matched_sorted, remaining = _kern.pflow_subtract(
            t_eta[order], t_reach_phi[order], expected[order], sigma_expected[order], t_quality[order],
            k_eta, k_phi, k_e_em, c.pflow_match_dr, c.pflow_remnant_sigma)
        t_cluster = np.empty(t_pt.size, np.int32)
        t_cluster[order] = matched_sorted
        charged_tracks = np.flatnonzero(t_quality)
        neutral_clusters = np.flatnonzero(remaining > 0)
        n_ch = charged_tracks.size
        pfo_of_track = np.full(t_pt.size, -1, np.int64)
        pfo_of_track[charged_tracks] = np.arange(n_ch)
        pfo_of_cluster = np.full(k_pt.size, -1, np.int64)
        pfo_of_cluster[neutral_clusters] = n_ch + np.arange(neutral_clusters.size)
        n_px, n_py, n_pz, n_e = _p4_from_pt_eta_phi(remaining[neutral_clusters] / np.cosh(k_eta[neutral_clusters]),
                                                    k_eta[neutral_clusters], k_phi[neutral_clusters], 0.0)
        pfos = {
            "px": np.concatenate([t_px[charged_tracks], n_px]),
            "py": np.concatenate([t_py[charged_tracks], n_py]),
            "pz": np.concatenate([t_pz[charged_tracks], n_pz]),
            "e": np.concatenate([t_e[charged_tracks], n_e]),
            "charge": np.concatenate([t_charge[charged_tracks], np.zeros(neutral_clusters.size, np.int8)]),
            "track": np.concatenate([charged_tracks, np.full(neutral_clusters.size, -1)]).astype(np.int32),
            "cluster": np.concatenate([t_cluster[charged_tracks], neutral_clusters]).astype(np.int32),
        }
        pfo_emfrac = np.concatenate([np.zeros(n_ch), k_emfrac[neutral_clusters]])

        # --- jets
        ghosts = np.flatnonzero(t_quality)
        n_pu_tracks = int(np.count_nonzero(t_vertex > 0))
        track_info = (t_pt, t_eta, t_phi, t_vertex, n_pu_tracks)
        topo_jets = self._jets(clusters, np.arange(k_pt.size), k_emfrac, c.jes_emtopo, tracks, ghosts, track_info)
        pflow_inputs = np.concatenate([np.flatnonzero(t_vertex[charged_tracks] == 0),
                                       n_ch + np.arange(neutral_clusters.size)])
        pflow_jets = self._jets(pfos, pflow_inputs, pfo_emfrac, c.jes_empflow, tracks, ghosts, track_info)

        # --- leptons, photons, taus (truth-seeded from the hard scatter)
        iso = self._isolation_inputs(t_pt, t_eta, t_phi, t_vertex, t_quality, k_pt, k_eta, k_phi)
        hs_idx = np.arange(n_hs)
        link = dict(track_of_particle=track_of_particle, cluster_of_particle=cluster_of_particle,
                    pfo_of_track=pfo_of_track, pfo_of_cluster=pfo_of_cluster)
        electrons = self._egamma(hs, hs_idx, 11, link, iso, rng_det)
        photons = self._egamma(hs, hs_idx, 22, link, iso, rng_det)
        muons = self._muons(hs, hs_idx, link, t_charge, rng_det)
        taus = self._taus(hs, hard.hadronic_taus, link, t_charge, rng_det)

        invisible = np.isin(np.abs(hs.pdg), INVISIBLE_PDG)
        truth_met = {"nonint_mpx": float(hs.px[invisible].sum()), "nonint_mpy": float(hs.py[invisible].sum()),
                     "nonint_sumet": float(np.hypot(hs.px[invisible], hs.py[invisible]).sum())}
        return {
            "PrimaryVertices": vertices, "InDetTracks": tracks, "TopoClusters": clusters, "PFOs": pfos,
            "AntiKt4EMPFlowJets": pflow_jets, "AntiKt4EMTopoJets": topo_jets, "Electrons": electrons,
            "Photons": photons, "Muons": muons, "TauJets": taus, "TruthMET": truth_met,
        }

    # ---------------------------------------------------------------------------------------
    # jets

    def _jets(self, inputs: dict, use: np.ndarray, emfrac: np.ndarray, jes: tuple, tracks: dict,
              ghosts: np.ndarray, track_info) -> dict:
        import fastjet

        c = self.config
        t_pt, t_eta, t_phi, t_vertex, n_pu_tracks = track_info
        px, py, pz, e = inputs["px"], inputs["py"], inputs["pz"], inputs["e"]
        pt_in = np.hypot(px, py)
        phi_in = np.arctan2(py, px)
        eta_in = np.arcsinh(np.divide(pz, pt_in, out=np.zeros_like(pz), where=pt_in > 0))
        rho = _kern.grid_median_density(eta_in[use], phi_in[use], pt_in[use], c.rho_eta_max, 5, 8)
        use = use[(e[use] > 0) & (pt_in[use] > 0)]
        pjs = []
        for i in use:
            pj = fastjet.PseudoJet(float(px[i]), float(py[i]), float(pz[i]), float(e[i]))
            pj.set_user_index(int(i))
            pjs.append(pj)
        # ghosts: tracks scaled to a negligible momentum, so they find a jet without changing it
        gpx, gpy, gpz, ge = _p4_from_pt_eta_phi(t_pt[ghosts] * 1e-18, t_eta[ghosts], t_phi[ghosts], 0.0)
        for k, t in enumerate(ghosts):
            pj = fastjet.PseudoJet(float(gpx[k]), float(gpy[k]), float(gpz[k]), float(ge[k]))
            pj.set_user_index(-1 - int(t))
            pjs.append(pj)
        out = {k: [] for k in ("px", "py", "pz", "e", "constit_px", "constit_py", "constit_pz", "constit_e",
                               "jvt", "emfrac")}
        out["constituents"] = []
        out["ghost_tracks"] = []
        if pjs:
            cs = fastjet.ClusterSequence(pjs, fastjet.JetDefinition(fastjet.antikt_algorithm, c.jet_radius))
            found = cs.inclusive_jets(c.jet_constit_pt_min)
        else:
            found = []
        area = np.pi * c.jet_radius ** 2
        jets = []
        for jet in found:
            idx = np.array(sorted(p.user_index() for p in jet.constituents()), np.int64)
            cons = idx[idx >= 0]
            ghost = np.sort(-1 - idx[idx < 0])
            if cons.size == 0:
                continue
            cp = np.array([px[cons].sum(), py[cons].sum(), pz[cons].sum(), e[cons].sum()])
            cpt = np.hypot(cp[0], cp[1])
            sub = max(0.0, 1.0 - rho * area / cpt)
            if sub <= 0:
                continue
            pt_sub = cpt * sub
            scale = sub * (jes[0] + jes[1] / np.sqrt(max(pt_sub / GeV, 1.0)))
            cal = cp * scale
            cal_pt = cpt * scale
            ceta = np.arcsinh(cp[2] / cpt)
            if cal_pt < c.jet_pt_min or abs(ceta) > c.jet_eta_max:
                continue
            jets.append((cal_pt, cal, cp, cons, ghost))
        jets.sort(key=lambda j: -j[0])
        w0, w1, w2 = c.jvt_weights
        for cal_pt, cal, cp, cons, ghost in jets:
            for k, v in zip(("px", "py", "pz", "e"), cal):
                out[k].append(v)
            for k, v in zip(("constit_px", "constit_py", "constit_pz", "constit_e"), cp):
                out[k].append(v)
            out["emfrac"].append(float((emfrac[cons] * e[cons]).sum() / e[cons].sum()))
            sum_pv0 = t_pt[ghost][t_vertex[ghost] == 0].sum()
            sum_pu = t_pt[ghost][t_vertex[ghost] > 0].sum()
            if ghost.size == 0 or sum_pv0 + sum_pu <= 0:
                jvt = c.jvt_no_tracks
            else:
                corr_jvf = sum_pv0 / (sum_pv0 + sum_pu / (c.jvt_corrjvf_k * max(n_pu_tracks, 1)))
                rpt = sum_pv0 / cal_pt
                jvt = 1.0 / (1.0 + np.exp(-(w0 * corr_jvf + w1 * rpt + w2)))
            out["jvt"].append(jvt)
            out["constituents"].append(cons.astype(np.int32))
            out["ghost_tracks"].append(ghost.astype(np.int32))
        return {k: (v if k in ("constituents", "ghost_tracks") else np.asarray(v, np.float64))
                for k, v in out.items()}

    # ---------------------------------------------------------------------------------------
    # leptons, photons, taus

    def _isolation_inputs(self, t_pt, t_eta, t_phi, t_vertex, t_quality, k_pt, k_eta, k_phi):
        pv = t_quality & (t_vertex == 0)
        return (t_eta[pv], t_phi[pv], t_pt[pv], k_eta, k_phi, k_pt)

    def _isolated(self, eta, phi, pt, own_track_pt, own_cluster_pt, iso):
        c = self.config
        te, tp, tpt, ke, kp, kpt = iso
        trk = _kern.cone_sum(eta, phi, te, tp, tpt, c.isolation_dr) - own_track_pt
        cal = _kern.cone_sum(eta, phi, ke, kp, kpt, c.isolation_dr) - own_cluster_pt
        return (trk < c.isolation_max * pt) & (cal < c.isolation_max * pt)

    def _egamma(self, hs, hs_idx, pdg, link, iso, rng):
        c = self.config
        pt, eta, phi, _ = _kinematics(hs.px, hs.py, hs.pz)
        is_ele = pdg == 11
        cand = hs_idx[(np.abs(hs.pdg) == pdg)
                      & (pt > (c.electron_pt_min if is_ele else c.photon_pt_min))
                      & (np.abs(eta) < (c.electron_eta_max if is_ele else c.photon_eta_max))]
        if not is_ele:
            cand = cand[hs.prompt[cand]]
        u_reco, u_id = rng.random(cand.size), rng.random(cand.size)
        g = rng.standard_normal(cand.size)
        trk = link["track_of_particle"][cand]
        clus = link["cluster_of_particle"][cand]
        ok = (u_reco < c.reco_eff["electron" if is_ele else "photon"]) & (clus >= 0)
        if is_ele:
            ok &= trk >= 0
        cand, trk, clus, u_id, g = cand[ok], trk[ok], clus[ok], u_id[ok], g[ok]
        e_gev = hs.e[cand] / GeV
        e_reco = hs.e[cand] * (1 + np.hypot(c.em_sampling[0] / np.sqrt(e_gev), c.em_constant[0]) * g)
        e_reco = np.maximum(e_reco, 1 * MeV)
        pt_reco = e_reco / np.cosh(eta[cand])
        px, py, pz, e = _p4_from_pt_eta_phi(pt_reco, eta[cand], phi[cand], 0.0)
        if is_ele:
            eff = np.where(hs.prompt[cand][:, None], np.array(c.id_eff["electron"])[None, :],
                           np.array(c.id_eff["electron_nonprompt"])[None, :])
            ids = np.array([_id_bits(u_id[i], eff[i]) for i in range(cand.size)], np.uint8)
        else:
            ids = _id_bits(u_id, c.id_eff["photon"]).astype(np.uint8)
        t_pt = np.hypot(hs.px, hs.py)
        own_trk = np.zeros(cand.size)
        if is_ele:
            own_trk = t_pt[cand]
        own_clu = pt_reco
        isolated = self._isolated(eta[cand], phi[cand], pt_reco, own_trk, own_clu, iso)
        pfo_t, pfo_c = link["pfo_of_track"], link["pfo_of_cluster"]
        tracks_l, clusters_l, pfos_l = [], [], []
        for i in range(cand.size):
            clusters_l.append(np.array([clus[i]], np.int32))
            if is_ele:
                tracks_l.append(np.array([trk[i]], np.int32))
                p = [pfo_t[trk[i]], pfo_c[clus[i]]]
            else:
                tracks_l.append(np.zeros(0, np.int32))
                p = [pfo_c[clus[i]]]
            pfos_l.append(np.array(sorted({x for x in p if x >= 0}), np.int32))
        charge = -np.sign(hs.pdg[cand]).astype(np.int8) if is_ele else np.zeros(cand.size, np.int8)
        return {"px": px, "py": py, "pz": pz, "e": e, "charge": charge, "clusters": clusters_l,
                "tracks": tracks_l, "pfos": pfos_l, "id": ids, "isolated": isolated}

    def _muons(self, hs, hs_idx, link, t_charge, rng):
        c = self.config
        pt, eta, phi, _ = _kinematics(hs.px, hs.py, hs.pz)
        cand = hs_idx[(np.abs(hs.pdg) == 13) & (pt > c.muon_pt_min) & (np.abs(eta) < c.muon_eta_max)]
        u_reco, u_id = rng.random(cand.size), rng.random(cand.size)
        g = rng.standard_normal(cand.size)
        ok = u_reco < c.reco_eff["muon"]
        cand, u_id, g = cand[ok], u_id[ok], g[ok]
        trk = link["track_of_particle"][cand]
        combined = trk >= 0
        sigma = np.hypot(c.muon_sigma_pt[0], c.muon_sigma_pt[1] * pt[cand]) * np.where(combined, 1.0, 3.0)
        pt_reco = pt[cand] * np.maximum(1 + sigma * g, 0.05)
        px, py, pz, e = _p4_from_pt_eta_phi(pt_reco, eta[cand], phi[cand], MUON_MASS)
        ids = np.array([_id_bits(u_id[i], c.id_eff["muon" if hs.prompt[cand[i]] else "muon_nonprompt"])
                        for i in range(cand.size)], np.uint8)
        clus = link["cluster_of_particle"][cand]
        clusters_l = [np.array([k], np.int32) if k >= 0 else np.zeros(0, np.int32) for k in clus]
        pfos_l = [np.array([link["pfo_of_track"][t]], np.int32) if t >= 0 and link["pfo_of_track"][t] >= 0
                  else np.zeros(0, np.int32) for t in trk]
        return {"px": px, "py": py, "pz": pz, "e": e, "charge": -np.sign(hs.pdg[cand]).astype(np.int8),
                "id_track": trk.astype(np.int32), "clusters": clusters_l, "pfos": pfos_l,
                "type": np.where(combined, 0, 1).astype(np.uint8), "id": ids}

    def _taus(self, hs, hadronic_taus, link, t_charge, rng):
        c = self.config
        n = len(hadronic_taus)
        u_reco, u_id = rng.random(n), rng.random(n)
        g = rng.standard_normal(n)
        cols = {k: [] for k in ("px", "py", "pz", "e", "charge", "tracks", "clusters", "pfos", "id")}
        for i, products in enumerate(hadronic_taus):
            products = np.asarray(products, np.int64)
            vis = products[~np.isin(np.abs(hs.pdg[products]), INVISIBLE_PDG)]
            if vis.size == 0:
                continue
            p = np.array([hs.px[vis].sum(), hs.py[vis].sum(), hs.pz[vis].sum(), hs.e[vis].sum()])
            vpt = np.hypot(p[0], p[1])
            if vpt < c.tau_pt_min or abs(np.arcsinh(p[2] / vpt)) > c.tau_eta_max or u_reco[i] > c.reco_eff["tau"]:
                continue
            trk = link["track_of_particle"][vis]
            trk = np.unique(trk[trk >= 0])
            if not 1 <= trk.size <= 3:
                continue
            clus = link["cluster_of_particle"][vis]
            clus = np.unique(clus[clus >= 0])
            pf = np.concatenate([link["pfo_of_track"][trk], link["pfo_of_cluster"][clus]])
            p = p * max(1 + c.tau_sigma_e * g[i], 0.1)
            for k, v in zip(("px", "py", "pz", "e"), p):
                cols[k].append(v)
            cols["charge"].append(int(t_charge[trk].sum()))
            cols["tracks"].append(trk.astype(np.int32))
            cols["clusters"].append(clus.astype(np.int32))
            cols["pfos"].append(np.unique(pf[pf >= 0]).astype(np.int32))
            cols["id"].append(_id_bits(u_id[i], c.id_eff["tau"]))
        out = {k: np.asarray(v, np.float64) for k, v in cols.items() if k in ("px", "py", "pz", "e")}
        out["charge"] = np.asarray(cols["charge"], np.int8)
        out["id"] = np.asarray(cols["id"], np.uint8)
        for k in ("tracks", "clusters", "pfos"):
            out[k] = cols[k]
        return out
