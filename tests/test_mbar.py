"""MBAR: agreement with pymbar on its own test system, the exact free energies of harmonic
oscillators within the reported errors, calibration of those errors, equality with BAR for
two states, and honesty (NaN with the reason) where the samples cannot determine dF."""
import dataclasses
import importlib
import math
import warnings

import numpy as np
import pytest

from neqsim.analysis import UnreliableEstimateWarning, bar
from neqsim.analysis.mbar import MBARResult, mbar

# the module itself (neqsim.analysis.mbar names the function once the package exports it)
mbar_module = importlib.import_module("neqsim.analysis.mbar")

pymbar = pytest.importorskip("pymbar")
from pymbar import testsystems
from pymbar.other_estimators import bar as pymbar_bar

O_K = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
K_K = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
EXACT_F = -0.5 * np.log(2 * np.pi / K_K)   # f_k = -ln sqrt(2 pi / K_k)


def oscillators(n_k, rng, centres=O_K, springs=K_K):
    """x ~ N(O_k, 1/K_k) from each state in turn, u_k(x) = K_k/2 (x - O_k)^2."""
    x = np.concatenate([rng.normal(o, 1 / np.sqrt(k), n)
                        for o, k, n in zip(centres, springs, n_k)])
    return 0.5 * springs[:, None] * (x[None, :] - centres[:, None]) ** 2


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        yield


@pytest.mark.parametrize("n_k", [[1000, 1000, 1000, 1000, 1000],
                                 [1000, 1000, 0, 1000, 1000],
                                 [0, 1000, 1000, 1000, 1000]])
def test_agrees_with_pymbar_and_exact(n_k):
    _, u, n, _ = testsystems.HarmonicOscillatorsTestCase().sample(n_k, mode="u_kn", seed=0)
    res = mbar(u, n)
    ref = pymbar.MBAR(u, n)
    fe = ref.compute_free_energy_differences()
    ov = ref.compute_overlap()
    assert np.abs(res.delta_f - fe["Delta_f"]).max() < 1e-8
    assert np.abs(res.std_error - fe["dDelta_f"]).max() < 1e-8
    assert np.abs(res.overlap - ov["matrix"]).max() < 1e-8
    assert abs(res.overlap_eigenvalue - ov["scalar"]) < 1e-8
    assert np.abs(res.weights - ref.weights()).max() < 1e-10
    assert res.reliable and res.warnings == () and res.converged
    assert res.max_residual < 1e-12
    # exact: f_k - f_0 within 4 sigma, for every state (the unsampled one included)
    z = (res.free_energies[1:] - (EXACT_F[1:] - EXACT_F[0])) / res.std_error[0, 1:]
    assert np.all(np.abs(z) < 4), z
    assert np.allclose(res.weights.sum(axis=0), 1.0, atol=1e-12)
    assert np.allclose(res.overlap[np.asarray(n) > 0].sum(axis=1), 1.0)


def test_error_bars_are_calibrated():
    """200 seeded replicates of 200 samples per state: the +-1 sigma interval of
    delta_f[0, K-1] covers the exact value at 0.683 within 4 binomial sigma."""
    reps, hits, z = 200, 0, []
    exact = EXACT_F[-1] - EXACT_F[0]
    for r in range(reps):
        rng = np.random.default_rng(1000 + r)
        res = mbar(oscillators([200] * 5, rng), [200] * 5)
        assert res.reliable
        z.append((res.delta_f[0, -1] - exact) / res.std_error[0, -1])
    z = np.asarray(z)
    hits = int(np.sum(np.abs(z) <= 1))
    p = 0.6827
    assert abs(hits - reps * p) <= 4 * math.sqrt(reps * p * (1 - p)), hits / reps
    assert abs(np.mean(z)) < 4 / math.sqrt(reps)      # unbiased within its error
    print(f"1-sigma coverage {hits / reps:.3f}, sd(z) {np.std(z):.3f}")


def test_two_states_equal_bar():
    rng = np.random.default_rng(5)
    u = oscillators([700, 400], rng, np.array([0.0, 0.5]), np.array([1.0, 3.0]))
    res = mbar(u, [700, 400])
    wf = u[1, :700] - u[0, :700]          # works of state-0 samples
    wr = u[0, 700:] - u[1, 700:]          # works of state-1 samples
    b = bar(wf, wr, n_bootstrap=0)
    assert abs(res.delta_f[0, 1] - b.value) < 1e-10
    assert abs(res.delta_f[1, 0] + b.value) < 1e-10
    assert abs(res.overlap_eigenvalue - b.overlap) < 1e-10
    # MBAR's variance for two states is pymbar's BAR "MBAR" variance exactly; Bennett's
    # (neqsim's BAR, pymbar's default) agrees with it for good overlap
    ref = pymbar_bar(wf, wr, uncertainty_method="MBAR")
    assert abs(res.std_error[0, 1] - ref["dDelta_f"]) < 1e-10
    assert abs(res.std_error[0, 1] / b.std_error - 1) < 0.01


