"""A two-level jump process whose gap is ramped: work statistics against the master equation
=========================================================================================

Two states with energies 0 and eps (:func:`neqsim.jump.markov_states`), Arrhenius rates
over a barrier B = 1 (R_10 = e^{-1} for 0 -> 1, R_01 = e^{eps - 1} for 1 -> 0: local
detailed balance R_10 / R_01 = e^{-beta eps}). The gap is ramped eps: 0.5 -> 3 in 50
steps; each step raises the gap at fixed state (work eps_k - eps_{k-1} if the system is
in the upper state, else 0) and then lets the process run exactly (Gillespie) for
dt = 0.005 at the new gap. The ramp is faster than the relaxation, so <W> - dF is
about 0.4 kT.

Everything is exact here (:mod:`neqsim.exact.master`):

* dF = -kT ln[(1 + e^{-beta eps_1}) / (1 + e^{-beta eps_0})];
* the work cumulant generating function G(s) = log <e^{-s W}> of this very protocol
  and dt, from the tilted 2x2 master equation, and <W>, Var W from its moments;
* the whole work distribution: W only takes the values m * (eps_1 - eps_0) / 50
  (m = number of switches made in the upper state), so propagating the joint
  probability of (state, m) gives P(W) exactly, lattice point by lattice point.

What to look at: the table (every simulated quantity within a few standard errors of
its exact value), the simulated frequencies on the exact P(W) (forward, and the mirrored
reverse, crossing at dF as Crooks says), and the sampled log <e^{-sW}> on the exact
G(s), which passes through -beta dF at s = beta (Jarzynski).

Set ``NEQSIM_EXAMPLE_SMALL=1`` for a quick run and ``NEQSIM_OUT`` to choose where the
figure and the run files go (default ``./out/``).
"""

# %%
# Set-up
# ------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import expm

import neqsim as nq
from _gallery import Table, save_figure, setup

SMALL, OUT = setup()
N_TRAJ = 5_000 if SMALL else 200_000
BETA = 1.0
EPS0, EPS1, N_STEPS, DT = 0.5, 3.0, 50, 0.005

two = nq.jump.markov_states([[0.0, 0.0], [0.0, 1.0]], barriers=1.0, control_names=("eps",))
ramp = nq.protocols.linear([EPS0], [EPS1], N_STEPS)
# crooks_pair: exact time reversals of each other (each starts with a kernel step)
forward, reverse = nq.protocols.crooks_pair(ramp)
gillespie = nq.Gillespie(dt=DT)

fwd = nq.simulate(two, forward, gillespie, N_TRAJ, beta=BETA, seed=19,
                  out=OUT / "two_level_forward.h5", overwrite=True, progress=False)
rev = nq.simulate(two, reverse, gillespie, N_TRAJ, beta=BETA, seed=20,
                  out=OUT / "two_level_reverse.h5", overwrite=True, progress=False)
print(fwd)
print(rev)

# %%
# Exact references
# ----------------
dF = nq.jump.two_level_delta_f(EPS0, EPS1, BETA)
exact = nq.jump.master_work_statistics(two, forward, gillespie, beta=BETA)
assert abs(exact.delta_f - dF) < 1e-12
assert abs(nq.jump.master_work_cgf(two, forward, gillespie, BETA, beta=BETA) + BETA * dF) < 1e-10


def lattice_work_distribution(system, protocol, dt, beta):
    """Exact P(W) of a two-level gap protocol with equal increments: W = m * d_eps, m the
    number of (nonzero) switches made in the upper state; returns (W values, P)."""
    lam = protocol.values
    E, R, _ = system.tables(lam, beta)
    p0 = np.exp(-beta * E[0]) / np.exp(-beta * E[0]).sum()
    steps = np.diff(E[:, 1])
    d_eps = steps[np.nonzero(steps)[0][0]]
    P = np.zeros((len(steps) + 1, 2))   # P[m, state]
    P[0] = p0
    for k in range(1, lam.shape[0]):
        if steps[k - 1] != 0.0:
            P[1:, 1] = P[:-1, 1].copy()
            P[0, 1] = 0.0
        P = P @ expm(nq.jump.generator(R[k]) * dt).T
    pm = P.sum(axis=1)
    return d_eps * np.arange(pm.size), pm


