"""Per-trajectory mutual information of Gaussian measurements, I_i = ln p(y_i|x_i) - ln p(y_i).

The likelihood is exact:
ln p(y|x) = sum_c [-(y_c - (C x)_c)^2 / (2 sigma_c^2) - ln(sqrt(2 pi) sigma_c)].
The marginal p(y) (for a later measurement: p(y_m | y_1..y_{m-1}), the transfer-entropy
form of Sagawa and Ueda, PRL 104, 090602 (2010); Horowitz and Vaikuntanathan, PRE 82,
061120 (2010)) is, by the measurement's ``marginal`` option:

* a :class:`~neqsim.engine.measurement.GaussianState` N(mu, S): exact,
  p(y) = N(C mu, C S C^T + diag sigma^2);
* a callable ``f(y, previous)``: exact when it is the true density;
* ``"sample"``: the leave-one-out mixture p^(y_i) = (1/(n-1)) sum_{j != i} p(y_i | x_j)
  over the other trajectories' states at the measurement (independent of y_i, so each
  term is an unbiased estimate of p(y_i)). The logarithm of an unbiased estimate is
  biased low (Jensen), so I^_i is biased high, to first order in 1/n by
  b_i = (R_i - 1) / (2 (n - 1)), R_i = E_x[p(y_i|x)^2] / p(y_i)^2 (delta method). The
  reported ``bias`` is the mean of b_i with R_i from the same sample; for a Gaussian
  state of variance v measured in 1-D, E b = v / (2 (n - 1) sigma^2). First measurement
  only (later states depend on the earlier outcomes through the feedback). Cost O(n^2).
* ``"gaussian"``: a Gaussian fit of p(y_m | y_<m): least squares of y_m on
  [1, y_1, .., y_{m-1}] (p regressors), residual covariance S with n - p degrees of
  freedom. Exact in the large-n limit when (x, y) are jointly Gaussian (linear systems
  under linear feedback, started in a Gaussian state). In-sample evaluation of the fit
  biases the mean I by about -d (2 p + d + 1) / (4 n) (d = n_obs), the reported ``bias``.
"""
from __future__ import annotations

import math

import numpy as np

from .._numba.threads import run_split
from .information_kernel import loo_rows
from .measurement import GaussianState

__all__ = ["log_likelihood", "log_marginal", "loo_mixture", "gaussian_fit"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def log_likelihood(y, cx, sigma):
    """ln p(y | x) of y = C x + sigma xi, row by row: y and cx = C x are (n, n_obs)."""
    e = (y - cx) / sigma
    return -0.5 * np.sum(e * e, axis=1) - float(np.sum(np.log(sigma))) - y.shape[1] * _LOG_SQRT_2PI


def loo_mixture(y, cx, sigma):
    """(ln p^(y_i), mean first-order bias of the resulting I) for the leave-one-out
    mixture p^(y_i) = (1/(n-1)) sum_{j != i} N(y_i; C x_j, diag sigma^2) (module docstring)."""
    n = y.shape[0]
    if n < 2:
        raise ValueError("marginal='sample' needs at least two trajectories (it averages "
                         "over the others)")
    y = np.ascontiguousarray(y, dtype=np.float64)
    cx = np.ascontiguousarray(cx, dtype=np.float64)
    inv = np.ascontiguousarray(1.0 / sigma, dtype=np.float64)
    log_sum = np.empty(n)
    ratio = np.empty(n)
    run_split(lambda a, b: loo_rows(y, cx, inv, a, log_sum[a:b], ratio[a:b]), n, 256)
    logp = log_sum - math.log(n - 1) - float(np.sum(np.log(sigma))) - y.shape[1] * _LOG_SQRT_2PI
    bias = float(np.mean(ratio - 1.0)) / (2.0 * (n - 1))
    return logp, bias


def gaussian_fit(y, previous):
    """(ln p^(y_i | previous_i), mean bias of I) from a Gaussian fit of y on [1, previous]
    by least squares (module docstring)."""
    n, d = y.shape
    design = np.concatenate([np.ones((n, 1))] + [np.asarray(p, dtype=np.float64)
                                                for p in previous], axis=1)
    p = design.shape[1]
    if n <= p + d:
        raise ValueError(f"marginal='gaussian' needs more trajectories ({n}) than fitted "
                         f"parameters per component ({p + d})")
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    cov = resid.T @ resid / (n - p)
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, resid.T)
    logp = -0.5 * np.sum(z * z, axis=0) - float(np.sum(np.log(np.diag(chol)))) - d * _LOG_SQRT_2PI
    return logp, -d * (2 * p + d + 1) / (4.0 * n)


def log_marginal(marginal, y, cx, sigma, c_mat, previous):
    """(ln p(y_i | earlier outcomes), bias of the mean I, method name) for one measurement."""
    if isinstance(marginal, GaussianState):
        mean = np.atleast_1d(np.asarray(marginal.mean, dtype=np.float64))
        cov = np.atleast_2d(np.asarray(marginal.cov, dtype=np.float64))
        dim = c_mat.shape[1]
        if mean.shape != (dim,) or cov.shape != (dim, dim):
            raise ValueError(f"GaussianState: mean must have shape ({dim},) and cov ({dim}, "
                             f"{dim}), got {mean.shape} and {cov.shape}")
        s = c_mat @ cov @ c_mat.T + np.diag(sigma ** 2)
        try:
            chol = np.linalg.cholesky(s)
        except np.linalg.LinAlgError:
            raise ValueError("GaussianState: cov must be symmetric positive semi-definite") \
                from None
        z = np.linalg.solve(chol, (y - c_mat @ mean).T)
        logp = -0.5 * np.sum(z * z, axis=0) - float(np.sum(np.log(np.diag(chol)))) \
            - y.shape[1] * _LOG_SQRT_2PI
        return logp, 0.0, "gaussian-state (exact)"
    if callable(marginal):
        logp = np.asarray(marginal(y, tuple(previous)), dtype=np.float64)
        if logp.shape != (y.shape[0],):
            raise ValueError(f"the marginal function must return ln p(y) for each of the "
                             f"{y.shape[0]} trajectories, an array of shape ({y.shape[0]},); "
                             f"got shape {logp.shape}")
        if np.any(np.isnan(logp)) or np.any(logp == np.inf):
            raise ValueError("the marginal function returned NaN or +inf")
        return logp, 0.0, "given"
    if marginal == "sample":
        logp, bias = loo_mixture(y, cx, sigma)
        return logp, bias, "sample (leave-one-out mixture)"
    logp, bias = gaussian_fit(y, previous)
    return logp, bias, "gaussian (fit)"
