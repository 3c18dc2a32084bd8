"""neqsim.testsystems: every closed-form log Z against an independent computation.

Quadrature, scipy's own densities or brute-force enumeration for the normalizers;
central finite differences for every gradient; 4-standard-error checks of the exact
samplers (fixed seeds).
"""
import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import digamma, logsumexp, polygamma

from neqsim import testsystems as ts
from neqsim.exact.ising import _kaufman_log_z, bonds_log_z

N_SAMPLES = 100_000


# ------------------------------------------------------------------------------ helpers

def check_grad(log_f, log_f_grad, x, h=1e-5, rtol=1e-6):
    """log_f_grad returns log_f(x) and writes the central-difference gradient."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    g = np.full_like(x, np.nan)
    val = log_f_grad(x, g)
    assert val == pytest.approx(log_f(x), rel=1e-13, abs=1e-13)
    fd = np.empty_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        fd[i] = (log_f(xp) - log_f(xm)) / (2.0 * h)
    scale = max(1.0, float(np.max(np.abs(fd))))
    np.testing.assert_allclose(g, fd, rtol=0.0, atol=rtol * scale)


def assert_moments(samples, mean, var, nsigma=4.0, what=""):
    """Per-coordinate sample mean and variance within nsigma standard errors."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 1:
        samples = samples[:, None]
    n = samples.shape[0]
    mean = np.broadcast_to(np.asarray(mean, dtype=np.float64), samples.shape[1:])
    var = np.broadcast_to(np.asarray(var, dtype=np.float64), samples.shape[1:])
    m = samples.mean(axis=0)
    c = samples - m
    v = (c ** 2).sum(axis=0) / (n - 1)
    se_m = np.sqrt(v / n)
    se_v = np.sqrt(((c ** 4).mean(axis=0) - v ** 2) / n)
    zm = (m - mean) / se_m
    zv = (v - var) / se_v
    assert np.all(np.abs(zm) < nsigma), f"{what} mean: {m} vs {mean} (z = {zm})"
    assert np.all(np.abs(zv) < nsigma), f"{what} variance: {v} vs {var} (z = {zv})"


def log_quad(log_f, lo, hi, points=None):
    """log int exp(log_f) over [lo, hi], log_f a scalar function, shifted by its peak."""
    grid = np.linspace(lo, hi, 2001)
    ref = max(log_f(x) for x in grid)
    val, err = integrate.quad(lambda x: math.exp(log_f(x) - ref), lo, hi, points=points,
                              epsabs=0.0, epsrel=1e-13, limit=500)
    assert err < 1e-11 * val
    return ref + math.log(val)


# ----------------------------------------------------------------------- gaussian path

@pytest.fixture(scope="module")
def path1():
    return ts.gaussian_path(1, mu=1.5, s=0.7)


@pytest.fixture(scope="module")
def path3():
    return ts.gaussian_path(3, mu=[0.5, -1.0, 2.0], s=2.5)


@pytest.mark.parametrize("t", [0.0, 0.1, 0.37, 0.5, 0.9, 1.0])
def test_gaussian_path_log_z_quadrature_d1(path1, t):
    def log_ft(x):
        xa = np.array([x])
        return (1.0 - t) * path1.log_f0(xa) + t * path1.log_fN(xa)
    assert path1.log_z_path(t) == pytest.approx(log_quad(log_ft, -15.0, 15.0), abs=1e-11)


def test_gaussian_path_log_z_d3(path3):
    p = path3
    d, s = 3, 2.5
    assert p.log_ratio == pytest.approx(d * math.log(s), rel=1e-15)
    assert p.log_z0 == pytest.approx(0.5 * d * math.log(2 * math.pi), rel=1e-15)
    assert p.log_z_path(0.0) == pytest.approx(p.log_z0, abs=1e-13)
    assert p.log_z_path(1.0) == pytest.approx(p.log_zN, abs=1e-13)
    assert p.log_z_path(1.0) - p.log_z_path(0.0) == pytest.approx(d * math.log(s), abs=1e-13)
    ts_ = np.linspace(0.0, 1.0, 7)
    arr = p.log_z_path(ts_)
    assert isinstance(arr, np.ndarray) and arr.shape == ts_.shape
    assert isinstance(p.log_z_path(0.3), float)
    # the d-dim path factorizes into 1-D paths with mu_i: sum of 1-D quadratures
    for t in (0.25, 0.8):
        total = 0.0
        for mu_i in p.mu:
            def log_ft(x, mu_i=mu_i):
                return -(1.0 - t) * x * x / 2 - t * (x - mu_i) ** 2 / (2 * s * s)
            total += log_quad(log_ft, -40.0, 40.0)
        assert p.log_z_path(t) == pytest.approx(total, abs=1e-10)
    with pytest.raises(ValueError):
        p.log_z_path(1.5)


