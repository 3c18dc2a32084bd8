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
trajectories or steps. Layout: trajectories in blocks of ``B`` lanes (spins of a block on
the stack, one extra "ghost" site per lane that is always 0, which the padding entries
of open boundaries point to, so every site sums exactly ``Z`` neighbours without a
branch); each update draws the two numbers of every lane in one loop that vectorizes,
then applies the flips lane by lane (a gather and a scatter per lane, which LLVM cannot
prove independent across lanes). Metropolis draws v even when dE <= 0 (where it cannot matter,
as the table holds probability 1 there): skipping the draw would make the next site
choice wait on this update's outcome, which measured twice as slow (6 vs 12 ns per
update); the fixed consumption also gives common random numbers across protocols.
The flip is applied without a branch (it is a coin toss the CPU cannot predict: 2x
faster for Glauber).

Flip probabilities are tabulated once per step (lam is fixed within a sweep): they take
only 2 (2z + 1) values, indexed by the old spin and the neighbour sum. Nothing is
allocated inside the step loop.
"""
import math

import numpy as np
from numba import carray, types

from .._numba.lazy import lazy_kernel
from .._numba.rng import to_uniform, xoshiro
from .._numba.stack import stack_f8, stack_i8, stack_u8
from .._numba.trace import record_row
from ..systems.ising_kernel import energy_from_sums

__all__ = ["spin_kernel", "lanes_for", "all_spins"]

# compile-time constants, bound per specialization
NS = 4           # sites
NS1 = NS + 1     # sites and the ghost
Z = 2            # neighbours per site
NF = 2 * Z + 1   # values of the neighbour sum
NF2 = 2 * NF
B = 64
BNS1 = B * NS1
GLAUBER = False

_S32 = np.uint64(32)


def lanes_for(n_sites):
    """Lanes per block: a block's spins stay within about 128 kB, 8 to 256 lanes."""
    b = 256
    while b > 8 and b * (n_sites + 1) * 8 > 131072:
        b //= 2
    return b


