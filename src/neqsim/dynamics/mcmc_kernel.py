"""Numba kernels for the Metropolis-Hastings Markov kernels of AIS (RWM, MALA, HMC).

Same contract as ``overdamped_kernel``: pure functions over arrays, blocked ``prange`` over
trajectories, each chain drawing only from its own generator row. Step s+1 switches
lam_s -> lam_{s+1} at fixed x (w = U(x, lam_{s+1}) - U(x, lam_s), recomputed at the new
lam: never a value cached at the old one), then applies ``n_moves`` Metropolis-Hastings
moves targeting pi_{s+1}(x) ~ exp(-beta U(x, lam_{s+1})) with step size ``eps[s+1]``.
Every move is in detailed balance with pi_{s+1}, so the path work equals W.
Heat Q is the energy change of accepted moves (first law: U_N - U_0 = W + Q).

method 0, random-walk Metropolis: y = x + eps xi, accept min(1, e^{-beta dU}).
method 1, MALA: y = x - (eps^2/2) beta grad U(x) + eps xi, Metropolis-Hastings with the
          Gaussian proposal densities.
method 2, HMC: p ~ N(0, I), n_leap leapfrog steps of size eps on H = beta U(x) + |p|^2/2,
          accept min(1, e^{-dH}).
A proposal with U = +inf is rejected (a hard wall); a chain whose current point gets
U = +inf at a switch has weight zero (W = +inf) and stops moving; NaN or -inf marks the
chain failed.
"""
import math

import numpy as np
from numba import prange, types

from .._numba.abi import (BLOCK, F1, F2, F3, I1, U2, EnergyGradType, data_ptr, f8, i8, ndim,
                          row_ptr)
from .._numba.lazy import LazyKernel
from .._numba.rng import normal, uniform
from .._numba.specialize import specialized
from .._numba.trace import record, record_row
from .path_energy import combine

# proposal codes of the kernel (the classes in ``mcmc`` name them as attributes)
RWM, MALA, HMC = 0, 1, 2
MCMC_SIG = types.void(EnergyGradType, F2, i8, i8, i8, F1, i8, i8, f8,
                      F2, F1, U2, F1, F1, F1, I1, I1, i8, i8, F2, F2, F3)


def mcmc_chunk(eg, lam, k0, k1, method, eps, n_leap, n_moves, beta,
               x, u, rng, W, Q, P, nacc, failed, rec_every, rec_off, rec_W, rec_Q, rec_x):
    n = x.shape[0]
    d = ndim(x)
    m = lam.shape[1]
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, n)
        nb = hi - lo
        xb = x[lo:hi].copy()
        st = rng[lo:hi].copy()
        ub = u[lo:hi].copy()
        Wb = W[lo:hi].copy()
        Qb = Q[lo:hi].copy()
        Pb = P[lo:hi].copy()
        ab = nacc[lo:hi].copy()
        fb = failed[lo:hi].copy()
        g = np.empty((nb, d))
        gy = np.empty((nb, d))
        y = np.empty((nb, d))
        p = np.empty(d)
        lk = np.empty(m)
        lp = data_ptr(lk)
        for s in range(k0, k1):
            for j in range(m):
                lk[j] = lam[s + 1, j]
            h = eps[s + 1]
            rc = record_row(s + 1, rec_every, rec_off, rec_W.shape[1])
            for b in range(nb):
                if fb[b] >= 0 or ub[b] == math.inf:  # failed, or weight already zero
                    continue
                un = eg(row_ptr(xb, b), lp, row_ptr(g, b))
                if math.isnan(un) or un == -math.inf:
                    fb[b] = s + 1
                    continue
                if un == math.inf:
                    # the new density is zero here: the chain's weight is exp(-W) = 0
                    # for good (W = +inf); it is no failure, and it makes no more moves
                    Wb[b] = math.inf
                    Pb[b] = math.inf
                    ub[b] = math.inf
                    continue
                w = un - ub[b]
                Wb[b] += w
                Pb[b] += w
                ub[b] = un
                for _mv in range(n_moves):
                    ux = ub[b]
                    log_q = 0.0
                    if method == RWM:
                        for j in range(d):
                            y[b, j] = xb[b, j] + h * normal(st, b)
                        uy = eg(row_ptr(y, b), lp, row_ptr(gy, b))
                    elif method == MALA:
                        c = 0.5 * h * h * beta
                        sq = 0.0
                        for j in range(d):
                            z = normal(st, b)
                            sq += z * z
                            y[b, j] = xb[b, j] - c * g[b, j] + h * z
                        uy = eg(row_ptr(y, b), lp, row_ptr(gy, b))
                        rr = 0.0
                        for j in range(d):
                            r = xb[b, j] - y[b, j] + c * gy[b, j]
                            rr += r * r
                        # log q(x|y) - log q(y|x), forward residual = h z
                        log_q = -rr / (2.0 * h * h) + 0.5 * sq
                    else:
                        k_old = 0.0
                        for j in range(d):
                            p[j] = normal(st, b)
                            k_old += p[j] * p[j]
                            y[b, j] = xb[b, j]
                            gy[b, j] = g[b, j]
                        uy = ux
                        for _l in range(n_leap):
                            for j in range(d):
                                p[j] -= 0.5 * h * beta * gy[b, j]
                                y[b, j] += h * p[j]
                            uy = eg(row_ptr(y, b), lp, row_ptr(gy, b))
                            if not math.isfinite(uy):
                                break
                            for j in range(d):
                                p[j] -= 0.5 * h * beta * gy[b, j]
                        k_new = 0.0
                        for j in range(d):
                            k_new += p[j] * p[j]
                        log_q = -0.5 * (k_new - k_old)
                    if math.isnan(uy) or uy == -math.inf:
                        fb[b] = s + 1
                        break
                    dq = uy - ux
                    log_a = -beta * dq + log_q
                    if uy != math.inf and (log_a >= 0.0 or uniform(st, b) < math.exp(log_a)):
                        for j in range(d):
                            xb[b, j] = y[b, j]
                        if method != RWM:  # the random walk never reads the gradient
                            for j in range(d):
                                g[b, j] = gy[b, j]
                        Qb[b] += dq
                        ub[b] = uy
                        ab[b] += 1
                if rc >= 0 and fb[b] < 0:
                    record(rc, lo + b, Wb[b], Qb[b], xb, b, rec_W, rec_Q, rec_x)
        x[lo:hi] = xb
        rng[lo:hi] = st
        u[lo:hi] = ub
        W[lo:hi] = Wb
        Q[lo:hi] = Qb
        P[lo:hi] = Pb
        nacc[lo:hi] = ab
        failed[lo:hi] = fb


