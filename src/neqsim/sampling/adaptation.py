"""Adaptation on pilot chains, never on the reported ones: AIS step sizes per temperature
and schedules at equal thermodynamic length. (Adapting on the chains whose weights are
averaged makes the weights depend on their own noise and biases log Z.)"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._numba import rng as _rng
from ..dynamics.base import KernelState, TraceBuffers
from ..engine.block import announce_compiles_for
from ..engine.progress import progress_bar
from ..protocols import schedules as _schedules
from ..protocols.schedules import Adaptive

__all__ = ["adapt", "PILOT_SEED_OFFSET"]

PILOT_SEED_OFFSET = 0x9E3779B97F4A7C15  # pilot chains never share streams with the run


def adapt(system, proto, kernel, x, seed, iters, n_threads, progress=None):
    """Adapt the schedule (thermodynamic length) and/or the step sizes on pilot chains.

    Temperatures are visited in order; at each, ``iters`` kernel calls run on the pilot
    chains and log(step) moves by 2 (acceptance - target) after each, so a temperature
    starts from its predecessor's step size. With an adaptive schedule the pilot runs on a
    fine linear grid, the variance of d log f_t / dt = -dU/dt is measured there, the
    schedule is placed at equal thermodynamic length, and step sizes are interpolated."""
    n, dim = x.shape
    adaptive_schedule = isinstance(proto, Adaptive)
    grid = _schedules.linear(proto.grid) if adaptive_schedule else proto
    lam = grid.values.copy()
    n_pts = lam.shape[0]
    # "adapt" is the only string a kernel accepts (an array compared with it is
    # elementwise, and ambiguous as a condition)
    given = kernel.step_size if isinstance(kernel.step_size, np.ndarray) else None
    if isinstance(kernel.step_size, str):
        eps = np.full(n_pts, kernel.default_step_size)
        adapt = True
    else:
        eps = kernel.step_sizes(n_pts).copy() if not adaptive_schedule else \
            np.full(n_pts, kernel.step_sizes(2)[0] if not isinstance(kernel.step_size,
                                                                     np.ndarray)
                    else float(np.median(kernel.step_size)))
        adapt = False
    k_tmp = kernel.with_step_sizes(eps)
    eps = k_tmp.step_size  # the stepper reads this very array: adapt it in place
    u, _ = system.evaluate(x, lam[0])
    state = KernelState.start(x, u, _rng.make_states((seed ^ PILOT_SEED_OFFSET) % 2**64, n))
    no_trace = TraceBuffers.empty(n, 0, 0)
    acc_by_t = np.full(n_pts, np.nan)
    var_by_t = np.zeros(n_pts)
    old_threads = numba.get_num_threads()
    if n_threads:
        numba.set_num_threads(int(n_threads))
    bar = progress_bar(progress, n_pts - 1, 0, "AIS pilot", unit="temperatures")
    try:
        advance = k_tmp.stepper(system, lam, 1.0, 0)
        if progress is not False:
            announce_compiles_for(system, type(kernel).__name__, advance)
        for k in range(1, n_pts):
            bar.advance(1)
            if adapt:
                eps[k] = eps[k - 1]
            if adaptive_schedule:
                # -dU/dt at t_k over the chains: the spread of the work increments
                w_before = state.work.copy()
            for it in range(iters if adapt else 1):
                info = advance(state, k - 1, k, no_trace)
                if adaptive_schedule and it == 0:
                    dt = lam[k, 0] - lam[k - 1, 0]
                    inc = (state.work - w_before)[np.isfinite(state.work)]
                    var_by_t[k - 1] = float(np.var(inc / dt)) if dt > 0 and inc.size > 1 \
                        else 0.0
                acc = (info.n_accepted / n) / kernel.n_moves  # = mean over chains, as 0.1.0
                acc_by_t[k] = acc
                if adapt:
                    eps[k] = float(np.clip(eps[k] * math.exp(2.0 * (acc - kernel.target_acceptance)),
                                           1e-8, 1e8))
    finally:
        bar.close()
        numba.set_num_threads(old_threads)
    if np.any(state.failed_step >= 0):
        raise FloatingPointError("pilot chains hit NaN/-inf energies; check the log densities")
    eps[0] = eps[1] if n_pts > 1 else eps[0]
    info = {"n_pilot": n, "acceptance": acc_by_t, "step_sizes_grid": eps.copy(),
            "t_grid": lam[:, 0].copy()}
    if adaptive_schedule:
        var_by_t[-1] = var_by_t[-2]
        new, length = _schedules.thermodynamic_length(lam[:, 0], var_by_t, proto.n_steps)
        info.update(thermodynamic_length=length, variance_grid=var_by_t)
        if given is not None:  # the user's per-temperature steps, for the new schedule
            return new, kernel, info
        t_new = new.values[:, 0]
        eps_new = np.interp(t_new, lam[:, 0], eps)
        return new, kernel.with_step_sizes(eps_new), info
    return proto, kernel.with_step_sizes(eps), info
