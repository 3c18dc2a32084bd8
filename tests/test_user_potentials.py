"""User potentials: the documented calling conventions, and edits between runs are seen
(numba's cache must never serve stale physics, numba issue 8396)."""
import math
import subprocess
import sys
import textwrap

import numba
import numpy as np

import neqsim as nq
from conftest import assert_within, jarzynski


def test_from_functions_plain_and_jitted_two_controls():
    @numba.njit
    def energy(x, lam):
        return 0.5 * lam[1] * (x[0] - lam[0]) ** 2

    @numba.njit
    def gradient(x, lam, out):
        out[0] = lam[1] * (x[0] - lam[0])

    mine = nq.from_functions(energy, gradient, n_controls=2, dim=1)
    assert mine.name == "energy"
    proto = nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 10)
    run = nq.simulate(mine, proto, nq.Langevin(dt=0.05), n_traj=20_000, seed=1,
                      init=nq.Equilibrate(n_steps=200, dt=0.5))
    df, se = jarzynski(run.path_work)
    assert_within(df, se, 0.5 * math.log(4.0), what="dF")


def test_potential_decorator_matches_builtin(trap):
    @nq.potential(dim=1, n_controls=2)
    def my_trap(x, lam, out):
        d = x[0] - lam[0]
        out[0] = lam[1] * d
        return 0.5 * lam[1] * d * d

    proto = nq.protocols.linear([0.0, 1.0], [2.0, 3.0], 30)
    x0 = np.linspace(-1, 1, 50)[:, None]
    a = nq.simulate(my_trap, proto, nq.MALA(dt=0.1), n_traj=50, seed=3, init=x0)
    b = nq.simulate(trap, proto, nq.MALA(dt=0.1), n_traj=50, seed=3, init=x0)
    # same physics; the built-in groups 0.5 * k * (d * d), so equal to round-off only
    np.testing.assert_allclose(a.work, b.work, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(a.heat, b.heat, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(a.acceptance, b.acceptance)


SCRIPT = """
import numpy as np, neqsim as nq
from userpot import energy, gradient
s = nq.from_functions(energy, gradient)
r = nq.simulate(s, nq.protocols.linear([0.0], [1.0], 1), nq.EulerMaruyama(dt=1e-3),
                n_traj=1, seed=0, init=np.array([[2.0]]))
print(repr(float(r.work[0])))
"""


def test_editing_a_user_potential_changes_the_physics(tmp_path):
    """Run, edit the potential's file, run again in a new process: new physics is used."""
    def write(coef):
        (tmp_path / "userpot.py").write_text(textwrap.dedent(f"""
            import numba
            @numba.njit(cache=True)
            def energy(x, lam):
                return {coef} * lam[0] * x[0]
            @numba.njit(cache=True)
            def gradient(x, lam, out):
                out[0] = {coef} * lam[0]
        """))
        (tmp_path / "run.py").write_text(SCRIPT)
        out = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return float(out.stdout.strip().splitlines()[-1])

    # W = U(x0, lam=1) - U(x0, lam=0) = coef * 2
    assert write(1.0) == 2.0
    assert write(3.0) == 6.0
    assert write(1.0) == 2.0
