"""The exactly solvable cases of ``neqsim validate``: each runs a protocol and returns
rows (case, estimate, standard error, exact value). Written against the public API, as a
user's script would be."""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..exact.feedback import FeedbackTrap
from ..exact.gaussian import breathing_trap_delta_f, dragged_trap_work_mean
from ..exact.ising import torus_log_z
from .row import Row


def _api():
    """The public names the cases use, as ``nq.<name>`` in a user's script (gathered from
    the submodules: importing the package root from here would be an import cycle, now
    that the root exports ``calibrate``)."""
    from types import SimpleNamespace

    from .. import analysis, ising, jump, protocols, systems
    from ..dynamics import GHMC, MALA, EulerMaruyama, Gillespie, Langevin
    from ..dynamics import mcmc as kernels
    from ..engine.driver import simulate
    from ..engine.initial import StartDensity
    from ..engine.feedback import feedback
    from ..engine.measurement import GaussianState, Measurement
    from ..protocols import schedules
    from ..sampling import ais, log_density
    return SimpleNamespace(analysis=analysis, ising=ising, protocols=protocols,
                           systems=systems, GHMC=GHMC, MALA=MALA, EulerMaruyama=EulerMaruyama,
                           Langevin=Langevin, kernels=kernels, simulate=simulate,
                           StartDensity=StartDensity,
                           schedules=schedules, ais=ais, log_density=log_density, jump=jump,
                           Gillespie=Gillespie, feedback=feedback, Measurement=Measurement,
                           GaussianState=GaussianState)


def _quiet(fn, *args, **kwargs):
    from ..analysis import UnreliableEstimateWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        return fn(*args, **kwargs)


def case_dragged_trap(scale, integ, seed):
    """Overdamped dragged trap (EM, dt = 1e-3): <W> = gamma v^2 [t - tau(1 - e^{-t/tau})],
    Var W = 2 kT <W> (docs/physics.md), and dF = 0 by BAR against the reverse drag."""
    nq = _api()
    n, t, v = 20_000 * scale, 1.0, 2.0
    trap = nq.systems.harmonic_trap()
    proto, reverse = nq.protocols.crooks_pair(nq.protocols.linear([0.0, 1.0], [v * t, 1.0],
                                                                  500))
    em = nq.EulerMaruyama(dt=t / 500)
    run = nq.simulate(trap, proto, em, n, seed=seed, progress=False)
    mean_w = dragged_trap_work_mean(v, t)
    w = run.work
    rev = nq.simulate(trap, reverse, em, n, seed=seed + 1, progress=False)
    b = _quiet(nq.analysis.bar, run, rev, n_bootstrap=0)
    var = float(np.var(w, ddof=1))
    return [Row("dragged trap <W> (EM dt=2e-3)", float(w.mean()), float(w.std() / math.sqrt(n)),
                mean_w, note="O(dt) bias << error"),
            Row("dragged trap Var W = 2 kT <W>", var, var * math.sqrt(2.0 / (n - 1)),
                2 * mean_w),
            Row("dragged trap dF (BAR, path work)", b.value, b.std_error, 0.0)]


def case_breathing(scale, integ, seed):
    """Breathing trap k: 1 -> 4 and back with the chosen integrator: Jarzynski both ways and
    BAR on path work against dF = (kT/2) ln 4; Crooks slope and intercept; second law."""
    nq = _api()
    n = 20_000 * scale
    trap = nq.systems.harmonic_trap()
    # crooks_pair: the exact time reversal for every integrator (protocols.crooks_pair)
    proto, reverse = nq.protocols.crooks_pair(nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 20))
    exact = breathing_trap_delta_f(1.0, 4.0)
    fwd = nq.simulate(trap, proto, integ, n, seed=seed, progress=False)
    rev = nq.simulate(trap, reverse, integ, n, seed=seed + 1, progress=False)
    ef = _quiet(nq.analysis.jarzynski, fwd, n_bootstrap=0)
    er = _quiet(nq.analysis.jarzynski, rev, n_bootstrap=0)
    b = _quiet(nq.analysis.bar, fwd, rev, n_bootstrap=0)
    label = f"{type(integ).__name__} dt={integ.dt:g}"
    rows = [Row(f"breathing dF, Jarzynski fwd ({label})", ef.value, ef.std_error, exact,
                note="" if ef.reliable else "unreliable sample"),
            Row("breathing dF, Jarzynski reverse", -er.value, er.std_error, exact),
            Row("breathing dF, BAR", b.value, b.std_error, exact)]
    try:
        c = nq.analysis.crooks(fwd, rev)
        rows += [Row("Crooks slope (= beta)", c.slope, c.slope_error, 1.0),
                 Row("Crooks intercept (= -beta dF)", c.intercept, c.intercept_error, -exact)]
    except ValueError as e:
        rows.append(Row("Crooks fit", math.nan, math.nan, 1.0, note=str(e)))
    d = nq.analysis.dissipation(fwd.path_work, exact)
    rows.append(Row("second law <W> - dF >= 0", d.value, d.std_error, 0.0, kind="bound"))
    return rows