def spin_kernel(lam, k0, k1, prm, st, tr, rec_every, rec_off):
    """Single-spin-flip sweeps over steps k0+1..k1 (module docstring for the equations).

    Per step: w = -(J_{s+1} - J_s) B - (h_{s+1} - h_s) M (computed as the difference of
    the energies after and before the switch), then n_sites updates at random sites with
    flip probability min(1, e^{-beta dE}) (Metropolis) or 1/(1 + e^{beta dE}) (Glauber),
    dE = 2 s_i (J sum_nbr s_j + h). W, P += w; Q += dE of every flip; nacc counts flips;
    u holds U(x, current lam). Spins never make the energy non-finite, so ``failed``
    stays as it was (frozen trajectories, failed >= 0, are skipped as in every kernel).
    ``prm`` = (beta, neighbour table with -1 replaced by the ghost NS).
    """
    beta = prm[0]
    nbr = prm[1]
    n = st.x.shape[0]
    n_rec = tr.work.shape[1]
    rec_x = tr.x.shape[2] > 0
    n_sites = np.uint64(NS)
    xs = carray(stack_f8(BNS1), (B, NS1))
    ub = carray(stack_f8(B), (B,))
    Wb = carray(stack_f8(B), (B,))
    Qb = carray(stack_f8(B), (B,))
    Pb = carray(stack_f8(B), (B,))
    Bb = carray(stack_f8(B), (B,))
    Mb = carray(stack_f8(B), (B,))
    ab = carray(stack_i8(B), (B,))
    fb = carray(stack_i8(B), (B,))
    site = carray(stack_i8(B), (B,))
    vv = carray(stack_f8(B), (B,))
    s0 = carray(stack_u8(B), (B,))
    s1 = carray(stack_u8(B), (B,))
    s2 = carray(stack_u8(B), (B,))
    s3 = carray(stack_u8(B), (B,))
    p_tab = carray(stack_f8(NF2), (2, NF))
    for lo in range(0, n, B):
        nb = min(B, n - lo)
        for b in range(nb):
            i = lo + b
            for j in range(NS):
                xs[b, j] = st.x[i, j]
            xs[b, NS] = 0.0
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
            # (B, M) of the row: B = (1/2) sum_i s_i sum_nbr s_j (each bond once)
            B2 = 0.0
            M = 0.0
            for j in range(NS):
                sj = xs[b, j]
                nsum = 0.0
                for k in range(Z):
                    nsum += xs[b, nbr[j, k]]
                B2 += sj * nsum
                M += sj
            Bb[b] = 0.5 * B2
            Mb[b] = M
        for s in range(k0, k1):
            J = lam[s + 1, 0]
            h = lam[s + 1, 1]
            # flip probability by [old spin is +1, neighbour sum + Z], for this step
            for c in range(2):
                sp = 2.0 * c - 1.0
                for f in range(NF):
                    de = 2.0 * sp * (J * (f - Z) + h)
                    if GLAUBER:
                        p_tab[c, f] = 1.0 / (1.0 + math.exp(beta * de))
                    else:
                        p_tab[c, f] = math.exp(-beta * de) if de > 0.0 else 1.0
            for b in range(nb):
                if fb[b] < 0:
                    ui = energy_from_sums(J, h, Bb[b], Mb[b])
                    w = ui - ub[b]
                    Wb[b] += w
                    Pb[b] += w
                    ub[b] = ui
            for _t in range(NS):
                # the two draws of every lane: the site (multiply-high on the top 32
                # bits), then the uniform that decides the flip
                for b in range(nb):
                    r, a0, a1, a2, a3 = xoshiro(s0[b], s1[b], s2[b], s3[b])
                    site[b] = np.int64(((r >> _S32) * n_sites) >> _S32)
                    r, a0, a1, a2, a3 = xoshiro(a0, a1, a2, a3)
                    vv[b] = to_uniform(r)
                    s0[b] = a0
                    s1[b] = a1
                    s2[b] = a2
                    s3[b] = a3
                for b in range(nb):
                    if fb[b] >= 0:
                        continue
                    i = site[b]
                    nsum = 0.0
                    for k in range(Z):
                        nsum += xs[b, nbr[i, k]]
                    si = xs[b, i]
                    # p_tab is 1 where dE <= 0 (Metropolis): always a flip, as v < 1
                    flip = vv[b] < p_tab[1 if si > 0.0 else 0, np.int64(nsum) + Z]
                    # branchless update (the flip is a coin toss the CPU cannot predict);
                    # without a flip every increment below is exactly zero
                    fl = 2.0 * si if flip else 0.0
                    xs[b, i] = si - fl
                    Bi = Bb[b] - fl * nsum
                    Mi = Mb[b] - fl
                    Bb[b] = Bi
                    Mb[b] = Mi
                    un = energy_from_sums(J, h, Bi, Mi)
                    Qb[b] += un - ub[b]
                    ub[b] = un
                    ab[b] += np.int64(flip)
            rc = record_row(s + 1, rec_every, rec_off, n_rec)
            if rc >= 0:
                for b in range(nb):
                    if fb[b] < 0:
                        tr.work[lo + b, rc] = Wb[b]
                        tr.heat[lo + b, rc] = Qb[b]
                        if rec_x:
                            for j in range(NS):
                                tr.x[lo + b, rc, j] = xs[b, j]
        for b in range(nb):
            i = lo + b
            for j in range(NS):
                st.x[i, j] = xs[b, j]
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


@lazy_kernel(types.boolean(types.Array(types.float64, 2, "C")))
def all_spins(x):
    """True when every entry of ``x`` is exactly +1 or -1."""
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            v = x[i, j]
            if v != 1.0 and v != -1.0:
                return False
    return True
