"""Initial conditions: exact equilibrium at lam_0 where possible, else equilibration.

``init="equilibrium"`` (the default) samples x_0 ~ pi_{lam_0} by, in order of preference:
1. the system's exact sampler (Gaussian for harmonic traps);
2. for one-dimensional systems, the numerical inverse CDF of exp(-beta U) on a fine grid
   (range found automatically; the residual bias is below 1e-8 in the moments);
3. otherwise an :class:`Equilibrate` phase must be asked for explicitly.
Velocities of underdamped integrators are exact Maxwell-Boltzmann draws.
All draws come from each trajectory's own stream, so they are reproducible.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..dynamics.base import KernelState, TraceBuffers
from ..dynamics.overdamped import MALA
from ..exact.quadrature import grid_density
from ..systems.system import Gaussian
from . import initial_kernel

__all__ = ["Equilibrate", "Snapshots", "StartDensity", "make_sampler"]


@dataclass(frozen=True)
class Equilibrate:
    """Start from ``start`` (an (n_traj, dim) array, or a single configuration) and run
    ``n_steps`` MALA steps at lam_0 with time step ``dt`` (mobility 1). MALA leaves
    pi_{lam_0} invariant, so the result is exact in the limit of many steps; how many
    are enough is the user's call (check the acceptance rate in ``Run.info``)."""
    n_steps: int
    dt: float
    start: object = 0.0

    def __post_init__(self):
        if int(self.n_steps) != self.n_steps or self.n_steps < 1:
            raise ValueError(f"Equilibrate.n_steps must be a positive integer, got {self.n_steps!r}")
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"Equilibrate.dt must be > 0, got {self.dt!r}")


