"""``neqsim validate --exact CONFIG``: the user's own 1-D overdamped protocol against its
exact work statistics (:mod:`neqsim.exact.transfer`), separating time-step bias from
sampling noise.

Two exact references: the transition operator of the user's integrator at the user's dt
(Euler-Maruyama's Gaussian kernel, MALA's accept/reject kernel) on a grid, which is what
the simulation samples, so the simulated moments must agree with it within their
sampling errors; and the continuous-time (Fokker-Planck) process, the dt -> 0 limit.
Their difference is the discretization bias of the integrator at that dt, shown beside
the sampling error that would have to beat it to be seen.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .row import Row

__all__ = ["exact_rows"]


def _both_directions(system, fwd, rev, integrator, n_traj, beta, seed, progress, n_threads):
    """Both runs, and the forward work's mean, variance and their standard errors (the
    variance's from the fourth moment: works are often skewed)."""
    from ..engine.driver import simulate
    run = simulate(system, fwd, integrator, n_traj, beta=beta, seed=seed, progress=progress,
                   n_threads=n_threads)
    back = simulate(system, rev, integrator, n_traj, beta=beta, seed=seed + 1,
                    progress=progress, n_threads=n_threads)
    w = np.asarray(run.work, dtype=np.float64)
    pw = np.asarray(run.path_work, dtype=np.float64)
    n = w.size
    m, v = float(w.mean()), float(w.var(ddof=1))
    m4 = float(np.mean((w - m) ** 4))
    se_v = math.sqrt(max(m4 - v * v * (n - 3) / (n - 1), 0.0) / n)
    return run, back, w, pw, n, m, v, math.sqrt(v / n), se_v


