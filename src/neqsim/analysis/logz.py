"""Annealed importance sampling: log Z from log weights, with bounds from both directions.

AIS is Jarzynski at beta = 1 with energies -log f_k (docs/physics.md): a chain's log weight
is log w = -W, and <w> = Z_N / Z_0. Everything here estimates log(Z_N / Z_0) (log Z when
f_0 is normalized).
"""
from __future__ import annotations

import math
import os

import numpy as np
from scipy.special import logsumexp

from .._keywords import suggest_keywords
from ._common import (
    Estimate,
    as_samples,
    as_work,
    check_bootstrap,
    fp_local,
    open_source,
    order_of,
    warn_unreliable,
)
from .bar import bar
from .exp import MIN_ESS, jarzynski

__all__ = ["ais_log_z", "ess_curve", "log_weights_of"]


def log_weights_of(x, *, name="log_weights"):
    """Log weights from an array (taken as is), or from a Run / run file (-beta W_path)."""
    from ..storage.result import Run
    if isinstance(x, (Run, str, os.PathLike)):
        w, beta = as_work(x, None, name=name)
        return -beta * w
    lw = as_samples(x, name, "per-chain log weights")
    if np.any(np.isnan(lw)):
        raise ValueError(f"{name} contains {int(np.isnan(lw).sum())} NaN value(s): NaN is "
                         "not a sample (failed chains?)")
    if np.any(lw == np.inf):
        raise ValueError(f"{name} contains +inf: an infinite weight cannot be averaged")
    return lw


