"""Numba kernels of the Metropolis-Hastings Markov kernels of AIS (RWM, MALA, HMC).

Templates compiled per (potential, dimension, proposal) by
:mod:`neqsim._numba.specialize`, with the same block structure as the overdamped kernel:
trajectories ("chains") in blocks of ``B`` lanes on the stack; per step a switch loop,
then for each move the normals of all lanes, one proposal loop (vectorized), and an
accept loop (scalar: exp, and the uniform drawn only where the log acceptance ratio is
negative). Each chain does the arithmetic, and consumes the random numbers, of neqsim
0.1.0's kernel in the same order (tests/fixtures pin its outputs).

Step s+1 switches lam_s -> lam_{s+1} at fixed x (w = U(x, lam_{s+1}) - U(x, lam_s),
recomputed at the new lam: never a value cached at the old one), then applies
``n_moves`` Metropolis-Hastings moves targeting pi_{s+1}(x) ~ exp(-beta U(x, lam_{s+1}))
with step size ``eps[s+1]``. Every move is in detailed balance with pi_{s+1}, so the path
work equals W. Heat Q is the energy change of accepted moves (U_N - U_0 = W + Q).

RWM: y = x + eps xi, accept min(1, e^{-beta dU}).
MALA: y = x - (eps^2/2) beta grad U(x) + eps xi, Metropolis-Hastings with the Gaussian
      proposal densities.
HMC: p ~ N(0, I), n_leap leapfrog steps of size eps on H = beta U(x) + |p|^2/2, accept
     min(1, e^{-dH}).
A proposal with U = +inf is rejected (a hard wall); a chain whose current point gets
U = +inf at a switch has weight zero (W = +inf) and stops moving; NaN or -inf marks the
chain failed.

``rwm_path_kernel`` is the random walk on an AIS path U(x, t) = combine(log f_a(x),
log f_b(x), ca(t), t): it keeps each chain's two log densities (they do not depend on t),
so a switch combines them at the new t and only proposals evaluate densities; same
arithmetic and random numbers as ``mcmc_kernel`` with RWM.
"""
import math

import numpy as np
from numba import carray

from .._numba.rng import normals_lanes, to_uniform, xoshiro
from .._numba.stack import stack_f8, stack_i8, stack_u8
from .._numba.trace import record_row
from .path_energy import combine

__all__ = ["RWM", "MALA", "HMC", "mcmc_kernel", "rwm_path_kernel", "lanes_for"]

# proposal codes (the classes in ``mcmc`` name them as attributes)
RWM, MALA, HMC = 0, 1, 2

# compile-time constants, bound per specialization
D = 1
M = 1
B = 256
DB = D * B
PROPOSAL = RWM


def potential(x, lam, out):  # bound to the system's inlined energy_grad
    raise NotImplementedError


def fa(x, scratch):  # bound to the path's first log density (rwm_path_kernel)
    raise NotImplementedError


def fb(x, scratch):  # bound to the path's second log density (rwm_path_kernel)
    raise NotImplementedError


def lanes_for(dim):
    """Lanes per block: the block's buffers stay within about 48 kB, at least 16."""
    per_lane = 8 * (6 * dim + 16)
    b = 256
    while b > 16 and b * per_lane > 49152:
        b //= 2
    return b


