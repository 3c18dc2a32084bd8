"""Integrators against exact answers (PHYSICS.md), tolerances 4 standard errors."""
import math

import numpy as np
import pytest

import neqsim as nq
from conftest import assert_within, jarzynski, mean_se

LN4_HALF = 0.5 * math.log(4.0)


def test_dragged_trap_work_moments(trap):
    """Overdamped dragged trap: W Gaussian, <W> = gamma v^2 [t - tau(1 - e^{-t/tau})],
    Var W = 2 kT <W>, dF = 0 (Jarzynski)."""
    n_steps, dt, v = 1000, 1e-3, 5.0
    t = n_steps * dt
    proto = nq.protocols.linear([0.0, 1.0], [v * t, 1.0], n_steps)
    run = nq.simulate(trap, proto, nq.EulerMaruyama(dt=dt), n_traj=40_000, seed=42)
    mean_w = v * v * (t - (1.0 - math.exp(-t)))
    m, se = mean_se(run.work)
    assert_within(m, se, mean_w, what="<W>")
    var = run.work.var(ddof=1)
    assert_within(var, var * math.sqrt(2.0 / run.n_traj), 2.0 * mean_w, what="Var W")
    df, se = jarzynski(run.path_work)
    assert_within(df, se, 0.0, what="Jarzynski dF (path work)")


@pytest.mark.parametrize("integ,which", [
    (nq.EulerMaruyama(dt=0.05), "path_work"),
    (nq.MALA(dt=0.3), "work"),
    (nq.Langevin(dt=0.3, splitting="V R O R V"), "path_work"),
    (nq.Langevin(dt=0.3, splitting="O V R V O"), "path_work"),
    (nq.GHMC(dt=0.4), "work"),
    (nq.VelocityVerlet(dt=0.3), "path_work"),
], ids=lambda p: p if isinstance(p, str) else repr(p))
def test_breathing_trap_jarzynski(trap, integ, which):
    """k: 1 -> 4 (asymmetric), dF = (kT/2) ln 4, with the work each integrator makes exact."""
    proto = nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 20)
    run = nq.simulate(trap, proto, integ, n_traj=40_000, seed=7)
    df, se = jarzynski(getattr(run, which))
    assert_within(df, se, LN4_HALF, what=f"{integ!r} {which}")
    assert se < 0.02  # the test has the power to see a real error


@pytest.mark.parametrize("splitting,dt", [("O V R V O", 0.3), ("V R O R V", 0.5)])
def test_large_step_shadow_work_needed(trap, splitting, dt):
    """Underdamped at omega dt = 0.6 (OBABO) and 1.0 (BAOAB, whose configurational
    sampling of a harmonic well is exact, so its bias shows only at larger steps):
    W + W_shadow gives the exact dF; W alone is measurably biased."""
    proto = nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 10)
    integ = nq.Langevin(dt=dt, gamma=1.0, splitting=splitting)
    run = nq.simulate(trap, proto, integ, n_traj=100_000, seed=8)
    df, se = jarzynski(run.path_work)
    assert_within(df, se, LN4_HALF, what="W + W_shadow")
    df_w, se_w = jarzynski(run.work)
    z = (df_w - LN4_HALF) / se_w
    assert z > 5, f"protocol work alone should be measurably biased, z = {z:.2f}"


def test_large_step_euler_maruyama_bias(trap):
    """Overdamped at a large step: W is biased, W_path is exact."""
    proto = nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 10)
    run = nq.simulate(trap, proto, nq.EulerMaruyama(dt=0.1), n_traj=100_000, seed=9)
    df, se = jarzynski(run.path_work)
    assert_within(df, se, LN4_HALF, what="EM path work")
    df_w, se_w = jarzynski(run.work)
    assert abs(df_w - LN4_HALF) / se_w > 6


