"""Exact work statistics of a 1-D underdamped protocol: the tilted Kramers equation on a
phase-space (x, v) grid.

Dynamics (neqsim's underdamped convention, src/neqsim/dynamics/splitting.py):
m dv = -U'(x, lam) dt - gamma v dt + sqrt(2 gamma kT) dB, dx = v dt, with lam_k held for
a time dt after each switch; the switch at fixed (x, v) is work dU = U(x, lam_k) -
U(x, lam_{k-1}), exactly as for the overdamped engine (:mod:`.transfer`), whose moment
fields and tilted densities are reused. Kramers:

    dP/dt = -v dP/dx + (U'/m) dP/dv + (gamma/m) d/dv [ v P + (kT/m) dP/dv ].

The discretization keeps the Boltzmann density pi = a_i b_j, a_i = exp(-beta U(x_i)),
b_j = exp(-beta m v_j^2 / 2) at the cell centres, EXACTLY stationary, so Jarzynski holds
to round-off on the grid:

* the Hamiltonian transport uses face values that are geometric means of the cell
  weights (A_{i+1/2} = sqrt(a_i a_{i+1}), likewise B), a centred average of P / pi across
  each face, and the discrete velocity and force that make the two transports cancel on
  pi: v~_j = -(kT/m)(B_{j+1/2} - B_{j-1/2}) / (h_v b_j) and
  U~'_i = -kT (A_{i+1/2} - A_{i-1/2}) / (h_x a_i) (second-order approximations of v and
  U'; walls have zero face weight). In flux form, so mass is conserved;
* the friction and noise in v use the Scharfetter-Gummel fluxes of the overdamped engine
  with the "potential" m v^2 / 2 (b_j exactly stationary);
* time steps are Crank-Nicolson with the whole generator (one sparse LU per control
  value): it maps pi to itself, conserves mass, and is contractive in the 1/pi-weighted
  norm (the transport is skew-adjoint there, the friction negative).

Second order in h_x, h_v and the substep; two levels give a Richardson extrapolation and
its error estimate. The centred transport has no numerical diffusion in x, so the grid
must resolve the phase-space density: n_x ~ n_v ~ 100-200 cells for ~1e-4 relative
accuracy at gamma ~ 1, more for weak friction (gamma -> 0 leaves the x-direction without
smoothing: below gamma / m ~ 0.1 in units of the trap frequency the grid needs are
prohibitive). The discrete operators of the splitting integrators (deterministic shears
on the grid) are not offered: the simulation at a small dt approaches this continuous
reference at O(dt^2) for BAOAB.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from .transfer import TAIL, _check_system, _delta_f, _drive, _energy, _Fields, _fp_operator, \
    _lams, _package, _s_values, transfer_grid

__all__ = ["work_statistics_underdamped"]

CELLS_UD = (160, 120)


def _discrete_rate(w, h, kT):
    """-kT (W_{i+1/2} - W_{i-1/2}) / (h w_i) with geometric-mean faces and zero walls:
    the discrete d/dx of -kT log w (the velocity for w = b, the force for w = a)."""
    face = np.sqrt(w[:-1] * w[1:])
    up = np.concatenate([face, [0.0]])
    down = np.concatenate([[0.0], face])
    return -kT * (up - down) / (h * w)


def _transport(w, speed, h):
    """Tridiagonal generator (sub, diag, super) of d/dt P = -d/dy (speed P) along one
    line with the cell weights w (pi restricted to the line): the face flux is
    speed (A_face / 2) (P_l / w_l + P_r / w_r), A_face = sqrt(w_l w_r)."""
    ratio = np.sqrt(w[1:] / w[:-1])          # alpha = sqrt(w_r / w_l)
    c = speed / (2.0 * h)
    f_l = c * ratio                          # flux per unit mass in the left cell
    f_r = c / ratio                          # ... in the right cell
    n = w.size
    d = np.zeros(n)
    d[:-1] -= f_l
    d[1:] += f_r
    return f_l, d, -f_r                      # A[l+1, l] = f_l, A[l, l+1] = -f_r


def _lines(blocks):
    """Stack per-line (sub, diag, super) into one tridiagonal over the flattened lines,
    with zero couplings across line ends."""
    subs, diags, sups = [], [], []
    for a, d, b in blocks:
        subs.append(np.concatenate([a, [0.0]]))
        diags.append(d)
        sups.append(np.concatenate([b, [0.0]]))
    return (np.concatenate(subs)[:-1], np.concatenate(diags), np.concatenate(sups)[:-1])


def _sparse_tridiagonal(sub, diag, sup, order):
    """The tridiagonal (over the flattened lines) as a sparse matrix acting on fields in
    x-major order; ``order`` maps a line position to its x-major cell index."""
    from scipy import sparse
    n = diag.size
    rows = np.concatenate([order[1:], order, order[:-1]])
    cols = np.concatenate([order[:-1], order, order[1:]])
    return sparse.csc_matrix((np.concatenate([sub, diag, sup]), (rows, cols)), shape=(n, n))


class _Kramers:
    """Crank-Nicolson substeps of length tau with the whole phase-space generator
    A = A_x + A_v (one sparse LU per control value). The directional parts are not
    separately dissipative (each carries a diagonal -+ v~ U~' / (2 kT) that only their
    sum cancels), so an alternating-direction split is unstable where forces and
    velocities are large (the walls of a quartic); the unsplit Crank-Nicolson step is
    contractive in the 1/pi-weighted norm (transport skew-adjoint, friction negative), maps
    pi to itself and conserves mass exactly."""

    def __init__(self, u, hx, vs, hv, beta, gamma, mass, tau):
        from scipy import sparse
        from scipy.sparse.linalg import splu
        nx, nv = u.size, vs.size
        kt = 1.0 / beta
        a = np.exp(-beta * (u - u.min()))
        b = np.exp(-beta * mass * (vs * vs) / 2.0)
        v_t = _discrete_rate(b, hv, kt) / mass        # -(kT/m) d log b / dv = v
        force = _discrete_rate(a, hx, kt)             # U'
        idx = np.arange(nx * nv).reshape(nx, nv)
        # x-lines (one per velocity row j): transport at speed v~_j
        ax = _sparse_tridiagonal(*_lines(_transport(a, v_t[j], hx) for j in range(nv)),
                                 idx.T.ravel())
        # v-lines (one per position i): transport at speed -U'~_i / m, plus friction
        a_f, d_f, b_f = _fp_operator(mass * vs * vs / 2.0, beta, mass * mass / gamma, hv)
        blocks = []
        for i in range(nx):
            s, d, p = _transport(b, -force[i] / mass, hv)
            blocks.append((s + a_f, d + d_f, p + b_f))
        av = _sparse_tridiagonal(*_lines(blocks), idx.ravel())
        # solve for P / sqrt(pi): there the transport is skew-symmetric and the friction
        # symmetric negative, so I - tau/2 A is well conditioned (as P itself, with pi
        # spanning e^-60, it reaches condition numbers of 1e9 and loses 1e-10 a step)
        root = np.sqrt(np.outer(a, b).ravel())
        scale = sparse.diags(root)
        gen = (sparse.diags(1.0 / root) @ (ax + av) @ scale).tocsc()
        eye = sparse.identity(nx * nv, format="csc")
        self.root = root[:, None]
        self.rhs = (eye + 0.5 * tau * gen).tocsr()
        self.lu = splu((eye - 0.5 * tau * gen).tocsc())

    def step(self, F):
        g = np.asarray(self.rhs @ (F / self.root), order="F")
        return self.lu.solve(g) * self.root


def _run(system, lams, dt, beta, gamma, mass, lo, hi, vmax, nx, nv, substeps, s_keys):
    hx, hv = (hi - lo) / nx, 2.0 * vmax / nv
    xs = lo + (np.arange(nx) + 0.5) * hx
    vs = -vmax + (np.arange(nv) + 0.5) * hv
    u_prev = _energy(system, xs, lams[0])
    a = np.exp(-beta * (u_prev - u_prev.min()))
    b = np.exp(-beta * mass * vs * vs / 2.0)
    p0 = np.outer(a, b).ravel()
    fields = _Fields(p0 / p0.sum(), s_keys)
    logz0 = math.log(a.sum() * hx) - beta * u_prev.min()
    ring = np.zeros((nx, nv), dtype=bool)
    wx, wv = max(1, nx // 100), max(1, nv // 100)
    ring[:wx], ring[-wx:], ring[:, :wv], ring[:, -wv:] = True, True, True, True
    ring = ring.ravel()
    edge = float(np.abs(fields.F[ring, 0]).sum())
    tau = dt / substeps
    u_prev, edge = _drive(lams, u_prev, lambda lam: _energy(system, xs, lam), fields,
                          lambda u: _Kramers(u, hx, vs, hv, beta, gamma, mass, tau),
                          substeps, edge, lambda p: float(np.abs(p[ring]).sum()),
                          cells=lambda du: np.repeat(du, nv))
    out = fields.results()
    logz1 = math.log(np.exp(-beta * (u_prev - u_prev.min())).sum() * hx) - beta * u_prev.min()
    gx, gv = np.meshgrid(xs, vs, indexing="ij")
    out.update(x=np.column_stack([gx.ravel(), gv.ravel()]), density=fields.F[:, 0].copy(),
               edge=edge, lost=0.0, df_grid=-(logz1 - logz0) / beta, h=max(hx, hv),
               mean_path_work=out["mean_work"])
    return out


def work_statistics_underdamped(system, protocol, dt, *, beta=1.0, gamma=1.0, mass=1.0,
                                grid=None, n_cells=CELLS_UD, s=(), substeps=None, tail=TAIL,
                                refine=True):
    """Exact work statistics of ``protocol`` for a one-dimensional ``system`` under
    continuous-time underdamped Langevin dynamics, m dv = -U' dt - gamma v dt +
    sqrt(2 gamma kT) dB (``gamma`` a friction coefficient, mass / time, as
    ``nq.Langevin``), lam_k held for ``dt`` after each switch (module doc).

    grid : None (x from :func:`neqsim.exact.transfer_grid`, |v| <= sqrt(2 tail kT / m)),
        or ((x_lo, x_hi), v_max).
    n_cells : (n_x, n_v) of the fine level (even).
    substeps : substeps per protocol step of the coarse level (default: so that the
        fastest of the friction rate gamma / m and the oscillation frequency sqrt(max U''
        / m) times the substep is at most 0.1).
    Other parameters and the result (a :class:`neqsim.exact.WorkStatistics`: ``grid`` =
    ((x_lo, x_hi, n_x), (-v_max, v_max, n_v)), ``x`` the (n_x n_v, 2) (x, v) cell
    centres, ``density`` the final phase-space masses) as for
    :func:`neqsim.exact.work_statistics_continuous`.
    """
    from .transfer import _max_curvature
    t0 = time.perf_counter()
    lams = _lams(protocol)
    _check_system(system, lams)
    beta, gamma, mass, dt = float(beta), float(gamma), float(mass), float(dt)
    for name, v in (("beta", beta), ("gamma", gamma), ("mass", mass), ("dt", dt)):
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be finite and > 0, got {v}")
    try:
        nx, nv = (int(c) for c in n_cells)
    except (TypeError, ValueError):
        raise ValueError(f"n_cells must be (n_x, n_v), got {n_cells!r}") from None
    if min(nx, nv) < 8 or (refine and (nx % 2 or nv % 2)):
        raise ValueError(f"need at least 8 cells per axis (even, for the refinement), got "
                         f"{nx} x {nv}")
    if grid is None:
        lo, hi = transfer_grid(system, lams, beta=beta, tail=tail)
        vmax = math.sqrt(2.0 * tail / (beta * mass))
    else:
        try:
            (lo, hi), vmax = grid
            lo, hi, vmax = float(lo), float(hi), float(vmax)
        except (TypeError, ValueError):
            raise ValueError("grid must be ((x_lo, x_hi), v_max)") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo and vmax > 0):
            raise ValueError(f"grid must have finite x_lo < x_hi and v_max > 0, got {grid}")
    if substeps is None:
        omega = math.sqrt(max(_max_curvature(system, lams, beta, lo, hi, tail=10.0), 0.0)
                          / mass)
        rate = max(gamma / mass, omega)
        m = max(1, int(math.ceil(dt * rate / 0.1)))
    else:
        m = int(substeps)
        if m < 1:
            raise ValueError(f"substeps must be >= 1, got {substeps}")
    s_keys = _s_values(s, beta)
    args = (system, lams, dt, beta, gamma, mass, lo, hi, vmax)
    if refine:
        coarse = _run(*args, nx // 2, nv // 2, m, s_keys)
        fine = _run(*args, nx, nv, 2 * m, s_keys)
    else:
        coarse = None
        fine = _run(*args, nx, nv, m, s_keys)
    r = _package(system, lams, beta, gamma, dt, lo, hi, nx, coarse, fine, s, s_keys,
                 mode="continuous", kernel="kramers", order=2,
                 substeps=(2 * m if refine else m), t0=t0)
    if not math.isfinite(_delta_f(system, lams, beta)):
        r = replace(r, delta_f=r.delta_f_grid,
                    jarzynski_residual=r.log_mgf[beta] + beta * r.delta_f_grid)
    return replace(r, grid=((lo, hi, nx), (-vmax, vmax, nv)),
                   seconds=time.perf_counter() - t0)
