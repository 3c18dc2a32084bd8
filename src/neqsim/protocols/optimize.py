"""Optimal protocols: the least mean work over a finite time, and thermodynamic length.

:func:`optimize` minimizes the exact mean work <W> (plus ``variance_weight`` Var W) of a
one-dimensional overdamped system over protocols lam(t) of one control, computed by the
transfer-operator engine (:func:`neqsim.exact.work_statistics_continuous`: no sampling
noise, so an ordinary quasi-Newton method converges). The protocol is piecewise linear
in time through ``n_knots`` free values, from lam(0+) to lam(tau-), with jumps allowed at
both ends: lam = start at t = 0 and lam = end at t = tau are fixed, the values just after
and just before are not. Finite-time optimal protocols jump (Schmiedl and Seifert, PRL 98,
108301 (2007)): for the moving trap (gamma = k = kT = 1, distance D, duration tau) the
optimum is linear with jumps D / (tau + 2) at both ends and <W*> = D^2 / (tau + 2).

:func:`length_protocol` is the linear-response optimum (Sivak and Crooks, PRL 108, 190602
(2012)) for any dimension: given the friction zeta(lam) along a path (from equilibrium
fluctuations, :func:`neqsim.analysis.friction`), the protocol that keeps the
thermodynamic speed sqrt(zeta) |dlam/dt| constant, which minimizes the dissipation in
the slow limit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .protocol import Protocol

__all__ = ["optimize", "OptimalProtocol", "length_protocol"]


@dataclass(frozen=True)
class OptimalProtocol:
    """What :func:`optimize` found: ``protocol`` (a :class:`Protocol` of every control),
    ``mean_work`` and ``var_work`` (exact, for that protocol), ``objective``, the
    ``knots`` (times and values of the free control), ``jump_start`` = lam(0+) - start and
    ``jump_end`` = end - lam(tau-), the ``linear`` protocol's ``linear_mean_work`` for
    comparison, and the optimizer's ``info``."""
    protocol: Protocol
    mean_work: float
    var_work: float
    objective: float
    knot_times: np.ndarray
    knot_values: np.ndarray
    jump_start: float
    jump_end: float
    linear_mean_work: float
    info: dict = field(default_factory=dict)


def _values(start, end, control, knot_t, knot_v, n_steps, duration):
    """Protocol values lam_0..lam_N: start, the piecewise-linear lam(t) at the interior
    steps (the free control; the others linear from start to end), end."""
    t = np.arange(n_steps + 1) * (duration / n_steps)
    frac = t / duration
    vals = start[None, :] + frac[:, None] * (end - start)[None, :]
    vals[:, control] = np.interp(t, knot_t, knot_v)
    vals[0] = start
    vals[-1] = end
    return vals


