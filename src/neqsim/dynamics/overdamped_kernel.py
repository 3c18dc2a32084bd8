"""Numba kernel of the overdamped integrators (Euler-Maruyama, MALA): steps k0+1 .. k1.

A template compiled per (potential, dimension, controls, MALA or not) by
:mod:`neqsim._numba.specialize`: the potential is inlined and ``D`` (dimension), ``M``
(controls), ``B`` (lanes per block) are constants. Trajectories are processed in blocks
of ``B`` lanes held as structure-of-arrays on the stack; per step, each block first
draws its normals (``rng.normals_lanes``), then runs one branch-free loop over its lanes
(failures and rejections are masks), so the step vectorizes across trajectories.

Each lane does exactly the arithmetic, and consumes exactly the random numbers, of the
one-trajectory-at-a-time kernel of neqsim 0.1.0 (tests/fixtures pin its outputs): per
step s+1 (0-based loop index s), with lam = lam_{s+1},

    un = U(x, lam), g = grad U(x, lam)         (the switch: w = un - u)
    y = x - (dt/gamma) g + sqrt(2 dt / (beta gamma)) xi
    log_ratio = log T(y|x) - log T(x|y) = -|xi|^2/2 + |x - y + (dt/gamma) grad U(y)|^2 beta gamma / (4 dt)
    q = U(y) - un
    EM:   x = y; Q += q; P += w + q + kT log_ratio
    MALA: accept with min(1, exp(-beta q - log_ratio)) (a uniform is drawn only when
          the log ratio is negative); Q += q and x = y if accepted; P = W.

``u`` holds U(x, current lam); ``failed`` is -1 while a trajectory is healthy, else the
step at which its energy became NaN (or +inf where that is not a rejection); it is then
frozen (its random numbers are no longer used, nor its values recorded).
"""
import math

import numpy as np
from numba import carray

from .._numba.rng import normals_lanes, to_uniform, xoshiro
from .._numba.stack import stack_f8, stack_i8, stack_u8
from .._numba.trace import record_row

__all__ = ["overdamped_kernel", "lanes_for"]

# compile-time constants, bound per specialization
D = 1
M = 1
B = 256
DB = D * B
METRO = False


def potential(x, lam, out):  # bound to the system's inlined energy_grad
    raise NotImplementedError


def lanes_for(dim):
    """Lanes per block: the block's buffers stay within about 32 kB (L1) for small
    dimensions, at least 16 lanes."""
    per_lane = 8 * (3 * dim + 14)
    b = 256
    while b > 16 and b * per_lane > 32768:
        b //= 2
    return b


