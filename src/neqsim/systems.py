"""Driven systems: a potential U(x, lam), its gradient, and what is known exactly about it.

``System`` bundles a compiled ``energy_grad(x, lam, grad_out) -> U`` (see
``neqsim._functions``) with its dimension, number of controls, and, where they exist,
exact equilibrium samplers and free energies that the tests and ``validate`` compare to.
Users build their own with :func:`from_functions` (or the :func:`potential` decorator);
the built-ins below use exactly the same mechanism.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit

from ._functions import ENERGY_GRAD_SIG, evaluate, pointer_adapter

__all__ = ["System", "Gaussian", "from_functions", "potential", "harmonic_trap", "double_well"]


@dataclass(frozen=True)
class Gaussian:
    """Exact equilibrium density N(mean, diag(std^2)), sampled directly."""
    mean: np.ndarray
    std: np.ndarray


class System:
    """A potential energy U(x, lam) over x in R^dim and controls lam in R^n_controls.

    Parameters are the compiled ``energy_grad`` function, ``dim`` and ``n_controls``.
    Optional callables give exact results: ``exact_equilibrium(lam, beta)`` returns a
    :class:`Gaussian` (or None) and ``exact_free_energy(lam, beta)`` returns F(lam) =
    -log Z(lam) / beta (or None).
    """

    def __init__(self, energy_grad, dim, n_controls, *, name="system", control_names=None,
                 exact_equilibrium=None, exact_free_energy=None, params=None, factory=None,
                 exact_sampler=None):
        if int(dim) < 1 or int(n_controls) < 1:
            raise ValueError(f"dim and n_controls must be >= 1, got {dim}, {n_controls}")
        self.energy_grad = energy_grad
        self.dim = int(dim)
        self.n_controls = int(n_controls)
        self._kernel_fn = None
        self.name = name
        self.control_names = tuple(control_names or (f"lam{j}" for j in range(self.n_controls)))
        if len(self.control_names) != self.n_controls:
            raise ValueError("control_names must have n_controls entries")
        self._exact_equilibrium = exact_equilibrium
        self._exact_free_energy = exact_free_energy
        self.params = dict(params or {})
        # name of the neqsim.systems builder that makes this system from ``params``
        # (built-ins only): lets a run file rebuild it without the user's code
        self.factory = factory
        # exact_sampler(lam, beta) -> None, or sample(rng, first, n) -> (n, dim) drawing
        # from pi_lam with each trajectory's own generator row (for systems whose exact
        # equilibrium is not a Gaussian, e.g. independent spins)
        self.exact_sampler = exact_sampler
        # spin lattices set this: their configurations are +-1, not points of R^dim
        self.discrete = False

    @property
    def kernel_function(self):
        """The pointer adapter the kernels call (compiled on first use)."""
        if self._kernel_fn is None:
            self._kernel_fn = pointer_adapter(self.energy_grad, self.dim, self.n_controls)
        return self._kernel_fn

    def __repr__(self):
        return (f"System({self.name!r}, dim={self.dim}, controls={self.control_names}"
                + (f", params={self.params}" if self.params else "") + ")")

    def _lam(self, lam):
        lam = np.ascontiguousarray(np.atleast_1d(np.asarray(lam, dtype=np.float64)))
        if lam.shape != (self.n_controls,):
            raise ValueError(f"{self.name}: control vector must have length {self.n_controls}"
                             f" {self.control_names}, got shape {lam.shape}")
        return lam

    def energy(self, x, lam):
        """U(x, lam) for an (n, dim) array (or (n,) when dim == 1) of configurations."""
        return evaluate(self.kernel_function, self._x(x), self._lam(lam))[0]

    def gradient(self, x, lam):
        """dU/dx, shape (n, dim)."""
        return evaluate(self.kernel_function, self._x(x), self._lam(lam))[1]

    def _x(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1 and self.dim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{self.name}: configurations must have shape (n, {self.dim})")
        return x

    def exact_equilibrium(self, lam, beta=1.0):
        """Exact equilibrium sampler description at lam, or None when none is known."""
        if self._exact_equilibrium is None:
            return None
        return self._exact_equilibrium(self._lam(lam), float(beta))

    def free_energy(self, lam, beta=1.0, *, quadrature=True):
        """F(lam) = -log Z(lam) / beta: closed form where known, else 1-D quadrature.

        Returns None when neither is available (dim > 1 without a closed form).
        """
        lam = self._lam(lam)
        if self._exact_free_energy is not None:
            value = self._exact_free_energy(lam, float(beta))
            return None if value is None else float(value)
        if quadrature and self.dim == 1:
            from .initial import grid_density
            grid, logp, log_norm = grid_density(self, lam, beta)
            return float(-log_norm / beta)
        return None


def _compile_energy_grad(energy, gradient):
    """Join separate energy(x, lam) and gradient(x, lam, out) into the kernel convention."""
    e = energy if isinstance(energy, numba.core.dispatcher.Dispatcher) else njit(energy)
    g = gradient if isinstance(gradient, numba.core.dispatcher.Dispatcher) else njit(gradient)

    def energy_grad(x, lam, out):
        g(x, lam, out)
        return e(x, lam)

    return njit(ENERGY_GRAD_SIG)(energy_grad)


def from_functions(energy, gradient=None, *, dim=1, n_controls=1, name=None,
                   control_names=None, energy_grad=None, free_energy=None):
    """A :class:`System` from plain (numba-compilable) Python functions.

    ``energy(x, lam) -> float`` is U(x, lam) and ``gradient(x, lam, out)`` writes dU/dx
    into ``out``; ``x`` and ``lam`` arrive as contiguous float64 arrays of length ``dim``
    and ``n_controls``. Alternatively pass ``energy_grad(x, lam, out) -> float`` doing
    both (fewer calls per step). Functions may be plain or already ``numba.njit``-ed.
    ``free_energy(lam, beta)`` may be supplied when F(lam) is known exactly.
    """
    if energy_grad is not None:
        if energy is not None or gradient is not None:
            raise TypeError("pass either energy and gradient, or energy_grad, not both")
        f = energy_grad.py_func if hasattr(energy_grad, "py_func") else energy_grad
        eg = njit(ENERGY_GRAD_SIG)(f)
        default_name = getattr(f, "__name__", "system")
    else:
        if energy is None or gradient is None:
            raise TypeError("from_functions needs energy and gradient (or energy_grad=)")
        eg = _compile_energy_grad(energy, gradient)
        default_name = getattr(energy, "__name__", "system")
    return System(eg, dim, n_controls, name=name or default_name, control_names=control_names,
                  exact_free_energy=free_energy)


def potential(*, dim=1, n_controls=1, name=None, control_names=None):
    """Decorator: turn ``energy_grad(x, lam, out) -> U`` into a :class:`System`."""
    def wrap(fn):
        return from_functions(None, None, energy_grad=fn, dim=dim, n_controls=n_controls,
                              name=name or fn.__name__, control_names=control_names)
    return wrap


# --- built-in systems: the same convention, compiled once and cached ---------------------

@njit(ENERGY_GRAD_SIG, cache=True)
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
        k = lam[dim]
        if not k > 0:
            return math.inf if k == 0 else math.nan
        return -(dim / (2.0 * beta)) * math.log(2.0 * math.pi / (beta * k))

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

    # q is captured as a compile-time constant; the function is tiny, so compiling it
    # per call of double_well() costs little and cannot go stale.
    def energy_grad(x, lam, out):
        a = lam[0]
        f = lam[1]
        y = x[0]
        y2 = y * y
        out[0] = 4.0 * q * y2 * y - 2.0 * a * y - f
        return q * y2 * y2 - a * y2 - f * y

    return System(njit(ENERGY_GRAD_SIG)(energy_grad), 1, 2, name="double_well",
                  control_names=("a", "f"), params={"quartic": q}, factory="double_well")


BUILTINS = {"harmonic_trap": harmonic_trap, "double_well": double_well}


def from_spec(factory, params):
    """Rebuild a built-in system from its builder name and parameters."""
    if factory not in BUILTINS:
        from .ising import BUILDERS  # lattices live in their own module (it imports this)
        BUILTINS.update(BUILDERS)
    if factory not in BUILTINS:
        raise ValueError(f"unknown built-in system {factory!r}; known: {sorted(BUILTINS)}")
    return BUILTINS[factory](**params)