def test_gaussian_path_gradients(path1, path3):
    rng = np.random.default_rng(11)
    for p in (path1, path3):
        for _ in range(3):
            x = 2.0 * rng.standard_normal(p.d)
            check_grad(p.log_f0, p.log_f0_grad, x)
            check_grad(p.log_fN, p.log_fN_grad, x)
    with pytest.raises(ValueError):
        path3.log_f0(np.zeros(2))


def test_gaussian_path_samplers(path3):
    rng = np.random.default_rng(12)
    x0 = path3.sample0(N_SAMPLES, rng)
    assert x0.shape == (N_SAMPLES, 3)
    assert_moments(x0, 0.0, 1.0, what="sample0")
    xn = path3.sampleN(N_SAMPLES, rng)
    assert_moments(xn, path3.mu, path3.s ** 2, what="sampleN")
    # path_mean / path_std agree with the endpoints
    np.testing.assert_allclose(path3.path_mean(1.0), path3.mu, rtol=1e-15)
    assert path3.path_std(1.0) == pytest.approx(path3.s)


# ------------------------------------------------------------ linear regression (known noise)

@pytest.fixture(scope="module")
def linreg():
    return ts.linear_regression(n_data=20, d=5, noise=0.5, prior_scale=1.0, seed=0)


def test_linear_regression_evidence_scipy(linreg):
    p = linreg
    C = p.noise ** 2 * np.eye(p.y.size) + p.prior_scale ** 2 * p.X @ p.X.T
    ref = stats.multivariate_normal(mean=np.zeros(p.y.size), cov=C).logpdf(p.y)
    assert p.log_evidence == pytest.approx(ref, abs=1e-9)


