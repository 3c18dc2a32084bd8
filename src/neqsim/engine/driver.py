"""``simulate`` and ``resume``: validate, then drive the kernels block by block in Python.

Trajectories are processed in blocks of ``chunk_traj`` and each block in kernel calls of
some number of steps. Between calls (never inside a kernel) the driver checks for
blow-ups, advances the progress bar and hands results to a :class:`~neqsim.storage.Sink`
(memory, or a run file with checkpoints, see :mod:`neqsim.storage.runfile`). Neither the
blocking nor the number of steps per call changes a single bit of the results:
trajectory i's noise depends only on (seed, i).
"""
from __future__ import annotations

import contextlib
import os
import time

import numba

from ..storage import runfile
from ..storage.claim import claim
from ..storage.shards import tidy as tidy_shards
from ..storage.sink import MemorySink
from ..systems.checks import PotentialError, check_gradient
from ..systems.system import fingerprint
from .block import (
    IntegrationError,
    announce_compiles,
    blowup_error,
    finals,
    start_block,
)
from .device import check_device, make_stepper
from .initial import make_sampler
from .job import Job, check_int
from .options import split_keywords
from .progress import progress_bar, wants_progress

__all__ = ["simulate", "resume", "IntegrationError"]

TARGET_CALL_S = 1.0           # adaptive kernel calls last about this long
MIN_TRACE_ROWS = 64           # trace rows a kernel call may record, at least (calls
                              # recording fewer would cost more in overhead than they save)


def simulate(system, protocol, integrator, n_traj, *, beta=1.0, seed=None,
             init="equilibrium", record=None, out=None, overwrite=False, resume=False,
             on_failure="raise", execution=None, **options):
    """Drive ``n_traj`` independent trajectories of ``system`` through ``protocol``.

    Each step k = 1..N switches lam_{k-1} -> lam_k at fixed state (work
    w_k = U(x_{k-1}, lam_k) - U(x_{k-1}, lam_{k-1})) and applies one step of
    ``integrator`` targeting pi_{lam_k}. Returns a :class:`~neqsim.Run` with
    per-trajectory W, Q, shadow work, path work and final state.

    Parameters
    ----------
    system : :class:`neqsim.System`
    protocol : :class:`neqsim.Protocol` or (N+1, n_controls) array
    integrator : an integrator (``nq.EulerMaruyama``, ``nq.Langevin``, ...)
    n_traj : number of trajectories (> 0)
    beta : inverse temperature 1/kT (> 0)
    seed : integer in [0, 2^64); trajectory i's noise depends only on (seed, i). None
        draws a fresh seed, stored in ``Run.seed``.
    init : "equilibrium" (exact where possible, see :mod:`neqsim.engine.initial`),
        ``Equilibrate(...)``, or initial arrays x0 / (x0, v0).
    record : ``nq.Record(every=n, positions=False)``: cumulative W, Q (and x) every n
        steps (default: none). Also as ``record_every=n, record_positions=...``.
    out : path of a run file to stream results into (HDF5, docs/run-files.md). The
        returned Run then reads from the file lazily, and memory stays bounded by the
        block size however large ``n_traj`` is.
    overwrite : replace an existing ``out`` (otherwise an existing file is an error).
    resume : continue the run in an existing ``out`` (it must have been written with
        the same configuration; start it if the file does not exist yet).
    on_failure : "raise" (default) raises :class:`IntegrationError` naming the
        trajectories and steps whose energy became NaN/inf; "nan" marks them in
        ``Run.failed`` with NaN work/heat and carries on.
    execution : ``nq.Execution(...)``: threads, block sizes, progress bar, checkpoints,
        an executor for scale-out (docs/scale-out.md). Each of its fields can also be
        passed as a keyword (``n_threads=2``, ``executor=...``). None of it changes the
        results.
    """
    record, execution = split_keywords("simulate", record, execution, options)
    if out is not None:  # the claim needs the folder
        runfile.check_folder(out)
    # one writer per path: claimed, then checked (before any work), held until we return
    with contextlib.nullcontext() if out is None else claim(out):
        if out is not None:
            runfile.check_output(out, overwrite=overwrite, resume=resume)
        try:
            return _simulate(system, protocol, integrator, n_traj, beta, seed, init, record,
                             out, overwrite, resume, on_failure, execution)
        except PotentialError as e:  # one short traceback, ending at the user's call
            raise PotentialError(str(e)) from None


