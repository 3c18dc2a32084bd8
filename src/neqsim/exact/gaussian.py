"""Exact results of harmonic traps (docs/physics.md), in this package's signs.

U = k/2 |x - c|^2 in d dimensions at inverse temperature beta:
F = -(d / (2 beta)) log(2 pi / (beta k)); changing k (breathing) gives
dF = (d / (2 beta)) log(k_N / k_0); moving c does not change F. Dragging the center of a
1-D overdamped trap at speed v (friction gamma, tau = gamma / k) from equilibrium gives a
Gaussian work with <W> = gamma v^2 [t - tau (1 - exp(-t / tau))] and Var W = 2 kT <W>.
"""
import math

__all__ = ["harmonic_free_energy", "breathing_trap_delta_f", "dragged_trap_work_mean",
           "dragged_trap_work_variance", "dragged_trap_em_work"]


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
