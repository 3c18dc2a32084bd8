"""Exact work statistics of a 2-D overdamped protocol: the tilted Fokker-Planck equation
on an n_x x n_y grid.

The same bookkeeping as the 1-D engine (:mod:`.transfer`, docs/physics.md): at step k the
control switches lam_{k-1} -> lam_k at fixed x (work increment dU = U(x, lam_k) -
U(x, lam_{k-1}), applied to the moment fields m0, m1, m2 and the tilted densities g_s),
then the density relaxes for a time dt under

    dP/dt = div[ (kT / gamma) ( grad P + beta P grad U ) ],

the continuous-time limit of every overdamped integrator. Finite volumes with
Scharfetter-Gummel fluxes across each cell face (the 1-D flux of :mod:`.transfer` along
the face normal), zero-flux walls: exp(-beta U) at the cell centres is exactly stationary
under the x- and the y-fluxes separately, so Jarzynski holds to round-off on the grid.
Time stepping by Peaceman-Rachford alternating directions (each half-step implicit along
one axis: one tridiagonal factorization per axis and distinct control value, O(cells)
work per substep). Second order in the cell sizes and the substep; two levels (n/2 cells per axis with m substeps, n cells with 2m) give the
Richardson extrapolation and its error estimate, as in 1-D.

Cost: the fine level holds n_x n_y cells (default 160 x 160 = 25,600); every substep is
four tridiagonal sweeps over all fields at once. The discrete-time operators of the integrators (dense (n_x n_y)^2 matrices) are
not offered in 2-D.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from .transfer import TAIL, _bernoulli_pair, _delta_f, _drive, _Fields, _lams, _package, \
    _s_values, _Tridiagonal

__all__ = ["work_statistics_continuous_2d", "transfer_grid_2d"]

CELLS_2D = 160
_SCAN_2D = 161


def _energy2(system, pts, lam):
    u = np.asarray(system.energy(pts, np.ascontiguousarray(lam)), dtype=np.float64)
    u = u.reshape(-1)
    if np.any(np.isnan(u)):
        raise ValueError(f"energy is NaN on the grid at lam={np.asarray(lam).tolist()}")
    return u


def _check(system, lams):
    if getattr(system, "dim", None) != 2:
        raise ValueError("work_statistics_continuous_2d needs a two-dimensional system, got "
                         f"dim={getattr(system, 'dim', None)} (1-D: "
                         "work_statistics_continuous)")
    if lams.shape[1] != system.n_controls:
        raise ValueError(f"protocol has {lams.shape[1]} controls, the system "
                         f"{system.n_controls}")


def _points(xs, ys):
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    return np.column_stack([gx.ravel(), gy.ravel()])


def transfer_grid_2d(system, protocol, *, beta=1.0, tail=TAIL):
    """((x_lo, x_hi), (y_lo, y_hi)): the box outside which beta (U(x, lam) - min U(., lam))
    exceeds ``tail`` for every scanned lam of the protocol."""
    from .transfer import _scan_lams
    lams = _lams(protocol)
    _check(system, lams)
    sel = _scan_lams(lams, most=33)
    box = [-1.0, 1.0, -1.0, 1.0]
    for _ in range(48):
        xs = np.linspace(box[0], box[1], _SCAN_2D)
        ys = np.linspace(box[2], box[3], _SCAN_2D)
        pts = _points(xs, ys)
        rel = []
        for lam in sel:
            bu = float(beta) * _energy2(system, pts, lam).reshape(_SCAN_2D, _SCAN_2D)
            m = bu.min()
            if not math.isfinite(m):
                raise ValueError("energy is not bounded below on the scanned box")
            rel.append(bu - m)
        rel = np.stack(rel)
        ok = [np.all(rel[:, 0, :] > tail), np.all(rel[:, -1, :] > tail),
              np.all(rel[:, :, 0] > tail), np.all(rel[:, :, -1] > tail)]
        if all(ok):
            inside = np.any(rel <= tail, axis=0)
            ix = np.nonzero(inside.any(axis=1))[0]
            iy = np.nonzero(inside.any(axis=0))[0]
            hx, hy = xs[1] - xs[0], ys[1] - ys[0]
            return ((float(xs[ix[0]] - hx), float(xs[ix[-1]] + hx)),
                    (float(ys[iy[0]] - hy), float(ys[iy[-1]] + hy)))
        wx, wy = box[1] - box[0], box[3] - box[2]
        box = [box[0] - (0 if ok[0] else wx), box[1] + (0 if ok[1] else wx),
               box[2] - (0 if ok[2] else wy), box[3] + (0 if ok[3] else wy)]
    raise ValueError("exp(-beta U) does not decay within the scanned box; the equilibrium "
                     "density is not normalizable")


def _line_operator(u2, beta, gamma, h):
    """The Scharfetter-Gummel fluxes along axis 1 of ``u2`` (lines = rows), as one
    tridiagonal generator over the flattened rows (sub, diag, super; zero couplings across
    row ends): flux j -> j+1 per unit mass in j is the sub-diagonal, j+1 -> j the super."""
    n_lines, m = u2.shape
    c = 1.0 / (beta * gamma * h * h)
    bp, bm = _bernoulli_pair(beta * np.diff(u2, axis=1))
    a = np.zeros((n_lines, m))
    b = np.zeros((n_lines, m))
    a[:, :-1] = c * bp
    b[:, :-1] = c * bm
    d = np.zeros((n_lines, m))
    d[:, :-1] -= a[:, :-1]
    d[:, 1:] -= b[:, :-1]
    return a.ravel()[:-1], d.ravel(), b.ravel()[:-1]


class _ADI:
    """Peaceman-Rachford: (I - tau/2 A_x) F* = (I + tau/2 A_y) F, then
    (I - tau/2 A_y) F' = (I + tau/2 A_x) F*. A_x and A_y each annihilate exp(-beta U) and
    conserve mass, so both half-steps keep the grid's Boltzmann density exactly and the
    step is second order in tau (as Crank-Nicolson). Fields are stored x-major
    (cell i * n_y + j): A_y is tridiagonal as stored, A_x after a transpose."""

    def __init__(self, u, nx, ny, beta, gamma, hx, hy, tau):
        u2 = u.reshape(nx, ny)
        self.nx, self.ny = nx, ny
        self.y = _Tridiagonal(*_line_operator(u2, beta, gamma, hy), tau)
        self.x = _Tridiagonal(*_line_operator(u2.T.copy(), beta, gamma, hx), tau)

    def _t(self, F, shape):          # reorder the cell axis: (a, b) -> (b, a)
        k = F.shape[1]
        return F.reshape(shape[0], shape[1], k).transpose(1, 0, 2).reshape(-1, k)

    def step(self, F):
        nx, ny = self.nx, self.ny
        G = self._t(self.y.apply(F), (nx, ny))          # y-major
        G = self.x.solve(G)
        G = self._t(self.x.apply(G), (ny, nx))          # back to x-major
        return self.y.solve(G)


def _curvature(system, lams, beta, xs, ys, tail=10.0):
    """Largest |U_xx| + |U_yy| where some equilibrium density is non-negligible."""
    from .transfer import _scan_lams
    hx, hy = xs[1] - xs[0], ys[1] - ys[0]
    pts = _points(xs, ys)
    best = 0.0
    for lam in _scan_lams(lams, most=33):
        u = _energy2(system, pts, lam).reshape(xs.size, ys.size)
        rel = beta * (u - u.min())
        cxx = np.abs(np.diff(u, 2, axis=0))[:, 1:-1] / (hx * hx)
        cyy = np.abs(np.diff(u, 2, axis=1))[1:-1, :] / (hy * hy)
        mask = rel[1:-1, 1:-1] <= tail
        if np.any(mask):
            best = max(best, float((cxx + cyy)[mask].max()))
    return best


def _run(system, lams, dt, beta, gamma, box, nx, ny, substeps, s_keys):
    (x0, x1), (y0, y1) = box
    hx, hy = (x1 - x0) / nx, (y1 - y0) / ny
    xs = x0 + (np.arange(nx) + 0.5) * hx
    ys = y0 + (np.arange(ny) + 0.5) * hy
    pts = _points(xs, ys)
    u_prev = _energy2(system, pts, lams[0])
    w = np.exp(-beta * (u_prev - u_prev.min()))
    fields = _Fields(w / w.sum(), s_keys)
    logz0 = math.log(w.sum() * hx * hy) - beta * u_prev.min()
    ring = np.zeros((nx, ny), dtype=bool)
    wx, wy = max(1, nx // 100), max(1, ny // 100)
    ring[:wx], ring[-wx:], ring[:, :wy], ring[:, -wy:] = True, True, True, True
    ring = ring.ravel()

    def edge_mass(p):
        return float(np.abs(p[ring]).sum())
    edge = edge_mass(fields.F[:, 0])
    tau = dt / substeps
    u_prev, edge = _drive(lams, u_prev, lambda lam: _energy2(system, pts, lam), fields,
                          lambda u: _ADI(u, nx, ny, beta, gamma, hx, hy, tau), substeps,
                          edge, edge_mass)
    out = fields.results()
    logz1 = math.log(np.exp(-beta * (u_prev - u_prev.min())).sum() * hx * hy) \
        - beta * u_prev.min()
    out.update(x=pts, density=fields.F[:, 0].copy(), edge=edge, lost=0.0,
               df_grid=-(logz1 - logz0) / beta, h=max(hx, hy),
               mean_path_work=out["mean_work"])
    return out


def work_statistics_continuous_2d(system, protocol, dt, *, beta=1.0, gamma=1.0, grid=None,
                                  n_cells=CELLS_2D, s=(), substeps=None, tail=TAIL,
                                  refine=True):
    """Exact work statistics of ``protocol`` for a two-dimensional ``system`` under
    continuous-time overdamped Langevin dynamics dx = -(1/gamma) grad U dt +
    sqrt(2 kT / gamma) dB, lam_k held for ``dt`` after each switch (module doc).

    grid : None (automatic box, :func:`transfer_grid_2d`), ((x_lo, x_hi), (y_lo, y_hi)),
        or ((x_lo, x_hi, n_x), (y_lo, y_hi, n_y)).
    n_cells : cells per axis of the fine level when ``grid`` gives none (even).
    substeps : alternating-direction substeps per protocol step of the coarse level
        (default from the stiffest relaxation rate (|U_xx| + |U_yy|) / gamma where
        beta (U - min U) <= 10, so that rate * substep <= 0.05).
    Other parameters and the result (a :class:`neqsim.exact.WorkStatistics`, ``grid`` =
    ((x_lo, x_hi, n_x), (y_lo, y_hi, n_y)), ``x`` the (n_x n_y, 2) cell centres) as for
    :func:`neqsim.exact.work_statistics_continuous`. ``delta_f`` is the system's closed
    form where it has one, else the quadrature on the fine grid (``delta_f_grid``).
    """
    t0 = time.perf_counter()
    lams = _lams(protocol)
    _check(system, lams)
    beta, gamma, dt = float(beta), float(gamma), float(dt)
    for name, v in (("beta", beta), ("gamma", gamma), ("dt", dt)):
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be finite and > 0, got {v}")
    if grid is None:
        box = transfer_grid_2d(system, lams, beta=beta, tail=tail)
        nx = ny = int(n_cells)
    else:
        try:
            gx, gy = (tuple(g) for g in grid)
            box = ((float(gx[0]), float(gx[1])), (float(gy[0]), float(gy[1])))
            nx = int(gx[2]) if len(gx) == 3 else int(n_cells)
            ny = int(gy[2]) if len(gy) == 3 else int(n_cells)
        except (TypeError, ValueError, IndexError):
            raise ValueError("grid must be ((x_lo, x_hi[, n_x]), (y_lo, y_hi[, n_y]))") \
                from None
        if not all(math.isfinite(v) for b in box for v in b) or \
                not (box[0][1] > box[0][0] and box[1][1] > box[1][0]):
            raise ValueError(f"grid must have finite lo < hi on both axes, got {grid}")
    if min(nx, ny) < 8 or (refine and (nx % 2 or ny % 2)):
        raise ValueError(f"need at least 8 cells per axis (even, for the refinement), got "
                         f"{nx} x {ny}")
    if substeps is None:
        xs = np.linspace(*box[0], 201)
        ys = np.linspace(*box[1], 201)
        rate = _curvature(system, lams, beta, xs, ys) / gamma
        m = max(1, int(math.ceil(dt * rate / 0.05))) if rate > 0 else 1
    else:
        m = int(substeps)
        if m < 1:
            raise ValueError(f"substeps must be >= 1, got {substeps}")
    s_keys = _s_values(s, beta)
    if refine:
        coarse = _run(system, lams, dt, beta, gamma, box, nx // 2, ny // 2, m, s_keys)
        fine = _run(system, lams, dt, beta, gamma, box, nx, ny, 2 * m, s_keys)
    else:
        coarse = None
        fine = _run(system, lams, dt, beta, gamma, box, nx, ny, m, s_keys)

    class _NoFreeEnergy:             # _package asks the system; fall back to the grid
        dim = 2

        @staticmethod
        def free_energy(lam, b):
            return None
    df_system = _delta_f(system, lams, beta)
    r = _package(system if math.isfinite(df_system) else _NoFreeEnergy, lams, beta, gamma,
                 dt, box[0][0], box[0][1], nx, coarse, fine, s, s_keys, mode="continuous",
                 kernel="fokker-planck-2d", order=2, substeps=(2 * m if refine else m), t0=t0)
    if not math.isfinite(df_system):
        g = r.log_mgf[float(beta)]
        r = replace(r, delta_f=r.delta_f_grid, jarzynski_residual=g + beta * r.delta_f_grid)
    return replace(r, grid=((box[0][0], box[0][1], nx), (box[1][0], box[1][1], ny)),
                   seconds=time.perf_counter() - t0)