def test_linear_regression_densities_and_posterior(linreg):
    p = linreg
    d = p.dim
    A = np.eye(d) / p.prior_scale ** 2 + p.X.T @ p.X / p.noise ** 2
    cov = np.linalg.inv(A)
    mean = cov @ p.X.T @ p.y / p.noise ** 2
    np.testing.assert_allclose(p.posterior_cov, cov, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(p.posterior_mean, mean, rtol=1e-10, atol=1e-13)
    rng = np.random.default_rng(3)
    post = stats.multivariate_normal(mean=mean, cov=cov)
    for _ in range(5):
        w = mean + 0.3 * rng.standard_normal(d)
        lp = stats.norm(0.0, p.prior_scale).logpdf(w).sum()
        ll = stats.norm(p.X @ w, p.noise).logpdf(p.y).sum()
        assert p.log_prior(w) == pytest.approx(lp, abs=1e-10)
        assert p.log_likelihood(w) == pytest.approx(ll, abs=1e-10)
        assert p.log_posterior_density(w)[0] == pytest.approx(post.logpdf(w), abs=1e-9)
        # Bayes: log prior + log likelihood - log posterior = log evidence, at every w
        assert lp + ll - post.logpdf(w) == pytest.approx(p.log_evidence, abs=1e-9)


def test_linear_regression_evidence_quadrature_d1():
    p = ts.linear_regression(n_data=7, d=1, noise=0.8, prior_scale=1.3, seed=5)

    def log_joint(w):
        wa = np.array([w])
        return p.log_prior(wa) + p.log_likelihood(wa)
    m, sd = p.posterior_mean[0], math.sqrt(p.posterior_cov[0, 0])
    assert p.log_evidence == pytest.approx(log_quad(log_joint, m - 30 * sd, m + 30 * sd), abs=1e-10)


def test_linear_regression_gradients(linreg):
    rng = np.random.default_rng(4)
    for _ in range(4):
        w = rng.standard_normal(linreg.dim)
        check_grad(linreg.log_prior, linreg.log_prior_grad, w)
        check_grad(linreg.log_likelihood, linreg.log_likelihood_grad, w)


def test_linear_regression_samplers(linreg):
    rng = np.random.default_rng(5)
    assert_moments(linreg.sample_prior(N_SAMPLES, rng), 0.0, linreg.prior_scale ** 2, what="prior")
    post = linreg.sample_posterior(N_SAMPLES, rng)
    assert_moments(post, linreg.posterior_mean, np.diag(linreg.posterior_cov), what="posterior")
    # the off-diagonal covariance too (entries ~1e-2, standard errors ~4e-5)
    np.testing.assert_allclose(np.cov(post.T), linreg.posterior_cov, atol=5e-4)


# ---------------------------------------------------------------- NIG linear regression

@pytest.fixture(scope="module")
def nig():
    return ts.linear_regression_nig(n_data=20, d=5, a0=2.0, b0=1.0, prior_scale=1.0, seed=0)


def test_nig_evidence_quadrature_over_sigma2(nig):
    """p(y) = int N(y; 0, s2 (I + tau^2 X X^T)) InvGamma(s2; a0, b0) ds2, over u = log s2."""
    p = nig
    Sigma = np.eye(p.y.size) + p.prior_scale ** 2 * p.X @ p.X.T
    ig = stats.invgamma(p.a0, scale=p.b0)

    def log_integrand(u):
        s2 = math.exp(u)
        return (stats.multivariate_normal(mean=np.zeros(p.y.size), cov=s2 * Sigma).logpdf(p.y)
                + ig.logpdf(s2) + u)
    us = np.linspace(-8.0, 8.0, 401)
    u_peak = us[np.argmax([log_integrand(u) for u in us])]
    ref = log_quad(log_integrand, u_peak - 15.0, u_peak + 15.0, points=[u_peak])
    assert p.log_evidence == pytest.approx(ref, abs=1e-9)
    # and scipy's multivariate Student-t: nu = 2 a0, shape (b0/a0) Sigma
    mt = stats.multivariate_t(loc=np.zeros(p.y.size), shape=p.b0 / p.a0 * Sigma, df=2 * p.a0)
    assert p.log_evidence == pytest.approx(mt.logpdf(p.y), abs=1e-9)


def test_nig_densities_bayes_identity(nig):
    p = nig
    d = p.dim - 1
    rng = np.random.default_rng(7)
    for _ in range(5):
        x = p.posterior_mean + 0.2 * rng.standard_normal(p.dim)
        w, u = x[:d], x[d]
        s2 = math.exp(u)
        lp = (stats.invgamma(p.a0, scale=p.b0).logpdf(s2) + u
              + stats.norm(0.0, math.sqrt(s2) * p.prior_scale).logpdf(w).sum())
        ll = stats.norm(p.X @ w, math.sqrt(s2)).logpdf(p.y).sum()
        assert p.log_prior(x) == pytest.approx(lp, abs=1e-10)
        assert p.log_likelihood(x) == pytest.approx(ll, abs=1e-10)
        lpost = (stats.invgamma(p.a_n, scale=p.b_n).logpdf(s2) + u
                 + stats.multivariate_normal(p.mu_n, s2 * np.linalg.inv(p.Lambda_n)).logpdf(w))
        assert p.log_posterior_density(x)[0] == pytest.approx(lpost, abs=1e-9)
        assert lp + ll - lpost == pytest.approx(p.log_evidence, abs=1e-9)


def test_nig_evidence_quadrature_full_d1():
    """d = 1: the evidence as a 2-D integral of prior x likelihood over x = (w, log s2)."""
    p = ts.linear_regression_nig(n_data=6, d=1, a0=3.0, b0=2.0, prior_scale=0.8, seed=2)

    def joint(w, u):
        x = np.array([w, u])
        return math.exp(p.log_prior(x) + p.log_likelihood(x) - p.log_evidence)
    m = p.posterior_mean
    sd = np.sqrt(np.diag(p.posterior_cov))
    val, err = integrate.dblquad(joint, m[1] - 12 * sd[1], m[1] + 12 * sd[1],
                                 m[0] - 40 * sd[0], m[0] + 40 * sd[0], epsabs=1e-12, epsrel=1e-10)
    assert val == pytest.approx(1.0, abs=1e-8)


def test_nig_gradients(nig):
    rng = np.random.default_rng(8)
    for _ in range(4):
        x = rng.standard_normal(nig.dim)
        check_grad(nig.log_prior, nig.log_prior_grad, x)
        check_grad(nig.log_likelihood, nig.log_likelihood_grad, x)


def test_nig_prior_sampler(nig):
    p = nig
    d = p.dim - 1
    x = p.sample_prior(N_SAMPLES, np.random.default_rng(9))
    assert x.shape == (N_SAMPLES, p.dim)
    # u = log s2: E = log b0 - digamma(a0), Var = trigamma(a0)
    assert_moments(x[:, d], math.log(p.b0) - digamma(p.a0), polygamma(1, p.a0), what="prior u")
    np.testing.assert_allclose(p.prior_mean[d], math.log(p.b0) - digamma(p.a0))
    # w | s2 ~ N(0, s2 tau^2): w^2 / s2 ~ tau^2 chi^2_1 (mean tau^2, var 2 tau^4), and E w = 0
    # (the marginal of w is t_4, whose sample variance has infinite variance: not tested)
    r = x[:, :d] ** 2 * np.exp(-x[:, d:])
    tau2 = p.prior_scale ** 2
    m, se = r.mean(axis=0), math.sqrt(2.0 * tau2 ** 2 / N_SAMPLES)
    assert np.all(np.abs(m - tau2) < 4 * se)
    se_w = np.sqrt(p.prior_cov[np.arange(d), np.arange(d)] / N_SAMPLES)
    assert np.all(np.abs(x[:, :d].mean(axis=0)) < 4 * se_w)


def test_nig_posterior_sampler(nig):
    p = nig
    x = p.sample_posterior(N_SAMPLES, np.random.default_rng(10))
    assert_moments(x, p.posterior_mean, np.diag(p.posterior_cov), what="NIG posterior")
    d = p.dim - 1
    assert p.posterior_mean[d] == pytest.approx(math.log(p.b_n) - digamma(p.a_n))
    assert p.a_n == p.a0 + p.y.size / 2


# ------------------------------------------------------------------------------- Ising

COUPLINGS = [-1.3, -0.6, -ts.ISING_2D_CRITICAL_COUPLING, -0.2, 0.0, 0.05, 0.2, 0.35,
             0.4407, ts.ISING_2D_CRITICAL_COUPLING, 0.5, 0.8, 1.3, 2.5]


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (4, 4), (2, 4), (4, 2), (3, 4), (4, 3),
                                   (2, 3), (3, 5), (4, 5), (1, 3), (3, 1), (1, 1)])
