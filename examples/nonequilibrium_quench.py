"""Entropy production with any end densities: a quenched trap and an asymmetric memory
====================================================================================

The second law for processes that start or end out of equilibrium. With the
non-equilibrium free energy F_neq(p, lam) = <U>_p - kT S(p) = F(lam) + kT KL(p || pi_lam),

    beta <W> - beta [F_neq(p_N, lam_N) - F_neq(p_0, lam_0)] = dSigma
                                                  = -beta <Q> + S(p_N) - S(p_0) >= 0.

**Left: a quenched trap.** A particle starts from a Gaussian that is *not* the trap's
equilibrium (mean 0.7, sd 0.8, while the trap U = k/2 x^2 at k = 1 would hold it at mean
0, sd 1); the stiffness is quenched to k = 4 and the density relaxes (Euler-Maruyama,
dt = 0.005). Every term is a closed-form Gaussian at the integrator's own dt
(``nq.exact.breathing_quench``: the variance recursion of Euler-Maruyama): the lines.
The points are the same terms estimated from the simulated start and end positions
(``nq.analysis.entropy_production``: S(p_N) and KL(p_N || pi) by k-nearest neighbours,
S(p_0) exact from the start density). The entropy released to the bath, -beta<Q>,
exceeds the total production dSigma by the drop of the particle's own entropy (the
stiffer trap narrows the density: S(p_N) - S(p_0) < 0); KL(p_N || pi) decays to zero
as the density relaxes, and dSigma approaches its long-time value.

**Right: an asymmetric memory.** A double well tilted by f0 = 0.5 stores a bit whose two
states have unequal local free energies F_m. Erasing it (lower the barrier, tilt, raise,
untilt back to f0) costs at least F_neq(p_N) - F(lam_0) = sum p_m F_m + kT sum p_m ln p_m
- F (``nq.analysis.memory_bound``), not kT (ln 2 - H(p)): the symmetric formula is wrong
here by the asymmetry. The measured <W> lies above the generalized bound at every cycle
time and approaches it as 1/tau.

Set ``NEQSIM_EXAMPLE_SMALL=1`` for a quick run, ``NEQSIM_OUT`` for where the figure goes.
"""

# %%
# Set-up
# ------
import matplotlib.pyplot as plt
import numpy as np

import neqsim as nq
from _gallery import Table, save_figure, setup

SMALL, OUT = setup()
N_TRAJ = 4_000 if SMALL else 100_000
SEED = 12
table = Table(40)

# %%
# The quench: terms against the relaxation time
# ---------------------------------------------
trap = nq.systems.harmonic_trap()
K0, K1, DT = 1.0, 4.0, 0.005
START = nq.StartDensity.gaussian(0.7, 0.8)
steps_list = [1, 5, 10, 20, 40, 80, 160] if not SMALL else [1, 10, 40, 160]
em = nq.EulerMaruyama(dt=DT)
points = []
for n_steps in steps_list:
    lam = np.column_stack([np.zeros(n_steps + 1), np.r_[K0, np.full(n_steps, K1)]])
    # the run at t = 0.2 goes to a run file: the analysis reads the starts back from it
    out = OUT / "nonequilibrium_quench.h5" if n_steps == 40 else None
    files = {"out": out, "overwrite": True} if out else {}
    run = nq.simulate(trap, lam, em, N_TRAJ, seed=SEED, init=START, progress=False, **files)
    ep = nq.analysis.entropy_production(out or run, start=START)
    ex = nq.exact.breathing_quench(K0, K1, n_steps, DT, 1.0, 0.7, 0.64)
    points.append((n_steps * DT, ep, ex))
    if n_steps == 40:
        print(ep.table())
        table.check("quench S(p_N), t = 0.2", ep.s_end.value, ep.s_end.std_error, ex.s_end)
        table.check("quench KL(p_N || pi), t = 0.2", ep.kl_end.value, ep.kl_end.std_error,
                    ex.kl_end)
        table.check("quench dSigma, t = 0.2", ep.entropy_production.value,
                    ep.entropy_production.std_error, ex.entropy_production)
        table.check("quench -beta<Q>, t = 0.2", ep.heat_term.value, ep.heat_term.std_error,
                    ex.heat_term)