def mcmc_kernel(lam, k0, k1, prm, st, tr, rec_every, rec_off):
    eps = prm[0]
    n_leap = prm[1]
    n_moves = prm[2]
    beta = prm[3]
    n = st.x.shape[0]
    n_rec = tr.work.shape[1]
    rec_x = tr.x.shape[2] > 0
    xs = carray(stack_f8(DB), (D, B))
    gs = carray(stack_f8(DB), (D, B))
    ys = carray(stack_f8(DB), (D, B))
    gys = carray(stack_f8(DB), (D, B))
    zs = carray(stack_f8(DB), (D, B))
    ub = carray(stack_f8(B), (B,))
    Wb = carray(stack_f8(B), (B,))
    Qb = carray(stack_f8(B), (B,))
    Pb = carray(stack_f8(B), (B,))
    uyb = carray(stack_f8(B), (B,))
    lab = carray(stack_f8(B), (B,))
    ab = carray(stack_i8(B), (B,))
    fb_ = carray(stack_i8(B), (B,))
    mv_ = carray(stack_i8(B), (B,))
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
    pv = carray(stack_f8(D), (D,))
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
            fb_[b] = st.failed_step[i]
            s0[b] = st.rng[i, 0]
            s1[b] = st.rng[i, 1]
            s2[b] = st.rng[i, 2]
            s3[b] = st.rng[i, 3]
        for s in range(k0, k1):
            for j in range(M):
                lv[j] = lam[s + 1, j]
            h = eps[s + 1]
            step = np.int64(s + 1)
            # the switch: U at the new lam (and its gradient for MALA and HMC)
            for b in range(nb):
                live = (fb_[b] < 0) & (ub[b] != math.inf)
                for j in range(D):
                    xv[j] = xs[j, b]
                un = potential(xv, lv, gv)
                for j in range(D):
                    gs[j, b] = gv[j]
                broken = math.isnan(un) | (un == -math.inf)
                fb_[b] = step if live & broken else fb_[b]
                ok = live & (not broken)
                zero = ok & (un == math.inf)  # zero density: weight zero for good
                w = un - ub[b]
                Wb[b] = math.inf if zero else (Wb[b] + w if ok else Wb[b])
                Pb[b] = math.inf if zero else (Pb[b] + w if ok else Pb[b])
                ub[b] = un if ok else ub[b]
                mv_[b] = 1 if ok & (not zero) else 0
            for _mv in range(n_moves):
                for j in range(D):
                    normals_lanes(s0, s1, s2, s3, zs, j, rbuf, words, nb)
                for b in range(nb):
                    ux = ub[b]
                    for j in range(D):
                        xv[j] = xs[j, b]
                        gv[j] = gs[j, b]
                    log_q = 0.0
                    if PROPOSAL == RWM:
                        for j in range(D):
                            yv[j] = xv[j] + h * zs[j, b]
                        uy = potential(yv, lv, gyv)
                    elif PROPOSAL == MALA:
                        c = 0.5 * h * h * beta
                        sq = 0.0
                        for j in range(D):
                            z = zs[j, b]
                            sq += z * z
                            yv[j] = xv[j] - c * gv[j] + h * z
                        uy = potential(yv, lv, gyv)
                        rr = 0.0
                        for j in range(D):
                            r = xv[j] - yv[j] + c * gyv[j]
                            rr += r * r
                        # log q(x|y) - log q(y|x), forward residual = h z
                        log_q = -rr / (2.0 * h * h) + 0.5 * sq
                    else:
                        k_old = 0.0
                        for j in range(D):
                            pv[j] = zs[j, b]
                            k_old += pv[j] * pv[j]
                            yv[j] = xv[j]
                            gyv[j] = gv[j]
                        uy = ux
                        run = True
                        for _l in range(n_leap):
                            for j in range(D):
                                pv[j] = pv[j] - 0.5 * h * beta * gyv[j] if run else pv[j]
                                yv[j] = yv[j] + h * pv[j] if run else yv[j]
                            ul = potential(yv, lv, gyv)
                            uy = ul if run else uy
                            run = run & math.isfinite(ul)
                            for j in range(D):
                                pv[j] = pv[j] - 0.5 * h * beta * gyv[j] if run else pv[j]
                        k_new = 0.0
                        for j in range(D):
                            k_new += pv[j] * pv[j]
                        log_q = -0.5 * (k_new - k_old)
                    for j in range(D):
                        ys[j, b] = yv[j]
                        gys[j, b] = gyv[j]
                    uyb[b] = uy
                    lab[b] = -beta * (uy - ux) + log_q
                for b in range(nb):
                    if mv_[b] == 0:
                        continue
                    uy = uyb[b]
                    if math.isnan(uy) or uy == -math.inf:
                        fb_[b] = step
                        mv_[b] = 0
                        continue
                    log_a = lab[b]
                    ok = uy != math.inf
                    if ok and not log_a >= 0.0:
                        r, s0[b], s1[b], s2[b], s3[b] = xoshiro(s0[b], s1[b], s2[b], s3[b])
                        ok = to_uniform(r) < math.exp(log_a)
                    if ok:
                        for j in range(D):
                            xs[j, b] = ys[j, b]
                        if PROPOSAL != RWM:  # the random walk never reads the gradient
                            for j in range(D):
                                gs[j, b] = gys[j, b]
                        Qb[b] += uy - ub[b]
                        ub[b] = uy
                        ab[b] += 1
            rc = record_row(s + 1, rec_every, rec_off, n_rec)
            if rc >= 0:
                for b in range(nb):
                    if fb_[b] < 0 and ub[b] != math.inf:
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
            st.failed_step[i] = fb_[b]
            st.rng[i, 0] = s0[b]
            st.rng[i, 1] = s1[b]
            st.rng[i, 2] = s2[b]
            st.rng[i, 3] = s3[b]


