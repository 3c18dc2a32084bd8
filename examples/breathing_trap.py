"""Breathing harmonic trap: Crooks' theorem, forward and reverse, and BAR
========================================================================

A Brownian particle sits in a harmonic trap ``U = k/2 x^2`` whose stiffness is raised
from k = 1 to k = 4 in a finite time (the *forward* process) and lowered from 4 back to 1
along the time-reversed schedule (the *reverse* process, ``protocol.reversed()``). Each
process starts in equilibrium at its own initial stiffness. The free-energy difference
is known exactly,

    dF = F(k=4) - F(k=1) = (kT/2) ln 4 = kT ln 2,

and Crooks' fluctuation theorem relates the two work distributions:

    P_F(W) / P_R(-W) = exp(beta (W - dF)).

So the forward histogram of W and the *mirrored* reverse histogram of -W_R cross at
exactly W = dF, and ln[P_F(W) / P_R(-W)] is a straight line of slope beta and intercept
-beta dF. Bennett's acceptance ratio (BAR) turns the same two samples into the
minimum-variance estimate of dF.

The dynamics is overdamped Langevin with a Metropolis correction (:class:`neqsim.MALA`).
Its kernel is in detailed balance with the Boltzmann distribution at every stiffness,
so the plain protocol work ``run.work`` equals the path work ``run.path_work`` and all
the identities above hold exactly at the finite time step used: the z-scores in the
table below test them, not a discretization error. (Because every MALA step leaves the
Boltzmann distribution invariant, the reverse run may simply use ``protocol.reversed()``;
for integrators without that property see ``hamiltonian_crooks.py``.)

What to look at: the table (every exact quantity within a few standard errors of its
exact value), the two histograms crossing at ln 2, and the Crooks plot falling on the
line of slope 1.

Set ``NEQSIM_EXAMPLE_SMALL=1`` for a quick run with 3000 trajectories per direction, and
``NEQSIM_OUT`` to choose where the figure and the run files are written (default
``./out/``).
"""

# %%
# Set-up
# ------
# The figure is written to a file, so matplotlib uses the non-interactive Agg backend.
import warnings

import matplotlib.pyplot as plt
import numpy as np

import neqsim as nq
from _gallery import Table, save_figure, setup

SMALL, OUT = setup()  # matplotlib Agg backend; NEQSIM_EXAMPLE_SMALL, NEQSIM_OUT
N_TRAJ = 3_000 if SMALL else 100_000
BETA = 1.0
KT = 1.0 / BETA
SEED = 7
Z_MAX = 4.0  # |z| above this fails a check of an exact identity

table = Table(32, z_max=Z_MAX)  # the results table: one row per estimate or bound


# %%
# Forward and reverse runs
# ------------------------
# Controls of :func:`neqsim.systems.harmonic_trap` are ``(c, k)``; the center stays at 0.
# The stiffness ramps linearly in 25 steps of ``dt = 0.004`` (total time 0.1, short
# compared with the relaxation time gamma / k = 0.25 ... 1, so the process is far from
# quasi-static). Initial positions are drawn exactly from equilibrium, at k = 1 for the
# forward run and at k = 4 for the reverse one. Both runs stream into HDF5 run files.
system = nq.systems.harmonic_trap()
forward = nq.protocols.linear([0.0, 1.0], [0.0, 4.0], n_steps=25)
reverse = forward.reversed()
integ = nq.MALA(dt=0.004, gamma=1.0)

fwd = nq.simulate(system, forward, integ, n_traj=N_TRAJ, beta=BETA, seed=SEED,
                  out=OUT / "breathing_trap_forward.h5", overwrite=True)
rev = nq.simulate(system, reverse, integ, n_traj=N_TRAJ, beta=BETA, seed=SEED + 1,
                  out=OUT / "breathing_trap_reverse.h5", overwrite=True)
print(fwd)
print(rev)

dF = system.free_energy(forward.end, BETA) - system.free_energy(forward.start, BETA)
assert np.isclose(dF, 0.5 * KT * np.log(4.0))
# a Metropolized kernel: the protocol work is the path work, exactly
assert np.array_equal(fwd.work, fwd.path_work) and np.array_equal(rev.work, rev.path_work)
print(f"MALA acceptance: forward {np.mean(fwd.acceptance):.4f}, "
      f"reverse {np.mean(rev.acceptance):.4f}")
print(f"first-law residual |E_N - E_0 - W - Q| <= "
      f"{max(np.abs(fwd.first_law_residual()).max(), np.abs(rev.first_law_residual()).max()):.1e}")