def test_ising_2d_kaufman_vs_enumeration(shape):
    """Kaufman's formula equals brute-force enumeration for ferro- and antiferromagnets,
    including frustrated (odd-size) antiferromagnets (twisted-boundary sign patterns)."""
    m, n = shape
    exact = ts.ising_enumerate_log_z(m, n, COUPLINGS)
    kauf = np.array([ts.ising_2d_log_z(m, n, K) for K in COUPLINGS])
    np.testing.assert_allclose(kauf, exact, rtol=0.0, atol=1e-10 * max(1.0, np.abs(exact).max()))
    np.testing.assert_allclose(kauf, exact, rtol=1e-12)


def test_ising_2d_twisted_boundaries_vs_enumeration():
    for m, n in [(3, 4), (4, 3), (2, 5), (3, 3)]:
        for tr in (False, True):
            for tc in (False, True):
                for K in (0.15, 0.6, 1.5):
                    ref = ts.ising_enumerate_log_z(m, n, K, twist_rows=tr, twist_cols=tc)
                    got = _kaufman_log_z(m, n, K, twist_rows=tr, twist_cols=tc)
                    assert got == pytest.approx(ref, abs=1e-10), (m, n, tr, tc, K)


def test_ising_2d_limits():
    assert ts.ising_2d_log_z(5, 7, 0.0) == pytest.approx(35 * math.log(2), rel=1e-15)
    # K -> 0: log Z = N log 2 + K^2 Var(S) / 2 + ... (S = sum over bonds, Var S = 32 here)
    assert ts.ising_2d_log_z(4, 4, 1e-9) == pytest.approx(16 * math.log(2), abs=1e-12)
    # ground states: 2 of them, energy -2 m n J
    K = 40.0
    assert ts.ising_2d_log_z(6, 8, K) == pytest.approx(2 * 48 * K + math.log(2), rel=1e-14)
    assert ts.ising_2d_log_z(6, 8, -K) == pytest.approx(2 * 48 * K + math.log(2), rel=1e-14)
    # frustrated 3x3 antiferromagnet at strong coupling: matches enumeration (mpmath path)
    assert ts.ising_2d_log_z(3, 3, -K) == pytest.approx(ts.ising_enumerate_log_z(3, 3, -K), rel=1e-13)