# %%
# The asymmetric memory: work against the generalized bound
# ---------------------------------------------------------
well = nq.systems.double_well()
A, F0, F_MAX, DT_W = 6.0, 0.5, 3.0, 2e-3
knots = [(A, F0), (0.0, F0), (0.0, F_MAX), (A, F_MAX), (A, F0)]
f_local = nq.analysis.local_free_energies(well, [A, F0], [0.0])
print(f"local free energies of the two wells at f0 = {F0}: {f_local.round(4).tolist()} kT")
taus = [1.0, 2.0, 4.0, 8.0, 16.0] if not SMALL else [1.0, 4.0]
mem = []
for tau in taus:
    proto = nq.protocols.piecewise(knots, int(round(tau / DT_W)))
    run = nq.simulate(well, proto, nq.MALA(dt=DT_W), N_TRAJ // 4, seed=SEED + 1,
                      progress=False)
    states = (run.x[:, 0] > 0).astype(np.int64)
    check = nq.analysis.memory_bound(run, states, f_local, f_local)
    p_n = states.mean()
    mem.append((tau, check, p_n, nq.analysis.erasure_bound(p_n)))
    table.bound(f"memory <W> >= dF_neq, tau = {tau:g}", check)
    print(f"tau = {tau:5.1f}: <W> = {check.value:.4f} +- {check.std_error:.4f}, "
          f"p_N = {p_n:.4f}, generalized bound {check.bound:.4f}, "
          f"symmetric formula kT(ln2 - H) = {mem[-1][3]:.4f}")

table.print()

# %%
# Figure
# ------
fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
ax = axes[0]
t_fine = np.arange(1, max(steps_list) + 1)
curves = [nq.exact.breathing_quench(K0, K1, n, DT, 1.0, 0.7, 0.64) for n in t_fine]
for name, attr, colour in (("$-\\beta\\langle Q\\rangle$", "heat_term", "C0"),
                           ("$S(p_N) - S(p_0)$", None, "C1"),
                           ("$\\Delta\\Sigma$", "entropy_production", "C2"),
                           ("KL$(p_N\\,\\|\\,\\pi_{k_1})$", "kl_end", "C3")):
    if attr is None:
        ys = [c.s_end - c.s_start for c in curves]
        pts = [(t, ep.s_end.value - ep.s_start.value, ep.s_end.std_error)
               for t, ep, _ in points]
    else:
        ys = [getattr(c, attr) for c in curves]
        pts = [(t, getattr(ep, attr if attr != "heat_term" else "heat_term").value,
                getattr(ep, attr).std_error) for t, ep, _ in points]
    ax.plot(t_fine * DT, ys, color=colour, label=name + " (exact)")
    ax.errorbar([p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts], fmt="o",
                color=colour, ms=4, capsize=2)
ax.set_xscale("log")
ax.set_xlabel("time after the quench $t$ [$\\gamma / k_0$]")
ax.set_ylabel("nats")
ax.set_title("Quench k: 1 → 4 from N(0.7, 0.8²): lines exact, points simulated")
nq.analysis.plots.legend_below(ax, ncols=2)

ax = axes[1]
ts = np.array([m[0] for m in mem])
ax.errorbar(ts, [m[1].value for m in mem], [m[1].std_error for m in mem], fmt="o-",
            label="$\\langle W\\rangle$ (simulated)")
ax.plot(ts, [m[1].bound for m in mem], "s--", color="C2",
        label="generalized bound $F_{neq}(p_N) - F(\\lambda_0)$")
ax.plot(ts, [m[3] for m in mem], "^:", color="C3",
        label="symmetric formula $kT(\\ln 2 - H(p_N))$ (wrong here)")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("cycle time $\\tau$")
ax.set_ylabel("work [kT]")
ax.set_title(f"Erasing an asymmetric memory (tilt $f_0$ = {F0})")
nq.analysis.plots.legend_below(ax)
save_figure(fig, OUT / "nonequilibrium_quench.png")