@suggest_keywords
@fp_local
def ais_log_z(log_weights, *, log_weights_reverse=None, n_bootstrap=200, confidence=0.95,
              seed=0, min_ess=MIN_ESS, ordered=None, warn=True):
    """log(Z_N / Z_0) from AIS log weights: log mean w, computed with log-sum-exp.

    Forward chains (started from exact draws of f_0) give an estimate that is a
    stochastic lower bound: E[log Zhat] <= log Z (Jensen), and E[log w] <= log Z.
    ``log_weights_reverse``: log weights of reverse chains started from exact draws of
    the target (simulated data; Grosse et al., "Sandwiching the marginal likelihood
    using bidirectional Monte Carlo", 2015), for which <w_R> = Z_0 / Z_N: they give
    the stochastic upper bound -log mean w_R, and -E[log w_R] >= log Z. With both, the
    returned value is BAR between the directions (the works are -log w) and the
    diagnostics hold the bounds.

    Uncertainty and reliability as for :func:`neqsim.analysis.jarzynski` (delta method,
    Gaussian-variance guard, bootstrap CI; unreliable when fewer than ``min_ess``
    effective chains; unreliable when the Pareto shape ``k_hat`` of the largest weights
    says their variance is infinite or the tail too heavy for the number of chains; the
    error widened by sqrt(g) when the chains' order carries time, ``ordered``).
    Diagnostics: ``k_hat``, ``k_threshold``, ``g``, ``ess``, ``ess_fraction``, ``var_log_w``,
    ``mean_log_w`` (the lower bound E[log w] estimate, "ELBO"); with reverse chains also
    ``forward``, ``reverse`` (the one-direction estimates), ``lower_bound``,
    ``upper_bound`` (stochastic: forward and reverse estimates), ``elbo``, ``eubo``
    (-mean log w_R), ``overlap``.
    Inputs may be arrays of log weights or Runs / run files (log w = -beta W_path).
    """
    n_bootstrap, confidence = check_bootstrap(n_bootstrap, confidence)
    log_weights = open_source(log_weights)
    pair = ordered if isinstance(ordered, tuple) else (ordered, ordered)
    ordered = order_of(log_weights, pair[0])
    lw = log_weights_of(log_weights)
    fwd = jarzynski(-lw, 1.0, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed,
                    min_ess=min_ess, ordered=ordered, warn=False)
    d = fwd.diagnostics
    diag = {"k_hat": d["k_hat"], "k_threshold": d["k_threshold"], "g": d["g"],
            "ordered": ordered, "bootstrap_valid": d["bootstrap_valid"],
            "ess": d["ess"], "ess_fraction": d["ess_fraction"],
            "ess_gaussian": d["ess_gaussian"], "gaussian_tail_p": d["gaussian_tail_p"],
            "var_log_w": d["var_work"],
            "mean_log_w": -d["mean_work"], "elbo": -d["mean_work"]}
    ci = (-fwd.ci[1], -fwd.ci[0])
    forward = Estimate("AIS (forward)", -fwd.value, fwd.std_error, ci,
                       fwd.bootstrap_std_error, confidence, fwd.n, 1.0, "log_z", fwd.reliable,
                       tuple(m.replace("exp(-beta W)", "(chain weights)") for m in fwd.warnings),
                       diag)
    if log_weights_reverse is None:
        if warn and not forward.reliable:
            warn_unreliable(forward.method, forward.warnings)
        return forward
    log_weights_reverse = open_source(log_weights_reverse)
    ordered_r = order_of(log_weights_reverse, pair[1])
    lr = log_weights_of(log_weights_reverse, name="log_weights_reverse")
    rev = jarzynski(-lr, 1.0, n_bootstrap=0, min_ess=min_ess, ordered=ordered_r, warn=False)
    b = bar(-lw, -lr, 1.0, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed,
            ordered=(ordered, ordered_r), warn=False)
    reverse_value = rev.value  # -log mean w_R: upper
    diag.update({"forward": forward.value, "forward_std_error": forward.std_error,
                 "reverse": reverse_value, "reverse_std_error": rev.std_error,
                 "lower_bound": forward.value, "upper_bound": reverse_value,
                 "eubo": float(np.mean(-lr)), "overlap": b.diagnostics.get("overlap"),
                 "ess_reverse": rev.diagnostics["ess"],
                 "k_hat_reverse": rev.diagnostics["k_hat"]})
    reasons = list(b.warnings)
    # b.value is dF = -log Z: the bracket is on log Z
    if math.isfinite(b.value) and not (diag["elbo"] - 4 * _se_mean(lw) <= -b.value
                                       <= diag["eubo"] + 4 * _se_mean(lr)):
        reasons.append(f"BAR log Z {-b.value:.4g} lies outside [E log w, -E log w_R] = "
                       f"[{diag['elbo']:.4g}, {diag['eubo']:.4g}]: the reverse chains may "
                       "not start from exact target samples")
    ci_b = (-b.ci[1], -b.ci[0])
    est = Estimate("AIS (BAR, bidirectional)", -b.value, b.std_error, ci_b,
                   b.bootstrap_std_error, confidence, (lw.size, lr.size), 1.0, "log_z",
                   not reasons, tuple(reasons), diag)
    if warn and reasons:
        warn_unreliable(est.method, reasons)
    return est


def _se_mean(x):
    return float(np.std(x, ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.inf


@fp_local
def ess_curve(cumulative_log_weights):
    """Kish ESS (sum w)^2 / sum w^2 at each recorded step, from cumulative log weights of
    shape (n_chains, n_records), or from a Run with traces (log w_t = -beta W_t)."""
    from ..storage.result import Run
    x = cumulative_log_weights
    if isinstance(x, (str, os.PathLike)):
        from ..storage.runfile import open_run
        x = open_run(x)
    if isinstance(x, Run):
        if x.trace is None:
            raise ValueError("the run has no traces: simulate with record_every > 0")
        x = -x.beta * np.asarray(x.trace["work"])
    lw = np.asarray(x, dtype=np.float64)
    if lw.ndim != 2:
        raise ValueError("cumulative log weights must have shape (n_chains, n_records)")
    if np.any(np.isnan(lw)):
        raise ValueError("cumulative log weights contain NaN")
    return np.exp(2.0 * logsumexp(lw, axis=0) - logsumexp(2.0 * lw, axis=0))
