"""Error bars that are right about themselves (issue 15): heavy-tailed weights, correlated
starts, and calibration over seeded replicates.

Heavy tails: reduced work w = u1(x) - u0(x) between harmonic states u_k = K_k/2 (x - c_k)^2
with x ~ N(c_0, 1/K_0). The weights exp(-w) = exp((K_0 - K_1)/2 x^2 + ...) have a Pareto
tail of shape k = (K_0 - K_1) / K_0 (P(w > t) ~ t^(-1/k)), and dF = ln(K_1 / K_0) / 2
exactly, whatever the offsets. K_1 = K_0 / 4 is tail index 4/3: infinite variance.
"""
import math
import warnings

import numpy as np
import pytest
from scipy import stats

import neqsim as nq
from neqsim.analysis import (
    CorrelatedTrajectoriesWarning,
    UnreliableEstimateWarning,
    bar,
    blocking_inefficiency,
    jarzynski,
    pareto_tail,
    statistical_inefficiency,
)
from neqsim.analysis.tails import gpd_fit, k_threshold

P1, P2 = stats.norm.cdf(1) - stats.norm.cdf(-1), stats.norm.cdf(2) - stats.norm.cdf(-2)


def harmonic_works(rng, k, n, k0=4.0):
    """Works with a Pareto weight tail of shape k, and their exact dF (asymmetric:
    the target's centre is shifted by 0.2)."""
    k1 = k0 * (1.0 - k)
    x = rng.normal(0.3, 1.0 / math.sqrt(k0), n)
    return 0.5 * k1 * (x - 0.5) ** 2 - 0.5 * k0 * (x - 0.3) ** 2, 0.5 * math.log(k1 / k0)


