"""Jarzynski / exponential averaging (EXP) and the Gaussian (cumulant) estimate beside it."""
from __future__ import annotations

import math

import numpy as np
from scipy.special import log_ndtr, logsumexp

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
from .tails import K_FINITE_VARIANCE, pareto_tail, tail_std_error

__all__ = ["jarzynski", "exp_reduced", "cumulant"]

MIN_ESS = 30.0  # below, the asymptotic interval over- or under-covers (calibration test)
GAUSSIAN_TAIL_P = 1e-6  # the sample's lowest work rejects the Gaussian tail model below this
HEAVIER_THAN_GAUSSIAN_P = 1e-3  # ... and says the low-work tail is heavier than Gaussian


def exp_reduced(w):
    """-log <exp(-w)> for reduced works w = beta W (the EXP estimate of beta dF)."""
    return -(logsumexp(-w) - math.log(w.size))


@fp_local
def cumulant(work, beta=None, *, ordered=None):
    """Second-order cumulant (Gaussian) estimate dF = <W> - beta Var(W) / 2, exact for
    Gaussian work; returns (dF, standard error). Its error is
    sqrt(g) sqrt(Var W / n + beta^2 Var(W)^2 / (2 (n - 1))) (delta method, Gaussian fourth
    moment), g the statistical inefficiency of W in trajectory order when that order
    carries time (``ordered``, see :func:`jarzynski`), else 1."""
    work = open_source(work)
    ordered = order_of(work, ordered)
    w, beta = as_work(work, beta)
    n = w.size
    if n < 2 or not np.all(np.isfinite(w)):
        return math.nan, math.nan
    m, v = float(np.mean(w)), float(np.var(w, ddof=1))
    g = statistical_inefficiency(w) if ordered else 1.0
    se = math.sqrt(g * (v / n + (beta * v) ** 2 / (2.0 * (n - 1))))
    return m - 0.5 * beta * v, se


