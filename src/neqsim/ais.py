"""Annealed importance sampling from a script: log normalizing constants with the engine.

AIS is Jarzynski at beta = 1 with energies U(x, t) = -log f_t(x) (PHYSICS.md). ``ais``
builds that system from two log densities, runs the chains with ``simulate`` (same RNG,
bookkeeping, run files), and estimates log(Z_N / Z_0) with
:func:`neqsim.analysis.ais_log_z`:

    @nq.log_density
    def log_prior(x): ...                # or log_prior(x, grad): also writes the gradient
    @nq.log_density
    def log_likelihood(x): ...
    res = nq.ais(log_prior, log_likelihood, initial=sample_prior,
                 schedule=nq.schedules.geometric(1000), kernel=nq.kernels.MALA(0.1),
                 n_chains=10_000, seed=0, out="ais.h5")
    res.log_z, res.log_z_err, res.ess

With ``path="likelihood"`` (default) the path is f_t = prior * likelihood^t and log Z is
the log evidence when the prior is normalized; with ``path="geometric"`` the second
density is the target f_N and f_t = f_0^(1-t) f_N^t. A :class:`neqsim.System` with its own
protocol gives any other family f(x, lam) = exp(-U(x, lam)).
"""
from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass, field

import numba
import numpy as np
from numba import carray, njit

from . import schedules as _schedules
from .schedules import Adaptive
from ._functions import ENERGY_GRAD_SIG, POINTER_SIG
from ._path import combine as _combine
from .kernels import MarkovKernel
from .protocols import Protocol, as_protocol
from .systems import System

__all__ = ["log_density", "LogDensity", "ais", "AISResult"]

PILOT_SEED_OFFSET = 0x9E3779B97F4A7C15  # pilot chains never share streams with the run


class LogDensity:
    """An unnormalized log density log f(x) compiled by numba, with its gradient if the
    function takes a second argument ``(x, grad)`` and writes d log f / dx into it."""

    def __init__(self, fn, *, name=None):
        if isinstance(fn, LogDensity):
            fn = fn.py_func
        py = getattr(fn, "py_func", fn)
        n_args = len(inspect.signature(py).parameters)
        if n_args not in (1, 2):
            raise TypeError(f"a log density takes (x) or (x, grad), got {n_args} arguments")
        self.py_func = py
        self.name = name or py.__name__
        self.has_gradient = n_args == 2
        jitted = fn if hasattr(fn, "py_func") else njit(py)
        self.jitted = jitted
        if self.has_gradient:
            self.value_grad = jitted
        else:
            f = jitted

            @njit
            def value_only(x, grad):
                return f(x)
            self.value_grad = value_only

    def __call__(self, x, grad=None):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if grad is None:
            grad = np.empty_like(x)
        return self.value_grad(x, grad)

    def __repr__(self):
        return f"LogDensity({self.name}{', with gradient' if self.has_gradient else ''})"


def log_density(fn=None, *, name=None):
    """Decorator: ``@nq.log_density`` on ``log_f(x)`` or ``log_f(x, grad)``."""
    if fn is None:
        return lambda f: LogDensity(f, name=name)
    return LogDensity(fn, name=name)


_PATH_SYSTEMS = {}


def _path_system(f0, f1, dim, path, need_gradient):
    """The AIS path as a System, compiled once per (densities, dim, path, gradient)."""
    key = (id(f0), id(f1), int(dim), path, bool(need_gradient))
    hit = _PATH_SYSTEMS.get(key)
    if hit is not None and hit[0] is f0 and hit[1] is f1:
        return hit[2]
    system = _build_path_system(f0, f1, dim, path, need_gradient)
    _PATH_SYSTEMS[key] = (f0, f1, system)
    return system