def within_binomial(hits, n, p, sigmas=4.0):
    return abs(hits - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        warnings.simplefilter("ignore", CorrelatedTrajectoriesWarning)
        return fn(*args, **kw)


# --- the Pareto tail ------------------------------------------------------------------

@pytest.mark.parametrize("k", [-0.2, 0.3, 0.7])
def test_gpd_fit_recovers_the_shape_of_exact_pareto_samples(k):
    """Zhang-Stephens on 4000 exact GPD draws: within 4 asymptotic standard errors
    (1 + k) / sqrt(n) of the truth, and within 0.01 of scipy's maximum likelihood."""
    rng = np.random.default_rng(3)
    x = np.sort(stats.genpareto.rvs(k, scale=2.0, size=4000, random_state=rng))
    k_hat, sigma = gpd_fit(x)
    assert abs(k_hat - k) < 4 * (1 + k) / math.sqrt(x.size)
    k_ml, _, s_ml = stats.genpareto.fit(x, floc=0)
    assert abs(k_hat - k_ml) < 0.01 and abs(sigma / s_ml - 1) < 0.02


def test_threshold_and_small_samples():
    assert k_threshold(100) == pytest.approx(0.5)
    assert k_threshold(10 ** 6) == 0.7
    assert math.isnan(pareto_tail(np.zeros(10)).k_hat)        # too few to fit a tail
    assert math.isnan(pareto_tail(np.zeros(1000)).k_hat)      # all weights equal


def test_heavy_tailed_weights_are_flagged():
    """Tail index 4/3 (k = 3/4, infinite variance), n = 10^4, 500 seeded replicates: the
    delta-method intervals undercover badly, and EXP says unreliable on >= 95% of them,
    naming the Pareto shape; its bootstrap is flagged too."""
    rng = np.random.default_rng(20261202)
    reps, flagged, naive_hits, by_tail = 500, 0, 0, 0
    for _ in range(reps):
        w, exact = harmonic_works(rng, 0.75, 10_000)
        e = quiet(jarzynski, w, n_bootstrap=0)
        flagged += not e.reliable
        by_tail += any("Pareto k_hat" in m for m in e.warnings)
        naive_hits += abs(e.value - exact) < 2 * e.diagnostics["std_error_delta"]
        if not e.reliable and any("Pareto" in m for m in e.warnings):
            assert not e.diagnostics["bootstrap_valid"]
    assert flagged >= 0.95 * reps, flagged
    assert by_tail >= 0.9 * reps, by_tail
    assert naive_hits < 0.8 * reps   # the failure being guarded against


def test_moderately_heavy_tails_reliable_estimates_cover():
    """Tail shape k = 0.4 (finite variance, infinite fourth moment), n = 2000, 500
    replicates: among the estimates still called reliable, the 2-sigma intervals cover
    the exact dF at the nominal rate within 4 binomial sigma."""
    rng = np.random.default_rng(7)
    n_rel = hits = 0
    for _ in range(500):
        w, exact = harmonic_works(rng, 0.4, 2000)
        e = quiet(jarzynski, w, n_bootstrap=0)
        if e.reliable:
            n_rel += 1
            hits += abs(e.value - exact) < 2 * e.std_error
    assert n_rel >= 250, n_rel
    assert within_binomial(hits, n_rel, P2), (hits, n_rel)


def test_gaussian_work_is_not_condemned_by_the_tail():
    """Gaussian work gives log-normal weights (finite variance) whose k_hat exceeds 1/2
    before it sinks to 0; the Gaussian low tail keeps the Pareto rule from firing: at
    sigma_W = 1 and 2 kT it condemns under 1% of replicates."""
    rng = np.random.default_rng(5)
    for sigma, n in ((1.0, 1000), (2.0, 20_000)):
        fired = 0
        for _ in range(200):
            e = quiet(jarzynski, rng.normal(1.0 + 0.5 * sigma ** 2, sigma, n), n_bootstrap=0)
            fired += any("Pareto" in m for m in e.warnings)
        assert fired <= 2, (sigma, fired)


def test_bar_reports_the_tails_of_both_directions():
    rng = np.random.default_rng(2)
    wf, _ = harmonic_works(rng, 0.75, 5000)
    b = quiet(bar, wf, -wf[::-1] + 0.7, n_bootstrap=0)
    assert b.diagnostics["k_hat_forward"] > 0.5
    assert math.isfinite(b.diagnostics["k_hat_reverse"])
    lz = quiet(nq.analysis.ais_log_z, -wf)
    assert lz.k_hat == pytest.approx(pareto_tail(-wf).k_hat) and not lz.reliable
    assert "chain weights" in lz.warnings[0]


# --- correlated starts ----------------------------------------------------------------

def ar1(rng, n, rho):
    x = np.empty(n)
    x[0] = rng.normal()
    e = rng.normal(size=n) * math.sqrt(1 - rho * rho)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + e[i]
    return x


def test_statistical_inefficiency_of_ar1():
    """g = (1 + rho) / (1 - rho) for AR(1); Chodera's estimator and blocking agree with it
    within 25% at n = 10^5, and give ~1 for independent draws."""
    rng = np.random.default_rng(1)
    for rho in (0.5, 0.9):
        x = ar1(rng, 100_000, rho)
        g = (1 + rho) / (1 - rho)
        assert abs(statistical_inefficiency(x) / g - 1) < 0.25
        assert abs(blocking_inefficiency(x) / g - 1) < 0.25
    x = rng.normal(size=100_000)
    assert statistical_inefficiency(x) < 1.1 and blocking_inefficiency(x) < 1.2


def _switch(starts, seed):
    trap = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [1.0, 3.0], 50)    # drag and stiffen
    return nq.simulate(trap, proto, nq.EulerMaruyama(dt=0.01), starts.shape[0],
                       init=starts[:, None], seed=seed, progress=False)


def test_correlated_starts_get_honest_error_bars():
    """Switching from AR(1)-correlated snapshots (rho = 0.95, exact N(0, 1) marginals) of
    the trap at k = 1, n = 1000, 500 replicates: the naive 1-sigma coverage collapses
    (< 0.45); with g estimated from the run's trajectory order it is 0.68 +- 0.05, every
    replicate warns, and g is recorded. Exact dF = ln(3) / 2."""
    rng = np.random.default_rng(95)
    exact, reps = 0.5 * math.log(3.0), 500
    hits = naive = warned = 0
    gs = []
    for r in range(reps):
        run = _switch(ar1(rng, 1000, 0.95), r)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            e = jarzynski(run, n_bootstrap=0)
        warned += any(issubclass(c.category, CorrelatedTrajectoriesWarning) for c in caught)
        e0 = quiet(jarzynski, run, n_bootstrap=0, ordered=False)
        gs.append(e.g)
        hits += abs(e.value - exact) < e.std_error
        naive += abs(e0.value - exact) < e0.std_error
    assert abs(hits / reps - P1) < 0.05, hits / reps
    assert naive / reps < 0.45, naive / reps
    assert warned == reps
    assert np.median(gs) > 5


