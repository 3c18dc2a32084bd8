"""Scale-out (neqsim.engine.executors): blocks on an Executor's workers give bit-identical runs.

ProcessPoolExecutor (spawn) and a real dask.distributed LocalCluster; user potentials;
a worker killed mid-run (Dask reschedules; a broken process pool leaves the committed
prefix, and resume with an executor completes it); a SIGKILLed driver.
"""
import concurrent.futures as cf
import functools
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures.process import BrokenProcessPool

import h5py
import numba
import numpy as np
import pytest

import neqsim as nq

FIELDS = ("work", "heat", "shadow_work", "path_work", "initial_energy", "final_energy",
          "x0", "x", "v0", "v", "acceptance", "failed")


def assert_same_run(a, b, n=None):
    """Every per-trajectory array and trace of ``b`` equals ``a`` (its first n rows)."""
    n = a.n_traj if n is None else n
    assert b.n_traj == n
    for key in FIELDS:
        x, y = getattr(a, key), getattr(b, key)
        if x is None or y is None:
            assert x is None and y is None, key
        else:
            assert x.dtype == y.dtype and np.array_equal(x[:n], y, equal_nan=True), key
    assert (a.trace is None) == (b.trace is None)
    if a.trace is not None:
        assert sorted(a.trace.keys()) == sorted(b.trace.keys())
        for key in ("work", "heat", "x"):
            if key in a.trace:
                assert np.array_equal(a.trace[key][:n], b.trace[key]), key
        for key in ("step", "time", "lam"):
            assert np.array_equal(a.trace[key], b.trace[key]), key
    assert (a.seed, a.beta, a.integrator, a.protocol) == (b.seed, b.beta, b.integrator,
                                                          b.protocol)


def spawn_pool(n=2):
    return cf.ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))


@pytest.fixture(scope="module")
def pool():
    with spawn_pool() as ex:
        yield ex


# an overdamped run on the double well (inverse-CDF initial states) and an underdamped one
# in the dragged, breathing trap (Gaussian x0 and v0), both with traces and positions
CASES = {
    "overdamped": (nq.systems.double_well(), nq.protocols.linear([2.0, -0.5], [1.0, 1.0], 150),
                   nq.EulerMaruyama(dt=0.01)),
    "underdamped": (nq.systems.harmonic_trap(), nq.protocols.linear([0.0, 1.0], [2.0, 3.0], 120),
                    nq.Langevin(dt=0.05, splitting="O V R V O")),
}
KW = dict(n_traj=2500, beta=1.3, seed=2024, record_every=10, record_positions=True)


@functools.lru_cache(maxsize=None)
def reference(case):
    system, proto, integ = CASES[case]
    return nq.simulate(system, proto, integ, progress=False, **KW)


@pytest.mark.parametrize("chunk", [333, 1000])
@pytest.mark.parametrize("case", sorted(CASES))
def test_process_pool_bit_identical(pool, case, chunk):
    system, proto, integ = CASES[case]
    run = nq.simulate(system, proto, integ, executor=pool, chunk_traj=chunk, progress=False,
                      **KW)
    assert_same_run(reference(case), run)
    assert run.info["chunk_traj"] == chunk and run.info["executor"] == "ProcessPoolExecutor"


def test_process_pool_run_file_default_blocks_two_threads(pool, tmp_path):
    """shard_dir=None: blocks come back through the executor, not via shard files."""
    system, proto, integ = CASES["underdamped"]
    path = tmp_path / "pool.h5"
    run = nq.simulate(system, proto, integ, executor=pool, out=path, progress=False,
                      threads_per_worker=2, shard_dir=None, **KW)
    assert run.complete and run.path == os.fspath(path)
    assert_same_run(reference("underdamped"), nq.open_run(path))
    with h5py.File(path, "r", locking=False) as f:  # ~4 blocks per worker by default
        assert f["neqsim"].attrs["chunk_traj"] == 1024


# --- user potentials ----------------------------------------------------------------------

def _user_energy_grad(x, lam, out):
    d = x[0] - lam[0]
    out[0] = lam[1] * d + 0.4 * x[0] ** 3
    return 0.5 * lam[1] * d * d + 0.1 * x[0] ** 4


def build_user_system():
    """A module-level builder: what system_factory= expects."""
    return nq.from_functions(None, None, energy_grad=_user_energy_grad, dim=1, n_controls=2,
                             name="quartic_trap")


def build_other_system():
    return nq.from_functions(None, None, energy_grad=lambda x, lam, out: _other(x, lam, out),
                             dim=1, n_controls=2, name="quartic_trap")


