"""``simulate``: validate inputs, then drive the kernels chunk by chunk in Python."""
from __future__ import annotations

import math
import secrets
import time

import numba
import numpy as np

from . import _kernels, _rng
from .initial import sample_positions
from .integrators import EulerMaruyama, Integrator, Langevin
from .protocols import as_protocol
from .run import Run
from .systems import System

__all__ = ["simulate", "IntegrationError"]

SPECIALIZE_ABOVE = 2 * 10**9  # particle-steps; below, the ~8 s compile costs more than it saves


class IntegrationError(FloatingPointError):
    """Some trajectories' energies became NaN/inf (blow-up or a bad potential)."""

    def __init__(self, message, trajectories, steps):
        super().__init__(message)
        self.trajectories = trajectories
        self.steps = steps


def _check_int(name, value, minimum):
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _initial_arrays(init, n_traj, dim, underdamped):
    """User-supplied initial state: x, or (x, v) for underdamped integrators."""
    if isinstance(init, tuple):
        if len(init) != 2:
            raise ValueError("init=(x0, v0) must be a pair of arrays")
        x0, v0 = init
    else:
        x0, v0 = init, None
    x0 = np.array(x0, dtype=np.float64)
    if x0.ndim == 1 and dim == 1:
        x0 = x0[:, None]
    if x0.shape != (n_traj, dim):
        raise ValueError(f"initial positions must have shape ({n_traj}, {dim}), got {x0.shape}")
    if not np.all(np.isfinite(x0)):
        raise ValueError("initial positions contain NaN or inf")
    if v0 is not None:
        if not underdamped:
            raise ValueError("initial velocities were given to an overdamped integrator")
        v0 = np.array(v0, dtype=np.float64)
        if v0.ndim == 1 and dim == 1:
            v0 = v0[:, None]
        if v0.shape != (n_traj, dim) or not np.all(np.isfinite(v0)):
            raise ValueError(f"initial velocities must be a finite ({n_traj}, {dim}) array")
    return x0, v0


