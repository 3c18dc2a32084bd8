"""Optional figures for work samples: distributions, the Crooks check, convergence, ESS.

matplotlib is imported inside each function, so ``import neqsim`` never pays for it.
Inputs are those of the estimators: arrays of works done ON the system (beta defaults
to 1), :class:`neqsim.Run` objects, or run-file paths (``path_work`` and the run's beta).

Every function draws into ``ax`` and returns it. With ``ax=None`` it makes a standalone
figure on an Agg canvas (no pyplot, so no global state and no display needed): save it
with ``ax.figure.savefig(...)``, or pass ``ax=plt.gca()`` to draw into a pyplot figure.

    ax = nq.analysis.plots.work_histograms(fwd, rev)
    fig = nq.analysis.plots.report(fwd, rev, path="report.png")
"""
from __future__ import annotations

import os

import numpy as np

from ._common import as_work
from .crooks import CrooksCheck, crooks
from .exp import MIN_ESS, jarzynski
from .logz import ess_curve
from .report import exact_delta_f

__all__ = ["work_histograms", "crooks_plot", "running_estimate", "ess_plot", "report",
           "legend_below"]


def _new_figure(figsize=(6.0, 4.0)):
    """A Figure on its own Agg canvas: works headless and leaves pyplot untouched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _axes(ax):
    return _new_figure().add_subplot() if ax is None else ax


def legend_below(ax, handles=None, labels=None, *, ncols=2, fontsize="small"):
    """The legend of ``ax`` (or of ``handles``/``labels``) under its x label, outside the
    data; ``constrained_layout`` figures (as :func:`report` makes) leave room for it.
    Returns the legend, or None when there is nothing to label."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, fontsize=fontsize, loc="upper center", ncols=ncols,
                     bbox_to_anchor=(0.5, -0.16), frameon=False)


def _work_symbol(x):
    """How the work taken from ``x`` is named on an axis: a Run whose path work differs
    from its protocol work (a non-Metropolized integrator) gives the path work."""
    from ..storage.result import Run
    x = _as_run(x)
    if isinstance(x, Run) and x.path_work is not None and not np.array_equal(
            x.path_work, x.work, equal_nan=True):
        return "path work $W_\\mathrm{path}$"
    return "work W"


def _energy_label(symbol, beta):
    """An axis label in the potential's energy units, with kT."""
    kt = "" if beta is None else f"; kT = {1.0 / float(beta):.3g}"
    return f"{symbol} (energy units of the potential{kt})"


def _as_run(x):
    """A run-file path opened once (so a report reads each file once); anything else as is."""
    if isinstance(x, (str, os.PathLike)):
        from ..storage.runfile import open_run
        return open_run(x)
    return x


def work_histograms(work_f, work_r=None, beta=None, *, delta_f=None, bins=60, ax=None):
    """Density histograms of the forward works W_F and of the mirrored reverse works -W_R.

    By Crooks' theorem P_F(W) / P_R(-W) = exp(beta (W - dF)) the two densities cross at
    W = dF; with ``work_r`` the crossing of the fitted Crooks line (:func:`crooks`) is
    marked (nothing if the samples overlap too little to fit it). ``delta_f``, if given,
    is drawn as the exact dF. Both histograms share ``bins`` equal bins; +inf works
    (zero weights) are left out.
    """
    work_f = _as_run(work_f)
    symbol = _work_symbol(work_f)
    wf, beta = as_work(work_f, beta, name="forward work")
    beta_used = beta
    ax = _axes(ax)
    samples = [(wf[np.isfinite(wf)], "forward $W_F$", "C0")]
    if work_r is not None:
        wr, _ = as_work(work_r, beta, name="reverse work")
        samples.append((-wr[np.isfinite(wr)], "mirrored reverse $-W_R$", "C1"))
    # common edges so the two densities are compared bin by bin, as the Crooks check does
    pooled = np.concatenate([s for s, _, _ in samples])
    edges = np.histogram_bin_edges(pooled, bins=bins)
    for s, label, color in samples:
        ax.hist(s, bins=edges, density=True, histtype="stepfilled", alpha=0.35, color=color,
                label=label)
        ax.hist(s, bins=edges, density=True, histtype="step", color=color)
    if work_r is not None:
        try:
            chk = crooks(wf, wr, beta)
            ax.axvline(chk.crossing, color="k", ls="--",
                       label=f"Crooks crossing {chk.crossing:.4g}")
        except ValueError:
            pass  # too little overlap for a fit: the histograms alone say so
    if delta_f is not None:
        ax.axvline(delta_f, color="C3", ls=":", lw=2, label=f"exact $\\Delta F$ = {delta_f:.4g}")
    ax.set_xlabel(_energy_label(symbol, beta_used))
    ax.set_ylabel("density (per energy unit)")
    ax.set_title("Work distributions")
    legend_below(ax)
    return ax


