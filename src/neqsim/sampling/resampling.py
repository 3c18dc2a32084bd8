"""Resampling schemes: ancestor indices from normalized weights (Douc, Cappe, Moulines,
"Comparison of resampling schemes for particle filtering", ISPA 2005).

Each returns n ancestor indices in nondecreasing order whose counts N_i have
E[N_i] = n W_i (so the evidence estimator stays unbiased), from uniforms drawn by the
given numpy Generator (the caller keys it by (seed, temperature index), so the result
does not depend on threads or blocks):

* multinomial: n independent draws from W (the most variance);
* stratified: one uniform in each of the n strata [i/n, (i+1)/n);
* systematic: one uniform U, points (i + U)/n (the least variance in practice);
* residual: floor(n W_i) copies of each, the rest multinomial on the remainders.
"""
from __future__ import annotations

import numpy as np

__all__ = ["resample", "SCHEMES"]

SCHEMES = ("systematic", "stratified", "multinomial", "residual")


def _invert(cdf, u):
    """Indices i with cdf[i-1] <= u < cdf[i]; the last index absorbs round-off."""
    return np.minimum(np.searchsorted(cdf, u, side="right"), cdf.size - 1)


def resample(weights, scheme, rng, m=None):
    """``m`` (default: as many as weights) ancestor indices, int64, for normalized
    ``weights`` (sum 1) by ``scheme``; E[count of i] = m W_i."""
    w = np.asarray(weights, dtype=np.float64)
    n = w.size if m is None else int(m)
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    if scheme == "systematic":
        u = (np.arange(n) + rng.random()) / n
    elif scheme == "stratified":
        u = (np.arange(n) + rng.random(n)) / n
    elif scheme == "multinomial":
        # sorted uniforms from normalized exponential spacings: O(n), no sort
        e = rng.standard_exponential(n + 1)
        u = np.cumsum(e[:-1]) / e.sum()
    elif scheme == "residual":
        counts = np.floor(n * w).astype(np.int64)
        rest = n - int(counts.sum())
        if rest > 0:
            r = n * w - counts
            rc = np.cumsum(r)
            rc /= rc[-1]
            e = rng.standard_exponential(rest + 1)
            extra = _invert(rc, np.cumsum(e[:-1]) / e.sum())
            counts += np.bincount(extra, minlength=w.size)
        return np.repeat(np.arange(w.size, dtype=np.int64), counts)
    else:
        raise ValueError(f"resampling scheme must be one of {SCHEMES}, got {scheme!r}")
    return _invert(cdf, u).astype(np.int64)
