"""Sequential Monte Carlo samplers for the evidence: resample-move along a tempered path.

The particles start as exact draws of f_0 and follow f_t, t: 0 -> 1 (f_t = f_0 L^t, or
f_0^(1-t) f_1^t), with U(x, t) = -log f_t = a(x) + t b(x) (:mod:`.movers`). Between
temperatures t -> t' every particle is reweighted by w = exp(-(t' - t) b(x)) (the AIS
weight of that step), the population is resampled when its effective sample size falls
below ``ess_threshold`` N, and every particle is moved by a Markov kernel leaving f_t'
invariant. The evidence estimate

    Z_hat = prod_k sum_i W_i^(k-1) w_i^(k),

W the normalized weights carried between resamplings (reset to 1/N after one), is
unbiased for Z_1 / Z_0 with a fixed schedule and fixed kernels, whatever the resampling
(Del Moral, Doucet, Jasra, JRSS-B 68, 411 (2006)); log Z_hat is biased low by about
Var(log Z_hat) / 2 (Jensen).

Tempering: a fixed schedule, on-line adaptive (each step the largest t' whose
conditional ESS, N (sum W w)^2 / sum W w^2, is ``target_cess`` N, found by bisection:
Zhou, Johansen, Aston, JCGS 25, 701 (2016); the schedule then depends on the particles,
an O(1/N) bias), or ``schedule="pilot"``: the adaptive schedule and step sizes of a
separate pilot population, then a fixed-schedule run (unbiased). Waste-free SMC (Dau and
Chopin, JRSS-B 84, 114 (2022)): resample M = N / P particles and keep all P states of
each one's Markov chain as the next population.

Error: the single-run estimate of Var(log Z_hat) from the particles' genealogy (Chan and
Lai, Ann. Stat. 41, 2877 (2013); Lee and Whiteley, Biometrika 105, 609 (2018)):
sum_e (S_e - 1/N)^2, S_e the total final normalized weight of the descendants of initial
particle e ("Eve" e). It needs many surviving Eves: with fewer than ``min_eves`` the
estimate is flagged unreliable.

Streams: particle i moves with its own stream keyed by (seed, i) (it keeps it through
resampling: streams belong to slots, not to ancestors), and the resampling uniforms of
temperature k come from a generator keyed by (seed, k): the numbers do not depend on
threads or blocks.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.special import logsumexp

from .._keywords import suggest_keywords
from .._numba import rng as _rng
from ..analysis._common import Estimate, warn_unreliable
from ..dynamics.mcmc import MarkovKernel
from ..engine.job import check_int, check_seed
from ..engine.progress import progress_bar
from .density import LogDensity
from .movers import make_mover, set_threads
from .resampling import SCHEMES, resample

__all__ = ["smc", "SMCOptions", "SMCResult"]

_RESAMPLE_STREAM = 0x5A17_ED05  # the resampling generator's key, beside (seed, k)
_PILOT_OFFSET = 0x9E3779B97F4A7C15
MIN_EVES = 30


@dataclass(frozen=True)
class SMCOptions:
    """The long tail of :func:`smc`'s options.

    ``resample``: systematic (default), stratified, multinomial or residual.
    ``ess_threshold``: resample when the ESS falls below this fraction of N (1: every
    step; 0: never, which is AIS). ``target_cess``: adaptive tempering keeps this fraction
    of conditional ESS per step (higher: more, smaller steps). ``waste_free``: chain
    length P of waste-free SMC (None: off; N must be a multiple of P); resampling is then
    at every step. ``adapt_step_size``: between temperatures, multiply the kernel's step
    size by exp(2 (acceptance - target)) (from the population: an O(1/N) effect, off for
    exact unbiasedness). ``n_pilot``: particles of the pilot for ``schedule="pilot"``
    (default: N). ``max_temperatures``: give up after this many. ``block_particles``:
    move the population in blocks of this many (memory; the numbers do not change).
    ``min_eves``: surviving initial particles below which the error is flagged.
    """
    resample: str = "systematic"
    ess_threshold: float = 0.5
    target_cess: float = 0.95
    waste_free: int | None = None
    adapt_step_size: bool = True
    n_pilot: int | None = None
    max_temperatures: int = 10_000
    block_particles: int | None = None
    min_eves: int = MIN_EVES

    def __post_init__(self):
        if self.resample not in SCHEMES:
            raise ValueError(f"SMCOptions.resample must be one of {SCHEMES}, got "
                             f"{self.resample!r}")
        for name, lo, hi in (("ess_threshold", 0.0, 1.0), ("target_cess", 0.0, 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise ValueError(f"SMCOptions.{name} must be a number in [{lo}, {hi}], got "
                                 f"{v!r}")
        if not 0 < self.target_cess < 1:
            raise ValueError(f"SMCOptions.target_cess must be in (0, 1), got "
                             f"{self.target_cess!r}")
        for name in ("waste_free", "n_pilot", "block_particles"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or int(v) != v or v < 1):
                raise ValueError(f"SMCOptions.{name} must be None or an integer >= 1, got "
                                 f"{v!r}")
        check_int("max_temperatures", self.max_temperatures, 1)
        check_int("min_eves", self.min_eves, 1)


@dataclass
class SMCResult:
    """What :func:`smc` returns. ``estimate``: log Z with its single-run error, reliability
    and diagnostics; ``particles`` (N, d) with normalized ``weights``: the posterior
    sample; per temperature step k = 1..K: ``schedule`` (t_0..t_K), ``ess`` (before
    resampling), ``resampled``, ``acceptance``, ``step_sizes``, ``log_z_increments``;
    ``n_evaluations`` (density evaluations, every particle counted); ``pilot`` the pilot
    run's result for ``schedule="pilot"``."""
    estimate: Estimate
    particles: np.ndarray
    weights: np.ndarray
    schedule: np.ndarray
    ess: np.ndarray
    resampled: np.ndarray
    acceptance: np.ndarray
    step_sizes: np.ndarray
    log_z_increments: np.ndarray
    n_evaluations: int
    eve_count: int
    pilot: object = None
    info: dict = field(default_factory=dict)

    @property
    def log_z(self):
        return self.estimate.value

    @property
    def log_z_err(self):
        return self.estimate.std_error

    @property
    def reliable(self):
        return self.estimate.reliable

    @property
    def n_temperatures(self):
        return self.schedule.size - 1

    def mean(self, fn=None):
        """The weighted posterior mean of ``fn(particles)`` (default: the particles)."""
        v = self.particles if fn is None else np.asarray(fn(self.particles))
        return np.tensordot(self.weights, v, axes=(0, 0))

    def __repr__(self):
        return (f"SMCResult(log_z={self.log_z:.6g} +- {self.log_z_err:.3g}, "
                f"{self.n_temperatures} temperatures, {int(self.resampled.sum())} "
                f"resamplings, {self.eve_count} surviving eves, reliable={self.reliable})")


