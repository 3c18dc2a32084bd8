"""``neqsim validate``: the exactly solvable cases, run and compared with their exact answers.

Every case returns rows (case, estimate, standard error, exact, z, PASS/FAIL). An
equality passes when |estimate - exact| < 4 standard errors; a bound passes unless it is
violated by more than 4 standard errors. Sizes: "quick" (CI-sized, under two minutes on
two cores with the kernels compiled) and "full" (50x the trajectories). The
integrator cases (breathing trap, Crooks, second law) use the integrator and time step
the user names, so a user can validate the settings they are about to use: with
``path_work`` every integrator neqsim offers is exact at any time step, and a FAIL means
the setting is broken (e.g. a blow-up) or too few samples cover the exponential average.
"""
from __future__ import annotations

import time

from ..dynamics.presets import preset
from .calibrate import Calibration, CalibrationRow, calibrate
from .cases import CASES
from .row import Row, format_row, format_table

__all__ = ["Row", "validate", "CASES", "format_table", "format_row", "SIZES", "calibrate",
           "Calibration", "CalibrationRow"]

SIZES = {"quick": 1, "full": 50}


def validate(size="quick", integrator="baoab", dt=0.1, seed=2026, cases=None, report=None):
    """Run the cases; returns (rows, all_passed). ``report(rows)`` is called per case."""
    if size not in SIZES:
        raise ValueError(f"size must be 'quick' or 'full', got {size!r}")
    integ = preset(integrator, dt)
    names = list(CASES) if not cases else list(cases)
    unknown = [c for c in names if c not in CASES]
    if unknown:
        raise ValueError(f"unknown case(s) {unknown}; choose from {sorted(CASES)}")
    rows = []
    for i, name in enumerate(names):
        t = time.perf_counter()
        new = CASES[name](SIZES[size], integ, seed + 100 * i)
        for r in new:
            r.note = (r.note + "; " if r.note else "") + f"{time.perf_counter() - t:.1f} s" \
                if r is new[-1] else r.note
        rows += new
        if report:
            report(new)
    return rows, all(r.passed for r in rows)
