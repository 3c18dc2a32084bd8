"""1-D equilibrium densities exp(-beta U(x, lam)) by quadrature on a fine grid.

Used for free energies of 1-D systems without a closed form (``System.free_energy``) and
for exact initial states by the numerical inverse CDF (``engine.initial``).
"""
import numpy as np

__all__ = ["grid_density", "GRID_POINTS", "TAIL"]

GRID_POINTS = 1 << 17
TAIL = 60.0  # beta (U - U_min) at the grid edges: exp(-60) of the mass lies beyond


def grid_density(system, lam, beta, n=GRID_POINTS):
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
        left_ok = bu[0] - m > TAIL
        right_ok = bu[-1] - m > TAIL
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
    keep = np.nonzero(bu - m <= TAIL)[0]
    a = xs[max(keep[0] - 1, 0)]
    b = xs[min(keep[-1] + 1, xs.size - 1)]
    grid = np.linspace(a, b, n)
    bu = beta * system.energy(grid, lam)
    m = bu.min()
    logp = -(bu - m)
    p = np.exp(logp)
    z = np.trapezoid(p, grid)
    return grid, logp, float(np.log(z) - m)
