"""``simulate`` and ``resume``: validate, then drive the kernels block by block in Python.

Trajectories are processed in blocks of ``chunk_traj`` and each block in kernel calls of
some number of steps. Between calls (never inside a kernel) the driver checks for
blow-ups, advances the progress bar and, when writing a run file, saves results and
checkpoints (see :mod:`neqsim.runfile`). Neither the blocking nor the number of steps per
call changes a single bit of the results: trajectory i's noise depends only on
(seed, i).
"""
from __future__ import annotations

import math
import os
import shutil
import time

import numba
import numpy as np

from . import _kernels, _rng
from ._job import Job, check_int
from .initial import make_sampler
from .progress import progress_bar, wants_progress
from .run import Run

__all__ = ["simulate", "resume", "IntegrationError"]

SPECIALIZE_ABOVE = 2 * 10**9  # particle-steps; below, the ~8 s compile costs more than it saves
BLOCK_BYTES = 64 * 2**20      # default working memory of one trajectory block
TARGET_CALL_S = 1.0           # adaptive kernel calls last about this long


class IntegrationError(FloatingPointError):
    """Some trajectories' energies became NaN/inf (blow-up or a bad potential)."""

    def __init__(self, message, trajectories, steps):
        super().__init__(message)
        self.trajectories = trajectories
        self.steps = steps


def simulate(system, protocol, integrator, n_traj, *, beta=1.0, seed=None,
             init="equilibrium", record_every=0, record_positions=False, out=None,
             overwrite=False, resume=False, progress=None, checkpoint_every=10.0,
             chunk_steps=None, chunk_traj=None, n_threads=None, on_failure="raise",
             specialize=None, executor=None, threads_per_worker=1, system_factory=None,
             shard_dir="auto"):
    """Drive ``n_traj`` independent trajectories of ``system`` through ``protocol``.

    Each step k = 1..N switches lam_{k-1} -> lam_k at fixed state (work
    w_k = U(x_{k-1}, lam_k) - U(x_{k-1}, lam_{k-1})) and applies one step of
    ``integrator`` targeting pi_{lam_k}. Returns a :class:`Run` with per-trajectory W, Q,
    shadow work, path work and final state.

    Parameters
    ----------
    system : :class:`neqsim.System`
    protocol : :class:`neqsim.Protocol` or (N+1, n_controls) array
    integrator : an :mod:`neqsim.integrators` instance
    n_traj : number of trajectories (> 0)
    beta : inverse temperature 1/kT (> 0)
    seed : integer in [0, 2^64); trajectory i's noise depends only on (seed, i). None
        draws a fresh seed, stored in ``Run.seed``.
    init : "equilibrium" (exact where possible, see :mod:`neqsim.initial`),
        ``Equilibrate(...)``, or initial arrays x0 / (x0, v0).
    record_every : record cumulative W, Q (and x if ``record_positions``) every that many
        steps (0: no traces).
    out : path of a run file to stream results into (HDF5, docs/run-files.md). The
        returned Run then reads from the file lazily, and memory stays bounded by the
        block size however large ``n_traj`` is.
    overwrite : replace an existing ``out`` (otherwise an existing file is an error).
    resume : continue the run in an existing ``out`` (it must have been written with
        the same configuration; start it if the file does not exist yet).
    progress : show a progress bar (tqdm) between kernel calls; None: when stderr is a
        terminal.
    checkpoint_every : with ``out``, save the state of a long block at most this often
        (seconds; 0 after every kernel call), so a kill loses at most that much work.
        Finished blocks are always committed at once.
    chunk_steps, chunk_traj : steps per kernel call and trajectories per block (default:
        blocks of about 64 MB of working memory, calls of about a second when writing a
        file or showing progress); results are bit-identical for any choice.
    n_threads : numba threads for this call (default: numba's current setting); results
        do not depend on it.
    on_failure : "raise" (default) raises :class:`IntegrationError` naming the
        trajectories and steps whose energy became NaN/inf; "nan" marks them in
        ``Run.failed`` with NaN work/heat and carries on.
    specialize : compile the kernel with the potential inlined (~1.6-3x faster per step
        for cheap potentials, but several seconds of compilation once per process and
        system). None (default) does so when the run has at least SPECIALIZE_ABOVE
        particle-steps. The arithmetic is the same, so results are bit-identical.
    executor : a ``concurrent.futures.Executor`` (``ProcessPoolExecutor`` with a spawn or
        forkserver context, dask's ``Client(...).get_executor()``, ...) whose workers
        compute the trajectory blocks; the driver commits them in order, so results are
        bit-identical to the single-process run (docs/scale-out.md). ``chunk_traj``
        then defaults to about 4 blocks per worker.
    threads_per_worker : numba threads each worker uses for a block (default 1: one
        worker per core).
    system_factory : with ``executor`` and a user-defined system that cannot be pickled:
        a picklable callable with no arguments (e.g. a module-level function the workers
        can import) that builds the same system on each worker.
    shard_dir : with ``executor``: the directory where workers write finished blocks
        (shard files) for the driver to merge into ``out`` in order; a killed driver then
        loses only the blocks still being computed. "auto" (default): ``<out>.shards``
        when ``out`` is given, else no shards; None: blocks return through the executor
        (for workers without a file system shared with the driver).
    """
    job = Job.build(system, protocol, integrator, n_traj, beta=beta, seed=seed, init=init,
                    record_every=record_every, record_positions=record_positions,
                    on_failure=on_failure)
    options = _Options(job, chunk_steps, chunk_traj, n_threads, specialize, progress,
                       checkpoint_every, streaming=out is not None)
    _plan(job, options, chunk_traj, executor, threads_per_worker, system_factory, shard_dir,
          out)
    if out is None:
        if resume or overwrite:
            raise ValueError("resume= and overwrite= apply to run files: pass out=")
        sink = _MemorySink(job)
        _execute(job, sink, options)
        return sink.run(options)
    from . import runfile
    path = os.fspath(out)
    if resume and os.path.exists(path):
        config, arrays, marker = runfile.read_stored(path)
        diffs = job.differences({k: v for k, v in config.items()
                                 if not k.startswith(("_", "version_", "convention_"))
                                 and k not in ("created", "energy_units", "time_units")},
                                arrays)
        if diffs:
            raise runfile.RunFileError(path, "was written with a different configuration; "
                                             "refusing to resume: " + "; ".join(diffs))
        return _continue(path, job, marker, options, chunk_traj)
    runfile.create(path, job, overwrite=overwrite, chunk_traj=options.chunk_traj)
    return _continue(path, job, (0, 0, 0, 0), options, chunk_traj)


