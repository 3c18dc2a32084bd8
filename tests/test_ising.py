"""Ising lattices (neqsim.ising): exact invariance, bookkeeping, free energies and the
fluctuation theorems against exact dF, reproducibility and errors.

Statistical tolerances are 4 standard errors (chi-square tests: p > 1e-4); every test
is seeded. Exact answers come from enumeration done here with numpy (independent of
the package), the transfer matrix and Kaufman's formula.
"""
import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import neqsim as nq
from neqsim._numba import rng as _rng
from neqsim.dynamics import Integrator
from neqsim.ising import SpinFlip, chain_log_z, enumerate_log_z, ising, neighbor_table
from neqsim.systems.ising_kernel import ising_energy

RULES = ["metropolis", "glauber"]


# --- helpers: enumeration with numpy ------------------------------------------------------

def all_states(n_sites):
    """All 2^n configurations as +-1 floats; row c has s_k = +1 where bit k of c is 0."""
    codes = np.arange(2 ** n_sites)
    return 1.0 - 2.0 * ((codes[:, None] >> np.arange(n_sites)) & 1)


def codes_of(x):
    return ((1.0 - x) / 2.0).astype(np.int64) @ (1 << np.arange(x.shape[1]))


def bond_energy(x, shape, lam, periodic=True):
    """U = -J sum_bonds s_i s_j - h sum_i s_i written out directly from the lattice."""
    J, h = lam
    if len(shape) == 1:
        s = x.reshape(-1, 1, shape[0])
    else:
        s = x.reshape(-1, *shape)
    B = np.zeros(x.shape[0])
    for axis in range(1, s.ndim):
        if s.shape[axis] == 1:
            continue
        if periodic:
            B += np.sum(s * np.roll(s, -1, axis=axis), axis=tuple(range(1, s.ndim)))
        else:
            a = np.take(s, np.arange(s.shape[axis] - 1), axis=axis)
            b = np.take(s, np.arange(1, s.shape[axis]), axis=axis)
            B += np.sum(a * b, axis=tuple(range(1, s.ndim)))
    return -J * B - h * x.sum(axis=1)


def boltzmann(system, lam, beta):
    """(states, exact probabilities, log Z) by enumeration."""
    states = all_states(system.dim)
    bu = -beta * bond_energy(states, system.shape, lam, system.periodic)
    log_z = logsumexp(bu)
    return states, np.exp(bu - log_z), log_z


def exact_draws(system, lam, beta, n, seed):
    states, p, _ = boltzmann(system, lam, beta)
    idx = np.random.default_rng(seed).choice(states.shape[0], size=n, p=p)
    return states[idx].copy()


