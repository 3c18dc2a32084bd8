"""Bayesian linear regression with exact log evidence: known noise (Gaussian) and
normal-inverse-gamma (Student-t evidence), in coordinates (w, log sigma^2)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np
from scipy import linalg
from scipy.special import digamma, gammaln, polygamma

from ._common import LOG_2PI, _as_rng, _frozen

__all__ = ["LinearRegression", "linear_regression", "LinearRegressionNIG",
           "linear_regression_nig"]



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
