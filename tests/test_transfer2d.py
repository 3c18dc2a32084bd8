"""The 2-D exact engine (tilted Fokker-Planck on a grid, alternating directions): closed
forms of a diagonally dragged trap, a rotated double well against the 1-D engine, and a
coupled (non-separable) well against simulation."""
import math

import numpy as np
import pytest

import neqsim as nq
from neqsim.exact import work_statistics_continuous, work_statistics_continuous_2d
from test_transfer import piecewise_drag_exact

C30, S30 = math.cos(math.pi / 6), math.sin(math.pi / 6)


@nq.potential(dim=2, n_controls=2, name="rotated_well")
def rotated_well(x, lam, out):
    """The 1-D double well u^4 - a u^2 - f u along u = x cos 30 + y sin 30, a stiff
    harmonic 2 v^2 across it: off the grid's axes, so both sweeps carry the dynamics."""
    u = C30 * x[0] + S30 * x[1]
    v = -S30 * x[0] + C30 * x[1]
    du = 4 * u ** 3 - 2 * lam[0] * u - lam[1]
    dv = 4.0 * v
    out[0] = C30 * du - S30 * dv
    out[1] = S30 * du + C30 * dv
    return u ** 4 - lam[0] * u * u - lam[1] * u + 2.0 * v * v


@nq.potential(dim=2, n_controls=2, name="coupled_well")
def coupled_well(x, lam, out):
    """(x^2 - 1)^2 + 2 (y - a x)^2 - f x: the coupling a makes it non-separable."""
    d = x[1] - lam[0] * x[0]
    out[0] = 4 * x[0] * (x[0] * x[0] - 1) - 4 * lam[0] * d - lam[1]
    out[1] = 4 * d
    return (x[0] * x[0] - 1) ** 2 + 2 * d * d - lam[1] * x[0]


def test_diagonally_dragged_trap_matches_closed_forms():
    trap = nq.systems.harmonic_trap(dim=2)
    n, dt = 200, 5e-3
    c0, c1 = np.linspace(0.0, 2.0, n + 1), np.linspace(0.0, -1.0, n + 1)
    lam = np.column_stack([c0, c1, np.ones(n + 1)])
    r = work_statistics_continuous_2d(trap, lam, dt, n_cells=120, s=(0.5,))
    # the axes are independent: <W> and Var W add (the jumps-and-holds exact forms)
    m0, v0 = piecewise_drag_exact(c0, dt)
    m1, v1 = piecewise_drag_exact(c1, dt)
    assert r.mean_work == pytest.approx(m0 + m1, rel=3e-5)
    assert r.var_work == pytest.approx(v0 + v1, rel=3e-5)
    assert abs(r.mean_work - m0 - m1) < r.mean_work_error      # the estimate is honest
    assert abs(r.jarzynski_residual) < 1e-12 and r.delta_f == 0.0
    # Gaussian work: G(s) = -s <W> + s^2 Var / 2
    g = -0.5 * r.mean_work + 0.125 * r.var_work
    assert r.log_mgf[0.5] == pytest.approx(g, abs=1e-5)
    assert r.mass_error < 1e-12 and r.edge_mass < 1e-10
    assert r.grid[0][2] == 120 and r.x.shape == (120 * 120, 2)


def test_rotated_double_well_equals_the_one_dimensional_engine():
    n = 40
    lam = np.column_stack([np.full(n + 1, 3.0), np.linspace(-1.0, 2.0, n + 1)])
    one = work_statistics_continuous(nq.systems.double_well(), lam, 0.02, n_cells=2000)
    two = work_statistics_continuous_2d(rotated_well, lam, 0.02, n_cells=100)
    # the grid is not aligned with the well: agreement to 1e-5 of <W> ~ 2.4
    assert abs(two.mean_work - one.mean_work) < 2e-5
    assert abs(two.var_work - one.var_work) < 5e-5
    assert abs(two.mean_work - one.mean_work) < two.mean_work_error
    # no free energy given: dF by quadrature on the grid, Jarzynski to round-off
    assert two.delta_f == pytest.approx(one.delta_f, abs=1e-9)
    assert abs(two.jarzynski_residual) < 1e-12


@pytest.mark.slow
def test_coupled_well_agrees_with_simulation():
    n, t, sub = 100, 1.0, 10
    lam = np.column_stack([np.linspace(0.0, 1.5, n + 1), np.linspace(-0.5, 1.5, n + 1)])
    r = work_statistics_continuous_2d(coupled_well, lam, t / n, n_cells=120)
    assert r.mean_work_error < 0.005 and abs(r.jarzynski_residual) < 1e-12
    # MALA at dt = 1e-3 under the same piecewise-constant schedule (each lam held for 10
    # steps): its time-step bias is below the noise of 5e4 trajectories (se ~ 0.008)
    held = lam[np.r_[0, np.repeat(np.arange(1, n + 1), sub)]]
    run = nq.simulate(coupled_well, held, nq.MALA(dt=t / n / sub), 50_000, seed=4,
                      init=nq.Equilibrate(2000, 0.01), progress=False)
    w = run.work
    se = w.std(ddof=1) / math.sqrt(w.size)
    assert abs(w.mean() - r.mean_work) < 4 * se


def test_rejects_bad_inputs():
    trap2 = nq.systems.harmonic_trap(dim=2)
    lam = np.column_stack([np.zeros(3), np.zeros(3), np.ones(3)])
    with pytest.raises(ValueError, match="two-dimensional"):
        work_statistics_continuous_2d(nq.systems.harmonic_trap(), np.zeros((3, 2)), 0.1)
    with pytest.raises(ValueError, match="grid must be"):
        work_statistics_continuous_2d(trap2, lam, 0.1, grid=(1, 2))
    with pytest.raises(ValueError, match="at least 8 cells"):
        work_statistics_continuous_2d(trap2, lam, 0.1, grid=((-5, 5, 9), (-5, 5, 10)))
    with pytest.raises(ValueError, match="dt must be"):
        work_statistics_continuous_2d(trap2, lam, -0.1)
    with pytest.raises(ValueError, match="controls"):
        work_statistics_continuous_2d(trap2, np.zeros((3, 2)), 0.1)
