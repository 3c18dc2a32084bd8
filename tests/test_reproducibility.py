"""Same seed -> bit-identical results, whatever the thread count or chunking."""
import numba
import numpy as np
import pytest

import neqsim as nq
from neqsim._numba import rng as _rng

FIELDS = ("work", "heat", "path_work", "initial_energy", "final_energy", "x0", "x")


def _same(a, b):
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    for f in ("shadow_work", "v0", "v", "acceptance"):
        if getattr(a, f) is None:
            assert getattr(b, f) is None
        else:
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


@pytest.mark.parametrize("integ", [nq.EulerMaruyama(dt=0.01), nq.MALA(dt=0.1),
                                   nq.Langevin(dt=0.05), nq.GHMC(dt=0.3)], ids=repr)
def test_threads_and_chunks(well, integ):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    proto = nq.protocols.linear([3.0, 0.0], [1.0, 1.0], 60)
    kw = dict(n_traj=301, seed=123, record_every=7)
    ref = nq.simulate(well, proto, integ, n_threads=1, **kw)
    runs = [nq.simulate(well, proto, integ, n_threads=2, **kw),
            nq.simulate(well, proto, integ, n_threads=2, chunk_steps=7, chunk_traj=50, **kw),
            nq.simulate(well, proto, integ, n_threads=1, chunk_steps=1, chunk_traj=1000, **kw)]
    for r in runs:
        _same(ref, r)
        np.testing.assert_array_equal(ref.trace["work"], r.trace["work"])
    assert ref.seed == 123
    other = nq.simulate(well, proto, integ, n_traj=301, seed=124)
    assert not np.array_equal(other.work, ref.work)


@pytest.mark.parametrize("integ", [nq.EulerMaruyama(dt=0.01), nq.MALA(dt=0.1),
                                   nq.Langevin(dt=0.05, splitting="V R O R V"),
                                   nq.Langevin(dt=0.05, splitting="O V R V O"),
                                   nq.Langevin(dt=0.05, splitting="R V O V R"),
                                   nq.Langevin(dt=0.05, splitting="O { R V R } O"),
                                   nq.GHMC(dt=0.3), nq.VelocityVerlet(dt=0.05),
                                   nq.kernels.HMC(0.3, n_leapfrog=3),
                                   nq.kernels.MALA(0.4, n_moves=2)], ids=repr)
def test_lanes_per_block_change_no_bit(integ):
    """Inside a kernel, trajectories are processed in blocks of lanes; the block width
    (16, 64, the default) never changes a bit (2-D, traces with positions, 101
    trajectories: partial blocks)."""
    from neqsim.dynamics.base import KernelState, TraceBuffers
    trap2 = nq.systems.harmonic_trap(dim=2)
    proto = nq.protocols.linear([0.0, 0.0, 1.0], [1.0, -1.0, 3.0], 40)
    lam = proto.values.copy()
    n, n_rec = 101, 9
    x0 = _rng.normals(5, n, 2)
    v0 = _rng.normals(6, n, 2) if integ.has_velocities else None
    results = []
    for lanes in (None, 16, 64):
        state = KernelState.start(x0, trap2.evaluate(x0, lam[0])[0], _rng.make_states(77, n), v0)
        trace = TraceBuffers.empty(n, n_rec, 2)
        integ.stepper(trap2, lam, 1.0, 5, lanes=lanes)(state, 0, 40, trace)
        results.append((state, trace))
    ref_state, ref_trace = results[0]
    assert np.any(ref_state.work != 0)
    for state, trace in results[1:]:
        for key, value in ref_state.arrays().items():
            np.testing.assert_array_equal(getattr(state, key), value, err_msg=key)
        for a, b in zip(ref_trace, trace):
            np.testing.assert_array_equal(a, b)


def test_trajectory_depends_only_on_seed_and_index(trap):
    """Trajectory i of a 1000-trajectory run equals trajectory i of a 10-trajectory run."""
    proto = nq.protocols.linear([0.0, 1.0], [1.0, 2.0], 50)
    big = nq.simulate(trap, proto, nq.Langevin(dt=0.05), n_traj=1000, seed=9)
    small = nq.simulate(trap, proto, nq.Langevin(dt=0.05), n_traj=10, seed=9)
    np.testing.assert_array_equal(big.work[:10], small.work)


def test_seed_none_is_recorded(trap):
    proto = nq.protocols.linear([0.0, 1.0], [1.0, 1.0], 5)
    r = nq.simulate(trap, proto, nq.EulerMaruyama(dt=0.01), n_traj=20)
    again = nq.simulate(trap, proto, nq.EulerMaruyama(dt=0.01), n_traj=20, seed=r.seed)
    np.testing.assert_array_equal(r.work, again.work)


def test_normal_generator_distribution():
    """Ziggurat normals: KS over 2e6 draws, moments, tail mass beyond the base strip."""
    from scipy import stats
    z = _rng.normals(2024, 200, 10_000).ravel()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    n = z.size
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert abs(np.mean(z ** 4) - 3) < 4 * np.sqrt(96 / n)
    p_tail = 2 * stats.norm.sf(_rng._ZR)
    k = np.count_nonzero(np.abs(z) > _rng._ZR)
    assert abs(k - n * p_tail) < 4 * np.sqrt(n * p_tail)
    u = _rng.uniforms(7, 100, 10_000).ravel()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert u.min() >= 0.0 and u.max() < 1.0


def test_streams_distinct_and_offsettable():
    a = _rng.make_states(5, 1000)
    assert len({tuple(r) for r in a}) == 1000
    np.testing.assert_array_equal(_rng.make_states(5, 10, first=990), a[990:])
    assert not np.array_equal(_rng.make_states(6, 10), a[:10])
    with pytest.raises(ValueError, match="seed"):
        _rng.make_states(-1, 3)
