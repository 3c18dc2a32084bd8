"""The tail of importance weights: the generalized-Pareto shape k of the largest weights.

An exponential average <exp(-beta W)> (EXP, AIS log Z, the weights of a Crooks or BAR
check) is a mean of importance weights w = exp(-beta W). Its error bar means something
only if the weights have a finite variance, and the tail of their distribution decides
that: if P(w > t) ~ t^(-1/k) (a generalized-Pareto tail of shape k), moments of order
below 1/k exist. For k < 1/2 the central limit theorem holds; for k >= 1/2 the variance is
infinite and the delta-method error is not a standard error (Vehtari, Simpson, Gelman,
Yao, Gabry, "Pareto smoothed importance sampling", JMLR 25 (2024)).

:func:`pareto_tail` fits k to the M = min(n/5, 3 sqrt(n)) largest weights (their
exceedances over the (M+1)-th largest) by the empirical-Bayes estimator of Zhang and
Stephens (Technometrics 51, 316 (2009)), with the weakly informative prior of that paper
(the estimate shrunk towards 1/2 with the weight of 10 observations), and compares it
with the sample-size-dependent threshold k_n = min(1 - 1/log10 n, 0.7): above it, no
finite sample of this size supports the average (the paper's pre-asymptotic bound on the
relative error).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ParetoTail", "pareto_tail", "k_threshold", "tail_std_error", "K_FINITE_VARIANCE"]

K_FINITE_VARIANCE = 0.5  # below, the weights' variance is finite
_PRIOR_WEIGHT = 10.0     # observations' worth of the prior k ~ 1/2 (Vehtari et al. app. C)
_MIN_TAIL = 5            # fewer exceedances do not determine a shape


@dataclass(frozen=True)
class ParetoTail:
    """The generalized-Pareto fit to the largest weights.

    ``k_hat``: the shape (NaN when the sample is too small: fewer than 5 exceedances, or
    all tail weights equal); ``k_threshold``: min(1 - 1/log10 n, 0.7); ``n_tail``: how
    many of the largest weights were fitted; ``sigma``: the scale, relative to the
    largest weight. ``too_heavy`` is True when k_hat exceeds the threshold.
    """
    k_hat: float
    k_threshold: float
    n_tail: int
    sigma: float

    @property
    def too_heavy(self):
        return bool(self.k_hat > self.k_threshold)

    @property
    def finite_variance(self):
        """Whether the fitted tail has a finite variance (k_hat < 1/2)."""
        return bool(self.k_hat < K_FINITE_VARIANCE)


def k_threshold(n):
    """The sample-size-dependent bound on the Pareto shape, min(1 - 1/log10 n, 0.7)
    (Vehtari et al. 2024, sec. 3.2.4); for n <= 10 it is 0 or negative: so few samples
    support no heavy tail at all."""
    if n <= 1:
        return -math.inf
    return min(1.0 - 1.0 / math.log10(n), 0.7)


def tail_size(n):
    """M = ceil(min(n / 5, 3 sqrt(n))), the number of largest weights fitted."""
    return int(math.ceil(min(0.2 * n, 3.0 * math.sqrt(n))))


def gpd_fit(x):
    """(k, sigma) of a generalized Pareto distribution fitted to exceedances ``x`` > 0
    (sorted ascending) by Zhang and Stephens' estimator.

    With theta = -k / sigma, the profile log likelihood of theta is
    l(theta) = n [log(theta / k'(theta)) + k'(theta) - 1], k'(theta) = -mean log(1 - theta x),
    averaged over the grid theta_j = 1/x_max + (1 - sqrt(m / (j - 1/2))) / (3 x_q),
    j = 1..m, m = 30 + floor(sqrt(n)), x_q the first quartile, with weights proportional
    to exp(l(theta_j)); then k = -k'(theta_hat), sigma = k'(theta_hat) / theta_hat.
    """
    n = x.size
    m = 30 + int(math.sqrt(n))
    xq = x[max(int(n / 4 + 0.5) - 1, 0)]
    j = np.arange(1, m + 1)
    theta = 1.0 / x[-1] + (1.0 - np.sqrt(m / (j - 0.5))) / (3.0 * xq)
    kp = -np.mean(np.log1p(-np.outer(theta, x)), axis=1)
    ll = n * (np.log(theta / kp) + kp - 1.0)
    wt = np.exp(ll - ll.max())
    wt /= wt.sum()
    th = float(np.dot(wt, theta))
    kp_hat = -float(np.mean(np.log1p(-th * x)))
    return -kp_hat, kp_hat / th


def pareto_tail(log_weights):
    """Fit the tail of weights exp(``log_weights``) (any finite shift: only ratios of
    weights matter; -inf is a zero weight). Returns a :class:`ParetoTail`.

    The shape is estimated from the exceedances w_(n-M+i) - w_(n-M), i = 1..M, of the M
    largest weights over the next one, then shrunk towards 1/2:
    k_hat = (M k + 10 * 1/2) / (M + 10).
    """
    lw = np.asarray(log_weights, dtype=np.float64).reshape(-1)
    lw = lw[lw > -np.inf]
    n = lw.size
    thresh = k_threshold(n)
    m = tail_size(n)
    if m < _MIN_TAIL or m >= n:
        return ParetoTail(math.nan, thresh, 0, math.nan)
    top = np.partition(lw, n - m - 1)[n - m - 1:]
    top.sort()
    shift = top[-1]
    w = np.exp(top - shift)
    x = w[1:] - w[0]
    if not x[-1] > 0 or not x[0] > 0 and np.count_nonzero(x > 0) < _MIN_TAIL:
        return ParetoTail(math.nan, thresh, m, math.nan)
    x = x[x > 0]
    k, sigma = gpd_fit(x)
    k = (x.size * k + _PRIOR_WEIGHT * 0.5) / (x.size + _PRIOR_WEIGHT)
    return ParetoTail(float(k), thresh, int(x.size), float(sigma))


TAIL_SHAPE_MARGIN = 0.0  # standard errors of k_hat added to the shape (0: the fit itself)


def tail_std_error(log_weights, tail, *, margin=TAIL_SHAPE_MARGIN):
    """Standard error of log mean w with the tail of the weights taken from its
    generalized-Pareto fit (NaN when there is no fit or the shape used is >= 1).

    The weights above u, the (M+1)-th largest, are replaced by their model: each is
    u + e with mean exceedance e = sigma / (1 - k), so the mean is
    mu = (sum_i min(w_i, u) + M e) / n and its variance is
    Var(z) / n + (M / n)^2 Var(e), z_i = min(w_i, u) + 1(w_i > u) e, where Var(e) comes
    from the Fisher information of the fit (n_tail Var k = (1 + k)^2,
    n_tail Cov = -sigma (1 + k)), at the fitted shape (or k_hat + ``margin`` (1 + k_hat) /
    sqrt(M), a more conservative choice: on the breathing trap's reverse process a margin of
    0.5 over-covers, 77% at 1 sigma, while 0 gives 66%). Unlike the sample variance of the
    weights, this exists for every k < 1, and it sees the part of the tail the sample has
    not drawn.
    Returns the error relative to the mean (= the error of log mean w).
    """
    if not math.isfinite(tail.k_hat) or tail.n_tail < _MIN_TAIL:
        return math.nan
    lw = np.asarray(log_weights, dtype=np.float64).reshape(-1)
    lw = lw[lw > -np.inf]
    n, m = lw.size, tail.n_tail
    k = tail.k_hat + margin * (1.0 + tail.k_hat) / math.sqrt(m)
    if not k < 1.0:
        return math.nan
    w = np.sort(np.exp(lw - lw.max()))
    u = w[n - m - 1]
    sig = tail.sigma
    e = sig / (1.0 - k)
    z = np.minimum(w, u)
    z[n - m:] += e
    mu = float(z.mean())
    var_k, var_s, cov = (1 + k) ** 2 / m, 2 * sig * sig * (1 + k) / m, -sig * (1 + k) / m
    de_ds, de_dk = 1.0 / (1.0 - k), sig / (1.0 - k) ** 2
    var_e = de_ds ** 2 * var_s + de_dk ** 2 * var_k + 2 * de_ds * de_dk * cov
    var = float(np.var(z, ddof=1)) / n + (m / n) ** 2 * max(var_e, 0.0)
    return math.sqrt(var) / mu
