"""Numba kernel for Markov jump processes: exact (Gillespie) evolution with lam held
piecewise constant, one protocol step of physical time ``dt`` per step.

Tables (built once per run by the integrator, row k at lam_k): ``E`` (K, n) energies,
``R`` (K, n, n) rates with R[k, i, j] the rate of the jump j -> i, ``F`` (K, n, n) the
non-conservative work f_ij of that jump, ``X`` (K, n) exit rates sum_i R[k, i, j].

Step s+1 (0-based s, k0 <= s < k1), per trajectory in state j:

1. switch lam_s -> lam_{s+1} at fixed state: w = E[s+1, j] - E[s, j]; W += w, P += w;
2. evolve exactly for time dt at lam_{s+1}: waiting time tau = -log(v) / X[s+1, j]
   (v uniform in (0, 1]); if tau exceeds the time left in the step, the step ends (the
   exponential clock is memoryless, so the next step draws a fresh one at its own
   rates); else jump to i with probability R[s+1, i, j] / X[s+1, j] (a second uniform),
   W += f_ij, P += f_ij, Q += E_i - E_j - f_ij, nacc += 1.

So E_x(lam_N) - E_x(lam_0) = W + Q per trajectory. W_path = W: the ratio of the
continuous-time path densities of a path and its time reversal (same rates, the escape
integrals cancel) is prod R_ij / R_ji = exp(-beta sum (E_i - E_j - f_ij)) = exp(-beta Q),
which makes Jarzynski and Crooks exact with the total work W at any dt.

Randomness: trajectory t draws only from row t of its own xoshiro256++ stream (two
uniforms per jump, one per step end), so the numbers do not depend on threads or on any
chunking of trajectories or steps.
"""
import math

import numpy as np

from .._numba.lazy import lazy_kernel
from .._numba.rng import uniform, uniform_open
from .._numba.trace import record_row

__all__ = ["jump_kernel", "all_states"]


@lazy_kernel(nogil=True)
def jump_kernel(lam, k0, k1, prm, st, tr, rec_every, rec_off):
    """Gillespie evolution over steps k0+1..k1 (module docstring for the equations);
    ``prm`` = (E, R, F, X, dt)."""
    E, R, F, X, dt = prm
    n = st.x.shape[0]
    ns = E.shape[1]
    n_rec = tr.work.shape[1]
    rec_x = tr.x.shape[2] > 0
    for t in range(n):
        if st.failed_step[t] >= 0:
            continue
        j = np.int64(st.x[t, 0])
        u = st.u[t]
        W = st.work[t]
        Q = st.heat[t]
        P = st.path_work[t]
        acc = st.n_accepted[t]
        for s in range(k0, k1):
            k = s + 1
            ui = E[k, j]
            w = ui - u
            W += w
            P += w
            u = ui
            left = dt
            out = X[k, j]
            while out > 0.0:
                tau = -math.log(uniform_open(st.rng, t)) / out
                if tau >= left:
                    break
                left -= tau
                v = uniform(st.rng, t) * out
                dest = -1
                last = -1
                c = 0.0
                for i in range(ns):
                    r = R[k, i, j]
                    if i == j or r <= 0.0:
                        continue
                    last = i
                    c += r
                    if v < c:
                        dest = i
                        break
                if dest < 0:  # v within rounding of the total: the last edge
                    dest = last
                f = F[k, dest, j]
                un = E[k, dest]
                W += f
                P += f
                Q += (un - u) - f
                u = un
                j = dest
                acc += 1
                out = X[k, j]
            rc = record_row(k, rec_every, rec_off, n_rec)
            if rc >= 0:
                tr.work[t, rc] = W
                tr.heat[t, rc] = Q
                if rec_x:
                    tr.x[t, rc, 0] = float(j)
        st.x[t, 0] = float(j)
        st.u[t] = u
        st.work[t] = W
        st.heat[t] = Q
        st.path_work[t] = P
        st.n_accepted[t] = acc


@lazy_kernel(nogil=True)
def all_states(x, n_states):
    """True when every entry of the (n, 1) array ``x`` is an integer 0 .. n_states - 1."""
    for i in range(x.shape[0]):
        v = x[i, 0]
        if not (v >= 0.0 and v < n_states and v == math.floor(v)):
            return False
    return True