@suggest_keywords
@fp_local
def jarzynski(work, beta=None, *, n_bootstrap=200, confidence=0.95, seed=0,
              min_ess=MIN_ESS, ordered=None, warn=True):
    """Jarzynski's equality as an estimator: dF = -kT log <exp(-beta W)> (EXP).

    Computed with log-sum-exp. The standard error is the delta method,
    kT sd(x) / (sqrt(n) <x>) with x = exp(-beta W) (as pymbar's EXP), beside a bootstrap
    percentile interval and standard deviation.

    The exponential average is dominated by rare low-work trajectories: it is biased
    upwards and its error bar too small until the sample reaches them, which needs about
    n >> exp(beta W_diss) trajectories, W_diss the dissipated work (Jarzynski, "Rare events
    and the convergence of exponentially averaged work values", Phys. Rev. E 73, 046105
    (2006); for Gaussian work beta W_diss = beta^2 Var(W) / 2). The estimate is marked
    unreliable (``reliable=False``, a warning) when the Kish effective sample size of the
    weights exp(-beta W) is below ``min_ess``, or when the one predicted from the spread of
    the low-work side, n exp(-beta^2 sigma_low^2) with sigma_low = median - 15.87%
    quantile (for Gaussian work sigma_low = sd and the weights' relative variance is
    exp(beta^2 Var W) - 1), is: an unsampled tail makes the sample ESS look healthy,
    while quantiles are robust where the exponential average is not. The reported
    standard error is the larger of the delta-method one and
    kT sqrt((exp(beta^2 sigma_low^2) - 1) / n).

    Heavy tails: both error bars assume the weights have a finite variance. The
    generalized-Pareto shape k_hat of the largest weights (:func:`neqsim.analysis.pareto_tail`,
    Vehtari et al., JMLR 25 (2024)) tests that: P(w > t) ~ t^(-1/k), so the variance is
    infinite for k >= 1/2 and no average of n weights converges for k above
    min(1 - 1/log10 n, 0.7). When the lowest works lie further out than a Gaussian
    low-work tail allows, k_hat above either bound makes the estimate unreliable, and
    neither the standard error nor the bootstrap interval is an error bar. (Gaussian work
    gives log-normal weights: finite variance, though their k_hat exceeds 1/2 and even 0.7
    for a while; the Gaussian model above judges those.)
    Below it, when the low-work tail is heavier than Gaussian, the reported error is at
    least the one with the largest weights replaced by their Pareto model
    (:func:`neqsim.analysis.tails.tail_std_error`): the sample's spread misses what it
    has not drawn, and heavy tails are where that matters.

    Correlated trajectories: when the trajectory order carries time (``ordered``; by
    default True for a Run whose initial states were given, e.g. snapshots of one
    equilibrium run, see :func:`neqsim.analysis.starts_ordered`, and False for arrays),
    the statistical inefficiency g in that order
    (:func:`neqsim.analysis.statistical_inefficiency`; the larger of the weights' and the
    works', see below) multiplies the variance: the
    standard errors are scaled by sqrt(g), the effective sample sizes divided by g, and the
    bootstrap resamples blocks of ceil(4 g) consecutive trajectories. g > 1.5 is said in
    ``warnings`` (and as a :class:`CorrelatedTrajectoriesWarning`); it does not by itself
    make the estimate unreliable, since the error bar accounts for it. (The weights' own g
    is noisy and biased low when they are skewed: on AR(1) starts at rho = 0.95 it gave
    1-sigma coverage 0.63; the works' g is better determined and, for a Gaussian process,
    bounds that of any function of it; with the larger of the two, 0.70-0.72.)

    ``work``: array of works done on the system (energy units), a Run, or a run file
    (``path_work`` is used, see :func:`neqsim.analysis.as_work`). NaN raises; +inf is a
    zero weight. Diagnostics: ``ess``, ``ess_fraction``, ``ess_gaussian`` (predicted from
    sigma_low; all three divided by g), ``k_hat``, ``k_threshold`` and ``n_tail`` (the
    Pareto tail fit), ``g`` (1 when not ``ordered``), ``ordered``, ``bootstrap_valid``,
    ``std_error_delta``, ``std_error_gaussian``, ``var_work_low``, ``w_diss`` (max(<W> - dF, beta Var W / 2), energy
    units), ``n_needed`` = exp(beta W_diss), ``cumulant`` and ``cumulant_std_error``
    (the Gaussian estimate), ``mean_work``, ``var_work``.
    """
    n_bootstrap, confidence = check_bootstrap(n_bootstrap, confidence)
    work = open_source(work)
    ordered = order_of(work, ordered)
    w_raw, beta = as_work(work, beta)
    w = beta * w_raw
    n = w.size
    df_red = exp_reduced(w)
    finite = np.isfinite(w)
    reasons = []
    g = 1.0
    if not np.any(finite):
        value, se, ess = math.inf, math.nan, 0.0
        reasons.append("every work is +inf (all weights zero)")
    else:
        lx = -w - np.max(-w)
        x = np.exp(lx)
        ex = float(np.mean(x))
        if ordered:
            # the weights' g is noisy and biased low when they are skewed; the works' is
            # better determined and, for a Gaussian process, bounds that of any function
            # of it (Hermite expansion: corr f(X_0), f(X_t) <= |corr X_0, X_t|)
            g = max(statistical_inefficiency(x),
                    statistical_inefficiency(np.where(finite, w, np.max(w[finite]))))
        se = math.sqrt(g) * float(np.std(x) / math.sqrt(n) / ex) / beta
        ess = float(math.exp(2.0 * logsumexp(lx) - logsumexp(2.0 * lx))) / g
        value = df_red / beta
    wf = w_raw[finite]
    mean_w = float(np.mean(wf)) if wf.size else math.nan
    var_w = float(np.var(wf, ddof=1)) if wf.size > 1 else math.nan
    c_val, c_se = cumulant(wf, beta) if wf.size > 1 else (math.nan, math.nan)
    w_diss = max(mean_w - value, 0.5 * beta * var_w) if wf.size > 1 else math.nan
    # for Gaussian work the weights' relative variance is exp(beta^2 Var W) - 1: the
    # sample variance predicts the ESS even when the sample ESS cannot see the tail
    # Only the low-work side matters (high works carry no weight), so the spread is
    # measured there: sigma_low = median - 15.87% quantile (= sd for Gaussian work). A
    # heavy high-work tail (typical of AIS log weights) then does not condemn a sample
    # whose weights are fine.
    var_low = float((np.median(wf) - np.quantile(wf, 0.15865525393145707)) ** 2) \
        if wf.size > 1 else math.nan
    ess_gauss = n / g * math.exp(-min(beta * beta * var_low, 700.0)) if wf.size > 1 \
        else math.nan
    # The Gaussian prediction models the unsampled low-work tail, and the sample can test
    # it: with m draws from it, the lowest work lies z = (median - min) / sigma_low below
    # the median with probability Phi(z)^m of being no lower. Below GAUSSIAN_TAIL_P the
    # tail is decisively lighter than the model (AIS log weights often are: bounded
    # above), the model's ESS and error bar would be fiction, and they are not used.
    tail_p = math.nan
    if wf.size > 1 and var_low > 0:
        z = (float(np.median(wf)) - float(np.min(wf))) / math.sqrt(var_low)
        tail_p = math.exp(wf.size * float(log_ndtr(z)))
        if tail_p < GAUSSIAN_TAIL_P:
            ess_gauss = math.nan
    if math.isfinite(ess_gauss) and math.isfinite(se):
        # the sample sd of the weights misses their unsampled tail (its own error needs
        # n >> exp(2 beta^2 Var W)); the Gaussian value kT sqrt((e^{beta^2 Var W} - 1) / n)
        # does not, so the larger of the two is reported
        se_gauss = math.sqrt(g * math.expm1(min(beta * beta * var_low, 700.0)) / n) / beta
        diagnostics_se = (se, se_gauss)
        se = max(se, se_gauss)
    else:
        diagnostics_se = (se, math.nan)
    if math.isfinite(value):
        if ess < min_ess:
            reasons.append(f"effective sample size {ess:.1f} of {n} is below {min_ess:g}: "
                           "a few trajectories carry the average")
        if math.isfinite(ess_gauss) and ess_gauss < min_ess:
            reasons.append(f"the low-side work spread (beta^2 sigma_low^2 = "
                           f"{beta * beta * var_low:.2f}) implies an effective sample size of "
                           f"about n exp(-beta^2 sigma_low^2) = "
                           f"{ess_gauss:.2g}: the low-work tail that dominates the average "
                           "is not sampled, so the estimate is biased high and its error bar "
                           "too small (Jarzynski 2006)")
    tail = pareto_tail(-w)
    heavier_p = 1.0 - tail_p if math.isfinite(tail_p) else 0.0
    heavy = tail_reasons(tail, n, heavier_p=heavier_p)
    se_tail = math.nan
    if heavier_p < HEAVIER_THAN_GAUSSIAN_P and math.isfinite(se):
        # a low-work tail heavier than Gaussian: its weights follow the Pareto fit, whose
        # mean and shape uncertainty bound what the sample's spread cannot see
        se_tail = math.sqrt(g) * tail_std_error(-w, tail) / beta
        if se_tail > se:
            se = se_tail
    if math.isfinite(value):
        reasons.extend(heavy)
    if n < 2:
        reasons.append("a single work value has no error estimate")
        se = math.nan
    ci, bse, _ = bootstrap(lambda a: exp_reduced(beta * a) / beta, (w_raw,), n_bootstrap,
                           seed, confidence, (block_length(g),)) \
        if n > 1 else ((math.nan,) * 2, math.nan, None)
    diagnostics = {"ess": ess, "ess_fraction": ess / n, "ess_gaussian": ess_gauss,
                   "w_diss": w_diss, "std_error_delta": diagnostics_se[0],
                   "std_error_gaussian": diagnostics_se[1], "std_error_tail": se_tail,
                   "n_needed": math.exp(min(beta * w_diss, 700.0)) if math.isfinite(w_diss)
                   else math.nan,
                   "cumulant": c_val, "cumulant_std_error": c_se, "mean_work": mean_w,
                   "var_work": var_w, "var_work_low": var_low, "gaussian_tail_p": tail_p,
                   "k_hat": tail.k_hat, "k_threshold": tail.k_threshold,
                   "n_tail": tail.n_tail, "g": g, "ordered": ordered,
                   # fewer than 10 blocks do not make a bootstrap distribution
                   "bootstrap_valid": not heavy and n >= 10 * block_length(g)}
    note = correlation_note("EXP (Jarzynski)", g)
    est = Estimate("EXP (Jarzynski)", float(value), float(se), ci, bse, confidence, (n,),
                   beta, "delta_f", not reasons, tuple(reasons) + ((note,) if note else ()),
                   diagnostics)
    if reasons and warn:
        warn_unreliable(est.method, reasons)
    if note and warn:
        warn_correlated(est.method, note)
    return est


