"""Numbers and files of neqsim 0.1.0, reproduced bit for bit (tests/fixtures/).

Every integrator family, initial-state method and AIS kernel was run by 0.1.0 and its
outputs pinned (fixtures/cases.py says what, fixtures/make_fixtures.py how). This version
must give the same bits with 1 and 2 threads and with two block sizes; the run files
that 0.1.0 wrote must open, and its interrupted ones resume to its complete ones.
"""
import os
import shutil
import sys

import numba
import numpy as np
import pytest

import neqsim as nq

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
sys.path.insert(0, HERE)

from cases import CASES  # noqa: E402
from legacy import _spec, ais_problem  # noqa: E402

PINNED = np.load(os.path.join(HERE, "bitid_v0_1_0.npz"))


def _pinned(name):
    return {k.split("/", 1)[1]: PINNED[k] for k in PINNED.files if k.startswith(name + "/")}


def _assert_same(got, want, what):
    assert sorted(got) == sorted(want), f"{what}: fields {sorted(got)} != {sorted(want)}"
    for key, value in want.items():
        g = got[key]
        assert g.shape == value.shape and g.dtype == value.dtype, f"{what}: {key}"
        assert np.array_equal(g, value, equal_nan=True), (
            f"{what}: {key} differs (max |diff| "
            f"{np.nanmax(np.abs(g.astype(float) - value.astype(float))):.3g})")


EXECUTIONS = [dict(n_threads=1), dict(n_threads=2, chunk_traj=37),
              dict(n_threads=2, chunk_traj=64, chunk_steps=9)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bit_identical_to_0_1_0(name):
    want = _pinned(name)
    for ex in EXECUTIONS:
        if ex["n_threads"] > numba.config.NUMBA_NUM_THREADS:
            continue
        _assert_same(CASES[name](**ex), want, f"{name} {ex}")


def test_a_changed_number_is_caught():
    """The comparison can fail: one flipped bit in one trajectory's work is reported."""
    want = _pinned("em_trap1")
    got = {k: v.copy() for k, v in want.items()}
    got["work"][17] = np.nextafter(got["work"][17], np.inf)
    with pytest.raises(AssertionError, match="work differs"):
        _assert_same(got, want, "planted")


def _fields(run):
    out = {}
    for key in ("work", "heat", "shadow_work", "path_work", "initial_energy",
                "final_energy", "x0", "x", "v0", "v", "acceptance", "failed"):
        value = getattr(run, key)
        if value is not None:
            out[key] = np.asarray(value)
    if run.trace is not None:
        for key in run.trace.keys():
            out["trace_" + key] = np.asarray(run.trace[key])
    return out


@pytest.mark.parametrize("case", ["obabo", "spinflip", "user_mala"])
def test_legacy_file_opens_and_resumes_bit_identically(tmp_path, case):
    complete = nq.open_run(os.path.join(HERE, f"legacy_complete_{case}.h5"),
                           **({"system": _spec(case)[0]} if case == "user_mala" else {}))
    assert complete.complete and complete.n_traj == 300
    path = tmp_path / "interrupted.h5"
    shutil.copy(os.path.join(HERE, f"legacy_interrupted_{case}.h5"), path)
    system = _spec(case)[0] if case == "user_mala" else None
    part = nq.open_run(path, system=system)
    assert not part.complete and part.n_traj == 100
    np.testing.assert_array_equal(part.work, complete.work[:100])
    resumed = nq.resume(path, system=system, progress=False)
    want = _fields(complete)
    _assert_same(_fields(resumed), want, f"resumed {case}")
    # and the same run from scratch with this version
    system, proto, integ, kw = _spec(case)
    fresh = nq.simulate(system, proto, integ, progress=False, **kw)
    _assert_same(_fields(fresh), want, f"fresh {case}")


def test_legacy_ais_file_opens_with_the_same_numbers():
    back = nq.open_run(os.path.join(HERE, "legacy_ais_mala.h5"))
    assert back.complete and back.integrator == nq.kernels.MALA(0.3)
    res = nq.ais(**ais_problem())
    np.testing.assert_array_equal(-back.path_work, res.log_weights)
    np.testing.assert_array_equal(back.x, res.run.x)
    np.testing.assert_array_equal(back.acceptance, res.run.acceptance)