def _build_path_system(f0, f1, dim, path, need_gradient):
    """U(x, t) = -log f0 - t log f1 (path 'likelihood') or -(1-t) log f0 - t log f1."""
    a, b = f0.value_grad, f1.value_grad
    geometric = path == "geometric"
    if need_gradient and not (f0.has_gradient and f1.has_gradient):
        missing = [f.name for f in (f0, f1) if not f.has_gradient]
        raise ValueError(f"this kernel needs gradients, but {missing} take only x: write "
                         "them as f(x, grad), or use nq.kernels.RandomWalk")
    if need_gradient:
        def eg(x, lam, out):
            t = lam[0]
            ga = np.empty(x.shape[0])
            va = a(x, ga)
            vb = b(x, out)
            ca = 1.0 - t if geometric else 1.0
            for j in range(x.shape[0]):
                out[j] = -ca * ga[j] - t * out[j]
            return _combine(va, vb, ca, t)
    else:
        def eg(x, lam, out):
            t = lam[0]
            va = a(x, out)
            vb = b(x, out)
            for j in range(x.shape[0]):  # no gradient: never leave garbage for a kernel
                out[j] = 0.0
            ca = 1.0 - t if geometric else 1.0
            return _combine(va, vb, ca, t)
    name = f"ais[{f0.name}*{f1.name}^t]" if not geometric else \
        f"ais[{f0.name}^(1-t)*{f1.name}^t]"
    system = System(njit(ENERGY_GRAD_SIG)(eg), dim, 1, name=name, control_names=("t",),
                    params={"path": path})
    if not need_gradient:
        # log f0 and log f1 of a point, for the random walk's cached-density kernel
        def components(xp, op, sp):
            xv, sv, ov = carray(xp, (dim,)), carray(sp, (dim,)), carray(op, (2,))
            ov[0] = a(xv, sv)
            ov[1] = b(xv, sv)
            return 0.0
        system.path_components = njit(POINTER_SIG)(components)
    return system


@dataclass
class AISResult:
    """What :func:`ais` returns. ``estimate`` is the :class:`neqsim.analysis.Estimate`
    (bidirectional BAR when reverse chains ran); ``log_weights`` = -W per forward chain;
    ``run``/``reverse_run`` the Runs; ``schedule`` and ``kernel`` (with the step sizes
    used); ``pilot`` what adaptation measured (per-temperature acceptance, step sizes,
    thermodynamic length)."""
    estimate: object
    run: object
    log_weights: np.ndarray
    schedule: Protocol
    kernel: object
    reverse_run: object = None
    log_weights_reverse: np.ndarray = None
    pilot: dict = field(default_factory=dict)

    @property
    def log_z(self):
        return self.estimate.log_z

    @property
    def log_z_err(self):
        return self.estimate.std_error

    @property
    def ess(self):
        return self.estimate.diagnostics["ess"]

    @property
    def reliable(self):
        return self.estimate.reliable

    @property
    def acceptance(self):
        acc = self.run.acceptance
        return None if acc is None else float(np.mean(acc))

    def __repr__(self):
        return (f"AISResult(log_z={self.log_z:.6g} +- {self.log_z_err:.3g}, ess={self.ess:.1f}"
                f"/{self.log_weights.size}, acceptance={self.acceptance}, "
                f"{'reliable' if self.reliable else 'UNRELIABLE'})")


def _initial_array(initial, n, dim, rng, what):
    if callable(initial):
        arr = initial(n, rng)
    else:
        arr = initial
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.ndim == 1 and (dim == 1 or dim is None):
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n or (dim is not None and arr.shape[1] != dim):
        raise ValueError(f"{what} must have shape ({n}, {dim if dim else 'dim'}), got "
                         f"{arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contain NaN or inf")
    return arr


