"""Shared pieces of the estimators: input coercion, the Estimate result, bootstrap."""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..dynamics.base import positive

__all__ = ["Estimate", "UnreliableEstimateWarning", "CorrelatedTrajectoriesWarning", "as_finite", "as_samples", "as_work",
           "bootstrap", "check_bootstrap", "fp_local"]


def fp_local(fn):
    """Run an estimator under its own floating-point error state (underflow of tiny
    weights is expected and handled; infinities are checked explicitly), restoring the
    caller's afterwards: numpy's global error settings are never changed."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    return wrapper


class UnreliableEstimateWarning(RuntimeWarning):
    """An estimate was computed but its diagnostics say the sample cannot support it."""


class CorrelatedTrajectoriesWarning(UserWarning):
    """The per-trajectory terms are correlated in trajectory order (statistical
    inefficiency g > 1.5): the error bars were widened by sqrt(g); the sample holds about
    n / g independent trajectories."""


@dataclass(frozen=True)
class Estimate:
    """A free-energy difference (or log normalizing constant) with its uncertainty.

    ``value`` is dF in energy units (``quantity == "delta_f"``) or log Z ratio
    (``quantity == "log_z"``); ``std_error`` the asymptotic (delta-method) standard error,
    ``ci`` a bootstrap percentile interval at level ``confidence`` (NaNs without
    bootstrap), ``bootstrap_std_error`` the bootstrap standard deviation. ``reliable`` is
    False, with the reasons in ``warnings``, when the diagnostics say the error bar should
    not be trusted; a reliable estimate's ``warnings`` may still hold a note (correlated
    trajectories, whose effect the error bar includes). ``diagnostics`` holds method-specific numbers (effective sample size,
    overlap, cumulant estimate, ...); they are also readable as attributes (``est.ess``).
    """
    method: str
    value: float
    std_error: float
    ci: tuple = (math.nan, math.nan)
    bootstrap_std_error: float = math.nan
    confidence: float = 0.95
    n: tuple = ()
    beta: float = 1.0
    quantity: str = "delta_f"
    reliable: bool = True
    warnings: tuple = ()
    diagnostics: dict = field(default_factory=dict)

    @property
    def delta_f(self):
        if self.quantity != "delta_f":
            raise AttributeError(f"{self.method} estimates log Z, not dF: use .log_z")
        return self.value

    @property
    def log_z(self):
        if self.quantity != "log_z":
            raise AttributeError(f"{self.method} estimates dF, not log Z: use .delta_f")
        return self.value

    @property
    def log_z_err(self):
        return self.std_error

    def interval(self, k=1.0):
        """value -+ k standard errors."""
        return (self.value - k * self.std_error, self.value + k * self.std_error)

    def __getattr__(self, name):
        diag = self.__dict__.get("diagnostics")
        if diag is not None and name in diag:
            return diag[name]
        raise AttributeError(f"Estimate has no attribute {name!r}")

    def __str__(self):
        sym = "dF" if self.quantity == "delta_f" else "log Z"
        ci = "" if not np.all(np.isfinite(self.ci)) else \
            f", {100 * self.confidence:.0f}% CI [{self.ci[0]:.6g}, {self.ci[1]:.6g}]"
        flag = ("  UNRELIABLE: " if not self.reliable else "  note: ") + "; ".join(
            self.warnings) if self.warnings else ""
        return f"{self.method}: {sym} = {self.value:.6g} +- {self.std_error:.3g}{ci}{flag}"


def as_work(work, beta, *, name="work", which="path_work", what="per-trajectory works"):
    """(work array, beta) from an array, a Run, or a run-file path.

    From a Run (or file) the work is ``run.path_work`` by default: the one for which
    the fluctuation theorems are exact at any time step (equal to ``run.work`` for
    Metropolized kernels). ``beta`` defaults to the run's; for arrays, to 1.
    NaN is an error (a failed trajectory is not a sample); +inf is a zero weight.
    """
    from ..storage.result import Run
    if isinstance(work, (str, os.PathLike)):
        from ..storage.runfile import open_run
        work = open_run(work)
    if isinstance(work, Run):
        run = work
        if beta is None:
            beta = run.beta
        elif not math.isclose(positive("beta", beta), run.beta, rel_tol=1e-12):
            raise ValueError(f"beta={beta} differs from the run's beta={run.beta}")
        if run.n_failed:
            raise ValueError(f"{name}: the run has {run.n_failed} failed trajectories (NaN "
                             "work); they are not samples of the process: rerun with a smaller "
                             "dt, or drop them explicitly if you know why they failed")
        work = getattr(run, which)
        if work is None:
            raise ValueError(f"{name}: the run has no {which}")
    beta = 1.0 if beta is None else positive("beta", beta)
    w = as_samples(work, name, what)
    n_nan = int(np.count_nonzero(np.isnan(w)))
    if n_nan:
        raise ValueError(f"{name} contains {n_nan} NaN value(s) of {w.size}: NaN is not a "
                         "sample (failed trajectories?); remove them explicitly if intended")
    if np.any(w == -np.inf):
        raise ValueError(f"{name} contains -inf: an infinite weight exp(+inf) cannot be "
                         "averaged")
    return w, beta


def order_of(source, ordered):
    """Whether the trajectory order of ``source`` carries time: ``ordered`` if given (a
    bool), else decided from a Run's initial states (:func:`starts_ordered`)."""
    if ordered is None:
        from .correlation import starts_ordered
        return starts_ordered(source)
    if not isinstance(ordered, (bool, np.bool_)):
        raise ValueError(f"ordered must be True, False or None (decide from the run), got "
                         f"{ordered!r}")
    return bool(ordered)


