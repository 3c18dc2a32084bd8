"""Driven systems: a potential U(x, lam), its gradient, and what is known exactly about it.

``System`` bundles a potential ``energy_grad(x, lam, grad_out) -> U`` (a numba-compilable
Python function: U returned, dU/dx written into ``grad_out``) with its dimension, number
of controls, and, where they exist, exact equilibrium samplers and free energies that
the tests and ``validate`` compare to. The kernels inline the potential
(:mod:`neqsim._numba.specialize`). Users build their own with :func:`from_functions` (or
the :func:`potential` decorator); the built-ins (:mod:`.builtin`) use exactly the same
mechanism.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba import njit

from .._numba.specialize import KernelSpec, specialized_kernel
from . import evaluate_kernel
from .checks import (
    N_PROBES,
    check_bounds,
    check_compiles,
    probe_points,
    short_traceback,
)

__all__ = ["System", "Gaussian", "from_functions", "potential", "fingerprint"]



@dataclass(frozen=True)
class Gaussian:
    """Exact equilibrium density N(mean, diag(std^2)), sampled directly."""
    mean: np.ndarray
    std: np.ndarray


class System:
    """A potential energy U(x, lam) over x in R^dim and controls lam in R^n_controls.

    Parameters are the potential ``energy_grad`` (a Python function or a numba
    dispatcher), ``dim`` and ``n_controls``. Optional callables give exact results: ``exact_equilibrium(lam, beta)`` returns a
    :class:`Gaussian` (or None) and ``exact_free_energy(lam, beta)`` returns F(lam) =
    -log Z(lam) / beta (or None).
    """

    def __init__(self, energy_grad, dim, n_controls, *, name="system", control_names=None,
                 exact_equilibrium=None, exact_free_energy=None, params=None, factory=None,
                 exact_sampler=None):
        if int(dim) < 1 or int(n_controls) < 1:
            raise ValueError(f"dim and n_controls must be >= 1, got {dim}, {n_controls}")
        if isinstance(energy_grad, numba.core.dispatcher.Dispatcher):
            self._potential = energy_grad
        elif callable(energy_grad):
            # a lazy dispatcher: nothing compiles here, and it pickles by value
            self._potential = njit(energy_grad)
        else:
            raise TypeError(f"energy_grad must be a function, got {type(energy_grad).__name__}")
        self.dim = int(dim)
        self.n_controls = int(n_controls)
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
        # the user's functions and what each must be, checked before a first compile
        # (built-ins are not: their code is the package's)
        self.sources = [] if factory else [(energy_grad, "energy_grad")]

    @property
    def energy_grad(self):
        """The potential, ``energy_grad(x, lam, grad_out) -> U`` (a numba dispatcher,
        compiled on first call); the kernels inline its Python function."""
        return self._potential

    @property
    def potential(self):
        """What the kernels inline: the potential's dispatcher."""
        return self._potential

    def kernel_label(self):
        return self.name

    def check_compiles(self):
        """Raise :class:`~neqsim.systems.checks.PotentialError` (the user's file, line and
        numba's reason) unless every function of the potential compiles alone, and
        indexes only within arrays of ``dim`` and ``n_controls`` entries at a few probe
        points (checked in a bounds-checked copy: inside a kernel a stray index reads
        garbage or corrupts memory). Runs before a first compile of the kernels."""
        for fn, kind in self.sources:
            compiled = check_compiles(fn, kind, self.name)
            check_bounds(compiled, fn, kind, self.name, self.dim, self.n_controls)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_evaluator", None)  # compiled code: rebuilt (or loaded) where needed
        return state

    def evaluator(self):
        """The kernel behind :meth:`evaluate` (potential inlined, cached on disk)."""
        kern = self.__dict__.get("_evaluator")
        if kern is None:
            kern = self._evaluator = specialized_kernel(KernelSpec(
                evaluate_kernel.evaluate_kernel, {"D": self.dim, "M": self.n_controls},
                potentials={"potential": self._potential}, label=f"{self.name}/energy",
                vectorize=False, checks=[self.check_compiles]))
        return kern

    @short_traceback  # a PotentialError ends at the user's call
    def evaluate(self, x, lam):
        """(U, grad U) at the rows of a C-contiguous (n, dim) float64 array ``x`` and
        one control vector ``lam``, by the cached specialized kernel."""
        kern = self.evaluator()
        x = np.ascontiguousarray(x, dtype=np.float64)
        u = np.empty(x.shape[0])
        g = np.empty((x.shape[0], self.dim))
        kern(x, np.ascontiguousarray(lam, dtype=np.float64), u, g)
        return u, g

    def __repr__(self):
        return (f"System({self.name!r}, dim={self.dim}, controls={self.control_names}"
                + (f", params={self.params}" if self.params else "") + ")")

    def _lam(self, lam):
        lam = np.ascontiguousarray(np.atleast_1d(np.asarray(lam, dtype=np.float64)))
        if lam.shape != (self.n_controls,):
            raise ValueError(f"{self.name}: control vector must have length {self.n_controls}"
                             f" {self.control_names}, got shape {lam.shape}")
        return lam

    @short_traceback
    def energy(self, x, lam):
        """U(x, lam) for an (n, dim) array (or (n,) when dim == 1) of configurations."""
        return self.evaluate(self._x(x), self._lam(lam))[0]

    @short_traceback
    def gradient(self, x, lam):
        """dU/dx, shape (n, dim)."""
        return self.evaluate(self._x(x), self._lam(lam))[1]

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

    @short_traceback
    def free_energy(self, lam, beta=1.0, *, quadrature=True):
        """F(lam) = -log Z(lam) / beta: closed form where known, else 1-D quadrature.

        Returns None when neither is available (dim > 1 without a closed form).
        """
        lam = self._lam(lam)
        if self._exact_free_energy is not None:
            value = self._exact_free_energy(lam, float(beta))
            return None if value is None else float(value)
        if quadrature and self.dim == 1:
            from ..exact.quadrature import grid_density
            grid, logp, log_norm = grid_density(self, lam, beta)
            return float(-log_norm / beta)
        return None


