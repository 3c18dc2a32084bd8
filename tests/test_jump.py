"""Markov jump processes (nq.jump): the Gillespie kernel against the exact tilted master
equation, the fluctuation theorems with the total (protocol + non-conservative) work,
and the bookkeeping, reproducibility, run-file and bad-input contracts.

Every stochastic check compares with an exact value at 4 standard errors of the
estimator itself (fixed seeds, enough trajectories that a wrong rate, a wrong sign of the
bias or a wrong reversal fails)."""
import math
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import neqsim as nq

Z = 4.0
BETA = 1.0


def two_level():
    """E = (0, eps), lam = (eps,); barrier B_01 = 1 (rates e^{-1}, e^{eps - 1})."""
    return nq.jump.markov_states([[0.0, 0.0], [0.0, 1.0]], barriers=1.0,
                                 control_names=("eps",))


def ring_bias(f):
    """f_ij of a 3-ring: +f for every jump i -> i+1 (mod 3), -f backwards."""
    F = np.zeros((3, 3))
    for i in range(3):
        F[(i + 1) % 3, i] = f
        F[i, (i + 1) % 3] = -f
    return F


CYCLE_E = [[0.0, 0.5, 1.0], [0.0, 0.0, -1.5]]        # E(lam) = (0, 0.5, 1 - 1.5 lam)
CYCLE_B = [[0.0, 0.5, 1.0], [0.5, 0.0, 1.5], [1.0, 1.5, 0.0]]  # unequal: a genuine NESS


def cycle(f=1.0):
    return nq.jump.markov_states(CYCLE_E, barriers=CYCLE_B, bias=ring_bias(f))


RAMP = nq.protocols.linear([0.5], [3.0], 50)       # gap 0.5 -> 3.0, asymmetric
DT2 = 0.005                                        # <W> - dF = 0.41 kT
CYCLE_RAMP = nq.protocols.linear([0.0], [1.0], 40)
DT3 = 0.02                                         # <W> - dF = 0.58 kT (total work)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nq.analysis.UnreliableEstimateWarning)
        return fn(*args, **kwargs)


def within(est, se, exact, what):
    z = (est - exact) / se
    print(f"{what}: {est:.6g} +- {se:.3g} vs exact {exact:.6g} (z = {z:+.2f})")
    assert abs(z) < Z, f"{what}: {est:.6g} +- {se:.3g} vs exact {exact:.6g} (z = {z:+.2f})"
    return z


def var_se(w):
    """Standard error of the sample variance: sqrt((m4 - s^4) / n)."""
    d = w - w.mean()
    return math.sqrt((np.mean(d ** 4) - np.mean(d ** 2) ** 2) / w.size)


# --- the exact reference itself ---------------------------------------------------------

def test_two_level_exact_reference_identities():
    sys2 = two_level()
    closed = nq.jump.two_level_delta_f(0.5, 3.0)
    assert closed == pytest.approx(-math.log((1 + math.exp(-3.0)) / (1 + math.exp(-0.5))),
                                   abs=1e-15)
    assert sys2.free_energy([3.0]) - sys2.free_energy([0.5]) == pytest.approx(closed, abs=1e-12)
    for dt in (0.001, DT2, 0.2):
        st = nq.jump.master_work_statistics(sys2, RAMP, dt)
        assert st.delta_f == pytest.approx(closed, abs=1e-12)
        # Jarzynski is exact for the process at any dt: G(beta) = -beta dF
        assert nq.jump.master_work_cgf(sys2, RAMP, dt, BETA) == pytest.approx(-closed,
                                                                               abs=1e-10)
        # the moment propagation (Van Loan) against derivatives of the tilted CGF
        h = 1e-4
        g = nq.jump.master_work_cgf(sys2, RAMP, dt, np.array([-h, 0.0, h]))
        assert abs(g[1]) < 1e-13  # G(0) = log 1
        assert -(g[2] - g[0]) / (2 * h) == pytest.approx(st.mean, rel=1e-6)
        assert (g[2] - 2 * g[1] + g[0]) / h ** 2 == pytest.approx(st.variance, rel=1e-5)
        assert st.mean_work[-1] == pytest.approx(st.mean, abs=1e-14)
        assert st.dissipation > 0  # second law
    # the slow limit approaches dF, the sudden one the switch at fixed state
    slow = nq.jump.master_work_statistics(sys2, nq.protocols.linear([0.5], [3.0], 400), 1.0)
    assert slow.mean - closed < 0.01
    fast = nq.jump.master_work_statistics(sys2, RAMP, 1e-9)
    p1 = 1 / (1 + math.exp(0.5))
    assert fast.mean == pytest.approx(2.5 * p1, rel=1e-6)


