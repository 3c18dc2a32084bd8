"""Benchmark problems with EXACT log normalizing constants, for tests and ``validate``.

Every problem here has a closed-form log Z (log of the integral, or sum, of its
unnormalized density), so that free-energy and annealed-importance-sampling (AIS)
estimates can be compared with the truth rather than with another estimate.

Conventions
-----------
* An unnormalized log density is a numba ``@njit`` function ``log_f(x) -> float`` of a
  1-D contiguous float64 array ``x``; where a gradient exists there is also
  ``log_f_grad(x, grad_out) -> float``, which returns the same value and writes
  d log f / dx into ``grad_out`` (same length as ``x``).  Both raise ``ValueError`` when
  ``x`` has the wrong length.
* Data (matrices, vectors) are captured by closure, so numba freezes them into the
  machine code as constants: each factory call builds (and, on first call, compiles)
  its own functions.  Nothing is cached to disk (closures cannot be).
* Problems are frozen dataclasses with plain-numpy fields (arrays are read-only).
* ``log`` is the natural logarithm throughout; samplers take a ``numpy.random.Generator``.

Problems
--------
``gaussian_path``          Gaussian -> shifted/scaled Gaussian, with the exact log Z(t) of
                           the whole geometric path (AIS schedules, thermodynamic integration).
``linear_regression``      Bayesian linear regression, known noise: exact log evidence.
``linear_regression_nig``  Normal-inverse-gamma linear regression in (w, log sigma^2):
                           exact (Student-t) log evidence.
``gaussian_mixture``       Multimodal mixture with unnormalized weights: log Z = log sum w.
``ising_1d`` / ``ising_1d_log_z``   periodic chain, transfer matrix.
``ising_2d`` / ``ising_2d_log_z``   periodic L_rows x L_cols torus, zero field, Kaufman (1949).
``ising_enumerate_log_z``  brute-force enumeration (<= 24 spins) to cross-check the above.
``ising_2d_onsager_log_z_per_site``  Onsager's infinite-lattice log Z / N.

``evaluate(log_f, X)`` evaluates any of the numba log densities on the rows of ``X``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np
from scipy import integrate, linalg
from scipy.special import digamma, gammaln, logsumexp, polygamma

__all__ = [
    "GaussianPath", "gaussian_path",
    "LinearRegression", "linear_regression",
    "LinearRegressionNIG", "linear_regression_nig",
    "GaussianMixture", "gaussian_mixture",
    "IsingChain", "ising_1d", "ising_1d_log_z",
    "IsingLattice", "ising_2d", "ising_2d_log_z", "ising_2d_onsager_log_z_per_site",
    "ising_enumerate_log_z", "ISING_2D_CRITICAL_COUPLING",
    "evaluate",
]

LOG_2PI = math.log(2.0 * math.pi)
#: K_c = log(1 + sqrt 2) / 2 = 0.44068679...: critical coupling of the square lattice
ISING_2D_CRITICAL_COUPLING = 0.5 * math.log1p(math.sqrt(2.0))


def _frozen(a, dtype=np.float64):
    a = np.array(a, dtype=dtype, copy=True, order="C")
    a.setflags(write=False)
    return a


def _as_rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


@numba.njit(cache=False)
def _evaluate(fn, X):
    out = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        out[i] = fn(X[i])
    return out


def evaluate(log_f, X):
    """log_f evaluated on each row of X ((n, dim) array, or (n,) when dim == 1) -> (n,) array.

    Runs a compiled loop (compiled once per distinct ``log_f``).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    return _evaluate(log_f, np.ascontiguousarray(X))


# ---------------------------------------------------------------------------------------
# 1. Gaussian path
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class GaussianPath:
    """Geometric path between two isotropic Gaussians in R^d, all normalizers exact.

    f0(x) = exp(-|x|^2 / 2)                           Z_0 = (2 pi)^(d/2)
    fN(x) = exp(-|x - mu|^2 / (2 s^2))                Z_N = (2 pi)^(d/2) s^d
    log(Z_N / Z_0) = d log s

    Path f_t = f0^(1-t) fN^t, t in [0, 1].  Completing the square, with per-dimension
    precision p(t) = (1 - t) + t / s^2,

        log f_t(x) = -p |x - m(t)|^2 / 2 - t (1 - t) |mu|^2 / (2 (s^2 (1 - t) + t)),
        m(t) = t mu / (s^2 p(t)),

    so   log Z(t) = (d/2) log(2 pi) - (d/2) log p(t) - t (1 - t) |mu|^2 / (2 (s^2 (1 - t) + t)).

    Fields: d, mu (length-d array), s; log_f0, log_f0_grad, log_fN, log_fN_grad (numba);
    log_z0, log_zN, log_ratio.  Methods: log_z_path(t), path_mean(t), path_std(t),
    sample0(n, rng), sampleN(n, rng).
    """
    d: int
    mu: np.ndarray
    s: float
    log_f0: Callable
    log_f0_grad: Callable
    log_fN: Callable
    log_fN_grad: Callable
    log_z0: float
    log_zN: float
    log_ratio: float

    def _precision(self, t):
        return (1.0 - t) + t / (self.s * self.s)

    def log_z_path(self, t):
        """Exact log Z(t) of f0^(1-t) fN^t (float for scalar t, array for array t)."""
        t_arr = np.asarray(t, dtype=np.float64)
        if np.any((t_arr < 0.0) | (t_arr > 1.0)):
            raise ValueError("t must lie in [0, 1]")
        s2 = self.s * self.s
        mu2 = float(self.mu @ self.mu)
        p = self._precision(t_arr)
        out = (0.5 * self.d * (LOG_2PI - np.log(p))
               - t_arr * (1.0 - t_arr) * mu2 / (2.0 * (s2 * (1.0 - t_arr) + t_arr)))
        return float(out) if np.ndim(t) == 0 else out

    def path_mean(self, t):
        """Mean m(t) = t mu / (s^2 p(t)) of the normalized f_t (length-d array)."""
        return t * self.mu / (self.s * self.s * self._precision(t))

    def path_std(self, t):
        """Per-dimension standard deviation p(t)^(-1/2) of the normalized f_t."""
        return 1.0 / math.sqrt(self._precision(t))

    def sample0(self, n, rng):
        """n exact draws from f0 / Z_0 = N(0, I): (n, d) array."""
        return _as_rng(rng).standard_normal((int(n), self.d))

    def sampleN(self, n, rng):
        """n exact draws from fN / Z_N = N(mu, s^2 I): (n, d) array."""
        return self.mu + self.s * _as_rng(rng).standard_normal((int(n), self.d))