def resume(path, *, system=None, progress=None, checkpoint_every=10.0, chunk_steps=None,
           chunk_traj=None, n_threads=None, specialize=None, executor=None,
           threads_per_worker=1, system_factory=None, shard_dir="auto"):
    """Continue an interrupted run file to the result an uninterrupted run would give.

    Everything that determines the numbers comes from the file; ``system`` is needed
    only for user-defined potentials (built-ins are rebuilt by name) and must compute
    the same energies as the original (checked at probe points). The other options are
    execution choices and do not change the results (``executor``, ``threads_per_worker``,
    ``system_factory`` and ``shard_dir`` as in :func:`simulate`; with a
    ``system_factory`` and no ``system``, the factory builds the system here too).
    Returns the completed Run.
    """
    from . import runfile
    path = os.fspath(path)
    config, arrays, marker = runfile.read_stored(path)
    if system is None and system_factory is not None and not config["system_factory"]:
        system = system_factory()
    try:
        job = Job.from_stored(path, config, arrays, system=system)
    except ValueError as e:
        if isinstance(e, runfile.RunFileError):
            raise
        raise runfile.RunFileError(path, str(e).removeprefix(f"{path}: ")) from None
    from ._job import fingerprint
    if any(not np.array_equal(arrays.get(k), v, equal_nan=True)
           for k, v in fingerprint(job.system, job.protocol).items()):
        raise runfile.RunFileError(path, "the system given computes different energies than "
                                         "the one that wrote the file; refusing to resume")
    options = _Options(job, chunk_steps, chunk_traj, n_threads, specialize, progress,
                       checkpoint_every, streaming=True)
    _plan(job, options, chunk_traj, executor, threads_per_worker, system_factory, shard_dir,
          path)
    return _continue(path, job, marker, options, chunk_traj)