# --- two-level ramp: simulation against the exact reference ----------------------------

def test_two_level_ramp_work_statistics_and_fluctuation_theorems():
    sys2 = two_level()
    fwd_p, rev_p = nq.protocols.crooks_pair(RAMP)
    integ = nq.Gillespie(dt=DT2)
    n = 100_000
    fwd = nq.simulate(sys2, fwd_p, integ, n, seed=11, progress=False)
    rev = nq.simulate(sys2, rev_p, integ, n, seed=12, progress=False)
    ex = nq.jump.master_work_statistics(sys2, fwd_p, integ)
    dF = nq.jump.two_level_delta_f(0.5, 3.0)
    assert 0.3 < ex.dissipation < 1.0  # clearly out of equilibrium
    w = fwd.work
    assert np.array_equal(w, fwd.path_work)
    # first law per trajectory
    assert np.max(np.abs(fwd.final_energy - fwd.initial_energy - fwd.work - fwd.heat)) < 1e-12
    within(w.mean(), w.std() / math.sqrt(n), ex.mean, "<W>")
    within(w.var(ddof=1), var_se(w), ex.variance, "Var W")
    s = 0.5
    e = np.exp(-s * w)
    within(e.mean(), e.std() / math.sqrt(n),
           math.exp(nq.jump.master_work_cgf(sys2, fwd_p, integ, s)), "<exp(-W/2)>")
    jz = quiet(nq.analysis.jarzynski, fwd, n_bootstrap=0)
    within(jz.delta_f, jz.std_error, dF, "Jarzynski dF")
    b = quiet(nq.analysis.bar, fwd, rev, n_bootstrap=0)
    within(b.delta_f, b.std_error, dF, "BAR dF")
    # the reverse direction against its own exact reference
    exr = nq.jump.master_work_statistics(sys2, rev_p, integ)
    within(rev.work.mean(), rev.work.std() / math.sqrt(n), exr.mean, "<W_R>")


# --- 3-state driven cycle ----------------------------------------------------------------

def test_cycle_exact_reference_crooks_with_total_work():
    """Crooks in CGF form, <e^{-sW}>_F = e^{-beta dF} <e^{-(beta - s) W}>_R, holds for the
    total work with the crooks_pair reverse under the SAME bias; it fails with the
    protocol work alone, with the bias reversed, or with the plain reversed protocol
    (the biased kernel does not preserve pi_lam)."""
    cyc, flipped = cycle(1.0), cycle(-1.0)
    fwd_p, rev_p = nq.protocols.crooks_pair(CYCLE_RAMP)
    st = nq.jump.master_work_statistics(cyc, fwd_p, DT3)
    dF = st.delta_f
    assert dF == pytest.approx(-(math.log(1 + math.exp(-0.5) + math.exp(0.5))
                                 - math.log(1 + math.exp(-0.5) + math.exp(-1.0))), abs=1e-12)
    assert nq.jump.master_work_cgf(cyc, fwd_p, DT3, BETA) == pytest.approx(-BETA * dF,
                                                                            abs=1e-10)
    assert abs(nq.jump.master_work_cgf(cyc, fwd_p, DT3, BETA, work="protocol")
               + BETA * dF) > 0.01
    for s in (0.25, 0.5, 0.8):
        gf = nq.jump.master_work_cgf(cyc, fwd_p, DT3, s)
        assert gf == pytest.approx(-BETA * dF + nq.jump.master_work_cgf(cyc, rev_p, DT3,
                                                                         BETA - s), abs=1e-10)
        wrong_bias = -BETA * dF + nq.jump.master_work_cgf(flipped, rev_p, DT3, BETA - s)
        plain = -BETA * dF + nq.jump.master_work_cgf(cyc, CYCLE_RAMP.reversed(), DT3,
                                                     BETA - s)
        assert abs(gf - wrong_bias) > 1e-3 and abs(nq.jump.master_work_cgf(
            cyc, CYCLE_RAMP, DT3, s) - plain) > 1e-4


