"""Multimodal Gaussian mixture with unnormalized weights: log Z = log sum w."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np
from scipy.special import logsumexp

from ._common import LOG_2PI, _as_rng, _frozen

__all__ = ["GaussianMixture", "gaussian_mixture"]



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
