"""A new user's first hour: errors that point at their code, nothing silent, nothing
wasted, a progress bar that ends where it should."""
import os
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import neqsim as nq


def _run_script(tmp_path, source, name="script.py", env=None):
    (tmp_path / name).write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, name], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, **(env or {})))


@pytest.mark.parametrize("body, reason", [
    ("return 0.5 * lamb[0] * x[0] ** 2", "NameError: name 'lamb' is not defined"),
    ("return 0.5 * lam[0] * x ** 2", "return one float"),
], ids=["typo", "returns-an-array"])
def test_an_error_in_a_user_potential_is_short_and_names_the_users_line(tmp_path, body, reason):
    (tmp_path / "mypot.py").write_text(textwrap.dedent(f"""
        def energy(x, lam):
            {body}

        def gradient(x, lam, out):
            out[0] = lam[0] * x[0]
    """))
    out = _run_script(tmp_path, """
        import neqsim as nq
        from mypot import energy, gradient
        s = nq.from_functions(energy, gradient)
        nq.simulate(s, nq.protocols.linear([1.0], [2.0], 10), nq.EulerMaruyama(dt=0.01), 10,
                    seed=1, progress=False)
    """, env={"NUMBA_CACHE_DIR": str(tmp_path / "cache")})
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) < 15, out.stderr
    assert "mypot.py, line 3" in out.stderr and reason in out.stderr
    assert "PotentialError" in lines[-3] or "PotentialError" in out.stderr
    assert "numba/core" not in out.stderr  # numba's own traceback is gone


def _quartic(sign, write=True):
    def energy(x, lam):
        return x[0] ** 4 - lam[0] * x[0] ** 2

    if write:
        def gradient(x, lam, out):
            out[0] = sign * (4.0 * x[0] ** 3 - 2.0 * lam[0] * x[0])
    else:
        def gradient(x, lam, out):  # computes it, but never writes it
            g = 4.0 * x[0] ** 3 - 2.0 * lam[0] * x[0]
            return g
    return nq.from_functions(energy, gradient)


@pytest.mark.parametrize("sign, write", [(-1.0, True), (1.0, False)], ids=["sign", "returned"])
def test_a_wrong_gradient_is_caught_before_any_step(sign, write, monkeypatch):
    system = _quartic(sign, write)
    proto = nq.protocols.linear([1.0], [2.0], 10)
    steps = []
    real = nq.Langevin.stepper
    monkeypatch.setattr(nq.Langevin, "stepper", lambda self, *a, **k: (
        lambda adv: (lambda *b: steps.append(1) or adv(*b)))(real(self, *a, **k)))
    with pytest.raises(nq.PotentialError, match="gradient disagrees with a finite difference"
                       ) as e:
        nq.simulate(system, proto, nq.Langevin(dt=0.01), 20, seed=1, progress=False)
    assert steps == []  # raised before the first kernel call
    assert "x = [" in str(e.value) and "finite difference" in str(e.value)
    # the right gradient passes, and the check can be turned off
    nq.simulate(_quartic(1.0), proto, nq.Langevin(dt=0.01), 20, seed=1, progress=False)
    nq.simulate(system, proto, nq.Langevin(dt=0.01), 20, seed=1, progress=False,
                check_gradient=False)


def test_the_first_compile_says_so(tmp_path):
    out = _run_script(tmp_path, """
        import neqsim as nq
        def energy(x, lam):
            return 1.2345 * (x[0] - lam[0]) ** 2
        def gradient(x, lam, out):
            out[0] = 2.469 * (x[0] - lam[0])
        s = nq.from_functions(energy, gradient)
        nq.simulate(s, nq.protocols.linear([0.0], [1.0], 5), nq.MALA(dt=0.01), 10, seed=1)
    """, env={"NUMBA_CACHE_DIR": str(tmp_path / "cache")})
    assert out.returncode == 0, out.stderr
    assert "neqsim: compiling kernels for energy/MALA (first use, cached afterwards)" \
        in out.stderr


def test_the_progress_bar_ends_exactly_at_its_total(capsys):
    from neqsim.engine.progress import _Bar
    bar = _Bar(total=3_000_001, initial=0, desc="t", unit="traj")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm's "clamping frac" warning would raise
        for _ in range(7):  # blocks of unequal sizes, steps in uneven calls
            for _ in range(13):
                bar.advance(428_572 * 77, 1001)
        bar.advance(10**9, 1001)
        assert bar._shown == bar._bar.n == 3_000_001
        bar.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = nq.simulate(nq.systems.harmonic_trap(), nq.protocols.linear([0, 1], [1, 1], 97),
                          nq.EulerMaruyama(dt=0.01), 1001, seed=1, chunk_traj=333,
                          chunk_steps=13, progress=True)
    assert run.n_traj == 1001
    assert "1,001/1,001" in capsys.readouterr().err


