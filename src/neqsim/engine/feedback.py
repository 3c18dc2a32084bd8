"""``feedback``: trajectories whose protocol depends on noisy measurements of their own state.

``simulate`` drives every trajectory through one shared schedule; here each trajectory i
has its own, lam_i(k) = lam_base(k) + sum_m G_m(k) c_{i,m}, c_{i,m} = controller(y_{i,m})
(:mod:`.measurement`). The driver runs the kernel (:class:`~neqsim.dynamics.controlled.Controlled`)
up to each measurement step, measures, sets the trajectories' coefficients, and goes on.
Work and heat are counted as everywhere (docs/physics.md): the switch lam_i(k-1) -> lam_i(k)
at fixed x is work, the kernel step heat, so U(x_N, lam_i(N)) - U(x_0, lam_0) = W + Q per
trajectory. Afterwards each trajectory's mutual information I_i is computed
(:mod:`.information`). The Sagawa-Ueda equality <e^{-beta (W - dF) - I}> = 1 is checked
by ``nq.analysis.sagawa_ueda``.

Numbers depend only on (seed, i): the dynamics and initial state draw from trajectory i's
stream, the error of measurement m from the stream (measurement_seed(seed, m), i); thread
counts change nothing.
"""
from __future__ import annotations

import time

import numba
import numpy as np

from .._numba import rng as _rng
from ..dynamics.controlled import Controlled
from ..storage.feedback_run import FeedbackRun
from .block import IntegrationError, start_block
from .information import log_likelihood, log_marginal
from .driver import _threads
from .initial import make_sampler
from .job import Job, check_int
from .measurement import Measurement, measurement_seed

__all__ = ["feedback"]


def feedback(system, protocol, integrator, n_traj, *, measurements, beta=1.0, seed=None,
             init="equilibrium", n_threads=None):
    """Run ``n_traj`` trajectories under measurement-dependent (feedback) control.

    lam_i(k) = protocol[k] + sum_m G_m(k) c_{i,m}: ``protocol`` (a Protocol or (N+1, m)
    array) is the base schedule, each :class:`~neqsim.Measurement` in ``measurements``
    (one or a list, at distinct steps) measures y = C x(t_m) + sigma xi and moves the
    controls after t_m by its gain times controller(y). ``integrator``:
    ``nq.EulerMaruyama`` or ``nq.MALA``. ``init``, ``beta``, ``seed`` as for
    :func:`~neqsim.simulate` (the same seed gives the same initial states and, with zero
    gains, the same trajectories). ``n_threads``: kernel threads (results unchanged).

    Returns a :class:`~neqsim.FeedbackRun` with W, Q, path work, the outcomes, the
    measured states and the mutual information I_i = sum_m ln p(y_m|x(t_m)) /
    p(y_m | y_<m) per trajectory. Raises :class:`~neqsim.IntegrationError` when an energy
    becomes NaN/inf.
    """
    t_start = time.perf_counter()
    job = Job.build(system, protocol, integrator, n_traj, beta=beta, seed=seed, init=init,
                    record_every=0, record_positions=False, on_failure="raise")
    if integrator.has_velocities or integrator.discrete_states or \
            integrator.kind != "overdamped":
        raise TypeError(f"feedback runs overdamped dynamics: pass nq.EulerMaruyama(...) or "
                        f"nq.MALA(...), got {type(integrator).__name__}")
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, 1)
        n_threads = min(n_threads, numba.config.NUMBA_NUM_THREADS)
    plan = _plan(job, measurements)
    base = job.protocol.values
    gain = np.concatenate([p["gain"] for p in plan], axis=2)
    stepper = Controlled(integrator, system, base, gain, job.beta)
    n, N = job.n_traj, job.n_steps
    info = {}
    sampler = None
    if job.init_x0 is None:
        sampler, method = make_sampler(system, base[0], job.beta, job.init)
        info["init_method"] = method
    with _threads(n_threads):
        state, x0, _, e0 = start_block(job, sampler, 0, n, info)
        coef = np.zeros((n, gain.shape[2]))
        k = 0
        outcomes, measured = [], []
        for m, p in enumerate(plan):
            _advance(stepper, state, coef, k, p["step"], job)
            k = p["step"]
            x_m = state.x.copy()
            cx = x_m @ p["observe"].T
            xi = _rng.normals(measurement_seed(job.seed, m), n, cx.shape[1])
            y = cx + p["sigma"] * xi
            coef[:, p["cols"]] = _coefficients(p, y, n)
            outcomes.append(y)
            measured.append(x_m)
        _advance(stepper, state, coef, k, N, job)
    terms = np.empty((n, len(plan)))
    bias = np.zeros(len(plan))
    methods = []
    for m, p in enumerate(plan):
        y, cx = outcomes[m], measured[m] @ p["observe"].T
        logp, bias[m], how = log_marginal(p["marginal"], y, cx, p["sigma"], p["observe"],
                                          outcomes[:m])
        terms[:, m] = log_likelihood(y, cx, p["sigma"]) - logp
        methods.append(how)
    info["wall_time_s"] = time.perf_counter() - t_start
    controls = stepper.controls(coef, N)
    return FeedbackRun(
        work=state.work, heat=state.heat, path_work=state.path_work, x=state.x,
        initial_energy=e0, final_energy=state.u, controls=controls,
        n_accepted=state.n_accepted, outcomes=tuple(outcomes), measured=tuple(measured),
        steps=tuple(p["step"] for p in plan), information=terms.sum(axis=1),
        information_terms=terms, information_bias=bias, information_method=tuple(methods),
        beta=job.beta, seed=job.seed, n_steps=N, integrator=integrator,
        system_name=system.name, info=info)


