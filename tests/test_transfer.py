"""Exact work statistics on a grid (neqsim.exact.transfer) against closed forms and
simulation: the dragged and breathing harmonic traps (continuous-time Fokker-Planck), the
Boltzmann stationarity and conservation of the scheme, and neqsim's own Euler-Maruyama
and MALA kernels at a finite time step against 10^6 simulated trajectories."""
import math

import numpy as np
import pytest

import neqsim as nq
from neqsim.exact.gaussian import (
    breathing_trap_delta_f,
    dragged_trap_work_mean,
    dragged_trap_work_variance,
)
from neqsim.exact.transfer import (
    WorkStatistics,
    transfer_grid,
    work_statistics_continuous,
    work_statistics_discrete,
)

N_STEPS = 1000
DT = 1e-3
V = 5.0  # drag speed: c goes 0 -> 5 in t = 1


def drag_protocol(n_steps=N_STEPS, k=1.0):
    c = np.linspace(0.0, V * n_steps * DT, n_steps + 1)
    return nq.Protocol(np.column_stack([c, np.full(n_steps + 1, k)]))


def piecewise_drag_exact(c, dt, k=1.0, gamma=1.0, kT=1.0):
    """<W>, Var W of the trap dragged in jumps c_{j-1} -> c_j, held for dt after each
    (what the grid computes), from the exact Ornstein-Uhlenbeck relaxation: W is linear
    in the Gaussian positions x_{j-1}, w_j = k d_j ((c_j + c_{j-1})/2 - x_{j-1})."""
    e = math.exp(-dt * k / gamma)
    m, mean, coef = c[0], 0.0, []
    for j in range(1, len(c)):
        d = c[j] - c[j - 1]
        mean += k * d * (0.5 * (c[j] + c[j - 1]) - m)
        coef.append(-k * d)
        m = c[j] + (m - c[j]) * e
    a = np.array(coef)
    i = np.arange(a.size)
    cov = (kT / k) * np.exp(-np.abs(i[:, None] - i[None, :]) * dt * k / gamma)
    return mean, float(a @ cov @ a)


@pytest.fixture(scope="module")
def trap():
    return nq.systems.harmonic_trap()


@pytest.fixture(scope="module")
def dw():
    return nq.systems.double_well()


@pytest.fixture(scope="module")
def drag(trap):
    return work_statistics_continuous(trap, drag_protocol(), DT, beta=1.0, gamma=1.0,
                                      n_cells=1000, s=(0.5, -0.5))


# ------------------------------------------------------------ continuous time

def test_dragged_trap_mean_and_variance_match_closed_forms(drag):
    r = drag
    assert isinstance(r, WorkStatistics) and r.mode == "continuous" and r.extrapolated
    mean_c = dragged_trap_work_mean(V, 1.0, gamma=1.0, k=1.0)
    var_c = dragged_trap_work_variance(V, 1.0, gamma=1.0, k=1.0, beta=1.0)
    # the continuous drag's closed forms (the jumps of dt = 1e-3 shift them by 4e-7)
    assert abs(r.mean_work / mean_c - 1) < 1e-6
    assert abs(r.var_work / var_c - 1) < 1e-6
    # the jump protocol's exact answer, which is what the grid solves: much closer
    mean_p, var_p = piecewise_drag_exact(drag_protocol().values[:, 0], DT)
    assert abs(r.mean_work / mean_p - 1) < 5e-8
    assert abs(r.var_work / var_p - 1) < 5e-8
    assert abs(r.var_work - 2.0 * r.mean_work) < 1e-6 * r.var_work  # Var W = 2 kT <W>
    # the refinement estimate bounds the fine level's actual error, and is not vacuous
    assert abs(r.fine["mean_work"] - mean_p) <= 1.1 * r.mean_work_error
    assert r.mean_work_error < 1e-4 * mean_p


def test_dragged_trap_jarzynski_and_gaussian_mgf(drag):
    r = drag
    assert r.delta_f == 0.0
    assert abs(r.jarzynski_residual) < 1e-8
    assert abs(r.log_mgf[1.0]) < 1e-8
    mean_p, var_p = piecewise_drag_exact(drag_protocol().values[:, 0], DT)
    for s in (0.5, -0.5):  # W is Gaussian: G(s) = -s <W> + s^2 Var W / 2
        assert abs(r.log_mgf[s] - (-s * mean_p + 0.5 * s * s * var_p)) < 1e-6
    assert r.mass_error < 1e-12
    assert r.edge_mass < 1e-10


def test_refinement_is_second_order_and_extrapolation_fourth(trap):
    mean_p, _ = piecewise_drag_exact(drag_protocol().values[:, 0], DT)
    fine_err, extra_err = [], []
    for n in (400, 800):
        r = work_statistics_continuous(trap, drag_protocol(), DT, n_cells=n)
        fine_err.append(abs(r.fine["mean_work"] - mean_p))
        extra_err.append(abs(r.mean_work - mean_p))
    assert 3.5 < fine_err[0] / fine_err[1] < 4.5          # O(h^2)
    assert extra_err[0] / extra_err[1] > 10.0              # O(h^4) after Richardson
    assert extra_err[1] < 1e-7 * mean_p


