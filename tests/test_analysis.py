"""Estimators: agreement with pymbar where it is right, honesty where it is not, exactness
on Crooks-consistent Gaussian work, and calibration of the reported error bars."""
import math
import warnings

import numpy as np
import pytest
from scipy import stats

import neqsim as nq
from neqsim.analysis import UnreliableEstimateWarning, ais_log_z, bar, crooks, jarzynski

pymbar_estimators = pytest.importorskip("pymbar.other_estimators")


def gaussian_works(rng, delta_f, sigma, n_f, n_r, beta=1.0):
    """Crooks-consistent Gaussian works: w_F ~ N(dF + beta s^2/2, s^2),
    w_R ~ N(-dF + beta s^2/2, s^2) (energy units)."""
    return (rng.normal(delta_f + 0.5 * beta * sigma**2, sigma, n_f),
            rng.normal(-delta_f + 0.5 * beta * sigma**2, sigma, n_r))


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        yield


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 3.0])
def test_agrees_with_pymbar(sigma):
    rng = np.random.default_rng(int(10 * sigma))
    wf, wr = gaussian_works(rng, 1.7, sigma, 900, 600)
    e = jarzynski(wf, 1.0, n_bootstrap=0)
    ref = pymbar_estimators.exp(wf)
    assert abs(e.value - ref["Delta_f"]) < 1e-8
    assert abs(e.diagnostics["std_error_delta"] - ref["dDelta_f"]) < 1e-8
    b = bar(wf, wr, 1.0, n_bootstrap=0)
    ref = pymbar_estimators.bar(wf, wr)
    assert abs(b.value - ref["Delta_f"]) < 1e-8
    assert abs(b.std_error - ref["dDelta_f"]) < 1e-8


def test_beta_scaling_matches_reduced_units():
    rng = np.random.default_rng(3)
    beta = 2.5
    wf, wr = gaussian_works(rng, 0.4, 0.6, 500, 400, beta)
    b = bar(wf, wr, beta, n_bootstrap=0)
    ref = pymbar_estimators.bar(beta * wf, beta * wr)
    assert abs(b.value - ref["Delta_f"] / beta) < 1e-8
    assert abs(b.std_error - ref["dDelta_f"] / beta) < 1e-8


def test_nan_raises_where_pymbar_returns_zero():
    rng = np.random.default_rng(0)
    wf, wr = gaussian_works(rng, 1.0, 1.0, 100, 100)
    wf[3] = np.nan
    ref = pymbar_estimators.bar(wf, wr)
    assert ref["Delta_f"] == 0.0 and ref["dDelta_f"] == 0.0  # pymbar's plausible garbage
    with pytest.raises(ValueError, match="NaN"):
        bar(wf, wr)
    with pytest.raises(ValueError, match="NaN"):
        jarzynski(wf)
    with pytest.raises(ValueError, match="NaN"):
        ais_log_z(-wf)


def test_no_overlap_is_flagged_not_a_number():
    rng = np.random.default_rng(1)
    wf = rng.normal(10.0, 0.1, 200)
    wr = rng.normal(10.0, 0.1, 200)   # -W_R ~ -10: far from every forward work
    ref = pymbar_estimators.bar(wf, wr)
    exp_mean = 0.5 * (pymbar_estimators.exp(wf)["Delta_f"] - pymbar_estimators.exp(wr)["Delta_f"])
    assert abs(ref["Delta_f"] - exp_mean) < 1e-6          # pymbar: a plausible number
    with pytest.warns(UnreliableEstimateWarning, match="no overlap"):
        warnings.simplefilter("always", UnreliableEstimateWarning)
        b = bar(wf, wr)
    assert math.isnan(b.value) and not b.reliable and "no overlap" in b.warnings[0]
    assert b.overlap == 0.0


