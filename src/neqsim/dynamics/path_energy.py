"""The energy of an AIS path from its two log densities (shared by ``ais`` and the
random-walk kernel that caches the densities, so both compute the same bits)."""
import math

from numba import njit


@njit(inline="always")
def combine(va, vb, ca, t):
    """-log f_t = -(ca log f_a + t log f_b) of an AIS path (ca = 1 - t: geometric path;
    ca = 1: prior times likelihood^t). 0 * (-inf) must stay "density 1" at t = 0 (not
    NaN): terms with a zero coefficient are dropped."""
    u = 0.0
    if ca != 0.0:
        u -= ca * va
    if t != 0.0:
        u -= t * vb
    if math.isnan(u):
        return math.inf if (va == -math.inf or vb == -math.inf) else u
    return u
