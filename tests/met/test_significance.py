"""Object-based MET significance: invariants, χ²(2) calibration on toy Z→ℓℓ (no real MET),
and large S on toy Z→νν. Events go through METMaker (map, rebuild) before the significance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metflow.edm import keys as mk
from metflow.edm.met import MissingETAssociationHelper, ObjectType, Source
from metflow.edm.units import GeV

from metflow.algorithms.met.maker import METBuilder, METMaker
from metflow.algorithms.met.significance import (SOFT_TERM_RESO, METSignificance,
                                                 relative_pt_resolution, significance_key)


import test_maker_events  # noqa: E402

E = test_maker_events  # the shared event builder (a sibling module; tests/met is on sys.path)


def ks_uniform_pvalue(u: np.ndarray) -> float:
    """Kolmogorov-Smirnov p-value of samples `u` against U(0, 1) (asymptotic, Stephens' correction)."""
    u = np.sort(np.asarray(u))
    n = len(u)
    i = np.arange(1, n + 1)
    d = max(np.max(i / n - u), np.max(u - (i - 1) / n))
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    return float(min(1.0, max(0.0, 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam)
                                           for k in range(1, 101)))))


def test_ks_helper_rejects_non_uniform():
    rng = np.random.default_rng(0)
    assert ks_uniform_pvalue(rng.random(3000)) > 1e-3
    assert ks_uniform_pvalue(rng.random(3000) ** 1.3) < 1e-6


def _xy(pt, phi):
    return np.array([pt * math.cos(phi), pt * math.sin(phi)])


def _vec(xy, eta):
    pt = float(np.hypot(*xy))
    pz = pt * math.sinh(eta)
    return np.array([xy[0], xy[1], pz, math.sqrt(pt * pt + pz * pz)])


def toy_z_event(rng, invisible: bool):
    """Z→μμ (or νν) + recoil jets + soft term, with reco = truth + error and error ~ N(0, σ(reco)),
    so the true MET is zero (Z→μμ) or pT(Z) (Z→νν) and the mismeasurement is Gaussian."""
    ev = E.Event()
    zpt = rng.exponential(20 * GeV) if not invisible else rng.uniform(100, 200) * GeV
    zphi = rng.uniform(-math.pi, math.pi)
    z = _xy(zpt, zphi)
    truth_sum = np.zeros(2)
    if not invisible:
        q = _xy(rng.uniform(30, 45) * GeV, rng.uniform(-math.pi, math.pi))
        for sign in (1, -1):
            reco = z / 2 + sign * q
            pt = float(np.hypot(*reco))
            err = reco / pt * relative_pt_resolution(ObjectType.Muon, pt) * pt * rng.normal()
            truth_sum += reco - err
            ev.objects["m"].append(dict(p4=_vec(reco, rng.uniform(-2, 2)), pfos=[], id_track=-1, type=0))
    else:
        truth_sum += z   # the neutrinos
    for _ in range(int(rng.integers(0, 3))):
        reco = _xy(rng.uniform(40, 120) * GeV, rng.uniform(-math.pi, math.pi))
        pt = float(np.hypot(*reco))
        err = reco / pt * relative_pt_resolution(ObjectType.Jet, pt) * pt * rng.normal()
        truth_sum += reco - err
        ev.pfo_p4.append(_vec(reco - err, rng.uniform(-2, 2)))
        ev.pfo_track.append(-1)
        constit = ev.pfo_p4[-1]
        ev.jets.append(dict(pfos=[len(ev.pfo_p4) - 1], constit=constit,
                            p4=np.array([reco[0], reco[1], constit[2], constit[3]]), jvt=0.95))
    soft_truth = -truth_sum
    soft_reco = soft_truth + rng.normal(0, SOFT_TERM_RESO, 2)
    ev.pfo_p4.append(_vec(soft_reco, rng.uniform(-3, 3)))
    ev.pfo_track.append(-1)
    return ev


