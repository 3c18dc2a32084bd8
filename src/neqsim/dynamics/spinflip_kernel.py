"""Numba kernels for Ising lattices: single-spin-flip Metropolis / Glauber sweeps.

Spins are float64 +-1 stored in ``x`` (shape (n_traj, n_sites)), so a lattice run uses
the same kernel state, run files and analyzers as the continuous systems. ``nbr`` is the
int64 (n_sites, z) neighbour table; an entry -1 means "no neighbour" (open boundaries)
and ends that row. A size-2 periodic direction lists the same neighbour twice: it has
two bonds to it (the torus convention of the transfer-matrix and Kaufman formulas).

Energy, controls lam = (J, h), each bond counted once:

    U(s; J, h) = -J B(s) - h M(s),   B = sum_{bonds <ij>} s_i s_j,   M = sum_i s_i.

B and M are sums of +-1 terms, hence exact integers in float64 whatever the order of
summation; every energy here is computed from them by the one expression in
:func:`neqsim.systems.ising_kernel.energy_from_sums`, so the lattice's energy function,
the kernel's running ``u`` and a fresh evaluation at the final spins agree to the last
bit.

Step s+1 of a protocol (0-based loop index s, k0 <= s < k1), per trajectory:

1. switch lam_s -> lam_{s+1} at fixed spins: w = U(s, lam_{s+1}) - U(s, lam_s)
   = -(dJ) B - (dh) M; W += w, P += w;
2. one sweep: n_sites single-spin updates, each at a site i drawn uniformly at random.
   With the local field f_i = J sum_{j nbr i} s_j + h, flipping s_i costs
   dE = 2 s_i f_i, and the flip is made when a uniform v in [0, 1) is below
   Metropolis: min(1, exp(-beta dE));
   Glauber (heat bath): 1 / (1 + exp(beta dE)), i.e. the new spin is +1 with
   probability 1 / (1 + exp(-2 beta f_i)) whatever the old one was.
   Each flip adds its energy change to Q and counts in ``nacc``.

Detailed balance and exactness. Each single-site update T_i is in detailed balance
with pi_lam ~ exp(-beta U). Choosing the site at random with state-independent
probabilities p_i makes one update T = sum_i p_i T_i, again in detailed balance, and the
sweep T^{n_sites} is then reversible too (a power of a reversible kernel). So the
path-work log ratio of every step equals -beta q and W_path = W exactly: Jarzynski,
Crooks and BAR are exact with the protocol work (P is accumulated as W). A sequential
(typewriter) sweep would preserve pi but not be reversible; that is why sites are drawn.

Site choice: i = ((r >> 32) * n_sites) >> 32 from one 64-bit draw r (multiply-high on
the top 32 bits; n_sites < 2^32). Its probabilities are uniform to within a relative
n_sites / 2^32 (1.5e-8 for 64 sites); as they do not depend on the state, that
non-uniformity does not break detailed balance (see above), it only reweights which
sites are visited, by a negligible amount.

Randomness: trajectory i draws only from its own xoshiro256++ row, exactly two 64-bit
draws per update (the site, then v), so a sweep always consumes 2 n_sites draws whatever
the spins do, and results are bit-identical for any thread count and any chunking of
trajectories or steps. Metropolis draws v even when dE <= 0 (where it cannot matter,
as the table holds probability 1 there): skipping the draw would make the next site
choice wait on this update's outcome, which measured twice as slow (6 vs 12 ns per
update); the fixed consumption also gives common random numbers across protocols.
The generator state lives in registers during a sweep (``_xoshiro``, the same step as
``rng.next_u64``), and the flip is applied without a branch (it is a coin toss the CPU
cannot predict: 2x faster for Glauber).

Flip probabilities are tabulated once per step (lam is fixed within a sweep): they take
only 2 (2z + 1) values, indexed by the old spin and the neighbour sum. Nothing is
allocated inside the step loop.
"""
import math

import numpy as np
from numba import njit, prange, types

from .._numba.abi import BLOCK, F1, F2, F3, I1, I2, U2, f8, i8
from .._numba.lazy import LazyKernel
from .._numba.rng import _rotl
from .._numba.trace import record, record_row
from ..systems.ising_kernel import energy_from_sums

SPIN_SIG = types.void(F2, i8, i8, types.boolean, I2, f8,
                      F2, F1, U2, F1, F1, F1, I1, I1, i8, i8, F2, F2, F3)

_S32 = np.uint64(32)
_S17 = np.uint64(17)
_S11 = np.uint64(11)
_TWO_M53 = 2.0 ** -53


@njit(cache=True, inline="always")
def _xoshiro(s0, s1, s2, s3):
    """``rng.next_u64`` on a state held in four locals (registers) instead of an array
    row: the same xoshiro256++ step, so the same stream; returns (r, s0, s1, s2, s3)."""
    result = _rotl(s0 + s3, 23) + s0
    t = s1 << _S17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True)