def _normalize(logw):
    return logw - logsumexp(logw)


def _lse(v):
    m = float(np.max(v))
    return m + math.log(float(np.sum(np.exp(v - m)))) if math.isfinite(m) else m


def _next_temperature(t, b, logw, target):
    """The t' in (t, 1] whose conditional ESS fraction (sum W w)^2 / sum W w^2,
    w = exp(-(t' - t) b), is ``target`` (1 if the step to 1 keeps more), by bisection on
    the decreasing CESS(t'); ``logw`` is normalized."""
    fin = np.isfinite(b)
    bb, lw0 = b[fin], logw[fin]

    def cess(dt):
        lw = lw0 - dt * bb
        return math.exp(2.0 * _lse(lw) - _lse(lw - dt * bb))
    if cess(1.0 - t) >= target:
        return 1.0
    lo, hi = 0.0, 1.0 - t
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if cess(mid) >= target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * (1.0 - t):
            break
    return t + max(lo, 1e-15)


class _Population:
    """The particles and what travels with them: components a, b, streams, weights,
    genealogy. A plain holder: the loop in :func:`_run` changes it."""

    def __init__(self, x, a, b, rng, n):
        self.x, self.a, self.b, self.rng = x, a, b, rng
        self.logw = np.full(n, -math.log(n))
        self.eve = np.arange(n, dtype=np.int64)

    def take(self, idx):
        self.x = np.ascontiguousarray(self.x[idx])
        self.a, self.b, self.eve = self.a[idx], self.b[idx], self.eve[idx]


