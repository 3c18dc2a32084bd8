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

from . import _kernels
from .systems import Gaussian

__all__ = ["Equilibrate", "grid_density"]

_GRID_POINTS = 1 << 17
_TAIL = 60.0  # beta (U - U_min) at the grid edges: exp(-60) of the mass lies beyond


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


def grid_density(system, lam, beta, n=_GRID_POINTS):
    """Tabulate log p(x) = -beta U(x, lam) on a 1-D grid covering all but e^-60 of the mass.

    Returns (grid, logp shifted so its max is 0, log Z) with Z = int exp(-beta U) dx by
    the trapezoid rule.
    """
    if system.dim != 1:
        raise ValueError("grid_density is for one-dimensional systems")
    lam = np.ascontiguousarray(lam, dtype=np.float64)
    lo, hi = -1.0, 1.0
    for _ in range(60):
        xs = np.linspace(lo, hi, 4001)
        bu = beta * system.energy(xs, lam)
        if np.any(np.isnan(bu)):
            raise ValueError(f"{system.name}: energy is NaN at lam={lam.tolist()}")
        m = np.min(bu)
        if not np.isfinite(m):
            raise ValueError(f"{system.name}: energy is not bounded below at lam={lam.tolist()}")
        left_ok = bu[0] - m > _TAIL
        right_ok = bu[-1] - m > _TAIL
        if left_ok and right_ok:
            break
        span = hi - lo
        if not left_ok:
            lo -= span
        if not right_ok:
            hi += span
    else:
        raise ValueError(f"{system.name}: exp(-beta U) at lam={lam.tolist()} does not decay "
                         "within |x| < 1e18; the equilibrium density is not normalizable")
    # shrink to the region that matters, then tabulate finely
    keep = np.nonzero(bu - m <= _TAIL)[0]
    a = xs[max(keep[0] - 1, 0)]
    b = xs[min(keep[-1] + 1, xs.size - 1)]
    grid = np.linspace(a, b, n)
    bu = beta * system.energy(grid, lam)
    m = bu.min()
    logp = -(bu - m)
    p = np.exp(logp)
    z = np.trapezoid(p, grid)
    return grid, logp, float(np.log(z) - m)


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
                _kernels.init_gaussian(rng, mean, std, out)
                return out
            return sample, "exact_gaussian"
        if dim == 1:
            grid, logp, _ = grid_density(system, lam0, beta)
            p = np.exp(logp)
            cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(grid))])

            def sample(rng, first, n, info):
                out = np.empty((n, dim))
                _kernels.init_inverse_cdf(rng, grid, cdf, out)
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
        from .protocols import hold
        start = np.asarray(init.start, dtype=np.float64)
        lam = hold(lam0, int(init.n_steps)).values.copy()

        def sample(rng, first, n, info):
            out = np.empty((n, dim))
            if start.ndim == 2 and start.shape[0] > 1:  # one configuration per trajectory
                out[:] = start[first:first + n]
            else:
                out[:] = np.broadcast_to(start.reshape(-1, dim) if start.ndim else start, (n, dim))
            u = system.energy(out, lam0)
            z = np.zeros(n)
            nacc = np.zeros(n, dtype=np.int64)
            failed = np.full(n, -1, dtype=np.int64)
            e2, e3 = np.empty((n, 0)), np.empty((n, 0, dim))
            _kernels.kernel("overdamped")(system.kernel_function, lam, 0, lam.shape[0] - 1,
                                          True, beta, float(init.dt), 1.0, out, u, rng, z,
                                          z.copy(), z.copy(), nacc, failed, 0, 0, e2, e2, e3)
            if np.any(failed >= 0) or not np.all(np.isfinite(out)):
                raise FloatingPointError(f"{system.name}: equilibration produced non-finite "
                                         "energies; check the potential and Equilibrate.dt")
            info["init_accepted"] = info.get("init_accepted", 0) + int(nacc.sum())
            return out
        return sample, "equilibrate_mala"
    raise TypeError("init must be 'equilibrium', nq.Equilibrate(...), or arrays")
