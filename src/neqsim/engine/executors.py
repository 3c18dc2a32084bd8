"""Scale-out: trajectory blocks computed by the workers of any ``concurrent.futures.Executor``.

``simulate(..., executor=ex)`` (and ``resume(..., executor=ex)``) hands blocks of
trajectories ``[a, b)`` to ``ex``: a ``ProcessPoolExecutor`` on one machine, or Dask's
``Client(...).get_executor()`` across many (docs/scale-out.md). The design:

* **Workers are pure.** A worker gets a picklable description of the job and a block
  range and computes the whole block (the same :mod:`.block` code and stepper as the
  single-process driver). It either returns the block's arrays or, with a shard
  directory (the default for run files, :mod:`neqsim.storage.shards`), writes them to a
  shard file and returns its path. It never touches the run file, so a lost worker loses
  only its block.
* **The driver commits a prefix.** Results go through the ordinary sinks (the run file
  or memory, :mod:`neqsim.storage.sink`) strictly in trajectory order: a block that finishes
  early waits (as a shard, or in memory) until every earlier block is committed. The run
  file's commit marker therefore means exactly what it means for single-process runs,
  and ``resume`` (with or without an executor) continues from it; with an executor it
  also merges the shards finished before the driver stopped instead of recomputing them.
  At most ``max_in_flight`` blocks (default twice the executor's workers) are submitted
  and not yet committed, which bounds the driver's memory.
* **Same numbers.** Trajectory i's noise depends only on (seed, i), and every block is
  computed by the same kernels, so the result is bit-identical to the single-process run
  for any number of workers and any block size. Each worker checks this where it can: the
  system it rebuilt must reproduce the driver's energies and gradients at the fingerprint
  probe points bit for bit, or it refuses to compute.

What is sent to the workers (see :func:`system_payload`): built-in systems as their
builder name and parameters (rebuilt with ``systems.builtin.from_spec``); other systems either
through a user ``system_factory`` (a picklable zero-argument callable, e.g. a module-level
function or a ``functools.partial`` of one) or, by default, pickled by value (numba
dispatchers pickle their Python source; cloudpickle, which Dask installs, also handles
closures and lambdas in the system's optional attributes).
"""
from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import dataclasses
import math
import os
import pickle
import platform
import threading
import time
import uuid

import numba
import numpy as np

from ..storage.shards import Shards, run_key
from ..storage.shards import read as read_shard
from ..storage.shards import remove as remove_shard
from ..storage.shards import write as write_shard
from ..systems.system import fingerprint
from .block import IntegrationError, blowup_error, finals, start_block
from .device import make_stepper
from .initial import make_sampler
from .job import check_int
from .progress import progress_bar

__all__ = ["ExecutorPlan", "run_block", "gpu_executor"]

MIN_BLOCK = 1024          # default blocks are at least this large (per-block overhead)
BLOCKS_PER_WORKER = 4     # default: about this many blocks per worker (load balance)
IN_FLIGHT_PER_WORKER = 2  # default cap on submitted, uncommitted blocks per worker
RECOUNT_S = 10.0          # how often the driver re-counts a (scaling) cluster's workers
CALL_S = 1.0              # a worker's kernel calls last about this long


# --- driver side --------------------------------------------------------------------------

def executor_workers(executor):
    """How many blocks ``executor`` runs at once (best effort; 1 if it cannot tell)."""
    n = getattr(executor, "_max_workers", None)  # ProcessPoolExecutor, ThreadPoolExecutor
    if n:
        return int(n)
    client = getattr(executor, "_client", None)  # dask.distributed's ClientExecutor
    if client is not None:
        try:
            return max(1, int(sum(client.nthreads().values())))
        except Exception:
            return 1
    n = getattr(executor, "num_workers", None)  # mpi4py.futures.MPIPoolExecutor
    if isinstance(n, int) and n > 0:
        return n
    return os.cpu_count() or 1


def _dumps(obj):
    """Pickle by value where possible: cloudpickle if installed (Dask brings it)."""
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(obj)
    return cloudpickle.dumps(obj)


