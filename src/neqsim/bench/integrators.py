"""Integrator throughput: neqsim kernels against a vectorized NumPy version of the same
workload, in one run (issue 2). Reports ns per particle-step, compile time separately,
and the speed-up over NumPy. Target on a 2-core machine: >= 5x on both workloads.

    python benchmarks/bench_integrators.py [--n-traj 100000] [--n-steps 1000]

(a) overdamped Euler-Maruyama, dragged harmonic trap, k = gamma = kT = 1, dt = 1e-3,
    lam 0 -> 5; both versions compute W, Q and the path-ratio work W_path.
(b) underdamped BAOAB in U = (x^2 - 1)^2 - lam x, m = gamma = kT = 1, dt = 0.01,
    lam 0 -> 1; both versions compute W, Q and the shadow work.
Initial conditions are drawn outside the timed region in both.
"""
import argparse
import math
import time

import numba
import numpy as np

import neqsim as nq


def numpy_em_trap(x, lam, dt, gamma, beta, rng):
    """Vectorized EM in U = (x - lam)^2 / 2 with W, Q and W_path (same formulas)."""
    mu_dt = dt / gamma
    sig = math.sqrt(2 * dt / (beta * gamma))
    W = np.zeros_like(x)
    Q = np.zeros_like(x)
    P = np.zeros_like(x)
    u = 0.5 * (x - lam[0]) ** 2
    for k in range(1, lam.shape[0]):
        un = 0.5 * (x - lam[k]) ** 2
        w = un - u
        W += w
        P += w
        z = rng.standard_normal(x.shape[0])
        y = x - mu_dt * (x - lam[k]) + sig * z
        uy = 0.5 * (y - lam[k]) ** 2
        r = x - y + mu_dt * (y - lam[k])
        q = uy - un
        Q += q
        P += q + (-0.5 * z * z + r * r * (beta * gamma / (4 * dt))) / beta
        x = y
        u = uy
    return W, Q, P


def numpy_baoab_dw(x, v, lam, dt, gamma, mass, beta, rng):
    """Vectorized BAOAB ("V R O R V") in U = (x^2 - 1)^2 - lam x with W, Q, shadow work."""
    def U(x, l):
        return (x * x - 1) ** 2 - l * x

    def F(x, l):
        return -(4 * x * (x * x - 1) - l)

    a = math.exp(-gamma * dt / mass)
    sd = math.sqrt((1 - a * a) / (beta * mass))
    W = np.zeros_like(x)
    Q = np.zeros_like(x)
    S = np.zeros_like(x)
    u = U(x, lam[0])
    for k in range(1, lam.shape[0]):
        un = U(x, lam[k])
        W += un - u
        f = F(x, lam[k])
        k0 = 0.5 * mass * v * v
        v = v + 0.5 * dt * f / mass
        x = x + 0.5 * dt * v
        k1 = 0.5 * mass * v * v
        v = a * v + sd * rng.standard_normal(x.shape[0])
        k2 = 0.5 * mass * v * v
        x = x + 0.5 * dt * v
        u = U(x, lam[k])
        f = F(x, lam[k])
        v = v + 0.5 * dt * f / mass
        k3 = 0.5 * mass * v * v
        Q += k2 - k1
        S += (k1 - k0) + (k3 - k2) + (u - un)
    return W, Q, S


def timed(fn, repeat):
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _workload(name, system, proto, integ, seed, numpy_fn, repeat, rows):
    short = nq.protocols.Protocol(proto.values[:3])
    times = {}
    for spec in (False, True):
        t = time.perf_counter()
        nq.simulate(system, short, integ, n_traj=4, seed=0, specialize=spec)
        times[f"compile_{spec}"] = time.perf_counter() - t
    warm = nq.simulate(system, proto, integ, n_traj=10, seed=seed)
    n = numpy_fn.n
    full = nq.simulate(system, proto, integ, n_traj=n, seed=seed, specialize=False)
    init = full.x0 if full.v0 is None else (full.x0, full.v0)  # same start for every version
    del warm
    for spec in (False, True):
        times[spec], run = timed(lambda: nq.simulate(system, proto, integ, n_traj=n, seed=seed,
                                                     init=init, specialize=spec), repeat)
    times["numpy"], w_np = timed(lambda: numpy_fn(full), repeat)
    rows.append((name, times, run.work.mean(), w_np.mean()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-traj", type=int, default=100_000)
    ap.add_argument("--n-steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    n, N = args.n_traj, args.n_steps
    rows = []

    trap = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [5.0, 1.0], N)

    def np_a(full):
        return numpy_em_trap(full.x0[:, 0].copy(), proto.values[:, 0], 1e-3, 1.0, 1.0,
                             np.random.default_rng(1))[0]
    np_a.n = n
    _workload("(a) EM dragged trap", trap, proto, nq.EulerMaruyama(dt=1e-3, gamma=1.0), 1,
              np_a, args.repeat, rows)

    dw = nq.systems.double_well()
    proto_b = nq.protocols.linear([2.0, 0.0], [2.0, 1.0], N)

    def np_b(full):
        return numpy_baoab_dw(full.x0[:, 0].copy(), full.v0[:, 0].copy(), proto_b.values[:, 1],
                              0.01, 1.0, 1.0, 1.0, np.random.default_rng(2))[0]
    np_b.n = n
    _workload("(b) BAOAB double well", dw, proto_b,
              nq.Langevin(dt=0.01, gamma=1.0, mass=1.0, splitting="V R O R V"), 2,
              np_b, args.repeat, rows)

    steps = n * N
    print(f"neqsim {nq.__version__}, numba {numba.__version__} with "
          f"{numba.get_num_threads()} threads, numpy {np.__version__}; "
          f"{n} trajectories x {N} steps, best of {args.repeat}")
    print(f"{'workload':24s} {'numpy':>7s} {'generic':>8s} {'x':>5s} {'special.':>8s} "
          f"{'x':>5s} {'compile s (gen/spec)':>21s} {'<W> nq':>8s} {'<W> np':>8s}")
    for name, t, wn, wp in rows:
        ns = {k: t[k] / steps * 1e9 for k in (False, True, "numpy")}
        print(f"{name:24s} {ns['numpy']:7.2f} {ns[False]:8.2f} {t['numpy'] / t[False]:4.1f}x "
              f"{ns[True]:8.2f} {t['numpy'] / t[True]:4.1f}x "
              f"{t['compile_False']:10.2f} / {t['compile_True']:6.2f}   {wn:8.4f} {wp:8.4f}")
    print("columns: ns per particle-step (wall time / (n_traj * n_steps)) and speed-up over "
          "NumPy; generic = cached kernel, potential called through a pointer; special. = "
          "specialize=True, potential inlined (compiled once per process). compile s = "
          "first call (generic: numba cache load)")


if __name__ == "__main__":
    main()