def gaussian_path(d, mu=0.0, s=1.0):
    """:class:`GaussianPath` from N(0, I_d) (unnormalized) to N(mu, s^2 I_d) (unnormalized).

    ``mu`` is a scalar (broadcast to all d coordinates) or a length-d vector; ``s`` > 0.
    """
    d = int(d)
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    s = float(s)
    if not (s > 0.0 and math.isfinite(s)):
        raise ValueError(f"s must be a finite positive scalar, got {s}")
    mu_arr = np.broadcast_to(np.asarray(mu, dtype=np.float64), (d,))
    mu_arr = _frozen(mu_arr)
    inv_s2 = 1.0 / (s * s)

    @numba.njit(cache=False)
    def log_f0(x):
        if x.shape[0] != d:
            raise ValueError("x has the wrong length")
        acc = 0.0
        for i in range(d):
            acc += x[i] * x[i]
        return -0.5 * acc

    @numba.njit(cache=False)
    def log_f0_grad(x, grad_out):
        if x.shape[0] != d or grad_out.shape[0] != d:
            raise ValueError("x or grad_out has the wrong length")
        acc = 0.0
        for i in range(d):
            acc += x[i] * x[i]
            grad_out[i] = -x[i]
        return -0.5 * acc

    @numba.njit(cache=False)
    def log_fN(x):
        if x.shape[0] != d:
            raise ValueError("x has the wrong length")
        acc = 0.0
        for i in range(d):
            r = x[i] - mu_arr[i]
            acc += r * r
        return -0.5 * inv_s2 * acc

    @numba.njit(cache=False)
    def log_fN_grad(x, grad_out):
        if x.shape[0] != d or grad_out.shape[0] != d:
            raise ValueError("x or grad_out has the wrong length")
        acc = 0.0
        for i in range(d):
            r = x[i] - mu_arr[i]
            acc += r * r
            grad_out[i] = -inv_s2 * r
        return -0.5 * inv_s2 * acc

    log_z0 = 0.5 * d * LOG_2PI
    log_ratio = d * math.log(s)
    return GaussianPath(d=d, mu=mu_arr, s=s, log_f0=log_f0, log_f0_grad=log_f0_grad,
                        log_fN=log_fN, log_fN_grad=log_fN_grad, log_z0=log_z0,
                        log_zN=log_z0 + log_ratio, log_ratio=log_ratio)


# ---------------------------------------------------------------------------------------
# 2. Bayesian linear regression with known noise
# ---------------------------------------------------------------------------------------

@numba.njit(cache=True)
def _rss(X, y, w):
    """sum_a r_a^2, r = y - X w[:d] (d = X.shape[1]; w may carry more entries)."""
    acc = 0.0
    for a in range(X.shape[0]):
        r = y[a]
        for i in range(X.shape[1]):
            r -= X[a, i] * w[i]
        acc += r * r
    return acc


@numba.njit(cache=True)
def _rss_grad(X, y, w, scale, grad_out):
    """As :func:`_rss`, also writing grad_out[:d] = scale X^T r, the gradient in w of
    -scale/2 * rss."""
    d = X.shape[1]
    for i in range(d):
        grad_out[i] = 0.0
    acc = 0.0
    for a in range(X.shape[0]):
        r = y[a]
        for i in range(d):
            r -= X[a, i] * w[i]
        acc += r * r
        for i in range(d):
            grad_out[i] += scale * X[a, i] * r
    return acc


def _chol_logdet(L):
    return 2.0 * float(np.sum(np.log(np.diag(L))))


@dataclass(frozen=True, eq=False)
class LinearRegression:
    """Bayesian linear regression with KNOWN noise: y = X w + eps, eps ~ N(0, sigma^2 I).

    Prior      w ~ N(0, tau^2 I_d)  (tau = prior_scale):
        log_prior(w) = -(d/2) log(2 pi tau^2) - |w|^2 / (2 tau^2)
    Likelihood (normalized in y):
        log_likelihood(w) = -(n/2) log(2 pi sigma^2) - |y - X w|^2 / (2 sigma^2)
        d/dw = X^T (y - X w) / sigma^2
    Evidence   Z = int prior(w) likelihood(w) dw = N(y; 0, C),  C = sigma^2 I_n + tau^2 X X^T:
        log Z = -(n/2) log(2 pi) - sum_i log L_ii - |L^{-1} y|^2 / 2,   C = L L^T (Cholesky)
    Posterior  w | y ~ N(m, S),  S = (I / tau^2 + X^T X / sigma^2)^{-1},  m = S X^T y / sigma^2.

    Fields: X, y, w_true, noise (sigma), prior_scale (tau), dim; log_prior, log_prior_grad,
    log_likelihood, log_likelihood_grad (numba); log_evidence, posterior_mean, posterior_cov.
    Methods: sample_prior(n, rng), sample_posterior(n, rng), log_posterior_density(W).
    """
    X: np.ndarray
    y: np.ndarray
    w_true: np.ndarray
    noise: float
    prior_scale: float
    dim: int
    log_prior: Callable
    log_prior_grad: Callable
    log_likelihood: Callable
    log_likelihood_grad: Callable
    log_evidence: float
    posterior_mean: np.ndarray
    posterior_cov: np.ndarray
    _post_prec_chol: np.ndarray

    def sample_prior(self, n, rng):
        """n exact draws from the prior N(0, tau^2 I): (n, d) array."""
        return self.prior_scale * _as_rng(rng).standard_normal((int(n), self.dim))

    def sample_posterior(self, n, rng):
        """n exact draws from the posterior N(m, S): (n, d) array.

        w = m + L^{-T} z with L L^T = S^{-1} (the posterior precision), z ~ N(0, I).
        """
        z = _as_rng(rng).standard_normal((self.dim, int(n)))
        return self.posterior_mean + linalg.solve_triangular(self._post_prec_chol, z, lower=True,
                                                             trans="T").T

    def log_posterior_density(self, W):
        """Normalized log posterior density at the rows of W ((n, d) or (d,))."""
        W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        L = self._post_prec_chol
        r = (W - self.posterior_mean) @ L          # (w - m)^T L, |.|^2 = (w-m)^T S^{-1} (w-m)
        return (-0.5 * self.dim * LOG_2PI + float(np.sum(np.log(np.diag(L))))
                - 0.5 * np.sum(r * r, axis=1))


