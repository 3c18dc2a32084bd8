"""CUDA kernels of the AIS Markov kernels (RWM, MALA, HMC; the random walk on a path of
two log densities): one thread per chain.

The per-chain twins of :mod:`.mcmc_kernel`: the same arithmetic in the same order and the
same random numbers in the same order (per step: the switch; per move: ``D`` normals,
the proposal, then the uniform of the accept/reject only where the log acceptance ratio
is negative). ``path_potential`` is the CUDA twin of the AIS path's gradient potential
(:mod:`neqsim.sampling.path`), whose CPU form takes its scratch from the stack; here it is
a local array, with the same arithmetic.

``D``, ``M``, ``PROPOSAL``, ``GEOMETRIC`` and the device copies of the potential (or of the
path's two log densities ``fa``, ``fb``) are bound per compile by
:func:`neqsim._numba.gpu.cuda_kernel`.
"""
import math

from numba import float64

from .._numba.rng import normal_state, to_uniform, xoshiro
from .._numba.trace import record_row
from .mcmc_kernel import HMC, MALA, RWM
from .path_energy import combine

__all__ = ["mcmc_cuda_kernel", "rwm_path_cuda_kernel", "path_potential"]

D = 1
M = 1
PROPOSAL = RWM
GEOMETRIC = False
cuda = None  # numba.cuda, bound when the kernel is built

_HELPERS = (normal_state, to_uniform, xoshiro, record_row, combine, float64, HMC, MALA)


def potential(x, lam, out):  # bound to the device copy of the system's energy_grad
    raise NotImplementedError


def fa(x, scratch):  # bound to the device copy of the path's first log density
    raise NotImplementedError


def fb(x, scratch):  # bound to the device copy of the path's second log density
    raise NotImplementedError


def path_potential(x, lam, out):
    t = lam[0]
    ga = cuda.local.array(D, float64)
    va = fa(x, ga)
    vb = fb(x, out)
    ca = 1.0 - t if GEOMETRIC else 1.0
    for j in range(x.shape[0]):
        out[j] = -ca * ga[j] - t * out[j]
    return combine(va, vb, ca, t)


def mcmc_cuda_kernel(lam, k0, k1, eps, n_leap, n_moves, beta, x, u, rng, work, heat,
                     path_work, n_accepted, failed_step, tr_work, tr_heat, tr_x, n_rec,
                     rec_x, rec_every, rec_off):
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    xv = cuda.local.array(D, float64)
    gv = cuda.local.array(D, float64)
    yv = cuda.local.array(D, float64)
    gyv = cuda.local.array(D, float64)
    pv = cuda.local.array(D, float64)
    zs = cuda.local.array(D, float64)
    lv = cuda.local.array(M, float64)
    for j in range(D):
        xv[j] = x[i, j]
    ub = u[i]
    Wb = work[i]
    Qb = heat[i]
    Pb = path_work[i]
    ab = n_accepted[i]
    fb_ = failed_step[i]
    a0 = rng[i, 0]
    a1 = rng[i, 1]
    a2 = rng[i, 2]
    a3 = rng[i, 3]
    for s in range(k0, k1):
        for j in range(M):
            lv[j] = lam[s + 1, j]
        h = eps[s + 1]
        step = s + 1
        # the switch: U at the new lam (and its gradient for MALA and HMC)
        live = (fb_ < 0) & (ub != math.inf)
        un = potential(xv, lv, gv)
        broken = math.isnan(un) | (un == -math.inf)
        fb_ = step if live & broken else fb_
        ok = live & (not broken)
        zero = ok & (un == math.inf)  # zero density: weight zero for good
        w = un - ub
        Wb = math.inf if zero else (Wb + w if ok else Wb)
        Pb = math.inf if zero else (Pb + w if ok else Pb)
        ub = un if ok else ub
        mv = ok & (not zero)
        for _mv in range(n_moves):
            # every chain draws, moving or not: its stream stays the CPU's
            for j in range(D):
                zs[j], a0, a1, a2, a3 = normal_state(a0, a1, a2, a3)
            ux = ub
            log_q = 0.0
            if PROPOSAL == RWM:
                for j in range(D):
                    yv[j] = xv[j] + h * zs[j]
                uy = potential(yv, lv, gyv)
            elif PROPOSAL == MALA:
                c = 0.5 * h * h * beta
                sq = 0.0
                for j in range(D):
                    z = zs[j]
                    sq += z * z
                    yv[j] = xv[j] - c * gv[j] + h * z
                uy = potential(yv, lv, gyv)
                rr = 0.0
                for j in range(D):
                    r = xv[j] - yv[j] + c * gyv[j]
                    rr += r * r
                log_q = -rr / (2.0 * h * h) + 0.5 * sq
            else:
                k_old = 0.0
                for j in range(D):
                    pv[j] = zs[j]
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
            log_a = -beta * (uy - ux) + log_q
            if mv:
                if math.isnan(uy) or uy == -math.inf:
                    fb_ = step
                    mv = False
                else:
                    acc = uy != math.inf
                    if acc and not log_a >= 0.0:
                        r64, a0, a1, a2, a3 = xoshiro(a0, a1, a2, a3)
                        acc = to_uniform(r64) < math.exp(log_a)
                    if acc:
                        for j in range(D):
                            xv[j] = yv[j]
                        if PROPOSAL != RWM:  # the random walk never reads the gradient
                            for j in range(D):
                                gv[j] = gyv[j]
                        Qb += uy - ub
                        ub = uy
                        ab += 1
        rc = record_row(s + 1, rec_every, rec_off, n_rec)
        if rc >= 0 and fb_ < 0 and ub != math.inf:
            tr_work[i, rc] = Wb
            tr_heat[i, rc] = Qb
            if rec_x:
                for j in range(D):
                    tr_x[i, rc, j] = xv[j]
    for j in range(D):
        x[i, j] = xv[j]
    u[i] = ub
    work[i] = Wb
    heat[i] = Qb
    path_work[i] = Pb
    n_accepted[i] = ab
    failed_step[i] = fb_
    rng[i, 0] = a0
    rng[i, 1] = a1
    rng[i, 2] = a2
    rng[i, 3] = a3


