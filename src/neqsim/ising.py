"""Ising lattices driven by their coupling and field, simulated by single-spin flips.

    import neqsim as nq
    from neqsim.ising import ising, SpinFlip
    lattice = ising((8, 8))                                    # periodic 8 x 8 torus
    proto = nq.protocols.linear([0.0, 0.0], [0.44, 0.0], 100)  # J: 0 -> 0.44 at h = 0
    run = nq.simulate(lattice, proto, SpinFlip("glauber"), n_traj=10_000, seed=1)
    dF = lattice.free_energy([0.44, 0.0]) - lattice.free_energy([0.0, 0.0])

Energy (controls lam = (J, h), each bond counted once; spins s_i = +-1 stored as float64
in the configuration array, shape (n_traj, n_sites) with sites in row-major order):

    U(s; J, h) = -J sum_<ij> s_i s_j - h sum_i s_i.

Bonds: 1-D, site i to i + 1; 2-D, site (r, c) to (r, c + 1) and (r + 1, c); modulo the
size when periodic. A periodic direction of size 2 therefore has two bonds between the
same pair (the torus convention of the transfer-matrix and Kaufman formulas).

Work and heat follow PHYSICS.md: each step switches (J, h) at fixed spins
(w = -(dJ) B - (dh) M, B = sum_<ij> s_i s_j, M = sum_i s_i) and then applies one sweep of
:class:`SpinFlip` (n_sites single-spin updates at random sites); heat is the energy change
of the flips. The sweep is in detailed balance, so ``path_work`` equals ``work`` and the
fluctuation theorems are exact with it (see :mod:`neqsim._ising`).

Exact results: equilibrium sampling at J = 0 (independent spins) for
``init="equilibrium"``; F(lam) = -log Z / beta from the transfer matrix (1-D, any J, h),
Kaufman's finite-torus formula (2-D, h = 0, via :mod:`neqsim.testsystems`), the
independent-spin formula (J = 0), or enumeration (at most 16 sites).
"""
from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from . import _ising
from ._functions import ENERGY_GRAD_SIG
from .integrators import Integrator
from .systems import System

__all__ = ["ising", "neighbor_table", "Lattice", "SpinFlip", "BUILDERS", "chain_log_z",
           "enumerate_log_z", "ENUMERATE_MAX_SITES"]

#: exact free energies by summing over all 2^n_sites states up to this size
ENUMERATE_MAX_SITES = 16
_LOG2 = math.log(2.0)


# --- lattice geometry --------------------------------------------------------------------

def _check_shape(shape):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"lattice shape must be (L,) or (L_rows, L_cols), got {shape!r}") \
            from None
    if len(dims) not in (1, 2):
        raise ValueError(f"lattice shape must be (L,) or (L_rows, L_cols) (1-D or 2-D), got "
                         f"{len(dims)} dimensions: {shape!r}")
    out = []
    for L in dims:
        if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or L < 2:
            raise ValueError(f"every lattice size must be an integer >= 2, got {shape!r}")
        out.append(int(L))
    if math.prod(out) >= 2**31:
        raise ValueError(f"lattice {shape!r} has too many sites (at most 2^31 - 1)")
    return tuple(out)


