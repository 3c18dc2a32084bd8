"""The ``neqsim analyze`` report: free-energy estimates and checks from a forward run and,
optionally, its reverse, as rows (quantity, estimate +- s.e., 95% CI, exact, z, status)
and notes. The CLI only parses arguments and prints :meth:`Report.text`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ..protocols.protocol import is_reverse_of
from ..storage.result import Run
from ._common import CorrelatedTrajectoriesWarning, UnreliableEstimateWarning, as_work, bootstrap
from .bar import bar
from .correlation import starts_ordered
from .crooks import crooks
from .dissipation import dissipation
from .exp import cumulant, jarzynski

__all__ = ["Report", "analyze", "exact_delta_f", "check_pair"]

_MIN_P = 1e-3  # a Crooks fit with a smaller chi-square p-value is flagged


def exact_delta_f(run, beta=None):
    """Exact dF = F(lam_N) - F(lam_0) of a Run whose system knows its free energy (built-in
    systems, or user systems given ``free_energy``), at the run's beta; else None."""
    if not isinstance(run, Run) or run.system is None:
        return None
    beta = run.beta if beta is None else float(beta)
    lam = run.protocol.values
    f0, f1 = run.system.free_energy(lam[0], beta), run.system.free_energy(lam[-1], beta)
    if f0 is None or f1 is None:
        return None
    df = f1 - f0
    return float(df) if math.isfinite(df) else None


def check_pair(fwd, rev, names=("forward", "reverse")):
    """Raise ValueError unless ``rev`` is the reverse process of ``fwd``: BAR and Crooks
    compare P_F(W) with P_R(-W), meaningful only for the same system at the same
    temperature driven through the time-reversed schedule."""
    f, r = names
    if rev.system_name != fwd.system_name:
        raise ValueError(f"{r} simulates {rev.system_name}, {f} {fwd.system_name}: not a "
                         "forward/reverse pair")
    if not is_reverse_of(fwd.protocol, rev.protocol):
        raise ValueError(f"{r}: its protocol is not the reversed protocol of {f} (use "
                         "protocol.reversed() or nq.protocols.crooks_pair)")
    if not math.isclose(rev.beta, fwd.beta, rel_tol=1e-12):
        raise ValueError(f"{r} has beta = {rev.beta:g}, {f} beta = {fwd.beta:g}: the runs "
                         "must share the temperature")


@dataclass
class Report:
    """What ``neqsim analyze`` prints: a header, the rows, the notes below them."""
    header: list
    rows: list
    notes: list = field(default_factory=list)
    exact: float | None = None

    def text(self):
        legend = ("z = (estimate - exact) / s.e. says whether an estimate agrees with the "
                  "exact dF; 'reliable?' says whether the estimator's own diagnostics trust "
                  "its error bar (not agreement)")
        return "\n".join(self.header + [""] + [format_rows(self.rows), legend, ""]
                         + self.notes)


def analyze(fwd, rev=None, *, exact=None, n_bootstrap=200, names=None):
    """The report for Runs ``fwd`` (and ``rev``); ``exact`` dF to compare with (default:
    the built-in system's exact free-energy difference, when there is one)."""
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    names = names or (fwd.path or "forward", (rev.path if rev is not None else None)
                      or "reverse")
    if rev is not None:
        check_pair(fwd, rev, names)
    if exact is not None:
        exact, source = float(exact), "given with --exact"
    else:
        exact = exact_delta_f(fwd)
        source = f"F(lam_N) - F(lam_0) of the built-in {fwd.system_name} system"
    header = [f"forward   {names[0]}: {fwd.system_name}, {fwd.integrator!r}, "
              f"{fwd.protocol.n_steps} steps, n_traj = {fwd.n_traj}"]
    if rev is not None:
        header.append(f"reverse   {names[1]}: n_traj = {rev.n_traj}")
    header.append(f"beta      {fwd.beta:g} (kT = {fwd.kT:g})")
    header.append("work      W_path, the path-ratio work of each trajectory (exact at any "
                  "time step; equal to the protocol work W for Metropolized kernels)")
    header.append(f"exact dF  {exact:.6g} ({source})" if exact is not None else
                  "exact dF  unknown (pass --exact DF to compare with a known value)")
    for path, run in zip(names, (fwd, rev)):
        if run is not None and not run.complete:
            header.append(f"WARNING   {path} is incomplete: only its {run.n_traj} committed "
                          f"trajectories are used (finish it with: neqsim resume {path})")
    with warnings.catch_warnings():
        # the estimators' reliability warnings go into the status column instead
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        warnings.simplefilter("ignore", CorrelatedTrajectoriesWarning)
        rows, notes = estimate_rows(fwd, rev, exact, n_bootstrap)
    return Report(header, rows, notes, exact)


