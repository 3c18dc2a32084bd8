"""Feedback control (Sagawa-Ueda): the Gaussian feedback trap against its exact answers.

The trap U = k/2 (x - c)^2 starts in equilibrium at c = 0; x is measured at t = 0 with
error sigma and the centre jumps to g y; then it relaxes, and (asymmetric case) jumps back
to 0. Exact references: neqsim.exact.FeedbackTrap (closed forms, checked here against
quadrature), at the integrator's own dt for Euler-Maruyama (the chain is linear Gaussian).
Statistical checks use 4 standard errors of the estimator itself, fixed seeds.
"""
import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import roots_hermitenorm

import neqsim as nq
from neqsim.engine.information import gaussian_fit, log_likelihood, loo_mixture
from neqsim.exact.feedback import FeedbackTrap

TRAP = nq.systems.harmonic_trap()
DT = 0.02
SIGMA, GAIN, RELAX = 2.0, 0.15, 50  # asymmetric: gain != 1 and != k_eff = 0.2
N_TRAJ = 20_000


def trap_schedule(n_relax, gain, shift_back=True, n_after=10):
    """(base, gain schedule) for the trap (controls c, k): jump to g y at step 1, hold for
    steps 1..n_relax, then (shift_back) jump back to c = 0 and hold."""
    n = n_relax + (1 + n_after if shift_back else 0)
    base = np.zeros((n + 1, 2))
    base[:, 1] = 1.0
    g = np.zeros((n + 1, 2, 1))
    g[1:n_relax + 1, 0, 0] = gain
    return base, g


def se(a):
    return float(np.std(a, ddof=1) / math.sqrt(a.size))


# --- the exact module -------------------------------------------------------------------

def _dblquad(f, v, s):
    lim = 40.0 * math.sqrt(v + s * s)  # the efficacy's integrand is 1/|1 - g| wider in y
    val, _ = integrate.dblquad(f, -lim, lim, -lim, lim, epsabs=1e-13, epsrel=1e-12)
    return val


def test_closed_forms_match_quadrature_jump_only():
    """<W>, <I>, the efficacy 1/|1-g| and <e^{-beta W - I}> = 1 of the jump, against
    2-D quadrature of the Gaussian integrals over (x_0, y), to 1e-10."""
    ex = FeedbackTrap(sigma=1.3, gain=0.6, k=1.5, beta=1.2)
    v, s, g, k, b = ex.var_x, ex.sigma, ex.g, ex.k, ex.beta

    def log_dens(y, x):
        return (-x * x / (2 * v) - (y - x) ** 2 / (2 * s * s)
                - math.log(2 * math.pi * math.sqrt(v) * s))

    def work(y, x):
        return 0.5 * k * ((x - g * y) ** 2 - x * x)

    def info(y, x):
        return (-(y - x) ** 2 / (2 * s * s) + y * y / (2 * (v + s * s))
                + 0.5 * math.log((v + s * s) / (s * s)))

    def mean(f, log_weight=lambda y, x: 0.0):
        # exponents combined before exp: the factors alone overflow far out
        return _dblquad(lambda y, x: f(y, x) * math.exp(log_dens(y, x) + log_weight(y, x)),
                        v, s)

    assert abs(mean(work) - ex.mean_work) < 1e-10
    assert abs(mean(info) - ex.mean_information) < 1e-10
    gamma = mean(lambda y, x: 1.0, lambda y, x: -b * work(y, x))
    assert abs(gamma - ex.efficacy) < 1e-10 and abs(ex.efficacy - 1 / abs(1 - g)) < 1e-12
    su = mean(lambda y, x: 1.0, lambda y, x: -b * work(y, x) - info(y, x))
    assert abs(su - 1.0) < 1e-10 and abs(ex.log_generalized_jarzynski) < 1e-12
    # the optimal gain: <W> = -(kT/2) k_eff, bounded by -kT <I>
    opt = FeedbackTrap(sigma=0.7, gain="optimal")
    assert abs(opt.mean_work + 0.5 * opt.k_eff) < 1e-14
    assert opt.mean_work > -opt.mean_information