def _run(mover, x0, seed, schedule, eps0, kernel, opts, progress, label, resume=None,
         checkpoint=None, executor=None):
    """One SMC run. ``schedule``: an array of t (fixed) or None (adaptive); ``eps0``: the
    step size to start from, or an array of one per temperature (fixed). ``resume``: the
    state of a checkpoint to continue from; ``checkpoint(state, records)`` is called after
    every temperature. Returns the dict of everything recorded."""
    n = x0.shape[0]
    P = opts.waste_free
    if P and n % P:
        raise ValueError(f"waste-free SMC needs n_particles divisible by the chain length "
                         f"P = {P}, got {n}")
    target_acc = kernel.target_acceptance
    if resume is None:
        a, b = mover.components(x0)
        if not np.all(np.isfinite(a)):
            raise ValueError("log f_0 is not finite at every initial particle: the initial "
                             "samples must be draws of f_0")
        pop = _Population(np.array(x0, dtype=np.float64, order="C"), a, b,
                          _rng.make_states(seed, n), n)
        eps = float(eps0[0]) if isinstance(eps0, np.ndarray) else float(eps0)
        rec = {name: [] for name in _RECORD_NAMES}
        log_z, t, k = 0.0, 0.0, 0
    else:
        st = resume
        pop = _Population(np.ascontiguousarray(st["x"]), st["a"].copy(), st["b"].copy(),
                          np.ascontiguousarray(st["rng"]), n)
        pop.logw, pop.eve = st["logw"].copy(), st["eve"].copy()
        eps, log_z, t, k = float(st["eps"]), float(st["log_z"]), float(st["t"]), int(st["k"])
        rec = {name: list(v) for name, v in st["records"].items()}
        mover.n_evaluations = int(st["n_evaluations"])
    done_units = int(round(1000 * t))
    bar = progress_bar(progress, 1000, done_units, label, unit="permille of t")
    try:
        while t < 1.0:
            k += 1
            if k > opts.max_temperatures:
                raise RuntimeError(f"SMC reached t = {t:.4g} after {opts.max_temperatures} "
                                   "temperatures: lower SMCOptions.target_cess or raise "
                                   "max_temperatures")
            if schedule is not None:
                t_new = float(schedule[k])
            else:
                t_new = _next_temperature(t, pop.b, pop.logw, opts.target_cess)
            dt = t_new - t
            # -inf energies (zero density) give zero weights, never NaN
            inc = np.where(np.isfinite(pop.b), -dt * pop.b, -np.inf) if dt > 0 else \
                np.zeros(n)
            lw = pop.logw + inc
            step = logsumexp(lw)
            if not np.isfinite(step):
                raise FloatingPointError(f"every particle has zero weight at t = {t_new:.4g}: "
                                         "the likelihood is zero wherever the particles are")
            log_z += float(step)
            pop.logw = lw - step
            ess = float(math.exp(-logsumexp(2.0 * pop.logw)))
            urng = np.random.default_rng([int(seed), _RESAMPLE_STREAM, k])
            if isinstance(eps0, np.ndarray):
                eps = float(eps0[k])
            if P:
                anc = resample(np.exp(pop.logw), opts.resample, urng, n // P)
                acc = _waste_free_move(mover, pop, anc, P, t_new, eps, opts)
                resampled = True
            else:
                resampled = ess < opts.ess_threshold * n
                if resampled:
                    pop.take(resample(np.exp(pop.logw), opts.resample, urng))
                    pop.logw = np.full(n, -math.log(n))
                acc = mover.move(pop.x, pop.a, pop.b, pop.rng, t_new, eps,
                                 block=opts.block_particles,
                                 **({"executor": executor} if executor is not None else {}))
                acc = float(acc.sum()) / (n * kernel.n_moves)
            for name, v in zip(_RECORD_NAMES, (t_new, ess, resampled, acc, eps, float(step))):
                rec[name].append(v)
            if opts.adapt_step_size and not isinstance(eps0, np.ndarray):
                eps = float(np.clip(eps * math.exp(2.0 * (acc - target_acc)), 1e-8, 1e8))
            t = t_new
            if checkpoint is not None:
                checkpoint({"x": pop.x, "a": pop.a, "b": pop.b, "rng": pop.rng,
                            "logw": pop.logw, "eve": pop.eve, "t": t, "k": k,
                            "log_z": log_z, "eps": eps,
                            "n_evaluations": int(mover.n_evaluations)},
                           {name: np.asarray(v) for name, v in rec.items()}, t >= 1.0)
            units = int(round(1000 * t))
            bar.advance(units - done_units)
            done_units = units
    finally:
        bar.close()
    return {"pop": pop, "log_z": log_z, "schedule": np.concatenate([[0.0], rec["t"]]),
            "ess": np.array(rec["ess"]), "resampled": np.array(rec["resampled"], dtype=bool),
            "acceptance": np.array(rec["acceptance"]), "step_sizes": np.array(rec["step_size"]),
            "increments": np.array(rec["log_z_increment"])}


_RECORD_NAMES = ("t", "ess", "resampled", "acceptance", "step_size", "log_z_increment")


def _waste_free_move(mover, pop, anc, P, t, eps, opts):
    """Waste-free move: chain m starts from particle anc[m] and runs P - 1 kernel calls;
    all P states of every chain become the new population (equal weights). Chain m uses
    the stream of slot m*P + j for its j-th state's move, so slots keep their streams."""
    n, m = pop.x.shape[0], anc.size
    xs = np.empty_like(pop.x)
    a_new, b_new, eve_new = np.empty(n), np.empty(n), np.empty(n, dtype=np.int64)
    cur_x = np.ascontiguousarray(pop.x[anc])
    cur_a, cur_b = pop.a[anc].copy(), pop.b[anc].copy()
    slots = np.arange(m) * P
    accepted = 0
    for j in range(P):
        xs[slots + j], a_new[slots + j], b_new[slots + j] = cur_x, cur_a, cur_b
        eve_new[slots + j] = pop.eve[anc]
        if j == P - 1:
            break
        rng = np.ascontiguousarray(pop.rng[slots + j])
        acc = mover.move(cur_x, cur_a, cur_b, rng, t, eps, block=opts.block_particles)
        pop.rng[slots + j] = rng
        accepted += int(acc.sum())
    pop.x, pop.a, pop.b, pop.eve = xs, a_new, b_new, eve_new
    pop.logw = np.full(n, -math.log(n))
    return accepted / max(1, m * (P - 1) * mover.kernel.n_moves)


def _estimate(out, n, opts):
    """The Estimate of log Z from a finished run: the genealogy variance and the flags."""
    pop = out["pop"]
    w = np.exp(pop.logw)
    s = np.bincount(pop.eve, weights=w, minlength=n)
    var = float(np.sum((s - 1.0 / n) ** 2))
    eves = int(np.count_nonzero(np.bincount(pop.eve, minlength=n)))
    reasons = []
    if eves < opts.min_eves:
        reasons.append(f"only {eves} of the {n} initial particles have descendants left: "
                       "the genealogy-based error cannot see the variance (it needs many "
                       "surviving lineages); use more particles, more moves per "
                       "temperature, or waste-free SMC")
    final_ess = float(1.0 / np.sum(w * w))
    if final_ess < opts.min_eves:
        reasons.append(f"final effective sample size {final_ess:.1f} is below "
                       f"{opts.min_eves}")
    diag = {"eves": eves, "final_ess": final_ess, "n_temperatures": out["schedule"].size - 1,
            "n_resamplings": int(out["resampled"].sum()),
            "min_ess": float(out["ess"].min()) if out["ess"].size else math.nan,
            "mean_acceptance": float(np.mean(out["acceptance"])) if out["acceptance"].size
            else math.nan}
    return Estimate("SMC", float(out["log_z"]), math.sqrt(var), (math.nan, math.nan),
                    math.nan, 0.95, (n,), 1.0, "log_z", not reasons, tuple(reasons), diag), eves


@suggest_keywords
def smc(log_prior, log_likelihood, *, initial, kernel, n_particles, seed=None,
        path="likelihood", schedule="adaptive", options=None, out=None, resume=False,
        overwrite=False, executor=None, progress=None, n_threads=None, warn=True):
    """Sequential Monte Carlo estimate of log(Z_1 / Z_0) (module docstring), called like
    :func:`neqsim.ais`.

    Parameters
    ----------
    log_prior, log_likelihood : log densities (``nq.log_density``; numba functions, or
        batched Python callables): f_0 and the likelihood (``path="likelihood"``:
        f_t = f_0 L^t; log Z is the log evidence when f_0 is normalized) or the target
        (``path="geometric"``).
    initial : exact draws of f_0: an (n_particles, dim) array or ``initial(n, rng)``.
    kernel : ``nq.kernels.RandomWalk``, ``MALA`` or ``HMC`` (``kernel.n_moves`` moves per
        temperature); a step size, one per temperature (fixed schedule), or "adapt".
    schedule : "adaptive" (on-line, conditional ESS), "pilot" (adaptive on a separate
        pilot population, then fixed: unbiased), an int (geometric with that many steps),
        or an array / one-control protocol of t from 0 to 1.
    options : :class:`SMCOptions` (resampling scheme and threshold, target CESS,
        waste-free chain length, step-size adaptation, ...).
    out : an SMC run file (:mod:`neqsim.storage.smcfile`), checkpointed after every
        temperature; ``resume=True`` continues a killed run from its last temperature to
        the bit-identical result (the same arguments are required, and checked), or
        returns a finished one; ``overwrite=True`` replaces it.
    executor : any ``concurrent.futures.Executor`` (a process pool, Dask's
        ``client.get_executor()``): the moves of each temperature are computed by its
        workers in blocks of ``options.block_particles`` (the same numbers).
    Returns an :class:`SMCResult`.
    """
    from ..protocols import schedules as _schedules
    from ..protocols.protocol import Protocol
    opts = options if options is not None else SMCOptions()
    if not isinstance(opts, SMCOptions):
        raise TypeError(f"options must be nq.SMCOptions(...), got {type(opts).__name__}")
    if not isinstance(kernel, MarkovKernel):
        raise TypeError("kernel must be one of nq.kernels.RandomWalk, MALA, HMC")
    if log_prior is None or log_likelihood is None:
        raise ValueError("smc needs log_prior and log_likelihood (the target, with "
                         "path='geometric'): two log densities")
    n = check_int("n_particles", n_particles, 2)
    if path not in ("likelihood", "geometric"):
        raise ValueError(f"path must be 'likelihood' or 'geometric', got {path!r}")
    if seed is None:
        seed = int(np.random.default_rng().integers(0, 2**63))
    seed = check_seed(seed)
    f0, f1 = (f if not callable(f) or hasattr(f, "value_grad") or hasattr(f, "value")
              else LogDensity(f) for f in (log_prior, log_likelihood))
    if out is not None:  # before any work
        from ..storage.runfile import check_output
        check_output(out, overwrite=overwrite, resume=resume)
    x0 = _initial(initial, n, np.random.default_rng([seed, 1]))
    for f in (f0, f1):
        if isinstance(f, LogDensity):
            f(x0[0])  # compile here: an error in the user's function is named in 9 lines
    mover = make_mover(f0, f1, x0.shape[1], path, kernel, progress=progress)
    steps = kernel.step_size
    fixed = None
    if isinstance(schedule, str):
        if schedule not in ("adaptive", "pilot"):
            raise ValueError(f"schedule must be 'adaptive', 'pilot', an int or an array of "
                             f"t, got {schedule!r}")
    elif isinstance(schedule, (int, np.integer)) and not isinstance(schedule, bool):
        fixed = _schedules.geometric(int(schedule)).values[:, 0]
    else:
        vals = schedule.values if isinstance(schedule, Protocol) else schedule
        fixed = _schedules._check(vals).values[:, 0]
    eps0 = kernel.default_step_size if isinstance(steps, str) else steps
    if isinstance(eps0, np.ndarray) and (fixed is None or eps0.shape != fixed.shape):
        raise ValueError("a step size per temperature needs a fixed schedule of as many "
                         "points; pass a number or 'adapt' with an adaptive schedule")
    config = {"densities": [f0.name, f1.name], "dim": int(x0.shape[1]), "n_particles": n,
              "seed": int(seed), "path": path, "kernel": repr(kernel),
              "kernel_params": kernel.params(), "options": asdict(opts),
              "schedule": schedule if isinstance(schedule, str) else
              [float(v) for v in fixed],
              "initial": hashlib.blake2b(x0.tobytes(), digest_size=16).hexdigest()}
    state, pilot = _resume_state(out, config) if (out is not None and resume) else (None, None)
    old = set_threads(n_threads)
    writer = None
    try:
        if out is not None:
            from ..storage.claim import claim
            writer = claim(out).acquire()
        is_pilot = isinstance(schedule, str) and schedule == "pilot"
        if is_pilot and pilot is None:
            n_p = opts.n_pilot or n
            xp = _initial(initial, n_p, np.random.default_rng([seed, 2]))
            pilot_out = _run(mover, xp, (seed ^ _PILOT_OFFSET) % 2**64, None, eps0, kernel,
                             opts, progress, "SMC pilot")
            pilot = {"schedule": pilot_out["schedule"],
                     "step_sizes": np.concatenate([[pilot_out["step_sizes"][0]],
                                                   pilot_out["step_sizes"]]),
                     "log_z": np.float64(pilot_out["log_z"]), "n_particles": np.int64(n_p)}
        if is_pilot:
            fixed, eps0 = pilot["schedule"], pilot["step_sizes"]
        save = None
        if out is not None:
            from ..storage.smcfile import write_checkpoint

            def save(st, records, complete):
                write_checkpoint(out, config, st, records, pilot, complete)
        if state is not None and state.get("complete"):
            res = _finished(state, n)
        else:
            res = _run(mover, x0, seed, fixed, eps0, kernel, opts, progress, "SMC",
                       resume=state, checkpoint=save, executor=executor)
    finally:
        set_threads(old)
        if writer is not None:
            writer.release()
    out_run = res
    est, eves = _estimate(out_run, n, opts)
    if warn and not est.reliable:
        warn_unreliable("SMC", est.warnings)
    pop = out_run["pop"]
    return SMCResult(est, pop.x, np.exp(pop.logw), out_run["schedule"], out_run["ess"],
                     out_run["resampled"], out_run["acceptance"], out_run["step_sizes"],
                     out_run["increments"], int(out_run.get("n_evaluations",
                                                            mover.n_evaluations)),
                     eves, pilot,
                     {"options": asdict(opts), "seed": seed, "path": path, "file": out,
                      "schedule_kind": schedule if isinstance(schedule, str) else "fixed"})


def _resume_state(path, config):
    """The checkpoint of ``path`` to continue from (None if there is no file yet), checked
    to belong to this very run."""
    from ..storage.errors import RunFileError
    from ..storage.smcfile import read_checkpoint
    if not os.path.exists(path):
        return None, None
    stored, state, records, pilot, complete = read_checkpoint(path)
    diff = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
    if diff:
        raise RunFileError(path, f"holds another SMC run (different {', '.join(diff)}); "
                                 "resume with the arguments that wrote it, or write to "
                                 "another path")
    state = dict(state, records=records, complete=complete)
    if pilot is not None:
        pilot = {k: np.asarray(v) for k, v in pilot.items()}
    return state, pilot


def _finished(state, n):
    """The result dict of a run file whose run is complete."""
    pop = _Population(state["x"], state["a"], state["b"], state["rng"], n)
    pop.logw, pop.eve = state["logw"], state["eve"]
    r = state["records"]
    return {"pop": pop, "log_z": float(state["log_z"]),
            "schedule": np.concatenate([[0.0], r["t"]]), "ess": r["ess"],
            "resampled": r["resampled"].astype(bool), "acceptance": r["acceptance"],
            "step_sizes": r["step_size"], "increments": r["log_z_increment"],
            "n_evaluations": int(state["n_evaluations"])}


def _initial(initial, n, rng):
    if callable(initial):
        x = initial(n, rng)
    else:
        x = initial
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] != n:
        raise ValueError(f"initial samples must have shape (n_particles={n}, dim), got "
                         f"{np.shape(x)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("initial samples contain NaN or inf")
    return np.ascontiguousarray(x)

