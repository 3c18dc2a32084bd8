"""Numba kernel of the leave-one-out mixture estimate of a measurement's marginal density
(:mod:`.information`): O(n^2) pairs, rows split over threads (each row's sum runs over the
other trajectories in a fixed order, so the split changes no bit)."""
import math

from numba import types

from .._numba.abi import F1, F2, i8
from .._numba.lazy import lazy_kernel

__all__ = ["loo_rows"]


@lazy_kernel(types.void(F2, F2, F1, i8, F1, F1), nogil=True)
def loo_rows(y, cx, inv_sigma, first, log_sum, ratio):
    """For rows i = first .. first + len(log_sum) - 1 of y:
    log_sum[i'] = ln sum_{j != i} exp(t_ij) and ratio[i'] = (n - 1) sum e^{2 t_ij} /
    (sum e^{t_ij})^2, with t_ij = -|(y_i - cx_j) / sigma|^2 / 2 (the sums are taken relative
    to the row's largest t: no overflow, no underflow of the leading terms)."""
    n = cx.shape[0]
    d = cx.shape[1]
    for r in range(log_sum.shape[0]):
        i = first + r
        tmax = -math.inf
        for j in range(n):
            t = 0.0
            for c in range(d):
                e = (y[i, c] - cx[j, c]) * inv_sigma[c]
                t += e * e
            t = -0.5 * t
            tmax = t if (j != i) & (t > tmax) else tmax
        s1 = 0.0
        s2 = 0.0
        for j in range(n):
            t = 0.0
            for c in range(d):
                e = (y[i, c] - cx[j, c]) * inv_sigma[c]
                t += e * e
            p = math.exp(-0.5 * t - tmax)
            p = 0.0 if j == i else p
            s1 += p
            s2 += p * p
        log_sum[r] = tmax + math.log(s1)
        ratio[r] = (n - 1) * s2 / (s1 * s1)