def test_closed_forms_match_quadrature_with_shift_back():
    """With relaxation and the jump back, the MGF ln <e^{-a beta W - b I}> against a
    product Gauss-Hermite rule over the three normals, to 1e-10; ln M(1,1) = 0 exactly for
    exact dynamics (kappa = 1) and not for Euler-Maruyama's plain work."""
    ex = FeedbackTrap.continuous(SIGMA, GAIN, t=0.8, shift_back=True)
    nodes, weights = roots_hermitenorm(80)
    weights = weights / math.sqrt(2 * math.pi)
    u = np.stack(np.meshgrid(nodes, nodes, nodes, indexing="ij"), -1).reshape(-1, 3)
    wt = np.einsum("i,j,k->ijk", weights, weights, weights).ravel()
    a_w, a_i, c_i = ex.quadratic_forms()
    bw = np.einsum("ni,ij,nj->n", u, a_w, u)
    info = c_i + np.einsum("ni,ij,nj->n", u, a_i, u)
    assert abs(np.sum(wt * bw) - ex.beta * ex.mean_work) < 1e-10
    assert abs(np.sum(wt * info) - ex.mean_information) < 1e-10
    for a, b in ((1.0, 1.0), (1.0, 0.0), (0.5, 0.3)):
        assert abs(math.log(np.sum(wt * np.exp(-a * bw - b * info))) - ex.log_mgf(a, b)) < 1e-10
    assert abs(ex.log_mgf(1.0, 1.0)) < 1e-12
    em = FeedbackTrap.euler_maruyama(SIGMA, GAIN, n_steps=RELAX, dt=DT, shift_back=True)
    assert em.log_mgf(1.0, 1.0) > 1e-4  # EM's plain W misses the equality by O(dt)
    assert em.weights_have_finite_variance()
    assert not FeedbackTrap(sigma=0.5, gain=1.0).weights_have_finite_variance()


# --- the simulation ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def em_run():
    base, g = trap_schedule(RELAX, GAIN)
    return nq.feedback(TRAP, base, nq.EulerMaruyama(dt=DT), N_TRAJ, seed=11,
                       measurements=nq.Measurement(time=0.0, sigma=SIGMA, gain=g))


def test_work_information_and_sagawa_ueda(em_run):
    """EM, asymmetric protocol: <W> against the exact chain at dt, <I> (leave-one-out
    marginal) within 4 s.e. plus its stated bias, ln <e^{-beta W_path - I}> = 0 within 4 s.e.;
    without the information the same average is the efficacy, far from 1."""
    run = em_run
    ex = FeedbackTrap.euler_maruyama(SIGMA, GAIN, n_steps=RELAX, dt=DT, shift_back=True)
    assert np.abs(run.first_law_residual()).max() < 1e-10
    w = run.work
    assert abs(w.mean() - ex.mean_work) < 4 * se(w)
    assert abs(ex.mean_work) > 4 * se(w)  # the feedback does something measurable
    info = run.information
    assert run.information_method == ("sample (leave-one-out mixture)",)
    stated = ex.var_x / (2 * (N_TRAJ - 1) * SIGMA ** 2)
    assert abs(run.information_bias[0] - stated) < 0.5 * stated
    assert abs(info.mean() - ex.mean_information - stated) < 4 * se(info)
    su = nq.analysis.sagawa_ueda(run)
    assert su.reliable and abs(su.value) < 4 * su.std_error
    gamma = nq.analysis.sagawa_ueda(run, which="work")
    assert abs(gamma.efficacy - ex.efficacy) < 4 * gamma.efficacy_std_error
    assert abs(gamma.log_efficacy) > 4 * gamma.efficacy_std_error / gamma.efficacy
    assert su.bound.holds and su.bound.margin > 4


def test_exact_marginal_and_mala_plain_work():
    """MALA (W exact at any dt), the exact marginal p(y) = N(0, v + sigma^2):
    <I> within 4 s.e. of (1/2) ln(1 + v/sigma^2), and ln <e^{-beta W - I}> = 0."""
    base, g = trap_schedule(RELAX, GAIN)
    run = nq.feedback(TRAP, base, nq.MALA(dt=DT), N_TRAJ, seed=12,
                      measurements=nq.Measurement(step=0, sigma=SIGMA, gain=g,
                                                  marginal=nq.GaussianState(0.0, 1.0)))
    ex = FeedbackTrap(SIGMA, GAIN)
    assert run.information_bias[0] == 0.0
    assert abs(run.information.mean() - ex.mean_information) < 4 * se(run.information)
    su = nq.analysis.sagawa_ueda(run, which="work")
    assert su.reliable and abs(su.value) < 4 * su.std_error