def _plan(job, measurements):
    """The validated measurements in step order, each with its gain schedule and the
    columns of the coefficient array it fills."""
    if isinstance(measurements, Measurement):
        measurements = [measurements]
    try:
        measurements = list(measurements)
    except TypeError:
        raise TypeError("measurements must be an nq.Measurement or a list of them") from None
    if not measurements or not all(isinstance(m, Measurement) for m in measurements):
        raise TypeError("measurements must be an nq.Measurement or a non-empty list of them")
    system, N, dt = job.system, job.n_steps, job.integrator.dt
    resolved = []
    for i, meas in enumerate(measurements):
        step, c_mat, sigma = meas.resolve(i, system.dim, system.n_controls, N, dt)
        resolved.append((step, i, meas, c_mat, sigma))
    steps = [r[0] for r in resolved]
    if len(set(steps)) != len(steps):
        raise ValueError(f"two measurements at the same step ({sorted(steps)}): merge them "
                         "into one with more observed components (observe=)")
    if steps != sorted(steps):
        raise ValueError(f"measurements must be listed in time order, got steps {steps}")
    plan, col = [], 0
    for step, i, meas, c_mat, sigma in resolved:
        name = f"measurement {i}"
        if meas.controller is None:
            n_coef = c_mat.shape[0]
        else:
            g = np.asarray(meas.gain, dtype=np.float64)
            n_coef = system.n_controls if g.ndim == 0 else 1 if g.ndim == 1 else g.shape[-1]
        gain = meas.gain_schedule(name, step, system.n_controls, n_coef, N)
        marginal = meas.marginal or ("sample" if i == 0 else "gaussian")
        plan.append({"step": step, "observe": c_mat, "sigma": sigma, "gain": gain,
                     "cols": slice(col, col + n_coef), "n_coef": n_coef,
                     "controller": meas.controller, "marginal": marginal, "name": name})
        col += n_coef
    return plan


def _coefficients(p, y, n):
    if p["controller"] is None:
        return y
    c = np.asarray(p["controller"](y.copy()), dtype=np.float64)
    if c.ndim == 1 and p["n_coef"] == 1:
        c = c[:, None]
    if c.shape != (n, p["n_coef"]):
        raise ValueError(f"{p['name']}: the controller must return an ({n}, {p['n_coef']}) "
                         f"array (one row of coefficients per trajectory, as many as the "
                         f"gain's columns), got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{p['name']}: the controller returned NaN or inf")
    return c


def _advance(stepper, state, coef, k0, k1, job):
    if k1 <= k0:
        return
    stepper.advance(state, coef, k0, k1)
    bad = np.nonzero(state.failed_step >= 0)[0]
    if bad.size:
        raise IntegrationError(
            f"{job.system.name} with {job.integrator!r} under feedback: energy became NaN/inf "
            f"in {bad.size} trajector{'y' if bad.size == 1 else 'ies'} (first: "
            f"{bad[:5].tolist()} at step {state.failed_step[bad[:5]].tolist()}); reduce dt, "
            "the gains, or check the potential", bad, state.failed_step[bad])