def system_payload(system, executor, system_factory):
    """How the workers get the system: ("builtin", factory, params), ("factory", bytes),
    ("pickled", bytes) or ("object", system) for in-process thread pools."""
    if system_factory is not None:
        if not callable(system_factory):
            raise TypeError("system_factory must be a callable with no arguments that "
                            f"returns the System, got {type(system_factory).__name__}")
        try:
            return ("factory", _dumps(system_factory))
        except Exception as e:
            raise TypeError(f"system_factory={system_factory!r} cannot be pickled for the "
                            f"workers ({type(e).__name__}: {e}); make it a module-level "
                            "function of a module the workers can import (or a "
                            "functools.partial of one)") from None
    if system.factory:
        return ("builtin", system.factory, dict(system.params))
    if isinstance(executor, cf.ThreadPoolExecutor):
        return ("object", system)  # same process: nothing to send
    import copy
    light = copy.copy(system)
    light._exact_free_energy = None    # not needed to simulate
    try:
        return ("pickled", _dumps(light))
    except Exception as e:
        try:
            import cloudpickle  # noqa: F401
            hint = "."
        except ImportError:
            hint = ", or install cloudpickle, which pickles closures and lambdas."
        raise TypeError(
            f"the user-defined system {system.name!r} cannot be sent to the executor's "
            f"workers: pickling it failed ({type(e).__name__}: {e}). Pass "
            "system_factory=build, where build() is a module-level function (in a module "
            f"the workers can import) returning the same System{hint}") from None


def _check_fork(executor):
    """A fork()ed ProcessPoolExecutor cannot run numba's GNU OpenMP threads: say so."""
    if not isinstance(executor, cf.ProcessPoolExecutor):
        return
    ctx = getattr(executor, "_mp_context", None)
    method = ctx.get_start_method() if ctx is not None else None
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run in this process yet
        return
    if method == "fork" and layer == "omp" and not getattr(executor, "_processes", None):
        raise ValueError(
            "this ProcessPoolExecutor starts its workers with fork(), but this process "
            "already runs numba's OpenMP threading layer, which cannot be forked (the "
            "workers would die at once). Create it with a spawn or forkserver context: "
            "ProcessPoolExecutor(n, mp_context=multiprocessing.get_context('forkserver'))")