def case_shadow_work(scale, integ, seed):
    """BAOAB at omega dt = 1 (k 1 -> 4): W + W_shadow gives the exact dF; W alone is
    biased (reported for information)."""
    nq = _api()
    n = 50_000 * scale
    trap = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 10)
    run = nq.simulate(trap, proto, nq.Langevin(dt=0.5), n, seed=seed, progress=False)
    exact = breathing_trap_delta_f(1.0, 4.0)
    e = _quiet(nq.analysis.jarzynski, run.path_work, 1.0, n_bootstrap=0)
    e_w = _quiet(nq.analysis.jarzynski, run.work, 1.0, n_bootstrap=0)
    return [Row("large step: Jarzynski with W + W_shadow", e.value, e.std_error, exact),
            Row("large step: Jarzynski with W alone", e_w.value, e_w.std_error, exact,
                kind="info", note="biased by design")]


def case_metropolized(scale, integ, seed):
    """MALA and GHMC at large steps in an asymmetric double-well protocol (barrier and tilt
    change together): exact dF from quadrature."""
    nq = _api()
    n = 20_000 * scale
    well = nq.systems.double_well()
    proto = nq.protocols.linear([2.0, 0.0], [1.0, 1.0], 30)
    exact = well.free_energy(proto.end) - well.free_energy(proto.start)
    rows = []
    for k in (nq.MALA(dt=0.2), nq.GHMC(dt=0.5)):
        run = nq.simulate(well, proto, k, n, seed=seed, progress=False)
        e = _quiet(nq.analysis.jarzynski, run.work, 1.0, n_bootstrap=0)
        rows.append(Row(f"{type(k).__name__} dF, plain work", e.value, e.std_error, exact))
    return rows


def case_ais_gaussian(scale, integ, seed):
    """AIS from N(0, I) to N(1, 0.5^2 I) in d = 10: log Z_N/Z_0 = d log 0.5."""
    nq = _api()

    from ..targets import gaussian_path
    gp = gaussian_path(10, 1.0, 0.5)
    f0 = nq.log_density(gp.log_f0_grad, name="f0")
    fn = nq.log_density(gp.log_fN_grad, name="fN")
    res = nq.ais(f0, fn, path="geometric", initial=gp.sample0,
                 schedule=nq.schedules.geometric(100), kernel=nq.kernels.HMC("adapt", 5),
                 n_chains=2000 * scale, seed=seed, n_bootstrap=0, warn=False,
                 n_pilot=300, progress=False)
    return [Row("AIS log Z, Gaussian d=10 (HMC)", res.log_z, res.log_z_err, gp.log_ratio)]


def case_ais_ising(scale, integ, seed):
    """AIS over the coupling of a 4x4 periodic Ising lattice, J: 0 -> 0.4 at h = 0:
    log Z(0.4) - log Z(0) from Kaufman's finite-lattice formula."""
    nq = _api()
    lat = nq.ising.ising((4, 4))
    proto = nq.protocols.linear([0.0, 0.0], [0.4, 0.0], 100)
    run = nq.simulate(lat, proto, nq.ising.SpinFlip("glauber"), 4000 * scale, seed=seed,
                      progress=False)
    lz = _quiet(nq.analysis.ais_log_z, -run.path_work, n_bootstrap=0)
    exact = torus_log_z(4, 4, 0.4) - 16 * math.log(2.0)
    return [Row("AIS log Z, Ising 4x4 (Glauber)", lz.log_z, lz.std_error, exact)]


def case_landauer(scale, integ, seed):
    """Erasure in a double well (lower barrier, tilt, raise, untilt; MALA): heat released
    obeys -<Q> >= kT (ln 2 - H(p)) with the measured success probability p."""
    nq = _api()
    n = 5000 * scale
    well = nq.systems.double_well()
    knots = [[4.0, 0.0], [0.0, 0.0], [0.0, 2.0], [4.0, 2.0], [4.0, 0.0]]
    proto = nq.protocols.piecewise(knots, 400)
    run = nq.simulate(well, proto, nq.MALA(dt=0.02), n, seed=seed, progress=False)
    p = float(np.mean(run.x[:, 0] > 0))
    p = min(max(p, 1e-12), 1 - 1e-12)
    lan = nq.analysis.landauer(run.heat, [0.5, 0.5], [p, 1 - p], beta=1.0)
    return [Row(f"Landauer -<Q> >= kT(ln2 - H(p)), p = {p:.3f}", lan.value, lan.std_error,
                lan.bound, kind="bound")]