def tail_reasons(tail, n, what="weights exp(-beta W)", heavier_p=0.0):
    """Why a Pareto tail fit condemns an exponential average (empty when it does not).

    The fit judges when the low-work tail is heavier than Gaussian (``heavier_p``, the
    probability under a Gaussian tail with the sample's low-side spread of a lowest work
    at least as low as the sample's, is below 1e-3; 0 when unknown): then k_hat above
    min(1 - 1/log10 n, 0.7), or above 1/2, condemns the average. A Gaussian low tail gives
    log-normal weights, whose variance is finite although their k_hat runs above 1/2,
    even 0.7, before it sinks to 0 (log-normal tails approach the Pareto limit slowly);
    there the Gaussian model (``ess_gaussian``) is the diagnostic and supplies the error.
    """
    if not math.isfinite(tail.k_hat) or not heavier_p < HEAVIER_THAN_GAUSSIAN_P:
        return []
    if tail.too_heavy:
        return [f"Pareto k_hat = {tail.k_hat:.2f} of the {tail.n_tail} largest {what} "
                f"exceeds min(1 - 1/log10 n, 0.7) = {tail.k_threshold:.2f} for n = {n}: the "
                "tail is too heavy for any average of this many samples to converge "
                "(Vehtari et al. 2024); neither the standard error nor the bootstrap interval "
                "is an error bar, and the estimate is typically biased"]
    if tail.k_hat > K_FINITE_VARIANCE:
        return [f"Pareto k_hat = {tail.k_hat:.2f} of the {tail.n_tail} largest {what} "
                "exceeds 1/2 and the lowest works lie further out than a Gaussian tail "
                "allows: the weights' variance is infinite, so the standard error (delta "
                "method) and the bootstrap interval are not error bars (both undercover); "
                "more samples, a protocol with less dissipation, or BAR with the reverse "
                "process are needed"]
    return []