def test_outputs_are_checked_before_any_work(tmp_path):
    path = tmp_path / "ais.h5"
    path.write_bytes(b"not overwritten")
    gp = nq.targets.gaussian_path(2, 1.0, 0.5)
    t = time.perf_counter()
    with pytest.raises(nq.RunFileError, match="exists"):
        nq.ais(nq.log_density(gp.log_f0_grad), nq.log_density(gp.log_fN_grad),
               path="geometric", initial=gp.sample0, kernel=nq.kernels.HMC("adapt", 5),
               schedule=nq.schedules.adaptive(50), n_chains=100, seed=1, out=str(path))
    assert time.perf_counter() - t < 1.0  # no pilot ran
    assert path.read_bytes() == b"not overwritten"
    with pytest.raises(nq.RunFileError, match="folder .* does not exist"):
        nq.simulate(nq.systems.harmonic_trap(), nq.protocols.linear([0, 1], [1, 1], 5),
                    nq.EulerMaruyama(dt=0.01), 10, seed=1, out=tmp_path / "no" / "x.h5")


def test_keywords_get_did_you_mean():
    with pytest.raises(TypeError, match="did you mean 'n_chains'"):
        nq.ais(None, None, initial=None, kernel=None, n_chain=10)
    with pytest.raises(TypeError, match="did you mean 'n_bootstrap'"):
        nq.analysis.bar([1.0], [1.0], n_boostrap=5)


def test_run_info_has_the_wall_time():
    run = nq.simulate(nq.systems.harmonic_trap(), nq.protocols.linear([0, 1], [1, 1], 5),
                      nq.EulerMaruyama(dt=0.01), 10, seed=1, progress=False)
    assert 0 < run.info["wall_time_s"] < 60


def test_info_on_a_user_potential_run_says_how_to_resume(tmp_path):
    system = _quartic(1.0)
    path = tmp_path / "mine.h5"
    nq.simulate(system, nq.protocols.linear([1.0], [2.0], 10), nq.MALA(dt=0.01), 300,
                seed=1, out=path, chunk_traj=100, progress=False)
    import h5py
    with h5py.File(path, "r+") as f:  # as if killed after the first block
        f["neqsim/progress"][:] = [100, 0, 0, 0]
    text = nq.storage.describe(str(path))
    assert "nq.resume(" in text and "system=" in text and "neqsim resume" in text
    assert "built-in systems only" in text
    assert "W_path" in text  # and it says which work it summarizes


def test_report_figure_shows_its_data():
    """The analyze report of a hopeless sample (dragged trap, ESS ~ 4 of 5000, sigma of
    the Gaussian guard ~ e^{Var W}) keeps the curve readable: no error band where the
    estimator flags itself, a y range set by the curve, legends outside every panel,
    energy axes in units."""
    trap = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [5.0, 1.0], 200)
    fwd = nq.simulate(trap, proto, nq.EulerMaruyama(dt=5e-3), 5000, seed=3, progress=False)
    rev = nq.simulate(trap, proto.reversed(), nq.EulerMaruyama(dt=5e-3), 5000, seed=4,
                      progress=False)
    assert not nq.analysis.jarzynski(fwd, n_bootstrap=0, warn=False).reliable
    fig = nq.analysis.plots.report(fwd, rev)
    fig.canvas.draw()
    hist, crooks_ax, running = fig.axes
    curve = running.lines[0].get_ydata()
    lo, hi = running.get_ylim()
    span = np.ptp(np.append(curve[np.isfinite(curve)], 0.0))
    assert hi - lo < 1.5 * span  # not set by a 100 kT band
    assert not running.collections or all(  # no band drawn over flagged prefixes
        len(c.get_paths()) == 0 for c in running.collections if c.get_label().startswith("$\\pm"))
    for ax in fig.axes:
        legend = ax.get_legend()
        assert legend is not None
        assert legend.get_window_extent().y1 <= ax.get_window_extent().y0  # below the data
    for ax in (hist, crooks_ax):
        assert "path work" in ax.get_xlabel() and "energy units" in ax.get_xlabel()
    assert "energy units" in running.get_ylabel()
