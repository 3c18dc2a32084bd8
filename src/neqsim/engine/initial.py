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

from dataclasses import dataclass

import numpy as np

from ..dynamics.base import KernelState, TraceBuffers
from ..dynamics.overdamped import MALA
from ..exact.quadrature import grid_density
from ..systems.system import Gaussian
from . import initial_kernel

__all__ = ["Equilibrate", "make_sampler"]


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
    raise TypeError("init must be 'equilibrium', nq.Equilibrate(...), or arrays")
