"""Bennett's acceptance ratio (BAR): the maximum-likelihood dF from forward and reverse work."""
from __future__ import annotations

import math

import numpy as np
from scipy.special import expit, logsumexp

from .._keywords import suggest_keywords
from ._common import (
    Estimate,
    as_work,
    bootstrap,
    check_bootstrap,
    correlation_note,
    fp_local,
    open_source,
    order_of,
    warn_correlated,
    warn_unreliable,
)
from .correlation import block_length, statistical_inefficiency
from .exp import exp_reduced
from .tails import pareto_tail

__all__ = ["bar", "bar_reduced", "overlap"]

MIN_OVERLAP = 0.03


def _log_fermi(x):
    """log 1 / (1 + e^x), without overflow."""
    return -np.logaddexp(0.0, x)


def _score(df, wf, wr, m):
    """log sum_F f(M + w_F - df) - log sum_R f(-M + w_R + df): increasing in df, zero at
    the BAR solution (Bennett 1976; Shirts et al., PRL 91, 140601 (2003))."""
    return logsumexp(_log_fermi(m + wf - df)) - logsumexp(_log_fermi(-m + wr + df))


def bar_reduced(wf, wr):
    """BAR solution beta dF for reduced works (beta W) of the forward and reverse process.

    Solves sum_F 1/(1 + (n_F/n_R) e^{w_F - df}) = sum_R 1/(1 + (n_R/n_F) e^{w_R + df}) by
    Brent's method on a bracket grown from the two EXP estimates (the score is monotone, so
    a root always exists). Raises RuntimeError if the solver fails.
    """
    m = math.log(wf.size / wr.size)
    lo, hi = sorted((exp_reduced(wf), -exp_reduced(wr)))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        fin = np.concatenate([wf[np.isfinite(wf)], -wr[np.isfinite(wr)]])
        lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (-1.0, 1.0)
    width = max(hi - lo, 1.0)
    lo, hi = lo - 0.1 * width, hi + 0.1 * width
    for _ in range(200):
        s_lo, s_hi = _score(lo, wf, wr, m), _score(hi, wf, wr, m)
        if s_lo <= 0.0 <= s_hi:
            break
        if s_lo > 0:
            lo -= width
        if s_hi < 0:
            hi += width
        width *= 2.0
    else:
        raise RuntimeError("BAR: could not bracket the solution")
    if s_lo == 0.0:
        return lo
    if s_hi == 0.0:
        return hi
    from scipy.optimize import brentq  # here: scipy.optimize is slow to import
    root, info = brentq(_score, lo, hi, args=(wf, wr, m), xtol=1e-14, rtol=1e-15,
                        maxiter=500, full_output=True, disp=False)
    if not info.converged:
        raise RuntimeError(f"BAR: solver did not converge ({info.flag})")
    return root


def _solve_near(wf, wr, x0, tol=1e-12):
    """The BAR root by Newton's method from a nearby ``x0`` (bootstrap replicates start
    at the full-sample root, ~2-3 iterations), falling back to :func:`bar_reduced`.
    Fermi functions in linear space: f = expit(-a) lies in [0, 1], so the sums cannot
    overflow; if one underflows to zero the robust log-space solver takes over."""
    m = math.log(wf.size / wr.size)
    x = x0
    for _ in range(30):
        fa = expit(-(m + wf - x))
        fb = expit(-(-m + wr + x))
        sa, sb = fa.sum(), fb.sum()
        if not (sa > 0 and sb > 0):
            break
        g = math.log(sa) - math.log(sb)
        slope = float((fa * (1 - fa)).sum() / sa + (fb * (1 - fb)).sum() / sb)
        if not slope > 0:
            break
        step = g / slope
        x -= step
        if abs(step) <= tol * max(1.0, abs(x)):
            return x
    return bar_reduced(wf, wr)


def fermi_terms(df, wf, wr):
    """The per-trajectory terms of the BAR equation at beta dF = ``df``: f(M + w_F - df)
    for each forward and f(-M + w_R + df) for each reverse trajectory."""
    m = math.log(wf.size / wr.size)
    return np.exp(_log_fermi(m + wf - df)), np.exp(_log_fermi(-m + wr + df))