@numba.njit
def _other(x, lam, out):
    out[0] = lam[1] * (x[0] - lam[0])
    return 0.5 * lam[1] * (x[0] - lam[0]) ** 2


USER_PROTO = nq.protocols.linear([0.0, 1.0], [1.0, 2.0], 80)


@pytest.mark.slow
def test_user_potentials(pool):
    c = 0.1  # a closure, defined here: numba dispatchers pickle their source by value

    @nq.potential(dim=1, n_controls=2, name="quartic_trap")
    def local(x, lam, out):
        d = x[0] - lam[0]
        out[0] = lam[1] * d + 4.0 * c * x[0] ** 3
        return 0.5 * lam[1] * d * d + c * x[0] ** 4

    kw = dict(n_traj=1200, seed=5, record_every=20, progress=False)
    integ = nq.MALA(dt=0.1)
    ref = nq.simulate(local, USER_PROTO, integ, **kw)
    assert_same_run(ref, nq.simulate(local, USER_PROTO, integ, executor=pool, chunk_traj=250,
                                     **kw))
    # the same potential through a module-level factory the workers import
    mine = build_user_system()
    ref2 = nq.simulate(mine, USER_PROTO, integ, **kw)
    assert_same_run(ref2, nq.simulate(mine, USER_PROTO, integ, executor=pool, chunk_traj=250,
                                      system_factory=build_user_system, **kw))
    # a factory that builds different physics is refused by the workers' fingerprint check
    with pytest.raises(ValueError, match="computes different energies"):
        nq.simulate(mine, USER_PROTO, integ, executor=pool, chunk_traj=250,
                    system_factory=build_other_system, **kw)


def test_user_potential_resume_with_factory_only(pool, tmp_path):
    mine, path = build_user_system(), tmp_path / "user.h5"
    kw = dict(n_traj=900, seed=12, progress=False)
    full = nq.simulate(mine, USER_PROTO, nq.Langevin(dt=0.05), out=path, chunk_traj=300, **kw)
    with h5py.File(path, "r+") as f:
        f["neqsim/progress"][:] = [300, 0, 0, 0]
    with pytest.raises(nq.RunFileError, match="user-defined system"):
        nq.resume(path, executor=pool)
    run = nq.resume(path, executor=pool, system_factory=build_user_system, chunk_traj=200,
                    progress=False)
    assert run.complete
    assert_same_run(full, run)


def _return(x):
    return x


def test_unpicklable_user_system_clear_error_and_threads():
    lock = threading.Lock()  # pickles with neither pickle nor cloudpickle
    mine = build_user_system()
    mine.lock = lock  # e.g. a user attribute holding a lock or an open file
    kw = dict(n_traj=600, seed=8, progress=False)
    with spawn_pool(1) as ex:  # both refused before anything is submitted
        with pytest.raises(TypeError, match="cannot be sent to the executor's workers.*"
                                            "system_factory=build"):
            nq.simulate(mine, USER_PROTO, nq.MALA(dt=0.1), executor=ex, **kw)
        with pytest.raises(TypeError, match="system_factory=.*cannot be pickled"):
            nq.simulate(mine, USER_PROTO, nq.MALA(dt=0.1), executor=ex,
                        system_factory=functools.partial(_return, lock), **kw)
    # a thread pool shares the process: nothing is pickled, and the result is the same
    ref = nq.simulate(mine, USER_PROTO, nq.MALA(dt=0.1), **kw)
    with cf.ThreadPoolExecutor(2) as ex:
        assert_same_run(ref, nq.simulate(mine, USER_PROTO, nq.MALA(dt=0.1), executor=ex,
                                         chunk_traj=100, **kw))


# --- initial states, failures, progress, bounded memory, refusals ----------------------

