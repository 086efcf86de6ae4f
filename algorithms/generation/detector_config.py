"""Parameters of the Pythia8 toy detector: one frozen record, defaults documented in docs/toy_detector.md.

Units: MeV, mm, rad (``metflow.edm.units``). ``GenerationConfig.detector`` holds one; ``ToyDetector``
reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metflow.edm.units import GeV, MeV, mm


@dataclass(frozen=True)
class DetectorConfig:
    """Parameters of the toy detector (see docs/toy_detector.md for their physics meaning)."""

    # tracking
    track_eta_max: float = 2.5
    track_pt_min: float = 500 * MeV
    track_eff_central: float = 0.91          # hadrons, |eta| < 1.3
    track_eff_forward: float = 0.85          # hadrons, 1.3 < |eta| < 2.5
    track_eff_electron: float = 0.97         # electrons (bremsstrahlung losses)
    track_eff_muon: float = 0.99
    track_quality_fraction: float = 0.97     # tracks passing the "quality" hit requirements
    track_sigma_pt_const: float = 0.01       # sigma(pT)/pT constant term (x2 for |eta| > 1.5)
    track_sigma_pt_slope: float = 0.0005 / GeV  # sigma(pT)/pT per unit pT
    track_sigma_d0: tuple = (0.010 * mm, 0.080 * mm * GeV)   # constant, multiple-scattering (/pT)
    track_sigma_z0: tuple = (0.050 * mm, 0.100 * mm * GeV)
    vertex_sigma_xyz: tuple = (0.010 * mm, 0.010 * mm, 0.030 * mm)
    vertex_dz0_sin_theta_max: float = 3.0 * mm
    vertex_d0_max: float = 2.0 * mm
    vertex_min_tracks: int = 2
    # beam spot
    beamspot_sigma_xy: float = 0.010 * mm
    beamspot_sigma_z: float = 35.0 * mm
    # magnetic field: a charged particle of pT reaches the calorimeter at phi - q*asin(bend_pt/pT)
    bend_pt: float = 450 * MeV
    # calorimeter
    calo_eta_max: float = 4.9
    calo_n_eta: int = 98
    calo_n_phi: int = 64
    em_sampling: tuple = (0.10, 0.25)        # sigma/E = a/sqrt(E/GeV) (central, |eta| > 3.2)
    em_constant: tuple = (0.007, 0.03)
    had_response: float = 0.70              # e/h: hadron deposit at the EM scale per unit energy
    had_sampling: tuple = (0.50, 0.90)
    had_constant: tuple = (0.03, 0.07)
    core_fraction_em: float = 0.90
    core_fraction_had: float = 0.70
    muon_deposit: float = 1.5 * GeV          # MIP energy left by a muon (EM scale)
    cell_noise: tuple = (100 * MeV, 150 * MeV, 300 * MeV)  # |eta| < 2.5, < 3.2, forward
    topo_thresholds: tuple = (4.0, 2.0, 0.0)  # seed, grow, boundary significance
    noise_mu_ref: float = 40.0               # pileup noise in the thresholds is that of this fixed mu
    # particle flow
    pflow_match_dr: float = 0.2
    pflow_remnant_sigma: float = 1.5
    # jets
    jet_radius: float = 0.4
    jet_constit_pt_min: float = 5 * GeV
    jet_pt_min: float = 15 * GeV             # calibrated
    jet_eta_max: float = 4.5
    rho_eta_max: float = 2.0
    # toy jet energy scale: calibrated = subtracted * (jes_const + jes_slope / sqrt(pT_sub/GeV))
    jes_emtopo: tuple = (0.97, 0.15)
    jes_empflow: tuple = (1.00, 0.25)
    jvt_corrjvf_k: float = 0.01
    jvt_weights: tuple = (6.0, 15.0, -4.0)   # logistic(w0*corrJVF + w1*RpT + w2)
    jvt_no_tracks: float = -0.1
    # leptons, photons, taus
    electron_pt_min: float = 7 * GeV
    electron_eta_max: float = 2.47
    photon_pt_min: float = 10 * GeV
    photon_eta_max: float = 2.37
    muon_pt_min: float = 4 * GeV
    muon_eta_max: float = 2.7
    tau_pt_min: float = 20 * GeV
    tau_eta_max: float = 2.5
    reco_eff: dict = field(default_factory=lambda: {"electron": 0.97, "photon": 0.95, "muon": 0.98, "tau": 0.90})
    # (loose, medium, tight) identification efficiencies, nested
    id_eff: dict = field(default_factory=lambda: {
        "electron": (0.95, 0.88, 0.78), "electron_nonprompt": (0.30, 0.10, 0.05),
        "photon": (0.95, 0.90, 0.85), "muon": (0.99, 0.96, 0.92),
        "muon_nonprompt": (0.90, 0.80, 0.60), "tau": (0.85, 0.70, 0.55)})
    isolation_dr: float = 0.2
    isolation_max: float = 0.06               # relative track and calorimeter isolation
    muon_sigma_pt: tuple = (0.015, 0.0002 / GeV)   # combined; standalone x3
    tau_sigma_e: float = 0.08
