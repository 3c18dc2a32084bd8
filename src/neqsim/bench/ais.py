"""AIS throughput: neqsim's random-walk Metropolis AIS against a vectorized NumPy version of
the same algorithm, in one run (issue 5). Target on a 2-core machine: >= 5x.

    python benchmarks/bench_ais.py [--n-chains 10000] [--n-temps 200] [--dim 10]

From f_0 = N(0, I) to f_N = N(1, 0.5^2 I) in d dimensions on the geometric path
f_t = f_0^(1-t) f_N^t, 200 geometric temperatures, one random-walk Metropolis move of
step 0.4 per temperature, 10 000 chains; exact log Z_N/Z_0 = d log 0.5. Reports ns per
chain-step (a chain-step = one switch + one move), compile time separately, and each
estimate's error against the exact value in units of its standard error.
"""
import argparse
import math
import time
import warnings

import numba
import numpy as np

import neqsim as nq

STEP = 0.4  # about 2.38 sd / sqrt(d) at the target (sd 0.5): the usual RWM choice


def numpy_ais(x, t, step, rng):
    """Vectorized AIS with the same path, switch work and RWM move."""
    def log_f0(x):
        return -0.5 * np.sum(x * x, axis=1)

    def log_fn(x):
        return -0.5 * np.sum((x - 1.0) ** 2, axis=1) / 0.25

    logw = np.zeros(x.shape[0])
    l0, l1 = log_f0(x), log_fn(x)
    for k in range(1, t.size):
        logw += (t[k] - t[k - 1]) * (l1 - l0)
        y = x + step * rng.standard_normal(x.shape)
        m0, m1 = log_f0(y), log_fn(y)
        log_a = (1 - t[k]) * (m0 - l0) + t[k] * (m1 - l1)
        acc = np.log(rng.random(x.shape[0])) < log_a
        x = np.where(acc[:, None], y, x)
        l0 = np.where(acc, m0, l0)
        l1 = np.where(acc, m1, l1)
    return logw


def timed(fn, repeat):
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-chains", type=int, default=10_000)
    ap.add_argument("--n-temps", type=int, default=200)
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    n, N, d = args.n_chains, args.n_temps, args.dim
    gp = nq.testsystems.gaussian_path(d, 1.0, 0.5)
    f0 = nq.log_density(gp.log_f0, name="f0")
    fN = nq.log_density(gp.log_fN, name="fN")
    sched = nq.schedules.geometric(N)
    x0 = gp.sample0(n, np.random.default_rng(0))
    kernel = nq.kernels.RandomWalk(STEP)
    # n_bootstrap=0: time the sampling, as the NumPy version does (the bootstrap interval
    # of the estimate costs ~30 ms more at 10 000 chains)
    kw = dict(path="geometric", initial=x0, schedule=sched, kernel=kernel, n_chains=n, seed=1,
              progress=False, warn=False, n_bootstrap=0)
    compile_s = {}
    for spec in (False, True):
        t = time.perf_counter()
        nq.ais(f0, fN, **dict(kw, n_chains=8, initial=x0[:8], specialize=spec))
        compile_s[spec] = time.perf_counter() - t
    times, results = {}, {}
    for spec in (False, True):
        times[spec], results[spec] = timed(lambda: nq.ais(f0, fN, specialize=spec, **kw),
                                           args.repeat)
    times["numpy"], lw_np = timed(
        lambda: numpy_ais(x0.copy(), sched.values[:, 0], STEP, np.random.default_rng(2)),
        args.repeat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est_np = nq.analysis.ais_log_z(lw_np, n_bootstrap=0)
    exact = gp.log_ratio
    steps = n * N
    print(f"neqsim {nq.__version__}, numba {numba.__version__} with "
          f"{numba.get_num_threads()} threads, numpy {np.__version__}; {n} chains x {N} "
          f"temperatures, d = {d}, RWM step {STEP}, best of {args.repeat}")
    print(f"{'version':22s} {'ns/chain-step':>14s} {'speed-up':>9s} {'compile s':>10s} "
          f"{'log Z':>9s} {'error':>8s} {'+- s.e.':>9s} {'ESS':>8s}  status")
    rows = [("numpy (vectorized)", times["numpy"], None, est_np)]
    rows += [(label, times[spec], compile_s[spec], results[spec].estimate)
             for spec, label in ((False, "neqsim generic"), (True, "neqsim specialize=True"))]
    for label, t, comp, est in rows:
        print(f"{label:22s} {t / steps * 1e9:14.2f} {times['numpy'] / t:8.1f}x "
              f"{'-' if comp is None else f'{comp:.2f}':>10s} {est.log_z:9.4f} "
              f"{est.log_z - exact:+8.4f} {est.std_error:9.3g} {est.ess:8.1f}  "
              f"{'reliable' if est.reliable else 'UNRELIABLE'}")
    print(f"exact log Z_N/Z_0 = d log 0.5 = {exact:.4f}. Timings include neqsim's per-call "
          "set-up (run assembly, estimate); compile s = first call (generic: cache load + "
          "compiling the path density, once per process)")


if __name__ == "__main__":
    main()