def test_initial_arrays_equilibrate_and_failures(pool, tmp_path):
    """In memory through shard files (a user's shard_dir); then a run file."""
    system, proto, integ = CASES["underdamped"]
    shards = tmp_path / "shards"
    rng = np.random.default_rng(1)
    x0, v0 = rng.standard_normal((700, 1)), rng.standard_normal((700, 1))
    kw = dict(n_traj=700, seed=3, init=(x0, v0), record_every=15, record_positions=True,
              progress=False)
    assert_same_run(nq.simulate(system, proto, integ, **kw),
                    nq.simulate(system, proto, integ, executor=pool, chunk_traj=99,
                                shard_dir=shards, **kw))
    well = nq.systems.double_well()
    kw = dict(n_traj=500, seed=4, init=nq.Equilibrate(n_steps=30, dt=0.1, start=0.5),
              progress=False)
    proto_w = nq.protocols.linear([2.0, 0.0], [1.0, 1.0], 50)
    ref = nq.simulate(well, proto_w, nq.GHMC(dt=0.2), **kw)
    run = nq.simulate(well, proto_w, nq.GHMC(dt=0.2), executor=pool, chunk_traj=128,
                      shard_dir=shards, **kw)
    assert_same_run(ref, run)
    assert run.info["init_accepted"] == ref.info["init_accepted"] > 0
    # blow-ups: "nan" marks them as the single-process run does; "raise" raises in order
    # and leaves the blocks before the failing one committed
    bad = nq.protocols.linear([2.0, 0.0], [2.0, 0.0], 40)
    hot = nq.EulerMaruyama(dt=0.1)
    kw = dict(n_traj=800, seed=8, progress=False)
    ref = nq.simulate(well, bad, hot, on_failure="nan", **kw)
    assert 0 < ref.failed.sum() < 10 and np.argmax(ref.failed) > 300  # a few, not in block 0
    assert_same_run(ref, nq.simulate(well, bad, hot, on_failure="nan", executor=pool,
                                     chunk_traj=150, shard_dir=shards, **kw))
    assert list(shards.iterdir()) == []
    first_bad = int(np.argmax(ref.failed))
    path = tmp_path / "fail.h5"
    with pytest.raises(nq.IntegrationError, match="energy became NaN/inf") as info:
        nq.simulate(well, bad, hot, executor=pool, chunk_traj=150, out=path, **kw)
    assert info.value.trajectories[0] == first_bad
    part = nq.open_run(path)
    assert part.n_traj == first_bad // 150 * 150 > 0 and not part.complete
    assert np.array_equal(part.work, ref.work[:part.n_traj])


def test_progress_and_in_flight_bound(capsys):
    system, proto, integ = CASES["underdamped"]
    gate, submitted = threading.Event(), []

    class Gated(cf.ThreadPoolExecutor):
        """Block 0 waits for the gate: meanwhile the driver may only fill its window."""
        def submit(self, fn, spec, a, b, *rest):
            submitted.append(a)
            if a == 0:
                return super().submit(lambda: (gate.wait(10), fn(spec, a, b, *rest))[1])
            return super().submit(fn, spec, a, b, *rest)

    with Gated(2) as ex:
        threading.Timer(1.0, lambda: (submitted.append("gate"), gate.set())).start()
        run = nq.simulate(system, proto, integ, executor=ex, chunk_traj=100, progress=True,
                          n_traj=1500, seed=1)
    assert submitted.index("gate") == 4  # 2 x workers in flight, none committed
    assert "1,500/1,500 traj" in capsys.readouterr().err
    assert_same_run(nq.simulate(system, proto, integ, n_traj=1500, seed=1, progress=False),
                    run)


def test_refusals():
    system, proto, integ = CASES["overdamped"]
    with pytest.raises(ValueError, match="system_factory= .* pass executor="):
        nq.simulate(system, proto, integ, n_traj=10, system_factory=build_user_system)
    with pytest.raises(TypeError, match="concurrent.futures.Executor"):
        nq.simulate(system, proto, integ, n_traj=10, executor=object())
    with pytest.raises(ValueError, match="threads_per_worker"):
        nq.simulate(system, proto, integ, n_traj=10, executor=cf.ThreadPoolExecutor(1),
                    threads_per_worker=0)
    nq.simulate(system, proto, integ, n_traj=10, progress=False)  # numba's threads are up
    if numba.threading_layer() == "omp" and "fork" in multiprocessing.get_all_start_methods():
        with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as ex:
            with pytest.raises(ValueError, match="fork.*forkserver"):
                nq.simulate(system, proto, integ, n_traj=10, executor=ex)


# --- shard files --------------------------------------------------------------------------

class Recording(cf.Executor):
    """Records the blocks submitted to ``inner``."""
    def __init__(self, inner):
        self.inner, self.blocks, self._max_workers = inner, [], 2

    def submit(self, fn, spec, a, b, *rows):
        self.blocks.append((a, b))
        return self.inner.submit(fn, spec, a, b, *rows)