def crooks_plot(check_or_work_f, work_r=None, beta=None, *, ax=None):
    """The Crooks check: r(W) = ln P_F(W) / P_R(-W) per bin against W (the bin's
    ``w_eff``), with error bars, for the bins with enough counts in both directions; the
    freely fitted line a W + b, and the line beta (W - dF) that Crooks' theorem predicts
    (slope beta, dF = ``check.delta_f``, the fit with the slope fixed at beta).

    Takes a :class:`CrooksCheck`, or forward works, reverse works and beta, for which
    :func:`crooks` is called (ValueError when the samples overlap too little).
    """
    symbol = "work W"
    if isinstance(check_or_work_f, CrooksCheck):
        chk = check_or_work_f
    else:
        check_or_work_f = _as_run(check_or_work_f)
        symbol = _work_symbol(check_or_work_f)
        if work_r is None:
            raise TypeError("crooks_plot needs a CrooksCheck, or forward and reverse works")
        chk = crooks(check_or_work_f, work_r, beta)
    ax = _axes(ax)
    used = chk.used
    x, y, dy = chk.w_eff[used], chk.log_ratio[used], chk.log_ratio_error[used]
    ax.errorbar(x, y, yerr=dy, fmt="o", ms=4, capsize=2, color="C0",
                label="$\\ln P_F(W)/P_R(-W)$ per bin")
    xs = np.linspace(x.min(), x.max(), 2)
    ax.plot(xs, chk.slope * xs + chk.intercept, color="C1",
            label=f"fit: slope {chk.slope:.3g} $\\pm$ {chk.slope_error:.2g}")
    ax.plot(xs, chk.beta * (xs - chk.delta_f), color="k", ls="--",
            label=f"Crooks: $\\beta(W-\\Delta F)$, $\\beta$ = {chk.beta:g}, "
                  f"$\\Delta F$ = {chk.delta_f:.4g}")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel(_energy_label(symbol, chk.beta))
    ax.set_ylabel("$\\ln P_F(W) / P_R(-W)$ (dimensionless)")
    ax.set_title(f"Crooks check ($\\chi^2$/dof = {chk.chi2:.1f}/{chk.dof}, "
                 f"p = {chk.p_value:.2g})")
    legend_below(ax)
    return ax