def ais(log_prior, log_likelihood=None, *, initial, schedule=None, kernel, n_chains,
        seed=None, path="likelihood", reverse_initial=None, out=None, overwrite=False,
        resume=False, record_every=0, progress=None, n_threads=None, specialize=None,
        n_pilot=None, adapt_iters=5, n_bootstrap=200, warn=True):
    """Annealed importance sampling estimate of log(Z_N / Z_0).

    Parameters
    ----------
    log_prior, log_likelihood : :class:`LogDensity` (or plain functions, compiled for
        you): f_0 and the likelihood (``path="likelihood"``: f_t = f_0 L^t) or the target
        (``path="geometric"``: f_t = f_0^(1-t) f_N^t). Or ``log_prior`` a
        :class:`neqsim.System` (energies -log f(x, lam)) with ``schedule`` a protocol of
        its controls, and ``log_likelihood`` None.
    initial : exact draws from f_0: an (n_chains, dim) array or a callable
        ``initial(n, rng)`` (rng: a numpy Generator seeded from ``seed``); with a System,
        also "equilibrium" (its exact sampler at lam_0, e.g. an Ising lattice at J = 0).
    schedule : a one-control protocol 0 -> 1 (:mod:`neqsim.schedules`), an array of t,
        an int (geometric with that many steps), or :func:`neqsim.schedules.adaptive`.
    kernel : :mod:`neqsim.kernels` instance (RandomWalk, MALA, HMC); ``step_size="adapt"``
        tunes one step size per temperature on separate pilot chains.
    reverse_initial : exact draws from the normalized target (simulated data): runs the
        reverse chains too, and the estimate is BAR between the directions, with the
        stochastic bounds (forward below, reverse above) in its diagnostics.
    out : run file for the forward chains (reverse chains: ``<out>.reverse.h5``).
    n_pilot, adapt_iters : pilot chains (default min(n_chains, 1000)) and kernel calls per
        temperature used for adaptation.
    n_bootstrap : bootstrap replicates for the estimate's interval (0: none).
    Returns an :class:`AISResult`; raises if every chain ends with zero weight.
    """
    from .analysis import ais_log_z
    from .driver import simulate
    from .integrators import Integrator
    if not isinstance(kernel, Integrator) or (not isinstance(kernel, MarkovKernel)
                                              and not isinstance(log_prior, System)):
        raise TypeError("kernel must be one of nq.kernels.RandomWalk, MALA, HMC (or, with a "
                        "System such as an Ising lattice, its integrator, e.g. "
                        "nq.ising.SpinFlip('glauber'))")
    if isinstance(n_chains, bool) or int(n_chains) != n_chains or n_chains < 1:
        raise ValueError(f"n_chains must be an integer >= 1, got {n_chains!r}")
    n_chains = int(n_chains)
    if path not in ("likelihood", "geometric"):
        raise ValueError(f"path must be 'likelihood' or 'geometric', got {path!r}")
    rng = np.random.default_rng(None if seed is None else [int(seed), 1])
    if seed is None:
        seed = int(rng.integers(0, 2**63))
        rng = np.random.default_rng([seed, 1])
    if isinstance(log_prior, System):
        if log_likelihood is not None:
            raise ValueError("with a System, pass its protocol as schedule= and no "
                             "log_likelihood")
        system = log_prior
        if schedule is None or isinstance(schedule, (int, Adaptive)):
            raise ValueError("with a System, schedule must be a protocol of its controls")
        proto = as_protocol(schedule)
        dim = system.dim
    else:
        f0 = log_prior if isinstance(log_prior, LogDensity) else LogDensity(log_prior)
        if log_likelihood is None:
            raise ValueError("ais needs log_prior and log_likelihood (or a System)")
        f1 = log_likelihood if isinstance(log_likelihood, LogDensity) else \
            LogDensity(log_likelihood)
        dim = None
        system = None
        if schedule is None:
            schedule = 1000
        if isinstance(schedule, (int, np.integer)) and not isinstance(schedule, bool):
            proto = _schedules.geometric(int(schedule))
        elif isinstance(schedule, Adaptive):
            proto = schedule
        else:
            proto = _schedules._check(schedule)
    if isinstance(initial, str):
        if initial != "equilibrium" or system is None:
            raise ValueError("initial must be samples (an array or a callable); "
                             "'equilibrium' only with a System that has an exact sampler")
        x0 = "equilibrium"
    else:
        x0 = _initial_array(initial, n_chains, dim, rng, "initial samples")
        dim = x0.shape[1]
    if system is None:
        system = _path_system(f0, f1, dim, path, kernel.method in (1, 2))
    pilot = {}
    if isinstance(proto, Adaptive) or getattr(kernel, "step_size", None) == "adapt":
        n_p = min(n_chains, 1000) if n_pilot is None else int(n_pilot)
        if isinstance(proto, Adaptive):
            n_p = proto.n_pilot if n_pilot is None else n_p
        if isinstance(x0, str):
            raise ValueError("adaptation needs initial samples (an array or a callable)")
        pilot_x = _initial_array(initial if callable(initial) else x0[:n_p], n_p, dim,
                                 np.random.default_rng([seed, 2]), "initial samples")
        proto, kernel, pilot = _pilot(system, proto, kernel, pilot_x, seed, adapt_iters,
                                      n_threads)
    elif not isinstance(proto, Protocol):
        raise TypeError("schedule must be a protocol, an array, an int or "
                        "nq.schedules.adaptive(...)")
    common = dict(beta=1.0, record_every=record_every, progress=progress,
                  n_threads=n_threads, on_failure="raise", specialize=specialize)
    run = simulate(system, proto, kernel, n_chains, seed=seed, init=x0, out=out,
                   overwrite=overwrite, resume=resume, **common)
    lw = -np.asarray(run.path_work)
    if np.all(lw == -np.inf):
        raise ValueError("every chain ended with log weight -inf (zero weight): the target "
                         "density is zero wherever the chains went; check the log "
                         "densities and the initial samples")
    rev_run, lr = None, None
    if reverse_initial is not None:
        xr = _initial_array(reverse_initial, np.asarray(reverse_initial).shape[0]
                            if not callable(reverse_initial) else n_chains, dim,
                            np.random.default_rng([seed, 3]), "reverse initial samples")
        rev_kernel = kernel.with_step_sizes(kernel.step_sizes(proto.n_steps + 1)[::-1]) \
            if isinstance(kernel, MarkovKernel) else kernel
        rev_out = None if out is None else f"{out}.reverse.h5"
        rev_run = simulate(system, proto.reversed(), rev_kernel, xr.shape[0],
                           seed=(seed + 1) % 2**64, init=xr, out=rev_out,
                           overwrite=overwrite, resume=resume, **common)
        lr = -np.asarray(rev_run.path_work)
    with warnings.catch_warnings():
        if not warn:
            warnings.simplefilter("ignore")
        est = ais_log_z(lw, log_weights_reverse=lr, seed=0, n_bootstrap=n_bootstrap)
    return AISResult(est, run, lw, proto, kernel, rev_run, lr, pilot)