class DriverDiesOnFirstBlock(Recording):
    """Block 0 never comes back: once the next ``n_after`` blocks are finished, its future
    fails, as if the driver died waiting for it with later blocks done on the workers."""
    def __init__(self, inner, n_after):
        super().__init__(inner)
        self.n_after, self.later, self.first = n_after, [], cf.Future()

    def submit(self, fn, spec, a, b, *rows):
        if a == 0:
            return self.first
        self.later.append(super().submit(fn, spec, a, b, *rows))
        if len(self.later) == self.n_after:
            threading.Thread(target=self._fail, daemon=True).start()
        return self.later[-1]

    def _fail(self):
        cf.wait(self.later)
        self.first.set_exception(RuntimeError("driver lost"))


def shard_files(root):
    return sorted(root.glob("run-*/block-*.h5"))


def test_shards_merged_in_order_then_removed(pool, tmp_path):
    system, proto, integ = CASES["overdamped"]
    path = tmp_path / "sharded.h5"
    rec = Recording(pool)
    run = nq.simulate(system, proto, integ, out=path, chunk_traj=600, executor=rec,
                      progress=False, **KW)
    assert rec.blocks == [(0, 600), (600, 1200), (1200, 1800), (1800, 2400), (2400, 2500)]
    assert_same_run(reference("overdamped"), run)
    assert not (tmp_path / "sharded.h5.shards").exists()


def test_finished_blocks_survive_the_driver_and_are_not_recomputed(pool, tmp_path):
    """The driver dies waiting for block 0 while blocks 1-3 are finished: they stay as
    shards, and resume (another block size) computes only block 0, a damaged shard and
    the rest, to the bit-identical result."""
    system, proto, integ = CASES["overdamped"]
    path, root = tmp_path / "lost.h5", tmp_path / "lost.h5.shards"
    with pytest.raises(RuntimeError, match="driver lost") as info:
        nq.simulate(system, proto, integ, out=path, chunk_traj=250, progress=False,
                    executor=DriverDiesOnFirstBlock(pool, n_after=3), **KW)
    assert "blocks the workers finished are kept" in "".join(info.value.__notes__)
    with h5py.File(path, "r", locking=False) as f:
        assert f["neqsim/progress"][0] == 0  # nothing committed
    kept = shard_files(root)
    assert [p.name for p in kept] == [f"block-{a:012d}-{a + 250:012d}.h5"
                                      for a in (250, 500, 750)]
    kept[-1].write_bytes(b"not an HDF5 file")  # damaged: must be recomputed, not trusted
    (kept[0].parent / "block-000000001000-000000001250.h5.1234.tmp").write_bytes(b"x")
    rec = Recording(pool)
    run = nq.resume(path, executor=rec, chunk_traj=400, progress=False)
    assert sorted(rec.blocks) == [(0, 250), (750, 1000), (1000, 1400), (1400, 1800),
                                  (1800, 2200), (2200, 2500)]
    assert_same_run(reference("overdamped"), run)
    assert not root.exists()


def test_shard_dir_must_be_shared(tmp_path):
    """A worker whose shard the driver cannot see: one clear error, not a hang or garbage."""
    system, proto, integ = CASES["overdamped"]

    class Elsewhere(cf.ThreadPoolExecutor):
        def submit(self, fn, *args):
            result = fn(*args)
            os.remove(result["shard"])  # as if written on another machine's local disk
            future = cf.Future()
            future.set_result(dict(result, host="node17"))
            return future

    with Elsewhere(1) as ex, pytest.raises(FileNotFoundError,
                                           match="worker on node17 .* cannot see"):
        nq.simulate(system, proto, integ, n_traj=100, executor=ex, progress=False,
                    shard_dir=tmp_path / "shards")
    with pytest.raises(ValueError, match="shard_dir= .* pass executor="):
        nq.simulate(system, proto, integ, n_traj=10, shard_dir="somewhere")


# --- a worker lost mid-run --------------------------------------------------------------

def crash_once(marker, block, delay, fn, spec, a, b, *rest):
    """Runs on a worker: the first attempt at block ``block`` kills its process."""
    if a == block and not os.path.exists(marker):
        open(marker, "w").close()
        time.sleep(delay)  # let the other worker deliver what it has
        os._exit(1)
    return fn(spec, a, b, *rest)


class CrashOnce(cf.Executor):
    def __init__(self, inner, marker, block, delay=0.0):
        self.inner, self.args = inner, (os.fspath(marker), block, delay)
        self._max_workers = 2

    def submit(self, fn, *args):
        return self.inner.submit(crash_once, *self.args, fn, *args)