def _row(quantity, value=None, se=None, ci=None, exact=None, status="yes"):
    return {"quantity": quantity, "value": value, "se": se, "ci": ci, "exact": exact,
            "status": status}


def _status(est):
    if not est.reliable:
        return "UNRELIABLE: " + est.warnings[0]
    g = max(est.diagnostics.get(k, 1.0) for k in ("g", "g_forward", "g_reverse"))
    if g > 1.5:  # the error bar already includes it: say so, it is still trusted
        return f"yes (correlated starts: g = {g:.3g}, error widened by sqrt(g))"
    return "yes"


def estimate_rows(fwd, rev, exact, n_boot):
    """The rows of the ``analyze`` table, and notes (diagnostics) to print below it."""
    import math


    rows, notes = [], []
    w_f, beta = as_work(fwd, None, name="forward work")
    of = starts_ordered(fwd)
    orr = starts_ordered(rev) if rev is not None else False
    ex_f = jarzynski(w_f, beta, n_bootstrap=n_boot, ordered=of, warn=False)
    rows.append(_row("EXP forward (Jarzynski)", ex_f.value, ex_f.std_error, ex_f.ci, exact,
                     _status(ex_f)))
    notes.append(f"EXP forward: effective sample size {ex_f.ess:.1f} of {w_f.size}; "
                 f"<W> = {ex_f.mean_work:.6g}, Var W = {ex_f.var_work:.4g}; Pareto k_hat "
                 f"{ex_f.k_hat:.2f} of the largest weights (variance infinite above 0.5)"
                 + (f"; correlated starts, g = {ex_f.g:.3g}" if of else ""))
    if rev is not None:
        w_r, _ = as_work(rev, beta, name="reverse work")
        ex_r = jarzynski(w_r, beta, n_bootstrap=n_boot, ordered=orr, warn=False)
        # EXP of the reverse works estimates F(lam_0) - F(lam_N) = -dF
        rows.append(_row("EXP reverse (-EXP of W_R)", -ex_r.value, ex_r.std_error,
                         (-ex_r.ci[1], -ex_r.ci[0]), exact, _status(ex_r)))
        notes.append(f"EXP reverse: effective sample size {ex_r.ess:.1f} of {w_r.size}; "
                     f"Pareto k_hat {ex_r.k_hat:.2f}"
                     + (f"; correlated starts, g = {ex_r.g:.3g}" if orr else ""))

    c_val, c_se = cumulant(w_f, beta, ordered=of)
    c_ci, _, _ = bootstrap(lambda a: cumulant(a, beta)[0], (w_f,), n_boot, 0, 0.95)
    rows.append(_row("cumulant forward (Gaussian)", c_val, c_se, c_ci, exact,
                     _cumulant_status(w_f, beta, c_se)))

    best, best_se, best_name = None, 0.0, None
    if rev is not None:
        b = bar(w_f, w_r, beta, n_bootstrap=n_boot, ordered=(of, orr), warn=False)
        rows.append(_row("BAR", b.value, b.std_error, b.ci, exact, _status(b)))
        notes.append(f"BAR: overlap of the work distributions {b.overlap:.3g}")
        if math.isfinite(b.value):
            best, best_se, best_name = b.value, b.std_error, "BAR"
        try:
            chk = crooks(w_f, w_r, beta)
        except ValueError as e:
            rows.append(_row("Crooks", status=f"skipped: {e}"))
        else:
            free = _crooks_status(chk.chi2_free, chk.dof - 1, chk.p_value_free,
                                  "the log ratio is not linear in W")
            fixed = _crooks_status(chk.chi2, chk.dof, chk.p_value,
                                   "the log ratio deviates from beta (W - dF)")
            neg = None if exact is None else -beta * exact
            rows += [_row("Crooks slope (= beta)", chk.slope, chk.slope_error, None, beta, free),
                     _row("Crooks intercept (= -beta dF)", chk.intercept, chk.intercept_error,
                          None, neg, free),
                     _row("Crooks crossing (= dF)", chk.crossing, None, None, exact, free),
                     _row("Crooks dF (slope fixed at beta)", chk.delta_f, chk.delta_f_error,
                          None, exact, fixed)]
            notes.append(f"Crooks: {chk.n_bins_used} bins used, chi2/dof = {chk.chi2:.1f}/"
                         f"{chk.dof} (p = {chk.p_value:.3g}) for the line beta (W - dF)")
    if best is None:
        if exact is not None:
            best, best_se, best_name = exact, 0.0, "exact"
        else:
            best, best_se, best_name = ex_f.value, ex_f.std_error, "EXP"

    pairs = [("<W_F> - dF", w_f, best)]
    if rev is not None:
        pairs.append(("<W_R> + dF", w_r, -best))  # the reverse process changes F by -dF
    for label, w, df in pairs:
        quantity = f"second law {label} >= 0 (dF: {best_name})"
        try:
            d = dissipation(w, df, beta)
        except ValueError as e:
            rows.append(_row(quantity, status=f"skipped: {e}"))
            continue
        # dF's error adds in quadrature: conservative, since <W_F> and a BAR or EXP dF
        # computed from the same works are positively correlated
        se = math.hypot(d.std_error, best_se)
        margin = d.value / se if se > 0 else math.copysign(math.inf, d.value)
        ok = d.value >= -d.n_sigma * se
        rows.append(_row(quantity, d.value, se, None, None, "holds" if ok else
                         f"VIOLATED: {-margin:.1f} standard errors below 0"))
    return rows, notes