def linear_regression(n_data=20, d=5, noise=0.5, prior_scale=1.0, seed=0):
    """:class:`LinearRegression` with synthetic data from ``numpy.random.default_rng(seed)``.

    X has standard-normal entries, w_true ~ prior, y = X w_true + noise * N(0, I).
    """
    n_data, d = int(n_data), int(d)
    noise, tau = float(noise), float(prior_scale)
    if n_data < 1 or d < 1:
        raise ValueError("n_data and d must be >= 1")
    if not (noise > 0.0 and tau > 0.0):
        raise ValueError("noise and prior_scale must be > 0")
    rng = np.random.default_rng(seed)
    X = _frozen(rng.standard_normal((n_data, d)))
    w_true = _frozen(tau * rng.standard_normal(d))
    y = _frozen(X @ w_true + noise * rng.standard_normal(n_data))

    inv_tau2, inv_s2 = 1.0 / (tau * tau), 1.0 / (noise * noise)
    c_prior = -0.5 * d * (LOG_2PI + math.log(tau * tau))
    c_lik = -0.5 * n_data * (LOG_2PI + math.log(noise * noise))

    @numba.njit(cache=False)
    def log_prior(w):
        if w.shape[0] != d:
            raise ValueError("w has the wrong length")
        acc = 0.0
        for i in range(d):
            acc += w[i] * w[i]
        return c_prior - 0.5 * inv_tau2 * acc

    @numba.njit(cache=False)
    def log_prior_grad(w, grad_out):
        if w.shape[0] != d or grad_out.shape[0] != d:
            raise ValueError("w or grad_out has the wrong length")
        acc = 0.0
        for i in range(d):
            acc += w[i] * w[i]
            grad_out[i] = -inv_tau2 * w[i]
        return c_prior - 0.5 * inv_tau2 * acc

    @numba.njit(cache=False)
    def log_likelihood(w):
        if w.shape[0] != d:
            raise ValueError("w has the wrong length")
        return c_lik - 0.5 * inv_s2 * _rss(X, y, w)

    @numba.njit(cache=False)
    def log_likelihood_grad(w, grad_out):
        if w.shape[0] != d or grad_out.shape[0] != d:
            raise ValueError("w or grad_out has the wrong length")
        return c_lik - 0.5 * inv_s2 * _rss_grad(X, y, w, inv_s2, grad_out)

    # evidence: y ~ N(0, sigma^2 I + tau^2 X X^T), by Cholesky
    C = noise * noise * np.eye(n_data) + tau * tau * (X @ X.T)
    Lc = linalg.cholesky(C, lower=True)
    alpha = linalg.solve_triangular(Lc, y, lower=True)
    log_ev = -0.5 * n_data * LOG_2PI - 0.5 * _chol_logdet(Lc) - 0.5 * float(alpha @ alpha)

    # posterior: precision A = I / tau^2 + X^T X / sigma^2
    A = inv_tau2 * np.eye(d) + inv_s2 * (X.T @ X)
    La = linalg.cholesky(A, lower=True)
    cov = linalg.cho_solve((La, True), np.eye(d))
    mean = linalg.cho_solve((La, True), inv_s2 * (X.T @ y))
    return LinearRegression(X=X, y=y, w_true=w_true, noise=noise, prior_scale=tau, dim=d,
                            log_prior=log_prior, log_prior_grad=log_prior_grad,
                            log_likelihood=log_likelihood,
                            log_likelihood_grad=log_likelihood_grad,
                            log_evidence=float(log_ev), posterior_mean=_frozen(mean),
                            posterior_cov=_frozen(0.5 * (cov + cov.T)),
                            _post_prec_chol=_frozen(La))


# ---------------------------------------------------------------------------------------
# 3. Normal-inverse-gamma linear regression, coordinates x = (w, log sigma^2)
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class LinearRegressionNIG:
    """Linear regression with unknown noise and a conjugate normal-inverse-gamma prior.

    Model:  sigma^2 ~ InvGamma(a0, b0),  w | sigma^2 ~ N(0, sigma^2 tau^2 I_d),
            y | w, sigma^2 ~ N(X w, sigma^2 I_n)           (tau = prior_scale).
    Parameter vector x = (w_1, ..., w_d, u) with u = log sigma^2 (dimension d + 1).  The
    prior density in x carries the Jacobian d sigma^2 / du = e^u:
        log p(u)     = a0 log b0 - gammaln(a0) - a0 u - b0 e^{-u}
        log p(w | u) = -(d/2) log(2 pi tau^2) - (d/2) u - |w|^2 e^{-u} / (2 tau^2)
        log_prior(x) = log p(u) + log p(w | u)
          d/dw = -w e^{-u} / tau^2,   d/du = -a0 - d/2 + e^{-u} (b0 + |w|^2 / (2 tau^2))
        log_likelihood(x) = -(n/2) log(2 pi) - (n/2) u - |y - X w|^2 e^{-u} / 2
          d/dw = X^T (y - X w) e^{-u},  d/du = -n/2 + |y - X w|^2 e^{-u} / 2
    Evidence: y ~ multivariate Student-t with nu = 2 a0, location 0, scale (b0/a0) Sigma,
    Sigma = I_n + tau^2 X X^T = L L^T:
        log Z = gammaln(a0 + n/2) - gammaln(a0) - (n/2) log(2 pi b0) - sum_i log L_ii
                - (a0 + n/2) log(1 + |L^{-1} y|^2 / (2 b0))
    Posterior (conjugate): Lambda_n = X^T X + I / tau^2,  mu_n = Lambda_n^{-1} X^T y,
        a_n = a0 + n/2,  b_n = b0 + (|y - X mu_n|^2 + |mu_n|^2 / tau^2) / 2,
        sigma^2 | y ~ InvGamma(a_n, b_n),  w | sigma^2, y ~ N(mu_n, sigma^2 Lambda_n^{-1}).
    Moments in x:  E[u] = log b - digamma(a), Var[u] = trigamma(a), Cov(w, u) = 0,
        Cov[w] = b / (a - 1) * (prior: tau^2 I; posterior: Lambda_n^{-1})   (a > 1).

    Fields: X, y, w_true, sigma2_true, a0, b0, prior_scale, dim (= d + 1); log_prior,
    log_prior_grad, log_likelihood, log_likelihood_grad (numba); log_evidence, mu_n,
    Lambda_n, a_n, b_n, prior_mean, prior_cov, posterior_mean, posterior_cov.
    Methods: sample_prior(n, rng), sample_posterior(n, rng), log_posterior_density(Xs).
    """
    X: np.ndarray
    y: np.ndarray
    w_true: np.ndarray
    sigma2_true: float
    a0: float
    b0: float
    prior_scale: float
    dim: int
    log_prior: Callable
    log_prior_grad: Callable
    log_likelihood: Callable
    log_likelihood_grad: Callable
    log_evidence: float
    mu_n: np.ndarray
    Lambda_n: np.ndarray
    a_n: float
    b_n: float
    prior_mean: np.ndarray
    prior_cov: np.ndarray
    posterior_mean: np.ndarray
    posterior_cov: np.ndarray
    _lam_chol: np.ndarray

    def sample_prior(self, n, rng):
        """n exact draws of x = (w, log sigma^2) from the prior: (n, d + 1) array."""
        rng = _as_rng(rng)
        n = int(n)
        d = self.dim - 1
        s2 = self.b0 / rng.gamma(self.a0, 1.0, size=n)
        w = np.sqrt(s2)[:, None] * self.prior_scale * rng.standard_normal((n, d))
        return np.column_stack([w, np.log(s2)])

    def sample_posterior(self, n, rng):
        """n exact draws of x = (w, log sigma^2) from the posterior: (n, d + 1) array."""
        rng = _as_rng(rng)
        n = int(n)
        d = self.dim - 1
        s2 = self.b_n / rng.gamma(self.a_n, 1.0, size=n)
        z = rng.standard_normal((d, n))
        w = self.mu_n + np.sqrt(s2)[:, None] * linalg.solve_triangular(
            self._lam_chol, z, lower=True, trans="T").T
        return np.column_stack([w, np.log(s2)])

    def log_posterior_density(self, Xs):
        """Normalized log posterior density in x = (w, u) at the rows of Xs.

        log N(w; mu_n, e^u Lambda_n^{-1}) + log InvGamma(e^u; a_n, b_n) + u.
        """
        Xs = np.atleast_2d(np.asarray(Xs, dtype=np.float64))
        d = self.dim - 1
        w, u = Xs[:, :d], Xs[:, d]
        r = (w - self.mu_n) @ self._lam_chol
        q = np.sum(r * r, axis=1)
        log_w = (-0.5 * d * (LOG_2PI + u) + float(np.sum(np.log(np.diag(self._lam_chol))))
                 - 0.5 * q * np.exp(-u))
        log_u = self.a_n * math.log(self.b_n) - gammaln(self.a_n) - self.a_n * u - self.b_n * np.exp(-u)
        return log_w + log_u


