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
    fp_local,
    warn_unreliable,
)

__all__ = ["jarzynski", "exp_reduced", "cumulant"]

MIN_ESS = 30.0  # below, the asymptotic interval over- or under-covers (calibration test)
GAUSSIAN_TAIL_P = 1e-6  # the sample's lowest work rejects the Gaussian tail model below this


def exp_reduced(w):
    """-log <exp(-w)> for reduced works w = beta W (the EXP estimate of beta dF)."""
    return -(logsumexp(-w) - math.log(w.size))


@fp_local
def cumulant(work, beta=None):
    """Second-order cumulant (Gaussian) estimate dF = <W> - beta Var(W) / 2, exact for
    Gaussian work; returns (dF, standard error). Its error is
    sqrt(Var W / n + beta^2 Var(W)^2 / (2 (n - 1))) (delta method, Gaussian fourth moment)."""
    w, beta = as_work(work, beta)
    n = w.size
    if n < 2 or not np.all(np.isfinite(w)):
        return math.nan, math.nan
    m, v = float(np.mean(w)), float(np.var(w, ddof=1))
    se = math.sqrt(v / n + (beta * v) ** 2 / (2.0 * (n - 1)))
    return m - 0.5 * beta * v, se


@suggest_keywords
@fp_local
def jarzynski(work, beta=None, *, n_bootstrap=200, confidence=0.95, seed=0,
              min_ess=MIN_ESS, warn=True):
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

    ``work``: array of works done on the system (energy units), a Run, or a run file
    (``path_work`` is used, see :func:`neqsim.analysis.as_work`). NaN raises; +inf is a
    zero weight. Diagnostics: ``ess``, ``ess_fraction``, ``ess_gaussian`` (predicted from
    sigma_low), ``std_error_delta``, ``std_error_gaussian``, ``var_work_low``, ``w_diss`` (max(<W> - dF, beta Var W / 2), energy
    units), ``n_needed`` = exp(beta W_diss), ``cumulant`` and ``cumulant_std_error``
    (the Gaussian estimate), ``mean_work``, ``var_work``.
    """
    n_bootstrap, confidence = check_bootstrap(n_bootstrap, confidence)
    w_raw, beta = as_work(work, beta)
    w = beta * w_raw
    n = w.size
    df_red = exp_reduced(w)
    finite = np.isfinite(w)
    reasons = []
    if not np.any(finite):
        value, se, ess = math.inf, math.nan, 0.0
        reasons.append("every work is +inf (all weights zero)")
    else:
        lx = -w - np.max(-w)
        x = np.exp(lx)
        ex = float(np.mean(x))
        se = float(np.std(x) / math.sqrt(n) / ex) / beta
        ess = float(math.exp(2.0 * logsumexp(lx) - logsumexp(2.0 * lx)))
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
    ess_gauss = n * math.exp(-min(beta * beta * var_low, 700.0)) if wf.size > 1 else math.nan
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
        se_gauss = math.sqrt(math.expm1(min(beta * beta * var_low, 700.0)) / n) / beta
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
    if n < 2:
        reasons.append("a single work value has no error estimate")
        se = math.nan
    ci, bse, _ = bootstrap(lambda a: exp_reduced(beta * a) / beta, (w_raw,), n_bootstrap,
                           seed, confidence) if n > 1 else ((math.nan,) * 2, math.nan, None)
    diagnostics = {"ess": ess, "ess_fraction": ess / n, "ess_gaussian": ess_gauss,
                   "w_diss": w_diss, "std_error_delta": diagnostics_se[0],
                   "std_error_gaussian": diagnostics_se[1],
                   "n_needed": math.exp(min(beta * w_diss, 700.0)) if math.isfinite(w_diss)
                   else math.nan,
                   "cumulant": c_val, "cumulant_std_error": c_se, "mean_work": mean_w,
                   "var_work": var_w, "var_work_low": var_low, "gaussian_tail_p": tail_p}
    est = Estimate("EXP (Jarzynski)", float(value), float(se), ci, bse, confidence, (n,),
                   beta, "delta_f", not reasons, tuple(reasons), diagnostics)
    if reasons and warn:
        warn_unreliable(est.method, reasons)
    return est