def significance_of(events, soft=mk.SOFT_CLUS, total=mk.FINAL_CLUS):
    conts, m, core = E.block(events)
    maker = METMaker(do_pflow=True, jet_selection="Loose")
    helper, met = MissingETAssociationHelper(m), METBuilder(m.n_events)
    maker.rebuild_met(mk.MUONS_TERM, ObjectType.Muon, conts["m"], helper, met)
    res = maker.rebuild_jet_met(mk.REF_JET, soft, met, conts["jets"], core, helper)
    assert (res.status == 1).all()  # every toy jet is hard
    maker.build_met_sum(total, met, Source.cluster_lc())
    return METSignificance(soft_term_reso=SOFT_TERM_RESO).from_builder(met, total, {mk.MUONS_TERM: ObjectType.Muon,
                                                       mk.REF_JET: ObjectType.Jet}), met


def test_zll_significance_is_chi2_with_two_dof(capsys):
    rng = np.random.default_rng(2024)
    rec, _ = significance_of([toy_z_event(rng, invisible=False) for _ in range(3000)])
    s = rec["s"].astype(np.float64)
    assert (s >= 0).all()
    p_values = np.exp(-s / 2)          # χ²(2) survival function
    p_ks = ks_uniform_pvalue(p_values)
    with capsys.disabled():
        print(f"\n[significance] Z->mumu toy: {len(s)} events, mean S = {s.mean():.3f} (χ²(2): 2), "
              f"KS p-value of exp(-S/2) vs U(0,1) = {p_ks:.3f}")
    assert p_ks > 1e-3
    assert abs(s.mean() - 2.0) < 0.2


def test_znunu_significance_is_large():
    rng = np.random.default_rng(7)
    rec, _ = significance_of([toy_z_event(rng, invisible=True) for _ in range(300)])
    assert np.median(rec["s"]) > 50
    assert (rec["sqrt_s"] > 3).mean() > 0.95


def test_isotropic_soft_only_gives_met2_over_sigma2_and_rotation_invariance():
    sig = METSignificance(soft_term_reso=SOFT_TERM_RESO)
    rng = np.random.default_rng(1)
    mpx, mpy = rng.normal(0, 20 * GeV, 50), rng.normal(0, 20 * GeV, 50)
    var = np.full(50, SOFT_TERM_RESO ** 2)
    rec = sig.significance(mpx, mpy, var, var, np.zeros(50))
    np.testing.assert_allclose(rec["s"], (mpx ** 2 + mpy ** 2) / SOFT_TERM_RESO ** 2, rtol=1e-5)
    # an anisotropic covariance rotated together with the MET leaves S unchanged
    vxx, vyy, vxy = var * 3, var, var * 0.5
    a = 0.7
    c, s = math.cos(a), math.sin(a)
    rx, ry = c * mpx - s * mpy, s * mpx + c * mpy
    rvxx = c * c * vxx - 2 * s * c * vxy + s * s * vyy
    rvyy = s * s * vxx + 2 * s * c * vxy + c * c * vyy
    rvxy = s * c * (vxx - vyy) + (c * c - s * s) * vxy
    np.testing.assert_allclose(sig.significance(rx, ry, rvxx, rvyy, rvxy)["s"],
                               sig.significance(mpx, mpy, vxx, vyy, vxy)["s"], rtol=1e-4)
    # equals the quadratic form p^T V^-1 p when |rho| < 0.9
    det = vxx * vyy - vxy ** 2
    quad = (vyy * mpx ** 2 - 2 * vxy * mpx * mpy + vxx * mpy ** 2) / det
    np.testing.assert_allclose(sig.significance(mpx, mpy, vxx, vyy, vxy)["s"], quad, rtol=1e-4)


def test_significance_key_and_resolution_errors():
    assert significance_key("AntiKt4EMPFlow") == "METSignificance_AntiKt4EMPFlow"
    with pytest.raises(ValueError, match="non-empty"):
        significance_key("")
    with pytest.raises(ValueError, match="no pT resolution"):
        relative_pt_resolution(ObjectType.CaloCluster, np.array([1.0]))


