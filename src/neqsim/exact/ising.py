"""Exact log partition functions of Ising models: the one home of these formulas.

Energy E(s) = -J sum_<ij> s_i s_j - h sum_i s_i with each bond once; the functions take
the reduced coupling K = beta J and field H = beta h. Used by the lattices of
:mod:`neqsim.systems.ising` (free energies), the AIS targets of :mod:`neqsim.targets`
and the tests.

* :func:`chain_log_z`: 1-D chain by the transfer matrix, periodic or open, any K, H.
* :func:`torus_log_z`: 2-D periodic lattice at H = 0, Kaufman's finite-lattice formula
  (any size; antiferromagnets and odd sizes through twisted boundaries).
* :func:`bonds_log_z`: any bond list by exact enumeration (at most 24 spins).
* :func:`onsager_log_z_per_site`: the infinite square lattice, Onsager.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import logsumexp

__all__ = ["chain_log_z", "torus_log_z", "torus_bonds", "bonds_log_z",
           "onsager_log_z_per_site", "independent_log_z", "MAX_ENUMERATE_SPINS"]

MAX_ENUMERATE_SPINS = 24
_LOG2 = math.log(2.0)


def log_cosh(x):
    """log cosh x without overflow."""
    a = abs(x)
    return a + math.log1p(math.exp(-2.0 * a)) - _LOG2


def log_abs_sinh(x):
    """log |sinh x| without overflow (-inf at 0)."""
    a = abs(x)
    if a == 0.0:
        return -math.inf
    return a + math.log(-math.expm1(-2.0 * a)) - _LOG2


def independent_log_z(n_spins, H):
    """log Z of n independent spins in a field (K = 0): n log(2 cosh H)."""
    return n_spins * (_LOG2 + log_cosh(H))


def chain_log_z(n_sites, K, H=0.0, periodic=True):
    """log Z of the 1-D chain of ``n_sites`` spins.

    Periodic (s_{N+1} = s_1; N = 1 has one self-bond, N = 2 the bond counted twice):
    transfer matrix T_{ss'} = exp(K s s' + H (s + s') / 2),
        Z = tr T^N = l1^N + l2^N,  l1,2 = e^K cosh H +- sqrt(e^{2K} sinh^2 H + e^{-2K}),
    in log space without cancellation:
        log l1 = K + log(cosh H + sqrt(sinh^2 H + e^{-4K}))  (log-add-exp form),
        l2 / l1 = l1 l2 / l1^2 = 2 sinh(2K) / l1^2,  log Z = N log l1 + log1p((l2/l1)^N);
    for K < 0 (l2 < 0, odd N frustrated) 1 - |l2| / l1 = 2 e^K cosh H / l1 is used so that
    1 - |l2/l1|^N = -expm1(N log1p(-eps)) keeps full relative precision.
    Open: Z = sum_{s_1, s_N} e^{H s_1} prod e^{K s s' + H s'} by the forward recursion
    a_{k+1}(s') = H s' + log sum_s exp(a_k(s) + K s s'), in log space.
    """
    N = int(n_sites)
    if N < 1:
        raise ValueError("n_sites must be >= 1")
    K, H = float(K), float(H)
    if not periodic:
        ap, am = H, -H
        for _ in range(N - 1):
            ap, am = (H + float(np.logaddexp(ap + K, am - K)),
                      -H + float(np.logaddexp(ap - K, am + K)))
        return float(np.logaddexp(ap, am))
    log_ch = log_cosh(H)
    log_root = 0.5 * float(np.logaddexp(2.0 * log_abs_sinh(H), -4.0 * K))
    log_l1 = K + float(np.logaddexp(log_ch, log_root))
    if K == 0.0:
        return N * log_l1
    if K > 0.0:
        # 0 < l2 / l1 = 2 sinh(2K) / l1^2 < 1: no cancellation in 1 + (l2/l1)^N
        log_ratio = _LOG2 + log_abs_sinh(2.0 * K) - 2.0 * log_l1
        return N * log_l1 + math.log1p(math.exp(N * log_ratio))
    # K < 0: l2 < 0 and |l2| / l1 = 1 - eps with eps = (l1 + l2) / l1 = 2 e^K cosh H / l1,
    # which can be tiny (strong antiferromagnet): use log|l2/l1| = log1p(-eps) and expm1
    log_eps = _LOG2 + K + log_ch - log_l1
    eps = math.exp(log_eps)
    log_abs_ratio = math.log1p(-eps) if eps < 0.5 else (
        _LOG2 + log_abs_sinh(2.0 * K) - 2.0 * log_l1)
    x = N * log_abs_ratio
    if N % 2 == 0:
        return N * log_l1 + math.log1p(math.exp(x))
    if N * eps < 1e-17:
        # 1 - (1 - eps)^N = N eps (1 + O(N eps)), also when eps underflows
        return N * log_l1 + math.log(N) + log_eps
    return N * log_l1 + math.log(-math.expm1(x))


# --- enumeration ---------------------------------------------------------------------------

def torus_bonds(L_rows, L_cols):
    """(i, j, seam) for the 2 L_rows L_cols bonds of the torus, site index r * L_cols + c:
    each site to its lower and right neighbour modulo the size (a size-2 direction has
    its bonds doubled, a size-1 direction self-bonds). seam: 0 interior, 1 vertical bond
    wrapping row L_rows-1 -> 0, 2 horizontal bond wrapping column L_cols-1 -> 0."""
    out = []
    for r in range(L_rows):
        for c in range(L_cols):
            i = r * L_cols + c
            out.append((i, ((r + 1) % L_rows) * L_cols + c, 1 if r == L_rows - 1 else 0))
            out.append((i, r * L_cols + (c + 1) % L_cols, 2 if c == L_cols - 1 else 0))
    return out


@functools.lru_cache(maxsize=32)
def _density_of_states(n_spins, bonds):
    """Exact counts g(S, M) over all 2^n states: S = sum_bonds sign_b s_i s_j, M = sum_i s_i.

    bonds: tuple of (i, j, sign). Returns (S values, M values, counts) for nonzero counts.
    """
    if n_spins > MAX_ENUMERATE_SPINS:
        raise ValueError(f"enumeration is limited to {MAX_ENUMERATE_SPINS} spins, got "
                         f"{n_spins}")
    idx = np.arange(2 ** n_spins, dtype=np.int64)
    bits = [((idx >> k) & 1).astype(np.int8) for k in range(n_spins)]
    nb = len(bonds)
    S = np.zeros(idx.size, dtype=np.int32)
    for i, j, sign in bonds:
        S += sign * (1 - 2 * (bits[i] ^ bits[j]).astype(np.int32))
    M = np.full(idx.size, n_spins, dtype=np.int32)
    for b in bits:
        M -= 2 * b.astype(np.int32)
    key = (S + nb).astype(np.int64) * (2 * n_spins + 1) + (M + n_spins)
    counts = np.bincount(key, minlength=(2 * nb + 1) * (2 * n_spins + 1))
    nz = np.nonzero(counts)[0]
    s_vals = nz // (2 * n_spins + 1) - nb
    m_vals = nz % (2 * n_spins + 1) - n_spins
    return s_vals.astype(np.float64), m_vals.astype(np.float64), counts[nz].astype(np.float64)


def bonds_log_z(n_spins, bonds, K, H=0.0):
    """log Z = log sum_s exp(K sum_b sign_b s_i s_j + H sum_i s_i) by enumeration over the
    bonds (i, j, sign) (at most 24 spins). The density of states is counted once per bond
    list (cached), so many couplings are cheap; ``K`` and ``H`` may be arrays
    (broadcast together)."""
    s_vals, m_vals, counts = _density_of_states(int(n_spins), tuple(map(tuple, bonds)))
    Kb, Hb = np.broadcast_arrays(np.asarray(K, dtype=np.float64),
                                 np.asarray(H, dtype=np.float64))
    out = np.array([logsumexp(np.log(counts) + k * s_vals + hh * m_vals)
                    for k, hh in zip(Kb.ravel(), Hb.ravel())]).reshape(Kb.shape)
    return float(out) if out.ndim == 0 else out


# --- 2-D torus: Kaufman --------------------------------------------------------------------

def _kaufman_gammas(n, K):
    """gamma_k, k = 0 .. 2n-1, float64 (K > 0).

    cosh gamma_k = cosh 2K coth 2K - cos(pi k / n), k >= 1, evaluated without cancellation
    as gamma = log1p(delta + sqrt(delta (delta + 2))) with
    delta = cosh gamma - 1 = (sinh 2K - 1)^2 / sinh 2K + 2 sin^2(pi k / (2n));
    gamma_0 = 2K + log tanh K (signed: negative for K < K_c).
    """
    s = math.sinh(2.0 * K)
    k = np.arange(2 * n)
    delta = (s - 1.0) ** 2 / s + 2.0 * np.sin(0.5 * np.pi * k / n) ** 2
    g = np.log1p(delta + np.sqrt(delta * (delta + 2.0)))
    log_tanh = math.log(math.tanh(K)) if K < 1.0 else math.log1p(-2.0 / (math.exp(2.0 * K) + 1.0))
    g[0] = 2.0 * K + log_tanh
    return g


def _kaufman_log_terms(m, n, K):
    """log|Z_i| and sign(Z_i), i = 1..4, and the log prefactor, float64."""
    g = _kaufman_gammas(n, K)
    half = 0.5 * m * g
    lc = np.abs(half) + np.log1p(np.exp(-2.0 * np.abs(half)))          # log 2 cosh
    with np.errstate(divide="ignore"):
        ls = np.abs(half) + np.log(-np.expm1(-2.0 * np.abs(half)))      # log |2 sinh|
    sg = np.sign(half)
    odd, even = slice(1, None, 2), slice(0, None, 2)
    logs = np.array([lc[odd].sum(), ls[odd].sum(), lc[even].sum(), ls[even].sum()])
    signs = np.array([1.0, np.prod(sg[odd]), 1.0, np.prod(sg[even])])
    pre = -_LOG2 + 0.5 * m * n * (_LOG2 + math.log(math.sinh(2.0 * K)))
    return pre, logs, signs


# sign patterns c_i in Z = (1/2)(2 sinh 2K)^{mn/2} sum_i c_i Z_i for the four boundary
# conditions of the ferromagnet (twist_rows, twist_cols); (False, False) is Kaufman's torus
_TWIST_SIGNS = {(False, False): (1, 1, 1, 1), (True, False): (1, 1, -1, -1),
                (False, True): (1, -1, 1, -1), (True, True): (-1, 1, 1, -1)}


def _kaufman_log_z_mp(m, n, K, combo):
    """Same formula as the float path, in mpmath with precision raised until the signed
    sum of the four terms is resolved to >= 25 significant digits (twisted boundaries
    cancel catastrophically at strong coupling)."""
    import mpmath
    dps = 40
    while True:
        with mpmath.workdps(dps):
            Km = mpmath.mpf(K)
            s = mpmath.sinh(2 * Km)
            c0 = mpmath.cosh(2 * Km) * mpmath.coth(2 * Km)
            prods = [mpmath.mpf(1)] * 4
            for k in range(2 * n):
                if k == 0:
                    gk = 2 * Km + mpmath.log(mpmath.tanh(Km))
                else:
                    gk = mpmath.acosh(c0 - mpmath.cos(mpmath.pi * k / n))
                x = m * gk / 2
                if k % 2:
                    prods[0] *= 2 * mpmath.cosh(x)
                    prods[1] *= 2 * mpmath.sinh(x)
                else:
                    prods[2] *= 2 * mpmath.cosh(x)
                    prods[3] *= 2 * mpmath.sinh(x)
            total = sum(c * p for c, p in zip(combo, prods))
            biggest = max(abs(p) for p in prods)
            if total > 0:
                lost = float(mpmath.log10(biggest / total))
                if dps >= lost + 25:
                    return float(-mpmath.log(2) + mpmath.mpf(m * n) / 2 * mpmath.log(2 * s)
                                 + mpmath.log(total))
                dps = int(lost) + 40
            else:
                dps *= 2
            if dps > 20000:
                raise ArithmeticError("torus_log_z: could not resolve the sum")


def _kaufman_log_z(m, n, K, twist_rows=False, twist_cols=False):
    if K == 0.0:
        return m * n * _LOG2
    combo = _TWIST_SIGNS[(bool(twist_rows), bool(twist_cols))]
    if combo == (1, 1, 1, 1):
        # periodic: Z1, Z2, Z3 > 0 and Z1 is of the same order as |Z4|: no cancellation
        pre, logs, signs = _kaufman_log_terms(m, n, K)
        val, sign = logsumexp(logs, b=signs, return_sign=True)
        if not sign > 0:  # pragma: no cover - cannot happen for the periodic sum
            raise ArithmeticError("Kaufman sum not positive")
        return float(pre + val)
    return _kaufman_log_z_mp(m, n, K, combo)


def torus_log_z(L_rows, L_cols, K):
    """Exact log Z of the zero-field Ising model on the L_rows x L_cols periodic torus.

    Bonds as in :func:`torus_bonds`. Kaufman (1949), in the form of Beale, PRL 76, 78
    (1996), with m = L_rows, n = L_cols:

        Z = (1/2) (2 sinh 2K)^{mn/2} [Z1 + Z2 + Z3 + Z4]
        Z1 = prod_{k=0}^{n-1} 2 cosh(m gamma_{2k+1} / 2)
        Z2 = prod_{k=0}^{n-1} 2 sinh(m gamma_{2k+1} / 2)
        Z3 = prod_{k=0}^{n-1} 2 cosh(m gamma_{2k} / 2)
        Z4 = prod_{k=0}^{n-1} 2 sinh(m gamma_{2k} / 2)
        cosh gamma_k = cosh 2K coth 2K - cos(pi k / n)   (gamma_k > 0, k >= 1),
        gamma_0 = 2K + log tanh K,

    where gamma_0 < 0 for K < K_c = log(1 + sqrt 2)/2, which makes Z4 negative. Each
    product is accumulated as a sum of log|.| with a separate sign and the four terms are
    combined by a signed log-sum-exp. K = 0 gives m n log 2.

    Antiferromagnet (K < 0): flipping one checkerboard sublattice maps it to the
    ferromagnet |K| exactly when m and n are both even. In an odd direction the bonds
    across that seam stay antiferromagnetic (frustration): the ferromagnet with a
    twisted boundary in that direction, whose Z is the same four terms with the signs
    (+Z1 +Z2 -Z3 -Z4) (odd m), (+Z1 -Z2 +Z3 -Z4) (odd n), (-Z1 +Z2 +Z3 -Z4) (both odd)
    (the fermionic boundary-sector decomposition, checked against enumeration in the
    tests). These sums cancel catastrophically at strong coupling, so they are evaluated
    in mpmath with adaptive precision.
    """
    m, n = int(L_rows), int(L_cols)
    if m < 1 or n < 1:
        raise ValueError("lattice sizes must be >= 1")
    K = float(K)
    if not math.isfinite(K):
        raise ValueError("coupling must be finite")
    if K >= 0.0:
        return _kaufman_log_z(m, n, K)
    return _kaufman_log_z(m, n, -K, twist_rows=(m % 2 == 1), twist_cols=(n % 2 == 1))


def torus_enumerate_log_z(L_rows, L_cols, K, H=0.0, *, twist_rows=False, twist_cols=False):
    """log Z of the L_rows x L_cols torus by enumeration (:func:`bonds_log_z` over
    :func:`torus_bonds`); ``twist_rows`` / ``twist_cols`` flip the sign of the coupling
    on the bonds that wrap around the rows / columns (antiperiodic boundary)."""
    m, n = int(L_rows), int(L_cols)
    if m < 1 or n < 1:
        raise ValueError("lattice sizes must be >= 1")
    bonds = [(i, j, -1 if (seam == 1 and twist_rows) or (seam == 2 and twist_cols) else 1)
             for i, j, seam in torus_bonds(m, n)]
    return bonds_log_z(m * n, bonds, K, H)


def onsager_log_z_per_site(K):
    """Onsager's infinite-lattice lim log Z / N for the zero-field square lattice:

        log Z / N = log(2 cosh 2K) + (1 / 2 pi) int_0^pi log[(1 + sqrt(1 - k^2 sin^2 phi)) / 2] dphi,
        k = 2 sinh 2K / cosh^2 2K,

    by adaptive quadrature (the integrand has an integrable log singularity at K_c).
    Even in K (the square lattice is bipartite).
    """
    K = abs(float(K))
    kap = 2.0 * math.sinh(2.0 * K) / math.cosh(2.0 * K) ** 2

    def integrand(phi):
        return math.log(0.5 * (1.0 + math.sqrt(max(0.0, 1.0 - (kap * math.sin(phi)) ** 2))))

    from scipy import integrate
    val, _ = integrate.quad(integrand, 0.0, math.pi, points=[0.5 * math.pi], epsabs=1e-14,
                            epsrel=1e-13, limit=200)
    log_2cosh = 2.0 * K + math.log1p(math.exp(-4.0 * K))
    return log_2cosh + val / (2.0 * math.pi)
