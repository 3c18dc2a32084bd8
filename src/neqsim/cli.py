"""The ``neqsim`` command line (also ``python -m neqsim``)."""
from __future__ import annotations

import argparse
import contextlib
import sys

__all__ = ["main"]

_EPILOG = """examples:
  neqsim run dragged-trap         run a named example protocol (or a .toml/.json config)
  neqsim validate --quick         check the fluctuation theorems on exactly solvable cases
  neqsim bench integrators        neqsim against NumPy on the same workload
  neqsim info forward.h5          what is in a run file, how far it got, is it complete
  neqsim resume forward.h5        continue an interrupted run to the same result
  neqsim run dragged-trap --workers 4
                                  the same numbers from 4 worker processes (or a Dask
                                  cluster: --scheduler tcp://host:8786)
  neqsim analyze fwd.h5 rev.h5 --plot report.png
                                  free-energy estimates (EXP, BAR, Crooks) with errors,
                                  checked against the exact dF where known, and a figure
"""


def _parser():
    p = argparse.ArgumentParser(prog="neqsim", description="Non-equilibrium work and heat "
                                "simulation with exact bookkeeping.", epilog=_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    info = sub.add_parser("info", help="summarize a run file",
                          description="Print what a run file holds: system, protocol, "
                          "integrator, progress, completeness and work statistics.",
                          epilog="example:\n  neqsim info forward.h5",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    info.add_argument("path", nargs="+", help="run file(s)")
    res = sub.add_parser("resume", help="continue an interrupted run file",
                         description="Continue an interrupted run (built-in systems only; "
                         "for your own potential call nq.resume(path, system=...) in Python).",
                         epilog="examples:\n  neqsim resume forward.h5 --threads 2\n"
                         "  neqsim resume big.h5 --scheduler tcp://scheduler:8786",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    res.add_argument("path", help="run file")
    res.add_argument("--threads", type=int, default=None, help="numba threads")
    res.add_argument("--no-progress", action="store_true", help="no progress bar")
    _scale_out_options(res)
    ana = sub.add_parser("analyze", help="free-energy estimates and checks from run files",
                         description="Estimate dF from the path work of a forward run "
                         "(Jarzynski/EXP, Gaussian cumulant) and,\ngiven the reverse run (the "
                         "reversed protocol, same system and beta), also from both\n(EXP "
                         "reverse, BAR, the Crooks fit), and check the second law. Each row "
                         "gives the\nestimate +- its standard error, the bootstrap 95% CI, "
                         "the exact value and z-score when\ndF is known (--exact, or a "
                         "built-in system's free energy), and 'ok' or 'UNRELIABLE: why'\nfrom "
                         "the estimator's diagnostics.",
                         epilog="example:\n  neqsim analyze fwd.h5 rev.h5 --plot report.png"
                         "\n  neqsim analyze fwd.h5 --exact 0.6931 --bootstrap 0",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ana.add_argument("forward", help="run file of the forward process")
    ana.add_argument("reverse", nargs="?", help="run file of the reverse process (optional)")
    ana.add_argument("--plot", metavar="PNG", help="write a report figure (work histograms, "
                     "Crooks, running estimate, ESS) to this file")
    ana.add_argument("--bootstrap", type=int, default=200, metavar="N",
                     help="bootstrap resamples for the CIs (0: none; default 200)")
    ana.add_argument("--exact", type=float, default=None, metavar="DF",
                     help="known dF to compare with (default: the built-in system's exact "
                     "free energy difference, when there is one)")
    run = sub.add_parser("run", help="run a named example or a TOML/JSON configuration",
                         description="Run a protocol into a run file: a named example ("
                         "dragged-trap, breathing-trap, erasure) or a configuration file\n"
                         "naming system, protocol, integrator and run (see neqsim.runconfig "
                         "for the fields).",
                         epilog="examples:\n  neqsim run dragged-trap --out fwd.h5\n"
                         "  neqsim run my_protocol.toml --n-traj 10000 --seed 3\n"
                         "  neqsim run dragged-trap --n-traj 10000000 --workers 8",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("source", help="example name or .toml/.json file")
    run.add_argument("--out", help="run file (default: the configuration's)")
    run.add_argument("--n-traj", type=int, help="trajectories (default: the configuration's)")
    run.add_argument("--seed", type=int, help="seed (default: the configuration's)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing run file")
    run.add_argument("--threads", type=int, default=None, help="numba threads")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    _scale_out_options(run)
    val = sub.add_parser("validate", help="check the theorems on exactly solvable cases",
                         description="Run the exactly solvable cases (dragged trap moments, "
                         "breathing trap dF both ways with\nJarzynski and BAR, Crooks slope "
                         "and intercept, second law, shadow work at a large step,\n"
                         "MALA/GHMC exactness, AIS log Z on a Gaussian and an Ising lattice, "
                         "the Landauer bound)\nand print estimate +- error, exact value, "
                         "z-score and PASS/FAIL. Exit code 1 on any FAIL.",
                         epilog="examples:\n  neqsim validate --quick\n  neqsim validate "
                         "--integrator obabo --dt 0.3      (validate the settings you will "
                         "use)\n  neqsim validate --full --case breathing --case landauer",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    size = val.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="size", const="quick",
                      help="CI size (default; under 2 minutes on 2 cores)")
    size.add_argument("--full", action="store_const", dest="size", const="full",
                      help="50x the trajectories (a few minutes)")
    val.add_argument("--integrator", default="baoab",
                     help="integrator for the breathing-trap, Crooks and second-law cases: "
                     "baoab, obabo, em, mala, ghmc, verlet (default baoab)")
    val.add_argument("--dt", type=float, default=0.1, help="its time step (default 0.1)")
    val.add_argument("--case", action="append", help="run only this case (repeatable)")
    val.add_argument("--seed", type=int, default=2026)
    ben = sub.add_parser("bench", help="throughput against NumPy",
                         description="Time neqsim against a vectorized NumPy version of the "
                         "same workload (integrators: EM and BAOAB; ais: random-walk AIS).",
                         epilog="example:\n  neqsim bench integrators --n-traj 20000",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ben.add_argument("which", choices=["integrators", "ais"], help="which benchmark")
    ben.add_argument("rest", nargs=argparse.REMAINDER, help="options of that benchmark")
    return p


def _scale_out_options(parser):
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, metavar="N",
                       help="compute trajectory blocks in N worker processes on this machine "
                       "(same numbers; --threads is then numba threads per worker)")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="compute them on a Dask cluster, e.g. tcp://scheduler:8786 "
                       "(pip install 'neqsim[dask]'; docs/scale-out.md)")


@contextlib.contextmanager
def _executor(args):
    """The executor --workers/--scheduler ask for (None: this process computes)."""
    if args.scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise ValueError("--scheduler needs Dask: pip install 'neqsim[dask]'") from None
        with Client(args.scheduler, timeout="20s") as client:
            yield client.get_executor()
    elif args.workers is not None:
        if args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(args.workers,
                                 mp_context=multiprocessing.get_context("spawn")) as ex:
            yield ex
    else:
        yield None


def _threads(args, executor):
    """--threads: for this process, or per worker when an executor computes."""
    if executor is None:
        return {"n_threads": args.threads}
    return {"executor": executor, "threads_per_worker": args.threads or 1}


def main(argv=None):
    args = _parser().parse_args(argv)
    from .runfile import RunFileError
    try:
        if args.command == "info":
            from .runfile import describe
            for i, path in enumerate(args.path):
                if i:
                    print()
                print(describe(path))
        elif args.command == "resume":
            from .driver import resume
            with _executor(args) as ex:
                run = resume(args.path, progress=False if args.no_progress else None,
                             **_threads(args, ex))
            print(run)
        elif args.command == "analyze":
            _analyze(args)
        elif args.command == "run":
            from .runconfig import execute
            with _executor(args) as ex:
                runs = execute(args.source, out=args.out, n_traj=args.n_traj, seed=args.seed,
                               overwrite=args.overwrite,
                               progress=False if args.no_progress else None,
                               **_threads(args, ex))
            for r in runs:
                print(r)
            print(f"next: neqsim analyze {' '.join(r.path for r in runs)}")
        elif args.command == "validate":
            return _validate(args)
        elif args.command == "bench":
            import importlib
            importlib.import_module(f"neqsim.bench.{args.which}").main(args.rest)
    except (RunFileError, ValueError, FileExistsError, RuntimeError, OSError) as e:
        print(f"neqsim {args.command}: error: {e}", file=sys.stderr)
        for note in getattr(e, "__notes__", ()):  # e.g. how to resume a broken run
            print(note, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; committed results are safe in the file", file=sys.stderr)
        return 130
    return 0


# --- neqsim analyze ---------------------------------------------------------------------

_MIN_P = 1e-3  # a Crooks fit with a smaller chi-square p-value is flagged


def _analyze(args):
    """``neqsim analyze``: print a table of dF estimates and checks, optionally a figure.

    Raises ValueError (one-line message) for files that cannot be analyzed together.
    """
    import math
    import warnings

    import numpy as np

    from .analysis import UnreliableEstimateWarning
    from .runfile import open_run

    if args.bootstrap < 0:
        raise ValueError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    fwd = open_run(args.forward)
    rev = open_run(args.reverse) if args.reverse else None
    if rev is not None:
        # BAR and Crooks compare P_F(W) with P_R(-W): only meaningful for the same system
        # at the same temperature driven through the time-reversed schedule
        if rev.system_name != fwd.system_name:
            raise ValueError(f"{args.reverse} simulates {rev.system_name}, {args.forward} "
                             f"{fwd.system_name}: not a forward/reverse pair")
        from .protocols import is_reverse_of
        if not is_reverse_of(fwd.protocol, rev.protocol):
            raise ValueError(f"{args.reverse}: its protocol is not the reversed protocol of "
                             f"{args.forward} (use protocol.reversed() or "
                             "nq.protocols.crooks_pair)")
        if not math.isclose(rev.beta, fwd.beta, rel_tol=1e-12):
            raise ValueError(f"{args.reverse} has beta = {rev.beta:g}, {args.forward} "
                             f"beta = {fwd.beta:g}: the runs must share the temperature")
    from .analysis.plots import _exact_delta_f
    if args.exact is not None:
        exact, source = float(args.exact), "given with --exact"
    else:
        exact = _exact_delta_f(fwd)
        source = f"F(lam_N) - F(lam_0) of the built-in {fwd.system_name} system"

    print(f"forward   {args.forward}: {fwd.system_name}, {fwd.integrator!r}, "
          f"{fwd.protocol.n_steps} steps, n_traj = {fwd.n_traj}")
    if rev is not None:
        print(f"reverse   {args.reverse}: n_traj = {rev.n_traj}")
    print(f"beta      {fwd.beta:g} (kT = {fwd.kT:g})")
    print(f"exact dF  {exact:.6g} ({source})" if exact is not None else
          "exact dF  unknown (pass --exact DF to compare with a known value)")
    for path, run in ((args.forward, fwd), (args.reverse, rev)):
        if run is not None and not run.complete:
            print(f"WARNING   {path} is incomplete: only its {run.n_traj} committed "
                  f"trajectories are used (finish it with: neqsim resume {path})")
    print()
    with warnings.catch_warnings():
        # the estimators' reliability warnings go into the status column instead
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        rows, notes = _estimate_rows(fwd, rev, exact, args.bootstrap)
    print(_table(rows))
    print()
    for note in notes:
        print(note)
    if args.plot:
        try:
            from .analysis import plots
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnreliableEstimateWarning)
                plots.report(fwd, rev, exact=exact, path=args.plot)
        except ImportError as e:
            raise ValueError(f"--plot needs matplotlib ({e})") from None
        print(f"wrote {args.plot}")


def _row(quantity, value=None, se=None, ci=None, exact=None, status="ok"):
    return {"quantity": quantity, "value": value, "se": se, "ci": ci, "exact": exact,
            "status": status}


def _status(est):
    return "ok" if est.reliable else "UNRELIABLE: " + est.warnings[0]


def _estimate_rows(fwd, rev, exact, n_boot):
    """The rows of the ``analyze`` table, and notes (diagnostics) to print below it."""
    import math

    from .analysis import bar, crooks, cumulant, dissipation, jarzynski
    from .analysis._common import as_work, bootstrap

    rows, notes = [], []
    w_f, beta = as_work(fwd, None, name="forward work")
    ex_f = jarzynski(w_f, beta, n_bootstrap=n_boot, warn=False)
    rows.append(_row("EXP forward (Jarzynski)", ex_f.value, ex_f.std_error, ex_f.ci, exact,
                     _status(ex_f)))
    notes.append(f"EXP forward: effective sample size {ex_f.ess:.1f} of {w_f.size}; "
                 f"<W> = {ex_f.mean_work:.6g}, Var W = {ex_f.var_work:.4g}")
    if rev is not None:
        w_r, _ = as_work(rev, beta, name="reverse work")
        ex_r = jarzynski(w_r, beta, n_bootstrap=n_boot, warn=False)
        # EXP of the reverse works estimates F(lam_0) - F(lam_N) = -dF
        rows.append(_row("EXP reverse (-EXP of W_R)", -ex_r.value, ex_r.std_error,
                         (-ex_r.ci[1], -ex_r.ci[0]), exact, _status(ex_r)))
        notes.append(f"EXP reverse: effective sample size {ex_r.ess:.1f} of {w_r.size}")

    c_val, c_se = cumulant(w_f, beta)
    c_ci, _, _ = bootstrap(lambda a: cumulant(a, beta)[0], (w_f,), n_boot, 0, 0.95)
    rows.append(_row("cumulant forward (Gaussian)", c_val, c_se, c_ci, exact,
                     _cumulant_status(w_f, beta, c_se)))

    best, best_se, best_name = None, 0.0, None
    if rev is not None:
        b = bar(w_f, w_r, beta, n_bootstrap=n_boot, warn=False)
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
        rows.append(_row(quantity, d.value, se, None, None, "ok" if ok else
                         f"VIOLATED: {-margin:.1f} standard errors below 0"))
    return rows, notes


def _cumulant_status(w, beta, se):
    """The cumulant estimate drops beta^2 k3 / 6 and higher terms: flag it when the third
    cumulant is significantly nonzero (3 sigma under a Gaussian null, Var k3 = 6 k2^3 / n)
    and its term exceeds the standard error."""
    import numpy as np
    from scipy import stats
    if w.size < 3 or not np.all(np.isfinite(w)):
        return "ok"
    k2, k3 = stats.kstat(w, 2), stats.kstat(w, 3)
    term = beta * beta * k3 / 6.0
    if abs(k3) > 3.0 * (6.0 * k2 ** 3 / w.size) ** 0.5 and abs(term) > se:
        return (f"UNRELIABLE: the work is not Gaussian: the neglected term beta^2 k3 / 6 = "
                f"{term:.3g} exceeds the standard error")
    return "ok"


def _crooks_status(chi2, dof, p, what):
    if p < _MIN_P:
        return f"UNRELIABLE: {what} (chi2/dof = {chi2:.1f}/{dof}, p = {p:.2g})"
    return "ok"


def _table(rows):
    """Rows as aligned text columns (two or more spaces between columns)."""
    import math

    def num(x, fmt):
        return "-" if x is None else format(x, fmt)

    lines = [("quantity", "estimate +- s.e.", "95% CI", "exact", "z", "status")]
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


def _validate(args):
    import time

    from .validate import format_row, validate
    t0 = time.perf_counter()
    size = args.size or "quick"
    print(f"neqsim validate --{size}: integrator {args.integrator}, dt = {args.dt:g}; "
          "PASS: |z| < 4 (bounds: not violated by more than 4 standard errors)")
    head = f"{'case':<46s} {'estimate':>22s} {'exact':>11s} {'z':>7s}  result"
    print(head + "\n" + "-" * len(head), flush=True)
    rows, ok = validate(size, args.integrator, args.dt, args.seed, args.case,
                        report=lambda rs: [print(format_row(r), flush=True) for r in rs])
    n_fail = sum(not r.passed for r in rows)
    print(f"\n{len(rows) - n_fail}/{len(rows)} passed in {time.perf_counter() - t0:.0f} s"
          + ("" if ok else f"; {n_fail} FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
