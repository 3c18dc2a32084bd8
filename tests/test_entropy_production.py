"""Entropy production with arbitrary end densities: the breathing-trap quench, whose every
term is a closed-form Gaussian, the kNN entropy's error bars over seeded replicates, and
the generalized Landauer bound of an asymmetric double-well memory."""
import math

import numpy as np
import pytest

import neqsim as nq
from neqsim.exact import breathing_quench
from neqsim.analysis import (
    entropy_production,
    kl_to_equilibrium,
    knn_entropy,
    local_free_energies,
    memory_bound,
    memory_free_energy,
)

K0, K1, N_STEPS, DT, GAMMA = 1.0, 4.0, 40, 0.005, 1.0


def quench_protocol():
    """Breathing trap U = k/2 x^2 (controls (centre, k)): k jumps 1 -> 4 at the first step,
    then 40 Euler-Maruyama steps of relaxation, far from the new equilibrium."""
    return np.column_stack([np.zeros(N_STEPS + 1), np.r_[K0, np.full(N_STEPS, K1)]])


def quench_exact(m0, var0):
    t = breathing_quench(K0, K1, N_STEPS, DT, GAMMA, m0, var0)
    return {"heat": t.heat_term, "s0": t.s_start, "sn": t.s_end,
            "sigma": t.entropy_production, "kl0": t.kl_start, "kln": t.kl_end,
            "work": t.work_term}


def _terms(ep):
    return {"heat": ep.heat_term, "s0": ep.s_start, "sn": ep.s_end,
            "sigma": ep.entropy_production, "kl0": ep.kl_start, "kln": ep.kl_end,
            "work": ep.work_term}


@pytest.mark.parametrize("start", ["equilibrium", "gaussian"])
def test_breathing_trap_quench_every_term_matches_its_closed_form(start):
    trap = nq.systems.harmonic_trap()
    init = "equilibrium" if start == "equilibrium" else nq.StartDensity.gaussian(0.7, 0.5)
    run = nq.simulate(trap, quench_protocol(), nq.EulerMaruyama(dt=DT, gamma=GAMMA),
                      100_000, seed=3, init=init, progress=False)
    ep = entropy_production(run, start=None if start == "equilibrium" else init)
    exact = quench_exact(0.0, 1.0) if start == "equilibrium" else quench_exact(0.7, 0.25)
    for name, term in _terms(ep).items():
        if term.exact or term.std_error == 0:
            assert term.value == pytest.approx(exact[name], abs=1e-12), name
        else:
            assert abs(term.value - exact[name]) < 4 * term.std_error, \
                (name, term.value, exact[name], term.std_error)
    # the decomposition is the first law: beta <W> - beta dF_neq = dSigma
    assert abs(ep.identity_residual) < 1e-10
    assert ep.second_law.holds and ep.entropy_production.value > 10 * ep.second_law.std_error
    # the end density is measurably out of equilibrium, and KL sees it
    assert ep.kl_end.value > 10 * ep.kl_end.std_error
    assert "dSigma" in ep.table()


def test_a_start_density_is_reproducible_and_recorded(tmp_path):
    trap = nq.systems.harmonic_trap()
    init = nq.StartDensity.gaussian(0.7, 0.5)
    em = nq.EulerMaruyama(dt=DT, gamma=GAMMA)
    a = nq.simulate(trap, quench_protocol(), em, 3000, seed=11, init=init, progress=False,
                    n_threads=1)
    b = nq.simulate(trap, quench_protocol(), em, 3000, seed=11, init=init, progress=False,
                    n_threads=2, out=tmp_path / "r.h5")
    assert np.array_equal(a.x0, b.x0) and np.array_equal(a.work, b.work)
    back = nq.open_run(tmp_path / "r.h5")
    assert back.init["source"] == "density" and back.init["name"].startswith("gaussian")
    assert np.array_equal(back.x0, a.x0)
    # independent draws: the trajectory order carries no time
    assert not nq.analysis.starts_ordered(back)
    other = nq.simulate(trap, quench_protocol(), em, 3000, seed=12, init=init,
                        progress=False)
    assert not np.array_equal(other.x0, a.x0)
    with pytest.raises(ValueError, match=r"must return an \(3000, 1\) array"):
        nq.simulate(trap, quench_protocol(), em, 3000, seed=1, progress=False,
                    init=nq.StartDensity(lambda rng, n: rng.normal(size=(n, 2))))
    with pytest.raises(ValueError, match="std > 0"):
        nq.StartDensity.gaussian(0.0, -1.0)


@pytest.mark.parametrize("dim", [1, 2])
def test_knn_entropy_error_bars_cover(dim):
    """Over 200 seeded replicates of n = 2000 draws from a skewed density (a Gamma(3)
    variable, exact entropy known; in 2-D with an independent Gaussian), the z-scores of
    the kNN estimate have mean ~0 and spread ~1."""
    from scipy.special import digamma, gammaln
    shape = 3.0
    exact = shape + gammaln(shape) + (1 - shape) * digamma(shape)   # Gamma(3, 1)
    if dim == 2:
        exact += 0.5 * math.log(2 * math.pi * math.e * 0.25)
    rng = np.random.default_rng(2026)
    z = []
    for _ in range(200):
        x = rng.gamma(shape, size=(2000, 1))
        if dim == 2:
            x = np.hstack([x, 0.5 * rng.standard_normal((2000, 1))])
        s = knn_entropy(x)
        z.append((s.value - exact) / s.std_error)
    z = np.array(z)
    # 200 replicates: the mean of z has sd 0.07, its spread a relative sd of 0.05
    assert abs(z.mean()) < 0.35, z.mean()
    assert 0.85 < z.std() < 1.15, z.std()
    assert np.mean(np.abs(z) < 2) > 0.9