def running_estimate(work, beta=None, *, exact=None, ax=None, n_points=200):
    """The Jarzynski (EXP) estimate of dF from the first n trajectories against n, at about
    ``n_points`` log-spaced n, with +-1 and +-2 standard-error bands (delta method, as
    :func:`jarzynski`); prefixes the estimator flags as unreliable are marked. A curve
    still drifting (typically downwards, EXP being biased high) has not converged.
    ``exact``: a known dF, drawn as a horizontal line.
    """
    w, beta = as_work(work, beta)
    n = w.size
    # trajectories are independent and their order carries no information (trajectory i
    # depends only on (seed, i)), so prefixes are fair subsamples
    sizes = np.unique(np.round(np.geomspace(2, n, n_points)).astype(int)) if n > 1 \
        else np.array([1])
    value, se, ok = np.empty(sizes.size), np.empty(sizes.size), np.empty(sizes.size, bool)
    for i, m in enumerate(sizes):
        est = jarzynski(w[:m], beta, n_bootstrap=0, warn=False)
        value[i], se[i], ok[i] = est.value, est.std_error, est.reliable
    ax = _axes(ax)
    # error bands only where the estimator trusts its error bar: a flagged prefix's error
    # (the Gaussian-tail model, e^{beta^2 Var W}) can be 100 kT and would hide the curve
    band = ok & np.isfinite(se)
    if band.any():
        ax.fill_between(sizes, value - 2 * se, value + 2 * se, where=band, color="C0",
                        alpha=0.15, lw=0, label="$\\pm 2\\sigma$")
        ax.fill_between(sizes, value - se, value + se, where=band, color="C0", alpha=0.3,
                        lw=0, label="$\\pm 1\\sigma$")
    ax.plot(sizes, value, color="C0", label="EXP (Jarzynski)")
    if not ok.all():
        ax.plot(sizes[~ok], value[~ok], "x", color="C3", ms=4,
                label="unreliable (no error band)")
    if exact is not None:
        ax.axhline(exact, color="k", ls="--", label=f"exact $\\Delta F$ = {exact:.4g}")
    # y range from the estimates (and exact) with a margin, not from the bands: a
    # Gaussian-guard error of a hopeless sample (e^{beta^2 Var W}) would flatten the curve
    core = value[np.isfinite(value)]
    if exact is not None:
        core = np.append(core, exact)
    if core.size:
        lo, hi = core.min(), core.max()
        pad = max(hi - lo, 1e-3 * max(abs(lo), abs(hi)), 1e-12)
        # the bands may widen the range by at most one more curve span
        b_lo = np.min(value[band] - 2 * se[band]) if band.any() else lo
        b_hi = np.max(value[band] + 2 * se[band]) if band.any() else hi
        ax.set_ylim(min(lo, max(b_lo, lo - pad)) - 0.05 * pad,
                    max(hi, min(b_hi, hi + pad)) + 0.05 * pad)
    ax.set_xscale("log")
    ax.set_xlabel("number of trajectories")
    ax.set_ylabel(_energy_label("$\\Delta F$ estimate", beta))
    ax.set_title("Running Jarzynski estimate")
    legend_below(ax)
    return ax


def ess_plot(cumulative_log_weights_or_run, *, steps=None, ax=None):
    """Kish effective sample size of the weights exp(-beta W_t) against the step, from
    cumulative log weights (n_chains, n_records) or a Run / run file with traces
    (:func:`ess_curve`; steps from ``run.trace["step"]``, else 0, 1, ...). Log scale;
    the dashed line is the ESS below which :func:`jarzynski` calls an estimate unreliable.
    """
    from ..storage.result import Run
    x = _as_run(cumulative_log_weights_or_run)
    ess = ess_curve(x)
    if steps is None:
        steps = np.asarray(x.trace["step"]) if isinstance(x, Run) else np.arange(ess.size)
    n = x.n_traj if isinstance(x, Run) else np.asarray(x).shape[0]
    ax = _axes(ax)
    ax.plot(steps, ess, color="C2", label="ESS")
    ax.axhline(n, color="0.6", lw=0.8, label=f"n = {n}")
    ax.axhline(MIN_ESS, color="C3", ls="--", lw=1, label=f"{MIN_ESS:g} (EXP unreliable below)")
    ax.set_yscale("log")
    ax.set_ylim(0.8, 1.5 * n)  # ESS lies in [1, n]
    ax.set_xlabel("protocol step")
    ax.set_ylabel("ESS (trajectories)")
    ax.set_title("Effective sample size")
    legend_below(ax)
    return ax


def report(fwd, rev=None, *, exact=None, path=None):
    """A summary figure: work histograms, the Crooks check (with ``rev``), the running
    Jarzynski estimate, and the ESS along the protocol (when ``fwd`` is a Run with
    traces): 2x2 with four panels, one row otherwise. ``exact`` defaults to the exact dF
    of a Run whose system knows its free energy. Saves to ``path`` (dpi 120) if given;
    returns the Figure (Agg canvas, no pyplot).
    """
    from ..storage.result import Run
    fwd, rev = _as_run(fwd), _as_run(rev)
    if exact is None:
        exact = exact_delta_f(fwd)
    panels = [lambda ax: work_histograms(fwd, rev, delta_f=exact, ax=ax)]
    if rev is not None:
        panels.append(lambda ax: _crooks_panel(fwd, rev, ax))
    panels.append(lambda ax: running_estimate(fwd, exact=exact, ax=ax))
    if isinstance(fwd, Run) and fwd.trace is not None:
        panels.append(lambda ax: ess_plot(fwd, ax=ax))
    rows, cols = (2, 2) if len(panels) == 4 else (1, len(panels))
    fig = _new_figure(figsize=(5.8 * cols, 5.0 * rows))
    for i, draw in enumerate(panels):
        draw(fig.add_subplot(rows, cols, i + 1))
    if isinstance(fwd, Run):
        fig.suptitle(f"{fwd.system_name}: {fwd.n_traj} forward"
                     + (f", {rev.n_traj} reverse" if isinstance(rev, Run) else "")
                     + f" trajectories, {fwd.protocol.n_steps} steps, beta = {fwd.beta:g}")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def _crooks_panel(fwd, rev, ax):
    try:
        return crooks_plot(fwd, rev, ax=ax)
    except ValueError as e:
        # too little overlap to check Crooks: say so in the panel rather than fail the report
        import textwrap
        ax.text(0.5, 0.5, textwrap.fill("Crooks check not possible: " + str(e), 45),
                ha="center", va="center", transform=ax.transAxes, fontsize="small")
        ax.set_axis_off()
        return ax