def _simulate(system, protocol, integrator, n_traj, beta, seed, init, record, out,
              overwrite, resume, on_failure, execution):
    job = Job.build(system, protocol, integrator, n_traj, beta=beta, seed=seed, init=init,
                    record_every=record.every, record_positions=record.positions,
                    on_failure=on_failure)
    plan = _Plan(job, execution, streaming=out is not None, out=out)
    if out is None:
        if resume or overwrite:
            raise ValueError("resume= and overwrite= apply to run files: pass out=")
        job.check_memory()  # before allocating: numpy's MemoryError names no way out
        sink = MemorySink(job)
        _execute(job, sink, plan)
        return sink.result(plan)
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
        return _continue(path, job, plan, execution.chunk_traj)
    runfile.create(path, job, overwrite=overwrite, chunk_traj=plan.chunk_traj)
    return _continue(path, job, plan, execution.chunk_traj)


def resume(path, *, system=None, execution=None, **options):
    """Continue an interrupted run file to the result an uninterrupted run would give.

    Everything that determines the numbers comes from the file; ``system`` is needed
    only for user-defined potentials (built-ins are rebuilt by name) and must compute
    the same energies as the original (checked at probe points). ``execution`` (or its
    fields as keywords, as in :func:`simulate`) only changes how the rest is computed;
    with a ``system_factory`` and no ``system``, the factory builds the system here too.
    Returns the completed Run.
    """
    _, execution = split_keywords("resume", None, execution, options, allow_record=False)
    runfile.read_stored(path)  # a clear error for a missing or foreign file first
    with claim(path):
        try:
            return _resume(path, system, execution)
        except PotentialError as e:  # one short traceback, ending at the user's call
            raise PotentialError(str(e)) from None


def _resume(path, system, execution):
    path = os.fspath(path)
    config, arrays, marker = runfile.read_stored(path)
    if system is None and execution.system_factory is not None and \
            not config["system_factory"]:
        system = execution.system_factory()
    try:
        job = Job.from_stored(path, config, arrays, system=system)
    except ValueError as e:
        if isinstance(e, runfile.RunFileError):
            raise
        raise runfile.RunFileError(path, str(e).removeprefix(f"{path}: ")) from None
    import numpy as np
    if any(not np.array_equal(arrays.get(k), v, equal_nan=True)
           for k, v in fingerprint(job.system, job.protocol).items()):
        raise runfile.RunFileError(path, "the system given computes different energies than "
                                         "the one that wrote the file; refusing to resume")
    plan = _Plan(job, execution, streaming=True, out=path)
    return _continue(path, job, plan, execution.chunk_traj)


def _continue(path, job, plan, chunk_traj):
    sink = runfile.RunFileSink(path, job)
    try:
        if sink.marker[0] >= job.n_traj:
            raise runfile.RunFileError(path, "is already complete; nothing to resume (read "
                                             "it with nq.open_run)")
        if plan.executor is None:  # the checkpoint slots hold at most the file's block size
            plan.chunk_traj = min(chunk_traj or sink.capacity, sink.capacity)
        _execute(job, sink, plan)
        run = sink.result(plan)
    finally:
        sink.close()
    # complete: shards an executor's workers left for this file are of no further use
    # (only what neqsim put there goes; a user's files in it stay)
    tidy_shards(path + ".shards")
    return run