def test_dragged_trap_at_another_temperature(trap):
    beta = 2.0
    r = work_statistics_continuous(trap, drag_protocol(n_steps=500), 2e-3, beta=beta,
                                   n_cells=800)
    mean_p, var_p = piecewise_drag_exact(drag_protocol(n_steps=500).values[:, 0], 2e-3,
                                         kT=1 / beta)
    assert abs(r.mean_work / mean_p - 1) < 1e-6
    assert abs(r.var_work / var_p - 1) < 1e-6
    assert abs(r.jarzynski_residual) < 1e-8


def test_breathing_trap_jarzynski(trap):
    n = 1000
    vals = np.column_stack([np.zeros(n + 1), np.linspace(1.0, 4.0, n + 1)])
    r = work_statistics_continuous(trap, vals, 1e-3, n_cells=1000)
    assert abs(r.delta_f - breathing_trap_delta_f(1.0, 4.0)) < 1e-12
    assert abs(r.log_mgf[1.0] + r.delta_f) < 1e-8
    assert abs(r.jarzynski_residual) < 1e-8
    assert r.mean_work > r.delta_f + 0.1                   # second law, dissipative
    assert abs(r.delta_f_grid - r.delta_f) < 1e-10


def test_boltzmann_is_exactly_stationary_and_mass_conserved(trap, dw):
    # holding lam fixed leaves exp(-beta U) on the grid unchanged (SG fluxes vanish)
    for system, lam in ((trap, [1.0, 2.0]), (dw, [4.0, 1.0])):
        hold = np.tile(np.asarray(lam, float), (201, 1))
        r = work_statistics_continuous(system, hold, 0.01, n_cells=800, refine=False)
        u = system.energy(r.x, lam)
        p = np.exp(-(u - u.min()))
        p /= p.sum()
        assert np.max(np.abs(r.density - p)) < 1e-12 * p.max()
        assert r.mean_work == 0.0 and r.var_work == 0.0
        assert r.mass_error < 1e-12


def test_user_potential_jarzynski():
    # a user's own 1-D system with one control, no closed form (dF by quadrature)
    def energy(x, lam):
        y = x[0] - lam[0]
        return 0.25 * y ** 4 + 0.5 * math.sin(3.0 * x[0])

    def gradient(x, lam, out):
        y = x[0] - lam[0]
        out[0] = y ** 3 + 1.5 * math.cos(3.0 * x[0])

    system = nq.from_functions(energy, gradient, dim=1, n_controls=1, name="tilted_quartic")
    proto = nq.protocols.linear([0.0], [2.0], 200)
    r = work_statistics_continuous(system, proto, 5e-3, n_cells=1000, s=(0.3,))
    assert math.isfinite(r.delta_f)
    assert abs(r.jarzynski_residual) < 1e-8
    assert r.mean_work > r.delta_f
    # Jensen: G is convex and G'(0) = -<W>; G(0.3) >= -0.3 <W>
    assert r.log_mgf[0.3] >= -0.3 * r.mean_work


def test_automatic_grid_covers_the_support(trap):
    lo, hi = transfer_grid(trap, drag_protocol(), beta=1.0, tail=30.0)
    # beta k/2 (x - c)^2 = 30 at |x - c| = sqrt(60) for c in [0, 5]
    assert lo <= -math.sqrt(60) + 1e-9 and hi >= 5 + math.sqrt(60) - 1e-9
    assert lo > -math.sqrt(60) - 0.1 and hi < 5 + math.sqrt(60) + 0.1


# ------------------------------------------------------------ discrete time

DW_DT = 0.1
DW_GAMMA = 3.0
DW_STEPS = 20


def dw_protocol():
    # a = 4 (barrier 4 kT), tilt f ramped 2 -> 6 in 20 steps of dt = 0.1
    f = np.linspace(2.0, 6.0, DW_STEPS + 1)
    return nq.Protocol(np.column_stack([np.full(DW_STEPS + 1, 4.0), f]))


@pytest.fixture(scope="module")
def dw_em(dw):
    return work_statistics_discrete(dw, dw_protocol(), nq.EulerMaruyama(dt=DW_DT,
                                                                         gamma=DW_GAMMA))


