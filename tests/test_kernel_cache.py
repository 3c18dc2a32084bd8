"""Specialized kernels: compiled once per potential and cached on disk under a key of
everything they depend on; a second process loads them; a change to the potential (its
code, a closure value, a helper it calls) gets a new key; the hot loops vectorize."""
import platform
import re
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import neqsim as nq
from neqsim._numba.specialize import function_key, inline_copy

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, neqsim as nq
    from userpot import energy, gradient
    s = nq.from_functions(energy, gradient)
    r = nq.simulate(s, nq.protocols.linear([0.0], [1.0], 20), nq.EulerMaruyama(dt=1e-3),
                    n_traj=50, seed=0)
    print(json.dumps(dict(r.info["kernel"], work=float(r.work.sum()))))
""")


def _run(tmp_path, coef, scale=1.0):
    (tmp_path / "userpot.py").write_text(textwrap.dedent(f"""
        import numba
        @numba.njit
        def helper(x):
            return {scale} * x[0]
        def energy(x, lam):
            return {coef} * lam[0] * helper(x) + 0.5 * x[0] * x[0]
        def gradient(x, lam, out):
            out[0] = {coef} * lam[0] * {scale} + x[0]  # consistent: the gradient is checked
    """))
    (tmp_path / "run.py").write_text(SCRIPT)
    env = dict(__import__("os").environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    import json
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_second_process_loads_from_disk_and_edits_get_new_keys(tmp_path):
    first, err = _run(tmp_path, 1.0)
    assert not first["from_cache"] and "compiling kernels for energy/EulerMaruyama" in err
    again, err = _run(tmp_path, 1.0)
    assert again["from_cache"] and again["key"] == first["key"]
    assert "compiling" not in err
    assert again["work"] == first["work"]
    edited, _ = _run(tmp_path, 3.0)                   # a constant in the potential
    assert edited["key"] != first["key"] and not edited["from_cache"]
    assert edited["work"] != first["work"]
    helper, _ = _run(tmp_path, 1.0, scale=2.0)        # a function it calls
    assert helper["key"] not in (first["key"], edited["key"])
    assert helper["work"] != first["work"]


def test_function_key_sees_closures_globals_and_helpers():
    def make(a):
        def f(x, lam, out):
            out[0] = a
            return a * x[0]
        return f
    assert function_key(make(1.0)) == function_key(make(1.0))
    assert function_key(make(1.0)) != function_key(make(2.0))
    arr = np.arange(3.0)

    def g(x, lam, out):
        return arr[0] * x[0]
    k = function_key(g)
    arr[0] = 5.0  # a global array's values are part of the key
    assert function_key(g) != k

    class Opaque:
        pass
    thing = Opaque()

    def h(x, lam, out):
        return thing
    assert function_key(h) is None  # cannot be keyed: compiled per process, never cached


def test_unkeyable_potential_still_runs_and_is_not_cached(monkeypatch):
    """A potential whose dependencies cannot be keyed is compiled per process (never
    written to the disk cache, so never stale), and runs."""
    from neqsim._numba import specialize

    def eg(x, lam, out):
        out[0] = 2.0 * (x[0] - lam[0])
        return (x[0] - lam[0]) ** 2
    system = nq.from_functions(None, None, energy_grad=eg, dim=1, n_controls=1)
    real = specialize.function_key
    monkeypatch.setattr(specialize, "function_key",
                        lambda fn: None if fn is system.potential else real(fn))
    run = nq.simulate(system, nq.protocols.linear([0.0], [1.0], 10), nq.MALA(dt=0.1), 20,
                      seed=1, progress=False)
    assert np.all(np.isfinite(run.work))
    assert run.info["kernel"]["key"] is None and not run.info["kernel"]["from_cache"]


def test_enum_constants_are_keyed_by_value():
    import enum

    class Mode(enum.IntEnum):
        A = 2

    def f(x, lam, out):
        return Mode.A * x[0]
    k = function_key(f)

    class Mode(enum.IntEnum):  # noqa: F811 - the same name, another value
        A = 3

    def f(x, lam, out):  # noqa: F811
        return Mode.A * x[0]
    assert function_key(f) != k


def test_recursive_helpers_fall_back_to_a_call():
    @numba.njit
    def fact(n):
        return 1.0 if n <= 1 else n * fact(n - 1)

    def eg(x, lam, out):
        out[0] = fact(3) * x[0]
        return 0.5 * fact(3) * x[0] * x[0]
    assert inline_copy(eg) is eg  # numba cannot inline a recursive function
    system = nq.from_functions(None, None, energy_grad=eg)
    run = nq.simulate(system, nq.protocols.linear([0.0], [1.0], 5), nq.EulerMaruyama(dt=0.01),
                      10, seed=1, init=np.zeros((10, 1)), progress=False)
    assert np.all(np.isfinite(run.work))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 assembly")
@pytest.mark.parametrize("make", [
    lambda: (nq.systems.harmonic_trap(), nq.EulerMaruyama(dt=1e-3)),
    lambda: (nq.systems.double_well(), nq.Langevin(dt=0.01)),
    lambda: (nq.systems.harmonic_trap(dim=10), nq.kernels.RandomWalk(0.3)),
], ids=["W1-EM", "W2-BAOAB", "RWM-d10"])
def test_the_step_loops_vectorize(make):
    """Packed double-precision arithmetic in the compiled kernel: the loop over the lanes
    of a block was vectorized (a regression guard; speed itself is in benchmarks/)."""
    from neqsim._numba.specialize import SpecializedKernel
    from neqsim.dynamics.base import KernelState, TraceBuffers, lanes_stepper
    system, integ = make()
    cached, lanes = integ.kernel(system)[:2]
    kern = SpecializedKernel(cached.spec, cache=False)  # compiled here: its assembly
    lam = np.zeros((4, system.n_controls))
    n, d = 64, system.dim
    params = {"EulerMaruyama": lambda: (1.0, 1e-3, 1.0),
              "Langevin": lambda: (*integ.coefficients(1.0), 1.0, 1.0),
              "RandomWalk": lambda: (np.full(4, 0.3), np.int64(0), np.int64(1), 1.0),
              }[type(integ).__name__]()
    state = KernelState.start(np.zeros((n, d)), np.zeros(n), nq._numba.rng.make_states(1, n),
                              np.zeros((n, d)) if integ.has_velocities else None)
    lanes_stepper(kern, lam, params, 0, lanes)(state, 0, 3, TraceBuffers.empty(n, 0, 0))
    asm = "\n".join(kern.dispatcher.inspect_asm().values())
    packed = re.findall(r"\bv?(mul|add|sub)pd\b", asm)
    assert len(packed) >= 8, "no packed arithmetic: the lane loop was not vectorized"
