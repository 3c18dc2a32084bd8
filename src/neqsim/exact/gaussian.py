"""Exact results of harmonic traps (docs/physics.md), in this package's signs.

U = k/2 |x - c|^2 in d dimensions at inverse temperature beta:
F = -(d / (2 beta)) log(2 pi / (beta k)); changing k (breathing) gives
dF = (d / (2 beta)) log(k_N / k_0); moving c does not change F. Dragging the center of a
1-D overdamped trap at speed v (friction gamma, tau = gamma / k) from equilibrium gives a
Gaussian work with <W> = gamma v^2 [t - tau (1 - exp(-t / tau))] and Var W = 2 kT <W>.
"""
import math

__all__ = ["harmonic_free_energy", "breathing_trap_delta_f", "dragged_trap_work_mean",
           "dragged_trap_work_variance"]


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
