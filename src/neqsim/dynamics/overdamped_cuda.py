"""CUDA kernel of the overdamped integrators (Euler-Maruyama, MALA): one thread per
trajectory, steps k0+1 .. k1.

The per-trajectory twin of :mod:`.overdamped_kernel`: the same arithmetic in the same
order and the same random numbers in the same order (per step: the ``D`` normals of the
move, then, for MALA, the uniform of the accept/reject only where the log acceptance
ratio is negative), so a trajectory's numbers are those of the CPU run. With lam = lam_{s+1}:

    un = U(x, lam), g = grad U(x, lam)         (the switch: w = un - u)
    y = x - (dt/gamma) g + sqrt(2 dt / (beta gamma)) xi
    log_ratio = -|xi|^2/2 + |x - y + (dt/gamma) grad U(y)|^2 beta gamma / (4 dt)
    q = U(y) - un
    EM:   x = y; Q += q; P += w + q + kT log_ratio
    MALA: accept with min(1, exp(-beta q - log_ratio)); Q += q and x = y if accepted; P = W.

``D`` (dimension), ``M`` (controls), ``METRO`` (MALA) and the device copy of the potential
are bound per compile by :func:`neqsim._numba.gpu.cuda_kernel`; ``cuda`` is numba.cuda.
"""
import math

from numba import float64

from .._numba.rng import normal_state, to_uniform, xoshiro
from .._numba.trace import record_row

__all__ = ["overdamped_cuda_kernel"]

D = 1
M = 1
METRO = False
cuda = None  # numba.cuda, bound when the kernel is built (importing it costs a second)

_HELPERS = (normal_state, to_uniform, xoshiro, record_row, float64)


def potential(x, lam, out):  # bound to the device copy of the system's energy_grad
    raise NotImplementedError


def overdamped_cuda_kernel(lam, k0, k1, beta, dt, gamma, x, u, rng, work, heat, path_work,
                           n_accepted, failed_step, tr_work, tr_heat, tr_x, n_rec, rec_x,
                           rec_every, rec_off):
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    kT = 1.0 / beta
    mu_dt = dt / gamma
    sig = math.sqrt(2.0 * dt / (beta * gamma))
    inv4Ddt = beta * gamma / (4.0 * dt)
    xv = cuda.local.array(D, float64)
    zs = cuda.local.array(D, float64)
    yv = cuda.local.array(D, float64)
    gv = cuda.local.array(D, float64)
    gyv = cuda.local.array(D, float64)
    lv = cuda.local.array(M, float64)
    for j in range(D):
        xv[j] = x[i, j]
    ui = u[i]
    Wi = work[i]
    Qi = heat[i]
    Pi = path_work[i]
    ai = n_accepted[i]
    fi = failed_step[i]
    a0 = rng[i, 0]
    a1 = rng[i, 1]
    a2 = rng[i, 2]
    a3 = rng[i, 3]
    for s in range(k0, k1):
        for j in range(M):
            lv[j] = lam[s + 1, j]
        step = s + 1
        # a failed trajectory keeps drawing: its stream stays the CPU's, bit for bit
        for j in range(D):
            zs[j], a0, a1, a2, a3 = normal_state(a0, a1, a2, a3)
        healthy = fi < 0
        un = potential(xv, lv, gv)
        w = un - ui
        sq = 0.0
        for j in range(D):
            z = zs[j]
            sq += z * z
            yv[j] = xv[j] - mu_dt * gv[j] + sig * z
        uy = potential(yv, lv, gyv)
        rr = 0.0
        for j in range(D):
            r = xv[j] - yv[j] + mu_dt * gyv[j]
            rr += r * r
        log_ratio = -0.5 * sq + rr * inv4Ddt
        q = uy - un
        switched = healthy and math.isfinite(un)
        Wi = Wi + w if switched else Wi
        if METRO:
            Pi = Pi + w if switched else Pi
            broken = math.isnan(uy) or uy == -math.inf
            fi = step if (healthy and not switched) or (switched and broken) else fi
            if switched and not broken:
                log_a = -beta * q - log_ratio
                ok = uy != math.inf
                if ok and not log_a >= 0.0:
                    r64, a0, a1, a2, a3 = xoshiro(a0, a1, a2, a3)
                    ok = to_uniform(r64) < math.exp(log_a)
                if ok:
                    for j in range(D):
                        xv[j] = yv[j]
                    Qi += uy - un
                    ui = uy
                    ai += 1
                else:
                    ui = un
        else:
            moved = switched and math.isfinite(uy)
            fi = step if healthy and not moved else fi
            if moved:
                for j in range(D):
                    xv[j] = yv[j]
            Qi = Qi + q if moved else Qi
            pw = Pi + w if switched else Pi
            Pi = pw + (q + log_ratio * kT) if moved else pw
            ui = uy if moved else ui
        rc = record_row(s + 1, rec_every, rec_off, n_rec)
        if rc >= 0 and fi < 0:
            tr_work[i, rc] = Wi
            tr_heat[i, rc] = Qi
            if rec_x:
                for j in range(D):
                    tr_x[i, rc, j] = xv[j]
    for j in range(D):
        x[i, j] = xv[j]
    u[i] = ui
    work[i] = Wi
    heat[i] = Qi
    path_work[i] = Pi
    n_accepted[i] = ai
    failed_step[i] = fi
    rng[i, 0] = a0
    rng[i, 1] = a1
    rng[i, 2] = a2
    rng[i, 3] = a3