def _cumulant_status(w, beta, se):
    """The cumulant estimate drops beta^2 k3 / 6 and higher terms: flag it when the third
    cumulant is significantly nonzero (3 sigma under a Gaussian null, Var k3 = 6 k2^3 / n)
    and its term exceeds the standard error."""
    if w.size < 3 or not np.all(np.isfinite(w)):
        return "yes"
    k2, k3 = stats.kstat(w, 2), stats.kstat(w, 3)
    term = beta * beta * k3 / 6.0
    if abs(k3) > 3.0 * (6.0 * k2 ** 3 / w.size) ** 0.5 and abs(term) > se:
        return (f"UNRELIABLE: the work is not Gaussian: the neglected term beta^2 k3 / 6 = "
                f"{term:.3g} exceeds the standard error")
    return "yes"


def _crooks_status(chi2, dof, p, what):
    if p < _MIN_P:
        return f"UNRELIABLE: {what} (chi2/dof = {chi2:.1f}/{dof}, p = {p:.2g})"
    return "yes"


def format_rows(rows):
    """Rows as aligned text columns (two or more spaces between columns)."""
    def num(x, fmt):
        return "-" if x is None else format(x, fmt)

    lines = [("quantity", "estimate +- s.e.", "95% CI", "exact", "z", "reliable?")]
    for r in rows:
        v, se, ci, ex = r["value"], r["se"], r["ci"], r["exact"]
        est = "-" if v is None else format(v, ".6g") + (
            f" +- {se:.2g}" if se is not None and math.isfinite(se) else "")
        ci_s = f"[{ci[0]:.6g}, {ci[1]:.6g}]" if ci is not None and all(
            math.isfinite(c) for c in ci) else "-"
        z = (v - ex) / se if None not in (v, se, ex) and se > 0 and math.isfinite(v) else None
        lines.append((r["quantity"], est, ci_s, num(ex, ".6g"), num(z, "+.2f"), r["status"]))
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line[:5], widths)) + "  " + line[5]
                     for line in lines)
