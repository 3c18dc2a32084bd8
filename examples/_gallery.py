"""Helpers shared by the example scripts (not an example itself).

The leading underscore keeps sphinx-gallery from running this file as an example. The
scripts import it with ``from _gallery import ...``, which works because Python puts
the directory of the script being run on ``sys.path``.

* :func:`setup`: the non-interactive matplotlib backend, ``NEQSIM_EXAMPLE_SMALL`` and
  ``NEQSIM_OUT``;
* :class:`Table`: the results table, one row per estimate checked against an exact
  value or a bound;
* :func:`save_figure` and :func:`merged_legend`: small plotting chores (legends go
  below the axes, never over the data: ``nq.analysis.plots.legend_below``).
"""
import os
import pathlib

import matplotlib
import numpy as np


def setup():
    """Prepare an example run and return ``(SMALL, OUT)``.

    matplotlib is switched to the non-interactive Agg backend (the figures are written
    to files). ``SMALL`` is true when the environment variable ``NEQSIM_EXAMPLE_SMALL``
    is set to anything but ``""`` or ``"0"`` (a quick run); ``OUT`` is the directory
    named by ``NEQSIM_OUT`` (default ``./out``), created if needed, where the figure and
    the run files are written.
    """
    matplotlib.use("Agg")
    small = os.environ.get("NEQSIM_EXAMPLE_SMALL", "") not in ("", "0")
    out = pathlib.Path(os.environ.get("NEQSIM_OUT") or "out")
    out.mkdir(parents=True, exist_ok=True)
    return small, out


def z_score(estimate, error, exact):
    """(estimate - exact) / error, or +-inf when the error is zero."""
    return (estimate - exact) / error if error > 0 else np.inf * np.sign(estimate - exact)


_VERDICTS = {
    "PASS": "PASS: agrees with the exact value (|z| < 4)",
    "FAIL": "FAIL: disagrees (|z| >= 4)",
    "not judged: unreliable": "not judged: the estimator's own diagnostics say its error "
                              "bar cannot be trusted (too few effective samples)",
    "biased (expected)": "biased (expected): an estimator with a known bias, and it shows",
    "bias < noise": "bias < noise: its known bias is below the statistical error here",
    "holds": "holds: the bound is not violated by more than 4 standard errors",
}


class Table:
    """A results table: one row per estimate, with its standard error, the exact value
    (or bound) it is compared with, the z-score and a status.

    Rows are added by :meth:`check` (an estimate of a quantity known exactly),
    :meth:`bound` (a one-sided bound, :class:`neqsim.analysis.BoundCheck`),
    :meth:`bounds_exact` (an estimate that must lie on one side of an exact value) and
    :meth:`info` (shown, not judged); :meth:`print` prints the table. A status FAIL
    marks an exact identity or a bound that the sample contradicts.

    The layout arguments only set column widths: ``name_width`` for the quantity,
    ``estimate_width`` for the header of the estimate +- error column,
    ``error_format`` for the error, ``exact_label`` and ``exact_width`` for the exact
    column and ``z_width`` for the z-score. ``z_max`` is the largest |z| that passes.
    """

    def __init__(self, name_width=32, *, estimate_width=22, error_format="<9.4g",
                 exact_label="exact", exact_width=9, z_width=7, z_max=4.0):
        self.name_width = name_width
        self.estimate_width = estimate_width
        self.error_format = error_format
        self.exact_label = exact_label
        self.exact_width = exact_width
        self.z_width = z_width
        self.z_max = z_max
        self.rows = []  # (quantity, estimate, error, exact, z, status)

    def check(self, name, estimate, error, exact, reliable=True, biased=False):
        """A row for an estimate of a quantity known exactly, z = (estimate - exact) /
        error. For an exact estimator: PASS when |z| < z_max, FAIL otherwise, or
        UNRELIABLE (not judged) when its estimator flags it as such (too few effective
        samples). For an estimator with a known bias (``biased=True``) the status only
        says whether the bias shows at this sample size, "biased (expected)" or
        "bias < noise": not a failure."""
        z = z_score(estimate, error, exact)
        if biased:
            status = "biased (expected)" if abs(z) >= self.z_max else "bias < noise"
        else:
            status = "not judged: unreliable" if not reliable else \
                ("PASS" if abs(z) < self.z_max else "FAIL")
        self.rows.append((name, estimate, error, exact, z, status))

    def bound(self, name, bc):
        """A row for a one-sided bound (:class:`neqsim.analysis.BoundCheck`): the exact
        column shows the bound and z the margin above it in standard errors; the status
        is "holds" or FAIL."""
        self.rows.append((name, bc.value, bc.std_error, bc.bound, bc.margin,
                          "holds" if bc.holds else "FAIL"))

    def bounds_exact(self, name, value, error, exact, side):
        """A row for a strict bound on a quantity known exactly: ``side="lower"`` must
        not lie above the exact value by more than z_max standard errors, ``"upper"``
        not below it; the status is "holds" or FAIL."""
        z = (value - exact) / error
        ok = z < self.z_max if side == "lower" else z > -self.z_max
        self.rows.append((name, value, error, exact, z, "holds" if ok else "FAIL"))

    def info(self, name, estimate, error, exact, status=""):
        """A row shown for information with the given status (not judged here)."""
        self.rows.append((name, estimate, error, exact, z_score(estimate, error, exact),
                          status))

    def print(self):
        """Print the header, a rule, the rows, and what the verdicts mean."""
        header = (f"{'quantity':<{self.name_width}} {'estimate +- s.e.':>{self.estimate_width}} "
                  f"{self.exact_label:>{self.exact_width}} {'z':>{self.z_width}}  verdict")
        print(header)
        print("-" * len(header))
        for name, est, err, exact, z, status in self.rows:
            print(f"{name:<{self.name_width}} {est:>10.4f} +- {err:{self.error_format}} "
                  f"{exact:>{self.exact_width}.4f} {z:>{self.z_width}.2f}  {status}")
        seen = {row[5] for row in self.rows}
        print(f"z = (estimate - {self.exact_label}) / s.e.; " + "; ".join(
            text for key, text in _VERDICTS.items() if key in seen))


def save_figure(fig, path, dpi=120):
    """Write the figure to ``path``, close it, say where it went, and return ``path``."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    print(f"figure written to {path.resolve()}")
    return path


def merged_legend(ax, twin, **kwargs):
    """One legend below ``ax`` for the lines of ``ax`` and of its twin axes ``twin``."""
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    from neqsim.analysis.plots import legend_below
    return legend_below(ax, h1 + h2, l1 + l2, **kwargs)