def simulate(system, protocol, integrator, n_traj, *, beta=1.0, seed=None,
             init="equilibrium", record_every=0, record_positions=False,
             chunk_steps=None, chunk_traj=None, n_threads=None, on_failure="raise",
             specialize=None):
    """Drive ``n_traj`` independent trajectories of ``system`` through ``protocol``.

    Each step k = 1..N switches lam_{k-1} -> lam_k at fixed state (work
    w_k = U(x_{k-1}, lam_k) - U(x_{k-1}, lam_{k-1})) and applies one step of
    ``integrator`` targeting pi_{lam_k}. Returns a :class:`Run` with per-trajectory W, Q,
    shadow work, path work and final state.

    Parameters
    ----------
    system : :class:`neqsim.System`
    protocol : :class:`neqsim.Protocol` or (N+1, n_controls) array
    integrator : an :mod:`neqsim.integrators` instance
    n_traj : number of trajectories (> 0)
    beta : inverse temperature 1/kT (> 0)
    seed : integer in [0, 2^64); trajectory i's noise depends only on (seed, i). None
        draws a fresh seed, stored in ``Run.seed``.
    init : "equilibrium" (exact where possible, see :mod:`neqsim.initial`),
        ``Equilibrate(...)``, or initial arrays x0 / (x0, v0).
    record_every : record cumulative W, Q (and x if ``record_positions``) every that many
        steps (0: no traces).
    chunk_steps, chunk_traj : work in blocks of steps / trajectories; results are
        bit-identical for any choice.
    n_threads : numba threads for this call (default: numba's current setting); results
        do not depend on it.
    on_failure : "raise" (default) raises :class:`IntegrationError` naming the
        trajectories and steps whose energy became NaN/inf; "nan" marks them in
        ``Run.failed`` with NaN work/heat and carries on.
    specialize : compile the kernel with the potential inlined (~1.6x faster per step for
        cheap potentials, but a few seconds of compilation once per process and system).
        None (default) does so when the run has at least SPECIALIZE_ABOVE particle-steps.
        The arithmetic is the same, so results are bit-identical either way (tested).
    """
    if not isinstance(system, System):
        raise TypeError(f"system must be a neqsim System, got {type(system).__name__}")
    if not isinstance(integrator, Integrator):
        raise TypeError(f"integrator must be a neqsim integrator, got {type(integrator).__name__}")
    protocol = as_protocol(protocol)
    if protocol.n_controls != system.n_controls:
        raise ValueError(f"{system.name} takes {system.n_controls} control(s) "
                         f"{system.control_names}, but the protocol has {protocol.n_controls}")
    n_traj = _check_int("n_traj", n_traj, 1)
    beta = float(beta)
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    if seed is None:
        seed = secrets.randbits(63)
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed}")
    record_every = _check_int("record_every", record_every, 0)
    if on_failure not in ("raise", "nan"):
        raise ValueError(f"on_failure must be 'raise' or 'nan', got {on_failure!r}")
    N = protocol.n_steps
    chunk_steps = N if chunk_steps is None else _check_int("chunk_steps", chunk_steps, 1)
    chunk_traj = n_traj if chunk_traj is None else _check_int("chunk_traj", chunk_traj, 1)
    underdamped = isinstance(integrator, Langevin)
    dim = system.dim
    if specialize is None:
        specialize = n_traj * protocol.n_steps * dim >= SPECIALIZE_ABOVE
    kern = _kernels.kernel("splitting" if underdamped else "overdamped", bool(specialize), dim,
                           integrator.ops if underdamped else None)
    user_init = None if isinstance(init, str) or not isinstance(init, (np.ndarray, list, tuple)) \
        else _initial_arrays(init, n_traj, dim, underdamped)

    lam = protocol.values.copy()  # kernels take writable arrays (one signature)
    n_rec = N // record_every + 1 if record_every else 0
    rec_x_dim = dim if (record_every and record_positions) else 0

    out = {k: np.zeros(n_traj) for k in ("W", "Q", "S", "P", "E0", "E1")}
    x0_all = np.empty((n_traj, dim))
    x_all = np.empty((n_traj, dim))
    v_all = np.empty((n_traj, dim)) if underdamped else None
    v0_all = np.empty((n_traj, dim)) if underdamped else None
    nacc_all = np.zeros(n_traj, dtype=np.int64)
    failed_all = np.full(n_traj, -1, dtype=np.int64)
    rec_W = np.zeros((n_traj, n_rec))
    rec_Q = np.zeros((n_traj, n_rec))
    rec_x = np.zeros((n_traj, n_rec, rec_x_dim))
    info = {"chunk_steps": chunk_steps, "chunk_traj": chunk_traj,
            "specialized": bool(specialize)}

    old_threads = numba.get_num_threads()
    if n_threads is not None:
        numba.set_num_threads(_check_int("n_threads", n_threads, 1))
    t_start = time.perf_counter()
    try:
        for a in range(0, n_traj, chunk_traj):
            b = min(a + chunk_traj, n_traj)
            sl = slice(a, b)
            n = b - a
            rng = _rng.make_states(seed, n, first=a)
            if user_init is None:
                x = sample_positions(system, lam[0], beta, init, rng, n, info)
            else:
                x = user_init[0][sl].copy()
            x0_all[sl] = x
            if underdamped:
                if user_init is not None and user_init[1] is not None:
                    v = user_init[1][sl].copy()
                else:
                    v = np.empty((n, dim))
                    sd = np.full(dim, 1.0 / math.sqrt(beta * integrator.mass))
                    _kernels.init_gaussian(rng, np.zeros(dim), sd, v)
            if underdamped:
                v0_all[sl] = v
            u, _ = _energies(system, x, lam[0])
            kin0 = 0.5 * integrator.mass * np.sum(v * v, axis=1) if underdamped else 0.0
            out["E0"][sl] = u + kin0
            bad0 = ~np.isfinite(u)
            if np.any(bad0):
                raise IntegrationError(
                    f"{system.name}: initial energy is not finite for trajectories "
                    f"{(np.nonzero(bad0)[0][:10] + a).tolist()}", np.nonzero(bad0)[0] + a,
                    np.zeros(int(bad0.sum()), dtype=np.int64))
            W = np.zeros(n)
            Q = np.zeros(n)
            S = np.zeros(n)
            P = np.zeros(n)
            nacc = np.zeros(n, dtype=np.int64)
            failed = np.full(n, -1, dtype=np.int64)
            rW, rQ, rx = rec_W[sl], rec_Q[sl], rec_x[sl]
            if record_every and rec_x_dim:
                rx[:, 0, :] = x
            for k0 in range(0, N, chunk_steps):
                k1 = min(k0 + chunk_steps, N)
                if underdamped:
                    c1, c2 = integrator.coefficients(beta)
                    kern(system.kernel_function, lam, k0, k1, integrator.ops,
                                             c1, c2, beta, integrator.mass, x, v, u, rng,
                                             W, Q, S, P, nacc, failed, record_every, 0,
                                             rW, rQ, rx)
                else:
                    kern(system.kernel_function, lam, k0, k1,
                                              bool(integrator.metropolized), beta,
                                              integrator.dt, integrator.gamma, x, u, rng,
                                              W, Q, P, nacc, failed, record_every, 0,
                                              rW, rQ, rx)
                if np.any(failed >= 0) and on_failure == "raise":
                    idx = np.nonzero(failed >= 0)[0]
                    raise IntegrationError(
                        f"{system.name} with {integrator!r}: energy became NaN/inf in "
                        f"{idx.size} trajector{'y' if idx.size == 1 else 'ies'} "
                        f"(first: trajectory {(idx[:5] + a).tolist()} at step "
                        f"{failed[idx[:5]].tolist()}); reduce dt or check the potential. "
                        "Pass on_failure='nan' to keep the healthy trajectories.",
                        idx + a, failed[idx])
            kin1 = 0.5 * integrator.mass * np.sum(v * v, axis=1) if underdamped else 0.0
            out["E1"][sl] = u + kin1
            for key, arr in (("W", W), ("Q", Q), ("S", S), ("P", P)):
                out[key][sl] = arr
            x_all[sl] = x
            if underdamped:
                v_all[sl] = v
            nacc_all[sl] = nacc
            failed_all[sl] = failed
    finally:
        if n_threads is not None:
            numba.set_num_threads(old_threads)
    info["wall_time_s"] = time.perf_counter() - t_start

    failed_mask = failed_all >= 0
    if np.any(failed_mask):
        for key in ("W", "Q", "S", "P", "E1"):
            out[key][failed_mask] = np.nan
        info["failed_steps"] = failed_all[failed_mask]
    acceptance = None
    if getattr(integrator, "metropolized", False):
        acceptance = nacc_all / N
    elif underdamped:
        n_blocks = int(np.count_nonzero(integrator.ops == 3))
        if n_blocks:
            acceptance = nacc_all / (N * n_blocks)
    trace = None
    if record_every:
        steps = np.arange(n_rec) * record_every
        trace = {"step": steps, "time": steps * integrator.dt, "lam": lam[steps],
                 "work": rec_W, "heat": rec_Q}
        if rec_x_dim:
            trace["x"] = rec_x
    return Run(work=out["W"], heat=out["Q"], shadow_work=out["S"] if underdamped else None,
               path_work=out["P"], initial_energy=out["E0"], final_energy=out["E1"],
               x0=x0_all, x=x_all, v0=v0_all, v=v_all, acceptance=acceptance, failed=failed_mask,
               trace=trace, protocol=protocol, integrator=integrator, system=system,
               beta=beta, seed=seed, info=info)


def _energies(system, x, lam):
    from ._functions import evaluate
    return evaluate(system.kernel_function, x, lam)