def linear_regression_nig(n_data=20, d=5, a0=2.0, b0=1.0, prior_scale=1.0, seed=0):
    """:class:`LinearRegressionNIG` with synthetic data from ``default_rng(seed)``.

    X standard normal; (w_true, sigma2_true) drawn from the prior; y = X w_true + sigma eps.
    """
    n_data, d = int(n_data), int(d)
    a0, b0, tau = float(a0), float(b0), float(prior_scale)
    if n_data < 1 or d < 1:
        raise ValueError("n_data and d must be >= 1")
    if not (a0 > 0.0 and b0 > 0.0 and tau > 0.0):
        raise ValueError("a0, b0 and prior_scale must be > 0")
    rng = np.random.default_rng(seed)
    X = _frozen(rng.standard_normal((n_data, d)))
    sigma2_true = float(b0 / rng.gamma(a0, 1.0))
    w_true = _frozen(math.sqrt(sigma2_true) * tau * rng.standard_normal(d))
    y = _frozen(X @ w_true + math.sqrt(sigma2_true) * rng.standard_normal(n_data))

    inv_tau2 = 1.0 / (tau * tau)
    c_prior = a0 * math.log(b0) - float(gammaln(a0)) - 0.5 * d * (LOG_2PI + math.log(tau * tau))
    c_lik = -0.5 * n_data * LOG_2PI
    half_d, half_n = 0.5 * d, 0.5 * n_data
    dim = d + 1

    @numba.njit(cache=False)
    def log_prior(x):
        if x.shape[0] != dim:
            raise ValueError("x has the wrong length (d + 1)")
        u = x[d]
        e = math.exp(-u)
        acc = 0.0
        for i in range(d):
            acc += x[i] * x[i]
        return c_prior - (a0 + half_d) * u - e * (b0 + 0.5 * inv_tau2 * acc)

    @numba.njit(cache=False)
    def log_prior_grad(x, grad_out):
        if x.shape[0] != dim or grad_out.shape[0] != dim:
            raise ValueError("x or grad_out has the wrong length (d + 1)")
        u = x[d]
        e = math.exp(-u)
        acc = 0.0
        for i in range(d):
            acc += x[i] * x[i]
            grad_out[i] = -inv_tau2 * e * x[i]
        tail = e * (b0 + 0.5 * inv_tau2 * acc)
        grad_out[d] = -(a0 + half_d) + tail
        return c_prior - (a0 + half_d) * u - tail

    @numba.njit(cache=False)
    def log_likelihood(x):
        if x.shape[0] != dim:
            raise ValueError("x has the wrong length (d + 1)")
        u = x[d]
        return c_lik - half_n * u - 0.5 * math.exp(-u) * _rss(X, y, x)

    @numba.njit(cache=False)
    def log_likelihood_grad(x, grad_out):
        if x.shape[0] != dim or grad_out.shape[0] != dim:
            raise ValueError("x or grad_out has the wrong length (d + 1)")
        u = x[d]
        e = math.exp(-u)
        acc = _rss_grad(X, y, x, e, grad_out)
        grad_out[d] = -half_n + 0.5 * e * acc
        return c_lik - half_n * u - 0.5 * e * acc

    # evidence: multivariate Student-t, nu = 2 a0, scale (b0/a0)(I + tau^2 X X^T)
    Sigma = np.eye(n_data) + tau * tau * (X @ X.T)
    Ls = linalg.cholesky(Sigma, lower=True)
    alpha = linalg.solve_triangular(Ls, y, lower=True)
    q = float(alpha @ alpha)
    log_ev = (gammaln(a0 + half_n) - gammaln(a0) - half_n * (LOG_2PI + math.log(b0))
              - 0.5 * _chol_logdet(Ls) - (a0 + half_n) * math.log1p(q / (2.0 * b0)))

    # conjugate posterior
    Lam = X.T @ X + inv_tau2 * np.eye(d)
    Ll = linalg.cholesky(Lam, lower=True)
    mu_n = linalg.cho_solve((Ll, True), X.T @ y)
    resid = y - X @ mu_n
    a_n = a0 + half_n
    b_n = b0 + 0.5 * (float(resid @ resid) + inv_tau2 * float(mu_n @ mu_n))
    Lam_inv = linalg.cho_solve((Ll, True), np.eye(d))

    def moments(a, b, w_mean, w_shape):
        mean = np.append(w_mean, math.log(b) - digamma(a))
        cov = np.zeros((dim, dim))
        cov[:d, :d] = (b / (a - 1.0) if a > 1.0 else np.inf) * w_shape
        cov[d, d] = polygamma(1, a)
        return _frozen(mean), _frozen(cov)

    prior_mean, prior_cov = moments(a0, b0, np.zeros(d), tau * tau * np.eye(d))
    post_mean, post_cov = moments(a_n, b_n, mu_n, 0.5 * (Lam_inv + Lam_inv.T))
    return LinearRegressionNIG(X=X, y=y, w_true=w_true, sigma2_true=sigma2_true, a0=a0, b0=b0,
                               prior_scale=tau, dim=dim, log_prior=log_prior,
                               log_prior_grad=log_prior_grad, log_likelihood=log_likelihood,
                               log_likelihood_grad=log_likelihood_grad,
                               log_evidence=float(log_ev), mu_n=_frozen(mu_n),
                               Lambda_n=_frozen(Lam), a_n=float(a_n), b_n=float(b_n),
                               prior_mean=prior_mean, prior_cov=prior_cov,
                               posterior_mean=post_mean, posterior_cov=post_cov,
                               _lam_chol=_frozen(Ll))


