"""``neqsim calibrate``: are the error bars of *this* configuration right about themselves?

An error bar is a claim: over repetitions, value +- 1 std_error covers the truth 68.3% of
the time and +- 2 std_error 95.4%. :func:`calibrate` checks the claim on the user's own
setting: it runs ``replicates`` independent small copies of the configuration (seeds
seed + 2r forward, seed + 2r + 1 reverse), applies every estimator to each, and compares
the spread of the estimates with the errors they reported, against the exact dF where the
system knows it (F(lam_N) - F(lam_0) from ``System.free_energy``) or else the estimate
pooled over all replicates (BAR, or EXP without a reverse process; its own error is
~1/sqrt(R) of one replicate's).

Verdict per estimator: the number of replicates whose interval covers the reference is
Binomial(R, p) if the error bars are right; the coverage is off when it lies outside
R p +- 4 sqrt(R p (1 - p)) for p = 0.683 or 0.954 (``judge="all"``: every replicate, as
a user would read each number; ``judge="reliable"``: only those the estimator called
reliable, i.e. whether its diagnostics are right when they say "trust me"). A replicate
with no finite error bar covers nothing.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

__all__ = ["calibrate", "Calibration", "CalibrationRow", "COVERAGE_LEVELS"]

COVERAGE_LEVELS = (0.6826894921370859, 0.9544997361036416)  # P(|z| < 1), P(|z| < 2)
TOLERANCE_SIGMAS = 4.0


@dataclass(frozen=True)
class CalibrationRow:
    """One estimator over the replicates: ``coverage_1``/``coverage_2`` (fraction of
    replicates whose +-1 / +-2 std_error interval holds the reference; among reliable
    ones: ``coverage_1_reliable``/``coverage_2_reliable``, of ``n_reliable``), ``bias``
    (mean estimate - reference) +- ``bias_std_error``, ``spread`` (standard deviation of
    the estimates) against ``mean_error`` (mean reported std_error: their ratio should be
    1), ``fraction_unreliable``, ``passed`` and the ``reasons`` it did not."""
    estimator: str
    n_replicates: int
    coverage_1: float
    coverage_2: float
    n_reliable: int
    coverage_1_reliable: float
    coverage_2_reliable: float
    bias: float
    bias_std_error: float
    spread: float
    mean_error: float
    fraction_unreliable: float
    passed: bool
    reasons: tuple = ()


@dataclass(frozen=True)
class Calibration:
    """The result of :func:`calibrate`: ``rows`` (one :class:`CalibrationRow` per
    estimator), the ``reference`` value (``reference_kind`` "exact" or "pooled", with
    ``reference_std_error``), the per-replicate ``values``, ``errors`` and ``reliable``
    flags (arrays of shape (replicates,) per estimator), and ``passed`` (every row)."""
    rows: tuple
    reference: float
    reference_kind: str
    reference_std_error: float
    n_traj: int
    replicates: int
    seed: int
    judge: str
    values: dict = field(default_factory=dict, repr=False)
    errors: dict = field(default_factory=dict, repr=False)
    reliable: dict = field(default_factory=dict, repr=False)

    @property
    def passed(self):
        return all(r.passed for r in self.rows)

    def table(self):
        """The calibration as a text table (what ``neqsim calibrate`` prints)."""
        ref = (f"exact dF = {self.reference:.6g}" if self.reference_kind == "exact" else
               f"pooled dF = {self.reference:.6g} +- {self.reference_std_error:.2g} "
               "(no exact value known)")
        head = (f"{'estimator':<14s} {'1-sigma':>8s} {'2-sigma':>8s} {'reliable: 1s/2s':>17s} "
                f"{'bias +- err':>20s} {'spread/error':>13s} {'unreliable':>10s}  verdict")
        lines = [f"{self.replicates} replicates of {self.n_traj} trajectories, seed "
                 f"{self.seed}; reference: {ref}",
                 f"nominal coverage {COVERAGE_LEVELS[0]:.3f} and {COVERAGE_LEVELS[1]:.3f}; "
                 f"judged on {'all replicates' if self.judge == 'all' else 'reliable ones'}"
                 f" (binomial {TOLERANCE_SIGMAS:g} sigma)", head, "-" * len(head)]
        for r in self.rows:
            rel = (f"{r.coverage_1_reliable:.3f}/{r.coverage_2_reliable:.3f} ({r.n_reliable})"
                   if r.n_reliable else "- (0)")
            ratio = r.spread / r.mean_error if r.mean_error > 0 else math.nan
            lines.append(f"{r.estimator:<14s} {r.coverage_1:8.3f} {r.coverage_2:8.3f} "
                         f"{rel:>17s} {f'{r.bias:+.3g} +- {r.bias_std_error:.2g}':>20s} "
                         f"{ratio:13.3g} {r.fraction_unreliable:10.0%}  "
                         + ("PASS" if r.passed else "FAIL: " + "; ".join(r.reasons)))
        return "\n".join(lines)

    def plot(self, path=None):
        """Per estimator, the z-scores (estimate - reference) / std_error of the replicates
        against the standard normal they should follow; unreliable replicates hollow."""
        import matplotlib
        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        from ..analysis.plots import legend_below
        names = [r.estimator for r in self.rows]
        fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8),
                                 squeeze=False)
        grid = np.linspace(-5, 5, 201)
        for ax, row in zip(axes[0], self.rows):
            z = (self.values[row.estimator] - self.reference) / self.errors[row.estimator]
            ok = np.isfinite(z)
            rel = self.reliable[row.estimator] & ok
            bins = np.linspace(-5, 5, 26)
            ax.hist(np.clip(z[ok], -5, 5), bins, density=True, color="0.8",
                    label="all replicates")
            if rel.any():
                ax.hist(np.clip(z[rel], -5, 5), bins, density=True, histtype="step",
                        color="C0", lw=1.5, label="reliable ones")
            ax.plot(grid, np.exp(-0.5 * grid ** 2) / math.sqrt(2 * math.pi), "k--",
                    label="N(0, 1): calibrated")
            ax.set_xlabel("z = (estimate - reference) / std_error")
            ax.set_title(f"{row.estimator}: 1s {row.coverage_1:.2f}, 2s {row.coverage_2:.2f}"
                         + ("" if row.passed else "  FAIL"), fontsize=9)
        axes[0][0].set_ylabel("density")
        legend_below(axes[0][0])
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120, bbox_inches="tight")
            plt.close(fig)
        return fig


def _replicate(system, protocol, reverse, integrator, n_traj, beta, seed, init,
               n_threads):
    """One replicate: the estimates of each estimator, and the works (for pooling).
    ``system`` is a System, or the payload of :func:`engine.executors.system_payload`
    (for workers in other processes)."""
    from ..analysis import UnreliableEstimateWarning, bar, jarzynski
    from ..analysis._common import CorrelatedTrajectoriesWarning
    from ..engine.driver import simulate
    from ..engine.executors import rebuild_system
    if isinstance(system, tuple):
        system = rebuild_system(system)
    out = {}
    kw = dict(beta=beta, init=init, progress=False, n_threads=n_threads)
    fwd = simulate(system, protocol, integrator, n_traj, seed=seed, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        warnings.simplefilter("ignore", CorrelatedTrajectoriesWarning)
        e = jarzynski(fwd, n_bootstrap=0)
        out["EXP forward"] = (e.value, e.std_error, e.reliable)
        works = [fwd.path_work]
        if reverse is not None:
            rev = simulate(system, reverse, integrator, n_traj, seed=seed + 1, **kw)
            er = jarzynski(rev, n_bootstrap=0)
            out["EXP reverse"] = (-er.value, er.std_error, er.reliable)
            try:
                b = bar(fwd, rev, n_bootstrap=0)
                out["BAR"] = (b.value, b.std_error, b.reliable)
            except ValueError:  # no finite work in a direction
                out["BAR"] = (math.nan, math.nan, False)
            works.append(rev.path_work)
    return out, works


def _row(name, values, errors, reliable, reference, judge):
    n = values.size
    z = np.abs(values - reference) / errors
    fin = np.isfinite(z)
    hits = [int(np.count_nonzero(fin & (z < k))) for k in (1.0, 2.0)]
    rel = reliable & fin
    n_rel = int(np.count_nonzero(rel))
    hits_rel = [int(np.count_nonzero(rel & (z < k))) for k in (1.0, 2.0)]
    fv = values[np.isfinite(values)]
    spread = float(np.std(fv, ddof=1)) if fv.size > 1 else math.nan
    fe = errors[np.isfinite(errors)]
    mean_err = float(np.mean(fe)) if fe.size else math.nan
    bias = float(np.mean(fv) - reference) if fv.size else math.nan
    bias_se = spread / math.sqrt(fv.size) if fv.size > 1 else math.nan
    reasons = []
    judged, count = (hits, n) if judge == "all" else (hits_rel, n_rel)
    if count == 0:
        reasons.append("no replicate to judge (none reliable)" if judge == "reliable"
                       else "no replicates")
    for level, p, h in zip((1, 2), COVERAGE_LEVELS, judged):
        if count == 0:
            break
        tol = TOLERANCE_SIGMAS * math.sqrt(count * p * (1 - p))
        if abs(h - count * p) > tol:
            word = "under" if h < count * p else "over"
            reasons.append(f"{level}-sigma coverage {h / count:.3f} is {word} {p:.3f} by "
                           f"more than {TOLERANCE_SIGMAS:g} binomial sigma "
                           f"({(count * p - tol) / count:.3f}..{(count * p + tol) / count:.3f})")
    n_nan = n - int(np.count_nonzero(fin))
    if reasons and n_nan:
        reasons.append(f"{n_nan} replicate(s) without a finite error bar")
    return CalibrationRow(name, n, hits[0] / n, hits[1] / n, n_rel,
                          hits_rel[0] / n_rel if n_rel else math.nan,
                          hits_rel[1] / n_rel if n_rel else math.nan, bias, bias_se, spread,
                          mean_err, 1.0 - float(np.mean(reliable)), not reasons,
                          tuple(reasons))


def calibrate(system, protocol, integrator, n_traj, *, replicates=200, beta=1.0, seed=0,
              init="equilibrium", reverse=True, exact=None, judge="all", executor=None,
              n_threads=None, progress=True):
    """Check the error bars of EXP (forward; reverse) and BAR on ``replicates`` seeded
    copies of a configuration of ``n_traj`` trajectories (see the module docstring).

    ``reverse``: also run the exact time-reversed process (:func:`crooks_pair`), giving
    EXP reverse and BAR. ``exact``: the reference dF (default: from the system's free
    energy where known, else pooled). ``executor``: any concurrent.futures.Executor to run
    replicates in parallel (each then computes with ``n_threads`` numba threads, default
    1); the result does not depend on it. Returns a :class:`Calibration`.
    """
    from ..engine.progress import progress_bar
    from ..protocols import crooks_pair
    from ..protocols.protocol import as_protocol
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) \
            or replicates < 2:
        raise ValueError(f"replicates must be an integer >= 2, got {replicates!r}")
    if judge not in ("all", "reliable"):
        raise ValueError(f"judge must be 'all' or 'reliable', got {judge!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"calibrate needs a seed (an integer >= 0) to be reproducible, got "
                         f"{seed!r}")
    protocol = as_protocol(protocol)
    rev = None
    if reverse:
        protocol, rev = crooks_pair(protocol)
    kind, ref_se = "exact", 0.0
    if exact is None:
        f0 = system.free_energy(protocol.values[0], beta)
        f1 = system.free_energy(protocol.values[-1], beta)
        if f0 is not None and f1 is not None:
            exact = f1 - f0
    if exact is not None:
        exact = float(exact)
    seeds = [int(seed) + 2 * r for r in range(int(replicates))]
    args = (system, protocol, rev, integrator, n_traj, beta)
    results = [None] * len(seeds)
    bar_ = progress_bar(progress, len(seeds), 0, f"calibrate {system.name}", unit="replicate")
    try:
        if executor is None:
            for i, s in enumerate(seeds):
                results[i] = _replicate(*args, s, init, n_threads)
                bar_.advance(1)
        else:
            from ..engine.executors import system_payload
            payload = system_payload(system, executor, None)
            args = (payload,) + args[1:]
            futures = [executor.submit(_replicate, *args, s, init, n_threads or 1)
                       for s in seeds]
            for i, fut in enumerate(futures):
                results[i] = fut.result()
                bar_.advance(1)
    finally:
        bar_.close()
    names = list(results[0][0])
    values = {k: np.array([r[0][k][0] for r in results]) for k in names}
    errors = {k: np.array([r[0][k][1] for r in results]) for k in names}
    reliable = {k: np.array([bool(r[0][k][2]) for r in results]) for k in names}
    if exact is None:
        from ..analysis import bar, jarzynski
        kind = "pooled"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wf = np.concatenate([r[1][0] for r in results])
            if rev is not None:
                wr = np.concatenate([r[1][1] for r in results])
                pooled = bar(wf, wr, beta, n_bootstrap=0)
            else:
                pooled = jarzynski(wf, beta, n_bootstrap=0)
        exact, ref_se = pooled.value, pooled.std_error
    rows = tuple(_row(k, values[k], errors[k], reliable[k], exact, judge) for k in names)
    return Calibration(rows, float(exact), kind, float(ref_se), int(n_traj),
                       int(replicates), int(seed), judge, values, errors, reliable)