def test_kl_to_equilibrium():
    trap = nq.systems.harmonic_trap()
    rng = np.random.default_rng(5)
    lam = np.array([0.0, 2.0])
    eq = rng.standard_normal((20_000, 1)) / math.sqrt(2.0)
    r = kl_to_equilibrium(eq, trap, lam)
    assert abs(r.value) < 4 * r.std_error
    off = 0.3 + 0.9 * eq                       # N(0.3, 0.81 / 2)
    r = kl_to_equilibrium(off, trap, lam)
    v, e = 0.81 / 2, 0.5
    exact = 0.5 * ((v + 0.09) / e - 1 - math.log(v / e))
    assert abs(r.value - exact) < 4 * r.std_error and r.value > 10 * r.std_error
    with pytest.raises(ValueError, match="duplicate points"):
        knn_entropy(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="up to d = 3"):
        knn_entropy(rng.standard_normal((100, 4)))


# ------------------------------------------------------------ asymmetric memory

A, F0, F_MAX = 6.0, 0.5, 3.0   # barrier about a^2/4 = 9 kT, memory tilted by f0


def test_local_free_energies_of_an_asymmetric_memory():
    well = nq.systems.double_well()
    lam = np.array([A, F0])
    f = local_free_energies(well, lam, [0.0])
    # the wells' Boltzmann weights add up to the whole partition function
    total = -math.log(np.exp(-f).sum())
    assert total == pytest.approx(well.free_energy(lam, 1.0), abs=1e-9)
    # the tilt f0 > 0 favours the right well by about 2 f0 sqrt(a/2) kT
    assert f[0] - f[1] == pytest.approx(2 * F0 * math.sqrt(A / 2), rel=0.05)
    p_eq = np.exp(-(f - total))
    assert memory_free_energy(p_eq, f) == pytest.approx(total, abs=1e-12)
    # any other occupation costs more: F_neq = F + kT KL(p || p_eq)
    p = np.array([0.5, 0.5])
    kl = float(np.sum(p * np.log(p / p_eq)))
    assert memory_free_energy(p, f) == pytest.approx(total + kl, abs=1e-12)


def _erasure(tau, n=20_000):
    well = nq.systems.double_well()
    knots = [(A, F0), (0.0, F0), (0.0, F_MAX), (A, F_MAX), (A, F0)]
    dt = 2e-3
    f = local_free_energies(well, [A, F0], [0.0])
    proto = nq.protocols.piecewise(knots, int(round(tau / dt)))
    run = nq.simulate(well, proto, nq.MALA(dt=dt), n, seed=77, progress=False)
    states = (run.x[:, 0] > 0.0).astype(np.int64)
    return memory_bound(run, states, f, f), states.mean()


def test_asymmetric_erasure_bound_quick():
    """The bound at a fast (partial) and a slower (nearly complete) erasure."""
    for tau in (1.0, 8.0):
        check, p_n = _erasure(tau, 10_000)
        assert check.holds, str(check)
        assert abs(check.bound - nq.analysis.erasure_bound(p_n)) > 0.1
        assert check.value - check.bound > 10 * check.std_error   # finite time dissipates


@pytest.mark.slow
def test_asymmetric_erasure_obeys_its_generalized_landauer_bound():
    """Erasure into the right well of a tilted (asymmetric) memory, cycle back to the
    tilted start: <W> >= F_neq(p_N) - F(lam_0) with unequal local free energies. The
    symmetric formula kT (ln 2 - H(p)) is a different number here; the fast cycle erases
    only partly (p_N < 1) and the bound uses the p_N it reached. Slow cycles approach the
    bound as 1/tau (linear response: tau (<W> - bound) tends to a constant, the
    protocol's thermodynamic cost; measured 13.6 at tau = 16 and 15.3 at tau = 64)."""
    gaps = {}
    for tau in (1.0, 16.0, 64.0):
        check, p_n = _erasure(tau)
        assert check.holds, str(check)
        assert abs(check.bound - nq.analysis.erasure_bound(p_n)) > 0.1  # asymmetry matters
        gaps[tau] = (check.value - check.bound, check.std_error, p_n)
    assert gaps[1.0][2] < 0.95 and gaps[64.0][2] > 0.999      # partial, then complete
    g16, g64 = gaps[16.0][0] * 16, gaps[64.0][0] * 64
    se = math.hypot(16 * gaps[16.0][1], 64 * gaps[64.0][1])
    # 1/tau scaling: the scaled gaps agree to within their errors plus a 20% drift
    assert g16 > 0 and abs(g64 - g16) < 0.2 * g64 + 4 * se
    assert gaps[1.0][0] > 4 * gaps[16.0][0]