w_lat, p_lat = lattice_work_distribution(two, forward, DT, BETA)
wr_lat, pr_lat = lattice_work_distribution(two, reverse, DT, BETA)
assert abs(p_lat @ w_lat - exact.mean) < 1e-12   # two exact methods, one answer

# %%
# Results
# -------
w = fwd.work
n = w.size
d = w - w.mean()
table = Table(34, error_format="<9.4f")
table.check("<W>", w.mean(), w.std() / np.sqrt(n), exact.mean)
table.check("Var W", w.var(ddof=1), np.sqrt((np.mean(d ** 4) - np.mean(d ** 2) ** 2) / n),
            exact.variance)
s_values = np.linspace(-1.0, 2.5, 15)
g_exact = nq.jump.master_work_cgf(two, forward, gillespie, s_values, beta=BETA)
e_half = np.exp(-0.5 * w)
table.check("<exp(-W/2)>", e_half.mean(), e_half.std() / np.sqrt(n),
            float(np.exp(nq.jump.master_work_cgf(two, forward, gillespie, 0.5, beta=BETA))))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", nq.analysis.UnreliableEstimateWarning)
    jz = nq.analysis.jarzynski(fwd, n_bootstrap=0)
    bar = nq.analysis.bar(fwd, rev, n_bootstrap=0)
table.check("dF, Jarzynski forward", jz.delta_f, jz.std_error, dF, jz.reliable)
table.check("dF, BAR (both directions)", bar.delta_f, bar.std_error, dF, bar.reliable)
table.bound("second law <W> - dF >= 0", nq.analysis.dissipation(fwd, dF))
print(f"\n{n} trajectories per direction, beta = {BETA}; exact dF = {dF:.6f}, "
      f"<W> = {exact.mean:.6f}, Var W = {exact.variance:.6f}, "
      f"<W> - dF = {exact.dissipation:.4f} kT")
table.print()

# %%
# Figure
# ------
# Left: the exact P(W) on its lattice (lines) and the simulated frequencies (dots),
# forward and mirrored reverse; they cross near dF. Right: the work CGF.
fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
ax = axes[0]
for lat, p, work, sign, color, label in ((w_lat, p_lat, fwd.work, 1, "C0", "forward $W_F$"),
                                         (wr_lat, pr_lat, rev.work, -1, "C1",
                                          "mirrored reverse $-W_R$")):
    keep = p > 1e-7
    ax.plot(sign * lat[keep], p[keep], "-", color=color, lw=1, label=f"exact P, {label}")
    m = np.rint(work / lat[1]).astype(int)
    freq = np.bincount(m, minlength=lat.size)[:lat.size] / work.size
    seen = freq > 0
    ax.plot(sign * lat[seen], freq[seen], "o", ms=3, color=color,
            label=f"simulated, {label}")
ax.axvline(dF, color="k", ls="--", lw=1, label="exact dF")
ax.set_yscale("log")
ax.set_xlabel("work W [kT]")
ax.set_ylabel("probability of the lattice value")
ax.set_title(f"two-level gap {EPS0} → {EPS1}, {N_STEPS} steps of dt = {DT}")
nq.analysis.plots.legend_below(ax)
ax = axes[1]
s_fine = np.linspace(s_values[0], s_values[-1], 200)
ax.plot(s_fine, nq.jump.master_work_cgf(two, forward, gillespie, s_fine, beta=BETA), "k",
        lw=1, label="exact G(s), tilted master equation")
sampled = np.array([np.log(np.mean(np.exp(-s * w))) for s in s_values])
err = np.array([np.std(np.exp(-s * w)) / np.sqrt(n) / np.mean(np.exp(-s * w))
                for s in s_values])
ax.errorbar(s_values, sampled, yerr=err, fmt="o", ms=3, color="C0",
            label=r"simulated $\log\langle e^{-sW}\rangle$")
ax.plot([BETA], [-BETA * dF], "s", color="C3", ms=7, mfc="none",
        label=r"$-\beta\,\Delta F$ at $s = \beta$ (Jarzynski)")
ax.set_xlabel("s [1/kT]")
ax.set_ylabel("G(s)")
ax.set_title("work cumulant generating function")
nq.analysis.plots.legend_below(ax)
save_figure(fig, OUT / "two_level_jump.png")