def test_optimal_gain_extracts_work_within_the_information_bound():
    """Jump to the posterior mean and hold: <W> = -(kT/2) k_eff < 0 (work extracted from
    one bath, which the second law alone forbids), above the bound -kT <I>."""
    sigma = 0.7
    base, g = trap_schedule(20, 1.0 / (1.0 + sigma ** 2), shift_back=False)
    run = nq.feedback(TRAP, base, nq.EulerMaruyama(dt=DT), N_TRAJ, seed=13,
                      measurements=nq.Measurement(step=0, sigma=sigma, gain=g,
                                                  marginal=nq.GaussianState(0.0, 1.0)))
    ex = FeedbackTrap(sigma, "optimal")
    w = run.work
    assert abs(w.mean() - ex.mean_work) < 4 * se(w)
    assert w.mean() < -4 * se(w)
    assert nq.analysis.sagawa_ueda(run, warn=False).bound.holds


def test_nonlinear_controller_and_two_measurements():
    """A nonlinear controller c = tanh(y) and a second measurement (its marginal
    p(y_2 | y_1) by the Gaussian fit, exact for this linear system as n grows): the
    Sagawa-Ueda equality with the summed (transfer-entropy) information within 4 s.e."""
    n, n1 = 40, 20
    base = np.zeros((n + 1, 2))
    base[:, 1] = 1.0
    g1 = np.zeros((n + 1, 2, 1))
    g1[1:, 0, 0] = 0.3
    nonlinear = nq.feedback(TRAP, base, nq.MALA(dt=DT), N_TRAJ, seed=14,
                            measurements=nq.Measurement(step=0, sigma=SIGMA, gain=g1,
                                                        controller=np.tanh,
                                                        marginal=nq.GaussianState(0, 1)))
    su = nq.analysis.sagawa_ueda(nonlinear, which="work")
    assert abs(su.value) < 4 * su.std_error
    g1 = np.zeros((n + 1, 2, 1))
    g1[1:, 0, 0] = 0.15
    two = nq.feedback(TRAP, base, nq.EulerMaruyama(dt=DT), N_TRAJ, seed=15,
                      measurements=[nq.Measurement(step=0, sigma=SIGMA, gain=g1,
                                                   marginal=nq.GaussianState(0, 1)),
                                    nq.Measurement(step=n1, sigma=SIGMA, gain=[[0.15], [0.0]])])
    assert two.information_terms.shape == (N_TRAJ, 2)
    assert two.information_method[1] == "gaussian (fit)"
    su = nq.analysis.sagawa_ueda(two)
    assert abs(su.value) < 4 * su.std_error
    # the second term alone does not make the equality hold: information matters
    one = nq.analysis.sagawa_ueda(two.path_work, two.information_terms[:, 0])
    assert abs(one.value) > 4 * one.std_error


def test_leave_one_out_bias_is_as_stated():
    """The leave-one-out marginal biases the mean I by b = v / (2 (n - 1) sigma^2) (1-D
    Gaussian state, first order in 1/n), the Gaussian fit by -d (2p + d + 1) / (4n).
    Measured on 2000 replicates of n = 100 as the mean of ln p(y) - ln p^(y) against the
    exact marginal (the noise of I itself cancels): each bias is seen (> 4 s.e. from 0)
    and agrees with the statement within 4 s.e. plus 10% of b for the LOO (its O(1/n^2)
    term: -7% +- 4% at n = 100 in 3000 replicates)."""
    rng = np.random.default_rng(3)
    v, s2, n, reps = 1.0, 1.0, 100, 2000
    sig = np.array([math.sqrt(s2)])
    loo, fit = np.empty(reps), np.empty(reps)
    for r in range(reps):
        x = rng.normal(0.0, math.sqrt(v), (n, 1))
        y = x + sig * rng.normal(size=(n, 1))
        exact = -y[:, 0] ** 2 / (2 * (v + s2)) - 0.5 * math.log(2 * math.pi * (v + s2))
        lp, _ = loo_mixture(y, x, sig)
        lg, fit_bias = gaussian_fit(y, ())
        loo[r], fit[r] = np.mean(exact - lp), np.mean(exact - lg)
    stated = v / (2 * (n - 1) * s2)
    assert loo.mean() > 4 * se(loo)
    assert abs(loo.mean() - stated) < 4 * se(loo) + 0.1 * stated
    assert fit.mean() < -4 * se(fit)
    assert abs(fit.mean() - fit_bias) < 4 * se(fit)
    # the bias of I = ln p(y|x) - ln p^(y) is exactly that of -ln p^(y)
    x = rng.normal(size=(50, 1))
    y = x + rng.normal(size=(50, 1))
    assert np.allclose(log_likelihood(y, x, sig),
                       -0.5 * (y - x)[:, 0] ** 2 - 0.5 * math.log(2 * math.pi))


