import numpy as np
import pytest

import neqsim as nq
from neqsim import protocols as P


def test_linear_and_reversed():
    p = P.linear([0.0, 1.0], [5.0, 3.0], 4)
    assert p.values.shape == (5, 2) and p.n_steps == 4 and p.n_controls == 2
    np.testing.assert_allclose(p.values[:, 0], [0, 1.25, 2.5, 3.75, 5])
    r = p.reversed()
    np.testing.assert_array_equal(r.values, p.values[::-1])
    assert r.reversed() == p
    with pytest.raises(ValueError):
        p.values[0, 0] = 1.0  # immutable


def test_piecewise_with_jump_and_knot_times():
    p = P.piecewise([[0.0], [1.0], [1.0], [3.0]], 10, times=[0.0, 0.5, 0.5, 1.0])
    v = p.values[:, 0]
    np.testing.assert_allclose(v[:6], [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(v[6:], [1.4, 1.8, 2.2, 2.6, 3.0])
    j = P.piecewise([[0.0], [0.0], [2.0], [2.0]], 4, times=[0.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(j.values[:, 0], [0, 0, 2, 2, 2])  # instantaneous jump
    with pytest.raises(ValueError, match="knot times"):
        P.piecewise([[0.0], [1.0]], 4, times=[0.0, 0.9])


def test_callable_hold_jump_concatenate():
    f = P.from_callable(lambda t: [np.sin(t), 2.0], 8)
    np.testing.assert_allclose(f.values[:, 0], np.sin(np.linspace(0, 1, 9)))
    h = P.hold([1.0, 2.0], 3)
    assert h.n_steps == 3 and np.all(h.values == [1.0, 2.0])
    j = P.jump([0.0], [4.0])
    assert j.n_steps == 1
    c = P.concatenate(P.linear([0.0], [1.0], 2), P.linear([1.0], [0.0], 2))
    np.testing.assert_allclose(c.values[:, 0], [0, 0.5, 1, 0.5, 0])  # shared end kept once
    c2 = P.linear([0.0], [1.0], 2) + P.hold([3.0], 2)
    np.testing.assert_allclose(c2.values[:, 0], [0, 0.5, 1, 3, 3, 3])  # jump 1 -> 3 is a step
    with pytest.raises(ValueError, match="controls"):
        P.concatenate(P.hold([1.0], 2), P.hold([1.0, 2.0], 2))


def test_array_protocol_accepted(trap):
    arr = np.column_stack([np.linspace(0, 1, 11), np.ones(11)])
    run = nq.simulate(trap, arr, nq.EulerMaruyama(dt=0.01), n_traj=10, seed=1)
    assert run.protocol.n_steps == 10


def test_crooks_pair_is_the_exact_time_reversal_for_unadjusted_kernels():
    """OBABO at a large step in the breathing trap: BAR between the plain reversed protocols
    is biased (the reverse kernels run at lam_{N-1}..lam_0), the crooks_pair is exact."""
    import math
    import warnings

    trap = nq.systems.harmonic_trap()
    p = nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 20)
    integ = nq.Langevin(dt=0.5, splitting="O V R V O")
    exact = 0.5 * math.log(4.0)
    n = 200_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f, r = nq.protocols.crooks_pair(p)
        assert nq.protocols.is_reverse_of(f, r) and nq.protocols.is_reverse_of(p, p.reversed())
        good = nq.analysis.bar(nq.simulate(trap, f, integ, n, seed=1),
                               nq.simulate(trap, r, integ, n, seed=2), n_bootstrap=0)
        bad = nq.analysis.bar(nq.simulate(trap, p, integ, n, seed=1),
                              nq.simulate(trap, p.reversed(), integ, n, seed=2), n_bootstrap=0)
    assert abs(good.value - exact) < 4 * good.std_error
    assert abs(bad.value - exact) > 4 * bad.std_error  # the bias the pair removes