def test_broken_pool_leaves_prefix_and_resume_completes(tmp_path):
    system, proto, integ = CASES["overdamped"]
    path, chunk = tmp_path / "broken.h5", 250
    with spawn_pool() as ex:
        with pytest.raises(BrokenProcessPool) as info:
            nq.simulate(system, proto, integ, out=path, chunk_traj=chunk, progress=False,
                        executor=CrashOnce(ex, tmp_path / "crashed", 3 * chunk, delay=2.0),
                        **KW)
    assert "nq.resume(path, executor=...)" in "".join(getattr(info.value, "__notes__", []))
    part = nq.open_run(path)  # a valid file holding the committed prefix
    assert not part.complete and 0 < part.n_traj <= 3 * chunk and part.n_traj % chunk == 0
    assert_same_run(reference("overdamped"), part, n=part.n_traj)
    with spawn_pool() as ex:
        run = nq.resume(path, executor=ex, progress=False)
    assert run.complete
    assert_same_run(reference("overdamped"), run)


def test_resume_with_executor_drops_single_process_checkpoint(pool, tmp_path):
    """A file left by a single-process run mid-block (checkpoint) resumes on workers."""
    system, proto, integ = CASES["underdamped"]
    path = tmp_path / "ckpt.h5"
    nq.simulate(system, proto, integ, out=path, chunk_traj=700, progress=False, **KW)
    with h5py.File(path, "r+") as f:
        f["neqsim/progress"][:] = [700, 1400, 60, 1]  # as if killed mid-block 700..1399
        f["observables/totals/work"][700:] = np.nan
    run = nq.resume(path, executor=pool, chunk_traj=300, progress=False)
    assert_same_run(reference("underdamped"), run)


DRIVER = textwrap.dedent("""
    import multiprocessing, sys
    from concurrent.futures import ProcessPoolExecutor
    import neqsim as nq
    if __name__ == "__main__":
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
            nq.simulate(nq.systems.double_well(), nq.protocols.linear([2.0, -0.5],
                        [1.0, 1.0], 400), nq.EulerMaruyama(dt=0.01), n_traj=40_000,
                        seed=99, record_every=50, out=sys.argv[1], chunk_traj=2000,
                        executor=ex, progress=False)
""")


@pytest.mark.slow
def test_sigkilled_driver_resumes_with_executor(pool, tmp_path):
    psutil = pytest.importorskip("psutil")
    script, path = tmp_path / "driver.py", tmp_path / "killed.h5"
    script.write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(script), str(path)])
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists():
                try:
                    with h5py.File(path, "r", locking=False) as f:
                        if f["neqsim/progress"][0] >= 6000:
                            break
                except (OSError, KeyError):
                    pass
            time.sleep(0.005)
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        for child in children:  # the orphaned pool workers of the killed driver
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
    part = nq.open_run(path)
    assert 6000 <= part.n_traj < 40_000 and not part.complete
    run = nq.resume(path, executor=pool, progress=False)
    ref = nq.simulate(nq.systems.double_well(), nq.protocols.linear([2.0, -0.5], [1.0, 1.0], 400),
                      nq.EulerMaruyama(dt=0.01), n_traj=40_000, seed=99, record_every=50,
                      progress=False)
    assert_same_run(ref, run)
    assert not (tmp_path / "killed.h5.shards").exists()


# --- Dask ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_dask_local_cluster_bit_identical_run_file(dask_client, tmp_path):
    path = tmp_path / "big.h5"
    for case, chunk in (("underdamped", 400), ("overdamped", None)):
        system, proto, integ = CASES[case]
        run = nq.simulate(system, proto, integ, out=path, overwrite=True, chunk_traj=chunk,
                          executor=dask_client.get_executor(), progress=False, **KW)
        assert run.complete
        assert_same_run(reference(case), nq.open_run(path))


def test_dask_reschedules_killed_worker(dask_client, tmp_path):
    """In memory, with shards in a directory of the user's: it is left empty."""
    system, proto, integ = CASES["underdamped"]
    marker = tmp_path / "crashed"
    run = nq.simulate(system, proto, integ, chunk_traj=300, progress=False,
                      shard_dir=tmp_path / "shards",
                      executor=CrashOnce(dask_client.get_executor(), marker, 900), **KW)
    assert marker.exists()  # a worker process really died on block 900..1199
    assert_same_run(reference("underdamped"), run)
    assert list((tmp_path / "shards").iterdir()) == []


@pytest.mark.slow
def test_benchmark_smoke():
    """benchmarks/bench_scaleout.py runs and checks its runs agree (not a timed test)."""
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "bench_scaleout.py")
    out = subprocess.run([sys.executable, script, "--n-traj", "4000", "--n-steps", "20",
                          "--repeat", "1", "--no-dask"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "2 workers / 1 worker" in out.stdout and "bit-identical: yes" in out.stdout