# ---------------------------------------------------------------------------------------
# 6. Gaussian mixture (numbered as in the design notes; placed before the Ising models)
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """Isotropic Gaussian mixture in R^d with UNNORMALIZED weights w_j > 0.

        f(x) = sum_j w_j N(x; m_j, s_j^2 I_d)
        log f(x) = logsumexp_j [ log w_j - (d/2) log(2 pi s_j^2) - |x - m_j|^2 / (2 s_j^2) ]
        d log f / dx = -sum_j r_j(x) (x - m_j) / s_j^2,  r_j = softmax_j of the bracket
        log Z = log sum_j w_j   (each component integrates to 1)

    The log-sum-exp is done in one pass with a running maximum (no allocation).

    Fields: weights, means (K, d), scales (K,), dim, n_components, log_f, log_f_grad (numba),
    log_z, mode_weights (w_j / sum w).  Methods: sample(n, rng), mode_of(x).
    """
    weights: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    dim: int
    n_components: int
    log_f: Callable
    log_f_grad: Callable
    log_z: float
    mode_weights: np.ndarray

    def sample(self, n, rng):
        """n exact draws from f / Z: (n, d) array."""
        rng = _as_rng(rng)
        n = int(n)
        comp = rng.choice(self.n_components, size=n, p=self.mode_weights)
        return self.means[comp] + self.scales[comp, None] * rng.standard_normal((n, self.dim))

    def mode_of(self, x):
        """Index of the nearest component mean (Euclidean) for each row of x.

        x: (n, d) array, (n,) when d == 1, or a single length-d point (returns an int).
        """
        x = np.asarray(x, dtype=np.float64)
        single = False
        if x.ndim == 0:
            x, single = x.reshape(1, 1), True
        elif x.ndim == 1:
            if self.dim == 1:
                x = x[:, None]
            else:
                x, single = x[None, :], True
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have {self.dim} columns, got shape {x.shape}")
        d2 = np.sum((x[:, None, :] - self.means[None, :, :]) ** 2, axis=2)
        idx = np.argmin(d2, axis=1)
        return int(idx[0]) if single else idx


def gaussian_mixture(weights, means, scales):
    """:class:`GaussianMixture`.

    ``weights``: K positive numbers (unnormalized).  ``means``: (K, d) array; a 1-D array of
    length K means K components in one dimension.  ``scales``: scalar or K positive numbers
    (component standard deviations, isotropic).
    """
    weights = np.atleast_1d(np.asarray(weights, dtype=np.float64))
    if weights.ndim != 1 or weights.size < 1 or np.any(~(weights > 0)) or not np.all(np.isfinite(weights)):
        raise ValueError("weights must be a non-empty 1-D array of finite positive numbers")
    K = weights.size
    means = np.asarray(means, dtype=np.float64)
    if means.ndim == 1:
        means = means[:, None]
    if means.ndim != 2 or means.shape[0] != K:
        raise ValueError(f"means must have shape (K={K}, d), got {means.shape}")
    d = means.shape[1]
    scales = np.broadcast_to(np.asarray(scales, dtype=np.float64), (K,))
    if np.any(~(scales > 0)) or not np.all(np.isfinite(scales)):
        raise ValueError("scales must be finite and positive")
    weights, means, scales = _frozen(weights), _frozen(means), _frozen(scales)

    inv_s2 = _frozen(1.0 / scales ** 2)
    log_c = _frozen(np.log(weights) - 0.5 * d * (LOG_2PI + 2.0 * np.log(scales)))

    @numba.njit(cache=False)
    def log_f(x):
        if x.shape[0] != d:
            raise ValueError("x has the wrong length")
        m = -np.inf
        acc = 0.0
        for j in range(K):
            q = 0.0
            for i in range(d):
                r = x[i] - means[j, i]
                q += r * r
            a = log_c[j] - 0.5 * inv_s2[j] * q
            if a > m:
                acc = acc * math.exp(m - a) + 1.0
                m = a
            else:
                acc += math.exp(a - m)
        return m + math.log(acc)

    @numba.njit(cache=False)
    def log_f_grad(x, grad_out):
        if x.shape[0] != d or grad_out.shape[0] != d:
            raise ValueError("x or grad_out has the wrong length")
        for i in range(d):
            grad_out[i] = 0.0
        m = -np.inf
        acc = 0.0
        for j in range(K):
            q = 0.0
            for i in range(d):
                r = x[i] - means[j, i]
                q += r * r
            a = log_c[j] - 0.5 * inv_s2[j] * q
            if a > m:
                scale = math.exp(m - a)
                acc = acc * scale + 1.0
                for i in range(d):
                    grad_out[i] = grad_out[i] * scale - inv_s2[j] * (x[i] - means[j, i])
                m = a
            else:
                wgt = math.exp(a - m)
                acc += wgt
                for i in range(d):
                    grad_out[i] -= wgt * inv_s2[j] * (x[i] - means[j, i])
        for i in range(d):
            grad_out[i] /= acc
        return m + math.log(acc)

    total = float(np.sum(weights))
    return GaussianMixture(weights=weights, means=means, scales=scales, dim=d, n_components=K,
                           log_f=log_f, log_f_grad=log_f_grad,
                           log_z=float(logsumexp(np.log(weights))),
                           mode_weights=_frozen(weights / total))


