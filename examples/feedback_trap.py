"""Work from information: the Gaussian feedback trap and the Sagawa-Ueda bound
===========================================================================

A Brownian particle sits in equilibrium in the trap U = k/2 (x - c)^2 centred at c = 0.
We measure its position with a Gaussian error, y = x + sigma_m xi, and at once move the
centre to the estimate c' = g y; then the particle relaxes in the moved trap. The jump
is done at fixed x, so its work is W = U(x, c') - U(x, 0) = k/2 [(x - c')^2 - x^2]: when
the trap moves towards the particle, W < 0, work is extracted from a single heat bath,
which the second law forbids without information. Sagawa and Ueda's generalization
bounds it by the information gained,

    -<W> <= kT <I>,      <I> = (1/2) ln(1 + (kT/k) / sigma_m^2),

I = ln p(y|x) - ln p(y) per trajectory, and refines Jarzynski's equality to
<e^{-beta (W - dF) - I}> = 1 (dF = 0 here). With the posterior-mean gain
g = k_eff = (kT/k) / (kT/k + sigma_m^2), -<W> = (kT/2) k_eff; with g = 1 (move to y
itself), -<W> = (kT - k sigma_m^2) / 2, which turns into a cost once sigma_m^2 > kT/k.

We sweep the measurement error with ``nq.feedback`` (Euler-Maruyama, dt = 0.02) and
compare the simulated -<W> and <I> with the exact curves (:class:`neqsim.exact.FeedbackTrap`).
A blind control (the trap moved by the feedback's rms distance, without looking) shows
what moving the trap costs without information; it is a plain ``nq.simulate`` run,
written to a run file.

What to look at: the points on the exact curves, always below the bound kT <I>; the
equality ln <e^{-beta W - I}> = 0 where its weights have a finite variance (larger
sigma_m), and the heavy tail of e^{-I} that makes it unjudgeable for small errors.

Set ``NEQSIM_EXAMPLE_SMALL=1`` for a quick run, ``NEQSIM_OUT`` for where the figure and
the run file go.
"""

# %%
# Set-up
# ------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

import neqsim as nq
from _gallery import Table, save_figure, setup

SMALL, OUT = setup()
N_TRAJ = 4_000 if SMALL else 100_000
SIGMAS = np.geomspace(0.25, 3.0, 5 if SMALL else 9)
DT, N_HOLD = 0.02, 25
K, BETA = 1.0, 1.0
V = 1.0 / (BETA * K)                                # Var x in equilibrium
trap = nq.systems.harmonic_trap()                   # controls (c, k)
em = nq.EulerMaruyama(dt=DT)
base = np.zeros((N_HOLD + 1, 2))
base[:, 1] = K                                      # the base schedule: c = 0 throughout
table = Table(40, exact_label="exact/bound", exact_width=11)


def run_feedback(sigma, gain, seed):
    """Measure at t = 0, move the centre to gain * y at step 1, hold N_HOLD steps."""
    meas = nq.Measurement(step=0, sigma=sigma, gain=[[gain], [0.0]],
                          marginal=nq.GaussianState(mean=0.0, cov=V))   # p(y) exactly
    return nq.feedback(trap, base, em, N_TRAJ, seed=seed, beta=BETA, measurements=meas)


def sigma_axis(ax):
    ax.set_xscale("log")
    ax.set_xticks([0.25, 0.5, 1.0, 2.0, 3.0], ["0.25", "0.5", "1", "2", "3"])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"measurement error $\sigma_m$ (units of $\sqrt{kT/k}$)")


def mean_se(a):
    return float(a.mean()), float(a.std(ddof=1) / np.sqrt(a.size))


# %%
# The sweep over the measurement error
# ------------------------------------
rows = []
for i, sigma in enumerate(SIGMAS):
    ex_opt = nq.exact.FeedbackTrap(sigma, "optimal", k=K, beta=BETA)
    ex_one = nq.exact.FeedbackTrap(sigma, 1.0, k=K, beta=BETA)
    opt = run_feedback(sigma, ex_opt.g, seed=100 + i)
    one = run_feedback(sigma, 1.0, seed=200 + i)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nq.analysis.UnreliableEstimateWarning)
        su = nq.analysis.sagawa_ueda(opt)           # path work: exact for EM at any dt
    rows.append(dict(sigma=sigma, w_opt=mean_se(-opt.work), w_one=mean_se(-one.work),
                     info=mean_se(opt.information), su=su,
                     finite=ex_opt.weights_have_finite_variance(),
                     ex_opt=ex_opt, ex_one=ex_one))
    s = f"sigma_m={sigma:.2f}"
    table.check(f"{s} -<W>, g = k_eff", *rows[-1]["w_opt"], -ex_opt.mean_work)
    table.check(f"{s} -<W>, g = 1", *rows[-1]["w_one"], -ex_one.mean_work)
    table.check(f"{s} <I> (exact marginal)", *rows[-1]["info"], ex_opt.mean_information)
    table.bound(f"{s} <W> + kT<I> >= 0", su.bound)
    if rows[-1]["finite"]:
        table.check(f"{s} ln<e^(-beta W - I)> = 0", su.value, su.std_error, 0.0, su.reliable)
    else:
        table.info(f"{s} ln<e^(-beta W - I)> = 0", su.value, su.std_error, 0.0,
                   "not judged: Var e^(-I) is infinite here (exact)")

