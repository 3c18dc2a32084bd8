"""What every Markov kernel T_k shares: the base class, the kernel state, the call info.

Every integrator targets pi_{lam_k}(x) ~ exp(-beta U(x, lam_k)) (with Maxwell-Boltzmann
momenta for the underdamped ones) and reports, per trajectory (docs/physics.md):

* ``work`` W = sum_k [U(x_{k-1}, lam_k) - U(x_{k-1}, lam_{k-1})]  (switches);
* ``heat`` Q: energy taken from the bath (configuration-only kernels: the change of U
  in the kernel step; splittings: the kinetic-energy change in O sub-steps);
* ``shadow_work`` (splittings): energy change in the deterministic V/R sub-steps;
* ``path_work`` W_path with beta W_path = -log(q_R / p_F) + beta dF, so that
  <exp(-beta W_path)> = exp(-beta dF) holds exactly at any time step.

A kernel is driven through :meth:`Integrator.stepper`: ``advance(state, k0, k1, trace,
rec_off=0)`` runs steps k0+1 .. k1 in place on a :class:`KernelState` and returns a :class:`StepInfo`.
Kernels are pure (arrays in, arrays out); the engine does everything else between calls.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from .._numba.threads import run_split

__all__ = ["Integrator", "KernelState", "StateArrays", "StepInfo", "TraceBuffers", "positive",
           "CUDA_FAMILIES"]

# what device="cuda" runs (Integrator.cuda_stepper), for the errors of everything else
CUDA_FAMILIES = ("EulerMaruyama, MALA, Langevin (any splitting the CPU accepts), GHMC, "
                 "VelocityVerlet and the AIS kernels nq.kernels.RandomWalk, MALA, HMC")


def positive(name, value):
    """float(value), or one ValueError naming ``name`` unless it is a finite number > 0
    (None, a string or an array included: float()'s own error names no parameter)."""
    try:
        if isinstance(value, (bool, complex, np.complexfloating)):
            raise TypeError
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


@dataclass
class KernelState:
    """The evolving arrays of n trajectories, updated in place by a kernel.

    x : (n, dim) positions (spins for lattices); v : (n, dim) velocities (underdamped
    integrators) or None; u : (n,) U(x, lam) at the current control; rng : (n, 4) uint64
    xoshiro256++ states; work, heat, shadow_work, path_work : (n,) sums so far;
    n_accepted : (n,) int64 accepted proposals; failed_step : (n,) int64, -1 while the
    trajectory is healthy, else the step at which its energy became non-finite (it is
    then frozen).
    """
    x: np.ndarray
    u: np.ndarray
    rng: np.ndarray
    work: np.ndarray
    heat: np.ndarray
    shadow_work: np.ndarray
    path_work: np.ndarray
    n_accepted: np.ndarray
    failed_step: np.ndarray
    v: np.ndarray | None = None

    @classmethod
    def start(cls, x, u, rng, v=None):
        """Zero sums, nothing accepted, nothing failed (copies x and v)."""
        n = x.shape[0]
        return cls(x=np.array(x, dtype=np.float64, order="C"), u=u, rng=rng,
                   work=np.zeros(n), heat=np.zeros(n), shadow_work=np.zeros(n),
                   path_work=np.zeros(n), n_accepted=np.zeros(n, dtype=np.int64),
                   failed_step=np.full(n, -1, dtype=np.int64),
                   v=None if v is None else np.array(v, dtype=np.float64, order="C"))

    def arrays(self):
        """{field: array} of the fields that are present (v only when underdamped)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    def kernel_arrays(self):
        """The state as the kernels take it (:class:`StateArrays`; velocities an (n, 0)
        array when there are none), the same arrays, updated in place."""
        v = self.v if self.v is not None else np.empty((self.x.shape[0], 0))
        return StateArrays(self.x, v, self.u, self.rng, self.work, self.heat,
                           self.shadow_work, self.path_work, self.n_accepted,
                           self.failed_step)

    @property
    def n(self):
        return self.x.shape[0]


class StateArrays(NamedTuple):
    """A :class:`KernelState` as one argument of a numba kernel (a named tuple of its
    arrays, in this order)."""
    x: np.ndarray
    v: np.ndarray
    u: np.ndarray
    rng: np.ndarray
    work: np.ndarray
    heat: np.ndarray
    shadow_work: np.ndarray
    path_work: np.ndarray
    n_accepted: np.ndarray
    failed_step: np.ndarray


class TraceBuffers(NamedTuple):
    """Where a kernel records cumulative work, heat (n, n_rec) and positions
    (n, n_rec, dim, or dim 0 when positions are not recorded)."""
    work: np.ndarray
    heat: np.ndarray
    x: np.ndarray

    @classmethod
    def empty(cls, n, n_rec, rec_dim):
        return cls(np.zeros((n, n_rec)), np.zeros((n, n_rec)), np.zeros((n, n_rec, rec_dim)))


@dataclass(frozen=True)
class StepInfo:
    """What one kernel call did: steps k0+1 .. k1, proposals accepted during them, and
    how many of the state's trajectories have failed so far."""
    k0: int
    k1: int
    n_accepted: int
    n_failed: int


class Integrator:
    """Base class of every Markov kernel ``simulate`` can drive.

    Capabilities are class attributes the engine and ``ais`` read (never integer codes):
    ``needs_gradient`` (the kernel reads grad U), ``has_velocities`` (it carries momenta:
    E = U + K), ``metropolized`` (an accept/reject step makes W_path = W),
    ``discrete_states`` (it moves spins of a lattice).

    ``file_name`` is how run files name the class: an explicit constant, fixed forever
    (files written by every version must keep opening), never derived from where the
    class lives. Subclasses with a ``file_name`` register themselves in
    ``Integrator.registry``, from which run files rebuild them with ``params()``.
    """
    kind = ""
    file_name = ""
    needs_gradient = True
    has_velocities = False
    metropolized = False
    discrete_states = False  # acts on +-1 spins (lattices), not points of R^dim
    registry = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("file_name")
        if name:
            other = Integrator.registry.get(name)
            if other is not None and other is not cls:
                raise TypeError(f"run-file name {name!r} of {cls.__qualname__} is taken by "
                                f"{other.__qualname__}")
            Integrator.registry[name] = cls

    @classmethod
    def spec_name(cls):
        """The run-file name (``file_name``)."""
        return cls.file_name

    def params(self):
        """Parameters as a plain dict (stored in run metadata)."""
        return {}

    def proposals_per_step(self):
        """Metropolis tests per step (for acceptance rates); 0 if none."""
        return 0

    def stepper(self, system, lam, beta, record_every, specialize=None, lanes=None):
        """A function ``advance(state, k0, k1, trace, rec_off=0) -> StepInfo`` running the
        compiled kernel over steps k0+1..k1 in place on ``state`` (a :class:`KernelState`),
        recording into ``trace`` (:class:`TraceBuffers`) every ``record_every`` steps
        (trace row r into buffer row r - rec_off, when it is in the buffer).
        ``lanes``: trajectories per block inside the kernel (default: by dimension; the
        numbers do not depend on it); ``specialize`` is ignored (0.1.0's option: every
        kernel is specialized now)."""
        raise NotImplementedError

    def cuda_stepper(self, system, lam, beta, record_every, *, fma=False, threads=None):
        """The :meth:`stepper` of a CUDA kernel, one thread per trajectory, giving the
        CPU kernel's numbers (docs/gpu.md); ``fma``: let NVVM contract multiply-adds
        (faster, last bits differ from the CPU). Families without one raise here."""
        raise NotImplementedError(
            f"device='cuda' is not implemented for {type(self).__name__}; it runs "
            f"{CUDA_FAMILIES}. Use device='cpu' (the default) for this integrator")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.params() == other.params()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.params().items()))))