def test_cycle_steady_state_heat_rate():
    cyc = cycle(1.0)
    ss = nq.jump.master_steady_state(cyc, [0.0])
    assert ss.entropy_production_rate == pytest.approx(-BETA * ss.heat_rate, rel=1e-10)
    assert ss.work_rate == pytest.approx(-ss.heat_rate, rel=1e-12)
    assert ss.heat_rate < -0.1  # a genuine NESS: heat flows into the bath
    pi = np.exp(-np.array(CYCLE_E[0]))
    assert np.max(np.abs(ss.p - pi / pi.sum())) > 0.05  # and it is not Boltzmann
    n_steps, dt = 400, 0.05
    hold = nq.protocols.hold([0.0], n_steps)
    half = n_steps // 2
    ex = nq.jump.master_work_statistics(cyc, hold, dt)
    t_win = (n_steps - half) * dt
    # after relaxing (rate ~ 1), the exact heat in the window is the steady-state rate
    exact_q = ss.heat_rate * t_win
    assert ex.mean_heat[-1] - ex.mean_heat[half] == pytest.approx(exact_q, rel=1e-8)
    n = 20_000
    run = nq.simulate(cyc, hold, nq.Gillespie(dt=dt), n, seed=31, record_every=half,
                      progress=False)
    q = np.asarray(run.trace["heat"])
    dq = q[:, 2] - q[:, 1]
    within(dq.mean(), dq.std() / math.sqrt(n), exact_q, "NESS heat in the window")
    dw = np.asarray(run.trace["work"])[:, 2] - np.asarray(run.trace["work"])[:, 1]
    within(dw.mean(), dw.std() / math.sqrt(n), ss.work_rate * t_win, "NESS work")


def test_cycle_ramp_work_and_fluctuation_theorems():
    cyc = cycle(1.0)
    fwd_p, rev_p = nq.protocols.crooks_pair(CYCLE_RAMP)
    integ = nq.Gillespie(dt=DT3)
    n = 100_000
    fwd = nq.simulate(cyc, fwd_p, integ, n, seed=21, progress=False)
    rev = nq.simulate(cyc, rev_p, integ, n, seed=22, progress=False)
    ex = nq.jump.master_work_statistics(cyc, fwd_p, integ)
    ex_prot = nq.jump.master_work_statistics(cyc, fwd_p, integ, work="protocol")
    dF = ex.delta_f
    w = fwd.work
    assert np.max(np.abs(fwd.final_energy - fwd.initial_energy - w - fwd.heat)) < 1e-12
    within(w.mean(), w.std() / math.sqrt(n), ex.mean, "<W> total")
    within(w.var(ddof=1), var_se(w), ex.variance, "Var W total")
    e = np.exp(-0.5 * w)
    within(e.mean(), e.std() / math.sqrt(n),
           math.exp(nq.jump.master_work_cgf(cyc, fwd_p, integ, 0.5)), "<exp(-W/2)>")
    # the bias's share is visible: total and protocol-only means differ by many sigma
    assert abs(ex.mean - ex_prot.mean) > 50 * w.std() / math.sqrt(n)
    jz = quiet(nq.analysis.jarzynski, fwd, n_bootstrap=0)
    within(jz.delta_f, jz.std_error, dF, "Jarzynski dF (total work)")
    b = quiet(nq.analysis.bar, fwd, rev, n_bootstrap=0)
    within(b.delta_f, b.std_error, dF, "BAR dF (total work)")


# --- bookkeeping, exact initial states, reproducibility, run files ------------------------