def case_entropy_production(scale, integ, seed):
    """Breathing-trap quench k: 1 -> 4 from a non-equilibrium Gaussian start (EM, 40 steps
    of relaxation): S(p_N), KL(p_N || pi) and dSigma = -beta<Q> + S_N - S_0 against their
    closed forms (exact.breathing_quench); an asymmetric double-well memory (tilt 0.5)
    erased and cycled: <W> >= F_neq(p_N) - F(lam_0) with unequal local free energies."""
    from ..exact.gaussian import breathing_quench
    nq = _api()
    n = 20_000 * scale
    k0, k1, steps, dt = 1.0, 4.0, 40, 0.005
    lam = np.column_stack([np.zeros(steps + 1), np.r_[k0, np.full(steps, k1)]])
    start = nq.StartDensity.gaussian(0.7, 0.5)
    run = nq.simulate(nq.systems.harmonic_trap(), lam, nq.EulerMaruyama(dt=dt), n,
                      seed=seed, init=start, progress=False)
    ep = nq.analysis.entropy_production(run, start=start)
    ex = breathing_quench(k0, k1, steps, dt, 1.0, 0.7, 0.25)
    well = nq.systems.double_well()
    a, f0 = 6.0, 0.5
    proto = nq.protocols.piecewise([(a, f0), (0.0, f0), (0.0, 3.0), (a, 3.0), (a, f0)], 1000)
    er = nq.simulate(well, proto, nq.MALA(dt=2e-3), 5000 * scale, seed=seed + 1,
                     progress=False)
    f = nq.analysis.local_free_energies(well, [a, f0], [0.0])
    states = (er.x[:, 0] > 0).astype(np.int64)
    mb = nq.analysis.memory_bound(er, states, f, f)
    return [Row("quench S(p_N) (kNN)", ep.s_end.value, ep.s_end.std_error, ex.s_end),
            Row("quench KL(p_N || pi_N)", ep.kl_end.value, ep.kl_end.std_error, ex.kl_end),
            Row("quench dSigma = -beta<Q> + S_N - S_0", ep.entropy_production.value,
                ep.entropy_production.std_error, ex.entropy_production),
            Row(f"asymmetric memory <W> >= dF_neq, p_N = {states.mean():.3f}", mb.value,
                mb.std_error, mb.bound, kind="bound")]
def _jump_rows(label, nq, system, forward, dt, n, seed):
    """<W>, Var W against the tilted master equation; Jarzynski and BAR (crooks_pair)
    against the exact dF, for a jump process driven by ``forward``."""
    fwd_p, rev_p = nq.protocols.crooks_pair(forward)
    integ = nq.Gillespie(dt=dt)
    fwd = nq.simulate(system, fwd_p, integ, n, seed=seed, progress=False)
    rev = nq.simulate(system, rev_p, integ, n, seed=seed + 1, progress=False)
    ex = nq.jump.master_work_statistics(system, fwd_p, integ)
    w = fwd.work
    d = w - w.mean()
    var = float(np.var(w, ddof=1))
    var_se = math.sqrt(max(float(np.mean(d ** 4)) - float(np.mean(d ** 2)) ** 2, 0.0) / n)
    jz = _quiet(nq.analysis.jarzynski, fwd, n_bootstrap=0)
    b = _quiet(nq.analysis.bar, fwd, rev, n_bootstrap=0)
    return [Row(f"{label} <W> (tilted master eq.)", float(w.mean()),
                float(w.std() / math.sqrt(n)), ex.mean),
            Row(f"{label} Var W", var, var_se, ex.variance),
            Row(f"{label} dF, Jarzynski", jz.value, jz.std_error, ex.delta_f,
                note="" if jz.reliable else "unreliable sample"),
            Row(f"{label} dF, BAR", b.value, b.std_error, ex.delta_f)]