def lanes_stepper(kernel, lam, params, record_every, lanes):
    """``advance(state, k0, k1, trace, rec_off=0) -> StepInfo`` running a lanes kernel
    ``kernel(lam, k0, k1, params, state_arrays, trace, record_every, rec_off)`` on
    contiguous ranges of the trajectories in parallel threads (the numbers do not depend
    on how they are split). Trace row r is written to row r - rec_off of ``trace`` (a
    window of rows), rows outside it are not recorded."""
    lam = np.ascontiguousarray(lam, dtype=np.float64)
    record_every = int(record_every)

    def advance(state, k0, k1, trace, rec_off=0):
        before = int(state.n_accepted.sum())
        arrays = state.kernel_arrays()

        def part(a, b):
            kernel(lam, k0, k1, params, StateArrays(*(v[a:b] for v in arrays)),
                   TraceBuffers(*(t[a:b] for t in trace)), record_every, int(rec_off))
        run_split(part, state.n, lanes)
        return step_info(state, k0, k1, before)
    advance.kernel = kernel
    return advance


def step_info(state, k0, k1, accepted_before):
    """The :class:`StepInfo` of a call that started with ``accepted_before`` accepted."""
    return StepInfo(int(k0), int(k1), int(state.n_accepted.sum()) - accepted_before,
                    int(np.count_nonzero(state.failed_step >= 0)))