def test_constant_work_is_exact_where_pymbar_raises():
    with pytest.raises(Exception):
        pymbar_estimators.bar(np.full(50, 2.0), np.full(70, -2.0))
    b = bar(np.full(50, 2.0), np.full(70, -2.0), 1.0)
    assert b.value == pytest.approx(2.0, abs=1e-12) and b.std_error == 0.0 and b.reliable
    assert b.ci == pytest.approx((2.0, 2.0), abs=1e-12)
    e = jarzynski(np.full(50, 2.0), 3.0)
    assert e.value == pytest.approx(2.0, abs=1e-12) and e.std_error == 0.0


def test_inf_work_is_a_zero_weight_and_minus_inf_an_error():
    w = np.array([0.5, 1.0, np.inf, 2.0])
    e = jarzynski(w, 1.0, n_bootstrap=0)
    assert e.value == pytest.approx(-math.log((math.exp(-0.5) + math.exp(-1) + math.exp(-2)) / 4))
    with pytest.raises(ValueError, match="-inf"):
        jarzynski(np.array([0.0, -np.inf]))


def test_numpy_error_state_untouched():
    before = np.geterr()
    np.seterr(all="raise")
    try:
        bar(np.array([800.0, 900.0, np.inf]), np.array([-750.0, 1e4]), 1.0, n_bootstrap=5)
        jarzynski(np.array([-700.0, 800.0]), 1.0, n_bootstrap=5)
        crooks(*gaussian_works(np.random.default_rng(0), 0.0, 1.0, 3000, 3000))
        assert np.geterr()["over"] == "raise"
    finally:
        np.seterr(**before)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
def test_exact_on_gaussian_work(sigma):
    """BAR, Crooks and the cumulant estimate recover dF within 4 sigma for every sigma;
    EXP does wherever it calls itself reliable (here: n large enough for sigma <= 2)."""
    rng = np.random.default_rng(100 + int(10 * sigma))
    beta, delta_f = 1.0, 2.0
    n = 20_000
    wf, wr = gaussian_works(rng, delta_f, sigma, n, int(0.8 * n))
    b = bar(wf, wr, beta, n_bootstrap=50)
    assert b.reliable and abs(b.value - delta_f) < 4 * b.std_error
    assert b.ci[0] < b.value < b.ci[1]
    assert abs(b.bootstrap_std_error / b.std_error - 1) < 0.35
    e = jarzynski(wf, beta, n_bootstrap=0)
    if sigma <= 2.0:
        assert e.reliable
    if e.reliable:
        assert abs(e.value - delta_f) < 4 * e.std_error
    c_val, c_se = nq.analysis.cumulant(wf, beta)
    assert abs(c_val - delta_f) < 4 * c_se
    chk = crooks(wf, wr, beta)
    assert abs(chk.slope - beta) < 4 * chk.slope_error
    assert abs(chk.intercept + beta * delta_f) < 4 * chk.intercept_error
    assert abs(chk.delta_f - delta_f) < 4 * chk.delta_f_error
    assert abs(chk.crossing - delta_f) < 0.1 + 4 * chk.delta_f_error
    assert chk.p_value > 1e-4


def test_crooks_detects_a_violation():
    """Works that are not Crooks-consistent (reverse shifted by 0.5 kT) fail the fit."""
    rng = np.random.default_rng(9)
    wf, wr = gaussian_works(rng, 1.0, 1.0, 50_000, 50_000)
    chk = crooks(wf, wr + 0.5, 1.0)
    assert chk.p_value < 1e-6 or abs(chk.delta_f - 1.0) > 4 * chk.delta_f_error


def _binomial_ok(hits, n, p):
    lo, hi = stats.binom.interval(0.9999, n, p)
    return lo <= hits <= hi


