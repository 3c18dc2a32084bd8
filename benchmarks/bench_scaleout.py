"""Scale-out throughput: trajectory-steps per second with 1 and 2 workers.

The same workload (default: 200,000 trajectories x 2,000 Euler-Maruyama steps of the
dragged harmonic trap) through ``nq.simulate(..., executor=...)`` with a spawn-context
``ProcessPoolExecutor`` and, if Dask is installed, a ``dask.distributed.LocalCluster``
(processes, one thread each), each worker using one numba thread. Worker start-up
(spawning, importing neqsim, loading the kernels) is done by a small warm-up run and
reported separately; the timed runs measure steady-state throughput. Every run's work
values are checked bit for bit against the first one.

    python benchmarks/bench_scaleout.py                  # the default workload
    python benchmarks/bench_scaleout.py --n-traj 50000 --n-steps 500 --repeat 1
    python benchmarks/bench_scaleout.py --run-file      # also: into a run file, with and
                                                        # without shard files

Run it on an otherwise idle machine: other processes competing for the cores lower the
2-worker number first. Target: ratio >= 1.6 on 2 cores.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import os
import platform
import tempfile
import time

import numpy as np

import neqsim as nq


def workload(n_traj, n_steps):
    system = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [3.0, 1.0], n_steps)
    return system, proto, nq.EulerMaruyama(dt=1e-3)


def load():
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def _warm(seconds):
    """On a worker: load neqsim's kernels, then stay busy so the next task goes elsewhere."""
    system, proto, integ = workload(100, 10)
    nq.simulate(system, proto, integ, n_traj=100, seed=0, progress=False)
    time.sleep(seconds)
    return os.getpid()


def warm_up(ex, n):
    """Start every worker (spawn, import, kernels) before timing: one busy task each."""
    pids = set(ex.map(_warm, [1.0] * n))
    if len(pids) < n:
        print(f"  (warm-up reached {len(pids)} of {n} workers)")


def timed(run, repeat):
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-traj", type=int, default=200_000)
    ap.add_argument("--n-steps", type=int, default=2_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per setting (best)")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster")
    ap.add_argument("--run-file", action="store_true",
                    help="also time the largest ProcessPoolExecutor writing a run file, with "
                         "shard files (the default) and with shard_dir=None")
    ap.add_argument("--record-every", type=int, default=0,
                    help="record W, Q and positions every that many steps (traces travel "
                         "with the blocks: shards keep them out of the executor)")
    args = ap.parse_args(argv)
    system, proto, integ = workload(args.n_traj, args.n_steps)
    work = args.n_traj * args.n_steps
    kw = dict(n_traj=args.n_traj, seed=7, progress=False, record_every=args.record_every,
              record_positions=args.record_every > 0)
    small = dict(n_traj=2_000, seed=1, progress=False)
    print(f"neqsim scale-out: {args.n_traj:,} trajectories x {args.n_steps:,} EM steps "
          f"(harmonic trap) = {work:.3g} trajectory-steps")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs visible, "
          f"load average {load()}")

    rows, reference = [], None

    def record(kind, n, startup, seconds, run):
        nonlocal reference
        if reference is None:
            reference = run.work
        assert np.array_equal(run.work, reference), f"{kind} x{n}: results differ"
        rows.append((kind, n, startup, seconds, work / seconds))
        print(f"  {kind:<22} workers={n}  start-up {startup:6.2f} s  run {seconds:7.2f} s  "
              f"{work / seconds / 1e6:8.1f} M traj-steps/s", flush=True)

    t, run = timed(lambda: nq.simulate(system, proto, integ, n_threads=1, **kw), args.repeat)
    record("in-process, 1 thread", 1, 0.0, t, run)

    ctx = multiprocessing.get_context("spawn")
    for n in args.workers:
        t0 = time.perf_counter()
        with cf.ProcessPoolExecutor(n, mp_context=ctx) as ex:
            warm_up(ex, n)
            nq.simulate(system, proto, integ, executor=ex, **small)
            startup = time.perf_counter() - t0
            t, run = timed(lambda: nq.simulate(system, proto, integ, executor=ex, **kw),
                           args.repeat)
            record("ProcessPoolExecutor", n, startup, t, run)
            if args.run_file and n == max(args.workers):
                with tempfile.TemporaryDirectory() as tmp:
                    out = os.path.join(tmp, "bench.h5")
                    for label, shard_dir in (("run file, shards", "auto"),
                                             ("run file, no shards", None)):
                        t, run = timed(lambda: nq.simulate(
                            system, proto, integ, executor=ex, out=out, overwrite=True,
                            shard_dir=shard_dir, **kw), args.repeat)
                        record(label, n, startup, t, run)

    if not args.no_dask:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            print("  (dask.distributed not installed: skipping the LocalCluster)")
        else:
            for n in args.workers:
                t0 = time.perf_counter()
                with LocalCluster(n_workers=n, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, Client(cluster) as client:
                    ex = client.get_executor(pure=False)
                    warm_up(ex, n)
                    nq.simulate(system, proto, integ, executor=ex, **small)
                    startup = time.perf_counter() - t0
                    t, run = timed(lambda: nq.simulate(system, proto, integ, executor=ex,
                                                       **kw), args.repeat)
                record("dask LocalCluster", n, startup, t, run)

    print("\nscaling (throughput relative to the same executor with 1 worker):")
    for kind in ("ProcessPoolExecutor", "dask LocalCluster"):
        base = {n: r for k, n, _, _, r in rows if k == kind}
        if 1 in base:
            for n in sorted(base):
                if n > 1:
                    print(f"  {kind:<22} {n} workers / 1 worker = {base[n] / base[1]:.2f}x")
    print("all runs bit-identical: yes")
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
