"""The engine benchmark: neqsim against NumPy and the C SIMD limit on the same workloads,
in one run, as ratios (``neqsim bench``; also ``benchmarks/bench_engine.py``).

Workloads (those of ``../shared/perf-reference``; ns per particle-step, W3 per
chain-step):

W1  overdamped dragged trap, Euler-Maruyama: U = (x - lam)^2 / 2, dt = 1e-3, lam 0 -> 5
    over 1000 steps, 100 000 trajectories.
W2  underdamped tilted double well, BAOAB: U = (x^2 - 1)^2 - lam x, dt = 0.01, lam 0 -> 1
    over 1000 steps, 100 000 trajectories.
W3  AIS, random-walk Metropolis in d = 10 from N(0, I) to N(1, 0.25 I) on the geometric
    path, 200 temperatures t_j = j / 200, step 2.38 / sqrt(d (1 + 3 t_j)), 10 000 chains.

Contenders: neqsim's default path (no options; it also computes heat, path work and
failure checks, which the others do not); NumPy vectorized over trajectories with
in-place ufuncs (written here, single-threaded like all NumPy); and, when the
perf-reference folder and a C compiler are present, its C SIMD kernels (the practical
limit) and its tuned NumPy, run as subprocesses in the same window. Each contender runs
``--runs`` times; the table gives min and median. Compile and cache-load times are
measured in fresh processes.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

__all__ = ["main", "run_benchmark", "find_reference"]

W = {"W1": dict(n=100_000, steps=1000), "W2": dict(n=100_000, steps=1000),
     "W3": dict(n=10_000, steps=200, d=10)}


# --- the workloads in neqsim ------------------------------------------------------------

def _w1(n, steps):
    import neqsim as nq
    trap = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [5.0, 1.0], steps)
    x0 = np.random.default_rng(12345).standard_normal((n, 1))
    integ = nq.EulerMaruyama(dt=1e-3)
    return lambda: nq.simulate(trap, proto, integ, n, seed=11, init=x0, progress=False)


def _w2(n, steps):
    import neqsim as nq
    well = nq.systems.double_well()
    proto = nq.protocols.linear([2.0, 0.0], [2.0, 1.0], steps)  # (x^2-1)^2 - lam x, up to 1
    rng = np.random.default_rng(12346)
    x0, v0 = rng.standard_normal((n, 1)), rng.standard_normal((n, 1))
    integ = nq.Langevin(dt=0.01)
    return lambda: nq.simulate(well, proto, integ, n, seed=12, init=(x0, v0), progress=False)


def w3_steps(steps, d=10, sigma=0.5):
    t = np.arange(steps + 1) / steps
    return 2.38 / math.sqrt(d) / np.sqrt(1.0 + (1.0 / sigma**2 - 1.0) * t)


def _w3(n, steps, d):
    import neqsim as nq
    gp = nq.targets.gaussian_path(d, 1.0, 0.5)
    f0, fN = nq.log_density(gp.log_f0, name="f0"), nq.log_density(gp.log_fN, name="fN")
    x0 = np.random.default_rng(12347).standard_normal((n, d))
    kernel = nq.kernels.RandomWalk(w3_steps(steps, d))
    kw = dict(path="geometric", initial=x0, schedule=nq.schedules.uniform(steps),
              kernel=kernel, n_chains=n, seed=13, progress=False, warn=False, n_bootstrap=0)
    return lambda: nq.ais(f0, fN, **kw)


# --- the same workloads in NumPy (in place, single-threaded) ----------------------------

def numpy_w1(n, steps, rng):
    x = np.random.default_rng(12345).standard_normal(n)
    dt, dl = 1e-3, 5.0 / steps
    c2 = math.sqrt(2 * dt)
    W, z, t = np.zeros(n), np.empty(n), np.empty(n)
    for s in range(steps):
        l0, l1 = dl * s, dl * (s + 1)
        np.subtract(x, 0.5 * (l0 + l1), out=t)
        t *= l0 - l1
        W += t
        rng.standard_normal(out=z)
        z *= c2
        np.subtract(x, l1, out=t)
        t *= -dt
        x += t
        x += z
    return W


def numpy_w2(n, steps, rng):
    r = np.random.default_rng(12346)
    x, v = r.standard_normal(n), r.standard_normal(n)
    dt, dl, h = 0.01, 1.0 / steps, 0.005
    a = math.exp(-dt)
    b = math.sqrt(1 - a * a)
    W, Q = np.zeros(n), np.zeros(n)
    z, f, k0 = np.empty(n), np.empty(n), np.empty(n)

    def force(l1):  # f = h F(x) = h (-4 x (x^2 - 1) + l1), in place
        np.multiply(x, x, out=f)
        np.subtract(f, 1.0, out=f)
        np.multiply(f, x, out=f)
        np.multiply(f, -4.0, out=f)
        np.add(f, l1, out=f)
        np.multiply(f, h, out=f)

    for s in range(steps):
        l1 = dl * (s + 1)
        W -= dl * x
        force(l1)
        v += f
        x += h * v
        np.multiply(v, v, out=k0)
        rng.standard_normal(out=z)
        v *= a
        z *= b
        v += z
        Q += 0.5 * (v * v - k0)
        x += h * v
        force(l1)
        v += f
    return W, Q


def numpy_w3(n, steps, d, rng):
    x = np.random.default_rng(12347).standard_normal((n, d))
    eps = w3_steps(steps, d)
    logw = np.zeros(n)
    f0 = -0.5 * np.sum(x * x, axis=1)
    f1 = -2.0 * np.sum((x - 1.0) ** 2, axis=1)
    for j in range(1, steps + 1):
        t, dt = j / steps, 1.0 / steps
        logw += dt * (f1 - f0)
        y = x + eps[j] * rng.standard_normal((n, d))
        g0 = -0.5 * np.sum(y * y, axis=1)
        g1 = -2.0 * np.sum((y - 1.0) ** 2, axis=1)
        acc = np.log(rng.random(n)) < (1.0 - t) * (g0 - f0) + t * (g1 - f1)
        x[acc] = y[acc]
        f0[acc] = g0[acc]
        f1[acc] = g1[acc]
    return logw


# --- the perf-reference ------------------------------------------------------------------

def find_reference(path=None):
    """The perf-reference folder: ``path``, $NEQSIM_PERF_REFERENCE, or ../shared/
    perf-reference next to the working directory or the source tree; None if absent."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [path, os.environ.get("NEQSIM_PERF_REFERENCE"),
                  os.path.join(os.getcwd(), "..", "shared", "perf-reference"),
                  os.path.join(here, "..", "..", "..", "..", "shared", "perf-reference")]
    for c in candidates:
        if c and os.path.exists(os.path.join(c, "bench_c.py")):
            return os.path.abspath(c)
    return None


