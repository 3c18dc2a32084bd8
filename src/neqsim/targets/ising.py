"""Ising AIS targets with exact log Z: the periodic chain (transfer matrix) and the
zero-field torus (Kaufman). The formulas are in :mod:`neqsim.exact.ising`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numba

from ..exact.ising import chain_log_z, torus_log_z

__all__ = ["IsingChain", "ising_1d", "IsingLattice", "ising_2d"]


@dataclass(frozen=True, eq=False)
class IsingChain:
    """Periodic Ising chain with exact log Z (:func:`neqsim.exact.ising.chain_log_z`).

    ``log_f(s)`` (numba) = -E(s) = J sum_i s_i s_{i+1} + h sum_i s_i for a float64 array of
    +-1 spins; log Z = log sum_s exp(log_f(s)).
    Fields: n_sites, coupling, field, log_f, log_z.
    """
    n_sites: int
    coupling: float
    field: float
    log_f: Callable
    log_z: float


def ising_1d(n_sites, coupling, field=0.0):
    """:class:`IsingChain` (periodic, N = n_sites spins)."""
    N = int(n_sites)
    J, h = float(coupling), float(field)

    @numba.njit(cache=False)
    def log_f(s):
        if s.shape[0] != N:
            raise ValueError("spin array has the wrong length")
        bonds = 0.0
        mag = 0.0
        for i in range(N):
            bonds += s[i] * s[(i + 1) % N]
            mag += s[i]
        return J * bonds + h * mag

    return IsingChain(n_sites=N, coupling=J, field=h, log_f=log_f,
                      log_z=chain_log_z(N, J, h))


@dataclass(frozen=True, eq=False)
class IsingLattice:
    """Zero-field 2-D Ising model on an L_rows x L_cols torus with exact log Z.

    ``log_f(s)`` (numba) = -E(s) = J sum_<ij> s_i s_j over the 2 L_rows L_cols bonds, s a
    float64 array of +-1 spins in row-major order (site r * L_cols + c).
    log_z = :func:`neqsim.exact.ising.torus_log_z` (Kaufman).  Fields: L_rows, L_cols, coupling, log_f, log_z.
    """
    L_rows: int
    L_cols: int
    coupling: float
    log_f: Callable
    log_z: float


def ising_2d(L_rows, L_cols, coupling):
    """:class:`IsingLattice` for the periodic L_rows x L_cols square lattice."""
    m, n = int(L_rows), int(L_cols)
    J = float(coupling)
    N = m * n
    log_z = torus_log_z(m, n, J)

    @numba.njit(cache=False)
    def log_f(s):
        if s.shape[0] != N:
            raise ValueError("spin array has the wrong length")
        acc = 0.0
        for r in range(m):
            for c in range(n):
                v = s[r * n + c]
                acc += v * (s[((r + 1) % m) * n + c] + s[r * n + (c + 1) % n])
        return J * acc

    return IsingLattice(L_rows=m, L_cols=n, coupling=J, log_f=log_f, log_z=log_z)