def _continue(path, job, marker, options, chunk_traj):
    from . import runfile
    if marker[0] >= job.n_traj:
        raise runfile.RunFileError(path, "is already complete; nothing to resume (read it "
                                         "with nq.open_run)")
    writer = runfile.Writer(path, job)
    try:
        if options.plan is None:  # the checkpoint slots hold at most the file's block size
            options.chunk_traj = min(chunk_traj or writer.capacity, writer.capacity)
        _execute(job, writer, options)
    finally:
        writer.close()
    # complete: shards an executor's workers left for this file are of no further use
    shutil.rmtree(path + ".shards", ignore_errors=True)
    return runfile.open_run(path, system=job.system)


# --- scale-out (neqsim.distributed): an Executor's workers compute the blocks ----------------
def _plan(job, options, chunk_traj, executor, threads_per_worker, system_factory, shard_dir,
          out):
    auto = isinstance(shard_dir, str) and shard_dir == "auto"
    if executor is None:
        if system_factory is not None:
            raise ValueError("system_factory= builds the system on an executor's workers; "
                             "pass executor= as well")
        if not auto and shard_dir is not None:
            raise ValueError("shard_dir= is where an executor's workers write their blocks; "
                             "pass executor= as well")
        return
    if auto:
        shard_dir = None if out is None else os.fspath(out) + ".shards"
    from .distributed import Plan
    options.plan = Plan(job, executor, threads_per_worker=threads_per_worker,
                        system_factory=system_factory, shard_dir=shard_dir, owned=auto)
    if chunk_traj is None:
        options.chunk_traj = options.plan.default_chunk_traj(job, options.chunk_traj)
# ----------------------------------------------------------------------------------------------