def test_equilibrium_initial_states_are_exact():
    sysm = nq.jump.markov_states([[0.0, 0.7, -0.4, 1.5], [0.0, 0.0, 0.0, 0.0]])
    n = 40_000
    run = nq.simulate(sysm, nq.protocols.hold([0.0], 1), nq.Gillespie(dt=1e-9), n, seed=5,
                      progress=False)
    e = np.array([0.0, 0.7, -0.4, 1.5])
    p = np.exp(-e) / np.exp(-e).sum()
    for i in range(4):
        freq = np.mean(run.initial_energy == e[i])
        within(freq, math.sqrt(p[i] * (1 - p[i]) / n), p[i], f"pi({i})")


def test_same_numbers_for_any_threads_and_blocks():
    cyc = cycle(1.0)
    integ = nq.Gillespie(dt=0.05)
    runs = [nq.simulate(cyc, CYCLE_RAMP, integ, 1000, seed=3, progress=False,
                        record_every=8, record_positions=True, **kw)
            for kw in ({"n_threads": 1}, {"n_threads": 2, "chunk_traj": 97, "chunk_steps": 7},
                       {"executor": ThreadPoolExecutor(2), "chunk_traj": 250})]
    a = runs[0]
    for b in runs[1:]:
        _same(a, b)
    assert a.acceptance.mean() > 0.02  # jumps per step: it does jump