def case_jump_two_level(scale, integ, seed):
    """Two-level jump process, gap 0.5 -> 3 in 50 steps of dt = 0.005 (Gillespie, exact):
    dF = -kT ln[(1 + e^{-3}) / (1 + e^{-0.5})], <W> and Var W from the tilted 2x2
    master equation."""
    nq = _api()
    two = nq.jump.markov_states([[0.0, 0.0], [0.0, 1.0]], barriers=1.0)
    return _jump_rows("two-level jump", nq, two, nq.protocols.linear([0.5], [3.0], 50),
                      0.005, 20_000 * scale, seed)


def case_jump_cycle(scale, integ, seed):
    """3-state ring driven by a bias f = 1 per forward jump (a non-equilibrium steady
    state) while one energy ramps: Jarzynski and BAR with the total work (protocol +
    non-conservative), and the steady-state heat rate."""
    nq = _api()
    bias = np.zeros((3, 3))
    for i in range(3):
        bias[(i + 1) % 3, i], bias[i, (i + 1) % 3] = 1.0, -1.0
    ring = nq.jump.markov_states([[0.0, 0.5, 1.0], [0.0, 0.0, -1.5]], bias=bias,
                                 barriers=[[0.0, 0.5, 1.0], [0.5, 0.0, 1.5], [1.0, 1.5, 0.0]])
    rows = _jump_rows("3-cycle jump", nq, ring, nq.protocols.linear([0.0], [1.0], 40), 0.02,
                      20_000 * scale, seed)
    n, steps, dt = 5_000 * scale, 400, 0.05
    run = nq.simulate(ring, nq.protocols.hold([0.0], steps), nq.Gillespie(dt=dt), n,
                      seed=seed + 2, record_every=steps // 2, progress=False)
    q = np.asarray(run.trace["heat"])
    rate = (q[:, 2] - q[:, 1]) / (steps // 2 * dt)
    ss = nq.jump.master_steady_state(ring, [0.0])
    rows.append(Row("3-cycle steady-state heat rate dQ/dt", float(rate.mean()),
                    float(rate.std() / math.sqrt(n)), ss.heat_rate))
    return rows
def case_feedback_trap(scale, integ, seed):
    """Gaussian feedback trap (EM, dt = 0.02): measure x with error 2 kT^(1/2) k^(-1/2) at
    t = 0, jump the centre to 0.15 y, relax 50 steps, jump back. <W> and the efficacy
    against the exact EM chain, <I> = (1/2) ln(1 + v/sigma^2) (exact marginal), the
    Sagawa-Ueda equality ln <e^{-beta W_path - I}> = 0, and <W> + kT <I> >= 0."""
    nq = _api()
    n, sigma, gain, relax, dt = 20_000 * scale, 2.0, 0.15, 50, 0.02
    steps = relax + 11
    base = np.zeros((steps + 1, 2))
    base[:, 1] = 1.0
    g = np.zeros((steps + 1, 2, 1))
    g[1:relax + 1, 0, 0] = gain
    run = nq.feedback(nq.systems.harmonic_trap(), base, nq.EulerMaruyama(dt=dt), n, seed=seed,
                      measurements=nq.Measurement(step=0, sigma=sigma, gain=g,
                                                  marginal=nq.GaussianState(0.0, 1.0)))
    ex = FeedbackTrap.euler_maruyama(sigma, gain, n_steps=relax, dt=dt, shift_back=True)
    su = nq.analysis.sagawa_ueda(run, warn=False)
    plain = nq.analysis.sagawa_ueda(run, which="work", warn=False)
    w, info = run.work, run.information
    return [Row("feedback trap <W> (EM, exact chain)", float(w.mean()),
                float(w.std(ddof=1) / math.sqrt(n)), ex.mean_work),
            Row("feedback trap <I> (exact marginal)", float(info.mean()),
                float(info.std(ddof=1) / math.sqrt(n)), ex.mean_information),
            Row("Sagawa-Ueda ln<e^(-beta W_path - I)>", su.value, su.std_error, 0.0,
                note="" if su.reliable else "unreliable sample"),
            Row("feedback efficacy <e^(-beta W)>", plain.efficacy, plain.efficacy_std_error,
                ex.efficacy),
            Row("feedback <W> + kT <I> >= 0", su.bound.value, su.bound.std_error, 0.0,
                kind="bound")]


CASES = {"dragged": case_dragged_trap, "breathing": case_breathing,
         "shadow": case_shadow_work, "metropolized": case_metropolized,
         "ais-gaussian": case_ais_gaussian, "ais-ising": case_ais_ising,
         "landauer": case_landauer, "entropy": case_entropy_production,
         "jump-two-level": case_jump_two_level, "jump-cycle": case_jump_cycle,
         "feedback": case_feedback_trap}
