"""Numba chunk kernels: advance every trajectory through steps k0+1 .. k1 of a protocol.

Pure functions over arrays: state and accumulators are updated in place, nothing is
allocated inside the step loop, ``prange`` runs over trajectories, and each trajectory
draws only from its own generator row, so results do not depend on thread count or on
how steps and trajectories are chunked. Each kernel has one explicit signature (one
cached compile) and takes the potential as a first-class function pointer.

Step s+1 (0-based loop index s) switches lam_s -> lam_{s+1} at fixed state and applies
one kernel targeting pi_{lam_{s+1}}. ``u[i]`` always holds U(x_i, current lam), so the
work of a switch costs one call that also yields the gradient the kernel needs.
``failed[i]`` is -1 while trajectory i is healthy, else the step at which its energy
became NaN (or +inf where that is not a legitimate rejection); it is then frozen.
"""
import math

import numpy as np
from numba import njit, prange, types

from ._functions import EnergyGradType, data_ptr
from ._rng import normal, uniform
from .integrators import OP_CLOSE, OP_O, OP_OPEN, OP_R, OP_V

F1 = types.Array(types.float64, 1, "C")
F2 = types.Array(types.float64, 2, "C")
F3 = types.Array(types.float64, 3, "C")
U2 = types.Array(types.uint64, 2, "C")
I1 = types.Array(types.int64, 1, "C")
i8 = types.int64
f8 = types.float64


@njit(cache=True)
def _record(s1, rec_every, rec_off, i, Wi, Qi, xi, rec_W, rec_Q, rec_x):
    if rec_every > 0 and s1 % rec_every == 0:
        c = s1 // rec_every - rec_off
        if 0 <= c < rec_W.shape[1]:
            rec_W[i, c] = Wi
            rec_Q[i, c] = Qi
            if rec_x.shape[1] > 0:
                for j in range(xi.shape[0]):
                    rec_x[i, c, j] = xi[j]


@njit(types.void(EnergyGradType, F2, i8, i8, types.boolean, f8, f8, f8,
                 F2, F1, U2, F1, F1, F1, I1, I1, i8, i8, F2, F2, F3),
      parallel=True, cache=True)
def overdamped_chunk(eg, lam, k0, k1, metropolize, beta, dt, gamma,
                     x, u, rng, W, Q, P, nacc, failed,
                     rec_every, rec_off, rec_W, rec_Q, rec_x):
    """Euler-Maruyama (``metropolize`` False) or MALA (True) over steps k0+1..k1.

    Proposal y = x - (dt/gamma) g(x) + sqrt(2 dt / (beta gamma)) xi, T(y|x) Gaussian.
    Per step: w = U(x, lam_k) - U(x, lam_{k-1}); q = U(x', lam_k) - U(x, lam_k);
    EM path work adds q + kT log[T(x'|x) / T(x|x')]; MALA accepts with
    min(1, exp(-beta q) T(x|y) / T(y|x)), whose detailed balance makes W_path = W.
    """
    n, d = x.shape
    m = lam.shape[1]
    mu_dt = dt / gamma
    sig = math.sqrt(2.0 * dt / (beta * gamma))
    inv4Ddt = beta * gamma / (4.0 * dt)
    kT = 1.0 / beta
    for i in prange(n):
        if failed[i] >= 0:
            continue
        # thread-local copies: the potential is called through raw pointers into them
        xi = x[i].copy()
        st = rng[i].copy()
        lk = np.empty(m)
        g = np.empty(d)
        gy = np.empty(d)
        y = np.empty(d)
        xp = data_ptr(xi)
        lp = data_ptr(lk)
        gp = data_ptr(g)
        yp = data_ptr(y)
        gyp = data_ptr(gy)
        ui = u[i]
        Wi = W[i]
        Qi = Q[i]
        Pi = P[i]
        acc = nacc[i]
        for s in range(k0, k1):
            for j in range(m):
                lk[j] = lam[s + 1, j]
            un = eg(xp, lp, gp)
            if not math.isfinite(un):
                failed[i] = s + 1
                break
            w = un - ui
            Wi += w
            Pi += w
            sq = 0.0
            for j in range(d):
                z = normal(st)
                sq += z * z
                y[j] = xi[j] - mu_dt * g[j] + sig * z
            uy = eg(yp, lp, gyp)
            rr = 0.0
            for j in range(d):
                r = xi[j] - y[j] + mu_dt * gy[j]
                rr += r * r
            # log T(y|x) - log T(x|y); the forward residual is sig * z exactly
            log_ratio = -0.5 * sq + rr * inv4Ddt
            q = uy - un
            if metropolize:
                if math.isnan(uy) or uy == -math.inf:
                    failed[i] = s + 1
                    break
                log_a = -beta * q - log_ratio
                if uy != math.inf and (log_a >= 0.0 or uniform(st) < math.exp(log_a)):
                    for j in range(d):
                        xi[j] = y[j]
                    Qi += q
                    ui = uy
                    acc += 1
                else:
                    ui = un
            else:
                if not math.isfinite(uy):
                    failed[i] = s + 1
                    break
                for j in range(d):
                    xi[j] = y[j]
                Qi += q
                Pi += q + log_ratio * kT
                ui = uy
            if rec_every > 0:
                _record(s + 1, rec_every, rec_off, i, Wi, Qi, xi, rec_W, rec_Q, rec_x)
        x[i] = xi
        rng[i] = st
        u[i] = ui
        W[i] = Wi
        Q[i] = Qi
        P[i] = Pi
        nacc[i] = acc