def _asymptotic_variance(df, wf, wr, g_f=1.0, g_r=1.0):
    """Variance of beta dF (Bennett 1976 eq. 10a as corrected in pymbar):
    g_F (<f^2>_F / (n_F <f>_F^2) - 1/n_F) + g_R (<f^2>_R / (n_R <f>_R^2) - 1/n_R),
    each direction's term the relative variance of the mean of its Fermi functions,
    times its statistical inefficiency g (1 for independent trajectories)."""
    nf, nr = wf.size, wr.size
    m = math.log(nf / nr)
    lf = _log_fermi(m + wf - df)
    lr = _log_fermi(-m + wr + df)
    a_f = math.exp(logsumexp(2 * lf) - 2 * logsumexp(lf) + math.log(nf)) / nf
    a_r = math.exp(logsumexp(2 * lr) - 2 * logsumexp(lr) + math.log(nr)) / nr
    if g_f == 1.0 and g_r == 1.0:
        var = a_f + a_r - (1.0 / nf + 1.0 / nr)
    else:
        var = g_f * (a_f - 1.0 / nf) + g_r * (a_r - 1.0 / nr)
    # the terms are O(1/n) each: anything below their round-off is an exact zero
    # (constant work: a reversible process, dF known exactly)
    return var if var > 64 * np.finfo(float).eps * (1.0 / nf + 1.0 / nr) else 0.0


def _g_works(w):
    fin = np.isfinite(w)
    return statistical_inefficiency(np.where(fin, w, np.max(w[fin]))) if fin.any() else 1.0


def overlap(wf, wr, df):
    """Overlap of the forward and reverse work distributions, 1 - lambda_2 of the 2x2
    MBAR overlap matrix of the pooled samples (0: disjoint; 1: identical), for reduced
    works and beta dF."""
    nf, nr = wf.size, wr.size
    u = np.concatenate([wf, -wr])      # every sample in forward-work coordinates
    log_den = np.logaddexp(math.log(nf), math.log(nr) + df - u)
    la = -log_den
    lb = df - u - log_den
    la -= logsumexp(la)
    lb -= logsumexp(lb)
    o_aa = nf * math.exp(logsumexp(2 * la))
    o_bb = nr * math.exp(logsumexp(2 * lb))
    return float(min(max(2.0 - o_aa - o_bb, 0.0), 1.0))