def as_samples(values, name, what="per-trajectory works"):
    """``values`` as a 1-D float64 array of samples, or one error naming ``name``: complex
    or non-numeric input is a TypeError (casting would drop the imaginary part, or
    fail inside numpy), any shape but (n,), (n, 1) or (1, n) a ValueError naming it
    (flattening a matrix would mix trajectories with time or directions)."""
    a = np.asarray(values)
    if np.iscomplexobj(a):
        raise TypeError(f"{name} is complex ({a.dtype}): {what} are real numbers; pass "
                        "its real part (np.real) if the imaginary parts are rounding noise")
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers ({what}), got "
                        f"{type(values).__name__} of dtype {a.dtype}") from None
    if a.ndim != 1:
        if a.ndim != 2 or min(a.shape) != 1:
            raise ValueError(f"{name} must be a 1-D array of {what}, got shape {a.shape}: "
                             "pass one value per sample (of cumulative traces, the last "
                             "column), or flatten it yourself if every entry is an "
                             "independent sample")
        a = a.reshape(-1)
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    return a


def as_finite(name, value):
    """float(value), or a ValueError naming ``name`` unless it is a finite real number
    (NaN would make every comparison with it False: a check that always fails)."""
    try:
        if isinstance(value, (bool, complex, np.complexfloating)):
            raise TypeError
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return v


def check_bootstrap(n_bootstrap, confidence):
    """(n_bootstrap, confidence) validated: an integer >= 0 and a level in (0, 1)."""
    ok = not isinstance(n_bootstrap, bool)
    try:
        ok = ok and int(n_bootstrap) == n_bootstrap and n_bootstrap >= 0
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"n_bootstrap must be an integer >= 0 (0: no bootstrap), got "
                         f"{n_bootstrap!r}")
    c = as_finite("confidence", confidence)
    if not 0 < c < 1:
        raise ValueError(f"confidence must be a level in (0, 1), e.g. 0.95, got "
                         f"{confidence!r}")
    return int(n_bootstrap), c


def _resample(rng, n, block):
    """Indices of one bootstrap resample of 0..n-1: independent draws (block 1), or the
    circular block bootstrap, ceil(n / block) runs of ``block`` consecutive indices
    (wrapping at the end) from uniform starts, cut to n (Politis and Romano 1992): it
    keeps the correlation between neighbours that independent resampling destroys."""
    if block <= 1:
        return rng.integers(0, n, n)
    starts = rng.integers(0, n, -(-n // block))
    return ((starts[:, None] + np.arange(block)[None, :]) % n).reshape(-1)[:n]


def bootstrap(statistic, arrays, n_bootstrap, seed, confidence, blocks=None):
    """Percentile interval and standard deviation of ``statistic(*resampled arrays)``,
    resampling each array independently with replacement (fixed ``seed``: the same
    numbers on every call), in blocks of ``blocks[i]`` consecutive entries for array i
    when its order carries correlation. Returns (ci, std, replicates)."""
    if not n_bootstrap:
        return (math.nan, math.nan), math.nan, np.empty(0)
    rng = np.random.default_rng(seed)
    reps = np.empty(int(n_bootstrap))
    blocks = blocks or (1,) * len(arrays)
    for b in range(int(n_bootstrap)):
        reps[b] = statistic(*(a[_resample(rng, a.size, k)] for a, k in zip(arrays, blocks)))
    finite = reps[np.isfinite(reps)]
    if finite.size < reps.size:
        return (math.nan, math.nan), math.nan, reps
    alpha = 0.5 * (1.0 - confidence)
    lo, hi = np.quantile(reps, [alpha, 1.0 - alpha])
    return (float(lo), float(hi)), float(np.std(reps, ddof=1)), reps


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_stacklevel():
    """The ``stacklevel`` at which a warning names the first frame outside neqsim (the
    user's line), however many of neqsim's functions and wrappers are in between."""
    import sys
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            _PACKAGE + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def open_source(source):
    """A run-file path opened as a Run (once, so that its order and works come from the
    same read); anything else as is."""
    if isinstance(source, (str, os.PathLike)):
        from ..storage.runfile import open_run
        return open_run(source)
    return source


def correlation_note(method, g):
    """The warning text for correlated trajectories, or None when g <= G_WARN."""
    from .correlation import G_WARN, block_length
    if not g > G_WARN:
        return None
    return (f"the trajectories are correlated in the order they were started "
            f"(statistical inefficiency g = {g:.3g}): the error bar is widened by "
            f"sqrt(g) = {math.sqrt(g):.3g} and the bootstrap resamples blocks of "
            f"{block_length(g)} trajectories; the sample holds about n/g independent "
            "trajectories (thin the snapshots by ~g to spend less compute per independent "
            "start)")


def warn_correlated(method, note):
    warnings.warn(f"{method}: {note}", CorrelatedTrajectoriesWarning,
                  stacklevel=user_stacklevel())


def warn_unreliable(method, reasons):
    warnings.warn(f"{method}: " + "; ".join(reasons), UnreliableEstimateWarning,
                  stacklevel=user_stacklevel())