# ---------------------------------------------------------------------------------------
# 4. Ising chain (transfer matrix)
# ---------------------------------------------------------------------------------------

def _log_cosh(x):
    a = abs(x)
    return a + math.log1p(math.exp(-2.0 * a)) - math.log(2.0)


def _log_abs_sinh(x):
    a = abs(x)
    if a == 0.0:
        return -math.inf
    return a + math.log(-math.expm1(-2.0 * a)) - math.log(2.0)


def ising_1d_log_z(n_sites, coupling, field=0.0):
    """Exact log Z of the periodic Ising chain, E(s) = -J sum_i s_i s_{i+1} - h sum_i s_i.

    s_i = +-1, s_{N+1} = s_1 (N = 1: one self-bond; N = 2: the bond counted twice), beta
    absorbed into J and h.  Transfer matrix T_{s s'} = exp(J s s' + h (s + s')/2):
        Z = tr T^N = l1^N + l2^N,
        l1,2 = e^J cosh h +- sqrt(e^{2J} sinh^2 h + e^{-2J}),   l1 l2 = det T = 2 sinh 2J.
    Computed in log space without cancellation:
        log l1 = J + log( cosh h + sqrt(sinh^2 h + e^{-4J}) )  (log-add-exp form),
        l2 / l1 = 2 sinh(2J) / l1^2  (sign of J),
        log Z = N log l1 + log1p( (l2 / l1)^N );
    for J < 0 (l2 < 0, odd N frustrated) 1 - |l2| / l1 = 2 e^J cosh h / l1 is used so that
    1 - |l2/l1|^N = -expm1(N log1p(-eps)) keeps full relative precision.
    """
    N = int(n_sites)
    if N < 1:
        raise ValueError("n_sites must be >= 1")
    J, h = float(coupling), float(field)
    log_ch = _log_cosh(h)
    log_sh = _log_abs_sinh(h)
    # log sqrt(sinh^2 h + e^{-4J})
    log_root = 0.5 * np.logaddexp(2.0 * log_sh, -4.0 * J)
    log_l1 = J + float(np.logaddexp(log_ch, log_root))
    if J == 0.0:
        return N * log_l1
    if J > 0.0:
        # 0 < l2 / l1 = 2 sinh(2J) / l1^2 < 1: no cancellation in 1 + (l2/l1)^N
        log_ratio = math.log(2.0) + _log_abs_sinh(2.0 * J) - 2.0 * log_l1
        return N * log_l1 + math.log1p(math.exp(N * log_ratio))
    # J < 0: l2 < 0 and |l2| / l1 = 1 - eps with eps = (l1 + l2) / l1 = 2 e^J cosh h / l1,
    # which can be tiny (strong antiferromagnet): use log|l2/l1| = log1p(-eps) and expm1
    log_eps = math.log(2.0) + J + log_ch - log_l1
    eps = math.exp(log_eps)
    log_abs_ratio = math.log1p(-eps) if eps < 0.5 else (
        math.log(2.0) + _log_abs_sinh(2.0 * J) - 2.0 * log_l1)
    x = N * log_abs_ratio
    if N % 2 == 0:
        return N * log_l1 + math.log1p(math.exp(x))
    if N * eps < 1e-17:
        # 1 - (1 - eps)^N = N eps (1 + O(N eps)), also when eps underflows
        return N * log_l1 + math.log(N) + log_eps
    return N * log_l1 + math.log(-math.expm1(x))


@dataclass(frozen=True, eq=False)
class IsingChain:
    """Periodic Ising chain with exact log Z (see :func:`ising_1d_log_z`).

    ``log_f(s)`` (numba) = -E(s) = J sum_i s_i s_{i+1} + h sum_i s_i for a float64 array of
    +-1 spins; log Z = log sum_s exp(log_f(s)).
    Fields: n_sites, coupling, field, log_f, log_z.
    """
    n_sites: int
    coupling: float
    field: float
    log_f: Callable
    log_z: float


def ising_1d(n_sites, coupling, field=0.0):
    """:class:`IsingChain` (periodic, N = n_sites spins)."""
    N = int(n_sites)
    J, h = float(coupling), float(field)

    @numba.njit(cache=False)
    def log_f(s):
        if s.shape[0] != N:
            raise ValueError("spin array has the wrong length")
        bonds = 0.0
        mag = 0.0
        for i in range(N):
            bonds += s[i] * s[(i + 1) % N]
            mag += s[i]
        return J * bonds + h * mag

    return IsingChain(n_sites=N, coupling=J, field=h, log_f=log_f,
                      log_z=ising_1d_log_z(N, J, h))


# ---------------------------------------------------------------------------------------
# 5. 2-D Ising on a torus: Kaufman's exact finite-lattice formula
# ---------------------------------------------------------------------------------------

def _torus_bonds(L_rows, L_cols):
    """(i, j, seam) for the 2 L_rows L_cols bonds of the torus, site index r * L_cols + c.

    seam: 0 interior, 1 vertical bond wrapping row L_rows-1 -> 0, 2 horizontal bond
    wrapping column L_cols-1 -> 0.
    """
    out = []
    for r in range(L_rows):
        for c in range(L_cols):
            i = r * L_cols + c
            out.append((i, ((r + 1) % L_rows) * L_cols + c, 1 if r == L_rows - 1 else 0))
            out.append((i, r * L_cols + (c + 1) % L_cols, 2 if c == L_cols - 1 else 0))
    return out


_MAX_ENUM_SPINS = 24