@pytest.mark.parametrize("integ", [nq.MALA(dt=0.2), nq.GHMC(dt=0.5)], ids=repr)
def test_metropolized_exact_in_double_well(well, integ):
    """Non-Gaussian, asymmetric: barrier lowered and tilted; dF from quadrature."""
    lam0, lam1 = [3.0, 0.0], [1.0, 1.0]
    proto = nq.protocols.linear(lam0, lam1, 50)
    exact = well.free_energy(lam1) - well.free_energy(lam0)
    run = nq.simulate(well, proto, integ, n_traj=40_000, seed=10)
    df, se = jarzynski(run.work)
    assert_within(df, se, exact, what=repr(integ))
    assert se < 0.03


def test_stationary_variance_baoab_exact_em_biased(trap):
    """BAOAB samples x exactly in a harmonic well at any dt; EM gives
    <x^2> = (kT/k) / (1 - k dt / (2 gamma))."""
    hold = nq.protocols.hold([0.0, 1.0], 200)
    run = nq.simulate(trap, hold, nq.Langevin(dt=1.0, gamma=1.0), n_traj=100_000, seed=12)
    x2 = run.x[:, 0] ** 2
    m, se = mean_se(x2)
    assert_within(m, se, 1.0, what="BAOAB <x^2>")
    dt = 0.2
    run = nq.simulate(trap, hold, nq.EulerMaruyama(dt=dt), n_traj=100_000, seed=13)
    m, se = mean_se(run.x[:, 0] ** 2)
    assert_within(m, se, 1.0 / (1.0 - dt / 2.0), what="EM <x^2>")
    assert (m - 1.0) / se > 10  # and EM is visibly off the exact value


def test_inverse_cdf_initial_sampling_is_exact(well):
    """x_0 ~ exp(-U) by inverse CDF: KS test against the quadrature CDF, and <x>."""
    from scipy import integrate, stats
    lam = np.array([2.0, 0.7])
    run = nq.simulate(well, nq.protocols.hold(lam, 1), nq.MALA(dt=0.01), n_traj=50_000, seed=3)
    f = lambda x: math.exp(-(x ** 4 - 2.0 * x ** 2 - 0.7 * x))  # noqa: E731
    norm = integrate.quad(f, -5, 5, limit=200)[0]
    cdf = np.vectorize(lambda x: integrate.quad(f, -5, x, limit=200)[0] / norm)
    res = stats.kstest(run.x0[:, 0], cdf)
    assert res.pvalue > 1e-3
    mean_exact = integrate.quad(lambda x: x * f(x), -5, 5, limit=200)[0] / norm
    m, se = mean_se(run.x0[:, 0])
    assert_within(m, se, mean_exact, what="<x_0>")
    np.testing.assert_allclose(well.free_energy(lam), -math.log(norm), rtol=1e-9)


def test_equilibrate_2d_user_potential():
    """A 2-D anisotropic Gaussian with no exact sampler: MALA equilibration reaches it."""
    def energy(x, lam):
        return 0.5 * (lam[0] * x[0] ** 2 + 4.0 * x[1] ** 2)

    def gradient(x, lam, out):
        out[0] = lam[0] * x[0]
        out[1] = 4.0 * x[1]

    sys2 = nq.from_functions(energy, gradient, dim=2, n_controls=1)
    with pytest.raises(ValueError, match="Equilibrate"):
        nq.simulate(sys2, nq.protocols.linear([1.0], [2.0], 5), nq.MALA(dt=0.1), n_traj=10)
    proto = nq.protocols.linear([1.0], [3.0], 20)
    run = nq.simulate(sys2, proto, nq.MALA(dt=0.2), n_traj=20_000, seed=4,
                      init=nq.Equilibrate(n_steps=300, dt=0.3))
    m, se = mean_se(run.x0[:, 0] ** 2)
    assert_within(m, se, 1.0, what="<x0^2>")
    m, se = mean_se(run.x0[:, 1] ** 2)
    assert_within(m, se, 0.25, what="<x1^2>")
    df, se = jarzynski(run.work)
    assert_within(df, se, 0.5 * math.log(3.0), what="dF")