def test_beta_scales_energies():
    rng = np.random.default_rng(6)
    u = oscillators([300] * 5, rng)
    red = mbar(u, [300] * 5)
    kt = 2.5
    res = mbar(u * kt, [300] * 5, beta=1 / kt)
    assert np.allclose(res.delta_f, red.delta_f * kt, atol=1e-10, rtol=0)
    assert np.allclose(res.std_error, red.std_error * kt, atol=1e-10, rtol=0)
    assert res.beta == pytest.approx(1 / kt)


def test_infinite_energy_is_zero_weight():
    """An unsampled state: oscillator 0 behind a hard wall at x < 0, Z halved, so its
    f = f_0 + ln 2 exactly; the samples beyond the wall have weight 0 in it."""
    rng = np.random.default_rng(7)
    n_k = [2000, 2000, 0]
    x = np.concatenate([rng.normal(0, 1, 2000), rng.normal(1, 1 / np.sqrt(2), 2000)])
    u = np.stack([0.5 * x**2, (x - 1) ** 2, np.where(x < 0, np.inf, 0.5 * x**2)])
    res = mbar(u, n_k)
    assert res.reliable
    assert np.all(res.weights[x < 0, 2] == 0)
    assert abs(res.delta_f[0, 2] - math.log(2)) < 4 * res.std_error[0, 2]
    ref = pymbar.MBAR(u, np.array(n_k)).compute_free_energy_differences()
    assert np.abs(res.delta_f - ref["Delta_f"]).max() < 1e-8


def test_disjoint_samples_give_nan_with_the_reason():
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.uniform(0, 1, 100), rng.uniform(2, 3, 100)])
    u = np.stack([np.where(x <= 1, 0.0, np.inf), np.where(x >= 2, 0.0, np.inf)])
    with pytest.warns(UnreliableEstimateWarning, match="do not overlap"):
        res = mbar(u, [100, 100])
    assert math.isnan(res.delta_f[0, 1]) and math.isnan(res.std_error[0, 1])
    assert math.isnan(res.free_energies[1]) and res.free_energies[0] == 0
    assert not res.reliable and any("do not overlap" in w for w in res.warnings)
    assert res.overlap_eigenvalue < 1e-12
    est = res.estimate(0, 1)
    assert math.isnan(est.value) and not est.reliable and "do not overlap" in est.warnings[0]
    # finite energies but separated far beyond any overlap (the BAR disjointness test):
    # the pair is NaN; an unsampled state reweighted only from group {0} is determined
    x = np.concatenate([rng.normal(0, 1, 200), rng.normal(60, 1, 200)])
    u = np.stack([0.5 * x**2, 0.5 * (x - 60) ** 2,
                  np.where(x > 30, np.inf, (x - 0.2) ** 2)])
    res = mbar(u, [200, 200, 0])
    assert not res.reliable and math.isnan(res.delta_f[0, 1]) and math.isnan(res.delta_f[1, 2])
    assert res.groups == ((0, 2), (1,))
    assert abs(res.delta_f[0, 2] - 0.5 * math.log(2)) < 4 * res.std_error[0, 2]


def test_low_overlap_is_unreliable():
    """Connected but barely overlapping neighbours: a number, flagged."""
    rng = np.random.default_rng(9)
    centres, springs = np.array([0.0, 4.5]), np.array([1.0, 1.0])
    u = oscillators([500, 500], rng, centres, springs)
    with pytest.warns(UnreliableEstimateWarning, match="adjacent states 0 and 1"):
        res = mbar(u, [500, 500])
    assert math.isfinite(res.delta_f[0, 1]) and res.adjacent_overlap[0] < 0.03
    assert not res.reliable and not res.estimate(1, 0).reliable


