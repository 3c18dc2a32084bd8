"""Numba kernel of the overdamped integrators (Euler-Maruyama, MALA): steps k0+1 .. k1.

Pure function over arrays: state and accumulators are updated in place, nothing is
allocated inside the step loop, and each trajectory draws only from its own generator
row, so results do not depend on thread count or on how steps and trajectories are
chunked. The kernel has one explicit signature (one cached compile) and takes the
potential as a first-class function pointer (see ``_numba.abi``); ``kernel(True, dim)``
compiles the same source with the potential inlined.

Step s+1 (0-based loop index s) switches lam_s -> lam_{s+1} at fixed state and applies
one kernel step targeting pi_{lam_{s+1}}. ``u[i]`` always holds U(x_i, current lam), so the
work of a switch costs one call that also yields the gradient the move needs.
``failed[i]`` is -1 while trajectory i is healthy, else the step at which its energy
became NaN (or +inf where that is not a legitimate rejection); it is then frozen.
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

OVERDAMPED_SIG = types.void(EnergyGradType, F2, i8, i8, types.boolean, f8, f8, f8,
                            F2, F1, U2, F1, F1, F1, I1, I1, i8, i8, F2, F2, F3)


def overdamped_chunk(eg, lam, k0, k1, metropolize, beta, dt, gamma,
                     x, u, rng, W, Q, P, nacc, failed,
                     rec_every, rec_off, rec_W, rec_Q, rec_x):
    """Euler-Maruyama (``metropolize`` False) or MALA (True) over steps k0+1..k1.

    Proposal y = x - (dt/gamma) g(x) + sqrt(2 dt / (beta gamma)) xi, T(y|x) Gaussian.
    Per step: w = U(x, lam_k) - U(x, lam_{k-1}); q = U(x', lam_k) - U(x, lam_k);
    EM path work adds q + kT log[T(x'|x) / T(x|x')]; MALA accepts with
    min(1, exp(-beta q) T(x|y) / T(y|x)), whose detailed balance makes W_path = W.
    """
    n = x.shape[0]
    d = ndim(x)
    m = lam.shape[1]
    mu_dt = dt / gamma
    sig = math.sqrt(2.0 * dt / (beta * gamma))
    inv4Ddt = beta * gamma / (4.0 * dt)
    kT = 1.0 / beta
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, n)
        nb = hi - lo
        # thread-local copies; the potential is called through raw pointers into them
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
        lk = np.empty(m)
        lp = data_ptr(lk)
        for s in range(k0, k1):
            for j in range(m):
                lk[j] = lam[s + 1, j]
            rc = record_row(s + 1, rec_every, rec_off, rec_W.shape[1])
            for b in range(nb):
                if fb[b] >= 0:
                    continue
                un = eg(row_ptr(xb, b), lp, row_ptr(g, b))
                if not math.isfinite(un):
                    fb[b] = s + 1
                    continue
                w = un - ub[b]
                Wb[b] += w
                Pb[b] += w
                sq = 0.0
                for j in range(d):
                    z = normal(st, b)
                    sq += z * z
                    y[b, j] = xb[b, j] - mu_dt * g[b, j] + sig * z
                uy = eg(row_ptr(y, b), lp, row_ptr(gy, b))
                rr = 0.0
                for j in range(d):
                    r = xb[b, j] - y[b, j] + mu_dt * gy[b, j]
                    rr += r * r
                # log T(y|x) - log T(x|y); the forward residual is sig * z exactly
                log_ratio = -0.5 * sq + rr * inv4Ddt
                q = uy - un
                if metropolize:
                    if math.isnan(uy) or uy == -math.inf:
                        fb[b] = s + 1
                        continue
                    log_a = -beta * q - log_ratio
                    if uy != math.inf and (log_a >= 0.0 or uniform(st, b) < math.exp(log_a)):
                        for j in range(d):
                            xb[b, j] = y[b, j]
                        Qb[b] += q
                        ub[b] = uy
                        ab[b] += 1
                    else:
                        ub[b] = un
                else:
                    if not math.isfinite(uy):
                        fb[b] = s + 1
                        continue
                    for j in range(d):
                        xb[b, j] = y[b, j]
                    Qb[b] += q
                    Pb[b] += q + log_ratio * kT
                    ub[b] = uy
                if rc >= 0:
                    record(rc, lo + b, Wb[b], Qb[b], xb, b, rec_W, rec_Q, rec_x)
        x[lo:hi] = xb
        rng[lo:hi] = st
        u[lo:hi] = ub
        W[lo:hi] = Wb
        Q[lo:hi] = Qb
        P[lo:hi] = Pb
        nacc[lo:hi] = ab
        failed[lo:hi] = fb


_GENERIC = LazyKernel(overdamped_chunk, OVERDAMPED_SIG, parallel=True)


def kernel(specialize=False, dim=None):
    """The generic kernel (potential through a pointer, one cached compile) or, with
    ``specialize``, the same source with the potential inlined and ``dim`` a constant
    (compiled once per process; bit-identical)."""
    if not specialize:
        return _GENERIC
    return specialized(overdamped_chunk, ("overdamped", int(dim)), dim)
