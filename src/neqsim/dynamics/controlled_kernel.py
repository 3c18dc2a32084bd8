"""Numba kernel of the overdamped integrators under per-trajectory controls: steps k0+1 .. k1.

Trajectory i sees the controls

    lam_i(k) = base[k] + sum_c gain[k, :, c] coef[i, c]

(an affine feedback law: ``coef`` holds what the controller made of the measurements so
far, ``gain`` is zero before each measurement). Per step s+1 the arithmetic, and the
random numbers drawn from trajectory i's own stream, are those of
:mod:`.overdamped_kernel` (Euler-Maruyama, or MALA when ``METRO``), with lam = lam_i(s+1):

    un = U(x, lam), w = un - u                              (switch at fixed x: work)
    y = x - (dt/gamma) grad U(x, lam) + sqrt(2 dt / (beta gamma)) xi
    q = U(y, lam) - un                                     (the kernel step: heat)

so with zero gains a run is bit for bit the one ``simulate`` gives. One trajectory at a
time (the controls differ per trajectory, so there is no shared lam to hoist); threads
split the trajectories (:func:`neqsim._numba.threads.run_split`). ``failed`` as in the
overdamped kernel: -1 while healthy, else the step where the energy became non-finite.
"""
import math

import numpy as np
from numba import carray

from .._numba.rng import next_u64, normal, to_uniform
from .._numba.stack import stack_f8

__all__ = ["controlled_kernel"]

# compile-time constants, bound per specialization
D = 1
M = 1
C = 1
METRO = False


def potential(x, lam, out):  # bound to the system's inlined energy_grad
    raise NotImplementedError


def controlled_kernel(base, gain, coef, k0, k1, prm, st):
    beta = prm[0]
    dt = prm[1]
    gamma = prm[2]
    n = st.x.shape[0]
    kT = 1.0 / beta
    mu_dt = dt / gamma
    sig = math.sqrt(2.0 * dt / (beta * gamma))
    inv4Ddt = beta * gamma / (4.0 * dt)
    xv = carray(stack_f8(D), (D,))
    gv = carray(stack_f8(D), (D,))
    yv = carray(stack_f8(D), (D,))
    gyv = carray(stack_f8(D), (D,))
    zv = carray(stack_f8(D), (D,))
    lv = carray(stack_f8(M), (M,))
    for i in range(n):
        if st.failed_step[i] >= 0:
            continue
        for j in range(D):
            xv[j] = st.x[i, j]
        u = st.u[i]
        W = st.work[i]
        Q = st.heat[i]
        P = st.path_work[i]
        acc = st.n_accepted[i]
        failed = np.int64(-1)
        for s in range(k0, k1):
            step = np.int64(s + 1)
            for j in range(M):
                lam = base[s + 1, j]
                for c in range(C):
                    lam += gain[s + 1, j, c] * coef[i, c]
                lv[j] = lam
            for j in range(D):
                zv[j] = normal(st.rng, i)
            un = potential(xv, lv, gv)
            w = un - u
            sq = 0.0
            for j in range(D):
                z = zv[j]
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
            if not math.isfinite(un):
                failed = step
                break
            W = W + w
            if METRO:
                P = P + w
                if math.isnan(uy) or uy == -math.inf:
                    failed = step
                    break
                log_a = -beta * q - log_ratio
                ok = uy != math.inf
                if ok and not log_a >= 0.0:
                    ok = to_uniform(next_u64(st.rng, i)) < math.exp(log_a)
                if ok:
                    for j in range(D):
                        xv[j] = yv[j]
                    Q += uy - un
                    u = uy
                    acc += 1
                else:
                    u = un
            else:
                if not math.isfinite(uy):
                    failed = step
                    P = P + w
                    break
                for j in range(D):
                    xv[j] = yv[j]
                Q = Q + q
                pw = P + w
                P = pw + (q + log_ratio * kT)
                u = uy
        for j in range(D):
            st.x[i, j] = xv[j]
        st.u[i] = u
        st.work[i] = W
        st.heat[i] = Q
        st.path_work[i] = P
        st.n_accepted[i] = acc
        st.failed_step[i] = failed
