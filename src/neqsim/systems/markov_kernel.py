"""Numba functions of the discrete-state systems: exact draws from pi_lam."""
from numba import types

from .._numba.abi import F1, F2, U2
from .._numba.lazy import lazy_kernel
from .._numba.rng import uniform
from .._numba.threads import run_split


@lazy_kernel(types.void(U2, F1, F2), nogil=True)
def _categorical(rng, cdf, out):
    n = cdf.shape[0]
    for i in range(out.shape[0]):
        v = uniform(rng, i)
        k = 0
        while k < n - 1 and v >= cdf[k]:
            k += 1
        out[i, 0] = float(k)


def sample_states(rng, cdf, out):
    """out[i, 0] = the state k with cdf[k-1] <= v < cdf[k] for one uniform v of row i's
    stream (an exact draw from the distribution whose cumulative sums are ``cdf``, the
    last entry 1)."""
    run_split(lambda a, b: _categorical(rng[a:b], cdf, out[a:b]), out.shape[0], 256)