def rwm_path_kernel(lam, k0, k1, prm, st, tr, rec_every, rec_off):
    eps = prm[0]
    n_moves = prm[1]
    beta = prm[2]
    geometric = prm[3]
    n = st.x.shape[0]
    n_rec = tr.work.shape[1]
    rec_x = tr.x.shape[2] > 0
    xs = carray(stack_f8(DB), (D, B))
    ys = carray(stack_f8(DB), (D, B))
    zs = carray(stack_f8(DB), (D, B))
    ub = carray(stack_f8(B), (B,))
    Wb = carray(stack_f8(B), (B,))
    Qb = carray(stack_f8(B), (B,))
    Pb = carray(stack_f8(B), (B,))
    va = carray(stack_f8(B), (B,))
    vb = carray(stack_f8(B), (B,))
    ca_ = carray(stack_f8(B), (B,))
    cb_ = carray(stack_f8(B), (B,))
    uyb = carray(stack_f8(B), (B,))
    ab = carray(stack_i8(B), (B,))
    fb_ = carray(stack_i8(B), (B,))
    mv_ = carray(stack_i8(B), (B,))
    s0 = carray(stack_u8(B), (B,))
    s1 = carray(stack_u8(B), (B,))
    s2 = carray(stack_u8(B), (B,))
    s3 = carray(stack_u8(B), (B,))
    rbuf = carray(stack_u8(B), (B,))
    words = carray(stack_u8(B), (B,))
    xv = carray(stack_f8(D), (D,))
    sv = carray(stack_f8(D), (D,))
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
            fb_[b] = st.failed_step[i]
            s0[b] = st.rng[i, 0]
            s1[b] = st.rng[i, 1]
            s2[b] = st.rng[i, 2]
            s3[b] = st.rng[i, 3]
        # log f_a, log f_b of each chain's point (kept within this call only, so the
        # saved kernel state is that of the general kernel)
        for b in range(nb):
            for j in range(D):
                xv[j] = xs[j, b]
            va[b] = fa(xv, sv)
            vb[b] = fb(xv, sv)
        for s in range(k0, k1):
            t = lam[s + 1, 0]
            ca = 1.0 - t if geometric else 1.0
            h = eps[s + 1]
            step = np.int64(s + 1)
            for b in range(nb):
                live = (fb_[b] < 0) & (ub[b] != math.inf)
                un = combine(va[b], vb[b], ca, t)
                broken = math.isnan(un) | (un == -math.inf)
                fb_[b] = step if live & broken else fb_[b]
                ok = live & (not broken)
                zero = ok & (un == math.inf)
                w = un - ub[b]
                Wb[b] = math.inf if zero else (Wb[b] + w if ok else Wb[b])
                Pb[b] = math.inf if zero else (Pb[b] + w if ok else Pb[b])
                ub[b] = un if ok else ub[b]
                mv_[b] = 1 if ok & (not zero) else 0
            for _mv in range(n_moves):
                for j in range(D):
                    normals_lanes(s0, s1, s2, s3, zs, j, rbuf, words, nb)
                for b in range(nb):
                    for j in range(D):
                        xv[j] = xs[j, b] + h * zs[j, b]
                        ys[j, b] = xv[j]
                    a = fa(xv, sv)
                    c = fb(xv, sv)
                    ca_[b] = a
                    cb_[b] = c
                    uyb[b] = combine(a, c, ca, t)
                for b in range(nb):
                    if mv_[b] == 0:
                        continue
                    uy = uyb[b]
                    if math.isnan(uy) or uy == -math.inf:
                        fb_[b] = step
                        mv_[b] = 0
                        continue
                    dq = uy - ub[b]
                    log_a = -beta * dq
                    ok = uy != math.inf
                    if ok and not log_a >= 0.0:
                        r, s0[b], s1[b], s2[b], s3[b] = xoshiro(s0[b], s1[b], s2[b], s3[b])
                        ok = to_uniform(r) < math.exp(log_a)
                    if ok:
                        for j in range(D):
                            xs[j, b] = ys[j, b]
                        va[b] = ca_[b]
                        vb[b] = cb_[b]
                        Qb[b] += dq
                        ub[b] = uy
                        ab[b] += 1
            rc = record_row(s + 1, rec_every, rec_off, n_rec)
            if rc >= 0:
                for b in range(nb):
                    if fb_[b] < 0 and ub[b] != math.inf:
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
            st.failed_step[i] = fb_[b]
            st.rng[i, 0] = s0[b]
            st.rng[i, 1] = s1[b]
            st.rng[i, 2] = s2[b]
            st.rng[i, 3] = s3[b]
