"""One row of a validation table: an estimate, its standard error, the exact value, and
whether it passes (|z| < 4 for equalities; bounds not violated by more than 4 sigma)."""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Row", "Z_PASS", "format_row", "format_table"]

Z_PASS = 4.0


@dataclass
class Row:
    case: str
    estimate: float
    error: float
    exact: float
    kind: str = "equal"       # "equal": |z| < 4; "bound": estimate >= exact - 4 se
    note: str = ""

    @property
    def z(self):
        if not (self.error > 0):
            return 0.0 if self.estimate == self.exact else math.copysign(math.inf,
                                                                         self.estimate - self.exact)
        return (self.estimate - self.exact) / self.error

    @property
    def passed(self):
        if not (math.isfinite(self.estimate) and math.isfinite(self.error)):
            return False
        if self.kind == "bound":
            return self.z > -Z_PASS
        if self.kind == "info":
            return True
        return abs(self.z) < Z_PASS


def format_row(r):
    status = "PASS" if r.passed else "FAIL"
    if r.kind == "info":
        status = "info"
    rel = ">=" if r.kind == "bound" else "  "
    return (f"{r.case:<46s} {r.estimate:>10.4f} +- {r.error:<8.4f} {rel}{r.exact:>9.4f} "
            f"{r.z:>+7.2f}  {status:<4s}  {r.note}")


def format_table(rows):
    head = f"{'case':<46s} {'estimate':>22s} {'exact':>11s} {'z':>7s}  result"
    return "\n".join([head, "-" * len(head)] + [format_row(r) for r in rows])