def rwm_path_cuda_kernel(lam, k0, k1, eps, n_moves, beta, geometric, x, u, rng, work, heat,
                         path_work, n_accepted, failed_step, tr_work, tr_heat, tr_x, n_rec,
                         rec_x, rec_every, rec_off):
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    xv = cuda.local.array(D, float64)
    yv = cuda.local.array(D, float64)
    sv = cuda.local.array(D, float64)
    zs = cuda.local.array(D, float64)
    for j in range(D):
        xv[j] = x[i, j]
    ub = u[i]
    Wb = work[i]
    Qb = heat[i]
    Pb = path_work[i]
    ab = n_accepted[i]
    fb_ = failed_step[i]
    a0 = rng[i, 0]
    a1 = rng[i, 1]
    a2 = rng[i, 2]
    a3 = rng[i, 3]
    # log f_a, log f_b of the chain's point (kept within this call, as on the CPU)
    va = fa(xv, sv)
    vb = fb(xv, sv)
    for s in range(k0, k1):
        t = lam[s + 1, 0]
        ca = 1.0 - t if geometric else 1.0
        h = eps[s + 1]
        step = s + 1
        live = (fb_ < 0) & (ub != math.inf)
        un = combine(va, vb, ca, t)
        broken = math.isnan(un) | (un == -math.inf)
        fb_ = step if live & broken else fb_
        ok = live & (not broken)
        zero = ok & (un == math.inf)
        w = un - ub
        Wb = math.inf if zero else (Wb + w if ok else Wb)
        Pb = math.inf if zero else (Pb + w if ok else Pb)
        ub = un if ok else ub
        mv = ok & (not zero)
        for _mv in range(n_moves):
            for j in range(D):
                zs[j], a0, a1, a2, a3 = normal_state(a0, a1, a2, a3)
            for j in range(D):
                yv[j] = xv[j] + h * zs[j]
            ya = fa(yv, sv)
            yb = fb(yv, sv)
            uy = combine(ya, yb, ca, t)
            if mv:
                if math.isnan(uy) or uy == -math.inf:
                    fb_ = step
                    mv = False
                else:
                    dq = uy - ub
                    log_a = -beta * dq
                    acc = uy != math.inf
                    if acc and not log_a >= 0.0:
                        r64, a0, a1, a2, a3 = xoshiro(a0, a1, a2, a3)
                        acc = to_uniform(r64) < math.exp(log_a)
                    if acc:
                        for j in range(D):
                            xv[j] = yv[j]
                        va = ya
                        vb = yb
                        Qb += dq
                        ub = uy
                        ab += 1
        rc = record_row(s + 1, rec_every, rec_off, n_rec)
        if rc >= 0 and fb_ < 0 and ub != math.inf:
            tr_work[i, rc] = Wb
            tr_heat[i, rc] = Qb
            if rec_x:
                for j in range(D):
                    tr_x[i, rc, j] = xv[j]
    for j in range(D):
        x[i, j] = xv[j]
    u[i] = ub
    work[i] = Wb
    heat[i] = Qb
    path_work[i] = Pb
    n_accepted[i] = ab
    failed_step[i] = fb_
    rng[i, 0] = a0
    rng[i, 1] = a1
    rng[i, 2] = a2
    rng[i, 3] = a3
