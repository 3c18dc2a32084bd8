"""The result of a simulation, :class:`Run`: per-trajectory energy bookkeeping plus what
produced it, from memory or (lazily) from a run file."""
from __future__ import annotations

import numpy as np

__all__ = ["Run"]


class Run:
    """Per-trajectory results of :func:`neqsim.simulate` (signs as in docs/physics.md).

    Attributes
    ----------
    work : (n_traj,) protocol work W = sum_k [U(x_{k-1}, lam_k) - U(x_{k-1}, lam_{k-1})],
        done ON the system.
    heat : (n_traj,) heat Q absorbed BY the system from the bath.
    shadow_work : (n_traj,) energy change in deterministic V/R sub-steps (underdamped
        integrators), else None.
    path_work : (n_traj,) W_path, for which <exp(-beta W_path)> = exp(-beta dF) is exact
        at any time step (equal to ``work`` for Metropolized kernels).
    initial_energy, final_energy : E = U (+ kinetic) at the start and end; per trajectory
        ``final_energy - initial_energy == work + heat (+ shadow_work)`` to round-off.
    x0, x : initial and final positions (n_traj, dim).
    v0, v : initial and final velocities (underdamped integrators), else None.
    acceptance : (n_traj,) acceptance rate of Metropolized kernels, else None.
    failed : (n_traj,) bool mask of trajectories whose energy became non-finite (only
        with ``on_failure="nan"``; their W/Q are NaN), else all False.
    trace : dict of recorded time series (``record_every`` > 0): "step", "time", "lam",
        "work", "heat" (cumulative, (n_traj, n_rec)) and "x" if positions were recorded.
    protocol, integrator, system, beta, seed, n_traj, info : what produced the run.
        ``system`` is None for a run read from a file written with a user-defined
        potential (unless passed to :func:`neqsim.open_run`); its name is ``system_name``.
    init : how the initial states were made, as stored in the run file: a dict with
        ``kind`` "equilibrium" (exact draws), "equilibrate" or "arrays" (given states,
        with ``source`` "snapshots", ``thin`` and ``skip`` when they came from
        :class:`neqsim.Snapshots`); the analysis uses it to decide whether the trajectory
        order may carry time (:func:`neqsim.analysis.starts_ordered`).
    path : the run file, if the run was written to / read from one, else None.
    complete : False for a file whose run was interrupted (only the committed
        trajectories, a prefix 0..n_traj-1 of the requested ones, are present).

    A run read from a file loads each array on first access.
    """
    path = None
    complete = True
    init = None

    def __init__(self, *, work, heat, shadow_work, path_work, initial_energy, final_energy,
                 x0, x, v0, v, acceptance, failed, trace, protocol, integrator, system, beta,
                 seed, info, init=None):
        self.work = work
        self.heat = heat
        self.shadow_work = shadow_work
        self.path_work = path_work
        self.initial_energy = initial_energy
        self.final_energy = final_energy
        self.x0 = x0
        self.x = x
        self.v0 = v0
        self.v = v
        self.acceptance = acceptance
        self.failed = failed
        self.trace = trace
        self.protocol = protocol
        self.integrator = integrator
        self.system = system
        self.beta = float(beta)
        self.seed = seed
        self.info = info
        self.init = init
        self.system_name = system.name if system is not None else None

    @classmethod
    def _lazy(cls, loaders, *, n_traj, **meta):
        """A run whose arrays are produced by ``loaders[name]()`` on first access."""
        run = cls.__new__(cls)
        run.__dict__.update(meta)
        run._loaders = dict(loaders)
        run._n_traj = int(n_traj)
        return run

    def __getattr__(self, name):
        loaders = self.__dict__.get("_loaders")
        if loaders is not None and name in loaders:
            value = loaders.pop(name)()
            setattr(self, name, value)
            return value
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    @property
    def n_traj(self):
        n = self.__dict__.get("_n_traj")
        return n if n is not None else self.work.shape[0]

    @property
    def kT(self):
        return 1.0 / self.beta

    @property
    def n_failed(self):
        return int(np.count_nonzero(self.failed))

    def first_law_residual(self):
        """E_N - E_0 - (W + Q + W_shadow) per trajectory; zero up to round-off."""
        total = self.work + self.heat
        if self.shadow_work is not None:
            total = total + self.shadow_work
        return self.final_energy - self.initial_energy - total

    def __repr__(self):
        ok = self.failed is None or not np.any(self.failed)
        return (f"Run({self.system_name}, {self.integrator!r}, n_traj={self.n_traj}, "
                f"n_steps={self.protocol.n_steps}, beta={self.beta}, seed={self.seed}, "
                f"<W>={np.nanmean(self.work):.6g}"
                + ("" if ok else f", failed={self.n_failed}")
                + (f", file={self.path!r}" if self.path else "")
                + ("" if self.complete else ", INCOMPLETE") + ")")