def _pilot(system, proto, kernel, x, seed, iters, n_threads):
    """Adapt the schedule (thermodynamic length) and/or the step sizes on pilot chains.

    Temperatures are visited in order; at each, ``iters`` kernel calls run on the pilot
    chains and log(step) moves by 2 (acceptance - target) after each, so a temperature
    starts from its predecessor's step size. With an adaptive schedule the pilot runs on a
    fine linear grid, the variance of d log f_t / dt = -dU/dt is measured there, the
    schedule is placed at equal thermodynamic length, and step sizes are interpolated."""
    from . import _rng
    n, dim = x.shape
    adaptive_schedule = isinstance(proto, Adaptive)
    grid = _schedules.linear(proto.grid) if adaptive_schedule else proto
    lam = grid.values.copy()
    n_pts = lam.shape[0]
    if kernel.step_size == "adapt":
        eps = np.full(n_pts, 0.5 if kernel.method == 0 else 0.2)
        adapt = True
    else:
        eps = kernel.step_sizes(n_pts).copy() if not adaptive_schedule else \
            np.full(n_pts, kernel.step_sizes(2)[0] if not isinstance(kernel.step_size,
                                                                     np.ndarray)
                    else float(np.median(kernel.step_size)))
        adapt = False
    k_tmp = kernel.with_step_sizes(eps)
    eps = k_tmp.step_size  # the stepper reads this very array: adapt it in place
    state = {"x": x.copy(), "rng": _rng.make_states((seed ^ PILOT_SEED_OFFSET) % 2**64, n),
             "W": np.zeros(n), "Q": np.zeros(n), "S": np.zeros(n), "P": np.zeros(n),
             "nacc": np.zeros(n, dtype=np.int64), "failed": np.full(n, -1, dtype=np.int64)}
    from ._functions import evaluate
    state["u"], _ = evaluate(system.kernel_function, state["x"], lam[0].copy())
    e2, e3 = np.empty((n, 0)), np.empty((n, 0, dim))
    acc_by_t = np.full(n_pts, np.nan)
    var_by_t = np.zeros(n_pts)
    old_threads = numba.get_num_threads()
    if n_threads:
        numba.set_num_threads(int(n_threads))
    try:
        advance = k_tmp.stepper(system, lam, 1.0, 0)
        for k in range(1, n_pts):
            if adapt:
                eps[k] = eps[k - 1]
            if adaptive_schedule:
                # -dU/dt at t_k over the chains: the spread of the work increments
                w_before = state["W"].copy()
            for it in range(iters if adapt else 1):
                before = state["nacc"].copy()
                advance(state, k - 1, k, e2, e2, e3)
                if adaptive_schedule and it == 0:
                    dt = lam[k, 0] - lam[k - 1, 0]
                    inc = (state["W"] - w_before)[np.isfinite(state["W"])]
                    var_by_t[k - 1] = float(np.var(inc / dt)) if dt > 0 and inc.size > 1 \
                        else 0.0
                acc = float(np.mean(state["nacc"] - before)) / kernel.n_moves
                acc_by_t[k] = acc
                if adapt:
                    eps[k] = float(np.clip(eps[k] * math.exp(2.0 * (acc - kernel.target_acceptance)),
                                           1e-8, 1e8))
    finally:
        numba.set_num_threads(old_threads)
    if np.any(state["failed"] >= 0):
        raise FloatingPointError("pilot chains hit NaN/-inf energies; check the log densities")
    eps[0] = eps[1] if n_pts > 1 else eps[0]
    info = {"n_pilot": n, "acceptance": acc_by_t, "step_sizes_grid": eps.copy(),
            "t_grid": lam[:, 0].copy()}
    if adaptive_schedule:
        var_by_t[-1] = var_by_t[-2]
        new, length = _schedules.thermodynamic_length(lam[:, 0], var_by_t, proto.n_steps)
        info.update(thermodynamic_length=length, variance_grid=var_by_t)
        t_new = new.values[:, 0]
        eps_new = np.interp(t_new, lam[:, 0], eps)
        return new, kernel.with_step_sizes(eps_new), info
    return proto, kernel.with_step_sizes(eps), info