@pytest.mark.slow
def test_error_bars_are_calibrated():
    """Over 1000 seeded replicates of Gaussian work the reported 1- and 2-sigma intervals
    of BAR (always) and of EXP (where it calls itself reliable) cover the truth at their
    nominal rates within binomial limits (99.99%); where EXP cannot be trusted
    (sigma = 3 kT, N = 100) its diagnostics say so on at least 95% of replicates."""
    rng = np.random.default_rng(2026)
    p1, p2 = stats.norm.cdf(1) - stats.norm.cdf(-1), stats.norm.cdf(2) - stats.norm.cdf(-2)
    delta_f, reps = 1.3, 1000
    for sigma, n in ((0.5, 100), (1.0, 100), (1.0, 1000), (2.0, 100), (3.0, 100)):
        bar_hits = np.zeros(2, int)
        exp_hits = np.zeros(2, int)
        n_reliable = 0
        for _ in range(reps):
            wf, wr = gaussian_works(rng, delta_f, sigma, n, n)
            b = bar(wf, wr, 1.0, n_bootstrap=0)
            z = abs(b.value - delta_f) / b.std_error
            bar_hits += (z < 1, z < 2)
            e = jarzynski(wf, 1.0, n_bootstrap=0)
            if e.reliable:
                n_reliable += 1
                z = abs(e.value - delta_f) / e.std_error
                exp_hits += (z < 1, z < 2)
        case = f"sigma={sigma}, n={n}"
        assert _binomial_ok(bar_hits[0], reps, p1), (case, bar_hits)
        assert _binomial_ok(bar_hits[1], reps, p2), (case, bar_hits)
        if n_reliable >= 100:
            assert _binomial_ok(exp_hits[0], n_reliable, p1), (case, exp_hits, n_reliable)
            assert _binomial_ok(exp_hits[1], n_reliable, p2), (case, exp_hits, n_reliable)
        if (sigma, n) == (3.0, 100):
            assert n_reliable <= 0.05 * reps, n_reliable
        if sigma <= 1.0:
            assert n_reliable >= 0.5 * reps, (case, n_reliable)


def test_light_tailed_work_is_not_condemned_by_the_gaussian_model():
    """Work uniform on [0, L] (bounded below, like AIS log weights bounded above): the
    low-side spread alone would predict an ESS of n exp(-beta^2 sigma_low^2) ~ 1e-17 and
    an error bar of ~1e8 kT, but the sample's lowest work rejects that Gaussian tail, so
    EXP reports its delta-method error, calls itself reliable (ESS ~ n/10), and its 1- and
    2-sigma intervals cover the exact dF = -log((1 - e^-L)/L) at the nominal rates."""
    rng = np.random.default_rng(11)
    L, n, reps = 20.0, 1000, 1000
    exact = -np.log(-np.expm1(-L) / L)
    p1, p2 = stats.norm.cdf(1) - stats.norm.cdf(-1), stats.norm.cdf(2) - stats.norm.cdf(-2)
    hits, n_reliable = np.zeros(2, int), 0
    for _ in range(reps):
        e = jarzynski(rng.uniform(0.0, L, n), 1.0, n_bootstrap=0)
        assert e.diagnostics["gaussian_tail_p"] < 1e-20
        assert np.isnan(e.diagnostics["ess_gaussian"])
        n_reliable += e.reliable
        z = abs(e.value - exact) / e.std_error
        hits += (z < 1, z < 2)
    assert n_reliable == reps
    assert _binomial_ok(hits[0], reps, p1), hits
    assert _binomial_ok(hits[1], reps, p2), hits


def test_naive_exp_error_bar_undercovers_where_flagged():
    """The motivating failure: at sigma = 3 kT, N = 100 the naive delta-method interval
    covers the truth far less often than 68% (so the flag is needed)."""
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(300):
        wf, _ = gaussian_works(rng, 0.0, 3.0, 100, 1)
        e = jarzynski(wf, 1.0, n_bootstrap=0)
        hits += abs(e.value) < e.diagnostics["std_error_delta"]
    assert hits / 300 < 0.5


