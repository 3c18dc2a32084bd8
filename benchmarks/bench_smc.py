"""SMC for the evidence: neqsim (numba densities, and batched NumPy densities) against
blackjax's adaptive tempered SMC on the same problem, as log Z error at equal wall time.

Problem: the README's Gaussian model in d dimensions (prior N(0, I), one observation
y_j = 1 of each x_j with noise sd 0.5), exact log Z = d [-1/2 ln(2 pi 1.25) - 0.4]
(-71.5255 at d = 50). Every method: N particles, adaptive tempering at the same target
(conditional) ESS, MALA moves, R seeded runs. Reported per method: wall time per run
(compilation excluded: one warm-up run first), the root-mean-square error of log Z over
the runs, and that error at equal wall time, rmse * sqrt(t / t_ref) (a Monte Carlo error
falls as 1/sqrt(cost), so this is what the method would reach in the reference's time).

    python benchmarks/bench_smc.py                   # d = 50, N = 2000, 5 runs each
    python benchmarks/bench_smc.py --d 10 --runs 10

blackjax (and jax) are optional: ``pip install blackjax``; without it that row is
skipped. The numba path is the fast path; the batched row shows what a model written in
NumPy costs (one call of the user's function per move, vectorized over particles).
"""
from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np

import neqsim as nq


def exact_log_z(d):
    return d * (-0.5 * math.log(2 * math.pi * 1.25) - 0.4)


@nq.log_density
def log_prior(x, grad):
    s = 0.0
    for j in range(x.shape[0]):
        grad[j] = -x[j]
        s += x[j] * x[j]
    return -0.5 * s - 0.5 * x.shape[0] * np.log(2 * np.pi)


@nq.log_density
def log_likelihood(x, grad):
    s = 0.0
    for j in range(x.shape[0]):
        r = 1.0 - x[j]
        grad[j] = r / 0.25
        s += r * r
    return -0.5 * s / 0.25 - 0.5 * x.shape[0] * np.log(2 * np.pi * 0.25)


def numpy_model(d):
    def lp(X):
        return -0.5 * np.sum(X * X, axis=1) - 0.5 * d * math.log(2 * math.pi)

    def lp_grad(X):
        return -X

    def ll(X):
        r = 1.0 - X
        return -0.5 * np.sum(r * r, axis=1) / 0.25 - 0.5 * d * math.log(2 * math.pi * 0.25)

    def ll_grad(X):
        return (1.0 - X) / 0.25
    return (nq.log_density(lp, batched=True, grad=lp_grad),
            nq.log_density(ll, batched=True, grad=ll_grad))


def run_neqsim(f0, f1, d, n, seed, n_moves, cess):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = nq.smc(f0, f1, initial=lambda m, rng: rng.standard_normal((m, d)),
                   kernel=nq.kernels.MALA("adapt", n_moves=n_moves), n_particles=n,
                   seed=seed, options=nq.SMCOptions(target_cess=cess), progress=False)
    return r.log_z, r.n_temperatures


def blackjax_runner(d, n, n_moves, cess):
    import blackjax
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)

    def lp(x):
        return -0.5 * jnp.sum(x * x) - 0.5 * d * jnp.log(2 * jnp.pi)

    def ll(x):
        r = 1.0 - x
        return -0.5 * jnp.sum(r * r) / 0.25 - 0.5 * d * jnp.log(2 * jnp.pi * 0.25)

    smc = blackjax.adaptive_tempered_smc(
        lp, ll, blackjax.mala.build_kernel(), blackjax.mala.init,
        {"step_size": jnp.array([0.4 / math.sqrt(d)])}, blackjax.smc.resampling.systematic,
        target_ess=cess, num_mcmc_steps=n_moves)
    step = jax.jit(smc.step)

    def run(seed):
        key = jax.random.PRNGKey(seed)
        key, k0 = jax.random.split(key)
        state = smc.init(jax.random.normal(k0, (n, d)))
        log_z, k = 0.0, 0
        while float(state.tempering_param) < 1.0:
            key, sub = jax.random.split(key)
            state, info = step(sub, state)
            log_z += float(info.log_likelihood_increment)
            k += 1
        return log_z, k
    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--d", type=int, default=50)
    p.add_argument("--n", type=int, default=2000, help="particles")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--moves", type=int, default=5, help="MALA moves per temperature")
    p.add_argument("--cess", type=float, default=0.95, help="target conditional ESS")
    a = p.parse_args(argv)
    exact = exact_log_z(a.d)
    rows = []
    methods = [("neqsim SMC (numba densities)",
                lambda s: run_neqsim(log_prior, log_likelihood, a.d, a.n, s, a.moves, a.cess))]
    try:
        f0, f1 = numpy_model(a.d)
        methods.append(("neqsim SMC (batched NumPy densities)",
                        lambda s: run_neqsim(f0, f1, a.d, a.n, s, a.moves, a.cess)))
    except (TypeError, ValueError) as e:
        print(f"batched densities unavailable: {e}")
    try:
        methods.append(("blackjax adaptive_tempered_smc (MALA)",
                        blackjax_runner(a.d, a.n, a.moves, a.cess)))
    except ImportError:
        print("blackjax not installed (pip install blackjax): its row is skipped")
    for name, fn in methods:
        fn(10_000)  # warm-up: compilation (numba, jax.jit) is not what is compared
        t0 = time.perf_counter()
        out = [fn(s) for s in range(a.runs)]
        t = (time.perf_counter() - t0) / a.runs
        errs = np.array([o[0] - exact for o in out])
        rows.append((name, t, float(np.sqrt(np.mean(errs ** 2))), float(np.mean(errs)),
                     float(np.mean([o[1] for o in out]))))
    t_ref = rows[0][1]
    print(f"d = {a.d}, N = {a.n}, {a.moves} MALA moves per temperature, target CESS "
          f"{a.cess}, {a.runs} runs; exact log Z = {exact:.4f}")
    head = (f"{'method':<40s} {'s/run':>7s} {'temps':>6s} {'mean err':>9s} {'rmse':>8s} "
            f"{'rmse at equal time':>19s}")
    print(head + "\n" + "-" * len(head))
    for name, t, rmse, bias, temps in rows:
        print(f"{name:<40s} {t:7.3f} {temps:6.1f} {bias:+9.4f} {rmse:8.4f} "
              f"{rmse * math.sqrt(t / t_ref):19.4f}")


if __name__ == "__main__":
    main()