@pytest.mark.parametrize("K", [0.3, 0.5, -0.3])
def test_ising_2d_onsager_limit(K):
    """L = 64: log Z / N -> Onsager; for K > K_c the two ordered states add log 2 to log Z."""
    L = 64
    log_z = ts.ising_2d_log_z(L, L, K)
    if abs(K) > ts.ISING_2D_CRITICAL_COUPLING:
        log_z -= math.log(2.0)
    assert log_z / L ** 2 == pytest.approx(ts.ising_2d_onsager_log_z_per_site(K), abs=1e-10)


def test_ising_2d_onsager_double_integral():
    for K in (0.3, 0.5):
        def integrand(a, b):
            return math.log(math.cosh(2 * K) ** 2 - math.sinh(2 * K) * (math.cos(a) + math.cos(b)))
        v, _ = integrate.dblquad(integrand, 0, math.pi, 0, math.pi, epsabs=1e-13)
        ref = math.log(2.0) + v / (2 * math.pi ** 2)
        assert ts.ising_2d_onsager_log_z_per_site(K) == pytest.approx(ref, abs=1e-11)


def _all_spins(N):
    idx = np.arange(2 ** N)
    return np.ascontiguousarray(1.0 - 2.0 * ((idx[:, None] >> np.arange(N)) & 1), dtype=np.float64)


def test_ising_models_log_f_sum_to_log_z():
    lat = ts.ising_2d(3, 4, -0.45)
    assert logsumexp(ts.evaluate(lat.log_f, _all_spins(12))) == pytest.approx(lat.log_z, abs=1e-11)
    chain = ts.ising_1d(11, -0.7, 0.35)
    assert logsumexp(ts.evaluate(chain.log_f, _all_spins(11))) == pytest.approx(chain.log_z, abs=1e-11)


@pytest.mark.parametrize("N", [1, 2, 3, 6, 9, 14])
def test_ising_1d_vs_enumeration(N):
    ring = tuple((i, (i + 1) % N, 1) for i in range(N))
    for J, h in [(0.5, 0.0), (-0.7, 0.3), (1.2, -0.8), (0.0, 0.4), (-2.0, 0.0), (3.0, 2.0),
                 (-25.0, 0.0), (-30.0, 1.0), (-3.0, 7.0)]:
        ref = bonds_log_z(N, ring, J, h)
        assert ts.ising_1d_log_z(N, J, h) == pytest.approx(ref, rel=1e-13, abs=1e-13), (N, J, h)
    # a 1 x N torus is the chain plus N self-bonds (each contributing J)
    for J in (0.4, -0.9):
        assert ts.ising_2d_log_z(1, N, J) == pytest.approx(ts.ising_1d_log_z(N, J) + N * J, abs=1e-11)


def test_ising_1d_large_and_extreme():
    # h = 0: Z = (2 cosh J)^N + (2 sinh J)^N
    N, J = 1000, 0.7
    ref = N * math.log(2 * math.cosh(J)) + math.log1p(math.tanh(J) ** N)
    assert ts.ising_1d_log_z(N, J) == pytest.approx(ref, rel=1e-14)
    # strongly frustrated odd ring: ground level N - 2 satisfied bonds, degeneracy 2N
    N, J = 7, -400.0
    assert ts.ising_1d_log_z(N, J) == pytest.approx(-J * (N - 2) + math.log(2 * N), rel=1e-14)


# ----------------------------------------------------------------------- Gaussian mixture

@pytest.fixture(scope="module")
def mix1():
    return ts.gaussian_mixture([0.5, 2.0, 3.5], [-4.0, 0.5, 5.0], [0.5, 1.0, 2.0])


@pytest.fixture(scope="module")
def mix2():
    return ts.gaussian_mixture([1.0, 0.25, 7.0, 3.0],
                               [[-6.0, 0.0], [0.0, 6.0], [5.0, -3.0], [0.0, 0.0]],
                               [0.6, 1.0, 1.5, 0.8])


def test_mixture_log_z_quadrature_d1(mix1):
    assert mix1.log_z == pytest.approx(math.log(6.0), rel=1e-15)

    def lf(x):
        return mix1.log_f(np.array([x]))
    assert log_quad(lf, -30.0, 40.0, points=[-4.0, 0.5, 5.0]) == pytest.approx(mix1.log_z, abs=1e-11)