def _join(energy, gradient):
    """Join separate energy(x, lam) and gradient(x, lam, out) into the kernel convention
    (the kernels inline both)."""
    e = energy if isinstance(energy, numba.core.dispatcher.Dispatcher) else njit(energy)
    g = gradient if isinstance(gradient, numba.core.dispatcher.Dispatcher) else njit(gradient)

    def energy_grad(x, lam, out):
        g(x, lam, out)
        return e(x, lam)

    return njit(energy_grad)


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
        eg = njit(f)
        default_name = getattr(f, "__name__", "system")
    else:
        if energy is None or gradient is None:
            raise TypeError("from_functions needs energy and gradient (or energy_grad=)")
        eg = _join(energy, gradient)
        default_name = getattr(energy, "__name__", "system")
    system = System(eg, dim, n_controls, name=name or default_name,
                    control_names=control_names, exact_free_energy=free_energy)
    system.sources = [(energy_grad, "energy_grad")] if energy_grad is not None else \
        [(energy, "energy"), (gradient, "gradient")]
    return system


def potential(*, dim=1, n_controls=1, name=None, control_names=None):
    """Decorator: turn ``energy_grad(x, lam, out) -> U`` into a :class:`System`."""
    def wrap(fn):
        return from_functions(None, None, energy_grad=fn, dim=dim, n_controls=n_controls,
                              name=name or fn.__name__, control_names=control_names)
    return wrap


def fingerprint(system, protocol):
    """U and grad U at fixed probe points and at lam_0, lam_mid, lam_N: a resume with a
    different potential (an edited user function) is refused instead of mixing physics."""
    x, lams = probe_points(system, protocol)
    energies = np.empty((len(lams), N_PROBES))
    grads = np.empty((len(lams), N_PROBES, system.dim))
    for i, lam in enumerate(lams):
        energies[i], grads[i] = system.evaluate(x, np.ascontiguousarray(lam, dtype=np.float64))
    return {"fingerprint_energy": energies, "fingerprint_gradient": grads}
