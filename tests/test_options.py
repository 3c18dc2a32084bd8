"""Option objects (Record, Execution) and the flat keywords of 0.1.0 give the same run;
wrong keywords get one clear error with the closest name."""
import numpy as np
import pytest

import neqsim as nq


def test_option_objects_equal_flat_keywords(trap):
    proto = nq.protocols.linear([0.0, 1.0], [1.0, 2.0], 30)
    integ = nq.Langevin(dt=0.05)
    flat = nq.simulate(trap, proto, integ, 200, seed=4, record_every=5,
                       record_positions=True, n_threads=1, chunk_traj=64, chunk_steps=7)
    grouped = nq.simulate(trap, proto, integ, 200, seed=4,
                          record=nq.Record(every=5, positions=True),
                          execution=nq.Execution(n_threads=1, chunk_traj=64, chunk_steps=7))
    for key in ("work", "heat", "shadow_work", "path_work", "x", "v"):
        np.testing.assert_array_equal(getattr(flat, key), getattr(grouped, key), err_msg=key)
    np.testing.assert_array_equal(flat.trace["x"], grouped.trace["x"])
    mixed = nq.simulate(trap, proto, integ, 200, seed=4, record=nq.Record(every=5),
                        execution=nq.Execution(chunk_traj=64), n_threads=1)
    np.testing.assert_array_equal(mixed.work, flat.work)


def test_wrong_keywords_name_the_closest(trap):
    proto = nq.protocols.linear([0.0, 1.0], [1.0, 2.0], 3)
    integ = nq.EulerMaruyama(dt=0.01)
    with pytest.raises(TypeError, match="did you mean 'record_every'"):
        nq.simulate(trap, proto, integ, 10, seed=1, record_evry=2)
    with pytest.raises(TypeError, match="did you mean 'n_threads'"):
        nq.simulate(trap, proto, integ, 10, seed=1, nthreads=2)
    with pytest.raises(TypeError, match="both"):
        nq.simulate(trap, proto, integ, 10, seed=1, record=nq.Record(every=1),
                    record_every=2)
    with pytest.raises(TypeError, match="both in execution= and as a keyword"):
        nq.simulate(trap, proto, integ, 10, seed=1, execution=nq.Execution(n_threads=1),
                    n_threads=2)
    with pytest.raises(TypeError, match="nq.Record"):
        nq.simulate(trap, proto, integ, 10, seed=1, record=5)
    with pytest.raises(TypeError, match="did you mean 'chunk_traj'"):
        nq.resume("nowhere.h5", chunk_trajs=3)