class _Plan:
    """The execution choices of one call, resolved against the job: block and call
    sizes, threads, progress, checkpoints, and the executor's plan when one computes."""

    def __init__(self, job, ex, *, streaming, out):
        self.chunk_steps = None if ex.chunk_steps is None else check_int(
            "chunk_steps", ex.chunk_steps, 1)
        budget = check_int("block_bytes", ex.block_bytes, 2**16)
        # bytes per trajectory of a block: its state, and what it holds of the trace (a
        # window of rows when streaming into a file, nothing of its own in memory)
        state_bytes = 8 * (6 * job.system.dim + 16)
        row_bytes = 8 * (2 + job.rec_dim) if job.record_every else 0
        held = min(job.n_rec, MIN_TRACE_ROWS) * row_bytes if streaming else 0
        chunk_traj = ex.chunk_traj
        if chunk_traj is None:
            chunk_traj = max(1, budget // (state_bytes + held))
        self.chunk_traj = min(check_int("chunk_traj", chunk_traj, 1), job.n_traj)
        # the window's rows: the rest of the budget, at least MIN_TRACE_ROWS, at most all
        spare = max(0, budget - self.chunk_traj * state_bytes)
        self.trace_rows = max(2, min(job.n_rec, max(
            MIN_TRACE_ROWS, spare // max(1, self.chunk_traj * row_bytes))))
        # an executor's worker holds a whole block's traces (it writes them as one shard)
        self.worker_chunk = max(1, budget // (state_bytes + job.n_rec * row_bytes))
        self.n_threads = None if ex.n_threads is None else check_int("n_threads",
                                                                     ex.n_threads, 1)
        limit = numba.config.NUMBA_NUM_THREADS
        if self.n_threads is not None and self.n_threads > limit:
            raise ValueError(f"n_threads={self.n_threads} is more than the {limit} threads "
                             "numba started with (NUMBA_NUM_THREADS, by default the number "
                             f"of CPUs): pass at most {limit}, or set NUMBA_NUM_THREADS "
                             "before importing neqsim")
        self.device = check_device(ex.device)
        self.cuda_fma = bool(ex.cuda_fma)
        self.cuda_threads = None if ex.cuda_threads is None else check_int(
            "cuda_threads", ex.cuda_threads, 1)
        self.progress = wants_progress(ex.progress)
        self.check_gradient = bool(ex.check_gradient)
        # the one-line "compiling kernels" notice: unless asked to be quiet
        self.announce = ex.progress is not False
        self.checkpoint_every = float(ex.checkpoint_every)
        if not self.checkpoint_every >= 0:
            raise ValueError(f"checkpoint_every must be >= 0 seconds, got "
                             f"{ex.checkpoint_every!r}")
        # several calls per block only pay off with something to do between them
        self.adaptive = self.chunk_steps is None and (streaming or self.progress)
        self.executor = None  # an executors.ExecutorPlan when an executor computes
        auto = isinstance(ex.shard_dir, str) and ex.shard_dir == "auto"
        if ex.executor is None:
            if ex.system_factory is not None:
                raise ValueError("system_factory= builds the system on an executor's "
                                 "workers; pass executor= as well")
            if not auto and ex.shard_dir is not None:
                raise ValueError("shard_dir= is where an executor's workers write their "
                                 "blocks; pass executor= as well")
            return
        shard_dir = (None if out is None else os.fspath(out) + ".shards") if auto \
            else ex.shard_dir
        from .executors import ExecutorPlan
        self.executor = ExecutorPlan(job, ex.executor,
                                     threads_per_worker=ex.threads_per_worker,
                                     system_factory=ex.system_factory, shard_dir=shard_dir,
                                     owned=auto, device=self.device,
                                     cuda_fma=self.cuda_fma, cuda_threads=self.cuda_threads)
        if ex.chunk_traj is None:
            self.chunk_traj = self.executor.default_chunk_traj(job, self.worker_chunk)


@contextlib.contextmanager
def _threads(n):
    if n is None:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _execute(job, sink, plan):
    """Run every uncommitted trajectory of ``job`` into ``sink``."""
    t_start = time.perf_counter()
    try:
        _execute_blocks(job, sink, plan)
    finally:
        if sink.path is None:  # a run file keeps its own wall time, across resumes
            sink.info["wall_time_s"] = time.perf_counter() - t_start


def _execute_blocks(job, sink, plan):
    system, N = job.system, job.n_steps
    lam = job.protocol.values.copy()  # kernels take writable arrays (one signature)
    if plan.executor is not None and plan.device != "cpu":
        # each worker builds its own CUDA stepper, on the GPU it sees
        if plan.check_gradient and job.integrator.needs_gradient and not system.discrete:
            check_gradient(system, job.protocol)
        return plan.executor.execute(job, sink, plan)
    advance = make_stepper(job, lam, plan.device, fma=plan.cuda_fma,
                           threads=plan.cuda_threads)
    if plan.announce:
        announce_compiles(job, advance)
    if plan.check_gradient and job.integrator.needs_gradient and not system.discrete:
        check_gradient(system, job.protocol)
    if plan.executor is not None:  # scale-out: the executor's workers compute the blocks
        return plan.executor.execute(job, sink, plan)
    sampler = None
    if job.init_x0 is None:
        sampler, method = make_sampler(system, lam[0], job.beta, job.init)
        sink.info["init_method"] = method
    n_done = sink.marker[0]
    bar = progress_bar(plan.progress, job.n_traj, n_done, system.name)
    try:
        with _threads(plan.n_threads):
            rate = None  # particle-steps per second, measured
            while n_done < job.n_traj:
                a = n_done
                if sink.marker[2] > 0:  # a checkpointed block: continue it where it stopped
                    b, k = sink.marker[1], sink.marker[2]
                    state, x0, v0, e0 = sink.load_checkpoint()
                else:
                    b, k = min(a + plan.chunk_traj, job.n_traj), 0
                    state, x0, v0, e0 = start_block(job, sampler, a, b, sink.info)
                    sink.block_start(a, b, x0, v0, e0)
                n = b - a
                every = job.record_every
                # a file's traces go through a window of rows: memory does not grow with
                # the number of steps (rows already in the file are never read back)
                rows = plan.trace_rows if sink.windowed else job.n_rec
                trace = sink.trace_buffers(a, b, rows)
                if every and k == 0 and job.rec_dim:
                    trace.x[:, 0, :] = x0
                bar.advance(n * k, N)
                last_save = time.perf_counter()
                while k < N:
                    if plan.chunk_steps:
                        k1 = min(k + plan.chunk_steps, N)
                    elif not plan.adaptive:
                        k1 = N
                    elif rate is None:  # a short first call (tens of ms) measures the rate
                        k1 = min(N, k + max(1, (1 << 22) // n))
                    else:
                        k1 = min(N, k + max(1, int(rate * TARGET_CALL_S / n)))
                    r0 = 0 if k == 0 else k // every + 1 if every else 0  # first new row
                    off = r0 if sink.windowed else 0
                    if every and sink.windowed:  # the rows this call records fit the window
                        k1 = min(k1, (off + rows) * every - 1)
                    t0 = time.perf_counter()
                    advance(state, k, k1, trace, off)
                    rate = n * (k1 - k) / max(time.perf_counter() - t0, 1e-6)
                    error = blowup_error(job, state.failed_step, a)
                    if error is not None:
                        raise error
                    if every:
                        sink.write_trace(a, b, r0, k1 // every + 1, trace, off)
                    bar.advance(n * (k1 - k), N)
                    k = k1
                    if k < N and time.perf_counter() - last_save >= plan.checkpoint_every:
                        sink.checkpoint(a, b, k, state)
                        last_save = time.perf_counter()
                sink.commit(a, b, finals(job, state, e0))
                n_done = b
    finally:
        bar.close()
    kern = getattr(advance, "kernel", None)
    if kern is not None and getattr(kern, "compile_s", None) is not None:
        sink.info["kernel"] = {"name": kern.spec.label, "key": kern.key,
                               "from_cache": bool(kern.loaded_from_cache),
                               "compile_s": round(kern.compile_s, 3)}
