"""Exact work statistics of Markov jump processes: the (tilted) master equation with lam
piecewise constant, exactly as :class:`neqsim.Gillespie` runs it.

Conventions (docs/jump-processes.md): R[i, j] is the rate of the jump j -> i, the
generator L = R - diag(sum_i R[i, j]) acts on column vectors of probabilities,
dp/dt = L p. Protocol step k switches lam_{k-1} -> lam_k at fixed state (work
w_x = E_x(lam_k) - E_x(lam_{k-1})) and then evolves for time dt with L(lam_k). A jump
j -> i does the non-conservative work f_ij (antisymmetric) ON the system; the total work
is W = sum_k w_{x_{k-1}} + sum_jumps f.

Work cumulant generating function G(s) = log <exp(-s W)>, p_0 = pi_{lam_0}:

    p <- p * exp(-s (E(lam_k) - E(lam_{k-1})))           (switch, elementwise)
    p <- expm(L_s(lam_k) dt) p,  L_s = R o exp(-s f) - diag(exit rates)   (tilted)
    G(s) = log sum_x p_x.

Jarzynski is G(beta) = -beta dF, exact for this process at any dt. Mean and variance
of W come from the moment vectors m_a(x) = <W^a 1_x> (a = 0, 1, 2): a switch maps
m2 <- m2 + 2 w m1 + w^2 m0, m1 <- m1 + w m0, and a step propagates (m0, m1, m2) by the
block-triangular exponential of [[L, 0, 0], [L1, L, 0], [L2, 2 L1, L]] dt with
L1 = R o f, L2 = R o f^2 (Van Loan), so no finite differences are involved.

The functions take a discrete-state system (``nq.jump.markov_states``: its ``tables``)
and a protocol (a ``Protocol`` or an (N+1, m) array); ``dt`` is a number or a
``Gillespie`` integrator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm, null_space
from scipy.special import logsumexp

__all__ = ["log_partition", "two_level_delta_f", "generator", "MasterWorkStatistics",
           "master_work_statistics", "master_work_cgf", "SteadyState", "master_steady_state"]

_PARTS = ("total", "protocol", "bias")


def log_partition(energies, beta=1.0):
    """log Z = log sum_i exp(-beta E_i) (log-sum-exp)."""
    return float(logsumexp(-float(beta) * np.asarray(energies, dtype=np.float64)))


def two_level_delta_f(eps0, eps1, beta=1.0):
    """dF of a two-level system (energies 0 and eps) whose gap goes eps0 -> eps1:
    dF = -kT ln[(1 + exp(-beta eps1)) / (1 + exp(-beta eps0))]."""
    b = float(beta)
    return float(-(np.logaddexp(0.0, -b * eps1) - np.logaddexp(0.0, -b * eps0)) / b)


def generator(rates):
    """L = R - diag(sum_i R[i, j]): dp/dt = L p for R[i, j] the rate j -> i."""
    r = np.array(rates, dtype=np.float64)
    np.fill_diagonal(r, 0.0)
    return r - np.diag(r.sum(axis=0))


def _setup(system, protocol, dt, beta):
    lam = np.asarray(getattr(protocol, "values", protocol), dtype=np.float64)
    if lam.ndim == 1:
        lam = lam[:, None]
    if lam.ndim != 2 or lam.shape[0] < 2:
        raise ValueError(f"protocol must be (N+1, n_controls) control values, got {lam.shape}")
    dt = float(getattr(dt, "dt", dt))
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
    E, R, F = system.tables(lam, float(beta))
    return lam, dt, E, R, F


def _work_parts(part, F):
    if part not in _PARTS:
        raise ValueError(f"work must be one of {_PARTS}, got {part!r}")
    return part != "bias", (F if part != "protocol" else np.zeros_like(F))


def _p0(E0, beta):
    p = np.exp(-beta * (E0 - E0.min()))
    return p / p.sum()


def master_work_cgf(system, protocol, dt, s, *, beta=1.0, work="total"):
    """G(s) = log <exp(-s W)> (``s`` a number or an array) by the tilted master equation
    (module docstring). ``work``: "total" (protocol + non-conservative: the work of
    Jarzynski and Crooks), "protocol" (switches only) or "bias" (jumps only)."""
    lam, dt, E, R, F = _setup(system, protocol, dt, beta)
    switch, f = _work_parts(work, F)
    s_arr = np.atleast_1d(np.asarray(s, dtype=np.float64))
    out = np.empty(s_arr.shape)
    for a, sv in enumerate(s_arr):
        p = _p0(E[0], float(beta))
        log_scale = 0.0
        cache = {}
        for k in range(1, lam.shape[0]):
            if switch:
                p = p * np.exp(-sv * (E[k] - E[k - 1]))
            key = lam[k].tobytes()
            T = cache.get(key)
            if T is None:
                rt = R[k] * np.exp(-sv * f[k])
                np.fill_diagonal(rt, 0.0)
                T = cache[key] = expm((rt - np.diag(R[k].sum(axis=0))) * dt)
            p = T @ p
            tot = p.sum()
            if not (tot > 0 and math.isfinite(tot)):
                raise FloatingPointError(f"master_work_cgf: the tilted probabilities "
                                         f"under/overflowed at s={sv}, step {k}")
            log_scale += math.log(tot)
            p = p / tot
        out[a] = log_scale
    return float(out[0]) if np.ndim(s) == 0 else out


@dataclass(frozen=True)
class MasterWorkStatistics:
    """Exact statistics of W for a jump process at its dt: ``mean``, ``variance``,
    ``delta_f`` = F(lam_N) - F(lam_0); per protocol point k = 0..N: ``mean_work``
    <W_k>, ``mean_energy`` <E_x(lam_k)>, ``mean_heat`` <Q_k> = <E>_k - <E>_0 - <W_k>,
    and ``probabilities`` p_k (N+1, n)."""
    mean: float
    variance: float
    delta_f: float
    mean_work: np.ndarray
    mean_energy: np.ndarray
    mean_heat: np.ndarray
    probabilities: np.ndarray

    @property
    def dissipation(self):
        """<W> - dF (>= 0)."""
        return self.mean - self.delta_f


def master_work_statistics(system, protocol, dt, *, beta=1.0, work="total"):
    """Exact <W>, Var W and the mean work, energy and heat at every protocol point, by
    the moment propagation of the module docstring (``work`` as in
    :func:`master_work_cgf`)."""
    beta = float(beta)
    lam, dt, E, R, F = _setup(system, protocol, dt, beta)
    switch, f = _work_parts(work, F)
    n, K = E.shape[1], lam.shape[0]
    m0, m1, m2 = _p0(E[0], beta), np.zeros(n), np.zeros(n)
    probs, mw, me = np.empty((K, n)), np.empty(K), np.empty(K)
    probs[0], mw[0], me[0] = m0, 0.0, m0 @ E[0]
    cache = {}
    for k in range(1, K):
        if switch:
            w = E[k] - E[k - 1]
            m2 = m2 + 2.0 * w * m1 + w * w * m0
            m1 = m1 + w * m0
        key = lam[k].tobytes()
        T = cache.get(key)
        if T is None:
            L = generator(R[k])
            L1, L2 = R[k] * f[k], R[k] * f[k] ** 2
            np.fill_diagonal(L1, 0.0)
            np.fill_diagonal(L2, 0.0)
            Z = np.zeros((n, n))
            big = np.block([[L, Z, Z], [L1, L, Z], [L2, 2.0 * L1, L]])
            T = cache[key] = expm(big * dt)
        v = T @ np.concatenate([m0, m1, m2])
        m0, m1, m2 = v[:n], v[n:2 * n], v[2 * n:]
        probs[k], mw[k], me[k] = m0, m1.sum(), m0 @ E[k]
    mean = float(m1.sum())
    var = float(m2.sum() - mean * mean)
    dF = float(-(log_partition(E[-1], beta) - log_partition(E[0], beta)) / beta)
    return MasterWorkStatistics(mean, var, dF, mw, me, me - me[0] - mw, probs)


@dataclass(frozen=True)
class SteadyState:
    """The stationary state of L(lam) (a non-equilibrium steady state with a bias):
    ``p``; ``currents`` J[i, j] = R_ij p_j - R_ji p_i (net rate j -> i); ``heat_rate``
    dQ/dt = sum_{i != j} R_ij p_j (E_i - E_j - f_ij) (heat absorbed BY the system,
    <= 0), ``work_rate`` dW/dt = sum R_ij p_j f_ij = -heat_rate, and
    ``entropy_production_rate`` sigma = (1/2) sum J_ij log(R_ij p_j / (R_ji p_i)) >= 0
    (units of k_B per time; = -beta heat_rate in the steady state)."""
    p: np.ndarray
    currents: np.ndarray
    heat_rate: float
    work_rate: float
    entropy_production_rate: float


def master_steady_state(system, lam, *, beta=1.0):
    """The stationary distribution of the jump process at fixed ``lam`` and its heat,
    work and entropy-production rates (:class:`SteadyState`)."""
    beta = float(beta)
    lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
    E, R, F = system.tables(lam[None, :], beta)
    E, R, F = E[0], R[0], F[0]
    ns = null_space(generator(R))
    if ns.shape[1] != 1:
        raise ValueError(f"the jump process at lam={list(lam)} has {ns.shape[1]} stationary "
                         "states (it is not irreducible): no unique steady state")
    p = np.abs(ns[:, 0]) / np.abs(ns[:, 0]).sum()
    flux = R * p[None, :]                       # flux[i, j] = R_ij p_j (j -> i)
    dE = E[:, None] - E[None, :]
    heat = float(np.sum(flux * (dE - F)))
    work = float(np.sum(flux * F))
    J = flux - flux.T
    with np.errstate(divide="ignore", invalid="ignore"):
        aff = np.where((flux > 0) & (flux.T > 0), np.log(flux / flux.T), 0.0)
    sigma = float(0.5 * np.sum(J * aff))
    return SteadyState(p, J, heat, work, sigma)
