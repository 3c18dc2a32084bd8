"""AIS: the evidence of a Bayesian linear regression, with bounds from both directions
====================================================================================

Annealed importance sampling (AIS, Neal 2001) is Jarzynski's equality at beta = 1 with
energies U(w, t) = -log f_t(w): chains start from exact prior draws, the density is
switched along prior(w) * likelihood(w)^t from t = 0 to 1 (the work is
-(t_k - t_{k-1}) log likelihood), and a Markov kernel that leaves f_t invariant moves the
chains in between. The log weights log w = -W average to the log evidence,

    log Z = log int prior(w) likelihood(w) dw = log mean(w)   (in expectation).

The model is :func:`neqsim.testsystems.linear_regression`: y = X w + noise with known
noise level, a Gaussian prior on d = 8 weights and 30 data points. Its evidence is known
in closed form (``lr.log_evidence``), so the estimate can be checked.

Forward AIS gives a *stochastic lower bound*: E[log Zhat] <= log Z (Jensen), and the mean
log weight E[log w] (the "ELBO") is a strict lower bound. Because this is simulated
data, exact posterior samples are available (``lr.sample_posterior``), and AIS run
backwards from them (reverse chains, t: 1 -> 0) gives the *upper* bounds:
-log mean(w_R) stochastically and -E[log w_R] (the "EUBO") strictly. This is
bidirectional Monte Carlo (Grosse, Ghahramani and Adams 2015); with both directions
:func:`neqsim.ais` returns BAR between them (Crooks' theorem again: the histograms of
log w and -log w_R cross at log Z).

The kernel is HMC with one step size per temperature tuned by ``step_size="adapt"``, and
the temperatures are placed at equal thermodynamic length by
:func:`neqsim.schedules.adaptive`; both are tuned on separate pilot chains, never on the
chains whose weights are averaged (that would bias log Z).

What to look at: the table (forward, reverse and bidirectional estimates within their
errors of the exact log Z; ELBO below it and EUBO above); in the figure, the ESS along the
schedule and the two log-weight histograms bracketing log Z.

Set ``NEQSIM_EXAMPLE_SMALL=1`` for a quick run (500 chains, 100 temperatures) and
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
from _gallery import Table, merged_legend, save_figure, setup

SMALL, OUT = setup()  # matplotlib Agg backend; NEQSIM_EXAMPLE_SMALL, NEQSIM_OUT
N_CHAINS = 500 if SMALL else 10_000
N_TEMPS = 100 if SMALL else 200
SEED = 2015
Z_MAX = 4.0

# the results table: PASS when an estimate is within Z_MAX standard errors of the exact
# value; a strict bound "holds" unless it is violated by more than Z_MAX of them
table = Table(30, exact_width=10, z_max=Z_MAX)


# %%
# The model and its exact evidence
# --------------------------------
# ``log_prior_grad`` and ``log_likelihood_grad`` are numba functions ``f(w, grad)`` that
# return the log density and write its gradient (HMC needs it).
lr = nq.testsystems.linear_regression(n_data=30, d=8, noise=1.0, seed=0)
log_prior = nq.log_density(lr.log_prior_grad, name="prior")
log_likelihood = nq.log_density(lr.log_likelihood_grad, name="likelihood")
exact = lr.log_evidence
print(f"linear regression: {lr.X.shape[0]} data points, d = {lr.dim}, noise = {lr.noise}, "
      f"exact log evidence = {exact:.6f}")

# %%
# Forward and reverse AIS in one call
# -----------------------------------
# ``reverse_initial``: exact posterior draws, from their own random stream. With
# ``record_every=1`` the cumulative log weights are kept at every temperature for the ESS
# curve. The forward chains stream into ``ais_regression.h5``, the reverse ones into
# ``ais_regression.h5.reverse.h5``.
rng = np.random.default_rng([SEED, 99])
run_file = OUT / "ais_regression.h5"
with warnings.catch_warnings():
    warnings.simplefilter("ignore", nq.analysis.UnreliableEstimateWarning)
    res = nq.ais(log_prior, log_likelihood, initial=lr.sample_prior,
                 schedule=nq.schedules.adaptive(N_TEMPS, n_pilot=500, grid=200),
                 kernel=nq.kernels.HMC("adapt", n_leapfrog=5), n_chains=N_CHAINS,
                 seed=SEED, reverse_initial=lr.sample_posterior(N_CHAINS, rng),
                 record_every=1, out=run_file, overwrite=True)
print(res)
est = res.estimate
diag = est.diagnostics
print(f"HMC acceptance (forward chains): {res.acceptance:.3f}; thermodynamic length of "
      f"the path: {res.pilot['thermodynamic_length']:.2f}")

# %%
# Estimates and bounds
# --------------------
# The forward estimate alone (``nq.analysis.ais_log_z`` on the forward log weights), the
# reverse one, BAR from both, and the strict ELBO / EUBO bounds.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", nq.analysis.UnreliableEstimateWarning)
    fwd = nq.analysis.ais_log_z(res.log_weights)
lw, lr_w = res.log_weights, res.log_weights_reverse
se_mean = lambda a: float(np.std(a, ddof=1) / np.sqrt(a.size))  # noqa: E731

table.check("log Z, forward AIS", fwd.log_z, fwd.std_error, exact, fwd.reliable)
table.check("log Z, reverse AIS", diag["reverse"], diag["reverse_std_error"], exact,
      diag["ess_reverse"] >= 30)
table.check("log Z, bidirectional (BAR)", est.log_z, est.std_error, exact, est.reliable)
table.bounds_exact("ELBO E[log w]      (<= log Z)", diag["elbo"], se_mean(lw), exact, "lower")
table.bounds_exact("EUBO -E[log w_R]   (>= log Z)", diag["eubo"], se_mean(lr_w), exact, "upper")

# %%
# Results
# -------
print()
print(f"{N_CHAINS} chains per direction, {res.schedule.n_steps} temperatures, "
      f"HMC (5 leapfrog steps), seed = {SEED}")
table.print()
print(f"ESS: forward {diag['ess']:.0f}, reverse {diag['ess_reverse']:.0f} of {N_CHAINS}; "
      f"BAR overlap {diag['overlap']:.3f}")
if not est.reliable:
    print("bidirectional estimate flagged:", "; ".join(est.warnings))
print()

# %%
# Figure
# ------
# Left: the effective sample size of the forward and reverse weights along the schedule
# (:func:`neqsim.analysis.plots.ess_plot` from the runs' traces), against the temperature
# index; the reverse chains start at the right, from exact posterior samples. Middle:
# the histograms of the forward log weights log w and of the negated reverse ones
# -log w_R; they cross at log Z (Crooks), their means are the ELBO and the EUBO. Right:
# the adapted schedule t_k and HMC step sizes.
plots = nq.analysis.plots
fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), constrained_layout=True)

ax = plots.ess_plot(res.run, ax=axes[0])
ax.lines[0].set_label("ESS, forward chains (t: 0 → 1)")
ess_rev = nq.analysis.ess_curve(res.reverse_run)
# reverse step j is at temperature index N - j: the reverse chains run from the right
k_rev = res.schedule.n_steps - np.asarray(res.reverse_run.trace["step"])
ax.plot(k_rev, ess_rev, color="C1", label="ESS, reverse chains (t: 1 → 0)")
ax.set_xlabel("temperature index k")
ax.set_title("Effective sample size along the schedule")
nq.analysis.plots.legend_below(ax)

ax = axes[1]
edges = np.histogram_bin_edges(np.concatenate([lw, -lr_w]), bins=80)
ax.hist(lw, bins=edges, density=True, alpha=0.45, color="C0", label="forward: log $w$")
ax.hist(-lr_w, bins=edges, density=True, alpha=0.45, color="C1",
        label="reverse: $-\\log w_R$")
ax.axvline(exact, color="k", lw=2, label=f"exact log Z = {exact:.3f}")
ax.axvline(diag["elbo"], color="C0", ls="--", label=f"ELBO = {diag['elbo']:.3f}")
ax.axvline(diag["eubo"], color="C1", ls="--", label=f"EUBO = {diag['eubo']:.3f}")
ax.set_yscale("log")
ax.set_xlabel("log weight (dimensionless, nats)")
ax.set_ylabel("density")
ax.set_title("Log weights bracket log Z")
nq.analysis.plots.legend_below(ax)

ax = axes[2]
t = res.schedule.values[:, 0]
k = np.arange(t.size)
ax.plot(k[1:], t[1:], color="C2", label="$t_k$ (adaptive: equal thermodynamic length)")
ax.set_yscale("log")
ax.set_xlabel("temperature index k")
ax.set_ylabel("$t_k$")
ax2 = ax.twinx()
ax2.plot(k, res.kernel.step_sizes(t.size), color="C4", ls="--", label="HMC step size")
ax2.set_ylabel("HMC step size")
ax.set_title("Adapted schedule and step sizes")
merged_legend(ax, ax2, ncols=1)

save_figure(fig, OUT / "ais_regression.png")
print(f"run files written to {run_file.resolve()} and {run_file.name}.reverse.h5")