def test_bad_input_raises_one_clear_error():
    rng = np.random.default_rng(10)
    u = oscillators([50] * 5, rng)
    n = [50] * 5
    bad = u.copy()
    bad[2, 17] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*state 2, sample 17"):
        mbar(bad, n)
    bad[2, 17] = -np.inf
    with pytest.raises(ValueError, match="-inf"):
        mbar(bad, n)
    bad[2, 17] = np.inf          # sample 17 was drawn from state 0: +inf there is fine
    mbar(bad, n, warn=False)
    bad[0, 17] = np.inf          # ... but not in its own state
    with pytest.raises(ValueError, match="drawn from state 0"):
        mbar(bad, n)
    with pytest.raises(ValueError, match="transposed"):
        mbar(u.T, n)
    with pytest.raises(ValueError, match=r"shape \(K, N\) = \(4, 200\)"):
        mbar(u, [50] * 4)
    with pytest.raises(ValueError, match="n_k sums to 240"):
        mbar(u, [50, 50, 50, 50, 40])
    with pytest.raises(ValueError, match="integer sample counts"):
        mbar(u, [50, 50, 50.5, 49.5, 50])
    with pytest.raises(ValueError, match="integer sample counts"):
        mbar(u, [50, 50, 110, -10, 50])
    with pytest.raises(ValueError, match="1-D"):
        mbar(u, [[50] * 5])
    with pytest.raises(ValueError, match="at least 2 states"):
        mbar(u[:1, :50], [50])
    with pytest.raises(TypeError, match="complex"):
        mbar(u + 0j, n)
    with pytest.raises(ValueError, match="beta"):
        mbar(u, n, beta=0)
    with pytest.raises(ValueError, match="n_bootstrap"):
        mbar(u, n, n_bootstrap=-1)
    with pytest.raises(TypeError, match="did you mean 'n_bootstrap'"):
        mbar(u, n, n_bootstraps=10)


def test_fallback_solvers_agree(monkeypatch):
    rng = np.random.default_rng(11)
    u = oscillators([400, 400, 0, 400, 400], rng)
    n = [400, 400, 0, 400, 400]
    ref = mbar(u, n)
    assert ref.solver == "newton" and ref.iterations < 20
    monkeypatch.setattr(mbar_module, "_newton", lambda u, n, f, tol: (f, 1, False))
    res = mbar(u, n)
    assert res.solver == "l-bfgs-b+self-consistent" and res.converged and res.reliable
    assert np.abs(res.delta_f - ref.delta_f).max() < 1e-9
    assert np.abs(res.std_error - ref.std_error).max() < 1e-9
    monkeypatch.setattr(mbar_module, "_self_consistent",
                        lambda u, n, f, tol: (f, 3, False))
    with pytest.warns(UnreliableEstimateWarning, match="did not converge"):
        res = mbar(u, n)
    assert not res.reliable and not res.converged and not res.estimate(0, 1).reliable


def test_bootstrap_is_seeded_and_consistent():
    rng = np.random.default_rng(12)
    n = [300, 300, 0, 300, 300]
    u = oscillators(n, rng)
    a = mbar(u, n, n_bootstrap=100, seed=3)
    b = mbar(u, n, n_bootstrap=100, seed=3)
    assert np.array_equal(a.ci, b.ci) and np.array_equal(a.bootstrap_std_error,
                                                          b.bootstrap_std_error)
    assert a.ci.shape == (5, 5, 2) and a.bootstrap_std_error.shape == (5, 5)
    off = ~np.eye(5, dtype=bool)
    ratio = a.bootstrap_std_error[off] / a.std_error[off]
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio
    lo, hi = a.ci[..., 0][off], a.ci[..., 1][off]
    assert np.all(lo < a.delta_f[off]) and np.all(a.delta_f[off] < hi)
    assert a.bootstrap_failed == 0
    assert np.isnan(mbar(u, n).ci).all()


def test_result_and_estimate_interface():
    rng = np.random.default_rng(13)
    n = [200] * 5
    res = mbar(oscillators(n, rng), n, n_bootstrap=20)
    assert isinstance(res, MBARResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.reliable = False
    with pytest.raises(ValueError):
        res.delta_f[0, 1] = 0.0           # read-only arrays
    est = res.estimate(0, 4)
    assert est.method == "MBAR" and est.quantity == "delta_f" and est.reliable
    assert est.value == res.delta_f[0, 4] == est.delta_f
    assert est.std_error == res.std_error[0, 4]
    assert est.ci == tuple(res.ci[0, 4]) and est.n == (200,) * 5
    assert res.estimate(-1, 0).value == res.delta_f[4, 0]
    assert res.ess.shape == (5,) and res.theta.shape == (5, 5)
    assert np.array_equal(res.free_energies_std_error, res.std_error[0])
    with pytest.raises(IndexError):
        res.estimate(0, 5)
    assert "state 4" in str(res)