def test_mixture_log_z_grid_d2(mix2):
    """Trapezoid on a fine uniform grid (spectrally accurate for Gaussians) and dblquad."""
    g = np.linspace(-16.0, 16.0, 1281)
    h = g[1] - g[0]
    XX, YY = np.meshgrid(g, g, indexing="ij")
    vals = ts.evaluate(mix2.log_f, np.column_stack([XX.ravel(), YY.ravel()]))
    assert logsumexp(vals) + 2 * math.log(h) == pytest.approx(mix2.log_z, abs=1e-10)
    assert mix2.log_z == pytest.approx(math.log(11.25), rel=1e-15)

    def f(y, x):
        return math.exp(mix2.log_f(np.array([x, y])))
    val, _ = integrate.dblquad(f, -16.0, 16.0, -16.0, 16.0, epsabs=1e-10, epsrel=1e-10)
    assert math.log(val) == pytest.approx(mix2.log_z, abs=1e-8)


def test_mixture_log_f_matches_scipy_far_out(mix2):
    """Independent formula, including points where every component underflows exp."""
    pts = np.array([[0.1, 0.2], [-6.0, 0.1], [60.0, -80.0], [400.0, 300.0], [-1e3, 2e3]])
    for x in pts:
        comps = [math.log(w) + stats.multivariate_normal(m, s * s * np.eye(2)).logpdf(x)
                 for w, m, s in zip(mix2.weights, mix2.means, mix2.scales)]
        assert mix2.log_f(x) == pytest.approx(logsumexp(comps), rel=1e-13)


def test_mixture_gradients(mix1, mix2):
    rng = np.random.default_rng(13)
    for mix in (mix1, mix2):
        for _ in range(6):
            x = 5.0 * rng.standard_normal(mix.dim)
            check_grad(mix.log_f, mix.log_f_grad, x)
    # far out: gradient of the widest dominant component, no NaN/overflow
    x = np.array([400.0, 300.0])
    g = np.empty(2)
    mix2.log_f_grad(x, g)
    j = 2  # s = 1.5, the widest component, dominates far away
    np.testing.assert_allclose(g, -(x - mix2.means[j]) / mix2.scales[j] ** 2, rtol=1e-12)


def test_mixture_sampler_moments(mix1, mix2):
    rng = np.random.default_rng(14)
    for mix in (mix1, mix2):
        x = mix.sample(N_SAMPLES, rng)
        assert x.shape == (N_SAMPLES, mix.dim)
        p = mix.mode_weights
        mean = p @ mix.means
        second = p @ (mix.means ** 2 + mix.scales[:, None] ** 2)
        assert_moments(x, mean, second - mean ** 2, what="mixture")


def _assert_fractions(frac, p, n):
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(frac - p) < 4 * se), f"mode fractions {frac} vs {p}"


def test_mixture_mode_fractions_separated():
    """Modes >= 15 standard deviations apart: nearest-mean fractions = mode_weights."""
    mix = ts.gaussian_mixture([1.0, 3.0, 0.5], [[-10.0, 0.0], [10.0, 0.0], [0.0, 12.0]], 1.0)
    x = mix.sample(N_SAMPLES, np.random.default_rng(15))
    frac = np.bincount(mix.mode_of(x), minlength=3) / N_SAMPLES
    _assert_fractions(frac, mix.mode_weights, N_SAMPLES)
    assert list(mix.mode_of(mix.means)) == [0, 1, 2]
    assert mix.mode_of(np.array([9.0, 1.0])) == 1


def test_mixture_mode_fractions_overlapping_d1(mix1):
    """Overlapping 1-D modes: the expected nearest-mean fractions from normal CDFs."""
    x = mix1.sample(N_SAMPLES, np.random.default_rng(16))
    frac = np.bincount(mix1.mode_of(x), minlength=3) / N_SAMPLES
    m = mix1.means[:, 0]
    edges = np.concatenate([[-np.inf], 0.5 * (m[1:] + m[:-1]), [np.inf]])
    expected = np.zeros(3)
    for w, mj, sj in zip(mix1.mode_weights, m, mix1.scales):
        expected += w * np.diff(stats.norm(mj, sj).cdf(edges))
    _assert_fractions(frac, expected, N_SAMPLES)
    assert list(mix1.mode_of(np.array([-4.0, 0.4, 9.0]))) == [0, 1, 2]


def test_mixture_input_validation():
    with pytest.raises(ValueError):
        ts.gaussian_mixture([1.0, -1.0], [0.0, 1.0], 1.0)
    with pytest.raises(ValueError):
        ts.gaussian_mixture([1.0, 1.0], [[0.0, 1.0]], 1.0)
    with pytest.raises(ValueError):
        ts.gaussian_mixture([1.0], [0.0], 0.0)