@suggest_keywords
@fp_local
def bar(work_f, work_r, beta=None, *, n_bootstrap=200, confidence=0.95, seed=0,
        min_overlap=MIN_OVERLAP, ordered=None, warn=True):
    """Bennett acceptance ratio: maximum-likelihood dF from forward works ``work_f``
    (process A -> B, lam_0 -> lam_N) and reverse works ``work_r`` (B -> A, the reversed
    protocol, each starting in equilibrium), both done ON the system. Sample sizes may
    differ.

    Crooks' theorem P_F(W) / P_R(-W) = exp(beta (W - dF)) makes the likelihood of the
    direction labels a logistic regression whose maximum is the BAR equation
    (Shirts et al., PRL 91, 140601 (2003)). Standard error: the asymptotic variance
    (Bennett 1976, as in pymbar's default); a bootstrap (forward and reverse resampled
    separately) gives the percentile interval. Exact for constant works (dF = W_F = -W_R,
    error 0).

    Never a plausible number from bad data: NaN or -inf work raises ValueError; +inf is
    a zero weight. If no forward work lies within the range of the negated reverse works
    (disjoint samples), the data do not determine dF: the value is NaN, flagged, and
    the diagnostics give the EXP bounds. Overlap below ``min_overlap`` (pymbar's advice:
    0.03) marks the estimate unreliable. Solver failure raises RuntimeError.

    Correlated trajectories (``ordered``, as in :func:`neqsim.analysis.jarzynski`, decided
    per direction from each Run when None; a pair gives each direction's): each
    direction's variance term is multiplied by the statistical inefficiency in trajectory
    order (the larger of its Fermi terms' and its works'), and the bootstrap resamples
    blocks.

    Diagnostics: ``overlap``, ``exp_forward`` and ``exp_reverse`` (dF from each direction
    alone; with enough samples they bracket dF), ``n_forward``, ``n_reverse``,
    ``k_hat_forward`` and ``k_hat_reverse`` (Pareto tail shapes of each direction's
    exponential weights: above 1/2 that direction's EXP is not to be trusted, while BAR's
    bounded Fermi weights are unaffected), ``g_forward``, ``g_reverse``.
    """
    n_bootstrap, confidence = check_bootstrap(n_bootstrap, confidence)
    work_f, work_r = open_source(work_f), open_source(work_r)
    pair = ordered if isinstance(ordered, tuple) else (ordered, ordered)
    ord_f, ord_r = order_of(work_f, pair[0]), order_of(work_r, pair[1])
    wf_raw, beta = as_work(work_f, beta, name="forward work")
    wr_raw, beta_r = as_work(work_r, beta, name="reverse work")
    if beta_r != beta:
        raise ValueError(f"forward and reverse runs have different beta ({beta} vs {beta_r})")
    wf, wr = beta * wf_raw, beta * wr_raw
    nf, nr = wf.size, wr.size
    kT = 1.0 / beta
    exp_f, exp_r = exp_reduced(wf) * kT, -exp_reduced(wr) * kT
    diagnostics = {"exp_forward": exp_f, "exp_reverse": exp_r, "n_forward": nf,
                   "n_reverse": nr, "k_hat_forward": pareto_tail(-wf).k_hat,
                   "k_hat_reverse": pareto_tail(-wr).k_hat, "g_forward": 1.0,
                   "g_reverse": 1.0}
    reasons = []
    ff, rr = wf[np.isfinite(wf)], -wr[np.isfinite(wr)]
    if ff.size == 0 or rr.size == 0:
        raise ValueError("BAR needs at least one finite work in each direction")
    disjoint = ff.min() > rr.max()
    if disjoint:
        reasons.append(f"no overlap: every forward work ({ff.min() * kT:.4g} and above) "
                       f"exceeds every negated reverse work ({rr.max() * kT:.4g} and below); "
                       "the data cannot determine dF (bounds: EXP reverse "
                       f"{exp_r:.4g} <~ dF <~ EXP forward {exp_f:.4g})")
        diagnostics["overlap"] = 0.0
        est = Estimate("BAR", math.nan, math.nan, (math.nan, math.nan), math.nan, confidence,
                       (nf, nr), beta, "delta_f", False, tuple(reasons), diagnostics)
        if warn:
            warn_unreliable("BAR", reasons)
        return est
    df_red = bar_reduced(wf, wr)
    g_f = g_r = 1.0
    if ord_f or ord_r:
        t_f, t_r = fermi_terms(df_red, wf, wr)
        # as in EXP: the larger of the terms' and the works' g (the works' is the better
        # determined, and bounds a function's for a Gaussian process)
        g_f = max(statistical_inefficiency(t_f), _g_works(wf)) if ord_f else 1.0
        g_r = max(statistical_inefficiency(t_r), _g_works(wr)) if ord_r else 1.0
    diagnostics["g_forward"], diagnostics["g_reverse"] = g_f, g_r
    var = _asymptotic_variance(df_red, wf, wr, g_f, g_r)
    ov = overlap(wf, wr, df_red)
    diagnostics["overlap"] = ov
    if ov < min_overlap:
        reasons.append(f"overlap {ov:.3g} of forward and reverse work distributions is "
                       f"below {min_overlap:g}: the error estimate is not trustworthy")
    if min(nf, nr) < 2:
        # one sample has no spread: the variance formula (and every resample) then
        # reports an error of 0 that says nothing about the uncertainty
        reasons.append(f"{nf} forward and {nr} reverse work(s): at least 2 in each "
                       "direction are needed to estimate an error bar")
        var, n_bootstrap = math.nan, 0
    ci, bse, _ = bootstrap(lambda a, b: _solve_near(beta * a, beta * b, df_red) * kT,
                           (wf_raw, wr_raw), n_bootstrap, seed, confidence,
                           (block_length(g_f), block_length(g_r)))
    note = correlation_note("BAR", max(g_f, g_r))
    est = Estimate("BAR", float(df_red * kT), float(math.sqrt(var) * kT), ci, bse,
                   confidence, (nf, nr), beta, "delta_f", not reasons,
                   tuple(reasons) + ((note,) if note else ()), diagnostics)
    if reasons and warn:
        warn_unreliable("BAR", reasons)
    if note and warn:
        warn_correlated("BAR", note)
    return est