def optimize(system, duration, start, end, *, control=0, n_steps=200, n_knots=12,
             gamma=1.0, beta=1.0, variance_weight=0.0, n_cells=400, grid=None,
             max_iterations=200):
    """The protocol of ``control`` from ``start`` to ``end`` (full control vectors; the
    other controls move linearly) over ``duration`` that minimizes
    <W> + ``variance_weight`` Var W, exactly, for overdamped dynamics with friction
    ``gamma`` (module docstring). ``n_steps`` steps of dt = duration / n_steps (the
    discretization the returned protocol uses), ``n_knots`` free values, ``n_cells`` grid
    cells of the engine. Returns an :class:`OptimalProtocol`.
    """
    from scipy.optimize import minimize

    from ..exact.transfer import work_statistics_continuous
    if getattr(system, "dim", None) != 1:
        raise ValueError("optimize needs a one-dimensional System (the exact engine is 1-D); "
                         "for more dimensions use length_protocol with the friction from "
                         "nq.analysis.friction")
    start = np.atleast_1d(np.asarray(start, dtype=np.float64))
    end = np.atleast_1d(np.asarray(end, dtype=np.float64))
    if start.shape != (system.n_controls,) or end.shape != start.shape:
        raise ValueError(f"start and end must be vectors of the system's {system.n_controls} "
                         f"controls {getattr(system, 'control_names', '')}")
    if not (duration > 0 and n_steps >= 2 and n_knots >= 2):
        raise ValueError("duration must be > 0, n_steps >= 2 and n_knots >= 2")
    dt = duration / n_steps
    knot_t = np.linspace(dt, duration - dt, n_knots)
    a, b = start[control], end[control]
    x0 = a + (b - a) * knot_t / duration          # the linear protocol
    scale = max(abs(b - a), 1e-12)
    _P = Protocol
    grid_ = grid
    if grid_ is None:
        from ..exact.transfer import transfer_grid
        lin = _P(_values(start, end, control, knot_t, x0, n_steps, duration))
        grid_ = transfer_grid(system, lin, beta=beta, pad=0.5 * scale)
    evals = [0]

    def stats(v):
        vals = _values(start, end, control, knot_t, v, n_steps, duration)
        evals[0] += 1
        return work_statistics_continuous(system, _P(vals), dt, beta=beta, gamma=gamma,
                                          grid=grid_, n_cells=n_cells, refine=False)

    def objective(z):
        st = stats(a + z * scale)
        return (st.mean_work + variance_weight * st.var_work) / scale ** 2
    lin_stats = stats(x0)
    res = minimize(objective, (x0 - a) / scale, method="L-BFGS-B",
                   options={"maxiter": int(max_iterations), "ftol": 1e-13, "gtol": 1e-10})
    v = a + res.x * scale
    best = work_statistics_continuous(system, _P(_values(start, end, control, knot_t, v,
                                                         n_steps, duration)), dt, beta=beta,
                                      gamma=gamma, grid=grid_, n_cells=n_cells, refine=True)
    # the jumps: extrapolate the interior line to t = 0 and t = tau
    slope0 = (v[1] - v[0]) / (knot_t[1] - knot_t[0])
    slope1 = (v[-1] - v[-2]) / (knot_t[-1] - knot_t[-2])
    lam0p = v[0] - slope0 * knot_t[0]
    lam1m = v[-1] + slope1 * (duration - knot_t[-1])
    return OptimalProtocol(_P(_values(start, end, control, knot_t, v, n_steps, duration)),
                           float(best.mean_work), float(best.var_work),
                           float(best.mean_work + variance_weight * best.var_work),
                           knot_t, v, float(lam0p - a), float(b - lam1m),
                           float(lin_stats.mean_work),
                           {"converged": bool(res.success), "message": str(res.message),
                            "iterations": int(res.nit), "evaluations": evals[0],
                            "mean_work_error": float(best.mean_work_error)})


def length_protocol(lam_points, friction, n_steps):
    """The protocol at constant thermodynamic speed along the path through ``lam_points``
    ((P, n_controls), in order) with friction ``friction`` (P,) at those points:
    the arc length s(lam) = integral sqrt(zeta) |dlam| is made linear in time, so
    lam(t) = s^{-1}(s_total t / duration) (Sivak and Crooks 2012). Returns a Protocol of
    ``n_steps`` steps (the duration is the integrator's dt times n_steps)."""
    pts = np.asarray(lam_points, dtype=np.float64)
    if pts.ndim == 1:
        pts = pts[:, None]
    z = np.asarray(friction, dtype=np.float64)
    if z.shape != (pts.shape[0],) or not np.all(np.isfinite(z)) or np.any(z <= 0):
        raise ValueError("friction must hold one finite positive value per path point")
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    speed = np.sqrt(z)
    s = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * seg)])
    target = np.linspace(0.0, s[-1], int(n_steps) + 1)
    u = np.interp(target, s, np.arange(pts.shape[0], dtype=np.float64))
    i = np.minimum(np.floor(u).astype(int), pts.shape[0] - 2)
    w = (u - i)[:, None]
    vals = (1 - w) * pts[i] + w * pts[i + 1]
    return Protocol(vals)