def test_independent_starts_keep_their_answers():
    """rho = 0 given as arrays: g ~ 1 and 1-sigma coverage nominal; exact equilibrium
    starts are not ordered, so the estimate is identical to ordered=False (today's)."""
    rng = np.random.default_rng(0)
    exact, reps, hits = 0.5 * math.log(3.0), 300, 0
    for r in range(reps):
        e = quiet(jarzynski, _switch(rng.normal(size=1000), r), n_bootstrap=0)
        hits += abs(e.value - exact) < e.std_error
    assert within_binomial(hits, reps, P1), hits
    trap = nq.systems.harmonic_trap()
    run = nq.simulate(trap, nq.protocols.linear([0.0, 1.0], [1.0, 3.0], 50),
                      nq.EulerMaruyama(dt=0.01), 2000, seed=1, progress=False)
    assert run.init == {"kind": "equilibrium"}
    a, b = quiet(jarzynski, run, seed=3), quiet(jarzynski, run.path_work, seed=3)
    assert (a.value, a.std_error, a.ci) == (b.value, b.std_error, b.ci)
    assert a.g == 1.0 and a.ordered is False


def test_bar_widens_for_correlated_starts():
    rng = np.random.default_rng(4)
    trap = nq.systems.harmonic_trap()
    fwd_p, rev_p = nq.protocols.crooks_pair(nq.protocols.linear([0.0, 1.0], [1.0, 3.0], 50))
    em = nq.EulerMaruyama(dt=0.01)
    x0 = ar1(rng, 2000, 0.95)
    x1 = ar1(rng, 2000, 0.95) / math.sqrt(3.0) + 1.0
    fwd = nq.simulate(trap, fwd_p, em, 2000, init=x0[:, None], seed=1, progress=False)
    rev = nq.simulate(trap, rev_p, em, 2000, init=x1[:, None], seed=2, progress=False)
    b = quiet(bar, fwd, rev, n_bootstrap=0)
    b0 = quiet(bar, fwd, rev, n_bootstrap=0, ordered=False)
    assert b.diagnostics["g_forward"] > 3 and b.diagnostics["g_reverse"] > 3
    assert b.value == b0.value and b.std_error > 1.5 * b0.std_error
    assert any("correlated" in m for m in b.warnings) and b.reliable


def test_snapshots_from_an_equilibrium_trajectory(tmp_path):
    """init=nq.Snapshots(run file, thin, skip): trajectory i starts at recorded frame
    skip + i * thin of the equilibrium run; the order is known to carry time, also after
    the switching run is written and reopened."""
    trap = nq.systems.harmonic_trap()
    eq = nq.simulate(trap, nq.protocols.hold([0.0, 1.0], 4000), nq.EulerMaruyama(dt=0.01), 1,
                     record_every=2, record_positions=True, seed=9, progress=False,
                     out=tmp_path / "eq.h5")
    frames = eq.trace["x"][0]
    snaps = nq.Snapshots(tmp_path / "eq.h5", thin=5, skip=100)
    proto = nq.protocols.linear([0.0, 1.0], [1.0, 3.0], 50)
    run = nq.simulate(trap, proto, nq.EulerMaruyama(dt=0.01), 300, init=snaps, seed=1,
                      progress=False, out=tmp_path / "sw.h5")
    np.testing.assert_array_equal(run.x0, frames[100::5][:300])
    assert run.init["source"] == "snapshots" and run.init["thin"] == 5
    again = nq.open_run(tmp_path / "sw.h5")
    assert nq.analysis.starts_ordered(again) and again.init["skip"] == 100
    e = quiet(jarzynski, again, n_bootstrap=0)
    assert e.ordered and e.g >= 1.0
    same = nq.simulate(trap, proto, nq.EulerMaruyama(dt=0.01), 300,
                       init=nq.Snapshots(frames, thin=5, skip=100), seed=1, progress=False)
    np.testing.assert_array_equal(same.path_work, run.path_work)
    with pytest.raises(ValueError, match="n_traj=1000 needs one each"):
        nq.simulate(trap, proto, nq.EulerMaruyama(dt=0.01), 1000, init=snaps,
                    progress=False)
    with pytest.raises(ValueError, match="thin must be an integer >= 1"):
        nq.Snapshots(frames, thin=0)
    with pytest.raises(ValueError, match="no recorded positions"):
        nq.Snapshots(run).positions(10, 1)


