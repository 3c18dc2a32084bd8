"""The underdamped exact engine (tilted Kramers equation on a phase-space grid): the
dragged trap against its closed form (a linear Gaussian process), exact Boltzmann
stationarity, and a double well against BAOAB."""
import math

import numpy as np
import pytest
from scipy.linalg import expm

import neqsim as nq
from neqsim.exact import work_statistics_continuous, work_statistics_underdamped


def underdamped_drag_exact(c, dt, k=1.0, gamma=1.0, m=1.0, kT=1.0):
    """<W>, Var W of a trap U = k/2 (x - c)^2 dragged in jumps c_{j-1} -> c_j, held for dt
    after each, under m dv = -U' dt - gamma v dt + sqrt(2 gamma kT) dB from equilibrium.
    z = (x, v) is Gaussian: the mean relaxes by E = exp(A dt), A = [[0, 1], [-k/m,
    -gamma/m]], towards (c_j, 0); the covariance stays the equilibrium diag(kT/k, kT/m)
    (moving the centre only shifts the mean), Cov(z_l, z_k) = E^{l-k} Sigma. The work is
    linear in the positions: w_j = k d_j ((c_j + c_{j-1}) / 2 - x_{j-1})."""
    E = expm(np.array([[0.0, 1.0], [-k / m, -gamma / m]]) * dt)
    mu = np.array([c[0], 0.0])
    mean, coef = 0.0, []
    for j in range(1, len(c)):
        d = c[j] - c[j - 1]
        mean += k * d * (0.5 * (c[j] + c[j - 1]) - mu[0])
        coef.append(-k * d)
        centre = np.array([c[j], 0.0])
        mu = centre + E @ (mu - centre)
    sigma = np.diag([kT / k, kT / m])
    n = len(coef)
    powers = [np.eye(2)]
    for _ in range(n):
        powers.append(E @ powers[-1])
    lag = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    cxx = np.array([(p @ sigma)[0, 0] for p in powers])
    a = np.array(coef)
    return mean, float(a @ cxx[lag] @ a)


def test_dragged_trap_matches_the_closed_form():
    trap = nq.systems.harmonic_trap()
    n, dt = 50, 0.04
    c = np.linspace(0.0, 2.0, n + 1)
    r = work_statistics_underdamped(trap, np.column_stack([c, np.ones(n + 1)]), dt,
                                    n_cells=(96, 72))
    mean, var = underdamped_drag_exact(c, dt)
    assert r.mean_work == pytest.approx(mean, rel=2e-4)
    assert r.var_work == pytest.approx(var, rel=2e-4)
    assert abs(r.mean_work - mean) < r.mean_work_error       # the error estimate is honest
    assert abs(r.jarzynski_residual) < 1e-12 and r.delta_f == 0.0
    assert r.mass_error < 1e-12 and r.kernel == "kramers"
    # inertia matters: the overdamped value (gamma = 1) is far away
    od = work_statistics_continuous(trap, np.column_stack([c, np.ones(n + 1)]), dt)
    assert abs(od.mean_work - mean) > 100 * r.mean_work_error


def test_boltzmann_is_exactly_stationary():
    well = nq.systems.double_well()
    hold = np.tile([3.0, 0.5], (6, 1))
    r = work_statistics_underdamped(well, hold, 0.1, n_cells=(40, 30), refine=False)
    x, v = r.x[:, 0], r.x[:, 1]
    p = np.exp(-(well.energy(x, [3.0, 0.5]) + 0.5 * v * v))
    p /= p.sum()
    assert np.max(np.abs(r.density - p)) < 1e-12 * p.max()


@pytest.mark.slow
def test_double_well_agrees_with_baoab():
    """Tilt ramp of a double well (barrier 2.25 kT), gamma = m = 1: the exact engine
    against 4e5 BAOAB trajectories at dt = 0.004 under the same held schedule (BAOAB's
    O(dt^2) bias is below the noise)."""
    well = nq.systems.double_well()
    n, dt, sub = 50, 0.04, 10
    lam = np.column_stack([np.full(n + 1, 3.0), np.linspace(-1.0, 2.0, n + 1)])
    r = work_statistics_underdamped(well, lam, dt, n_cells=(120, 90))
    held = lam[np.r_[0, np.repeat(np.arange(1, n + 1), sub)]]
    run = nq.simulate(well, held, nq.Langevin(dt=dt / sub, gamma=1.0), 400_000, seed=5,
                      progress=False)
    w = run.work
    se = w.std(ddof=1) / math.sqrt(w.size)
    assert r.mean_work_error < se
    assert abs(w.mean() - r.mean_work) < 4 * se


def test_rejects_bad_inputs():
    trap = nq.systems.harmonic_trap()
    lam = np.column_stack([np.zeros(3), np.ones(3)])
    with pytest.raises(ValueError, match="mass must be"):
        work_statistics_underdamped(trap, lam, 0.1, mass=0.0)
    with pytest.raises(ValueError, match="n_cells must be"):
        work_statistics_underdamped(trap, lam, 0.1, n_cells=50)
    with pytest.raises(ValueError, match="even"):
        work_statistics_underdamped(trap, lam, 0.1, n_cells=(41, 30))
    with pytest.raises(ValueError, match="grid must be"):
        work_statistics_underdamped(trap, lam, 0.1, grid=(1.0, 2.0))
    with pytest.raises(ValueError, match="one-dimensional"):
        work_statistics_underdamped(nq.systems.harmonic_trap(dim=2),
                                    np.zeros((3, 3)), 0.1)