# %%
# The marginal p(y) from the sample instead (leave-one-out mixture), at one sigma_m
# ---------------------------------------------------------------------------------
sigma = 1.5
ex = nq.exact.FeedbackTrap(sigma, "optimal", k=K, beta=BETA)
n_loo = 4_000 if SMALL else 20_000
loo = nq.feedback(trap, base, em, n_loo, seed=7, measurements=nq.Measurement(
    step=0, sigma=sigma, gain=[[ex.g], [0.0]], marginal="sample"))
m, e = mean_se(loo.information)
table.check(f"sigma_m={sigma:.2f} <I> - bias (sample marginal)", m - loo.information_bias[0],
            e, ex.mean_information)

# %%
# Blind control: the same distance, no measurement
# ------------------------------------------------
d = float(np.sqrt(np.mean(loo.controls[:, 0] ** 2)))   # rms distance the feedback moved
blind = nq.protocols.jump([0.0, K], [d, K])
blind = nq.protocols.concatenate(blind, nq.protocols.hold([d, K], N_HOLD - 1))
run = nq.simulate(trap, blind, em, N_TRAJ, seed=8, beta=BETA, out=OUT / "feedback_trap_blind.h5",
                  overwrite=True, progress=False)
table.check(f"blind jump by d = {d:.3f}: <W> = k d^2/2", *mean_se(run.work), 0.5 * K * d * d)

print(f"{N_TRAJ} trajectories per point, kT/k = {V:g}, Euler-Maruyama dt = {DT}")
table.print()

# %%
# Figure
# ------
# Left: the work extracted against the measurement error, simulation (points, 1 s.e.
# bars) and exact (lines), with the information bound kT <I>. Right: the Sagawa-Ueda
# equality per sigma_m; open symbols where its weights' variance is infinite.
fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
ax = axes[0]
grid = np.geomspace(SIGMAS[0], SIGMAS[-1], 200)
bound = [nq.exact.FeedbackTrap(s).mean_information / BETA for s in grid]
ax.plot(grid, bound, "k--",
        label=r"bound $kT\langle I\rangle = \frac{kT}{2}\ln(1 + kT/(k\sigma_m^2))$")
ax.plot(grid, [-nq.exact.FeedbackTrap(s, "optimal").mean_work for s in grid], "C0-",
        label=r"exact $-\langle W\rangle$, $g = k_{\rm eff}$")
ax.plot(grid, [-nq.exact.FeedbackTrap(s, 1.0).mean_work for s in grid], "C1-",
        label=r"exact $-\langle W\rangle$, $g = 1$")
sig = np.array([r["sigma"] for r in rows])
for key, fmt, color, label in (("w_opt", "o", "C0", r"simulated, $g = k_{\rm eff}$"),
                               ("w_one", "s", "C1", "simulated, $g = 1$"),
                               ("info", "^", "k", r"simulated $kT\langle I\rangle$")):
    val = np.array([r[key][0] for r in rows]) / (BETA if key == "info" else 1.0)
    err = np.array([r[key][1] for r in rows]) / (BETA if key == "info" else 1.0)
    ax.errorbar(sig, val, yerr=err, fmt=fmt, color=color, ms=5, capsize=3,
                mfc="none" if key == "info" else color, label=label)
ax.axhline(0.0, color="0.6", lw=0.8)
sigma_axis(ax)
ax.set_ylim(-0.6, 1.6)
ax.set_ylabel(r"work extracted $-\langle W\rangle$ [kT]")
ax.set_title("Feedback trap: extracted work vs measurement error")
nq.analysis.plots.legend_below(ax, ncols=2)

ax = axes[1]
val = np.array([r["su"].value for r in rows])
err = np.array([r["su"].std_error for r in rows])
fin = np.array([r["finite"] for r in rows])
ax.errorbar(sig[fin], val[fin], yerr=err[fin], fmt="o", color="C2", capsize=3,
            label="finite-variance weights")
ax.errorbar(sig[~fin], val[~fin], yerr=err[~fin], fmt="o", mfc="none", color="C3", capsize=3,
            label=r"Var $e^{-\beta W - I}$ infinite (error bar not trustworthy)")
ax.axhline(0.0, color="k", ls="--", lw=1, label="exact: 0")
sigma_axis(ax)
ax.set_ylabel(r"$\ln\langle e^{-\beta (W - \Delta F) - I}\rangle$")
ax.set_title("Sagawa-Ueda equality (path work)")
nq.analysis.plots.legend_below(ax)
save_figure(fig, OUT / "feedback_trap.png")
