"""Numba kernel that evaluates a system's energy and gradient at many configurations.

Compiled per (potential, dimension, controls) with the potential inlined, like the
integrator kernels (:mod:`neqsim._numba.specialize`), and cached on disk: initial
energies, the fingerprint a run file stores, and ``System.energy`` / ``gradient``. It
runs the same inlined arithmetic as the integrator kernels, so its energies are the
ones they would compute.
"""
from numba import carray

from .._numba.stack import stack_f8

__all__ = ["evaluate_kernel"]

D = 1
M = 1


def potential(x, lam, out):  # bound to the system's inlined energy_grad
    raise NotImplementedError


def evaluate_kernel(x, lam, u, g):
    """u[i] = U(x[i], lam) and g[i] = grad U(x[i], lam) for every row i."""
    xv = carray(stack_f8(D), (D,))
    gv = carray(stack_f8(D), (D,))
    lv = carray(stack_f8(M), (M,))
    for j in range(M):
        lv[j] = lam[j]
    for i in range(x.shape[0]):
        for j in range(D):
            xv[j] = x[i, j]
        u[i] = potential(xv, lv, gv)
        for j in range(D):
            g[i, j] = gv[j]
