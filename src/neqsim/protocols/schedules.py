"""Annealing schedules 0 = t_0 <= t_1 <= ... <= t_N = 1 for AIS, as one-control protocols.

The path is f_t = f_0^(1-t) f_N^t (or prior * likelihood^t), so a schedule is a
:class:`neqsim.Protocol` with a single control t. Builders: :func:`uniform` (equal
steps in t; ``linear`` is its old name), :func:`geometric`, :func:`sigmoid`,
:func:`from_array`; :func:`adaptive` spaces them from a pilot run (see
:func:`neqsim.ais`). They take only a number of steps, unlike
:func:`neqsim.protocols.linear`, which interpolates between two control vectors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .protocol import Protocol

__all__ = ["uniform", "linear", "geometric", "sigmoid", "from_array", "thermodynamic_length",
           "adaptive", "Adaptive"]


def _n(n_steps, name="n_steps"):
    try:
        ok = not isinstance(n_steps, bool) and int(n_steps) == n_steps and n_steps >= 1
    except (TypeError, ValueError, OverflowError):  # None, 'ten', NaN, inf
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an integer >= 1, got {n_steps!r}")
    return int(n_steps)


def from_array(t):
    """A user schedule: must start at 0, end at 1, and never decrease."""
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    if t.size < 2 or not np.all(np.isfinite(t)):
        raise ValueError("a schedule needs at least two finite values")
    if t[0] != 0.0 or t[-1] != 1.0:
        raise ValueError(f"a schedule must start at 0 and end at 1, got {t[0]:g} ... {t[-1]:g}")
    if np.any(np.diff(t) < 0):
        k = int(np.nonzero(np.diff(t) < 0)[0][0])
        raise ValueError(f"a schedule must not decrease (t[{k}] = {t[k]:g} > t[{k + 1}] = "
                         f"{t[k + 1]:g})")
    return Protocol(t[:, None])


def uniform(n_steps):
    """t_k = k / N."""
    return from_array(np.linspace(0.0, 1.0, _n(n_steps) + 1))


linear = uniform  # the name of 0.1.0, kept for existing scripts


def geometric(n_steps, t_min=1e-4):
    """t_0 = 0 and t_k = t_min^(1 - (k-1)/(N-1)) for k >= 1: equal ratios, dense near 0
    where the density changes fastest (Neal 2001)."""
    n = _n(n_steps)
    if not 0 < t_min < 1:
        raise ValueError(f"t_min must be in (0, 1), got {t_min!r}")
    if n == 1:
        return from_array([0.0, 1.0])
    t = np.concatenate([[0.0], np.geomspace(t_min, 1.0, n)])
    t[-1] = 1.0
    return from_array(t)


def sigmoid(n_steps, scale=4.0):
    """t_k from a logistic ramp rescaled to [0, 1]: sigma(scale (2k/N - 1)), dense at both
    ends (Grosse, Maddison and Salakhutdinov 2013)."""
    n = _n(n_steps)
    s = 1.0 / (1.0 + np.exp(-scale * (2.0 * np.arange(n + 1) / n - 1.0)))
    t = (s - s[0]) / (s[-1] - s[0])
    t[0], t[-1] = 0.0, 1.0
    return from_array(t)


def thermodynamic_length(t_grid, var_grid, n_steps):
    """Schedule with N steps equally spaced in thermodynamic length
    L(t) = int_0^t sqrt(Var_s[d log f_s / ds]) ds, from variances tabulated on a grid
    (Crooks 2007; Shenfeld et al. 2023). For a geometric path d log f_t / dt =
    log f_N - log f_0. Equal spacing in L minimizes the dissipation (sum of Var dt^2)
    to first order."""
    t_grid = np.asarray(t_grid, dtype=np.float64)
    sd = np.sqrt(np.maximum(np.asarray(var_grid, dtype=np.float64), 0.0))
    if t_grid.shape != sd.shape or t_grid.size < 2:
        raise ValueError("t_grid and var_grid must be matching 1-D arrays")
    floor = 1e-12 + 1e-6 * sd.max()   # keeps L strictly increasing where Var = 0
    seg = 0.5 * (sd[1:] + sd[:-1] + 2 * floor) * np.diff(t_grid)
    length = np.concatenate([[0.0], np.cumsum(seg)])
    targets = np.linspace(0.0, length[-1], _n(n_steps) + 1)
    t = np.interp(targets, length, t_grid)
    t[0], t[-1] = 0.0, 1.0
    return from_array(np.maximum.accumulate(t)), float(length[-1])


def describe(protocol):
    t = protocol.values[:, 0]
    return f"{protocol.n_steps} steps, t = {t[0]:g}, {t[1]:.3g}, ..., {t[-2]:.3g}, {t[-1]:g}"


def _check(schedule):
    """A Protocol with one control going 0 -> 1 monotonically (or an array of t)."""
    if isinstance(schedule, Protocol):
        if schedule.n_controls != 1:
            raise ValueError("an AIS schedule has one control, t; got "
                             f"{schedule.n_controls}")
        return from_array(schedule.values[:, 0])
    return from_array(schedule)


@dataclass(frozen=True)
class Adaptive:
    """Schedule chosen from a pilot run: ``n_steps`` temperatures equally spaced in
    thermodynamic length, measured with ``n_pilot`` separate chains (None: as many as
    are available, up to 1000, see :func:`adaptive`) on a linear grid of ``grid``
    points."""
    n_steps: int
    n_pilot: int | None = None
    grid: int = 1000


def adaptive(n_steps, *, n_pilot=None, grid=1000):
    """An adaptive schedule for :func:`neqsim.ais` (equal thermodynamic length, from a pilot).
    The pilot chains are separate from the reported ones: adapting a schedule (or step
    sizes) on the chains whose weights are averaged makes the weights depend on their own
    noise and biases log Z, so neqsim never does it.

    ``n_pilot``: pilot chains. By default 1000 when ``ais`` gets ``initial`` as a callable
    (it draws them), and min(n_chains, 1000) when it gets an array (its first rows start
    the pilot chains); an explicit ``n_pilot`` larger than such an array is an error.
    ``grid``: points of the linear grid in t on which the pilot measures the variance."""
    return Adaptive(_n(n_steps), None if n_pilot is None else _n(n_pilot, "n_pilot"),
                    _n(grid, "grid"))
