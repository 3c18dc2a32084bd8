"""Numba functions of the Ising lattice itself: its energy, and exact draws at J = 0.

Energy, controls lam = (J, h), each bond counted once:

    U(s; J, h) = -J B(s) - h M(s),   B = sum_{bonds <ij>} s_i s_j,   M = sum_i s_i.

B and M are sums of +-1 terms, hence exact integers in float64 whatever the order of
summation; every energy of the lattice code (its ``energy_grad``, the spin-flip kernel's
running energy, a fresh evaluation) is computed from them by the one expression in
:func:`energy_from_sums`, so they agree to the last bit.
"""
from numba import njit, types

from .._numba.abi import F2, U2, f8
from .._numba.lazy import lazy_kernel
from .._numba.rng import uniform
from .._numba.threads import run_split


@njit(cache=True, inline="always")
def energy_from_sums(J, h, B, M):
    """U = -J B - h M: the single expression every energy in the Ising code uses."""
    return -J * B - h * M



@njit(cache=True)
def ising_energy(x, lam, nbr):
    """U(s; J, h) = -J sum_<ij> s_i s_j - h sum_i s_i of one configuration ``x`` (+-1
    floats), lam = (J, h), with the bonds given by the neighbour table ``nbr``."""
    z = nbr.shape[1]
    B2 = 0.0
    M = 0.0
    for i in range(x.shape[0]):
        nsum = 0.0
        for k in range(z):
            j = nbr[i, k]
            if j < 0:
                break
            nsum += x[j]
        B2 += x[i] * nsum
        M += x[i]
    return energy_from_sums(lam[0], lam[1], 0.5 * B2, M)


@lazy_kernel(types.void(U2, f8, F2), nogil=True)
def _independent(rng, p_up, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = 1.0 if uniform(rng, i) < p_up else -1.0


def sample_independent(rng, p_up, out):
    """Independent spins (J = 0): out[i, j] = +1 with probability ``p_up``
    (= 1 / (1 + exp(-2 beta h))), else -1; row i from trajectory i's own stream, one
    uniform per site in site order."""
    run_split(lambda a, b: _independent(rng[a:b], p_up, out[a:b]), out.shape[0], 256)