def _same(a, b):
    for key in ("work", "heat", "path_work", "final_energy", "x"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    for key in ("work", "heat", "x"):
        assert np.array_equal(np.asarray(a.trace[key]), np.asarray(b.trace[key])), key
    assert np.array_equal(a.acceptance, b.acceptance)


def test_run_file_reopens_and_analyzes(tmp_path):
    sys2 = two_level()
    path = tmp_path / "jump.h5"
    run = nq.simulate(sys2, RAMP, nq.Gillespie(dt=DT2), 3000, seed=9, out=path,
                      progress=False)
    again = nq.open_run(path)
    assert again.complete and np.array_equal(again.work, run.work)
    j1 = quiet(nq.analysis.jarzynski, again, n_bootstrap=0)
    j2 = quiet(nq.analysis.jarzynski, run.work, n_bootstrap=0)
    assert j1.delta_f == j2.delta_f
    # the system and the integrator are rebuilt by name, equal to the originals (the
    # check a resume makes: configuration and energy fingerprint)
    from neqsim.engine.job import Job
    from neqsim.storage.runfile import read_stored
    config, arrays, _ = read_stored(path)
    assert config["integrator"] == "jump.Gillespie"
    assert config["system_factory"] == "markov_states"
    job = Job.from_stored(path, config, arrays)
    assert isinstance(job.system, nq.jump.MarkovStates)
    assert {k: v for k, v in job.config().items() if config[k] != v} == {}
    for key, value in nq.systems.fingerprint(job.system, job.protocol).items():
        assert np.array_equal(arrays[key], value), key
    rebuilt = nq.systems.from_spec("markov_states", sys2.params)
    assert np.array_equal(rebuilt.energies([2.0]), sys2.energies([2.0]))
    assert np.array_equal(rebuilt.rates([2.0]), sys2.rates([2.0]))


def test_user_functions_match_the_array_form():
    """energies and rates as plain Python functions (LDB-consistent Arrhenius rates)
    give the same exact statistics and the same simulated numbers as the array form."""
    ref = cycle(1.0)
    F = ring_bias(1.0)
    B = np.array(CYCLE_B)

    def energies(lam):
        return np.array([0.0, 0.5, 1.0 - 1.5 * lam[0]])

    def rates(lam, beta):
        e = energies(lam)
        return np.exp(-beta * (B - e[None, :]) + 0.5 * beta * F)

    user = nq.jump.markov_states(energies, rates=rates, bias=F)
    assert user.factory is None  # a resume needs system=, as for user potentials
    a = nq.jump.master_work_statistics(ref, CYCLE_RAMP, DT3)
    b = nq.jump.master_work_statistics(user, CYCLE_RAMP, DT3)
    assert b.mean == pytest.approx(a.mean, rel=1e-12)
    assert b.variance == pytest.approx(a.variance, rel=1e-12)
    r1 = nq.simulate(ref, CYCLE_RAMP, nq.Gillespie(dt=DT3), 500, seed=4, progress=False)
    r2 = nq.simulate(user, CYCLE_RAMP, nq.Gillespie(dt=DT3), 500, seed=4, progress=False)
    np.testing.assert_allclose(r2.work, r1.work, rtol=0, atol=1e-12)


def test_bad_inputs_give_one_clear_error():
    F = ring_bias(1.0)

    def bad_rates(lam, beta):  # symmetric rates with unequal energies: no LDB
        return np.ones((3, 3))

    sysb = nq.jump.markov_states(CYCLE_E, rates=bad_rates)
    with pytest.raises(ValueError, match="local detailed balance"):
        nq.simulate(sysb, CYCLE_RAMP, nq.Gillespie(dt=0.1), 10, seed=1, progress=False)
    with pytest.raises(ValueError, match="finite"):
        nq.jump.markov_states([[0.0, np.inf], [0.0, 1.0]])
    with pytest.raises(ValueError, match="finite"):
        s = nq.jump.markov_states(lambda lam: np.array([0.0, np.inf]))
        s.energies([0.0])
    with pytest.raises(ValueError, match="shape"):
        nq.jump.markov_states([[0.0, 0.0], [0.0, 1.0]], barriers=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        nq.jump.markov_states(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="symmetric"):
        nq.jump.markov_states([0.0, 1.0], barriers=[[0.0, 1.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match="antisymmetric"):
        nq.jump.markov_states(CYCLE_E, bias=np.abs(F))
    with pytest.raises(ValueError, match=">= 0"):
        nq.jump.markov_states([0.0, 1.0], prefactor=-1.0)
    with pytest.raises(ValueError, match="either rates"):
        nq.jump.markov_states([0.0, 1.0], rates=bad_rates, barriers=1.0)
    with pytest.raises(ValueError, match="dt must be a finite number > 0"):
        nq.Gillespie(dt=0.0)
    two = two_level()
    with pytest.raises(ValueError, match="state indices"):
        nq.simulate(two, RAMP, nq.Gillespie(dt=0.1), 3, seed=1, progress=False,
                    init=np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="state indices"):
        nq.simulate(two, RAMP, nq.Gillespie(dt=0.1), 2, seed=1, progress=False,
                    init=np.array([0.0, 0.5]))
    with pytest.raises(TypeError, match="discrete states: drive it with nq.Gillespie"):
        nq.simulate(two, RAMP, nq.MALA(dt=0.1), 2, seed=1, progress=False)
    with pytest.raises(TypeError, match="Gillespie needs a discrete-state system"):
        nq.simulate(nq.systems.harmonic_trap(), nq.protocols.linear([0, 1], [1, 1], 5),
                    nq.Gillespie(dt=0.1), 2, seed=1, progress=False)
    with pytest.raises(ValueError, match="control"):
        nq.simulate(two, nq.protocols.linear([0, 1], [1, 1], 5), nq.Gillespie(dt=0.1), 2,
                    seed=1, progress=False)


def test_a_configuration_file_runs_a_jump_process(tmp_path):
    """`neqsim run config.toml` with the built-in markov_states and jump.Gillespie: the
    two-level ramp, its run file reopened, Jarzynski against the closed-form dF."""
    from neqsim.cli import main
    cfg = tmp_path / "two.toml"
    cfg.write_text("""[system]
name = "markov_states"
params = {energies = [[0.0, 0.5], [0.0, 2.5]], barriers = 1.0}
[protocol]
kind = "linear"
start = [0.0]
end = [1.0]
n_steps = 50
[integrator]
name = "jump.Gillespie"
dt = 0.005
[run]
n_traj = 20000
seed = 3
out = "two.h5"
""")
    assert main(["run", str(cfg), "--out", str(tmp_path / "two.h5")]) == 0
    run = nq.open_run(tmp_path / "two.h5")
    assert run.complete and run.system.name == "markov_states"
    est = nq.analysis.jarzynski(run, n_bootstrap=0)
    exact = nq.exact.two_level_delta_f(0.5, 3.0)
    assert abs(est.value - exact) < 4 * est.std_error