# ---------------------------------------------------------------------------------------------
# on the synthetic source: real reconstruction, default selection, calibrated resolutions

def _synthetic_significance(process: str, n: int, mu: float = 40.0, seed: int = 11):
    """(S of FinalClus, S of FinalTrk, truth MET, Z selection) for synthetic events through reco
    and METMaker; the Z selection: exactly two selected same-flavour leptons of opposite charge,
    66 < m_ll < 116 GeV (a lepton outside the acceptance is real, undetectable momentum)."""
    from metflow.algorithms.generation.synthetic import SyntheticSource
    from metflow.algorithms.met.maker import rebuild_event_met
    from metflow.algorithms.met.selection import OBJECT_KINDS, METObjectSelection
    run_reco = E.load("test_end_to_end").run_reco
    hard = {mk.REF_ELE: ObjectType.Electron, mk.REF_GAMMA: ObjectType.Photon,
            mk.REF_TAU: ObjectType.Tau, mk.MUONS_TERM: ObjectType.Muon, mk.REF_JET: ObjectType.Jet}
    block = SyntheticSource(seed=seed, process=process, mu=mu, n_events=n).read(0, n)
    store = run_reco(block, "AntiKt4EMPFlow")
    objects = {kind: METObjectSelection(objects=key, selected="METSelected" + key, min_pt=pt,
                                        max_abs_eta=eta, id_level=idl,
                                        require_isolated=iso and kind in ("electrons", "photons"))
               .compute(block[key])
               for kind, (key, pt, eta, idl, iso) in OBJECT_KINDS.items() if kind != "jets"}
    met, _ = rebuild_event_met(METMaker(do_pflow=True), store[mk.met_assoc_key("AntiKt4EMPFlow")],
                               store[mk.met_core_key("AntiKt4EMPFlow")],
                               block[mk.jet_container_key("AntiKt4EMPFlow")], objects)
    s_clus = METSignificance().from_builder(met, mk.FINAL_CLUS, hard)["s"].astype(np.float64)
    s_trk = METSignificance(track_soft_term=True).from_builder(met, mk.FINAL_TRK, hard)["s"]
    truth = block[mk.TRUTH_MET]
    z_selected = np.zeros(n, bool)
    for term in (mk.REF_ELE, mk.MUONS_TERM):
        leptons, weight = met.links[term]
        used = np.asarray(weight) > 0
        ev = leptons.event_of_object()[used]
        total = {c: np.bincount(ev, leptons[c][used].astype(np.float64), minlength=n)
                 for c in ("px", "py", "pz", "e", "charge")}
        mass = np.sqrt(np.maximum(total["e"] ** 2 - total["px"] ** 2 - total["py"] ** 2
                                  - total["pz"] ** 2, 0.0))
        z_selected |= ((np.bincount(ev, minlength=n) == 2) & (total["charge"] == 0)
                       & (mass > 66 * GeV) & (mass < 116 * GeV))
    return (s_clus, np.asarray(s_trk, np.float64), np.hypot(truth["nonint_mpx"], truth["nonint_mpy"]),
            z_selected)


def test_synthetic_zll_significance_is_chi2_with_two_dof(capsys):
    """Selected Z->mumu and Z->ee at mu = 40 (no real MET), seed 11, independent of the
    calibration (seed 3): p-values exp(-S/2) compatible with U(0, 1) for both soft terms."""
    for process in ("zmumu", "zee"):
        s_clus, s_trk, _, z = _synthetic_significance(process, 3000)
        assert (s_clus >= 0).all() and (s_trk >= 0).all()
        assert z.sum() > 1000
        for name, s in (("FinalClus", s_clus[z]), ("FinalTrk", s_trk[z])):
            p_ks = ks_uniform_pvalue(np.exp(-s / 2))
            with capsys.disabled():
                print(f"\n[significance] synthetic {process} mu=40 seed 11, {z.sum()} Z-selected of "
                      f"3000: {name} <S> = {s.mean():.2f} (chi2(2): 2), KS p = {p_ks:.3g}")
            assert 1.6 < s.mean() < 2.5
            assert p_ks > 1e-3