@functools.lru_cache(maxsize=32)
def _density_of_states(n_spins, bonds):
    """Exact counts g(S, M) over all 2^n states: S = sum_bonds sign_b s_i s_j, M = sum_i s_i.

    bonds: tuple of (i, j, sign).  Returns (S values, M values, counts) for nonzero counts.
    """
    if n_spins > _MAX_ENUM_SPINS:
        raise ValueError(f"enumeration limited to {_MAX_ENUM_SPINS} spins, got {n_spins}")
    idx = np.arange(2 ** n_spins, dtype=np.int64)
    bits = [((idx >> k) & 1).astype(np.int8) for k in range(n_spins)]
    nb = len(bonds)
    S = np.zeros(idx.size, dtype=np.int32)
    for i, j, sign in bonds:
        S += sign * (1 - 2 * (bits[i] ^ bits[j]).astype(np.int32))
    M = np.full(idx.size, n_spins, dtype=np.int32)
    for b in bits:
        M -= 2 * b.astype(np.int32)
    key = (S + nb).astype(np.int64) * (2 * n_spins + 1) + (M + n_spins)
    counts = np.bincount(key, minlength=(2 * nb + 1) * (2 * n_spins + 1))
    nz = np.nonzero(counts)[0]
    s_vals = nz // (2 * n_spins + 1) - nb
    m_vals = nz % (2 * n_spins + 1) - n_spins
    return s_vals.astype(np.float64), m_vals.astype(np.float64), counts[nz].astype(np.float64)


def _enumerate_log_z(n_spins, bonds, coupling, field):
    s_vals, m_vals, counts = _density_of_states(int(n_spins), tuple(bonds))
    K = np.asarray(coupling, dtype=np.float64)
    H = np.asarray(field, dtype=np.float64)
    Kb, Hb = np.broadcast_arrays(K, H)
    out = np.array([logsumexp(np.log(counts) + k * s_vals + hh * m_vals)
                    for k, hh in zip(Kb.ravel(), Hb.ravel())]).reshape(Kb.shape)
    return float(out) if out.ndim == 0 else out


def ising_enumerate_log_z(L_rows, L_cols, coupling, field=0.0, *, twist_rows=False,
                          twist_cols=False):
    """log Z of the L_rows x L_cols periodic Ising model by summing over all 2^N states.

    E(s) = -J sum_<ij> s_i s_j - h sum_i s_i over the 2 L_rows L_cols torus bonds (each
    site to its lower and right neighbour, modulo the size, so a size-2 direction has its
    bonds doubled and a size-1 direction has self-bonds, as in the transfer-matrix
    formulas).  ``twist_rows`` / ``twist_cols`` flip the sign of the coupling on the bonds
    that wrap around the rows / columns (antiperiodic boundary).  The exact density of
    states g(S, M) is counted once per lattice (cached), so many couplings are cheap.
    ``coupling`` and ``field`` may be arrays (broadcast together).  N <= 24 spins.
    """
    m, n = int(L_rows), int(L_cols)
    if m < 1 or n < 1:
        raise ValueError("lattice sizes must be >= 1")
    bonds = []
    for i, j, seam in _torus_bonds(m, n):
        sign = -1 if (seam == 1 and twist_rows) or (seam == 2 and twist_cols) else 1
        bonds.append((i, j, sign))
    return _enumerate_log_z(m * n, tuple(bonds), coupling, field)


def _kaufman_gammas(n, K):
    """gamma_k, k = 0 .. 2n-1, float64 (K > 0).

    cosh gamma_k = cosh 2K coth 2K - cos(pi k / n), k >= 1, evaluated without cancellation
    as gamma = log1p(delta + sqrt(delta (delta + 2))) with
    delta = cosh gamma - 1 = (sinh 2K - 1)^2 / sinh 2K + 2 sin^2(pi k / (2n));
    gamma_0 = 2K + log tanh K (signed: negative for K < K_c).
    """
    s = math.sinh(2.0 * K)
    k = np.arange(2 * n)
    delta = (s - 1.0) ** 2 / s + 2.0 * np.sin(0.5 * np.pi * k / n) ** 2
    g = np.log1p(delta + np.sqrt(delta * (delta + 2.0)))
    log_tanh = math.log(math.tanh(K)) if K < 1.0 else math.log1p(-2.0 / (math.exp(2.0 * K) + 1.0))
    g[0] = 2.0 * K + log_tanh
    return g


def _kaufman_log_terms(m, n, K):
    """log|Z_i| and sign(Z_i), i = 1..4, and the log prefactor, float64."""
    g = _kaufman_gammas(n, K)
    half = 0.5 * m * g
    lc = np.abs(half) + np.log1p(np.exp(-2.0 * np.abs(half)))          # log 2 cosh
    with np.errstate(divide="ignore"):
        ls = np.abs(half) + np.log(-np.expm1(-2.0 * np.abs(half)))      # log |2 sinh|
    sg = np.sign(half)
    odd, even = slice(1, None, 2), slice(0, None, 2)
    logs = np.array([lc[odd].sum(), ls[odd].sum(), lc[even].sum(), ls[even].sum()])
    signs = np.array([1.0, np.prod(sg[odd]), 1.0, np.prod(sg[even])])
    pre = -math.log(2.0) + 0.5 * m * n * (math.log(2.0) + math.log(math.sinh(2.0 * K)))
    return pre, logs, signs


# sign patterns c_i in Z = (1/2)(2 sinh 2K)^{mn/2} sum_i c_i Z_i for the four boundary
# conditions of the ferromagnet (twist_rows, twist_cols); (False, False) is Kaufman's torus
_TWIST_SIGNS = {(False, False): (1, 1, 1, 1), (True, False): (1, 1, -1, -1),
                (False, True): (1, -1, 1, -1), (True, True): (-1, 1, 1, -1)}


def _kaufman_log_z_mp(m, n, K, combo):
    """Same formula as the float path, in mpmath with precision raised until the signed
    sum of the four terms is resolved to >= 25 significant digits (twisted boundaries
    cancel catastrophically at strong coupling)."""
    try:
        import mpmath
    except ImportError as exc:  # pragma: no cover - mpmath ships with sympy/most stacks
        raise ImportError("ising_2d_log_z: a frustrated (odd-size, J < 0) lattice needs "
                          "mpmath for the cancelling sum of Kaufman's four terms") from exc
    dps = 40
    while True:
        with mpmath.workdps(dps):
            Km = mpmath.mpf(K)
            s = mpmath.sinh(2 * Km)
            c0 = mpmath.cosh(2 * Km) * mpmath.coth(2 * Km)
            prods = [mpmath.mpf(1)] * 4
            for k in range(2 * n):
                if k == 0:
                    gk = 2 * Km + mpmath.log(mpmath.tanh(Km))
                else:
                    gk = mpmath.acosh(c0 - mpmath.cos(mpmath.pi * k / n))
                x = m * gk / 2
                if k % 2:
                    prods[0] *= 2 * mpmath.cosh(x)
                    prods[1] *= 2 * mpmath.sinh(x)
                else:
                    prods[2] *= 2 * mpmath.cosh(x)
                    prods[3] *= 2 * mpmath.sinh(x)
            total = sum(c * p for c, p in zip(combo, prods))
            biggest = max(abs(p) for p in prods)
            if total > 0:
                lost = float(mpmath.log10(biggest / total))
                if dps >= lost + 25:
                    return float(-mpmath.log(2) + mpmath.mpf(m * n) / 2 * mpmath.log(2 * s)
                                 + mpmath.log(total))
                dps = int(lost) + 40
            else:
                dps *= 2
            if dps > 20000:
                raise ArithmeticError("ising_2d_log_z: could not resolve the sum")


