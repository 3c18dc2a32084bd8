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


def spring_pulled(base=None, *, k_s=10.0, base_controls=None):
    """A particle in U_0(x) pulled by a harmonic spring: U(x, lam) = U_0(x) + k_s/2 (x - lam)^2,
    one control (the spring's position lam), for pulling experiments and PMFs
    (:func:`neqsim.analysis.hummer_szabo`).

    ``base``: the System of U_0 (one dimension) with its controls fixed at
    ``base_controls`` (default: its built-in defaults are not guessed; pass them), e.g.
    ``nq.systems.double_well()`` with (a, f) = (2, 0) for U_0 = x^4 - 2 x^2, or a user's
    ``nq.from_functions`` system; None gives the free particle U_0 = 0. F(lam) is
    computed by quadrature; G_0(x) = U_0(x) is what a PMF estimate should recover.
    """
    ks = float(k_s)
    if not ks > 0:
        raise ValueError(f"k_s must be > 0, got {k_s!r}")
    if base is None:
        def energy_grad(x, lam, out):
            d = x[0] - lam[0]
            out[0] = ks * d
            return 0.5 * ks * d * d
        params, factory = {"k_s": ks, "base": None}, "spring_pulled"
    else:
        if base.dim != 1:
            raise ValueError(f"spring_pulled needs a one-dimensional U_0, got dim={base.dim}")
        if base_controls is None:
            raise ValueError(f"spring_pulled: pass base_controls, the {base.n_controls} "
                             f"fixed control value(s) {base.control_names} of {base.name}")
        c = np.ascontiguousarray(np.atleast_1d(np.asarray(base_controls, dtype=np.float64)))
        if c.shape != (base.n_controls,):
            raise ValueError(f"base_controls must have {base.n_controls} value(s) "
                             f"{base.control_names}, got {np.shape(base_controls)}")
        u0 = base.potential

        # c is a compile-time constant of the kernels (part of their cache key)
        def energy_grad(x, lam, out):
            u = u0(x, c, out)
            d = x[0] - lam[0]
            out[0] += ks * d
            return u + 0.5 * ks * d * d
        builtin = base.factory is not None
        params = {"k_s": ks, "base": [base.factory, dict(base.params)] if builtin else None,
                  "base_controls": [float(v) for v in c]}
        factory = "spring_pulled" if builtin else None
    system = System(energy_grad, 1, 1, name="spring_pulled", control_names=("lam",),
                    params=params, factory=factory)
    if base is not None and base.factory is None:
        system.sources = list(base.sources)  # the user's U_0 is what the checks look at
    return system


def _spring_pulled(k_s, base=None, base_controls=None):
    b = None if base is None else BUILTINS[base[0]](**base[1])
    return spring_pulled(b, k_s=k_s, base_controls=base_controls)


def _ising(**params):
    from .ising import ising
    return ising(**params)


def _markov_states(**params):
    from .markov import markov_states
    return markov_states(**params)


#: builders by the name run files store (``System.factory``), fixed forever
BUILTINS = {"harmonic_trap": harmonic_trap, "double_well": double_well, "ising": _ising,
            "spring_pulled": _spring_pulled, "markov_states": _markov_states}


def from_spec(factory, params):
    """Rebuild a built-in system from its builder name and parameters."""
    if factory not in BUILTINS:
        raise ValueError(f"unknown built-in system {factory!r}; known: {sorted(BUILTINS)}")
    return BUILTINS[factory](**params)
