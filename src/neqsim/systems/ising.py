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

Work and heat follow docs/physics.md: each step switches (J, h) at fixed spins
(w = -(dJ) B - (dh) M, B = sum_<ij> s_i s_j, M = sum_i s_i) and then applies one sweep of
:class:`SpinFlip` (n_sites single-spin updates at random sites); heat is the energy change
of the flips. The sweep is in detailed balance, so ``path_work`` equals ``work`` and the
fluctuation theorems are exact with it (see :mod:`neqsim.dynamics.spinflip_kernel`).

Exact results: equilibrium sampling at J = 0 (independent spins) for
``init="equilibrium"``; F(lam) = -log Z / beta from the transfer matrix (1-D, any J, h),
Kaufman's finite-torus formula (2-D, h = 0), the independent-spin formula (J = 0), or
enumeration (at most 16 sites); the formulas live in :mod:`neqsim.exact.ising`.
"""
from __future__ import annotations

import math

import numpy as np

from ..exact.ising import bonds_log_z, chain_log_z, independent_log_z, torus_log_z
from . import ising_kernel
from .system import System

__all__ = ["ising", "neighbor_table", "lattice_bonds", "Lattice", "enumerate_log_z",
           "ENUMERATE_MAX_SITES"]

#: exact free energies by summing over all 2^n_sites states up to this size
ENUMERATE_MAX_SITES = 16


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
    """``energy_grad(x, lam, grad_out) -> U`` for one lattice.

    The sizes are captured as compile-time constants (not the neighbour table: a large
    frozen array would bloat the compiled code), as in ``systems.double_well``.
    ``grad_out`` is set to zero: a spin system has no gradient.
    """
    two_d = len(shape) == 2
    rows, cols = (shape if two_d else (1, shape[0]))
    per = bool(periodic)
    efs = ising_kernel.energy_from_sums

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

    return energy_grad


# --- exact free energies ---------------------------------------------------------------

def lattice_bonds(shape, periodic=True):
    """(i, j, 1) for every bond of the lattice, each once: site (r, c) to (r, c + 1) and,
    in 2-D, to (r + 1, c), modulo the size when periodic (a size-2 periodic direction
    has two bonds between the same pair)."""
    shape = _check_shape(shape)
    rows, cols = (1, shape[0]) if len(shape) == 1 else shape
    out = []
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            if c + 1 < cols or periodic:
                out.append((i, r * cols + (c + 1) % cols, 1))
            if len(shape) == 2 and (r + 1 < rows or periodic):
                out.append((i, ((r + 1) % rows) * cols + c, 1))
    return out


def enumerate_log_z(shape, K, H, periodic=True):
    """log Z = log sum_s exp(K B(s) + H M(s)) of the lattice by enumeration (at most 24
    sites; :func:`neqsim.exact.ising.bonds_log_z`)."""
    shape = _check_shape(shape)
    if math.prod(shape) > 24:
        raise ValueError("enumeration is limited to 24 sites")
    return bonds_log_z(math.prod(shape), lattice_bonds(shape, periodic), K, H)


def _log_z(shape, periodic, K, H):
    """log Z(K, H) of the lattice, or None where no exact value is available here."""
    n = math.prod(shape)
    if K == 0.0:
        return independent_log_z(n, H)
    if len(shape) == 1:
        return chain_log_z(n, K, H, periodic)
    if H == 0.0 and periodic:
        return torus_log_z(shape[0], shape[1], K)
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
      1-D, the transfer matrix (:func:`neqsim.exact.ising.chain_log_z`), any J and h; 2-D
      periodic at h = 0, Kaufman's finite-lattice formula
      (:func:`neqsim.exact.ising.torus_log_z`); otherwise enumeration up to
      ENUMERATE_MAX_SITES sites, and None beyond.
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
            ising_kernel.sample_independent(rng, p_up, out)
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