def _kaufman_log_z(m, n, K, twist_rows=False, twist_cols=False):
    if K == 0.0:
        return m * n * math.log(2.0)
    combo = _TWIST_SIGNS[(bool(twist_rows), bool(twist_cols))]
    if combo == (1, 1, 1, 1):
        # periodic: Z1, Z2, Z3 > 0 and Z1 is of the same order as |Z4|: no cancellation
        pre, logs, signs = _kaufman_log_terms(m, n, K)
        val, sign = logsumexp(logs, b=signs, return_sign=True)
        if not sign > 0:  # pragma: no cover - cannot happen for the periodic sum
            raise ArithmeticError("Kaufman sum not positive")
        return float(pre + val)
    return _kaufman_log_z_mp(m, n, K, combo)


def ising_2d_log_z(L_rows, L_cols, coupling):
    """Exact log Z of the zero-field Ising model on the L_rows x L_cols periodic torus.

    E(s) = -J sum_<ij> s_i s_j over the 2 m n nearest-neighbour bonds (m = L_rows,
    n = L_cols; each bond once, a size-2 direction doubles its bonds, a size-1 direction
    has self-bonds), K = J (beta absorbed).  Kaufman (1949), in the form of Beale,
    PRL 76, 78 (1996):

        Z = (1/2) (2 sinh 2K)^{mn/2} [Z1 + Z2 + Z3 + Z4]
        Z1 = prod_{k=0}^{n-1} 2 cosh(m gamma_{2k+1} / 2)
        Z2 = prod_{k=0}^{n-1} 2 sinh(m gamma_{2k+1} / 2)
        Z3 = prod_{k=0}^{n-1} 2 cosh(m gamma_{2k} / 2)
        Z4 = prod_{k=0}^{n-1} 2 sinh(m gamma_{2k} / 2)
        cosh gamma_k = cosh 2K coth 2K - cos(pi k / n)   (gamma_k > 0, k >= 1),
        gamma_0 = 2K + log tanh K,

    where gamma_0 < 0 for K < K_c = log(1 + sqrt 2)/2, which makes Z4 negative.  Each
    product is accumulated as a sum of log|.| with a separate sign and the four terms are
    combined by a signed log-sum-exp.  K = 0 gives m n log 2.

    Antiferromagnet (J < 0): flipping the spins of one checkerboard sublattice maps it to
    the ferromagnet |J|, exactly, when m and n are both even.  In an odd direction the
    checkerboard does not close and the bonds across that seam stay antiferromagnetic
    (the lattice is frustrated): this is the ferromagnet with an antiperiodic (twisted)
    boundary in that direction, whose partition function is the same four terms with
    the signs (+Z1 +Z2 -Z3 -Z4) (odd m), (+Z1 -Z2 +Z3 -Z4) (odd n), (-Z1 +Z2 +Z3 -Z4)
    (both odd) -- the standard fermionic boundary-sector decomposition, checked against
    enumeration in the tests.  These sums cancel catastrophically at strong coupling, so
    they are evaluated in mpmath with adaptive precision.
    """
    m, n = int(L_rows), int(L_cols)
    if m < 1 or n < 1:
        raise ValueError("lattice sizes must be >= 1")
    K = float(coupling)
    if not math.isfinite(K):
        raise ValueError("coupling must be finite")
    if K >= 0.0:
        return _kaufman_log_z(m, n, K)
    return _kaufman_log_z(m, n, -K, twist_rows=(m % 2 == 1), twist_cols=(n % 2 == 1))


def ising_2d_onsager_log_z_per_site(coupling):
    """Onsager's infinite-lattice lim log Z / N for the zero-field square lattice:

        log Z / N = log(2 cosh 2K) + (1 / 2 pi) int_0^pi log[(1 + sqrt(1 - k^2 sin^2 phi)) / 2] dphi,
        k = 2 sinh 2K / cosh^2 2K,

    by adaptive quadrature (the integrand has an integrable log singularity at K_c).
    Even in K (the square lattice is bipartite).
    """
    K = abs(float(coupling))
    kap = 2.0 * math.sinh(2.0 * K) / math.cosh(2.0 * K) ** 2

    def integrand(phi):
        return math.log(0.5 * (1.0 + math.sqrt(max(0.0, 1.0 - (kap * math.sin(phi)) ** 2))))

    val, _ = integrate.quad(integrand, 0.0, math.pi, points=[0.5 * math.pi], epsabs=1e-14,
                            epsrel=1e-13, limit=200)
    log_2cosh = 2.0 * K + math.log1p(math.exp(-4.0 * K))
    return log_2cosh + val / (2.0 * math.pi)


@dataclass(frozen=True, eq=False)
class IsingLattice:
    """Zero-field 2-D Ising model on an L_rows x L_cols torus with exact log Z.

    ``log_f(s)`` (numba) = -E(s) = J sum_<ij> s_i s_j over the 2 L_rows L_cols bonds, s a
    float64 array of +-1 spins in row-major order (site r * L_cols + c).
    log_z = :func:`ising_2d_log_z` (Kaufman).  Fields: L_rows, L_cols, coupling, log_f, log_z.
    """
    L_rows: int
    L_cols: int
    coupling: float
    log_f: Callable
    log_z: float


def ising_2d(L_rows, L_cols, coupling):
    """:class:`IsingLattice` for the periodic L_rows x L_cols square lattice."""
    m, n = int(L_rows), int(L_cols)
    J = float(coupling)
    N = m * n
    log_z = ising_2d_log_z(m, n, J)

    @numba.njit(cache=False)
    def log_f(s):
        if s.shape[0] != N:
            raise ValueError("spin array has the wrong length")
        acc = 0.0
        for r in range(m):
            for c in range(n):
                v = s[r * n + c]
                acc += v * (s[((r + 1) % m) * n + c] + s[r * n + (c + 1) % n])
        return J * acc

    return IsingLattice(L_rows=m, L_cols=n, coupling=J, log_f=log_f, log_z=log_z)
