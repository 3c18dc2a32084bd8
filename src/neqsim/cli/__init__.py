"""The ``neqsim`` command line (also ``python -m neqsim``): parse (:mod:`.parser`), call
the library, print. Run configurations for ``neqsim run`` are :mod:`.config`."""
from __future__ import annotations

import contextlib
import sys

from .parser import build_parser

__all__ = ["main"]

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
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if argv[:1] == ["bench"] and not {"-h", "--help"} & set(argv[1:2]):
        return _bench(argv[1:])
    args = build_parser().parse_args(argv)
    from ..storage.runfile import RunFileError
    try:
        if args.command == "info":
            from ..storage.runfile import describe
            from ..storage.smcfile import describe_smc, is_smc_file
            for i, path in enumerate(args.path):
                if i:
                    print()
                print(describe_smc(path) if is_smc_file(path) else describe(path))
        elif args.command == "resume":
            from ..engine.driver import resume
            with _executor(args) as ex:
                run = resume(args.path, progress=False if args.no_progress else None,
                             **_threads(args, ex))
            print(run)
        elif args.command == "analyze":
            _analyze(args)
        elif args.command == "run":
            from .config import execute
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
        elif args.command == "calibrate":
            return _calibrate(args)
        elif args.command == "bench":
            return _bench(args.rest)
    except (RunFileError, ValueError, FileExistsError, RuntimeError, OSError) as e:
        print(f"neqsim {args.command}: error: {e}", file=sys.stderr)
        for note in getattr(e, "__notes__", ()):  # e.g. how to resume a broken run
            print(note, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; committed results are safe in the file", file=sys.stderr)
        return 130
    return 0


def _bench(rest):
    """``neqsim bench [engine|integrators|ais] OPTIONS`` (its options are its own)."""
    from ..bench.engine import main as bench
    rest = list(rest)
    which = rest.pop(0) if rest and rest[0] in ("engine", "integrators", "ais") else "engine"
    if which != "engine" and not any(r.startswith("--workloads") for r in rest):
        rest += ["--workloads", "W1,W2" if which == "integrators" else "W3"]
    try:
        bench(rest)
    except ValueError as e:
        print(f"neqsim bench: error: {e}", file=sys.stderr)
        return 2
    return 0


# --- neqsim analyze ---------------------------------------------------------------------

def _analyze(args):
    """``neqsim analyze``: print the report of :mod:`neqsim.analysis.report`, optionally
    a figure. Raises ValueError (one-line message) for files that cannot be analyzed."""
    import warnings

    from ..analysis import UnreliableEstimateWarning
    from ..analysis.report import analyze
    from ..storage.runfile import open_run

    if args.bootstrap < 0:
        raise ValueError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    fwd = open_run(args.forward)
    rev = open_run(args.reverse) if args.reverse else None
    report = analyze(fwd, rev, exact=args.exact, n_bootstrap=args.bootstrap,
                     names=(args.forward, args.reverse))
    print(report.text())
    if args.plot:
        try:
            from ..analysis import plots
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnreliableEstimateWarning)
                plots.report(fwd, rev, exact=report.exact, path=args.plot)
        except ImportError as e:
            raise ValueError(f"--plot needs matplotlib ({e})") from None
        print(f"wrote {args.plot}")
    if args.profile is not None:
        _profile(fwd, rev, args)


def _profile(fwd, rev, args):
    """The profile table of ``neqsim analyze --profile`` (and its figure)."""
    import math

    from ..analysis import profile
    prof = profile(fwd, rev, n_bootstrap=args.bootstrap or 100)
    print(f"\nfree-energy profile: {prof.method}, {prof.lam.shape[0]} recorded steps"
          + ("" if prof.exact is None else "; exact F(lam_t) - F(lam_0) from the system"))
    head = (f"{'step':>7s} {'time':>9s} {'lam':>24s} {'dF +- s.e.':>24s} {'exact':>10s} "
            f"{'z':>6s}  reliable?")
    print(head + "\n" + "-" * len(head))
    z = prof.z_scores() if prof.exact is not None else None
    for i in range(prof.lam.shape[0]):
        lam = " ".join(f"{v:.4g}" for v in prof.lam[i])
        ex = "" if prof.exact is None else f"{prof.exact[i]:.5g}"
        zz = "" if z is None or not math.isfinite(z[i]) else f"{z[i]:+.2f}"
        print(f"{int(prof.step[i]):7d} {prof.time[i]:9.4g} {lam:>24s} "
              f"{f'{prof.value[i]:.6g} +- {prof.std_error[i]:.2g}':>24s} {ex:>10s} {zz:>6s}  "
              + ("yes" if prof.reliable[i] else "UNRELIABLE"))
    if isinstance(args.profile, str):
        ax = prof.plot()
        ax.figure.savefig(args.profile, dpi=120, bbox_inches="tight")
        print(f"wrote {args.profile}")


def _validate_exact(args, t0):
    """``neqsim validate --exact CONFIG``: the configuration against its exact work
    statistics (exit 1 on a FAIL)."""
    import time

    from ..validation import format_table
    from ..validation.exact_check import exact_rows
    from .config import calibration_setup
    system, proto, integ, opts = calibration_setup(args.exact)
    seed = args.seed
    what = ("the exact Kramers process (dt -> 0)" if integ.has_velocities else
            "the integrator's transition operator at its dt, and the Fokker-Planck limit "
            "dt -> 0")
    print(f"neqsim validate --exact {args.exact}: {system.name}, {integ!r}, "
          f"{args.n_traj} trajectories; exact: {what}")
    rows = exact_rows(system, proto, integ, args.n_traj, beta=opts.get("beta", 1.0),
                      seed=seed, progress=False)
    print(format_table(rows))
    ok = all(r.passed for r in rows)
    print(f"\n{sum(r.passed for r in rows)}/{len(rows)} passed in "
          f"{time.perf_counter() - t0:.0f} s" + ("" if ok else "; FAILED"))
    return 0 if ok else 1


def _calibrate(args):
    """``neqsim calibrate``: the coverage table of :func:`neqsim.calibrate`; exit 1 when a
    coverage is off."""
    from ..validation.calibrate import calibrate
    from .config import calibration_setup
    system, proto, integ, opts = calibration_setup(args.source)
    reverse = opts.get("reverse", False) if args.reverse is None else args.reverse
    seed = args.seed if args.seed is not None else (opts.get("seed") or 0)
    with _executor(args) as ex:
        cal = calibrate(system, proto, integ, args.n_traj, replicates=args.replicates,
                        beta=opts.get("beta", 1.0), seed=seed, init=opts.get("init",
                                                                           "equilibrium"),
                        reverse=reverse, exact=args.exact, judge=args.judge, executor=ex,
                        n_threads=args.threads, progress=False if args.no_progress else None)
    print(cal.table())
    if args.plot:
        try:
            cal.plot(args.plot)
        except ImportError as e:
            raise ValueError(f"--plot needs matplotlib ({e})") from None
        print(f"wrote {args.plot}")
    if not cal.passed:
        print("calibration FAILED: the error bars above are not right about themselves at "
              f"n_traj = {args.n_traj}; see docs/analysis.md (when to trust which estimator)")
    return 0 if cal.passed else 1


def _validate(args):
    import time

    from ..validation import format_row, validate
    t0 = time.perf_counter()
    if args.exact:
        return _validate_exact(args, t0)
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