def test_euler_maruyama_operator_matches_simulation_and_shows_its_bias(dw, dw_em):
    r = dw_em
    assert r.mode == "EulerMaruyama" and r.kernel == "nystrom"
    assert r.lost_mass < 1e-12 and r.mean_work_error < 1e-10
    n = 10 ** 6
    run = nq.simulate(dw, dw_protocol(), nq.EulerMaruyama(dt=DW_DT, gamma=DW_GAMMA), n,
                      seed=20240611, progress=False)
    w = np.asarray(run.work)
    assert w.shape == (n,) and np.all(np.isfinite(w))
    se = w.std(ddof=1) / math.sqrt(n)
    assert abs(w.mean() - r.mean_work) < 4 * se
    d = w - w.mean()
    se_var = math.sqrt(np.mean((d * d - d.var()) ** 2) / n)  # W has heavy tails here
    assert abs(d.var() - r.var_work) < 4 * se_var
    cont = work_statistics_continuous(dw, dw_protocol(), DW_DT, gamma=DW_GAMMA,
                                      n_cells=1000)
    assert cont.mean_work_error < 1e-5
    assert abs(cont.jarzynski_residual) < 1e-8
    # the time-step bias of Euler-Maruyama's W, made visible
    assert abs(r.mean_work - cont.mean_work) > 10 * se
    # and Jarzynski fails for EM's protocol work at this dt (it does hold in continuous time)
    assert abs(r.jarzynski_residual) > 1e-3
    # the path-ratio work, whose mean is KL(P_F || P_R) of the path measures (times kT,
    # plus dF), is exact at this dt: the simulation's run.path_work averages to it
    pw = np.asarray(run.path_work)
    se_p = pw.std(ddof=1) / math.sqrt(n)
    assert abs(pw.mean() - r.mean_path_work) < 4 * se_p
    assert r.mean_path_work_error < 1e-10
    assert r.path_kl == pytest.approx((r.mean_path_work - r.delta_f), rel=1e-14)
    # for EM the two differ by far more than the noise: W is not the path work
    assert abs(r.mean_path_work - r.mean_work) > 10 * se_p
    assert r.path_kl > 0 and cont.path_kl == pytest.approx(cont.dissipated_work, rel=1e-12)


def test_cell_integrated_kernel_converges_to_the_nystrom_one(dw, dw_em):
    r = work_statistics_discrete(dw, dw_protocol(),
                                 nq.EulerMaruyama(dt=DW_DT, gamma=DW_GAMMA),
                                 kernel="cell", n_cells=1200)
    assert r.kernel == "cell"
    assert abs(r.mean_work - dw_em.mean_work) < 1e-4
    # second order: the error estimate is about 3x the actual error of the fine level
    assert abs(r.mean_work - dw_em.mean_work) < r.mean_work_error


def test_mala_operator_is_boltzmann_stationary_and_jarzynski_exact(dw):
    mala = nq.MALA(dt=DW_DT, gamma=DW_GAMMA)
    r = work_statistics_discrete(dw, dw_protocol(), mala, n_cells=800)
    assert r.mode == "MALA"
    assert abs(r.jarzynski_residual) < 1e-8              # detailed balance on the grid
    assert r.mean_path_work == r.mean_work and r.path_kl > 0    # W_path = W
    hold = np.tile([4.0, 1.0], (11, 1))
    h = work_statistics_discrete(dw, hold, mala, n_cells=600, refine=False)
    u = dw.energy(h.x, [4.0, 1.0])
    p = np.exp(-(u - u.min()))
    p /= p.sum()
    assert np.max(np.abs(h.density - p)) < 1e-12 * p.max()
    # Euler-Maruyama is not: its stationary density differs at this dt
    e = work_statistics_discrete(dw, hold, nq.EulerMaruyama(dt=DW_DT, gamma=DW_GAMMA),
                                 n_cells=600, refine=False)
    assert np.max(np.abs(e.density - p)) > 1e-3 * p.max()


def test_small_time_step_discrete_approaches_continuous(trap):
    # EM's work bias is O(dt): at dt = 1e-3 it is tiny compared with the drag's <W>
    proto = drag_protocol(n_steps=100)
    vals = proto.values.copy()
    vals[:, 0] *= 0.4                                     # slower drag: c 0 -> 0.2
    r = work_statistics_discrete(trap, vals, nq.EulerMaruyama(dt=1e-3), n_cells=700,
                                 grid=(-6.5, 7.0), refine=False)
    c = work_statistics_continuous(trap, vals, 1e-3, n_cells=800)
    assert abs(r.mean_work / c.mean_work - 1) < 5e-3


# ------------------------------------------------------------ inputs

def test_rejects_bad_inputs(trap):
    with pytest.raises(ValueError):
        work_statistics_continuous(nq.systems.harmonic_trap(dim=2),
                                   np.zeros((3, 3)), 0.1)
    with pytest.raises(TypeError):
        work_statistics_discrete(trap, drag_protocol(n_steps=5), nq.Langevin(dt=0.1))
    with pytest.raises(ValueError):
        work_statistics_continuous(trap, drag_protocol(n_steps=5), -1.0)
    with pytest.raises(ValueError):
        work_statistics_continuous(trap, drag_protocol(n_steps=5), 0.1, grid=(1.0, 0.0))