# %%
# Estimators
# ----------
# All of them take the runs directly (they use ``path_work`` and the run's beta).
# Jarzynski from each direction alone (the reverse one estimates -dF), BAR from both,
# and the Crooks fit of ln P_F(W) / P_R(-W) on common bins: a free line (slope and
# intercept), the line with the slope fixed at beta (its dF), and where it crosses zero.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", nq.analysis.UnreliableEstimateWarning)
    jf = nq.analysis.jarzynski(fwd)
    jr = nq.analysis.jarzynski(rev)
    est_bar = nq.analysis.bar(fwd, rev)
chk = nq.analysis.crooks(fwd, rev)
print(est_bar)
print(chk)

table.check("dF, Jarzynski forward", jf.delta_f, jf.std_error, dF, jf.reliable)
table.check("dF, Jarzynski reverse (-dF_R)", -jr.delta_f, jr.std_error, dF, jr.reliable)
table.check("dF, BAR", est_bar.delta_f, est_bar.std_error, dF, est_bar.reliable)
table.check("dF, Crooks fit (slope = beta)", chk.delta_f, chk.delta_f_error, dF)
table.check("Crooks slope", chk.slope, chk.slope_error, BETA)
table.check("Crooks intercept", chk.intercept, chk.intercept_error, -BETA * dF)
table.bound("<W_F> - dF (second law)", nq.analysis.dissipation(fwd, dF))
table.bound("<W_R> + dF (second law)", nq.analysis.dissipation(rev, -dF))

# %%
# Results
# -------
# The z-score is (estimate - exact) / error; for the second-law rows the "exact" column
# is the bound (0) and z the margin above it in standard errors. The two dissipations
# differ: compressing the particle quickly (forward) wastes more work than releasing it.
print()
print(f"{N_TRAJ} trajectories per direction, beta = {BETA}, seed = {SEED}, "
      f"exact dF = (kT/2) ln 4 = {dF:.6f}")
table.print()
print(f"{'Crooks crossing (fitted line)':<32} {chk.crossing:>10.4f}{'':12} {dF:>9.4f}")
print(f"Crooks fit: chi2/dof = {chk.chi2:.1f}/{chk.dof}, p = {chk.p_value:.3g}; "
      f"BAR overlap = {est_bar.overlap:.3f}; Jarzynski ESS forward {jf.ess:.0f}, "
      f"reverse {jr.ess:.0f} of {N_TRAJ}")
print()

# %%
# Figure
# ------
# Left: the forward work histogram and the mirrored reverse one, crossing at dF
# (:func:`neqsim.analysis.plots.work_histograms`; log scale: the vertical distance
# between the two is ln P_F(W) / P_R(-W), growing linearly in W). Middle: the Crooks
# check, ln of the ratio of the two histograms per bin, against the theorem's line
# (:func:`~neqsim.analysis.plots.crooks_plot`). Right: the running Jarzynski estimate
# from the forward work alone (:func:`~neqsim.analysis.plots.running_estimate`), which
# converges more slowly than BAR (the orange band is BAR's +-1 standard error).
plots = nq.analysis.plots
fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), constrained_layout=True)
# fine bins over the whole range (the work has a long tail), shown up to W = 5 kT
plots.work_histograms(fwd, rev, delta_f=dF, bins=600, ax=axes[0])
axes[0].set_xlim(0.0, 5.0)
axes[0].set_yscale("log")
axes[0].set_xlabel(r"$W$ [kT]")
axes[0].set_title(r"Breathing trap $k$: 1 → 4 (forward), 4 → 1 (reverse)")
plots.crooks_plot(chk, ax=axes[1])
axes[1].set_xlabel(r"$W$ [kT]")
plots.running_estimate(fwd, exact=dF, ax=axes[2])
axes[2].axhspan(est_bar.delta_f - est_bar.std_error, est_bar.delta_f + est_bar.std_error,
                color="C1", alpha=0.3, label=f"BAR: {est_bar.delta_f:.4f}")
axes[2].set_ylim(dF - 0.2, dF + 0.2)
nq.analysis.plots.legend_below(axes[2])
axes[2].set_ylabel(r"$\Delta F$ estimate [kT]")

save_figure(fig, OUT / "breathing_trap.png")
print(f"run files written to {(OUT / 'breathing_trap_forward.h5').resolve()} and "
      f"{(OUT / 'breathing_trap_reverse.h5').name} (try: neqsim analyze "
      f"{OUT / 'breathing_trap_forward.h5'} {OUT / 'breathing_trap_reverse.h5'})")
