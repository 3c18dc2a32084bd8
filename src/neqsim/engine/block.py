"""One block of trajectories: its initial state, its blow-up check, its final results.

Shared by the single-process driver and the executors' workers, so both compute every
block by the same code (and hence the same bits).
"""
from __future__ import annotations

import math

import numpy as np

from .._numba import rng as _rng
from ..dynamics.base import KernelState
from . import initial_kernel

__all__ = ["IntegrationError", "blowup_error", "start_block", "finals", "announce_compiles",
           "announce_compiles_for"]


class IntegrationError(FloatingPointError):
    """Some trajectories' energies became NaN/inf (blow-up or a bad potential)."""

    def __init__(self, message, trajectories, steps):
        super().__init__(message)
        self.trajectories = trajectories
        self.steps = steps


def announce_compiles(job, advance):
    """One line on stderr when the kernels of this run are not compiled yet (a new
    potential or integrator: a few seconds, once; cached on disk afterwards)."""
    announce_compiles_for(job.system, type(job.integrator).__name__, advance)


def announce_compiles_for(system, integrator_name, advance):
    kernels = [getattr(advance, "kernel", None), system.evaluator()]
    if any(getattr(k, "will_compile", False) for k in kernels):
        import sys
        print(f"neqsim: compiling kernels for {system.name}/{integrator_name} (first use, "
              "cached afterwards)...", file=sys.stderr, flush=True)


def blowup_error(job, failed, a):
    """The IntegrationError for a block whose chains a.. have failed steps (on_failure
    "raise"), or None."""
    if job.on_failure != "raise" or not np.any(failed >= 0):
        return None
    idx = np.nonzero(failed >= 0)[0]
    return IntegrationError(
        f"{job.system.name} with {job.integrator!r}: energy became NaN/inf in {idx.size} "
        f"trajector{'y' if idx.size == 1 else 'ies'} (first: trajectory "
        f"{(idx[:5] + a).tolist()} at step {failed[idx[:5]].tolist()}); reduce dt or "
        "check the potential. Pass on_failure='nan' to keep the healthy trajectories.",
        idx + a, failed[idx])


def start_block(job, sampler, a, b, info):
    """Initial KernelState of trajectories a..b-1, drawn from their own streams in order,
    and the initial positions, velocities and energies (x0, v0, e0)."""
    system, integ, n, dim = job.system, job.integrator, b - a, job.system.dim
    rng = _rng.make_states(job.seed, n, first=a)
    if sampler is None:
        x = job.init_x0[a:b].copy()
    else:
        x = sampler(rng, a, n, info)
    v = None
    if job.underdamped:
        if job.init_v0 is not None:
            v = job.init_v0[a:b].copy()
        else:
            v = np.empty((n, dim))
            sd = np.full(dim, 1.0 / math.sqrt(job.beta * integ.mass))
            initial_kernel.init_gaussian(rng, np.zeros(dim), sd, v)
    u, _ = system.evaluate(x, job.protocol.values[0])
    bad = ~np.isfinite(u)
    if np.any(bad):
        raise IntegrationError(
            f"{system.name}: initial energy is not finite for trajectories "
            f"{(np.nonzero(bad)[0][:10] + a).tolist()}", np.nonzero(bad)[0] + a,
            np.zeros(int(bad.sum()), dtype=np.int64))
    kin = 0.5 * integ.mass * np.sum(v * v, axis=1) if v is not None else 0.0
    return KernelState.start(x, u, rng, v), x, v, u + kin


def finals(job, state, e0):
    """Per-trajectory results of a finished block, as the sinks store them (NaN work,
    heat and energies for failed trajectories)."""
    kin = 0.5 * job.integrator.mass * np.sum(state.v ** 2, axis=1) if job.underdamped \
        else 0.0
    failed = state.failed_step >= 0
    out = {"work": state.work, "heat": state.heat, "path_work": state.path_work,
           "final_energy": state.u + kin, "x": state.x, "n_accepted": state.n_accepted,
           "failed_step": state.failed_step}
    if job.underdamped:
        out["shadow_work"] = state.shadow_work
        out["v"] = state.v
    else:
        out["shadow_work"] = np.zeros_like(state.work)
    if np.any(failed):
        for key in ("work", "heat", "path_work", "final_energy", "shadow_work"):
            out[key] = np.where(failed, np.nan, out[key])
    return out
