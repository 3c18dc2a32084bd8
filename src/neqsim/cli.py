"""The ``neqsim`` command line (also ``python -m neqsim``)."""
from __future__ import annotations

import argparse
import sys

__all__ = ["main"]

_EPILOG = """examples:
  neqsim info forward.h5          what is in a run file, how far it got, is it complete
  neqsim resume forward.h5        continue an interrupted run to the same result
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
                         epilog="example:\n  neqsim resume forward.h5 --threads 2",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    res.add_argument("path", help="run file")
    res.add_argument("--threads", type=int, default=None, help="numba threads")
    res.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


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
            run = resume(args.path, n_threads=args.threads,
                         progress=False if args.no_progress else None)
            print(run)
    except (RunFileError, ValueError, FileExistsError) as e:
        print(f"neqsim {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; committed results are safe in the file", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