def exact_rows(system, protocol, integrator, n_traj, *, beta=1.0, seed=0, progress=None,
               n_threads=None):
    """Rows (see :class:`Row`) comparing a simulation of the configuration with its exact
    work statistics: <W>, Var W and <W_path> at this dt (PASS/FAIL), the time-step bias of
    <W> (info), the exponential averages of W and W_path, KL(P_F || P_R) of the path
    measures (info), and BAR of the path work of both directions against the exact dF.

    Both directions are the exact time-reversal pair of :func:`neqsim.protocols.crooks_pair`
    (each starts with one kernel step at its initial controls); the exact operators are
    computed for exactly those protocols, so every PASS/FAIL row compares like with like.
    """
    from ..analysis import UnreliableEstimateWarning, bar, jarzynski
    from ..exact.transfer import work_statistics_continuous, work_statistics_discrete
    from ..protocols.protocol import crooks_pair
    name = getattr(integrator, "file_name", "")
    if system.dim != 1 or name not in ("EulerMaruyama", "MALA", "Langevin", "GHMC"):
        raise ValueError("validate --exact needs a one-dimensional system and an overdamped "
                         "integrator (EulerMaruyama or MALA: exact operators at dt) or an "
                         "underdamped one (Langevin, GHMC: the exact Kramers process, "
                         "dt -> 0); the exact engines solve on 1-D (x or (x, v)) grids")
    if name in ("Langevin", "GHMC"):
        return _underdamped_rows(system, protocol, integrator, n_traj, beta=beta, seed=seed,
                                 progress=progress, n_threads=n_threads)
    fwd, rev = crooks_pair(protocol)
    disc = work_statistics_discrete(system, fwd, integrator, beta=beta)
    disc_r = work_statistics_discrete(system, rev, integrator, beta=beta)
    cont = work_statistics_continuous(system, fwd, integrator.dt, beta=beta,
                                      gamma=integrator.gamma)
    run, back, w, pw, n, m, v, se_m, se_v = _both_directions(
        system, fwd, rev, integrator, n_traj, beta, seed, progress, n_threads)
    se_p = float(pw.std(ddof=1)) / math.sqrt(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        exp_w = jarzynski(w, beta, n_bootstrap=0)
        exp_p = jarzynski(pw, beta, n_bootstrap=0)
        b = bar(pw, np.asarray(back.path_work, dtype=np.float64), beta, n_bootstrap=0)
    d_f = disc.delta_f
    exp_target = -disc.log_mgf[beta] / beta       # what EXP of W converges to at this dt
    dt = integrator.dt
    bias = disc.mean_work - cont.mean_work
    kl_sim = beta * (float(pw.mean()) - d_f)
    return [
        Row(f"<W> at dt={dt:g} vs exact operator", m, se_m, disc.mean_work,
            note="sampling noise only"),
        Row(f"Var W at dt={dt:g} vs exact operator", v, se_v, disc.var_work),
        Row(f"<W_path> at dt={dt:g} vs exact operator", float(pw.mean()), se_p,
            disc.mean_path_work),
        Row("<W> time-step bias (dt vs dt->0)", bias, se_m, 0.0, kind="info",
            note=f"{abs(bias) / se_m:.1f} sampling errors"
            + ("" if abs(bias) > 4 * se_m else ": hidden by the noise")),
        Row("KL(P_F||P_R) = beta(<W_path> - dF)", kl_sim, beta * se_p, disc.path_kl,
            kind="info", note=f"protocol work's beta(<W> - dF) = "
            f"{beta * disc.dissipated_work:.4g}"),
        Row(f"EXP of W at dt={dt:g} vs exact operator", exp_w.value, exp_w.std_error,
            exp_target, note="" if exp_w.reliable else "EXP unreliable"),
        Row("EXP of W_path vs exact dF", exp_p.value, exp_p.std_error, d_f,
            note="" if exp_p.reliable else "EXP unreliable"),
        Row("BAR of W_path (both directions) vs exact dF", b.value, b.std_error, d_f,
            note=(f"reverse <W_path> exact {disc_r.mean_path_work:.4g}"
                  + ("" if b.reliable else "; BAR unreliable"))),
    ]


def _underdamped_rows(system, protocol, integrator, n_traj, *, beta, seed, progress,
                      n_threads):
    """Underdamped integrators: the exact reference is the continuous-time Kramers process
    (:func:`neqsim.exact.work_statistics_underdamped`), so <W> and Var W are compared as
    information (their difference is the time-step bias plus noise, the bias shown in
    sampling errors); EXP and BAR of the path work (W + W_shadow, exact at any dt) are
    PASS/FAIL against the exact dF."""
    from ..analysis import UnreliableEstimateWarning, bar, jarzynski
    from ..exact.underdamped import work_statistics_underdamped
    from ..protocols.protocol import crooks_pair
    fwd, rev = crooks_pair(protocol)
    ref = work_statistics_underdamped(system, fwd, integrator.dt, beta=beta,
                                      gamma=integrator.gamma, mass=integrator.mass)
    run, back, w, pw, n, m, v, se_m, se_v = _both_directions(
        system, fwd, rev, integrator, n_traj, beta, seed, progress, n_threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        exp_p = jarzynski(pw, beta, n_bootstrap=0)
        b = bar(pw, np.asarray(back.path_work, dtype=np.float64), beta, n_bootstrap=0)
    d_f = ref.delta_f
    dt = integrator.dt

    def sigmas(x, se):
        z = abs(x) / se if se > 0 else math.inf
        return f"{z:.1f} sampling errors" + ("" if z > 4 else ": hidden by the noise")
    return [
        Row(f"<W> at dt={dt:g} vs exact Kramers (dt->0)", m, se_m, ref.mean_work,
            kind="info", note="time-step bias + noise: " + sigmas(m - ref.mean_work, se_m)),
        Row(f"Var W at dt={dt:g} vs exact Kramers (dt->0)", v, se_v, ref.var_work,
            kind="info", note=sigmas(v - ref.var_work, se_v)),
        Row("KL(P_F||P_R) = beta(<W_path> - dF)", beta * (float(pw.mean()) - d_f),
            beta * float(pw.std(ddof=1)) / math.sqrt(n), ref.path_kl, kind="info",
            note="exact: the continuous process"),
        Row("EXP of W_path vs exact dF", exp_p.value, exp_p.std_error, d_f,
            note="" if exp_p.reliable else "EXP unreliable"),
        Row("BAR of W_path (both directions) vs exact dF", b.value, b.std_error, d_f,
            note="" if b.reliable else "BAR unreliable"),
    ]