def test_ais_log_z_and_bidirectional_bounds():
    """Gaussian log weights consistent with log Z = 0.8: forward estimate, ELBO <= log Z
    <= EUBO, BAR between the directions; ESS curve from cumulative weights."""
    rng = np.random.default_rng(11)
    log_z, s = 0.8, 1.2
    lw_f = rng.normal(log_z - 0.5 * s * s, s, 20_000)       # log w = -W_F
    lw_r = rng.normal(-log_z - 0.5 * s * s, s, 15_000)      # log w_R = -W_R
    fwd = ais_log_z(lw_f, n_bootstrap=50)
    assert fwd.reliable and abs(fwd.log_z - log_z) < 4 * fwd.log_z_err
    assert fwd.var_log_w == pytest.approx(s * s, rel=0.05)
    assert fwd.ci[0] < fwd.log_z < fwd.ci[1]
    both = ais_log_z(lw_f, log_weights_reverse=lw_r, n_bootstrap=0)
    assert both.reliable, both.warnings
    d = both.diagnostics
    assert d["elbo"] < log_z < d["eubo"]
    assert abs(both.log_z - log_z) < 4 * both.log_z_err
    assert both.log_z_err < fwd.log_z_err
    cum = np.cumsum(rng.normal(-0.01, 0.1, (1000, 50)), axis=1)
    ess = nq.analysis.ess_curve(cum)
    assert ess.shape == (50,) and ess[0] > ess[-1] and np.all(ess <= 1000 + 1e-9)


def test_second_law_and_landauer():
    rng = np.random.default_rng(4)
    w = rng.normal(1.0, 0.5, 10_000)
    chk = nq.analysis.dissipation(w, 0.2)
    assert chk.holds and chk.value == pytest.approx(0.8, abs=0.02)
    assert not nq.analysis.dissipation(w, 1.5).holds
    assert nq.analysis.erasure_bound(1.0) == pytest.approx(math.log(2))
    assert nq.analysis.erasure_bound(0.5) == pytest.approx(0.0, abs=1e-15)
    p = 0.9
    bound = nq.analysis.erasure_bound(p, beta=2.0)
    assert bound == pytest.approx((math.log(2) + p * math.log(p) + (1 - p) * math.log(1 - p)) / 2)
    heat = rng.normal(-0.5, 0.2, 5000)                   # -<Q> = 0.5 kT > ln2 - H(0.9)
    lan = nq.analysis.landauer(heat, [0.5, 0.5], [p, 1 - p], beta=1.0)
    assert lan.bound == pytest.approx(math.log(2) - nq.analysis.binary_entropy(p))
    assert lan.holds
    assert not nq.analysis.landauer(heat + 0.4, [0.5, 0.5], [1.0, 0.0]).holds


def test_runs_and_files_are_inputs(tmp_path):
    """A Run (or its file) supplies path_work and beta; MALA breathing trap k 1 -> 4 in
    both directions gives the exact dF = (kT/2) ln 4 by EXP, BAR and Crooks."""
    system = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 50)
    kw = dict(beta=2.0, n_traj=20_000)
    fwd = nq.simulate(system, proto, nq.MALA(dt=0.05), seed=1, out=tmp_path / "f.h5", **kw)
    rev = nq.simulate(system, proto.reversed(), nq.MALA(dt=0.05), seed=2, **kw)
    exact = 0.5 * math.log(4.0) / 2.0
    b = bar(tmp_path / "f.h5", rev)
    assert b.beta == 2.0 and abs(b.value - exact) < 4 * b.std_error
    e = jarzynski(fwd)
    assert e.reliable and abs(e.value - exact) < 4 * e.std_error
    with pytest.raises(ValueError, match="differs from the run's beta"):
        jarzynski(fwd, beta=1.0)
    broken = nq.simulate(system, proto, nq.EulerMaruyama(dt=0.05), n_traj=10, seed=1)
    broken.failed[0] = True
    with pytest.raises(ValueError, match="failed trajectories"):
        jarzynski(broken)
