"""First law per trajectory, to round-off, for every integrator: E_N - E_0 = W + Q (+ W_shadow)."""
import numpy as np
import pytest

import neqsim as nq
from conftest import ALL_INTEGRATORS


@pytest.mark.parametrize("integ", ALL_INTEGRATORS, ids=repr)
def test_first_law_every_trajectory(integ, well):
    # asymmetric erasure-like protocol: lower the barrier, tilt, raise, untilt
    proto = nq.protocols.piecewise([[4.0, 0.0], [0.0, 0.0], [0.0, 2.0], [4.0, 2.0], [4.0, 0.0]],
                                   n_steps=400)
    run = nq.simulate(well, proto, integ, n_traj=2000, seed=11)
    res = run.first_law_residual()
    scale = 1.0 + np.abs(run.initial_energy) + np.abs(run.final_energy) + np.abs(run.work)
    assert np.all(np.isfinite(res))
    assert np.max(np.abs(res) / scale) < 1e-10
    # the final energy is really U(x_N, lam_N) + K(v_N)
    u = well.energy(run.x, proto.end)
    k = 0.0 if run.v is None else 0.5 * integ.mass * np.sum(run.v ** 2, axis=1)
    np.testing.assert_allclose(run.final_energy, u + k, rtol=1e-12, atol=1e-12)
    u0 = well.energy(run.x0, proto.start)
    if run.v is None:
        np.testing.assert_allclose(run.initial_energy, u0, rtol=1e-12, atol=1e-12)
    else:  # Maxwell-Boltzmann kinetic energy: mean kT/2 per dimension, variance (kT)^2/2
        kin0 = 0.5 * integ.mass * np.sum(run.v0 ** 2, axis=1)
        np.testing.assert_allclose(run.initial_energy, u0 + kin0, rtol=1e-12, atol=1e-12)
        assert abs(kin0.mean() - 0.5) < 4 * np.sqrt(0.5 / kin0.size)
    if isinstance(integ, nq.VelocityVerlet):
        assert np.all(run.heat == 0.0)  # no bath: heat is zero by construction
    if integ.kind == "overdamped":
        assert run.shadow_work is None
    else:
        assert run.shadow_work is not None


@pytest.mark.parametrize("integ", ALL_INTEGRATORS, ids=repr)
def test_path_work_definition(integ, well):
    """path_work is W for exact kernels and W + W_shadow for unadjusted splittings."""
    proto = nq.protocols.linear([3.0, -1.0], [1.0, 1.5], 300)
    run = nq.simulate(well, proto, integ, n_traj=500, seed=5)
    if isinstance(integ, (nq.MALA, nq.GHMC)):
        np.testing.assert_array_equal(run.path_work, run.work)
        assert 0.2 < run.acceptance.mean() <= 1.0
    elif integ.kind == "underdamped":
        np.testing.assert_allclose(run.path_work, run.work + run.shadow_work, rtol=1e-10,
                                   atol=1e-10)
    else:
        assert not np.allclose(run.path_work, run.work)


def test_record_traces(trap):
    proto = nq.protocols.linear([0.0, 1.0], [2.0, 3.0], 100)
    run = nq.simulate(trap, proto, nq.Langevin(dt=0.05), n_traj=50, seed=3, record_every=10,
                      record_positions=True)
    tr = run.trace
    assert tr["work"].shape == (50, 11) and tr["x"].shape == (50, 11, 1)
    np.testing.assert_array_equal(tr["step"], np.arange(0, 101, 10))
    np.testing.assert_allclose(tr["time"], tr["step"] * 0.05)
    np.testing.assert_array_equal(tr["lam"], proto.values[::10])
    assert np.all(tr["work"][:, 0] == 0.0)
    np.testing.assert_array_equal(tr["work"][:, -1], run.work)
    np.testing.assert_array_equal(tr["heat"][:, -1], run.heat)
    np.testing.assert_array_equal(tr["x"][:, 0], run.x0)
    np.testing.assert_array_equal(tr["x"][:, -1], run.x)