def rwm_path_chunk(comp, geometric, lam, k0, k1, eps, n_moves, beta, x, u, rng, W, Q, P,
                   nacc, failed, rec_every, rec_off, rec_W, rec_Q, rec_x):
    """Random-walk Metropolis on an AIS path U(x, t) = combine(log f_a(x), log f_b(x),
    ca(t), t), the same arithmetic and random numbers as ``mcmc_chunk`` with method RWM
    (bit-identical results), but with half the density evaluations.

    ``comp(x, out2, scratch)`` writes log f_a(x), log f_b(x) into out2. Both are
    temperature-free, so each chain keeps them for its current point: after a switch the
    energy at the new t is combined from them (recomputed at the new t from values that
    do not depend on t), and only proposals evaluate the densities. The cache lives within
    one call (filled from x at its start), so the saved kernel state is unchanged."""
    n = x.shape[0]
    d = ndim(x)
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, n)
        nb = hi - lo
        xb = x[lo:hi].copy()
        st = rng[lo:hi].copy()
        ub = u[lo:hi].copy()
        Wb = W[lo:hi].copy()
        Qb = Q[lo:hi].copy()
        Pb = P[lo:hi].copy()
        ab = nacc[lo:hi].copy()
        fb = failed[lo:hi].copy()
        scratch = np.empty((nb, d))
        y = np.empty((nb, d))
        va = np.empty(nb)
        vb = np.empty(nb)
        cy = np.empty(2)
        cp = data_ptr(cy)
        for b in range(nb):
            if fb[b] < 0 and ub[b] != math.inf:
                comp(row_ptr(xb, b), cp, row_ptr(scratch, b))
                va[b] = cy[0]
                vb[b] = cy[1]
        for s in range(k0, k1):
            t = lam[s + 1, 0]
            ca = 1.0 - t if geometric else 1.0
            h = eps[s + 1]
            rc = record_row(s + 1, rec_every, rec_off, rec_W.shape[1])
            for b in range(nb):
                if fb[b] >= 0 or ub[b] == math.inf:  # failed, or weight already zero
                    continue
                un = combine(va[b], vb[b], ca, t)
                if math.isnan(un) or un == -math.inf:
                    fb[b] = s + 1
                    continue
                if un == math.inf:  # zero density at the new t: weight zero for good
                    Wb[b] = math.inf
                    Pb[b] = math.inf
                    ub[b] = math.inf
                    continue
                w = un - ub[b]
                Wb[b] += w
                Pb[b] += w
                ub[b] = un
                for _mv in range(n_moves):
                    ux = ub[b]
                    for j in range(d):
                        y[b, j] = xb[b, j] + h * normal(st, b)
                    comp(row_ptr(y, b), cp, row_ptr(scratch, b))
                    uy = combine(cy[0], cy[1], ca, t)
                    if math.isnan(uy) or uy == -math.inf:
                        fb[b] = s + 1
                        break
                    dq = uy - ux
                    log_a = -beta * dq
                    if uy != math.inf and (log_a >= 0.0 or uniform(st, b) < math.exp(log_a)):
                        for j in range(d):
                            xb[b, j] = y[b, j]
                        va[b] = cy[0]
                        vb[b] = cy[1]
                        Qb[b] += dq
                        ub[b] = uy
                        ab[b] += 1
                if rc >= 0 and fb[b] < 0:
                    record(rc, lo + b, Wb[b], Qb[b], xb, b, rec_W, rec_Q, rec_x)
        x[lo:hi] = xb
        rng[lo:hi] = st
        u[lo:hi] = ub
        W[lo:hi] = Wb
        Q[lo:hi] = Qb
        P[lo:hi] = Pb
        nacc[lo:hi] = ab
        failed[lo:hi] = fb


PATH_SIG = types.void(EnergyGradType, types.boolean, F2, i8, i8, F1, i8, f8,
                      F2, F1, U2, F1, F1, F1, I1, I1, i8, i8, F2, F2, F3)

_GENERIC = LazyKernel(mcmc_chunk, MCMC_SIG, parallel=True)
_GENERIC_PATH = LazyKernel(rwm_path_chunk, PATH_SIG, parallel=True)


def kernel(specialize=False, dim=None, path=False):
    """The generic cached kernel, or one compiled with the dimension a constant and the
    potential inlined (same arithmetic, same bits). ``path``: the random-walk kernel on
    an AIS path with cached component densities."""
    if not specialize:
        return _GENERIC_PATH if path else _GENERIC
    func = rwm_path_chunk if path else mcmc_chunk
    return specialized(func, ("mcmc", int(dim), bool(path)), dim)
