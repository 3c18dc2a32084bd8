"""Hamiltonian dynamics without a bath: Crooks' theorem with heat identically zero
================================================================================

Jarzynski's original derivation (1997) needs no heat bath at all: draw the initial
state (x, v) from the canonical distribution at lam_0, then let it evolve under
Hamilton's equations while the control changes. The work is the change of the total
energy, W = H(x_N, v_N; lam_N) - H(x_0, v_0; lam_0), the heat is zero, and the
fluctuation theorems hold exactly because the Hamiltonian flow preserves phase-space
volume and is time-reversible.

Here a particle of mass 1 in a breathing harmonic trap ``U = k/2 x^2`` (stiffness k:
1 -> 4, exact dF = (kT/2) ln 4) is integrated with :class:`neqsim.VelocityVerlet`
(``"V R V"``, no ``O`` step, no bath) at a deliberately large step, omega dt = 0.8 at the
final stiffness. Velocity Verlet is itself volume-preserving and time-reversible, so the
identities stay exact at any stable step for the energy change of the *discrete* map,
but that energy change is no longer only the protocol work W: the integrator does not
conserve energy, and the difference is the shadow work, so

    H_N - H_0 = W + W_shadow = run.path_work,      Q = 0 exactly.

Crooks' theorem P_F(W) / P_R(-W) = exp(beta (W - dF)) and BAR are exact with the path
work; with the protocol work alone they are biased at this step size.

One detail of the reverse process matters for integrators that do not preserve the
Boltzmann distribution exactly (Velocity Verlet, unadjusted Langevin splittings).
neqsim's step k first switches the control lam_{k-1} -> lam_k and then applies one
integrator step at lam_k, so the forward run integrates at lam_1, ..., lam_N, while
``protocol.reversed()`` integrates at lam_{N-1}, ..., lam_0: not the mirror image of the
forward run. For Metropolized kernels (MALA, GHMC) that is harmless, because each step
leaves its Boltzmann distribution exactly invariant. Here it is not, and the exact time
reversal is obtained by prepending one zero-work step at the start value to both
directions: forward ``lam_0, lam_0, lam_1, ..., lam_N`` (integrator steps at lam_0 ...
lam_N) and reverse ``lam_N, lam_N, ..., lam_0`` (steps at lam_N ... lam_0). The table
also shows BAR with the plain ``protocol.reversed()`` pair: off by a small amount that
vanishes as dt -> 0, visible at this step size with enough trajectories.

What to look at: heat identically zero; the BAR, Jarzynski and Crooks rows with
W + W_shadow passing; BAR with W alone (and with the naive reverse) marked biased; the
two work histograms crossing at dF.

A side remark on the physics: without a bath there is no relaxation, and even an
infinitely slow ramp dissipates. For one oscillator the action E / omega is an adiabatic
invariant, so a slow ramp from omega to 2 omega gives W = E_0, an exponential
distribution with mean kT, not dF = kT ln 2.

Set ``NEQSIM_EXAMPLE_SMALL=1`` for a quick run with 5000 trajectories per direction and
``NEQSIM_OUT`` to choose where the figure and the run files are written (default
``./out/``).
"""

# %%
# Set-up
# ------
import warnings

import matplotlib.pyplot as plt
import numpy as np

import neqsim as nq
from _gallery import Table, save_figure, setup

SMALL, OUT = setup()  # matplotlib Agg backend; NEQSIM_EXAMPLE_SMALL, NEQSIM_OUT
N_TRAJ = 5_000 if SMALL else 200_000
BETA = 1.0
KT = 1.0 / BETA
SEED = 1997  # the year of Jarzynski's equality
DT = 0.4
T_TOTAL = 2.0
Z_MAX = 4.0

# the results table: an exact estimator passes within Z_MAX standard errors; one with a
# known bias (biased=True) is only reported as showing its bias or not
table = Table(34, z_max=Z_MAX)


# %%
# Protocols: the ramp, and its exact time reversal
# ------------------------------------------------
system = nq.systems.harmonic_trap()
ramp = nq.protocols.linear([0.0, 1.0], [0.0, 4.0], n_steps=int(round(T_TOTAL / DT)))
hold = nq.protocols.hold
forward = nq.protocols.concatenate(hold(ramp.start, 1), ramp)           # lam_0, lam_0, ..., lam_N
reverse = nq.protocols.concatenate(hold(ramp.end, 1), ramp.reversed())  # lam_N, lam_N, ..., lam_0
print("forward k:", forward.values[:, 1])
print("reverse k:", reverse.values[:, 1])
dF = system.free_energy(ramp.end, BETA) - system.free_energy(ramp.start, BETA)
assert np.isclose(dF, 0.5 * KT * np.log(4.0))
integ = nq.VelocityVerlet(dt=DT, mass=1.0)

# %%
# Forward and reverse runs
# ------------------------
# Initial positions and velocities are exact canonical draws (Gaussian x at the initial
# stiffness, Maxwell-Boltzmann v).
fwd = nq.simulate(system, forward, integ, n_traj=N_TRAJ, beta=BETA, seed=SEED,
                  out=OUT / "hamiltonian_crooks_forward.h5", overwrite=True)
rev = nq.simulate(system, reverse, integ, n_traj=N_TRAJ, beta=BETA, seed=SEED + 1,
                  out=OUT / "hamiltonian_crooks_reverse.h5", overwrite=True)
print(fwd)
print(rev)
for run in (fwd, rev):
    # no bath: the heat is exactly zero, and the path work is the total energy change
    assert np.all(run.heat == 0.0), "a Hamiltonian run exchanged heat"
    de = run.final_energy - run.initial_energy
    assert np.allclose(run.path_work, de, rtol=0, atol=1e-12)
    assert np.allclose(run.path_work, run.work + run.shadow_work, rtol=0, atol=1e-12)
