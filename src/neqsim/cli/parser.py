"""The argument parser of the ``neqsim`` command line: every command, option and help text."""
from __future__ import annotations

import argparse

__all__ = ["build_parser"]

_EPILOG = """examples:
  neqsim run dragged-trap         run a named example protocol (or a .toml/.json config)
  neqsim validate --quick         check the fluctuation theorems on exactly solvable cases
  neqsim bench                    neqsim against NumPy and the C SIMD limit (W1-W3)
  neqsim info forward.h5          what is in a run file, how far it got, is it complete
  neqsim resume forward.h5        continue an interrupted run to the same result
  neqsim run dragged-trap --workers 4
                                  the same numbers from 4 worker processes (or a Dask
                                  cluster: --scheduler tcp://host:8786)
  neqsim analyze fwd.h5 rev.h5 --plot report.png
                                  free-energy estimates (EXP, BAR, Crooks) with errors,
                                  checked against the exact dF where known, and a figure
  neqsim calibrate breathing-trap --n-traj 1000 --replicates 200
                                  are the error bars of this setting right? coverage over
                                  seeded replicates (exit 1 when they are not)
"""


def build_parser():
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
    scale_out_options(res)
    ana = sub.add_parser("analyze", help="free-energy estimates and checks from run files",
                         description="Estimate dF from the path work of a forward run "
                         "(Jarzynski/EXP, Gaussian cumulant) and,\ngiven the reverse run (the "
                         "reversed protocol, same system and beta), also from both\n(EXP "
                         "reverse, BAR, the Crooks fit), and check the second law. Each row "
                         "gives the\nestimate +- its standard error, the bootstrap 95% CI, "
                         "the exact value and z-score when\ndF is known (--exact, or a "
                         "built-in system's free energy), and whether the estimator\ntrusts "
                         "itself (reliable? yes, or UNRELIABLE: why, from its diagnostics; this is "
                         "not\nagreement with the exact value, which the z-score says).",
                         epilog="example:\n  neqsim analyze fwd.h5 rev.h5 --plot report.png"
                         "\n  neqsim analyze fwd.h5 --exact 0.6931 --bootstrap 0"
                         "\n  neqsim analyze fwd.h5 rev.h5 --profile profile.png",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ana.add_argument("forward", help="run file of the forward process")
    ana.add_argument("reverse", nargs="?", help="run file of the reverse process (optional)")
    ana.add_argument("--plot", metavar="PNG", help="write a report figure (work histograms, "
                     "Crooks, running estimate, ESS) to this file")
    ana.add_argument("--bootstrap", type=int, default=200, metavar="N",
                     help="bootstrap resamples for the CIs (0: none; default 200)")
    ana.add_argument("--profile", nargs="?", const=True, default=None, metavar="PNG",
                     help="also the free-energy profile dF(lam_t) at every recorded step "
                     "(Jarzynski per slice; with REV the bidirectional path-ensemble "
                     "estimator), and its figure when a file is given")
    ana.add_argument("--exact", type=float, default=None, metavar="DF",
                     help="known dF to compare with (default: the built-in system's exact "
                     "free energy difference, when there is one)")
    run = sub.add_parser("run", help="run a named example or a TOML/JSON configuration",
                         description="Run a protocol into a run file: a named example ("
                         "dragged-trap, breathing-trap, erasure) or a configuration file\n"
                         "naming system, protocol, integrator and run (fields: "
                         "docs/command-line.md).",
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
    scale_out_options(run)
    val = sub.add_parser("validate", help="check the theorems on exactly solvable cases",
                         description="Run the exactly solvable cases (dragged trap moments, "
                         "breathing trap dF both ways with\nJarzynski and BAR, Crooks slope "
                         "and intercept, second law, shadow work at a large step,\n"
                         "MALA/GHMC exactness, AIS log Z on a Gaussian and an Ising lattice, "
                         "the Landauer bound, the Sagawa-Ueda feedback trap)\nand print "
                         "estimate +- error, exact value, z-score and PASS/FAIL. Exit code 1 "
                         "on any FAIL.",
                         epilog="examples:\n  neqsim validate --quick\n  neqsim validate "
                         "--integrator obabo --dt 0.3      (validate the settings you will "
                         "use)\n  neqsim validate --full --case breathing --case landauer\n"
                         "  neqsim validate --exact my_protocol.toml --n-traj 1000000",
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
    val.add_argument("--exact", metavar="CONFIG",
                     help="instead: run this configuration (example name or .toml/.json; "
                     "1-D overdamped or underdamped) and compare its work statistics with "
                     "the exact ones at its dt (overdamped) and at dt -> 0 (time-step bias "
                     "vs sampling noise)")
    val.add_argument("--n-traj", type=int, default=100_000,
                     help="trajectories for --exact (default 100000)")
    val.add_argument("--seed", type=int, default=2026)
    cal = sub.add_parser("calibrate", help="check the error bars of a setting over seeded "
                         "replicates",
                         description="Run R seeded replicates of a configuration (a named "
                         "example, a .toml/.json file, or a run\nfile's configuration) with "
                         "N trajectories each, estimate dF in each (EXP forward;\nwith the "
                         "reverse process also EXP reverse and BAR) and report, per "
                         "estimator: the\ncoverage of its +-1 and +-2 std_error intervals "
                         "(overall and among replicates it called\nreliable), its bias, the "
                         "spread of the estimates over the mean reported error, and\nhow "
                         "often it said unreliable. Reference: the exact dF where the system "
                         "knows it, else\nthe estimate pooled over all replicates. Exit code "
                         "1 when a coverage is off by more\nthan 4 binomial standard "
                         "deviations, 0 when all are right.",
                         epilog="examples:\n  neqsim calibrate breathing-trap --n-traj 1000 "
                         "--replicates 200\n  neqsim calibrate my_protocol.toml --n-traj 500 "
                         "--plot calibration.png --workers 2\n  neqsim calibrate forward.h5 "
                         "--reverse --judge reliable",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    cal.add_argument("source", help="example name, .toml/.json file, or run file (.h5)")
    cal.add_argument("--n-traj", type=int, default=1000,
                     help="trajectories per replicate (default 1000: the sample size whose "
                     "error bars you want to check)")
    cal.add_argument("--replicates", type=int, default=200, help="replicates (default 200)")
    cal.add_argument("--seed", type=int, default=None,
                     help="first seed (default: the configuration's, else 0)")
    cal.add_argument("--reverse", action=argparse.BooleanOptionalAction, default=None,
                     help="also run the reverse process (default: as the configuration "
                     "says; off for run files)")
    cal.add_argument("--judge", choices=("all", "reliable"), default="all",
                     help="judge coverage on all replicates (default) or only on those the "
                     "estimator called reliable")
    cal.add_argument("--exact", type=float, default=None, metavar="DF",
                     help="the reference dF (default: exact where known, else pooled)")
    cal.add_argument("--plot", metavar="PNG", help="write the z-score histograms here")
    cal.add_argument("--threads", type=int, default=None, help="numba threads")
    cal.add_argument("--no-progress", action="store_true", help="no progress bar")
    scale_out_options(cal)
    ben = sub.add_parser("bench", help="throughput against NumPy and the C SIMD limit",
                         description="Time neqsim's default path against NumPy and, when "
                         "../shared/perf-reference and a C compiler\nare present, the C "
                         "SIMD limit, on W1 (EM dragged trap), W2 (BAOAB double well), W3 "
                         "(AIS\nrandom walk, d = 10), in one run; ratios, and compile and "
                         "cache-load times. Options: see\nneqsim bench engine --help.",
                         epilog="examples:\n  neqsim bench\n  neqsim bench --workloads W1 "
                         "--runs 3\n  neqsim bench integrators   (W1 and W2)\n  neqsim "
                         "bench ais           (W3)",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ben.add_argument("rest", nargs=argparse.REMAINDER, metavar="[WHICH] OPTIONS",
                     help="engine (all workloads, default), integrators (W1, W2) or ais "
                     "(W3), then the benchmark's options")
    return p


def scale_out_options(parser):
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, metavar="N",
                       help="compute trajectory blocks in N worker processes on this machine "
                       "(same numbers; --threads is then numba threads per worker)")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="compute them on a Dask cluster, e.g. tcp://scheduler:8786 "
                       "(pip install 'neqsim[dask]'; docs/scale-out.md)")