class ExecutorPlan:
    """How one ``simulate``/``resume`` call hands its blocks to ``executor``."""

    def __init__(self, job, executor, *, threads_per_worker=1, system_factory=None,
                 max_in_flight=None, shard_dir=None, owned=False, device="cpu",
                 cuda_fma=False, cuda_threads=None):
        if not callable(getattr(executor, "submit", None)):
            raise TypeError("executor must be a concurrent.futures.Executor (anything with "
                            "submit(fn, *args) returning a Future), e.g. ProcessPoolExecutor "
                            f"or dask's Client.get_executor(); got {type(executor).__name__}")
        self.executor = executor
        self.threads = check_int("threads_per_worker", threads_per_worker, 1)
        self._max_in_flight = None if max_in_flight is None else check_int(
            "max_in_flight", max_in_flight, 1)
        fp = fingerprint(job.system, job.protocol)  # also what the workers must reproduce
        _check_fork(executor)
        self.shards = None
        if shard_dir is not None:
            self.shards = Shards(shard_dir, run_key(job), owned=owned)
        self.spec = {
            "token": uuid.uuid4().hex,
            "job": dataclasses.replace(job, system=None, init_x0=None, init_v0=None),
            "arrays_init": job.init_x0 is not None,
            "system": system_payload(job.system, executor, system_factory),
            "system_name": job.system.name,
            "fingerprint": fp,
            "threads": self.threads,
            # each worker's stepper runs there (device="cuda": the one GPU it sees)
            "device": (device, bool(cuda_fma), cuda_threads),
            # workers stop a block when this process is gone (checked between calls)
            "driver": (platform.node(), os.getpid()),
            # the secret travels with the job, never through the shard directory
            "shards": None if self.shards is None else (self.shards.dir, self.shards.key,
                                                        self.shards.secret),
        }
        self.n_workers = executor_workers(executor)
        self._counted = time.monotonic()

    def default_chunk_traj(self, job, memory_bound):
        """About BLOCKS_PER_WORKER blocks per worker, at least MIN_BLOCK trajectories, and
        never more than ``memory_bound`` (what fits a worker's block memory)."""
        per = math.ceil(job.n_traj / (BLOCKS_PER_WORKER * self.n_workers))
        return max(1, min(memory_bound, job.n_traj, max(MIN_BLOCK, per)))

    def max_in_flight(self):
        if self._max_in_flight is not None:
            return self._max_in_flight
        if time.monotonic() - self._counted > RECOUNT_S:  # clusters can scale
            self.n_workers = executor_workers(self.executor)
            self._counted = time.monotonic()
        return IN_FLIGHT_PER_WORKER * self.n_workers

    def execute(self, job, sink, options):
        """Run every uncommitted trajectory of ``job`` on the workers, committing into
        ``sink`` (:mod:`neqsim.storage.sink`) in trajectory order."""
        spec = self.spec
        info = sink.info
        if job.init_x0 is None:  # validates init here, before any work is sent
            info["init_method"] = make_sampler(job.system, job.protocol.values[0],
                                               job.beta, job.init)[1]
        info["executor"] = type(self.executor).__name__
        info["workers"] = self.n_workers
        n_done = sink.marker[0]  # a checkpointed partial block is simply recomputed
        found = {} if self.shards is None else self.shards.prepare(n_done)
        flight = collections.deque()  # [a, b, future or None, shard path or None], in order
        bar = progress_bar(options.progress, job.n_traj, n_done, job.system.name)

        def submit(a, b):
            rows = (None, None)
            if job.init_x0 is not None:
                rows = (job.init_x0[a:b], None if job.init_v0 is None else job.init_v0[a:b])
            return self.executor.submit(run_block, spec, a, b, *rows)

        try:
            blocks = _blocks(n_done, job.n_traj, options.chunk_traj, found)
            more = True
            while True:
                while more and len(flight) < self.max_in_flight():
                    ab = next(blocks, None)
                    if ab is None:
                        more = False
                        break
                    a, b, path = ab
                    flight.append([a, b, None if path else submit(a, b), path])
                if not flight:
                    break
                a, b, future, path = flight[0]
                if future is None:  # a shard finished before the previous driver stopped
                    try:
                        res = self._read_shard(path, a, b)
                    except OSError:  # damaged: compute the block again
                        flight[0][2] = future = submit(a, b)
                if future is not None:
                    res = future.result()
                    if isinstance(res, _Failure):
                        raise IntegrationError(res.message, res.trajectories, res.steps)
                    if "shard" in res:
                        path = res["shard"]
                        res = self._read_shard(path, a, b, host=res["host"])
                flight.popleft()
                sink.write_block(a, b, res)
                if "init_accepted" in res["info"]:
                    info["init_accepted"] = (info.get("init_accepted", 0)
                                             + res["info"]["init_accepted"])
                if path is not None:  # committed: the shard has done its job
                    remove_shard(path)
                bar.advance(b - a)
                n_done = b
            if self.shards is not None:
                self.shards.finish()
        except BaseException as e:
            for _, _, future, _ in flight:
                if future is not None:
                    future.cancel()
            path = getattr(sink, "path", None)
            if path is not None and hasattr(e, "add_note") and \
                    not isinstance(e, (KeyboardInterrupt, IntegrationError)):
                kept = "" if self.shards is None else (
                    f"; blocks the workers finished are kept in {self.shards.dir}")
                e.add_note(f"{path}: {n_done:,} of {job.n_traj:,} trajectories are committed"
                           f"{kept}; continue with nq.resume(path, executor=...), which "
                           "computes only the missing blocks")
            raise
        finally:
            bar.close()

    def _read_shard(self, path, a, b, host=None):
        if host is not None and not os.path.exists(path):
            raise FileNotFoundError(
                f"the worker on {host} wrote trajectories {a}..{b - 1} to {path}, which this "
                f"driver ({platform.node()}) cannot see: shard_dir must be on a file system "
                "that the driver and every worker share (same path), or pass "
                "shard_dir=None to send block results back through the executor")
        return read_shard(path, self.shards.key, a, b, self.shards.secret)