@dataclass(frozen=True)
class Snapshots:
    """Initial positions from consecutive frames of one equilibrium trajectory: the
    standard switching workflow (equilibrate once, start a switch from every snapshot).

    ``frames``: an (n_frames, dim) array (or (n_frames,) for dim 1), or a
    :class:`neqsim.Run` / run file recorded with ``record_positions=True`` (the frames
    of its trajectory ``trajectory``, e.g. a long run under
    ``nq.protocols.hold(lam_0, ...)``). Trajectory i starts from frame
    ``skip + i * thin``: ``skip`` drops the burn-in, ``thin`` the frames in between.
    Consecutive snapshots are correlated; the analysis knows the order carries time
    and widens its error bars by the statistical inefficiency it measures
    (docs/analysis.md), so thinning is for cost, not for correctness.
    """
    frames: object
    thin: int = 1
    skip: int = 0
    trajectory: int = 0

    def __post_init__(self):
        for name, lo in (("thin", 1), ("skip", 0), ("trajectory", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"Snapshots.{name} must be an integer >= {lo}, got {v!r}")

    def _frames(self, dim):
        import os
        from ..storage.result import Run
        src = self.frames
        if isinstance(src, (str, os.PathLike)):
            from ..storage.runfile import open_run
            src = open_run(src)
        if isinstance(src, Run):
            trace = src.trace
            if trace is None or "x" not in trace:
                raise ValueError("Snapshots: the run has no recorded positions; simulate "
                                 "it with record_every > 0 and record_positions=True")
            if self.trajectory >= src.n_traj:
                raise ValueError(f"Snapshots.trajectory={self.trajectory}, but the run has "
                                 f"{src.n_traj} trajectories")
            return np.asarray(trace["x"][self.trajectory], dtype=np.float64)
        a = np.asarray(src, dtype=np.float64)
        if a.ndim == 1 and dim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[1] != dim:
            raise ValueError(f"Snapshots: frames must have shape (n_frames, {dim}), got "
                             f"{np.shape(src)}")
        return a

    def positions(self, n_traj, dim):
        """The (n_traj, dim) initial positions: frames skip, skip + thin, ..."""
        a = self._frames(dim)
        chosen = a[self.skip::self.thin][:n_traj]
        if chosen.shape[0] < n_traj:
            have = max(0, -(-(a.shape[0] - self.skip) // self.thin))
            raise ValueError(f"Snapshots: {a.shape[0]} frames give {have} after "
                             f"skip={self.skip}, thin={self.thin}, but n_traj={n_traj} "
                             "needs one each: record more frames, thin less, or run fewer "
                             "trajectories")
        if not np.all(np.isfinite(chosen)):
            raise ValueError("Snapshots: the chosen frames contain NaN or inf")
        return np.ascontiguousarray(chosen)

    def spec(self, n_frames_total=None):
        return {"source": "snapshots", "thin": int(self.thin), "skip": int(self.skip)}


# the initial-density draws use their own stream, never one of the trajectories'
_START_STREAM = 0x5747A27


@dataclass(frozen=True, eq=False)
class StartDensity:
    """Start the protocol from a chosen density p_0 instead of pi_{lam_0}.

    ``draw(rng, n)`` returns an (n, dim) array (or (n,) for dim 1) of independent draws
    from p_0, using the NumPy ``rng`` it is given (a ``numpy.random.Generator`` seeded from
    the run's seed alone, so the same seed gives the same starts whatever the blocks,
    threads or workers). The draws are stored in the run file as its initial arrays, so a
    resumed run continues from the same starts.

    ``log_density(x)`` (optional, vectorized over an (n, dim) array): ln p_0(x),
    normalized; with it :func:`neqsim.analysis.entropy_production` estimates S(p_0) as
    -<ln p_0(x_0)> instead of by nearest neighbours. ``entropy`` (optional): S(p_0) in
    nats, exact. ``name``: recorded in the run file.

    ``StartDensity.gaussian(mean, std)`` is the Gaussian N(mean, diag(std^2)) with its
    exact log density and entropy sum_j ln(std_j sqrt(2 pi e)).
    """
    draw: object
    log_density: object = None
    entropy: float | None = None
    name: str = "custom"

    def __post_init__(self):
        if not callable(self.draw):
            raise TypeError("StartDensity.draw must be a function (rng, n) -> (n, dim) array")
        if self.log_density is not None and not callable(self.log_density):
            raise TypeError("StartDensity.log_density must be a function x -> ln p_0(x)")
        if self.entropy is not None and not math.isfinite(float(self.entropy)):
            raise ValueError(f"StartDensity.entropy must be finite, got {self.entropy!r}")

    @classmethod
    def gaussian(cls, mean, std):
        mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        std = np.broadcast_to(np.atleast_1d(np.asarray(std, dtype=np.float64)), mean.shape)
        if not (np.all(np.isfinite(mean)) and np.all(std > 0) and np.all(np.isfinite(std))):
            raise ValueError(f"StartDensity.gaussian needs a finite mean and std > 0, got "
                             f"mean={mean.tolist()}, std={std.tolist()}")
        mean, std = mean.copy(), std.copy()

        def draw(rng, n):
            return mean + std * rng.standard_normal((n, mean.size))

        def log_density(x):
            z = (np.asarray(x, dtype=np.float64).reshape(-1, mean.size) - mean) / std
            return -0.5 * (z * z).sum(axis=1) - np.log(std * math.sqrt(2 * math.pi)).sum()
        s = float(np.log(std * math.sqrt(2 * math.pi * math.e)).sum())
        return cls(draw, log_density, s,
                   f"gaussian(mean={mean.tolist()}, std={std.tolist()})")

    def positions(self, n_traj, dim, seed):
        """The (n_traj, dim) starts, drawn from ``seed``'s own NumPy stream."""
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
            [int(seed), _START_STREAM])))
        x = np.asarray(self.draw(rng, int(n_traj)), dtype=np.float64)
        if x.ndim == 1 and dim == 1:
            x = x[:, None]
        if x.shape != (n_traj, dim):
            raise ValueError(f"StartDensity.draw(rng, {n_traj}) must return an ({n_traj}, "
                             f"{dim}) array, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("StartDensity.draw returned NaN or inf")
        return np.ascontiguousarray(x)

    def spec(self):
        return {"source": "density", "name": str(self.name)}


def make_sampler(system, lam0, beta, init):
    """Prepare the x_0 sampler once per run: returns ``(sample, method)`` where
    ``sample(rng, first, n, info)`` draws the positions of trajectories first..first+n-1
    from the rows of ``rng`` (each row's
    stream consumed in order, so any blocking of trajectories gives the same draws) and
    ``method`` names how ("exact_gaussian", "inverse_cdf" or "equilibrate_mala")."""
    dim = system.dim
    lam0 = np.ascontiguousarray(lam0, dtype=np.float64)
    if isinstance(init, str):
        if init != "equilibrium":
            raise ValueError(f"init must be 'equilibrium', an Equilibrate(...), or an array; "
                             f"got {init!r}")
        custom = system.exact_sampler(lam0, beta) if system.exact_sampler else None
        if custom is not None:
            def sample(rng, first, n, info):
                return np.ascontiguousarray(custom(rng, first, n), dtype=np.float64)
            return sample, "exact_custom"
        exact = system.exact_equilibrium(lam0, beta)
        if isinstance(exact, Gaussian):
            mean = np.ascontiguousarray(exact.mean, dtype=np.float64)
            std = np.ascontiguousarray(exact.std, dtype=np.float64)

            def sample(rng, first, n, info):
                out = np.empty((n, dim))
                initial_kernel.init_gaussian(rng, mean, std, out)
                return out
            return sample, "exact_gaussian"
        if dim == 1:
            grid, logp, _ = grid_density(system, lam0, beta)
            p = np.exp(logp)
            cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(grid))])

            def sample(rng, first, n, info):
                out = np.empty((n, dim))
                initial_kernel.init_inverse_cdf(rng, grid, cdf, out)
                return out
            return sample, "inverse_cdf"
        if getattr(system, "discrete", False):
            raise ValueError(
                f"{system.name} has an exact equilibrium sampler only at J = 0; start the "
                "protocol at J = 0, or pass an (n_traj, n_sites) array of +-1 spins (e.g. "
                "the final x of a SpinFlip run under nq.protocols.hold at lam_0)")
        raise ValueError(
            f"{system.name} (dim={dim}) has no exact equilibrium sampler at lam_0; pass "
            "init=nq.Equilibrate(n_steps=..., dt=...) to equilibrate with MALA, or an "
            "(n_traj, dim) array of initial configurations")
    if isinstance(init, Equilibrate):
        from ..protocols.protocol import hold
        start = np.asarray(init.start, dtype=np.float64)
        lam = hold(lam0, int(init.n_steps)).values.copy()
        advance = MALA(dt=float(init.dt), gamma=1.0).stepper(system, lam, beta, 0)

        def sample(rng, first, n, info):
            out = np.empty((n, dim))
            if start.ndim == 2 and start.shape[0] > 1:  # one configuration per trajectory
                out[:] = start[first:first + n]
            else:
                out[:] = np.broadcast_to(start.reshape(-1, dim) if start.ndim else start, (n, dim))
            state = KernelState.start(out, system.energy(out, lam0), rng)
            state.x = out  # equilibrated in place
            advance(state, 0, lam.shape[0] - 1, TraceBuffers.empty(n, 0, 0))
            if np.any(state.failed_step >= 0) or not np.all(np.isfinite(out)):
                raise FloatingPointError(f"{system.name}: equilibration produced non-finite "
                                         "energies; check the potential and Equilibrate.dt")
            info["init_accepted"] = info.get("init_accepted", 0) + int(state.n_accepted.sum())
            return out
        return sample, "equilibrate_mala"
    raise TypeError("init must be 'equilibrium', nq.Equilibrate(...), nq.Snapshots(...), "
                    "or arrays")
