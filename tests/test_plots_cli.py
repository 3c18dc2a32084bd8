"""Plot helpers (headless, lazily imported) and the ``neqsim analyze`` command."""
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import neqsim as nq

PROTOCOL = nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 100)  # breathing trap, k 1 -> 4
EXACT_DF = 0.5 * math.log(4.0)


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "neqsim", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Forward (with traces, for the ESS panel) and reverse run files of the breathing
    trap with MALA, whose path work makes Jarzynski and Crooks exact at any dt."""
    d = tmp_path_factory.mktemp("analyze")
    trap = nq.systems.harmonic_trap()
    fwd = nq.simulate(trap, PROTOCOL, nq.MALA(dt=0.05), n_traj=3000, seed=1,
                      out=d / "fwd.h5", record_every=10)
    rev = nq.simulate(trap, PROTOCOL.reversed(), nq.MALA(dt=0.05), n_traj=3000, seed=2,
                      out=d / "rev.h5")
    return d, fwd, rev


def test_plot_functions_return_axes(runs):
    from matplotlib.axes import Axes
    _, fwd, rev = runs
    plots = nq.analysis.plots
    chk = nq.analysis.crooks(fwd, rev)
    axes = [plots.work_histograms(fwd, rev, delta_f=EXACT_DF),
            plots.work_histograms(fwd.path_work, beta=1.0),
            plots.crooks_plot(chk),
            plots.crooks_plot(fwd.path, rev.path),
            plots.running_estimate(fwd, exact=EXACT_DF, n_points=50),
            plots.ess_plot(fwd),
            plots.ess_plot(-np.asarray(fwd.trace["work"]))]
    for ax in axes:
        assert isinstance(ax, Axes)
    # drawing into a given axes returns that axes
    ax = plots.work_histograms(fwd, ax=axes[0].figure.add_subplot(2, 1, 2))
    assert ax.figure is axes[0].figure


def test_report_png(runs, tmp_path):
    _, fwd, rev = runs
    path = tmp_path / "r.png"
    fig = nq.analysis.plots.report(fwd, rev, path=path)
    assert len(fig.axes) == 4  # histograms, Crooks, running estimate, ESS (fwd has traces)
    assert path.exists() and path.stat().st_size > 0
    # arrays: no traces, so no ESS panel
    path3 = tmp_path / "r3.png"
    fig = nq.analysis.plots.report(fwd.path_work, rev.path_work, exact=EXACT_DF, path=path3)
    assert len(fig.axes) == 3
    assert path3.exists() and path3.stat().st_size > 0


def test_import_does_not_load_matplotlib():
    code = ("import neqsim, sys; assert 'matplotlib' not in sys.modules; "
            "neqsim.analysis.jarzynski([1.0, 2.0], warn=False); "
            "assert 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def _columns(out, quantity):
    """The columns of the table row for ``quantity`` (columns are 2+ spaces apart)."""
    for line in out.splitlines():
        if line.startswith(quantity + "  "):
            return re.split(r"\s{2,}", line.strip(), maxsplit=5)
    raise AssertionError(f"no {quantity!r} row in:\n{out}")


def test_cli_analyze(runs):
    d, _, _ = runs
    r = _cli("analyze", "fwd.h5", "rev.h5", "--plot", "report.png", cwd=d)
    print(r.stdout)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr
    exact = float(re.search(r"^exact dF\s+(\S+)", r.stdout, re.M).group(1))
    assert exact == pytest.approx(EXACT_DF, abs=1e-5)
    quantity, estimate, ci, exact_col, z, status = _columns(r.stdout, "BAR")
    assert float(exact_col) == pytest.approx(EXACT_DF, abs=1e-5)
    value, se = map(float, estimate.split("+-"))
    assert abs(float(z)) < 4 and abs(value - EXACT_DF) < 4 * se
    assert status == "yes"  # the reliable? column
    for row in ("EXP forward (Jarzynski)", "EXP reverse (-EXP of W_R)", "Crooks slope (= beta)",
                "second law <W_F> - dF >= 0 (dF: BAR)"):
        _columns(r.stdout, row)
    assert (d / "report.png").stat().st_size > 0


def test_cli_analyze_mismatched_reverse(runs):
    d, _, _ = runs
    # "reverse" run driven forward: not the reversed protocol
    nq.simulate(nq.systems.harmonic_trap(), PROTOCOL, nq.MALA(dt=0.05), n_traj=50, seed=3,
                out=d / "wrong.h5")
    r = _cli("analyze", "fwd.h5", "wrong.h5", cwd=d)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "reversed" in r.stderr


def test_cli_analyze_missing_file(tmp_path):
    r = _cli("analyze", "nope.h5", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