def _reference(ref, script, workloads, reps, log):
    """RESULT records of a perf-reference script (None if it cannot run here)."""
    if ref is None:
        return None
    if script == "bench_c.py" and not (shutil.which("gcc") or shutil.which("cc")):
        log("perf-reference: no C compiler, C SIMD limit skipped")
        return None
    cmd = [sys.executable, script, "--workloads", ",".join(workloads), "--reps", str(reps)]
    try:
        out = subprocess.run(cmd, cwd=ref, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        log(f"perf-reference {script} failed: {e}")
        return None
    recs = [json.loads(line[7:]) for line in out.stdout.splitlines()
            if line.startswith("RESULT ")]
    if out.returncode != 0 or not recs:
        log(f"perf-reference {script} failed: {out.stderr.strip()[-300:]}")
        return None
    return recs


# --- compile and cache-load times --------------------------------------------------------

_FIRST = textwrap.dedent("""
    import sys, time
    t0 = time.perf_counter()
    import numpy as np
    import neqsim as nq
    t1 = time.perf_counter()
    c = float(sys.argv[1])
    def energy(x, lam):
        return c * x[0] ** 4 - lam[0] * x[0] ** 2 - lam[1] * x[0]
    def gradient(x, lam, out):
        out[0] = 4.0 * c * x[0] ** 3 - 2.0 * lam[0] * x[0] - lam[1]
    system = nq.from_functions(energy, gradient, dim=1, n_controls=2)
    proto = nq.protocols.linear([2.0, 0.0], [2.0, 1.0], 100)
    nq.simulate(system, proto, nq.Langevin(dt=0.01), n_traj=100, seed=0, progress=False)
    t2 = time.perf_counter()
    print("TIMES", t1 - t0, t2 - t1, t2 - t0)
""")


def compile_times(log):
    """Seconds: (a) first simulate of a new user potential in a fresh process, package
    kernels cached; (b) the same potential in a second process, total with import;
    (c) a fresh process with an empty cache, total with import."""
    env = dict(os.environ)
    coef = f"{1.0 + (time.time_ns() % 10**6) * 1e-9:.12f}"  # a potential never seen
    with tempfile.TemporaryDirectory() as cold, tempfile.TemporaryDirectory() as warm, \
            tempfile.TemporaryDirectory() as src:
        script = os.path.join(src, "first_simulate.py")  # one file: the same potential
        with open(script, "w") as f:
            f.write(_FIRST)

        def run(cache, c):
            out = subprocess.run([sys.executable, script, c], capture_output=True,
                                 text=True, timeout=600, env=dict(env, NUMBA_CACHE_DIR=cache))
            line = [ln for ln in out.stdout.splitlines() if ln.startswith("TIMES")]
            if not line:
                raise RuntimeError(out.stderr[-500:])
            return [float(v) for v in line[0].split()[1:]]
        cold_run = run(cold, coef)                  # everything compiles
        run(warm, "1.5")                            # the package's kernels, cached
        new = run(warm, coef)                       # a new potential
        again = run(warm, coef)                     # the same, second process
    return {"new_potential_first_simulate_s": new[1], "new_potential_total_s": new[2],
            "second_process_total_s": again[2], "second_process_simulate_s": again[1],
            "import_s": again[0], "cold_total_s": cold_run[2]}


# --- the run -------------------------------------------------------------------------------

def _timed(fn, runs):
    fn()  # warm: compile or load, and the pages
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def run_benchmark(workloads=("W1", "W2", "W3"), runs=5, reference=None, quick=False,
                  compile=True, log=print):
    import numba

    import neqsim as nq
    sizes = {k: dict(v) for k, v in W.items()}
    if quick:
        for v in sizes.values():
            v["n"] = max(v["n"] // 50, 200)
    ref = find_reference(reference)
    rows = {}
    for w in workloads:
        p = sizes[w]
        units = p["n"] * p["steps"]
        fn = {"W1": lambda: _w1(p["n"], p["steps"]), "W2": lambda: _w2(p["n"], p["steps"]),
              "W3": lambda: _w3(p["n"], p["steps"], p["d"])}[w]()
        t = _timed(fn, runs)
        npfn = {"W1": lambda: numpy_w1(p["n"], p["steps"], np.random.default_rng(1)),
                "W2": lambda: numpy_w2(p["n"], p["steps"], np.random.default_rng(2)),
                "W3": lambda: numpy_w3(p["n"], p["steps"], p["d"], np.random.default_rng(3))}[w]
        tn = _timed(npfn, max(1, min(runs, 3)))
        rows[w] = {"neqsim": [x / units * 1e9 for x in t],
                   "numpy": [x / units * 1e9 for x in tn]}
        log(f"{w}: neqsim {min(rows[w]['neqsim']):.3f}, numpy {min(rows[w]['numpy']):.3f} ns")
    if ref is not None and not quick:
        for script, name in (("bench_c.py", "c-simd"), ("bench_numpy.py", "numpy-tuned")):
            recs = _reference(ref, script, workloads, runs, log)
            for r in recs or ():
                # the tuned NumPy of W3 is named plain "numpy" there (it has one version)
                alias = "numpy-tuned" if (r["contender"], r["workload"]) == ("numpy", "W3") \
                    else r["contender"]
                if alias == name and r["workload"] in rows and (
                        name != "c-simd" or r["threads"] == max(
                            q["threads"] for q in recs if q["contender"] == name)):
                    rows[r["workload"]]["ref_" + name] = r["ns_min"], r["ns_med"]
    comp = compile_times(log) if compile else None
    return {"threads": numba.get_num_threads(), "version": nq.__version__,
            "numba": numba.__version__, "rows": rows, "compile": comp, "reference": ref,
            "sizes": sizes}


def format_report(res):
    lines = [f"neqsim {res['version']} (numba {res['numba']}, {res['threads']} threads); "
             "ns per particle-step (W3: per chain-step), min / median of the runs"]
    head = (f"{'workload':9s} {'neqsim':>15s} {'NumPy':>15s} {'x NumPy':>8s} "
            f"{'NumPy-tuned (ref)':>18s} {'x':>6s} {'C SIMD (ref)':>14s} {'/ C':>6s}")
    lines += [head, "-" * len(head)]
    for w, r in res["rows"].items():
        nq_min, nq_med = min(r["neqsim"]), statistics.median(r["neqsim"])
        np_min, np_med = min(r["numpy"]), statistics.median(r["numpy"])
        ref_np = r.get("ref_numpy-tuned")
        ref_c = r.get("ref_c-simd")
        lines.append(
            f"{w:9s} {nq_min:7.3f} / {nq_med:5.3f} {np_min:7.2f} / {np_med:5.2f} "
            f"{np_min / nq_min:7.1f}x "
            + (f"{ref_np[0]:10.2f} / {ref_np[1]:5.2f} {ref_np[0] / nq_min:5.1f}x "
               if ref_np else f"{'-':>18s} {'-':>6s} ")
            + (f"{ref_c[0]:6.3f} / {ref_c[1]:5.3f} {nq_min / ref_c[0]:5.2f}x" if ref_c
               else f"{'-':>14s} {'-':>6s}"))
    c = res.get("compile")
    if c:
        lines.append("")
        lines.append(f"compile: a new user potential's first simulate {c['new_potential_first_simulate_s']:.2f} s "
                     f"(process total {c['new_potential_total_s']:.2f} s with the package's kernels cached); "
                     f"the same potential in a second process {c['second_process_total_s']:.2f} s total "
                     f"(import {c['import_s']:.2f} s, simulate {c['second_process_simulate_s']:.2f} s); "
                     f"a fresh process with an empty cache {c['cold_total_s']:.2f} s")
    lines.append("x NumPy: speed-up over the NumPy version written here; x: over the "
                 "perf-reference's tuned NumPy; / C: neqsim's time over the C SIMD limit")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="neqsim bench", description=__doc__.splitlines()[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default="W1,W2,W3", help="comma-separated: W1,W2,W3")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per contender")
    ap.add_argument("--reference", help="the perf-reference folder (default: found)")
    ap.add_argument("--quick", action="store_true", help="small sizes, no reference")
    ap.add_argument("--no-compile", action="store_true", help="skip compile-time runs")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args(argv)
    wl = [w.strip().upper() for w in a.workloads.split(",") if w.strip()]
    bad = [w for w in wl if w not in W]
    if bad:
        raise ValueError(f"unknown workload(s) {bad}; choose from {sorted(W)}")
    res = run_benchmark(wl, a.runs, a.reference, a.quick, not a.no_compile,
                        log=lambda *m: print(*m, file=sys.stderr, flush=True))
    print(format_report(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