def gpu_executor(devices=None):
    """A ProcessPoolExecutor with one worker per GPU, for ``simulate(..., device="cuda",
    executor=nq.gpu_executor())``: worker j sees only GPU ``devices[j]`` (default: every
    GPU numba-cuda finds). Workers are spawned, and each sets CUDA_VISIBLE_DEVICES before
    it imports numba-cuda; blocks are committed in order as with any executor, so the
    numbers are those of one GPU (or of the CPU)."""
    import multiprocessing
    if devices is None:
        from .._numba.gpu import cuda_module
        cuda = cuda_module()
        devices = list(range(max(1, len(cuda.gpus))))
    devices = [check_int("GPU index", d, 0) for d in devices]
    if not devices:
        raise ValueError("gpu_executor needs at least one GPU index")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    for d in devices:
        queue.put(d)
    return cf.ProcessPoolExecutor(len(devices), mp_context=ctx, initializer=_bind_gpu,
                                  initargs=(queue,))


def _bind_gpu(queue):
    """Process-pool initializer: this worker's GPU, before numba-cuda is imported."""
    os.environ["CUDA_VISIBLE_DEVICES"] = str(queue.get())


def _blocks(n_done, n_traj, chunk, found):
    """(a, b, shard path or None) covering n_done..n_traj: the shards in ``found``
    ({a: (b, path)}) where they start, blocks of at most ``chunk`` in the gaps."""
    starts = sorted(found)
    pos = n_done
    while pos < n_traj:
        if pos in found and found[pos][0] <= n_traj:
            b, path = found[pos]
            yield pos, b, path
            pos = b
            continue
        nxt = next((s for s in starts if s > pos), n_traj)
        b = min(pos + chunk, nxt, n_traj)
        yield pos, b, None
        pos = b


# --- worker side --------------------------------------------------------------------------

@dataclasses.dataclass
class _Failure:
    """An IntegrationError in a worker, raised by the driver when its block is next."""
    message: str
    trajectories: np.ndarray
    steps: np.ndarray


class _Rows:
    """User-supplied initial arrays of one block, indexed by global trajectory number."""

    def __init__(self, rows, first):
        self.rows, self.first = rows, first

    def __getitem__(self, s):
        return self.rows[s.start - self.first:s.stop - self.first]


class _Prepared:
    """What a worker process builds once per run: the job with its system, the initial
    sampler and the compiled stepper."""

    def __init__(self, spec):
        system = rebuild_system(spec["system"])
        job = dataclasses.replace(spec["job"], system=system)
        mine = fingerprint(system, job.protocol)
        if any(not np.array_equal(v, spec["fingerprint"][k], equal_nan=True)
               for k, v in mine.items()):
            raise ValueError(
                f"the system rebuilt on this worker ({platform.node()}, pid "
                f"{os.getpid()}) computes different energies than the driver's "
                f"{spec['system_name']!r} at the probe points, so the results would not be "
                "those of the single-process run; the workers must run the same potential "
                "code (same neqsim version, same system_factory)")
        self.job = job
        self.sampler = None if spec["arrays_init"] else make_sampler(
            system, job.protocol.values[0], job.beta, job.init)[0]
        self.lam = job.protocol.values.copy()  # kernels take writable arrays
        device, fma, threads = spec.get("device", ("cpu", False, None))
        self.advance = make_stepper(job, self.lam, device, fma=fma, threads=threads)


def rebuild_system(payload):
    from ..systems import System, from_spec
    how = payload[0]
    if how == "builtin":
        return from_spec(payload[1], payload[2])
    if how == "object":
        return payload[1]
    obj = pickle.loads(payload[1])
    system = obj() if how == "factory" else obj
    if not isinstance(system, System):
        raise TypeError(f"system_factory returned {type(system).__name__}, not a neqsim System")
    return system


