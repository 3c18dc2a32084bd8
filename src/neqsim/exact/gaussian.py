"""Exact results of harmonic traps (docs/physics.md), in this package's signs.

U = k/2 |x - c|^2 in d dimensions at inverse temperature beta:
F = -(d / (2 beta)) log(2 pi / (beta k)); changing k (breathing) gives
dF = (d / (2 beta)) log(k_N / k_0); moving c does not change F. Dragging the center of a
1-D overdamped trap at speed v (friction gamma, tau = gamma / k) from equilibrium gives a
Gaussian work with <W> = gamma v^2 [t - tau (1 - exp(-t / tau))] and Var W = 2 kT <W>.
"""
import math
from dataclasses import dataclass

__all__ = ["harmonic_free_energy", "breathing_trap_delta_f", "dragged_trap_work_mean",
           "dragged_trap_work_variance", "breathing_quench", "QuenchTerms",
           "dragged_trap_em_work"]


def harmonic_free_energy(k, beta=1.0, dim=1):
    """F = -log Z / beta of U = k/2 |x - c|^2 in ``dim`` dimensions: inf at k = 0 (the
    density is not normalizable), NaN for k < 0."""
    if not k > 0:
        return math.inf if k == 0 else math.nan
    return -(dim / (2.0 * beta)) * math.log(2.0 * math.pi / (beta * k))


def breathing_trap_delta_f(k0, k1, beta=1.0, dim=1):
    """dF = F(k1) - F(k0) = (dim / (2 beta)) log(k1 / k0)."""
    return (dim / (2.0 * beta)) * math.log(k1 / k0)


def dragged_trap_work_mean(v, t, gamma=1.0, k=1.0):
    """<W> = gamma v^2 [t - tau (1 - exp(-t / tau))], tau = gamma / k: the center of an
    overdamped 1-D trap dragged at speed v for a time t, starting in equilibrium."""
    tau = gamma / k
    return gamma * v * v * (t - tau * (-math.expm1(-t / tau)))


def dragged_trap_work_variance(v, t, gamma=1.0, k=1.0, beta=1.0):
    """Var W = 2 kT <W> (the work is Gaussian, so Crooks gives this at once)."""
    return 2.0 / beta * dragged_trap_work_mean(v, t, gamma, k)


@dataclass(frozen=True)
class QuenchTerms:
    """Closed-form terms of :func:`breathing_quench` (nats; ``mean_work`` and
    ``delta_f`` in energy units): heat_term = -beta <Q>, s_start, s_end,
    entropy_production = -beta <Q> + S_N - S_0, kl_start, kl_end (KL to pi_{k0}, pi_{k1}),
    work_term = beta (<W> - dF), and the final Gaussian's mean and variance."""
    heat_term: float
    s_start: float
    s_end: float
    entropy_production: float
    kl_start: float
    kl_end: float
    work_term: float
    mean_work: float
    delta_f: float
    mean_end: float
    var_end: float


def breathing_quench(k0, k1, n_steps, dt, gamma=1.0, mean0=0.0, var0=None, beta=1.0):
    """Every term of the entropy-production decomposition (neqsim.analysis.entropy) for a
    trap U = k/2 x^2 quenched k0 -> k1 at the first step and relaxed for n_steps
    Euler-Maruyama steps, from a Gaussian start N(mean0, var0) (default the equilibrium
    var0 = kT / k0).

    Euler-Maruyama keeps x Gaussian: x' = a x + b xi with a = 1 - k1 dt / gamma and
    b^2 = 2 dt kT / gamma, so m_{n+1} = a m_n and v_{n+1} = a^2 v_n + b^2 (the variance ODE
    dv/dt = -2 (k1 / gamma) v + 2 kT / gamma discretized exactly as the integrator does; its
    dt -> 0 limit is v(t) = kT/k1 + (v0 - kT/k1) e^{-2 k1 t / gamma}). The quench work is
    W = (k1 - k0) x_0^2 / 2, heat Q = U_N - U_0 - W, S = (1/2) ln(2 pi e v),
    KL(N(m, v) || N(0, kT/k)) = (1/2) [(v + m^2) k / kT - 1 - ln(v k / kT)]."""
    kt = 1.0 / beta
    var0 = kt / k0 if var0 is None else float(var0)
    a, b2 = 1.0 - k1 * dt / gamma, 2.0 * dt * kt / gamma
    m, v = float(mean0), var0
    for _ in range(int(n_steps)):
        m, v = a * m, a * a * v + b2
    second0 = var0 + mean0 * mean0
    w = 0.5 * (k1 - k0) * second0
    q = 0.5 * k1 * (v + m * m) - 0.5 * k0 * second0 - w
    s0 = 0.5 * math.log(2 * math.pi * math.e * var0)
    sn = 0.5 * math.log(2 * math.pi * math.e * v)

    def kl(second, var, k):
        return 0.5 * (second * k / kt - 1.0 - math.log(var * k / kt))
    df = breathing_trap_delta_f(k0, k1, beta)
    return QuenchTerms(heat_term=-beta * q, s_start=s0, s_end=sn,
                       entropy_production=-beta * q + sn - s0, kl_start=kl(second0, var0, k0),
                       kl_end=kl(v + m * m, v, k1), work_term=beta * (w - df), mean_work=w,
                       delta_f=df, mean_end=m, var_end=v)


def dragged_trap_em_work(centers, dt, gamma=1.0, k=1.0, beta=1.0):
    """(<W>, Var W) of Euler-Maruyama at time step ``dt`` exactly (no dt -> 0 limit) for a
    1-D trap U = k/2 (x - c)^2 whose center follows ``centers`` c_0 .. c_N (fixed k),
    starting from the Boltzmann density N(c_0, 1/(beta k)).

    Per step the switch is linear in the configuration,
    w_k = k (c_{k-1} - c_k) (x_{k-1} - (c_k + c_{k-1}) / 2), and the move is the AR(1)
    map x_k = a x_{k-1} + (1 - a) c_k + s xi_k with a = 1 - dt k / gamma,
    s^2 = 2 dt / (beta gamma), so W is Gaussian: its mean follows the mean of x, and with
    G_j = sum_{i >= j} g_{i+1} a^{i-j} (g_k = k (c_{k-1} - c_k)),
    Var W = G_0^2 / (beta k) + s^2 sum_{j=1}^{N-1} G_j^2."""
    import numpy as np
    c = np.asarray(centers, dtype=np.float64).ravel()
    n = c.size - 1
    if n < 1:
        return 0.0, 0.0
    a = 1.0 - dt * k / gamma
    s2 = 2.0 * dt / (beta * gamma)
    g = k * (c[:-1] - c[1:])
    mean_x = np.empty(n)  # <x_{k-1}>, k = 1..N
    m = c[0]
    for j in range(n):
        mean_x[j] = m
        m = a * m + (1.0 - a) * c[j + 1]
    mean_w = float(np.sum(g * (mean_x - 0.5 * (c[1:] + c[:-1]))))
    G = np.empty(n)
    acc = 0.0
    for j in range(n - 1, -1, -1):
        acc = g[j] + a * acc
        G[j] = acc
    var_w = float(G[0] ** 2 / (beta * k) + s2 * np.sum(G[1:] ** 2))
    return mean_w, var_w
