"""Your own double well, exactly: work statistics without sampling noise, and the best protocol
=============================================================================================

A user-defined double well ``U(x; f) = x^4 - 4 x^2 - f x`` is tilted from f = 2 to f = 6
(the particle is pushed over to the right well). For a one-dimensional overdamped
system neqsim computes the work statistics of this very protocol exactly on a grid
(:mod:`neqsim.exact.transfer`): at the integrator's own time step (the transition
operator of Euler-Maruyama) and in the dt -> 0 limit (the Fokker-Planck equation). The
simulation must agree with the first within its sampling error; the difference from the
second is the time-step bias, made visible.

Then :func:`neqsim.protocols.optimize` finds the tilt schedule that minimizes the exact
mean work over the same duration (endpoint jumps allowed), and we compare its
dissipation with the linear ramp's, again by simulation.

Set ``NEQSIM_EXAMPLE_SMALL=1`` for a quick run, ``NEQSIM_OUT`` for where the figure goes.
"""

# %%
# Set-up: the user's potential
# ----------------------------
import numpy as np

import neqsim as nq
from _gallery import Table, save_figure, setup

SMALL, OUT = setup()
N_TRAJ = 20_000 if SMALL else 1_000_000


def energy(x, lam):
    return x[0] ** 4 - 4.0 * x[0] ** 2 - lam[0] * x[0]


def gradient(x, lam, out):
    out[0] = 4.0 * x[0] ** 3 - 8.0 * x[0] - lam[0]


well = nq.from_functions(energy, gradient, dim=1, n_controls=1, name="my_double_well")
ramp = nq.protocols.linear([2.0], [6.0], 20)
em = nq.EulerMaruyama(dt=0.1, gamma=3.0)                # a coarse step, on purpose

# %%
# Exact references and the simulation
# -----------------------------------
at_dt = nq.exact.work_statistics_discrete(well, ramp, em)
limit = nq.exact.work_statistics_continuous(well, ramp, em.dt, gamma=em.gamma)
run = nq.simulate(well, ramp, em, N_TRAJ, seed=1, out=OUT / "exact_double_well.h5",
                  overwrite=True, progress=False)
w = run.work
se = w.std(ddof=1) / np.sqrt(w.size)
table = Table(36, error_format="<8.4f", z_width=7)
table.check("<W>, simulation vs exact at dt = 0.1", w.mean(), se, at_dt.mean_work)
table.info("<W>, exact dt = 0.1 vs dt -> 0", at_dt.mean_work, se, limit.mean_work,
           "time-step bias, in sampling errors: z")
print(f"exact at dt: <W> = {at_dt.mean_work:.6f}, Var W = {at_dt.var_work:.5f}; "
      f"dt -> 0: <W> = {limit.mean_work:.6f}; dF = {at_dt.delta_f:.6f}")

# %%
# The optimal tilt schedule
# -------------------------
# The same duration (20 steps of dt = 0.1) on a finer clock for the optimizer (200 steps
# of 0.01), continuous-time objective; then both protocols are simulated at dt = 0.01.
best = nq.protocols.optimize(well, 2.0, [2.0], [6.0], n_steps=200,
                             n_knots=5 if SMALL else 8, gamma=em.gamma,
                             n_cells=150 if SMALL else 300)
fine = nq.EulerMaruyama(dt=0.01, gamma=em.gamma)
lin_run = nq.simulate(well, nq.protocols.linear([2.0], [6.0], 200), fine, N_TRAJ // 4,
                      seed=2, progress=False)
opt_run = nq.simulate(well, best.protocol, fine, N_TRAJ // 4, seed=3, progress=False)
d_f = at_dt.delta_f
for name, r, exact in (("dissipation, linear ramp", lin_run, best.linear_mean_work - d_f),
                       ("dissipation, optimized", opt_run, best.mean_work - d_f)):
    table.check(name, r.work.mean() - d_f, r.work.std(ddof=1) / np.sqrt(r.n_traj), exact,
                biased=True)
table.print()
print(f"optimized protocol: jumps {best.jump_start:+.3f} at the start, "
      f"{best.jump_end:+.3f} at the end; exact <W_diss> {best.mean_work - d_f:.4f} vs "
      f"linear {best.linear_mean_work - d_f:.4f}")

# %%
# Figure
# ------
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
ax = axes[0]
ax.hist(w, bins=80, density=True, color="0.75", label="simulated W (dt = 0.1)")
w_grid, p_w = nq.exact.work_distribution(well, ramp, integrator=em, n_w=256 if SMALL else 512,
                                         n_cells=300 if SMALL else 600)
ax.plot(w_grid, p_w, "k", lw=1, label="exact P(W) at dt = 0.1 (transition operator)")
ax.axvline(at_dt.mean_work, color="k", ls=":", label="exact <W> at dt = 0.1")
ax.axvline(limit.mean_work, color="C3", ls="--", label="exact <W>, dt -> 0")
sd = np.sqrt(at_dt.var_work)
ax.set_xlim(at_dt.mean_work - 5 * sd, at_dt.mean_work + 8 * sd)   # the tail is long
ax.set_xlabel("work W (energy units of the potential; kT = 1)")
ax.set_ylabel("density")
nq.analysis.plots.legend_below(ax)
ax.set_title("the work of the linear tilt")
ax = axes[1]
t = np.arange(201) * 0.01
ax.plot(t, np.linspace(2.0, 6.0, 201), "C2", label="linear ramp")
ax.plot(t, best.protocol.values[:, 0], "C0", label="optimized (exact least <W>)")
ax.set_xlabel("time")
ax.set_ylabel("tilt f")
nq.analysis.plots.legend_below(ax)
ax.set_title("protocols over the same duration")
save_figure(fig, OUT / "exact_double_well.png")