def neighbor_table(shape, periodic=True):
    """int64 (n_sites, z) table of each site's neighbours, z = 2 (1-D) or 4 (2-D).

    Sites are numbered row-major (site (r, c) is r * L_cols + c). Rows list right, left
    (1-D) or right, left, down, up (2-D); a periodic direction of size 2 lists the same
    neighbour twice (two bonds). With open boundaries the missing neighbours are dropped
    and the row is padded with -1 at its end.
    """
    shape = _check_shape(shape)
    if len(shape) == 1:
        rows, cols = 1, shape[0]
    else:
        rows, cols = shape
    z = 2 * len(shape)
    out = np.full((rows * cols, z), -1, dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            cand = [(r, c + 1), (r, c - 1)]
            if len(shape) == 2:
                cand += [(r + 1, c), (r - 1, c)]
            nb = []
            for rr, cc in cand:
                if periodic:
                    nb.append((rr % rows) * cols + cc % cols)
                elif 0 <= rr < rows and 0 <= cc < cols:
                    nb.append(rr * cols + cc)
            out[r * cols + c, :len(nb)] = nb
    out.setflags(write=False)
    return out


def _make_energy_grad(shape, periodic):
    """Compile ``energy_grad(x, lam, grad_out) -> U`` for one lattice.

    The sizes are captured as compile-time constants (not the neighbour table: a large
    frozen array would bloat the compiled code), as in ``systems.double_well``: small,
    compiled per lattice, never cached on disk, so it cannot go stale. ``grad_out`` is
    set to zero: a spin system has no gradient.
    """
    two_d = len(shape) == 2
    rows, cols = (shape if two_d else (1, shape[0]))
    per = bool(periodic)
    efs = _ising.energy_from_sums

    def energy_grad(x, lam, out):
        B = 0.0
        M = 0.0
        for r in range(rows):
            for c in range(cols):
                i = r * cols + c
                s = x[i]
                out[i] = 0.0
                M += s
                if c + 1 < cols:
                    B += s * x[i + 1]
                elif per:
                    B += s * x[r * cols]
                if two_d:
                    if r + 1 < rows:
                        B += s * x[i + cols]
                    elif per:
                        B += s * x[c]
        return efs(lam[0], lam[1], B, M)

    return njit(ENERGY_GRAD_SIG)(energy_grad)


# --- exact free energies -----------------------------------------------------------------

def _log_cosh(x):
    ax = abs(x)
    return ax + math.log1p(math.exp(-2.0 * ax)) - _LOG2


def _log_abs_sinh(x):
    ax = abs(x)
    if ax == 0.0:
        return -math.inf
    return ax + math.log(-math.expm1(-2.0 * ax)) - _LOG2


def chain_log_z(n_sites, K, H, periodic=True):
    """log Z of the 1-D chain with reduced coupling K = beta J and field H = beta h.

    Periodic (transfer matrix T_{ss'} = exp(K s s' + H (s + s') / 2)):
        Z = tr T^N = l1^N + l2^N,  l1,2 = e^K cosh H +- sqrt(e^{2K} sinh^2 H + e^{-2K}),
    in log space: log l1 = K + log(cosh H + sqrt(sinh^2 H + e^{-4K})) (log-add-exp),
    l2 / l1 = l1 l2 / l1^2 = 2 sinh(2K) / l1^2, log Z = N log l1 + log(1 + (l2/l1)^N).
    For K < 0, l2 < 0 and 1 - |l2/l1| = 2 e^K cosh H / l1 is used directly (it can be
    tiny, strong antiferromagnet), with log(1 - |r|^N) = log(-expm1(N log|r|)) for odd N.
    Open: Z = sum_{s_1, s_N} e^{H s_1} (prod of e^{K s s' + H s'}) by the forward
    recursion a_{k+1}(s') = H s' + log sum_s exp(a_k(s) + K s s'), in log space.
    """
    N = int(n_sites)
    K, H = float(K), float(H)
    if not periodic:
        ap, am = H, -H
        for _ in range(N - 1):
            ap, am = (H + float(np.logaddexp(ap + K, am - K)),
                      -H + float(np.logaddexp(ap - K, am + K)))
        return float(np.logaddexp(ap, am))
    log_l1 = K + float(np.logaddexp(_log_cosh(H),
                                    0.5 * float(np.logaddexp(2.0 * _log_abs_sinh(H), -4.0 * K))))
    if K == 0.0:
        return N * log_l1
    if K > 0.0:
        log_r = _LOG2 + _log_abs_sinh(2.0 * K) - 2.0 * log_l1
        return N * log_l1 + math.log1p(math.exp(N * log_r))
    eps = math.exp(_LOG2 + K + _log_cosh(H) - log_l1)  # 1 - |l2 / l1|
    log_abs_r = math.log1p(-eps) if eps < 0.5 else _LOG2 + _log_abs_sinh(2.0 * K) - 2.0 * log_l1
    t = N * log_abs_r
    if N % 2 == 0:
        return N * log_l1 + math.log1p(math.exp(t))
    return N * log_l1 + math.log(-math.expm1(t))


@functools.lru_cache(maxsize=32)
def _density_of_states(shape, periodic):
    """Distinct (B, M) over all 2^n_sites states and their multiplicities."""
    nbr = neighbor_table(shape, periodic)
    n = nbr.shape[0]
    codes = np.arange(2 ** n, dtype=np.int64)
    s = 1 - 2 * ((codes[:, None] >> np.arange(n)) & 1).astype(np.int64)  # (2^n, n) +-1
    B2 = np.zeros(codes.size, dtype=np.int64)
    for k in range(nbr.shape[1]):
        col = nbr[:, k]
        ok = col >= 0
        B2 += np.sum(s[:, ok] * s[:, col[ok]], axis=1)
    M = s.sum(axis=1)
    keys, counts = np.unique(np.stack([B2 // 2, M], axis=1), axis=0, return_counts=True)
    return keys[:, 0].astype(float), keys[:, 1].astype(float), counts.astype(float)


def enumerate_log_z(shape, K, H, periodic=True):
    """log Z = log sum_s exp(K B(s) + H M(s)) by enumeration (at most 24 sites)."""
    shape = _check_shape(shape)
    if math.prod(shape) > 24:
        raise ValueError("enumeration is limited to 24 sites")
    B, M, g = _density_of_states(shape, bool(periodic))
    a = K * B + H * M + np.log(g)
    m = a.max()
    return float(m + np.log(np.sum(np.exp(a - m))))


def _log_z(shape, periodic, K, H):
    """log Z(K, H) of the lattice, or None where no exact value is available here."""
    n = math.prod(shape)
    if K == 0.0:
        return n * (_LOG2 + _log_cosh(H))
    if len(shape) == 1:
        return chain_log_z(n, K, H, periodic)
    if H == 0.0 and periodic:
        try:
            from .testsystems import ising_2d_log_z
        except ImportError:
            pass
        else:
            return float(ising_2d_log_z(shape[0], shape[1], K))
    if n <= ENUMERATE_MAX_SITES:
        return enumerate_log_z(shape, K, H, periodic)
    return None


# --- the system --------------------------------------------------------------------------

class Lattice(System):
    """A :class:`neqsim.System` whose configurations are +-1 spins on a lattice.

    Extra attributes: ``shape``, ``periodic`` and ``neighbors`` (the int64 neighbour
    table :class:`SpinFlip` needs). ``free_energy`` returns None where no exact value is
    known (instead of quadrature, which does not apply to spins).
    """

    def free_energy(self, lam, beta=1.0, *, quadrature=True):
        value = self._exact_free_energy(self._lam(lam), float(beta))
        return None if value is None else float(value)


def ising(shape, periodic=True):
    """Ising lattice of ``shape`` = (L,) (chain, or an int L) or (L_rows, L_cols), each
    size >= 2; controls lam = (J, h):

        U(s; J, h) = -J sum_<ij> s_i s_j - h sum_i s_i   (each bond once).

    Returns a :class:`Lattice` (a ``System``; dim = number of sites, configurations
    float64 +-1, site (r, c) at index r * L_cols + c) to drive with :class:`SpinFlip`.
    Its ``energy_grad`` computes U and writes zeros to the gradient: spin systems have
    none, so the continuous integrators must not be used with it.

    Exact results:
    * ``exact_sampler(lam, beta)``: at J = 0 the spins are independent with
      p(s_i = +1) = 1 / (1 + exp(-2 beta h)), drawn from each trajectory's own stream
      (used by ``init="equilibrium"``); None for J != 0.
    * ``free_energy(lam, beta)`` = -log Z / beta: J = 0, log Z = N log(2 cosh beta h);
      1-D, the transfer matrix (:func:`chain_log_z`), any J and h; 2-D periodic at h = 0,
      Kaufman's finite-lattice formula (``neqsim.testsystems.ising_2d_log_z``; enumeration
      if that is unavailable); otherwise enumeration up to ENUMERATE_MAX_SITES sites, and
      None beyond.
    """
    shape = _check_shape(shape)
    periodic = bool(periodic)
    nbr = neighbor_table(shape, periodic)
    n_sites = nbr.shape[0]

    def exact_sampler(lam, beta):
        if float(lam[0]) != 0.0:
            return None
        x = 2.0 * float(beta) * float(lam[1])
        # p_up = 1 / (1 + e^{-x}) without overflow, accurate in both tails
        p_up = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))

        def sample(rng, first, n):
            out = np.empty((n, n_sites))
            _ising.sample_independent(rng, p_up, out)
            return out
        return sample

    def free_energy(lam, beta):
        beta = float(beta)
        log_z = _log_z(shape, periodic, beta * float(lam[0]), beta * float(lam[1]))
        return None if log_z is None else -log_z / beta

    system = Lattice(_make_energy_grad(shape, periodic), n_sites, 2, name="ising",
                     control_names=("J", "h"), exact_free_energy=free_energy,
                     params={"shape": list(shape), "periodic": periodic}, factory="ising",
                     exact_sampler=exact_sampler)
    system.shape = shape
    system.discrete = True
    system.periodic = periodic
    system.neighbors = nbr
    return system


#: builders by factory name, for ``systems.from_spec`` (run files rebuild systems by name)
BUILDERS = {"ising": ising}


# --- the kernel --------------------------------------------------------------------------

class SpinFlip(Integrator):
    """One sweep of single-spin-flip Monte Carlo per protocol step, on a lattice from
    :func:`ising`.

    A sweep is n_sites updates, each at a uniformly random site i. With the local field
    f_i = J sum_{j nbr i} s_j + h, a flip costs dE = 2 s_i f_i and is made with
    probability

    * ``rule="metropolis"``: min(1, exp(-beta dE));
    * ``rule="glauber"`` (heat bath): 1 / (1 + exp(beta dE)), i.e. s_i is set to +1 with
      probability 1 / (1 + exp(-2 beta f_i)) regardless of its old value.

    Every update is in detailed balance with pi_lam, and the random site choice makes the
    whole sweep reversible, so ``path_work`` equals ``work`` and Jarzynski, Crooks and BAR
    are exact with the protocol work. Heat is the energy change of the flips.

    ``dt`` = 1: trace times count sweeps. ``run.acceptance`` is the mean number of spin
    flips per sweep (``proposals_per_step()`` is 1 because the integrator does not know
    the lattice size); divide by ``system.dim`` for the flip rate per single-spin update.
    """
    kind = "spin"
    name = "spin_flip"
    dt = 1.0
    RULES = ("metropolis", "glauber")

    def __init__(self, rule="metropolis"):
        if not isinstance(rule, str) or rule.lower() not in self.RULES:
            raise ValueError(f"SpinFlip rule must be one of {self.RULES}, got {rule!r}")
        self.rule = rule.lower()

    def params(self):
        return {"rule": self.rule}

    def proposals_per_step(self):
        """1: ``acceptance`` then reads as spin flips per sweep (see the class doc)."""
        return 1

    def stepper(self, system, lam, beta, record_every, specialize=False):
        """``advance(state, k0, k1, rec_W, rec_Q, rec_x)`` running ``_ising.spin_chunk``
        in place. ``specialize`` is accepted and ignored: the kernel has no potential to
        inline (it computes the Ising energy itself)."""
        nbr = getattr(system, "neighbors", None)
        if nbr is None:
            raise TypeError(f"SpinFlip needs a lattice system such as nq.ising.ising(...); "
                            f"{getattr(system, 'name', system)!r} has no neighbour table")
        nbr = np.array(nbr, dtype=np.int64, order="C")  # writable copy: one kernel signature
        if nbr.ndim != 2 or nbr.shape[0] != system.dim or system.n_controls != 2:
            raise TypeError(f"SpinFlip needs a lattice system with a (dim, z) neighbour table "
                            f"and controls (J, h); got {system!r}")
        lam = np.ascontiguousarray(lam, dtype=np.float64)
        if lam.ndim != 2 or lam.shape[1] != 2:
            raise ValueError(f"SpinFlip needs a protocol of controls (J, h), shape (N+1, 2); "
                             f"got {lam.shape}")
        glauber = self.rule == "glauber"
        beta = float(beta)
        record_every = int(record_every)

        def advance(st, k0, k1, rW, rQ, rx):
            x = st["x"]
            if not _ising.all_spins(x):
                raise ValueError(f"{system.name}: configurations must be spins, every entry "
                                 "+1 or -1: pass init= arrays of +-1 (nq.Equilibrate runs "
                                 "MALA, which cannot equilibrate spins), or start at J = 0 "
                                 "where init='equilibrium' samples exactly")
            _ising.spin_chunk(lam, k0, k1, glauber, nbr, beta, x, st["u"], st["rng"],
                              st["W"], st["Q"], st["P"], st["nacc"], st["failed"],
                              record_every, 0, rW, rQ, rx)
        return advance
