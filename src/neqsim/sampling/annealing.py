"""Annealed importance sampling from a script: log normalizing constants with the engine.

AIS is Jarzynski at beta = 1 with energies U(x, t) = -log f_t(x) (docs/physics.md). ``ais``
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

import warnings
from dataclasses import dataclass, field

import numpy as np

from .._keywords import suggest_keywords
from ..analysis._common import check_bootstrap
from ..analysis.logz import ais_log_z
from ..dynamics.base import Integrator
from ..dynamics.mcmc import MarkovKernel
from ..engine.device import check_device
from ..engine.driver import simulate
from ..engine.job import check_int, check_seed
from ..protocols import schedules as _schedules
from ..protocols.protocol import Protocol, as_protocol
from ..protocols.schedules import Adaptive
from ..storage.runfile import check_output
from ..systems.checks import short_traceback
from ..systems.system import System
from .adaptation import adapt
from .batched import BatchedLogDensity
from .density import LogDensity
from .path import path_system

__all__ = ["ais", "AISResult"]


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


def _pilot_size(n_pilot, proto, initial, n_chains):
    """The number of pilot chains: ``n_pilot``, the adaptive schedule's own, or by default
    up to 1000 (as many as ``initial`` provides: an array's rows, a callable any)."""
    if n_pilot is None and isinstance(proto, Adaptive):
        n_pilot = proto.n_pilot
    if n_pilot is not None:
        if not callable(initial) and n_pilot > n_chains:
            raise ValueError(f"n_pilot={n_pilot} pilot chains need as many initial samples, "
                             f"but initial has {n_chains}: pass n_pilot <= {n_chains} (to "
                             "nq.ais or nq.schedules.adaptive), or initial as a callable "
                             "initial(n, rng) that can draw any number")
        return n_pilot
    if isinstance(proto, Adaptive) and callable(initial):
        return 1000  # a callable can draw them all
    return min(n_chains, 1000)


@suggest_keywords
@short_traceback
def ais(log_prior, log_likelihood=None, *, initial, schedule=None, kernel, n_chains,
        seed=None, path="likelihood", reverse_initial=None, out=None, overwrite=False,
        resume=False, record_every=0, progress=None, n_threads=None, specialize=None,
        n_pilot=None, adapt_iters=5, n_bootstrap=200, warn=True, device="cpu"):
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
    n_pilot, adapt_iters : pilot chains and kernel calls per temperature used for
        adaptation. ``n_pilot`` defaults to the adaptive schedule's ``n_pilot`` if it
        sets one, else to min(n_chains, 1000), or 1000 with an adaptive schedule and a
        callable ``initial``. An array's first rows start the pilot chains, so with an
        array an explicit ``n_pilot`` cannot exceed n_chains.
    n_bootstrap : bootstrap replicates for the estimate's interval (0: none).
    device : "cpu" or "cuda": the chains (forward and reverse) run on a GPU, one thread
        per chain, with the CPU's numbers (docs/gpu.md); pilot adaptation stays on the CPU.
    Returns an :class:`AISResult`; raises if every chain ends with zero weight.
    """
    if not isinstance(kernel, Integrator) or (not isinstance(kernel, MarkovKernel)
                                              and not isinstance(log_prior, System)):
        raise TypeError("kernel must be one of nq.kernels.RandomWalk, MALA, HMC (or, with a "
                        "System such as an Ising lattice, its integrator, e.g. "
                        "nq.ising.SpinFlip('glauber'))")
    # before any work: a bad argument found after the chains ran costs the whole run
    n_chains = check_int("n_chains", n_chains, 1)
    device = check_device(device)
    seed = None if seed is None else check_seed(seed)
    n_bootstrap, _ = check_bootstrap(n_bootstrap, 0.95)
    adapt_iters = check_int("adapt_iters", adapt_iters, 1)
    if n_pilot is not None:
        n_pilot = check_int("n_pilot", n_pilot, 1)
    if out is not None:  # before any work: a pilot can take minutes
        check_output(out, overwrite=overwrite, resume=resume)
        if reverse_initial is not None:
            check_output(f"{out}.reverse.h5", overwrite=overwrite, resume=resume)
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
        f0 = log_prior if isinstance(log_prior, (LogDensity, BatchedLogDensity)) \
            else LogDensity(log_prior)
        if log_likelihood is None:
            raise ValueError("ais needs log_prior and log_likelihood (or a System)")
        f1 = log_likelihood if isinstance(log_likelihood, (LogDensity, BatchedLogDensity)) \
            else LogDensity(log_likelihood)
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
    if system is None and any(isinstance(f, BatchedLogDensity) for f in (f0, f1)):
        if device != "cpu":
            raise NotImplementedError("device='cuda' runs numba log densities "
                                      "(nq.log_density on a function of one point); "
                                      "batched NumPy/JAX/PyTorch densities run on the CPU")
        return _ais_batched(f0, f1, initial, proto, kernel, n_chains, seed, path,
                            reverse_initial, out, progress, n_bootstrap, warn)
    if isinstance(initial, str):
        if initial != "equilibrium" or system is None:
            raise ValueError("initial must be samples (an array or a callable); "
                             "'equilibrium' only with a System that has an exact sampler")
        x0 = "equilibrium"
    else:
        x0 = _initial_array(initial, n_chains, dim, rng, "initial samples")
        dim = x0.shape[1]
    if system is None:
        system = path_system(f0, f1, dim, path, kernel.needs_gradient)
    steps = getattr(kernel, "step_size", None)
    if isinstance(steps, np.ndarray) and steps.shape != (proto.n_steps + 1,):
        raise ValueError(f"kernel step_size has {steps.size} entries; it needs one per "
                         f"temperature t_0..t_N: {proto.n_steps + 1} for this schedule of "
                         f"{proto.n_steps} steps (or a number, or 'adapt')")
    pilot = {}
    if isinstance(proto, Adaptive) or isinstance(steps, str):
        if isinstance(x0, str):
            raise ValueError("adaptation needs initial samples (an array or a callable)")
        n_p = _pilot_size(n_pilot, proto, initial, n_chains)
        pilot_x = _initial_array(initial if callable(initial) else x0[:n_p], n_p, dim,
                                 np.random.default_rng([seed, 2]), "initial samples")
        proto, kernel, pilot = adapt(system, proto, kernel, pilot_x, seed, adapt_iters,
                                     n_threads, progress)
    elif not isinstance(proto, Protocol):
        raise TypeError("schedule must be a protocol, an array, an int or "
                        "nq.schedules.adaptive(...)")
    common = dict(beta=1.0, record_every=record_every, progress=progress,
                  n_threads=n_threads, on_failure="raise", specialize=specialize,
                  device=device)
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


def _ais_batched(f0, f1, initial, proto, kernel, n_chains, seed, path, reverse_initial, out,
                 progress, n_bootstrap, warn):
    """AIS with batched (NumPy/JAX/PyTorch) densities: SMC that never resamples, on the
    given schedule with the given step sizes (the same estimator: each chain's log weight
    is minus its work), moved by NumPy kernels around one call of the user's function."""
    from .smc import SMCOptions, smc
    if out is not None or reverse_initial is not None:
        raise ValueError("with batched densities ais runs in memory and forward only: "
                         "out= and reverse_initial= need numba densities (nq.log_density "
                         "on a function of one point)")
    if isinstance(proto, Adaptive) or isinstance(kernel.step_size, str):
        raise ValueError("with batched densities give ais a fixed schedule and step sizes "
                         "(or use nq.smc, which adapts both on the population)")
    res = smc(f0, f1, initial=initial, kernel=kernel, n_particles=n_chains, seed=seed,
              path=path, schedule=proto.values[:, 0], progress=progress, warn=False,
              options=SMCOptions(ess_threshold=0.0, adapt_step_size=False))
    lw = np.log(res.weights) + res.log_z + np.log(n_chains)
    with warnings.catch_warnings():
        if not warn:
            warnings.simplefilter("ignore")
        est = ais_log_z(lw, seed=0, n_bootstrap=n_bootstrap)
    return AISResult(est, None, lw, proto, kernel, None, None,
                     {"acceptance": res.acceptance, "n_evaluations": res.n_evaluations})