def test_synthetic_lost_lepton_events_are_significant():
    """Z->mumu events with a muon outside the selection carry real reconstructed MET: S larger."""
    s_clus, s_trk, _, z = _synthetic_significance("zmumu", 1500)
    assert (~z).sum() > 200
    assert np.median(s_trk[~z]) > 1.5 * np.median(s_trk[z])


def test_synthetic_znunu_significance_is_large_where_there_is_met(capsys):
    s_clus, s_trk, truth, _ = _synthetic_significance("znunu", 3000)
    zmm, _, _, z = _synthetic_significance("zmumu", 3000)
    real = truth > 50 * GeV
    assert real.sum() > 50
    assert np.median(s_clus[real]) > 4 * np.median(zmm[z])
    assert np.median(s_clus[real]) > 4 and np.median(s_trk[real]) > 4
    with capsys.disabled():
        print(f"\n[significance] synthetic znunu mu=40: median S = {np.median(s_clus):.2f} (all; "
              f"median truth MET {np.median(truth) / GeV:.1f} GeV), FinalClus {np.median(s_clus[real]):.1f}, "
              f"FinalTrk {np.median(s_trk[real]):.1f} for truth MET > 50 GeV ({real.sum()} events); "
              f"Z->mumu median {np.median(zmm[z]):.2f}")


def test_recoil_bias_and_variance_follow_capped_pthard():
    """The expected MET is -beta*min(pthard, cap) along pthard, with (k*u)^2 added along it;
    the constant 'Random' soft term has neither."""
    from metflow.algorithms.met.significance import CST_MODEL
    conts, _, _ = E.block([toy_z_event(np.random.default_rng(s), invisible=False) for s in range(4)])
    muons = conts["m"]
    weight = np.ones(len(muons["px"]))
    ev = muons.event_of_object()
    hx = np.bincount(ev, muons["px"].astype(np.float64), minlength=4)
    hy = np.bincount(ev, muons["py"].astype(np.float64), minlength=4)
    u = np.minimum(np.hypot(hx, hy), CST_MODEL.recoil_cap * GeV)
    vxx, vyy, vxy, bx, by = METSignificance().covariance(4, [(ObjectType.Muon, muons, weight)])
    np.testing.assert_allclose(np.hypot(bx, by), CST_MODEL.recoil_bias * u, rtol=1e-9)
    np.testing.assert_allclose(bx * hx + by * hy, -CST_MODEL.recoil_bias * u * np.hypot(hx, hy), rtol=1e-9)
    lep = METSignificance(soft_term_reso=1e-9).covariance(4, [(ObjectType.Muon, muons, weight)])
    along = ((vxx - lep[0]) * hx * hx + 2 * (vxy - lep[2]) * hx * hy + (vyy - lep[1]) * hy * hy) / (hx * hx + hy * hy)
    np.testing.assert_allclose(along, (CST_MODEL.recoil_k * u) ** 2, rtol=1e-6)
    assert not np.any(lep[3]) and not np.any(lep[4])


def test_significance_reads_back_without_the_algorithm_module(tmp_path):
    """A file with METSignificance_<name> decodes in a process that never imported significance.py."""
    import subprocess
    import sys

    from metflow.cli import main

    out = tmp_path / "rebuild.parquet"
    assert main(["run", "met_rebuild", "-n", "40", "-q", "--output", str(out)]) == 0
    code = ("import sys; from metflow.edm.persistence import read_parquet; "
            "d = read_parquet(sys.argv[1]); s = d['METSignificance_AntiKt4EMPFlow']; "
            "assert 'metflow.algorithms.met.significance' not in sys.modules; print(s.n_events)")
    result = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "40"