def plot_profile(prof, *, ax=None, x="time"):
    """A :class:`neqsim.analysis.Profile`: dF(lam_t) against time (or ``x="lam"``: the
    first control), a +-2 sigma band where the slice is reliable, unreliable slices as
    hollow markers, and the exact curve when known."""
    ax = _axes(ax)
    xs = prof.time if x == "time" else prof.lam[:, 0]
    rel = np.asarray(prof.reliable, dtype=bool)
    ax.plot(xs, prof.value, "-", color="C0", label=prof.method)
    band = rel & np.isfinite(prof.std_error)
    if band.any():
        lo = np.where(band, prof.value - 2 * prof.std_error, np.nan)
        hi = np.where(band, prof.value + 2 * prof.std_error, np.nan)
        ax.fill_between(xs, lo, hi, color="C0", alpha=0.25, lw=0,
                        label="+-2 standard errors (reliable slices)")
    if (~rel).any():
        ax.plot(xs[~rel], prof.value[~rel], "o", mfc="none", color="C3",
                label="unreliable slice (no band)")
    if prof.exact is not None:
        ax.plot(xs, prof.exact, "k--", lw=1, label="exact F(lam_t) - F(lam_0)")
    ax.set_xlabel("time" if x == "time" else "lam (the first control)")
    ax.set_ylabel(_energy_label("dF(lam_t)", prof.beta))
    legend_below(ax)
    return ax


def plot_pmf(pmf, *, ax=None, exact=None):
    """A :class:`neqsim.analysis.PMF`: the weighted estimate with +-2 sigma, the naive
    histogram beside it, and ``exact`` (a function of x, shifted to the same reference
    bin) when given."""
    ax = _axes(ax)
    ok = np.isfinite(pmf.value)
    c = pmf.centers
    ax.errorbar(c[ok], pmf.value[ok], yerr=2 * np.nan_to_num(pmf.std_error[ok]), fmt="o",
                ms=3, color="C0", label=f"{pmf.method} (+-2 s.e.)")
    ax.plot(c[ok], pmf.naive[ok], "s", ms=3, mfc="none", color="C3",
            label="unweighted histogram -kT ln p(x)")
    if exact is not None:
        g = np.asarray(exact(c), dtype=float)
        ax.plot(c[ok], (g - g[pmf.reference])[ok], "k--", lw=1, label="exact G_0(x)")
    ax.set_xlabel("x (length units of the potential)")
    ax.set_ylabel(_energy_label("G_0(x)", pmf.beta))
    legend_below(ax)
    return ax


def plot_overlap(result, *, ax=None):
    """The MBAR overlap matrix of a :class:`neqsim.analysis.MBARResult` as an image."""
    ax = _axes(ax)
    o = np.asarray(result.overlap)
    im = ax.imshow(o, cmap="viridis", vmin=0.0, vmax=max(float(o.max()), 1e-12))
    for i in range(o.shape[0]):
        for j in range(o.shape[1]):
            ax.text(j, i, f"{o[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="w" if o[i, j] < 0.5 * o.max() else "k")
    ax.set_xlabel("state j")
    ax.set_ylabel("state i")
    ax.figure.colorbar(im, ax=ax, label="overlap O_ij")
    return ax