def _row_sums(xb, b, nbr):
    """(B, M) of row b: B = (1/2) sum_i s_i sum_{j nbr i} s_j (each bond once), M = sum s_i."""
    z = nbr.shape[1]
    B2 = 0.0
    M = 0.0
    for i in range(xb.shape[1]):
        si = xb[b, i]
        nsum = 0.0
        for k in range(z):
            j = nbr[i, k]
            if j < 0:
                break
            nsum += xb[b, j]
        B2 += si * nsum
        M += si
    return 0.5 * B2, M


def spin_chunk(lam, k0, k1, glauber, nbr, beta, x, u, rng, W, Q, P, nacc, failed,
               rec_every, rec_off, rec_W, rec_Q, rec_x):
    """Single-spin-flip sweeps over steps k0+1..k1 (module docstring for the equations).

    Per step: w = -(J_{s+1} - J_s) B - (h_{s+1} - h_s) M (computed as the difference of
    the energies after and before the switch), then n_sites updates at random sites with
    flip probability min(1, e^{-beta dE}) (Metropolis) or 1/(1 + e^{beta dE}) (Glauber),
    dE = 2 s_i (J sum_nbr s_j + h). W, P += w; Q += dE of every flip; nacc counts flips;
    u holds U(x, current lam). Spins never make the energy non-finite, so ``failed``
    stays as it was (frozen trajectories, failed >= 0, are skipped as in every kernel).
    """
    n = x.shape[0]
    ns = x.shape[1]
    z = nbr.shape[1]
    nf = 2 * z + 1
    n_sites = np.uint64(ns)
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
        Bb = np.empty(nb)
        Mb = np.empty(nb)
        for b in range(nb):
            Bb[b], Mb[b] = _row_sums(xb, b, nbr)
        # flip probability by [old spin is +1, neighbour sum + z], refilled each step
        p_tab = np.empty((2, nf))
        for s in range(k0, k1):
            J = lam[s + 1, 0]
            h = lam[s + 1, 1]
            for c in range(2):
                sp = 2.0 * c - 1.0
                for f in range(nf):
                    de = 2.0 * sp * (J * (f - z) + h)
                    if glauber:
                        p_tab[c, f] = 1.0 / (1.0 + math.exp(beta * de))
                    else:
                        p_tab[c, f] = math.exp(-beta * de) if de > 0.0 else 1.0
            rc = record_row(s + 1, rec_every, rec_off, rec_W.shape[1])
            for b in range(nb):
                if fb[b] >= 0:
                    continue
                Bi = Bb[b]
                Mi = Mb[b]
                ui = energy_from_sums(J, h, Bi, Mi)
                w = ui - ub[b]
                Wb[b] += w
                Pb[b] += w
                Qi = Qb[b]
                acc = ab[b]
                s0 = st[b, 0]
                s1 = st[b, 1]
                s2 = st[b, 2]
                s3 = st[b, 3]
                for _t in range(ns):
                    r, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                    i = np.int64(((r >> _S32) * n_sites) >> _S32)
                    nsum = 0.0
                    for k in range(z):
                        j = nbr[i, k]
                        if j < 0:
                            break
                        nsum += xb[b, j]
                    si = xb[b, i]
                    r, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                    # p_tab is 1 where dE <= 0 (Metropolis): always a flip, as v < 1
                    flip = np.int64(r >> _S11) * _TWO_M53 < p_tab[1 if si > 0.0 else 0,
                                                                 np.int64(nsum) + z]
                    # branchless update (the flip is a coin toss the CPU cannot predict);
                    # without a flip every increment below is exactly zero
                    fl = 2.0 * si if flip else 0.0
                    xb[b, i] = si - fl
                    Bi -= fl * nsum
                    Mi -= fl
                    un = energy_from_sums(J, h, Bi, Mi)
                    Qi += un - ui
                    ui = un
                    acc += np.int64(flip)
                st[b, 0] = s0
                st[b, 1] = s1
                st[b, 2] = s2
                st[b, 3] = s3
                Bb[b] = Bi
                Mb[b] = Mi
                ub[b] = ui
                Qb[b] = Qi
                ab[b] = acc
                if rc >= 0:
                    record(rc, lo + b, Wb[b], Qi, xb, b, rec_W, rec_Q, rec_x)
        x[lo:hi] = xb
        rng[lo:hi] = st
        u[lo:hi] = ub
        W[lo:hi] = Wb
        Q[lo:hi] = Qb
        P[lo:hi] = Pb
        nacc[lo:hi] = ab
        failed[lo:hi] = fb



spin_chunk = LazyKernel(spin_chunk, SPIN_SIG, parallel=True)


@njit(types.boolean(F2), cache=True)
def all_spins(x):
    """True when every entry of ``x`` is exactly +1 or -1."""
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            v = x[i, j]
            if v != 1.0 and v != -1.0:
                return False
    return True
