"""Gaussian -> shifted/scaled Gaussian, with the exact log Z(t) of the whole geometric
path (AIS schedules, thermodynamic integration)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np

from ._common import LOG_2PI, _as_rng, _frozen

__all__ = ["GaussianPath", "gaussian_path"]



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