# --- calibrate ------------------------------------------------------------------------

def test_calibrate_the_breathing_trap():
    """500 replicates of 1000 trajectories of the breathing trap (BAOAB, k: 1 -> 4 and
    back): 1-sigma coverage 0.68 +- 0.05 against the exact dF = (kT/2) ln 4 = ln 2 for
    BAR and EXP forward (never flagged here) and for EXP reverse where it calls itself
    reliable (about a quarter of its replicates are flagged: the expansion's weights have
    a heavy tail, and their error bars are wide), and the calibration passes; the same
    seeds give the same numbers with an executor."""
    trap = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 100)
    integ = nq.Langevin(dt=0.05, splitting="V R O R V")
    cal = nq.calibrate(trap, proto, integ, 1000, replicates=500, seed=1, progress=False)
    assert cal.reference_kind == "exact" and cal.reference == pytest.approx(math.log(2))
    assert [r.estimator for r in cal.rows] == ["EXP forward", "EXP reverse", "BAR"]
    for row in cal.rows:
        cov = row.coverage_1 if row.fraction_unreliable == 0 else row.coverage_1_reliable
        assert abs(cov - P1) < 0.05, row
        assert 0.8 < row.spread / row.mean_error < 1.25, row
    assert cal.rows[1].fraction_unreliable > 0.1
    assert cal.passed, cal.table()
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as ex:
        again = nq.calibrate(trap, proto, integ, 1000, replicates=20, seed=1, executor=ex,
                             progress=False)
    np.testing.assert_array_equal(again.values["BAR"], cal.values["BAR"][:20])


def test_calibrate_reports_undersampled_exp_and_exits_nonzero(capsys, tmp_path):
    """A dragged trap far from equilibrium with 10 trajectories per replicate: EXP's
    intervals undercover; neqsim calibrate says so in its table and exits 1 (0 for a
    well-sampled setting), and writes the figure."""
    from neqsim.cli import main
    rc = main(["calibrate", "dragged-trap", "--n-traj", "10", "--replicates", "100",
               "--no-reverse", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "EXP forward" in out and "FAIL: 2-sigma coverage" in out and "under" in out
    rc = main(["calibrate", "breathing-trap", "--n-traj", "500", "--replicates", "60",
               "--no-progress", "--plot", str(tmp_path / "cal.png")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (tmp_path / "cal.png").stat().st_size > 10_000
    rc = main(["calibrate", "breathing-trap", "--replicates", "1", "--no-progress"])
    assert rc == 2 and "replicates must be an integer >= 2" in capsys.readouterr().err
    small = ["calibrate", "breathing-trap", "--n-traj", "200", "--replicates", "4",
             "--no-progress"]
    assert main(small) == 0
    serial = capsys.readouterr().out
    assert main(small + ["--workers", "2"]) == 0     # replicates in spawned processes
    assert capsys.readouterr().out == serial


def test_calibrate_without_an_exact_value_uses_the_pooled_estimate():
    """Where the system knows no dF the reference is BAR pooled over all replicates: a
    two-dimensional breathing trap with its closed form hidden; the pooled value agrees
    with the hidden dF = ln 4 within 4 of its errors, and the replicates cover it."""
    trap = nq.systems.harmonic_trap(dim=2)
    trap._exact_free_energy = lambda lam, beta: None     # hide the closed form
    proto = nq.protocols.linear([0.0, 0.0, 1.0], [0.0, 0.0, 4.0], 50)
    cal = nq.calibrate(trap, proto, nq.Langevin(dt=0.05), 500, replicates=60, seed=3,
                       progress=False)
    assert cal.reference_kind == "pooled"
    assert abs(cal.reference - math.log(4.0)) < 4 * cal.reference_std_error
    assert "pooled dF" in cal.table()