print(f"heat: max |Q| = {max(np.abs(fwd.heat).max(), np.abs(rev.heat).max()):.1e} "
      "(identically zero); W + W_shadow = H_N - H_0 to round-off")
print(f"mean shadow work: forward {np.mean(fwd.shadow_work):+.4f}, "
      f"reverse {np.mean(rev.shadow_work):+.4f} kT")

# the naive reverse pair, for comparison: protocol.reversed() of the plain ramp
naive_f = nq.simulate(system, ramp, integ, n_traj=N_TRAJ, beta=BETA, seed=SEED + 2)
naive_r = nq.simulate(system, ramp.reversed(), integ, n_traj=N_TRAJ, beta=BETA,
                      seed=SEED + 3)

# %%
# Estimators
# ----------
# Runs given to the estimators contribute their path work W + W_shadow; the plain
# protocol work is passed as arrays.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", nq.analysis.UnreliableEstimateWarning)
    jf = nq.analysis.jarzynski(fwd)
    jr = nq.analysis.jarzynski(rev)
    b_path = nq.analysis.bar(fwd, rev)
    b_plain = nq.analysis.bar(fwd.work, rev.work, BETA)
    b_naive = nq.analysis.bar(naive_f, naive_r)
chk = nq.analysis.crooks(fwd, rev)
print(b_path)
print(chk)

table.check("dF, BAR (W + W_shadow)", b_path.delta_f, b_path.std_error, dF, b_path.reliable)
table.check("dF, Jarzynski forward (W+W_sh)", jf.delta_f, jf.std_error, dF, jf.reliable)
table.check("dF, Jarzynski reverse (W+W_sh)", -jr.delta_f, jr.std_error, dF, jr.reliable)
table.check("dF, Crooks fit (W + W_shadow)", chk.delta_f, chk.delta_f_error, dF)
table.check("Crooks slope (W + W_shadow)", chk.slope, chk.slope_error, BETA)
table.check("Crooks intercept (W + W_shadow)", chk.intercept, chk.intercept_error, -BETA * dF)
table.check("dF, BAR (W alone)", b_plain.delta_f, b_plain.std_error, dF, biased=True)
table.check("dF, BAR, naive ramp.reversed()", b_naive.delta_f, b_naive.std_error, dF,
      biased=True)

# %%
# Results
# -------
print()
print(f"{N_TRAJ} trajectories per direction, Velocity Verlet dt = {DT} "
      f"(omega dt = {2 * DT:.1f} at k = 4), beta = {BETA}, seed = {SEED}, "
      f"exact dF = {dF:.6f}")
table.print()
print(f"{'Crooks crossing (W + W_shadow)':<34} {chk.crossing:>10.4f}{'':13} {dF:>9.4f}")
print(f"heat: identically zero in all {2 * N_TRAJ} trajectories")
print()

# %%
# Figure
# ------
# Left: forward path works and mirrored reverse ones, crossing at dF. Middle: the Crooks
# check with the path work. Right: the dF estimates with +-2 standard errors; green uses
# the exact work, red the plain work W, orange the naive reversed() protocol.
plots = nq.analysis.plots
fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), constrained_layout=True)
plots.work_histograms(fwd, rev, delta_f=dF, bins=300, ax=axes[0])
axes[0].set_xlim(-0.2, 5.0)
axes[0].set_yscale("log")
axes[0].set_xlabel(r"$W + W_\mathrm{shadow} = H_N - H_0$ [kT]")
axes[0].set_title(r"Hamiltonian breathing trap, $k$: 1 → 4, $Q \equiv 0$")
plots.crooks_plot(chk, ax=axes[1])
axes[1].set_xlabel(r"$W + W_\mathrm{shadow}$ [kT]")

ax = axes[2]
labels = ["BAR\nW + W_sh", "Jarzynski fwd\nW + W_sh", "Jarzynski rev\nW + W_sh",
          "BAR\nW alone", "BAR, naive\nreversed()"]
vals = [b_path.delta_f, jf.delta_f, -jr.delta_f, b_plain.delta_f, b_naive.delta_f]
errs = [b_path.std_error, jf.std_error, jr.std_error, b_plain.std_error,
        b_naive.std_error]
# colour = which work and which reverse protocol: the legend says what each means
kinds = {"C2": "exact: W + W_shadow, mirrored reverse (unbiased)",
         "C3": "W alone: misses the shadow work (biased)",
         "C1": "naive ramp.reversed(): not the time reverse (biased)"}
colors = ["C2", "C2", "C2", "C3", "C1"]
for i, (v, e, c) in enumerate(zip(vals, errs, colors)):
    ax.errorbar(i, v, yerr=2 * e, fmt="o", color=c, capsize=4,
                label=kinds.pop(c, None))  # one legend entry per colour
ax.axhline(dF, color="k", ls="--", lw=1, label=r"exact $\Delta F = \frac{1}{2}\ln 4$")
ax.set_xticks(range(len(labels)), labels, fontsize="small")
ax.set_ylabel(r"$\Delta F$ estimate [kT] ($\pm 2\sigma$)")
ax.set_title("Free-energy estimates")
handles, names = ax.get_legend_handles_labels()
ax.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=1,
          fontsize="small", frameon=False)  # below the two-line tick labels

save_figure(fig, OUT / "hamiltonian_crooks.png")
print(f"run files written to {(OUT / 'hamiltonian_crooks_forward.h5').resolve()} and "
      "hamiltonian_crooks_reverse.h5")
