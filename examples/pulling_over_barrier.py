"""Pulling a particle over a barrier: the free-energy profile and the PMF
=======================================================================

A Brownian particle in the double well ``U_0 = x^4 - 2 x^2`` (barrier 1 kT at x = 0,
wells at x = +-1) is dragged from the left well to the right one by a harmonic spring,
``U = U_0 + k_s/2 (x - lam)^2`` (:func:`neqsim.systems.spring_pulled`), fast enough that
the particle lags behind and the work dissipates about a kT. Two things are recovered
from these out-of-equilibrium pulls, exactly in expectation:

* the free-energy profile F(lam_t) - F(lam_0) at every recorded step
  (:func:`neqsim.analysis.profile`: Jarzynski per slice forward, and with the reverse
  pulls the bidirectional path-ensemble estimator of Minh and Adib), against the exact
  profile by quadrature;
* the potential of mean force G_0(x) = U_0(x) (up to a constant) by the Hummer-Szabo
  estimator (:func:`neqsim.analysis.hummer_szabo`), against U_0 and against the naive
  histogram of the positions, which is visibly wrong because the pulled ensemble is not
  in equilibrium.

MALA is the integrator: Metropolized, so the recorded work is exact at this time step.
Set ``NEQSIM_EXAMPLE_SMALL=1`` for a quick run, ``NEQSIM_OUT`` for where the figure goes.
"""

# %%
# Set-up
# ------
import numpy as np

import neqsim as nq
from _gallery import Table, save_figure, setup

SMALL, OUT = setup()
N_TRAJ = 500 if SMALL else 5000
K_S = 10.0

well = nq.systems.double_well()                      # U = x^4 - a x^2 - f x
system = nq.systems.spring_pulled(well, k_s=K_S, base_controls=[2.0, 0.0])
forward, reverse = nq.protocols.crooks_pair(nq.protocols.linear([-1.5], [1.5], 998))
mala = nq.MALA(dt=0.005)
kw = dict(record_every=10, record_positions=True, progress=False)
# run files: `neqsim analyze pulling_forward.h5 pulling_reverse.h5 --profile` reads them
fwd = nq.simulate(system, forward, mala, N_TRAJ, seed=1, out=OUT / "pulling_forward.h5",
                  overwrite=True, **kw)
rev = nq.simulate(system, reverse, mala, N_TRAJ, seed=2, out=OUT / "pulling_reverse.h5",
                  overwrite=True, **kw)
print(fwd)
d_f = system.free_energy([1.5]) - system.free_energy([-1.5])
print(f"mean work {fwd.work.mean():.3f} kT for dF = {d_f:.3f} (a symmetric well)")

# %%
# The profile along the pull, and the PMF
# ---------------------------------------
one = nq.analysis.profile(fwd, n_bootstrap=0 if SMALL else 100)
both = nq.analysis.profile(fwd, rev, n_bootstrap=50 if SMALL else 200)
pmf = nq.analysis.hummer_szabo(fwd, bins=30, x_range=(-2.0, 2.0),
                               n_bootstrap=20 if SMALL else 100)
exact_g = pmf.centers ** 4 - 2 * pmf.centers ** 2
exact_g -= exact_g[pmf.reference]

table = Table(34, error_format="<8.4f", z_width=6)
mid = both.lam.shape[0] // 2
table.check(f"profile at lam = {both.lam[mid, 0]:+.2f} (both)", both.value[mid],
            both.std_error[mid], both.exact[mid], reliable=bool(both.reliable[mid]))
near = int(np.argmin(np.abs(pmf.centers)))
table.check(f"G_0 at x = {pmf.centers[near]:+.2f} (Hummer-Szabo)", pmf.value[near],
            pmf.std_error[near], exact_g[near], reliable=bool(pmf.reliable[near]))
table.info(f"naive -kT ln p at x = {pmf.centers[near]:+.2f}", pmf.naive[near], np.nan,
           exact_g[near], "the pulled ensemble is not in equilibrium")
table.print()

# %%
# Figure
# ------
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
both.plot(ax=axes[0], x="lam")
axes[0].plot(one.lam[:, 0], one.value, ":", color="C2", label="forward only (Jarzynski)")
nq.analysis.plots.legend_below(axes[0])
axes[0].set_title("free-energy profile along the pull")
pmf.plot(ax=axes[1], exact=lambda x: x ** 4 - 2 * x ** 2)
axes[1].set_title("potential of mean force G_0(x)")
save_figure(fig, OUT / "pulling_over_barrier.png")