def overdamped_kernel(lam, k0, k1, prm, st, tr, rec_every, rec_off):
    beta = prm[0]
    dt = prm[1]
    gamma = prm[2]
    n = st.x.shape[0]
    kT = 1.0 / beta
    mu_dt = dt / gamma
    sig = math.sqrt(2.0 * dt / (beta * gamma))
    inv4Ddt = beta * gamma / (4.0 * dt)
    n_rec = tr.work.shape[1]
    rec_x = tr.x.shape[2] > 0
    xs = carray(stack_f8(DB), (D, B))
    zs = carray(stack_f8(DB), (D, B))
    ys = carray(stack_f8(DB), (D, B))
    ub = carray(stack_f8(B), (B,))
    Wb = carray(stack_f8(B), (B,))
    Qb = carray(stack_f8(B), (B,))
    Pb = carray(stack_f8(B), (B,))
    unb = carray(stack_f8(B), (B,))
    uyb = carray(stack_f8(B), (B,))
    lab = carray(stack_f8(B), (B,))
    ab = carray(stack_i8(B), (B,))
    fb = carray(stack_i8(B), (B,))
    sb = carray(stack_i8(B), (B,))
    s0 = carray(stack_u8(B), (B,))
    s1 = carray(stack_u8(B), (B,))
    s2 = carray(stack_u8(B), (B,))
    s3 = carray(stack_u8(B), (B,))
    rbuf = carray(stack_u8(B), (B,))
    words = carray(stack_u8(B), (B,))
    xv = carray(stack_f8(D), (D,))
    gv = carray(stack_f8(D), (D,))
    yv = carray(stack_f8(D), (D,))
    gyv = carray(stack_f8(D), (D,))
    lv = carray(stack_f8(M), (M,))
    for lo in range(0, n, B):
        nb = min(B, n - lo)
        for b in range(nb):
            i = lo + b
            for j in range(D):
                xs[j, b] = st.x[i, j]
            ub[b] = st.u[i]
            Wb[b] = st.work[i]
            Qb[b] = st.heat[i]
            Pb[b] = st.path_work[i]
            ab[b] = st.n_accepted[i]
            fb[b] = st.failed_step[i]
            s0[b] = st.rng[i, 0]
            s1[b] = st.rng[i, 1]
            s2[b] = st.rng[i, 2]
            s3[b] = st.rng[i, 3]
        for s in range(k0, k1):
            for j in range(M):
                lv[j] = lam[s + 1, j]
            step = np.int64(s + 1)
            for j in range(D):
                normals_lanes(s0, s1, s2, s3, zs, j, rbuf, words, nb)
            for b in range(nb):
                healthy = fb[b] < 0
                for j in range(D):
                    xv[j] = xs[j, b]
                un = potential(xv, lv, gv)
                w = un - ub[b]
                sq = 0.0
                for j in range(D):
                    z = zs[j, b]
                    sq += z * z
                    yv[j] = xv[j] - mu_dt * gv[j] + sig * z
                uy = potential(yv, lv, gyv)
                rr = 0.0
                for j in range(D):
                    r = xv[j] - yv[j] + mu_dt * gyv[j]
                    rr += r * r
                # log T(y|x) - log T(x|y); the forward residual is sig * z exactly
                log_ratio = -0.5 * sq + rr * inv4Ddt
                q = uy - un
                switched = healthy and math.isfinite(un)
                Wb[b] = Wb[b] + w if switched else Wb[b]
                if METRO:
                    Pb[b] = Pb[b] + w if switched else Pb[b]
                    broken = math.isnan(uy) | (uy == -math.inf)
                    fb[b] = step if (healthy & (not switched)) | (switched & broken) \
                        else fb[b]
                    sb[b] = 1 if switched & (not broken) else 0
                    unb[b] = un
                    uyb[b] = uy
                    lab[b] = -beta * q - log_ratio
                    for j in range(D):
                        ys[j, b] = yv[j]
                else:
                    moved = switched and math.isfinite(uy)
                    fb[b] = step if healthy and not moved else fb[b]
                    for j in range(D):
                        xs[j, b] = yv[j] if moved else xv[j]
                    Qb[b] = Qb[b] + q if moved else Qb[b]
                    pw = Pb[b] + w if switched else Pb[b]
                    Pb[b] = pw + (q + log_ratio * kT) if moved else pw
                    ub[b] = uy if moved else ub[b]
            if METRO:
                # accept/reject: exp() is not vectorized, and the uniform is drawn only
                # where the log acceptance ratio is negative
                for b in range(nb):
                    if sb[b] == 0:
                        continue
                    uy = uyb[b]
                    log_a = lab[b]
                    ok = uy != math.inf
                    if ok and not log_a >= 0.0:
                        r, s0[b], s1[b], s2[b], s3[b] = xoshiro(s0[b], s1[b], s2[b], s3[b])
                        ok = to_uniform(r) < math.exp(log_a)
                    if ok:
                        for j in range(D):
                            xs[j, b] = ys[j, b]
                        Qb[b] += uy - unb[b]
                        ub[b] = uy
                        ab[b] += 1
                    else:
                        ub[b] = unb[b]
            rc = record_row(s + 1, rec_every, rec_off, n_rec)
            if rc >= 0:
                for b in range(nb):
                    if fb[b] < 0:
                        tr.work[lo + b, rc] = Wb[b]
                        tr.heat[lo + b, rc] = Qb[b]
                        if rec_x:
                            for j in range(D):
                                tr.x[lo + b, rc, j] = xs[j, b]
        for b in range(nb):
            i = lo + b
            for j in range(D):
                st.x[i, j] = xs[j, b]
            st.u[i] = ub[b]
            st.work[i] = Wb[b]
            st.heat[i] = Qb[b]
            st.path_work[i] = Pb[b]
            st.n_accepted[i] = ab[b]
            st.failed_step[i] = fb[b]
            st.rng[i, 0] = s0[b]
            st.rng[i, 1] = s1[b]
            st.rng[i, 2] = s2[b]
            st.rng[i, 3] = s3[b]
