"""The Sagawa-Ueda equality under feedback: <e^{-beta (W - dF) - I}> = 1, the efficacy, the bound.

With a measurement outcome y of the state and a protocol that depends on it, Jarzynski's
equality becomes (Sagawa and Ueda, PRL 104, 090602 (2010); signs of docs/physics.md)

    <exp(-beta (W - dF) - I)> = 1,        I = ln p(y|x) - ln p(y)   (per trajectory),
    <exp(-beta (W - dF))> = gamma,                                  (the efficacy)
    <W> - dF >= -kT <I>                                             (Jensen on the first),

dF = F(lam_N(y)) - F(lam_0) per trajectory (0 for a translated trap). gamma counts the
probability that the time-reversed protocols return the outcomes that selected them;
without feedback gamma = 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from ._common import as_samples, fp_local, warn_unreliable
from .dissipation import BoundCheck
from .tails import pareto_tail

__all__ = ["SagawaUeda", "sagawa_ueda"]

MIN_ESS = 30.0
K_NO_CONVERGENCE = 0.7  # above, no average of the weights converges (Vehtari et al. 2024)


@dataclass(frozen=True)
class SagawaUeda:
    """``value`` = ln <e^{-beta (W - dF) - I}> (exactly 0) with ``std_error`` (delta
    method: sd(x) / (sqrt(n) mean(x)) for the weights x); ``efficacy`` gamma =
    <e^{-beta (W - dF)}> with ``efficacy_std_error`` and ``log_efficacy``; ``bound`` the
    :class:`~neqsim.analysis.BoundCheck` of <W> - dF + kT <I> >= 0 (per-trajectory
    combination, so its error includes the correlation of W and I). ``reliable`` is False,
    with the reasons in ``warnings``, when the weights' effective sample size is below 30
    or their Pareto tail shape k_hat exceeds 0.7 (no average converges); k_hat in (0.5, 0.7]
    (variance possibly infinite, the error bar may undercover) is a note."""
    value: float
    std_error: float
    efficacy: float
    efficacy_std_error: float
    log_efficacy: float
    bound: BoundCheck
    n: int
    beta: float
    reliable: bool = True
    warnings: tuple = ()
    diagnostics: dict = field(default_factory=dict)

    @property
    def exact(self):
        return 0.0

    @property
    def z(self):
        """value / std_error: the equality's deviation in standard errors."""
        return self.value / self.std_error if self.std_error > 0 else math.copysign(
            math.inf, self.value)

    def __str__(self):
        flag = ("  UNRELIABLE: " if not self.reliable else "  note: ") + "; ".join(
            self.warnings) if self.warnings else ""
        return (f"Sagawa-Ueda: ln<e^(-beta(W-dF)-I)> = {self.value:.4g} +- "
                f"{self.std_error:.2g} (exact 0, z = {self.z:+.2f}); efficacy gamma = "
                f"{self.efficacy:.4g} +- {self.efficacy_std_error:.2g}; {self.bound}{flag}")


def _log_mean(a):
    """(ln mean e^a, delta-method standard error, Kish ESS, normalized weights)."""
    n = a.size
    lse = logsumexp(a)
    x = np.exp(a - a.max())
    se = float(np.std(x, ddof=1) / (math.sqrt(n) * np.mean(x))) if n > 1 else math.nan
    ess = float(math.exp(2.0 * lse - logsumexp(2.0 * a)))
    return float(lse - math.log(n)), se, ess


@fp_local
def sagawa_ueda(work, information=None, delta_f=0.0, beta=None, *, which="path_work",
                n_sigma=4.0, min_ess=MIN_ESS, warn=True):
    """Check the Sagawa-Ueda equality ln <e^{-beta (W - dF) - I}> = 0 (module docstring),
    estimate the efficacy gamma = <e^{-beta (W - dF)}>, and test <W> - dF >= -kT <I>.

    ``work``: a :class:`~neqsim.FeedbackRun` (its ``which`` work, "path_work" by default:
    exact for Euler-Maruyama at any dt; "work" for the plain switching work, exact for
    MALA; its information and beta), or an array of works on the system with
    ``information`` the per-trajectory I (nats). ``delta_f``: a number or per-trajectory
    array dF(y) = F(lam_N(y)) - F(lam_0). Log-sum-exp throughout (no raw exponentials).
    """
    from ..storage.feedback_run import FeedbackRun
    if isinstance(work, FeedbackRun):
        run = work
        if which not in ("path_work", "work"):
            raise ValueError(f"which must be 'path_work' or 'work', got {which!r}")
        if information is None:
            information = run.information
        if beta is None:
            beta = run.beta
        work = getattr(run, which)
    if information is None:
        raise ValueError("sagawa_ueda needs the per-trajectory mutual information: pass "
                         "information= (or a FeedbackRun, which carries it)")
    beta = 1.0 if beta is None else float(beta)
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    w = as_samples(work, "work")
    info = as_samples(information, "information", "per-trajectory mutual informations")
    if info.shape != w.shape:
        raise ValueError(f"information has {info.size} values but work has {w.size}: one "
                         "per trajectory each")
    df = np.broadcast_to(np.asarray(delta_f, dtype=np.float64), w.shape) \
        if np.ndim(delta_f) == 0 or np.shape(delta_f) == w.shape else None
    if df is None:
        raise ValueError(f"delta_f must be a number or one value per trajectory ({w.size}), "
                         f"got shape {np.shape(delta_f)}")
    for name, arr in (("work", w), ("information", info), ("delta_f", df)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf: every trajectory must be a sample")
    n = w.size
    red = beta * (w - df)
    value, se, ess = _log_mean(-red - info)
    log_gamma, se_gamma_rel, ess_gamma = _log_mean(-red)
    gamma = math.exp(log_gamma)
    comb = (w - df) + info / beta
    bound = BoundCheck("<W> - dF + kT <I>", float(np.mean(comb)),
                       float(np.std(comb, ddof=1) / math.sqrt(n)) if n > 1 else math.inf,
                       0.0, float(n_sigma),
                       note=f"<W> - dF = {np.mean(w - df):.4g}, -kT <I> = "
                            f"{-np.mean(info) / beta:.4g}")
    tail = pareto_tail(-red - info)
    reasons, notes = [], []
    if ess < min_ess:
        reasons.append(f"effective sample size {ess:.1f} of {n} is below {min_ess:g}: a few "
                       "trajectories carry the average")
    if math.isfinite(tail.k_hat) and tail.k_hat > K_NO_CONVERGENCE:
        reasons.append(f"Pareto k_hat = {tail.k_hat:.2f} of the largest weights exceeds "
                       f"{K_NO_CONVERGENCE}: the average does not converge at this sample size")
    elif math.isfinite(tail.k_hat) and tail.k_hat > 0.5:
        notes.append(f"Pareto k_hat = {tail.k_hat:.2f} > 0.5: the weights' variance may be "
                     "infinite (small measurement errors make e^{-I} heavy-tailed), so the "
                     "standard error may undercover")
    res = SagawaUeda(value, se, gamma, gamma * se_gamma_rel, log_gamma, bound, n, beta,
                     not reasons, tuple(reasons + notes),
                     {"ess": ess, "ess_efficacy": ess_gamma, "k_hat": tail.k_hat,
                      "mean_work": float(np.mean(w)), "mean_information": float(np.mean(info)),
                      "information_std_error": float(np.std(info, ddof=1) / math.sqrt(n))
                      if n > 1 else math.nan})
    if reasons and warn:
        warn_unreliable("sagawa_ueda", reasons)
    return res
