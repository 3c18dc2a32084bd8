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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-traj", type=int, default=100_000)
    ap.add_argument("--n-steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    n, N = args.n_traj, args.n_steps
    steps = n * N
    rows = []

    # (a) overdamped dragged trap
    trap = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [5.0, 1.0], N)
    em = nq.EulerMaruyama(dt=1e-3, gamma=1.0)
    t = time.perf_counter()
    nq.simulate(trap, nq.protocols.linear([0.0, 1.0], [5.0, 1.0], 2), em, n_traj=4, seed=0)
    compile_a = time.perf_counter() - t
    x0 = nq.simulate(trap, proto, em, n_traj=n, seed=1).x0  # warm, and a shared start
    t_nq, run = timed(lambda: nq.simulate(trap, proto, em, n_traj=n, seed=1, init=x0),
                      args.repeat)
    rng = np.random.default_rng(1)
    t_np, (W, Q, P) = timed(lambda: numpy_em_trap(x0[:, 0].copy(), proto.values[:, 0], 1e-3,
                                                  1.0, 1.0, rng), args.repeat)
    rows.append(("(a) EM dragged trap", compile_a, t_nq, t_np, run.work.mean(), W.mean()))

    # (b) underdamped BAOAB in a tilted double well
    dw = nq.systems.double_well()
    proto_b = nq.protocols.linear([2.0, 0.0], [2.0, 1.0], N)
    lang = nq.Langevin(dt=0.01, gamma=1.0, mass=1.0, splitting="V R O R V")
    t = time.perf_counter()
    nq.simulate(dw, nq.protocols.linear([2.0, 0.0], [2.0, 1.0], 2), lang, n_traj=4, seed=0)
    compile_b = time.perf_counter() - t
    warm = nq.simulate(dw, proto_b, lang, n_traj=n, seed=2)
    xv = (warm.x0, warm.v)
    t_nq_b, run_b = timed(lambda: nq.simulate(dw, proto_b, lang, n_traj=n, seed=2, init=xv),
                          args.repeat)
    t_np_b, (Wb, Qb, Sb) = timed(lambda: numpy_baoab_dw(
        warm.x0[:, 0].copy(), warm.v[:, 0].copy(), proto_b.values[:, 1], 0.01, 1.0, 1.0, 1.0,
        np.random.default_rng(2)), args.repeat)
    rows.append(("(b) BAOAB double well", compile_b, t_nq_b, t_np_b, run_b.work.mean(),
                 Wb.mean()))

    print(f"neqsim {nq.__version__}, numba {numba.__version__} with "
          f"{numba.get_num_threads()} threads, numpy {np.__version__}; "
          f"{n} trajectories x {N} steps, best of {args.repeat}")
    print(f"{'workload':24s} {'compile s':>9s} {'neqsim ns':>10s} {'numpy ns':>9s} "
          f"{'speed-up':>8s} {'<W> nq':>9s} {'<W> np':>9s}")
    for name, c, tn, tp, wn, wp in rows:
        print(f"{name:24s} {c:9.2f} {tn / steps * 1e9:10.2f} {tp / steps * 1e9:9.2f} "
              f"{tp / tn:7.1f}x {wn:9.4f} {wp:9.4f}")
    print("ns = wall time per particle-step; compile s = first call incl. numba cache load")


if __name__ == "__main__":
    main()