_CACHE = collections.OrderedDict()   # token -> _Prepared, per worker process
_CACHE_LOCK = threading.Lock()


def _prepared(spec):
    with _CACHE_LOCK:
        prep = _CACHE.get(spec["token"])
        if prep is None:
            prep = _CACHE[spec["token"]] = _Prepared(spec)
            while len(_CACHE) > 4:
                _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(spec["token"])
    return prep


@contextlib.contextmanager
def _numba_threads(n):
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


_PARENT = os.getppid()  # of this worker process, when it started


def _driver_gone(driver):
    """Whether the driver process ``(host, pid)`` has died (False when it cannot tell:
    another host)."""
    host, pid = driver
    if pid == os.getpid():  # in-process executors
        return False
    if pid == _PARENT and os.getppid() != pid:  # a child whose parent died is re-parented
        return True
    if host != platform.node():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, not ours to signal
        return False
    return False


_WATCHING = []


def _exit_with_driver(driver):
    """In a process-pool worker: exit when the driver dies. Its task pipe stays open in
    its sibling workers, so an idle worker would otherwise wait on it forever. Not in a
    Dask worker, which belongs to its cluster (a block there is abandoned instead)."""
    if _WATCHING:
        return
    try:
        from distributed import get_worker
        get_worker()
        return
    except (ImportError, ValueError):
        pass
    _WATCHING.append(driver)

    def watch():
        while not _driver_gone(driver):
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, name="neqsim-driver-watch", daemon=True).start()


def run_block(spec, a, b, x0_rows=None, v0_rows=None):
    """Compute trajectories a..b-1 of the job described by ``spec`` (on a worker).

    Returns a dict of the block's arrays (initial state, finals, traces), or a _Failure
    for an IntegrationError, which the driver raises in order. Pure: no file access
    (except the shard file it writes when the run uses shards)."""
    from ..dynamics.base import TraceBuffers
    if spec["driver"][1] != os.getpid():
        _exit_with_driver(spec["driver"])
    prep = _prepared(spec)
    job = prep.job
    if spec["arrays_init"]:
        job = dataclasses.replace(job, init_x0=_Rows(x0_rows, a),
                                  init_v0=None if v0_rows is None else _Rows(v0_rows, a))
    n = b - a
    info = {}
    with _numba_threads(spec["threads"]):
        try:
            state, x0, v0, e0 = start_block(job, prep.sampler, a, b, info)
        except IntegrationError as e:
            return _Failure(str(e), e.trajectories, e.steps)
        trace = TraceBuffers.empty(n, job.n_rec, job.rec_dim)
        if job.rec_dim:
            trace.x[:, 0, :] = x0
        # in calls of about a second, so that a worker notices a dead driver and stops
        # (a process pool's workers then exit: their task pipe is closed)
        k, rate = 0, None
        while k < job.n_steps:
            if _driver_gone(spec["driver"]):
                raise RuntimeError(f"the driver (pid {spec['driver'][1]}) has died; "
                                   f"abandoning trajectories {a}..{b - 1}")
            per_call = (1 << 22) // n if rate is None else int(rate * CALL_S / n)
            k1 = min(job.n_steps, k + max(1, per_call))
            t0 = time.perf_counter()
            prep.advance(state, k, k1, trace)
            rate = n * (k1 - k) / max(time.perf_counter() - t0, 1e-6)
            k = k1
    error = blowup_error(job, state.failed_step, a)
    if error is not None:
        return _Failure(str(error), error.trajectories, error.steps)
    out = {"x0": x0, "v0": v0, "e0": e0, "finals": finals(job, state, e0), "info": info}
    if job.record_every:
        out.update(rW=trace.work, rQ=trace.heat, rx=trace.x)
    if spec["shards"] is not None:
        directory, key, secret = spec["shards"]
        return {"shard": write_shard(directory, key, a, b, out, secret),
                "host": platform.node()}
    return out
