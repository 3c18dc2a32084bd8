"""Numba kernels for the Metropolis-Hastings Markov kernels of AIS (RWM, MALA, HMC).

Same contract as ``_kernels``: pure functions over arrays, blocked ``prange`` over
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
import types as pytypes

import numpy as np
from numba import njit, prange, types

from ._functions import EnergyGradType, data_ptr, row_ptr
from ._kernels import BLOCK, F1, F2, F3, I1, U2, _ndim, _record, _record_row
from ._rng import normal, uniform

RWM, MALA, HMC = 0, 1, 2

i8, f8 = types.int64, types.float64
MCMC_SIG = types.void(EnergyGradType, F2, i8, i8, i8, F1, i8, i8, f8,
                      F2, F1, U2, F1, F1, F1, I1, I1, i8, i8, F2, F2, F3)


def mcmc_chunk(eg, lam, k0, k1, method, eps, n_leap, n_moves, beta,
               x, u, rng, W, Q, P, nacc, failed, rec_every, rec_off, rec_W, rec_Q, rec_x):
    n = x.shape[0]
    d = _ndim(x)
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
            rc = _record_row(s + 1, rec_every, rec_off, rec_W.shape[1])
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
                    _record(rc, lo + b, Wb[b], Qb[b], xb, b, rec_W, rec_Q, rec_x)
        x[lo:hi] = xb
        rng[lo:hi] = st
        u[lo:hi] = ub
        W[lo:hi] = Wb
        Q[lo:hi] = Qb
        P[lo:hi] = Pb
        nacc[lo:hi] = ab
        failed[lo:hi] = fb


_GENERIC = njit(MCMC_SIG, parallel=True, cache=True)(mcmc_chunk)
_SPECIALIZED = {}


def kernel(specialize=False, dim=None):
    """The generic cached kernel, or one compiled with the dimension a constant and the
    potential inlined (see ``_kernels.kernel``; same arithmetic, same bits)."""
    if not specialize:
        return _GENERIC
    fn = _SPECIALIZED.get(int(dim))
    if fn is None:
        const = int(dim)
        glb = dict(globals())
        glb["_ndim"] = njit(inline="always")(lambda x: const)
        src = pytypes.FunctionType(mcmc_chunk.__code__, glb, "mcmc_chunk")
        fn = _SPECIALIZED[const] = njit(parallel=True)(src)
    return fn