def test_reproducible_and_zero_gain_is_simulate():
    """Same seed, same numbers for 1 and 2 threads; with zero gains the run is bit for
    bit nq.simulate's (EM and MALA)."""
    base, g = trap_schedule(10, 0.5)
    meas = nq.Measurement(step=0, sigma=1.0, gain=g)
    runs = [nq.feedback(TRAP, base, nq.EulerMaruyama(dt=DT), 3000, seed=5,
                        measurements=meas, n_threads=t) for t in (1, 2)]
    for key in ("work", "heat", "path_work", "x", "information", "y"):
        assert np.array_equal(getattr(runs[0], key), getattr(runs[1], key)), key
    zero = nq.Measurement(step=3, sigma=1.0, gain=[[0.0], [0.0]])
    for integ in (nq.EulerMaruyama(dt=DT), nq.MALA(dt=0.2)):
        ref = nq.simulate(TRAP, base, integ, 3000, seed=5, progress=False)
        fb = nq.feedback(TRAP, base, integ, 3000, seed=5, measurements=zero)
        for key in ("work", "heat", "path_work", "x"):
            assert np.array_equal(getattr(ref, key), getattr(fb, key)), (integ, key)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"step": 0, "sigma": -1.0}, ValueError, "sigma must be finite and > 0"),
    ({"step": 0, "sigma": 0.0}, ValueError, "infinite"),
    ({"time": 0.013, "sigma": 1.0}, ValueError, "off the step grid"),
    ({"step": 12, "sigma": 1.0}, ValueError, "outside the protocol"),
    ({"step": 0, "sigma": 1.0, "gain": np.zeros((3, 2))}, ValueError, "gain must be"),
    ({"step": 2, "sigma": 1.0, "gain": np.ones((11, 2, 1))}, ValueError, "before the outcome"),
    ({"step": 0, "sigma": 1.0, "controller": lambda y: y[:, :0]}, ValueError,
     "controller must return"),
    ({"step": 0, "sigma": 1.0, "gain": [[1.0], [0.0]], "marginal": "magic"}, ValueError,
     "marginal must be"),
])
def test_bad_input_gives_one_clear_error(kwargs, error, match):
    base, _ = trap_schedule(10, 0.0, shift_back=False)
    kwargs = dict({"gain": [[1.0], [0.0]]}, **kwargs)
    with pytest.raises(error, match=match):
        nq.feedback(TRAP, base, nq.EulerMaruyama(dt=DT), 50, seed=1,
                    measurements=nq.Measurement(**kwargs))


def test_bad_setups_give_one_clear_error():
    base, g = trap_schedule(10, 0.5, shift_back=False)
    meas = nq.Measurement(step=0, sigma=1.0, gain=g)
    with pytest.raises(TypeError, match="overdamped"):
        nq.feedback(TRAP, base, nq.Langevin(dt=DT), 50, measurements=meas)
    with pytest.raises(ValueError, match="first measurement only"):
        nq.feedback(TRAP, base, nq.EulerMaruyama(dt=DT), 50,
                    measurements=[meas, nq.Measurement(step=4, sigma=1.0, gain=[[1.0], [0.0]],
                                                       marginal="sample")])
    with pytest.raises(ValueError, match="same step"):
        nq.feedback(TRAP, base, nq.EulerMaruyama(dt=DT), 50, measurements=[meas, meas])
    with pytest.raises(ValueError, match="information"):
        nq.analysis.sagawa_ueda(np.zeros(10))
    with pytest.raises(ValueError, match="sigma"):
        FeedbackTrap(sigma=-0.5)


def test_validate_case_passes():
    """The `neqsim validate` case of the feedback trap (quick size): every row passes."""
    from neqsim.validation.cases import CASES
    rows = CASES["feedback"](1, None, 2026)
    assert len(rows) == 5 and all(r.passed for r in rows), [str(r) for r in rows]
    assert {r.kind for r in rows} == {"equal", "bound"}
