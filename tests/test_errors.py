"""Bad input gets one clear error; nothing silent."""
import math

import numpy as np
import pytest

import neqsim as nq


def _proto():
    return nq.protocols.linear([0.0, 1.0], [1.0, 1.0], 10)


def test_protocol_shape_and_nan(trap):
    with pytest.raises(ValueError, match="non-finite"):
        nq.Protocol([[0.0, 1.0], [np.nan, 1.0]])
    with pytest.raises(ValueError, match="at least one step"):
        nq.Protocol([[0.0, 1.0]])
    with pytest.raises(ValueError, match="ndim"):
        nq.Protocol(np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="2 control"):
        nq.simulate(trap, nq.protocols.linear([0.0], [1.0], 5), nq.EulerMaruyama(dt=0.1),
                    n_traj=5)
    with pytest.raises(ValueError, match="equal length"):
        nq.protocols.linear([0.0, 1.0], [1.0], 5)
    with pytest.raises(ValueError, match="n_steps"):
        nq.protocols.linear([0.0], [1.0], 0)


@pytest.mark.parametrize("make", [
    lambda: nq.EulerMaruyama(dt=0.0), lambda: nq.EulerMaruyama(dt=-1e-3),
    lambda: nq.MALA(dt=math.nan), lambda: nq.EulerMaruyama(dt=0.1, gamma=0.0),
    lambda: nq.Langevin(dt=0.1, gamma=-1.0), lambda: nq.Langevin(dt=0.1, mass=0.0),
    lambda: nq.GHMC(dt=math.inf),
])
def test_integrator_parameters(make):
    with pytest.raises(ValueError, match="must be"):
        make()


@pytest.mark.parametrize("splitting,msg", [
    ("V R O H R V", "step boundary"), ("V R O", "palindromic"), ("O O", "at least one V"),
    ("V { R } } V", "braces"), ("V R X R V", "unknown"), ("V { R O R } V", "inside"),
])
def test_bad_splittings(splitting, msg):
    with pytest.raises(ValueError, match=msg):
        nq.Langevin(dt=0.1, splitting=splitting)


def test_bad_run_arguments(trap):
    em = nq.EulerMaruyama(dt=0.01)
    for n in (0, -3, 2.5):
        with pytest.raises(ValueError, match="n_traj"):
            nq.simulate(trap, _proto(), em, n_traj=n)
    with pytest.raises(ValueError, match="beta"):
        nq.simulate(trap, _proto(), em, n_traj=5, beta=0.0)
    with pytest.raises(ValueError, match="seed"):
        nq.simulate(trap, _proto(), em, n_traj=5, seed=-1)
    with pytest.raises(ValueError, match="initial positions"):
        nq.simulate(trap, _proto(), em, n_traj=5, init=np.zeros((4, 1)))
    with pytest.raises(ValueError, match="NaN"):
        nq.simulate(trap, _proto(), em, n_traj=2, init=np.array([[0.0], [np.nan]]))
    with pytest.raises(ValueError, match="velocities"):
        nq.simulate(trap, _proto(), em, n_traj=2, init=(np.zeros(2), np.zeros(2)))
    with pytest.raises(TypeError, match="System"):
        nq.simulate(lambda x: x, _proto(), em, n_traj=2)
    with pytest.raises(ValueError, match="control vector"):
        trap.energy(np.zeros(3), [0.0])


def test_potential_returning_nan_names_trajectories():
    def energy(x, lam):
        return math.nan if x[0] > lam[0] else 0.5 * x[0] ** 2

    def gradient(x, lam, out):
        out[0] = x[0]

    bad = nq.from_functions(energy, gradient, dim=1, n_controls=1)
    x0 = np.array([[0.0], [0.0], [5.0], [0.0]])  # trajectory 2 starts beyond the cliff
    proto = nq.protocols.hold([3.0], 5)
    with pytest.raises(nq.IntegrationError, match=r"trajectories \[2\]") as e:
        nq.simulate(bad, proto, nq.EulerMaruyama(dt=1e-4), n_traj=4, init=x0, seed=1)
    assert list(e.value.trajectories) == [2]


def test_blow_up_is_reported_not_silent(well):
    proto = nq.protocols.linear([2.0, 0.0], [2.0, 1.0], 50)
    with pytest.raises(nq.IntegrationError, match="reduce dt") as e:
        nq.simulate(well, proto, nq.EulerMaruyama(dt=0.5), n_traj=200, seed=2)
    assert len(e.value.trajectories) > 0 and np.all(e.value.steps >= 1)
    run = nq.simulate(well, proto, nq.EulerMaruyama(dt=0.5), n_traj=200, seed=2,
                      on_failure="nan")
    assert run.n_failed == len(e.value.trajectories)
    assert np.all(np.isnan(run.work[run.failed]))
    assert np.all(np.isfinite(run.work[~run.failed]))
    # a Metropolized kernel at the same step stays stable
    ok = nq.simulate(well, proto, nq.MALA(dt=0.5), n_traj=200, seed=2)
    assert ok.n_failed == 0 and np.all(np.isfinite(ok.work))


def test_equilibrium_needs_normalizable_density():
    def energy(x, lam):
        return -lam[0] * x[0]

    def gradient(x, lam, out):
        out[0] = -lam[0]

    slope = nq.from_functions(energy, gradient)
    with pytest.raises(ValueError, match="normalizable|bounded"):
        nq.simulate(slope, nq.protocols.hold([1.0], 3), nq.MALA(dt=0.1), n_traj=3)