class _Options:
    """Execution choices: they change speed and memory, never results."""

    def __init__(self, job, chunk_steps, chunk_traj, n_threads, specialize, progress,
                 checkpoint_every, streaming):
        N = job.n_steps
        self.chunk_steps = None if chunk_steps is None else check_int("chunk_steps",
                                                                      chunk_steps, 1)
        if chunk_traj is None:
            chunk_traj = max(256, BLOCK_BYTES // job.bytes_per_trajectory())
        self.chunk_traj = min(check_int("chunk_traj", chunk_traj, 1), job.n_traj)
        self.n_threads = None if n_threads is None else check_int("n_threads", n_threads, 1)
        if specialize is None:
            specialize = job.n_traj * N * job.system.dim >= SPECIALIZE_ABOVE
        self.specialize = bool(specialize)
        self.progress = wants_progress(progress)
        self.checkpoint_every = float(checkpoint_every)
        if not self.checkpoint_every >= 0:
            raise ValueError(f"checkpoint_every must be >= 0 seconds, got {checkpoint_every!r}")
        # several calls per block only pay off with something to do between them
        self.adaptive = self.chunk_steps is None and (streaming or self.progress)
        self.plan = None  # a distributed.Plan when an executor computes the blocks


class _MemorySink:
    """Keeps everything in memory; the block-writing interface of runfile.Writer."""

    def __init__(self, job):
        n, d = job.n_traj, job.system.dim
        self.job = job
        self.marker = (0, 0, 0, 0)
        self.totals = {k: np.full(n, np.nan) for k in
                       ("work", "heat", "shadow_work", "path_work", "initial_energy",
                        "final_energy")}
        for k in ("x0", "x", "v0", "v"):
            self.totals[k] = np.empty((n, d))
        self.totals["n_accepted"] = np.zeros(n, dtype=np.int64)
        self.totals["failed_step"] = np.full(n, -1, dtype=np.int64)
        self.rec = (np.zeros((n, job.n_rec)), np.zeros((n, job.n_rec)),
                    np.zeros((n, job.n_rec, job.rec_dim)))
        self.info = {}

    def trace_buffers(self, a, b):
        return tuple(r[a:b] for r in self.rec)

    def block_start(self, a, b, x0, v0, e0):
        self.totals["x0"][a:b] = x0
        if v0 is not None:
            self.totals["v0"][a:b] = v0
        self.totals["initial_energy"][a:b] = e0

    def trace(self, *args):
        pass  # the kernel wrote straight into our arrays

    def checkpoint(self, *args):
        pass

    def commit(self, a, b, finals):
        for key, value in finals.items():
            self.totals[key][a:b] = value

    def run(self, options):
        job, t = self.job, self.totals
        underdamped = job.underdamped
        failed = t["failed_step"] >= 0
        n_prop = job.integrator.proposals_per_step() * job.n_steps
        acceptance = t["n_accepted"] / n_prop if n_prop else None
        trace = None
        if job.record_every:
            steps = np.arange(job.n_rec) * job.record_every
            trace = {"step": steps, "time": steps * job.integrator.dt,
                     "lam": job.protocol.values[steps], "work": self.rec[0],
                     "heat": self.rec[1]}
            if job.rec_dim:
                trace["x"] = self.rec[2]
        info = dict(self.info, chunk_traj=options.chunk_traj, specialized=options.specialize)
        if np.any(failed):
            info["failed_steps"] = t["failed_step"][failed]
        return Run(work=t["work"], heat=t["heat"],
                   shadow_work=t["shadow_work"] if underdamped else None,
                   path_work=t["path_work"], initial_energy=t["initial_energy"],
                   final_energy=t["final_energy"], x0=t["x0"], x=t["x"],
                   v0=t["v0"] if underdamped else None, v=t["v"] if underdamped else None,
                   acceptance=acceptance, failed=failed, trace=trace, protocol=job.protocol,
                   integrator=job.integrator, system=job.system, beta=job.beta, seed=job.seed,
                   info=info)


def _execute(job, sink, options):
    """Run every uncommitted trajectory of ``job`` into ``sink``."""
    if options.plan is not None:  # scale-out: the executor's workers compute the blocks
        return options.plan.execute(job, sink, options)
    system, integ = job.system, job.integrator
    N = job.n_steps
    lam = job.protocol.values.copy()  # kernels take writable arrays (one signature)
    sampler = None
    if job.init_x0 is None:
        sampler, method = make_sampler(system, lam[0], job.beta, job.init)
        getattr(sink, "info", {})["init_method"] = method
    advance = integ.stepper(system, lam, job.beta, job.record_every, options.specialize)

    def step(state, k0, k1, rW, rQ, rx, a):
        advance(state, k0, k1, rW, rQ, rx)
        error = blowup_error(job, state["failed"], a)
        if error is not None:
            raise error

    old_threads = numba.get_num_threads()
    if options.n_threads is not None:
        numba.set_num_threads(options.n_threads)
    n_done = sink.marker[0]
    bar = progress_bar(options.progress, job.n_traj, n_done, system.name)
    try:
        rate = None  # particle-steps per second, measured
        while n_done < job.n_traj:
            a = n_done
            if sink.marker[2] > 0:  # a checkpointed block: continue it where it stopped
                b, k = sink.marker[1], sink.marker[2]
                state = sink.load_checkpoint()
                x0, v0, e0 = sink.read_block_start(a, b)
            else:
                b, k = min(a + options.chunk_traj, job.n_traj), 0
                state, x0, v0, e0 = _start_block(job, sampler, a, b, getattr(sink, "info", {}))
                sink.block_start(a, b, x0, v0, e0)
            n = b - a
            rW, rQ, rx = sink.trace_buffers(a, b) if isinstance(sink, _MemorySink) else (
                np.zeros((n, job.n_rec)), np.zeros((n, job.n_rec)),
                np.zeros((n, job.n_rec, job.rec_dim)))
            if job.record_every:
                if k > 0:
                    sink.read_trace(a, b, k // job.record_every + 1, rW, rQ, rx)
                elif job.rec_dim:
                    rx[:, 0, :] = x0
            bar.advance(n * k / N)
            last_save = time.perf_counter()
            while k < N:
                if options.chunk_steps:
                    k1 = min(k + options.chunk_steps, N)
                elif not options.adaptive:
                    k1 = N
                elif rate is None:  # a short first call (tens of ms) measures the rate
                    k1 = min(N, k + max(1, (1 << 22) // n))
                else:
                    k1 = min(N, k + max(1, int(rate * TARGET_CALL_S / n)))
                t0 = time.perf_counter()
                step(state, k, k1, rW, rQ, rx, a)
                rate = n * (k1 - k) / max(time.perf_counter() - t0, 1e-6)
                if job.record_every:
                    r0 = 0 if k == 0 else k // job.record_every + 1
                    sink.trace(a, b, r0, k1 // job.record_every + 1, rW, rQ, rx)
                bar.advance(n * (k1 - k) / N)
                k = k1
                if k < N and time.perf_counter() - last_save >= options.checkpoint_every:
                    sink.checkpoint(a, b, k, state)
                    last_save = time.perf_counter()
            sink.commit(a, b, _finals(job, state, e0))
            n_done = b
    finally:
        bar.close()
        if options.n_threads is not None:
            numba.set_num_threads(old_threads)


def blowup_error(job, failed, a):
    """The IntegrationError for a block whose chains a.. have failed steps (on_failure
    "raise"), or None."""
    if job.on_failure != "raise" or not np.any(failed >= 0):
        return None
    idx = np.nonzero(failed >= 0)[0]
    return IntegrationError(
        f"{job.system.name} with {job.integrator!r}: energy became NaN/inf in {idx.size} "
        f"trajector{'y' if idx.size == 1 else 'ies'} (first: trajectory "
        f"{(idx[:5] + a).tolist()} at step {failed[idx[:5]].tolist()}); reduce dt or "
        "check the potential. Pass on_failure='nan' to keep the healthy trajectories.",
        idx + a, failed[idx])


def _start_block(job, sampler, a, b, info):
    """Initial state of trajectories a..b-1, drawn from their own streams in order."""
    system, integ, n, dim = job.system, job.integrator, b - a, job.system.dim
    rng = _rng.make_states(job.seed, n, first=a)
    if sampler is None:
        x = job.init_x0[a:b].copy()
    else:
        x = sampler(rng, a, n, info)
    v = None
    if job.underdamped:
        if job.init_v0 is not None:
            v = job.init_v0[a:b].copy()
        else:
            v = np.empty((n, dim))
            sd = np.full(dim, 1.0 / math.sqrt(job.beta * integ.mass))
            _kernels.init_gaussian(rng, np.zeros(dim), sd, v)
    from ._functions import evaluate
    u, _ = evaluate(system.kernel_function, x, job.protocol.values[0].copy())
    bad = ~np.isfinite(u)
    if np.any(bad):
        raise IntegrationError(
            f"{system.name}: initial energy is not finite for trajectories "
            f"{(np.nonzero(bad)[0][:10] + a).tolist()}", np.nonzero(bad)[0] + a,
            np.zeros(int(bad.sum()), dtype=np.int64))
    kin = 0.5 * integ.mass * np.sum(v * v, axis=1) if v is not None else 0.0
    state = {"x": x.copy(), "u": u, "rng": rng, "nacc": np.zeros(n, dtype=np.int64),
             "failed": np.full(n, -1, dtype=np.int64)}
    for key in ("W", "Q", "S", "P"):
        state[key] = np.zeros(n)
    if v is not None:
        state["v"] = v.copy()
    return state, x, v, u + kin


def _finals(job, state, e0):
    kin = 0.5 * job.integrator.mass * np.sum(state["v"] ** 2, axis=1) if job.underdamped \
        else 0.0
    failed = state["failed"] >= 0
    finals = {"work": state["W"], "heat": state["Q"], "path_work": state["P"],
              "final_energy": state["u"] + kin, "x": state["x"], "n_accepted": state["nacc"],
              "failed_step": state["failed"]}
    if job.underdamped:
        finals["shadow_work"] = state["S"]
        finals["v"] = state["v"]
    else:
        finals["shadow_work"] = np.zeros_like(state["W"])
    if np.any(failed):
        for key in ("work", "heat", "path_work", "final_energy", "shadow_work"):
            finals[key] = np.where(failed, np.nan, finals[key])
    return finals
