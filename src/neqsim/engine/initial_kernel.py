"""Numba kernels that draw initial states from each trajectory's own stream (run in
parallel threads over contiguous ranges of trajectories: each row draws only from its
own stream, so the split changes nothing)."""
import numpy as np
from numba import types

from .._numba.abi import F1, F2, U2
from .._numba.lazy import lazy_kernel
from .._numba.rng import normal, uniform
from .._numba.threads import run_split

__all__ = ["init_gaussian", "init_inverse_cdf"]


@lazy_kernel(types.void(U2, F1, F1, F2), nogil=True)
def _gaussian(rng, mean, std, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = mean[j] + std[j] * normal(rng, i)


@lazy_kernel(types.void(U2, F1, F1, F2), nogil=True)
def _inverse_cdf(rng, grid, cdf, out):
    m = grid.shape[0]
    for i in range(out.shape[0]):
        t = uniform(rng, i) * cdf[m - 1]
        j = np.searchsorted(cdf, t, side="right") - 1
        if j < 0:
            j = 0
        if j > m - 2:
            j = m - 2
        span = cdf[j + 1] - cdf[j]
        f = (t - cdf[j]) / span if span > 0 else 0.5
        out[i, 0] = grid[j] + f * (grid[j + 1] - grid[j])


def init_gaussian(rng, mean, std, out):
    """out[i, j] = mean[j] + std[j] * xi_ij, from trajectory i's stream."""
    run_split(lambda a, b: _gaussian(rng[a:b], mean, std, out[a:b]), out.shape[0], 1024)


def init_inverse_cdf(rng, grid, cdf, out):
    """1-D exact sampling: x = C^{-1}(u) with C the tabulated CDF (linear in each cell)."""
    run_split(lambda a, b: _inverse_cdf(rng[a:b], grid, cdf, out[a:b]), out.shape[0], 1024)