def chi_square_p(counts, p, min_expected=5.0):
    """Pearson chi-square p-value, states with expected count < min_expected pooled."""
    n = counts.sum()
    e = n * p
    small = e < min_expected
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(e[~small], e[small].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    chi2 = np.sum((obs - exp) ** 2 / exp)
    return float(stats.chi2.sf(chi2, obs.size - 1))


@pytest.fixture(scope="module")
def lat23():
    return ising((2, 3))


@pytest.fixture(scope="module")
def lat44():
    return ising((4, 4))


@pytest.fixture(scope="module")
def chain12():
    return ising((12,))


# --- geometry and energy -----------------------------------------------------------------

@pytest.mark.parametrize("shape,periodic", [((5,), True), ((5,), False), ((2,), True),
                                            ((2, 3), True), ((3, 4), False), ((4, 4), True),
                                            ((2, 2), True)])
def test_energy_matches_bond_sum(shape, periodic):
    system = ising(shape, periodic=periodic)
    rng = np.random.default_rng(3)
    x = np.where(rng.random((50, system.dim)) < 0.5, 1.0, -1.0)
    for lam in [(0.7, -0.3), (-1.1, 0.25), (0.0, 2.0)]:
        ref = bond_energy(x, shape, lam, periodic)
        np.testing.assert_allclose(system.energy(x, lam), ref, rtol=0, atol=1e-12)
        lam_a = np.array(lam, dtype=float)
        via_table = [ising_energy(xi, lam_a, system.neighbors) for xi in x]
        np.testing.assert_array_equal(via_table, system.energy(x, lam))
    assert np.all(system.gradient(x, (0.7, -0.3)) == 0.0)


def test_neighbor_table():
    nbr = neighbor_table((3, 4))
    assert nbr.shape == (12, 4)
    assert list(nbr[0]) == [1, 3, 4, 8]           # right, left, down, up (row-major sites)
    assert list(neighbor_table((2,))[0]) == [1, 1]  # two bonds on a periodic pair
    assert list(neighbor_table((4,), periodic=False)[0]) == [1, -1]
    open23 = neighbor_table((2, 3), periodic=False)
    assert list(open23[0]) == [1, 3, -1, -1]
    s = ising((3, 5))
    assert s.dim == 15 and s.control_names == ("J", "h") and s.name == "ising"
    assert s.factory == "ising" and s.params["shape"] == [3, 5]


# --- exact free energies -------------------------------------------------------------------

@pytest.mark.parametrize("shape,periodic", [((2,), True), ((3,), True), ((7,), True),
                                            ((12,), True), ((9,), False), ((2, 3), True),
                                            ((3, 3), True), ((4, 4), True), ((2, 4), False)])
def test_free_energy_matches_enumeration(shape, periodic):
    system = ising(shape, periodic=periodic)
    for lam in [(0.3, 0.8), (-0.7, 0.2), (-0.5, 0.0), (0.44, 0.0), (1.2, -0.4), (0.0, 0.6)]:
        for beta in (0.7, 1.0):
            _, _, log_z = boltzmann(system, lam, beta)
            f = system.free_energy(lam, beta)
            assert f is not None, (shape, lam)
            assert abs(f - (-log_z / beta)) < 1e-10 * max(1.0, abs(log_z)), (shape, lam, beta)
            assert abs(enumerate_log_z(shape, beta * lam[0], beta * lam[1], periodic)
                       - log_z) < 1e-10 * max(1.0, abs(log_z))


def test_free_energy_closed_forms_and_none():
    big = ising((32, 32))
    for h in (0.0, 0.3, -5.0):
        expect = -1024 * math.log(2.0 * math.cosh(0.8 * h)) / 0.8
        assert abs(big.free_energy((0.0, h), 0.8) - expect) < 1e-9 * abs(expect)
    assert ising((5, 5)).free_energy((0.3, 0.1)) is None      # 2-D, h != 0, > 16 sites
    assert ising((4, 5), periodic=False).free_energy((0.3, 0.0)) is None
    # long chains: the closed form stays finite and extensive, any sign of J
    for J in (0.3, -0.3, 5.0, -5.0):
        lz = chain_log_z(100_001, J, 0.2)
        assert np.isfinite(lz)
        assert abs(lz / 100_001 - chain_log_z(200_001, J, 0.2) / 200_001) < 1e-9
    f = ising((16, 16)).free_energy((0.44, 0.0))  # Kaufman
    assert f is not None and np.isfinite(f)


# --- the kernel's semantics, bit for bit ------------------------------------------------------

def reference_run(system, lam, beta, rule, x0, seed):
    """Plain-Python single-spin-flip sweeps on the same streams (two draws per update:
    site by multiply-high on the top 32 bits, then v; flip when v < p)."""
    nbr = system.neighbors
    n, ns = x0.shape
    st = _rng.make_states(seed, n)
    x = x0.copy()
    W, Q, nacc = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    for c in range(n):
        u = bond_energy(x[c:c + 1], system.shape, lam[0], system.periodic)[0]
        for k in range(1, lam.shape[0]):
            un = bond_energy(x[c:c + 1], system.shape, lam[k], system.periodic)[0]
            W[c] += un - u
            J, h = lam[k]
            for _ in range(ns):
                i = ((int(_rng.next_u64(st, c)) >> 32) * ns) >> 32
                f = sum(x[c, j] for j in nbr[i] if j >= 0)
                de = 2.0 * x[c, i] * (J * f + h)
                v = (int(_rng.next_u64(st, c)) >> 11) * 2.0 ** -53
                if rule == "metropolis":
                    p = 1.0 if de <= 0 else math.exp(-beta * de)
                else:
                    p = 1.0 / (1.0 + math.exp(beta * de))
                if v < p:
                    x[c, i] = -x[c, i]
                    Q[c] += de
                    nacc[c] += 1
            u = bond_energy(x[c:c + 1], system.shape, lam[k], system.periodic)[0]
    return x, W, Q, nacc, st


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("shape,periodic", [((2, 3), True), ((5,), False)])
def test_kernel_matches_reference(rule, shape, periodic):
    system = ising(shape, periodic=periodic)
    proto = nq.protocols.piecewise([[0.2, -0.3], [0.9, 0.1], [0.5, 0.6]], 6, [0, 0.3, 1])
    n = 7
    x0 = np.where(np.random.default_rng(5).random((n, system.dim)) < 0.5, 1.0, -1.0)
    run = nq.simulate(system, proto, SpinFlip(rule), n, beta=0.8, seed=11, init=x0)
    x, W, Q, nacc, st = reference_run(system, proto.values, 0.8, rule, x0, 11)
    np.testing.assert_array_equal(run.x, x)
    np.testing.assert_array_equal(run.acceptance * proto.n_steps, nacc)
    np.testing.assert_allclose(run.work, W, rtol=0, atol=1e-12)
    np.testing.assert_allclose(run.heat, Q, rtol=0, atol=1e-12)
    # fixed consumption: two draws per update, whatever the spins did
    ref = _rng.make_states(11, n)
    _rng._fill_uniforms(ref, np.empty((n, 2 * system.dim * proto.n_steps)))
    np.testing.assert_array_equal(st, ref)


def test_acceptance_counts_flips_per_sweep():
    """At J = h = 0 every Metropolis proposal is accepted (dE = 0) and Glauber flips with
    probability 1/2: run.acceptance is the number of flips per sweep."""
    system = ising((4, 4))
    proto = nq.protocols.hold([0.0, 0.0], 10)
    run = nq.simulate(system, proto, SpinFlip("metropolis"), 64, seed=1)
    assert np.all(run.acceptance == system.dim)
    run = nq.simulate(system, proto, SpinFlip("glauber"), 2000, seed=1)
    m = run.acceptance.mean()
    se = run.acceptance.std(ddof=1) / math.sqrt(run.n_traj)
    assert abs(m - system.dim / 2) < 4 * se


# --- invariance of the exact Boltzmann distribution -----------------------------------------

@pytest.mark.parametrize("rule", RULES)
def test_boltzmann_invariance(lat23, rule):
    """2x3 torus (64 states) at (J, h) = (0.4, 0.15): chains started from exact draws of
    pi stay distributed as pi after 3 sweeps (chi-square), and visibly leave it when the
    kernel runs at the wrong temperature (the test can fail)."""
    lam, beta, n = (0.4, 0.15), 1.0, 20_000
    states, p, _ = boltzmann(lat23, lam, beta)
    x0 = exact_draws(lat23, lam, beta, n, seed=21)
    assert chi_square_p(np.bincount(codes_of(x0), minlength=64), p) > 1e-4
    proto = nq.protocols.hold(lam, 3)
    run = nq.simulate(lat23, proto, SpinFlip(rule), n, beta=beta, seed=22, init=x0)
    assert np.all(run.work == 0.0)
    p_ok = chi_square_p(np.bincount(codes_of(run.x), minlength=64), p)
    assert p_ok > 1e-4, f"{rule}: final states not Boltzmann (p = {p_ok:.2e})"
    bad = nq.simulate(lat23, proto, SpinFlip(rule), n, beta=0.6 * beta, seed=22, init=x0)
    p_bad = chi_square_p(np.bincount(codes_of(bad.x), minlength=64), p)
    assert p_bad < 1e-4, f"{rule}: wrong-temperature kernel not detected (p = {p_bad:.2e})"
    print(f"{rule}: invariance p = {p_ok:.3f}, wrong beta p = {p_bad:.2e}")


# --- bookkeeping -------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("shape", [(4, 4), (12,), (3, 4)])
def test_first_law_and_path_work(rule, shape):
    system = ising(shape, periodic=shape != (3, 4))
    proto = nq.protocols.piecewise([[0.0, 0.3], [0.6, -0.2], [0.2, 0.5]], 30, [0, 0.7, 1])
    run = nq.simulate(system, proto, SpinFlip(rule), 500, beta=1.3, seed=4, record_every=5,
                      record_positions=True)
    lhs = run.final_energy - run.initial_energy
    assert np.max(np.abs(lhs - run.work - run.heat)) < 1e-10
    np.testing.assert_array_equal(run.work, run.path_work)
    assert run.shadow_work is None  # no momenta, no shadow work
    # u is carried exactly: the final energy is U(x_N, lam_N) to the last bit
    np.testing.assert_array_equal(run.final_energy, system.energy(run.x, proto.end))
    np.testing.assert_array_equal(run.initial_energy, system.energy(run.x0, proto.start))
    assert np.all(np.abs(run.x) == 1.0)
    assert np.all(np.abs(run.work) > 0) and np.any(run.heat != 0)
    np.testing.assert_array_equal(run.trace["work"][:, -1], run.work)
    np.testing.assert_array_equal(run.trace["heat"][:, -1], run.heat)
    np.testing.assert_array_equal(run.trace["x"][:, -1], run.x)
    np.testing.assert_array_equal(run.trace["x"][:, 0], run.x0)
    assert np.array_equal(run.trace["time"], run.trace["step"] * 1.0)


# --- Jarzynski and BAR against exact dF ---------------------------------------------------------

def _check_estimates(fwd, rev, df_exact, what):
    jz = nq.analysis.jarzynski(fwd.work, 1.0, n_bootstrap=0, warn=False)
    z_j = (jz.value - df_exact) / jz.std_error
    br = nq.analysis.bar(fwd.work, rev.work, 1.0, n_bootstrap=0, warn=False)
    z_b = (br.value - df_exact) / br.std_error
    print(f"{what}: dF exact {df_exact:.5f}; Jarzynski {jz.value:.5f} +- {jz.std_error:.4f} "
          f"(z = {z_j:.2f}); BAR {br.value:.5f} +- {br.std_error:.4f} (z = {z_b:.2f}); "
          f"<W> - dF = {fwd.work.mean() - df_exact:.3f}")
    assert abs(z_j) < 4, f"{what}: Jarzynski z = {z_j:.2f}"
    assert abs(z_b) < 4, f"{what}: BAR z = {z_b:.2f}"
    assert jz.reliable and br.reliable, (jz.warnings, br.warnings)
    # power: the error bars are small next to the dissipation a sign error would expose
    assert jz.std_error < 0.05 and br.std_error < 0.05
    w_mean, w_se = fwd.work.mean(), fwd.work.std(ddof=1) / math.sqrt(fwd.n_traj)
    assert w_mean - df_exact > 10 * w_se, "protocol should be measurably dissipative"


@pytest.mark.parametrize("rule", RULES)
def test_chain_field_and_coupling_ramp(chain12, rule):
    """12-site periodic chain, (J, h): (0, 0.2) -> (0.3, 0.2) -> (0.3, 0.8) (coupling
    first, then the field; asymmetric in time). Forward starts from the exact independent-
    spin sampler, reverse from exact enumeration draws; dF from the transfer matrix."""
    lam0, lam1 = (0.0, 0.2), (0.3, 0.8)
    proto = nq.protocols.piecewise([lam0, [0.3, 0.2], lam1], 16, [0, 0.4, 1])
    n = 20_000
    df = chain12.free_energy(lam1) - chain12.free_energy(lam0)
    _, _, lz0 = boltzmann(chain12, lam0, 1.0)
    _, _, lz1 = boltzmann(chain12, lam1, 1.0)
    assert abs(df - (lz0 - lz1)) < 1e-11
    fwd = nq.simulate(chain12, proto, SpinFlip(rule), n, seed=31)
    assert fwd.info["init_method"] == "exact_custom"
    x1 = exact_draws(chain12, lam1, 1.0, n, seed=32)
    rev = nq.simulate(chain12, proto.reversed(), SpinFlip(rule), n, seed=33, init=x1)
    _check_estimates(fwd, rev, df, f"chain 12 {rule}")


@pytest.mark.parametrize("rule", RULES)
def test_lattice_coupling_ramp(lat44, rule):
    """4x4 torus, J: 0 -> 0.44 (about the critical coupling) at h = 0 over 20 sweeps, with
    a nonlinear schedule (J = 0.44 t^2); dF from Kaufman / enumeration."""
    n_steps = 20
    t = np.arange(n_steps + 1) / n_steps
    proto = nq.Protocol(np.stack([0.44 * t ** 2, np.zeros_like(t)], axis=1))
    n = 20_000
    lam0, lam1 = (0.0, 0.0), (0.44, 0.0)
    df = lat44.free_energy(lam1) - lat44.free_energy(lam0)
    _, _, lz1 = boltzmann(lat44, lam1, 1.0)
    assert abs(df - (16 * math.log(2.0) - lz1)) < 1e-10
    fwd = nq.simulate(lat44, proto, SpinFlip(rule), n, seed=41)
    x1 = exact_draws(lat44, lam1, 1.0, n, seed=42)
    rev = nq.simulate(lat44, proto.reversed(), SpinFlip(rule), n, seed=43, init=x1)
    _check_estimates(fwd, rev, df, f"4x4 {rule}")


# --- exact sampler -------------------------------------------------------------------------

def test_independent_spin_sampler():
    system = ising((6, 6))
    assert system.exact_sampler(np.array([0.1, 0.0]), 1.0) is None
    beta, h = 0.9, 0.35
    sample = system.exact_sampler(np.array([0.0, h]), beta)
    st = _rng.make_states(8, 5000)
    x = sample(st, 0, 5000)
    assert x.shape == (5000, 36) and np.all(np.abs(x) == 1.0)
    m, se = x.mean(), x.std(ddof=1) / math.sqrt(x.size)
    assert abs(m - math.tanh(beta * h)) < 4 * se
    # row i comes from trajectory i's stream only
    st2 = _rng.make_states(8, 10, first=100)
    np.testing.assert_array_equal(sample(st2, 100, 10), x[100:110])


# --- reproducibility -------------------------------------------------------------------------

@pytest.mark.parametrize("rule", RULES)
def test_reproducible_across_threads_and_chunks(lat44, rule):
    proto = nq.protocols.linear([0.0, 0.4], [0.5, -0.1], 15)
    runs = []
    for threads, chunk, steps in [(1, 1001, None), (2, 1001, None), (2, 37, 4), (1, 100, 7)]:
        runs.append(nq.simulate(lat44, proto, SpinFlip(rule), 1001, seed=9, n_threads=threads,
                                chunk_traj=chunk, chunk_steps=steps))
    for r in runs[1:]:
        for key in ("work", "heat", "x", "x0", "acceptance", "final_energy"):
            np.testing.assert_array_equal(getattr(r, key), getattr(runs[0], key), err_msg=key)
    other = nq.simulate(lat44, proto, SpinFlip(rule), 1001, seed=10)
    assert not np.array_equal(other.work, runs[0].work)


def test_run_file_round_trip(tmp_path, lat44):
    """Streaming to a run file in blocks and short kernel calls gives the in-memory
    result bit for bit (the kernel restarts from x, u and rng alone)."""
    pytest.importorskip("h5py")
    proto = nq.protocols.linear([0.0, 0.4], [0.5, -0.1], 30)
    kw = dict(seed=3, record_every=10, record_positions=True)
    mem = nq.simulate(lat44, proto, SpinFlip("glauber"), 500, **kw)
    path = tmp_path / "ising.h5"
    nq.simulate(lat44, proto, SpinFlip("glauber"), 500, out=path, chunk_traj=128,
                chunk_steps=7, checkpoint_every=0, progress=False, **kw)
    back = nq.open_run(path)  # a built-in: rebuilt by name
    for key in ("work", "heat", "path_work", "x", "x0", "acceptance", "final_energy"):
        np.testing.assert_array_equal(getattr(back, key), getattr(mem, key), err_msg=key)
    for key in ("work", "heat", "x"):
        np.testing.assert_array_equal(back.trace[key], mem.trace[key], err_msg=key)
    assert back.integrator == SpinFlip("glauber")


# --- integrator API and errors --------------------------------------------------------------

def test_spinflip_api():
    assert SpinFlip().rule == "metropolis" and SpinFlip("Glauber").rule == "glauber"
    assert SpinFlip("glauber").params() == {"rule": "glauber"}
    # run files name integrators by an explicit constant (tests/test_names.py)
    spec = SpinFlip.file_name
    assert spec == "ising.SpinFlip" and Integrator.registry[spec] is SpinFlip
    assert SpinFlip("glauber") == SpinFlip(rule="glauber") != SpinFlip()
    assert SpinFlip().dt == 1.0 and SpinFlip().proposals_per_step() == 1
    from neqsim.storage.runfile import integrator_from_spec
    assert integrator_from_spec(spec, SpinFlip("glauber").params()) == SpinFlip("glauber")
    from neqsim.systems import from_spec
    s = from_spec("ising", ising((3, 4), periodic=False).params)
    assert s.shape == (3, 4) and not s.periodic


def test_errors(trap, lat23):
    with pytest.raises(TypeError, match="SpinFlip needs a lattice system such as nq.ising.ising"):
        nq.simulate(trap, nq.protocols.hold([0.0, 1.0], 3), SpinFlip(), 10, seed=1)
    with pytest.raises(ValueError, match="rule"):
        SpinFlip("heatbath")
    with pytest.raises(ValueError, match="rule"):
        SpinFlip(3)
    for bad in [(1,), (2, 2, 2), (3, 0), (), (2.5,), "ab", (4, 1)]:
        with pytest.raises(ValueError):
            ising(bad)
    x0 = np.full((10, 6), 0.5)
    with pytest.raises(ValueError, match=r"\+1 or -1"):
        nq.simulate(lat23, nq.protocols.hold([0.1, 0.0], 2), SpinFlip(), 10, seed=1, init=x0)
    with pytest.raises(ValueError, match="control"):
        nq.simulate(lat23, nq.protocols.hold([0.1], 2), SpinFlip(), 10, seed=1)
