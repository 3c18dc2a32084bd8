"""Built-in systems: the harmonic trap (moving and breathing) and the double well.

They use the same mechanism as user potentials (:mod:`.system`), plus their exact
results, and a registry by builder name from which run files rebuild them.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..exact.gaussian import harmonic_free_energy
from .system import Gaussian, System

__all__ = ["harmonic_trap", "double_well", "from_spec", "BUILTINS"]


@njit(cache=True)
def _harmonic_eg(x, lam, out):
    # lam = (c_1 .. c_d, k)
    d = x.shape[0]
    k = lam[d]
    u = 0.0
    for j in range(d):
        dx = x[j] - lam[j]
        out[j] = k * dx
        u += dx * dx
    return 0.5 * k * u


def harmonic_trap(dim=1):
    """U = k/2 |x - c|^2 with controls (c, k) in one dimension, (c0, ..., c{dim-1}, k)
    in general.

    Exact: equilibrium N(c, I / (beta k)); F = -(dim / (2 beta)) log(2 pi / (beta k)).
    Dragging c is the moving trap (dF = 0); changing k is the breathing trap,
    dF = (dim / (2 beta)) log(k_N / k_0).
    """
    dim = int(dim)

    def equilibrium(lam, beta):
        k = lam[dim]
        if not k > 0:
            return None
        return Gaussian(mean=lam[:dim].copy(), std=np.full(dim, 1.0 / math.sqrt(beta * k)))

    def free_energy(lam, beta):
        return harmonic_free_energy(lam[dim], beta, dim)

    names = tuple(f"c{j}" for j in range(dim)) + ("k",) if dim > 1 else ("c", "k")
    return System(_harmonic_eg, dim, dim + 1, name="harmonic_trap", control_names=names,
                  exact_equilibrium=equilibrium, exact_free_energy=free_energy,
                  params={"dim": dim}, factory="harmonic_trap")


def double_well(quartic=1.0):
    """U = q x^4 - a x^2 - f x in one dimension, with controls (a, f).

    ``a`` sets the barrier (height a^2 / (4 q) at f = 0, wells at +-sqrt(a / (2 q));
    a <= 0 is a single well) and ``f`` tilts. The quartic keeps every control value
    normalizable, so barrier-lowering erasure protocols are well defined.
    ``(x^2 - 1)^2 - lam x`` is ``quartic=1`` with a = 2, f = lam (up to the constant 1).
    F(lam) is computed by quadrature.
    """
    q = float(quartic)
    if not q > 0:
        raise ValueError(f"quartic must be > 0, got {quartic}")

    # q is captured as a compile-time constant of the kernels (part of their cache key)
    def energy_grad(x, lam, out):
        a = lam[0]
        f = lam[1]
        y = x[0]
        y2 = y * y
        out[0] = 4.0 * q * y2 * y - 2.0 * a * y - f
        return q * y2 * y2 - a * y2 - f * y

    return System(energy_grad, 1, 2, name="double_well",
                  control_names=("a", "f"), params={"quartic": q}, factory="double_well")


def _ising(**params):
    from .ising import ising
    return ising(**params)


#: builders by the name run files store (``System.factory``), fixed forever
BUILTINS = {"harmonic_trap": harmonic_trap, "double_well": double_well, "ising": _ising}


def from_spec(factory, params):
    """Rebuild a built-in system from its builder name and parameters."""
    if factory not in BUILTINS:
        raise ValueError(f"unknown built-in system {factory!r}; known: {sorted(BUILTINS)}")
    return BUILTINS[factory](**params)