@njit(cache=True)
def _kinetic2(v):
    k = 0.0
    for j in range(v.shape[0]):
        k += v[j] * v[j]
    return k


@njit(types.void(EnergyGradType, F2, i8, i8, I1, F1, F1, f8, f8,
                 F2, F2, F1, U2, F1, F1, F1, F1, I1, I1, i8, i8, F2, F2, F3),
      parallel=True, cache=True)
def splitting_chunk(eg, lam, k0, k1, ops, c1, c2, beta, mass,
                    x, v, u, rng, W, Q, S, P, nacc, failed,
                    rec_every, rec_off, rec_W, rec_Q, rec_x):
    """Underdamped splitting integrator over steps k0+1..k1; E = U + (m/2)|v|^2.

    Each step: the switch H (work), then the sub-steps ``ops`` with constants c1, c2
    (V: v -= c1 grad U, c1 = h/m; R: x += c1 v, c1 = h; O: v = c1 v + c2 xi;
    { .. }: Metropolized block). Bookkeeping: H -> W; O -> Q (kinetic change);
    V and R -> S (shadow work). The energy after R sub-steps is evaluated lazily (when a
    V needs the force, a block boundary needs the energy, or the step ends) and its
    change charged to S then; O leaves x alone, so the total is the same as evaluating
    after every R. Path work P = W + shadow work outside Metropolized blocks: inside a
    block the accept/reject (momentum flip on rejection) makes the move exact. A
    rejected block restores x, v (flipped), U, grad U and S.
    """
    n, d = x.shape
    n_ops = ops.shape[0]
    half_m = 0.5 * mass
    m = lam.shape[1]
    for i in prange(n):
        if failed[i] >= 0:
            continue
        xi = x[i].copy()
        vi = v[i].copy()
        st = rng[i].copy()
        lk = np.empty(m)
        g = np.empty(d)
        xs = np.empty(d)
        vs = np.empty(d)
        gs = np.empty(d)
        xp = data_ptr(xi)
        lp = data_ptr(lk)
        gp = data_ptr(g)
        ui = u[i]
        Wi = W[i]
        Qi = Q[i]
        Si = S[i]
        Pi = P[i]
        acc = nacc[i]
        for s in range(k0, k1):
            for j in range(m):
                lk[j] = lam[s + 1, j]
            un = eg(xp, lp, gp)
            if not math.isfinite(un):
                failed[i] = s + 1
                break
            w = un - ui
            Wi += w
            Pi += w
            ui = un
            fresh = True
            in_block = False
            reject_all = False
            e0 = 0.0
            s_saved = 0.0
            u_saved = 0.0
            for o in range(n_ops):
                op = ops[o]
                if op == OP_R:
                    h = c1[o]
                    for j in range(d):
                        xi[j] += h * vi[j]
                    fresh = False
                    continue
                if op == OP_O:
                    k_old = _kinetic2(vi)
                    for j in range(d):
                        vi[j] = c1[o] * vi[j] + c2[o] * normal(st)
                    Qi += half_m * (_kinetic2(vi) - k_old)
                    continue
                if not fresh:
                    un = eg(xp, lp, gp)
                    if math.isnan(un) or un == -math.inf:
                        failed[i] = s + 1
                        break
                    if un == math.inf:
                        if not in_block:
                            failed[i] = s + 1
                            break
                        # an infinite-energy proposal inside a block is simply rejected
                        reject_all = True
                    else:
                        Si += un - ui
                        if not in_block:
                            Pi += un - ui
                    ui = un
                    fresh = True
                if op == OP_V:
                    if reject_all:
                        continue
                    h = c1[o]
                    k_old = _kinetic2(vi)
                    for j in range(d):
                        vi[j] -= h * g[j]
                    dk = half_m * (_kinetic2(vi) - k_old)
                    Si += dk
                    if not in_block:
                        Pi += dk
                elif op == OP_OPEN:
                    in_block = True
                    reject_all = False
                    for j in range(d):
                        xs[j] = xi[j]
                        vs[j] = vi[j]
                        gs[j] = g[j]
                    u_saved = ui
                    s_saved = Si
                    e0 = ui + half_m * _kinetic2(vi)
                else:  # OP_CLOSE
                    in_block = False
                    de = ui + half_m * _kinetic2(vi) - e0
                    if (not reject_all) and math.isfinite(de) and (
                            de <= 0.0 or uniform(st) < math.exp(-beta * de)):
                        acc += 1
                    else:
                        for j in range(d):
                            xi[j] = xs[j]
                            vi[j] = -vs[j]
                            g[j] = gs[j]
                        ui = u_saved
                        Si = s_saved
                    reject_all = False
            if failed[i] >= 0:
                break
            if not fresh:
                un = eg(xp, lp, gp)
                if not math.isfinite(un):
                    failed[i] = s + 1
                    break
                Si += un - ui
                Pi += un - ui
                ui = un
            if rec_every > 0:
                _record(s + 1, rec_every, rec_off, i, Wi, Qi, xi, rec_W, rec_Q, rec_x)
        x[i] = xi
        v[i] = vi
        rng[i] = st
        u[i] = ui
        W[i] = Wi
        Q[i] = Qi
        S[i] = Si
        P[i] = Pi
        nacc[i] = acc


@njit(types.void(U2, F1, F1, F2), parallel=True, cache=True)
def init_gaussian(rng, mean, std, out):
    """out[i, j] = mean[j] + std[j] * xi_ij, from trajectory i's stream."""
    for i in prange(out.shape[0]):
        st = rng[i]
        for j in range(out.shape[1]):
            out[i, j] = mean[j] + std[j] * normal(st)


@njit(types.void(U2, F1, F1, F2), parallel=True, cache=True)
def init_inverse_cdf(rng, grid, cdf, out):
    """1-D exact sampling: x = C^{-1}(u) with C the tabulated CDF (linear in each cell)."""
    m = grid.shape[0]
    for i in prange(out.shape[0]):
        t = uniform(rng[i]) * cdf[m - 1]
        j = np.searchsorted(cdf, t, side="right") - 1
        if j < 0:
            j = 0
        if j > m - 2:
            j = m - 2
        span = cdf[j + 1] - cdf[j]
        f = (t - cdf[j]) / span if span > 0 else 0.5
        out[i, 0] = grid[j] + f * (grid[j + 1] - grid[j])

