"""The friction of a control path from equilibrium fluctuations (linear response).

Near equilibrium the mean dissipated work of a slow protocol is
<W_diss> ~ integral dt (dlam/dt)^T zeta(lam) (dlam/dt), with the friction tensor

    zeta(lam) = beta integral_0^inf <dX(0) dX(t)>_lam dt,   X = -dU/dlam,

the time integral of the equilibrium autocovariance of the conjugate force (Sivak and
Crooks, PRL 108, 190602 (2012)). :func:`friction` estimates it along a path of control
points: at each point an equilibrium run (the protocol held there, exact or equilibrated
starts), the force along the path's tangent from the recorded positions (a central
difference of U in lam), its variance and its integrated autocorrelation time:
zeta = beta Var(X) tau_int with tau_int = g dt_rec / 2, g the statistical inefficiency of
the series recorded every dt_rec (:func:`neqsim.analysis.statistical_inefficiency`),
averaged over the trajectories.
:func:`neqsim.protocols.length_protocol` turns it into the constant-speed protocol.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .correlation import statistical_inefficiency

__all__ = ["friction", "Friction"]


@dataclass(frozen=True)
class Friction:
    """``points`` (P, n_controls), ``zeta`` (P,) along the path's tangent, its
    ``std_error`` (from the spread over trajectories), ``variance`` of the force and
    ``g`` (statistical inefficiency of the recorded force series) per point."""
    points: np.ndarray
    zeta: np.ndarray
    std_error: np.ndarray
    variance: np.ndarray
    g: np.ndarray


def friction(system, points, integrator, *, n_traj=100, n_steps=2000, record_every=5,
             beta=1.0, seed=0, init="equilibrium", h=1e-4):
    """zeta along the path through ``points`` ((P, n_controls), in order), each from
    ``n_traj`` equilibrium trajectories of ``n_steps`` steps of ``integrator`` (recorded
    every ``record_every`` steps); see the module docstring. Returns a :class:`Friction`."""
    from ..engine.driver import simulate
    from ..protocols.protocol import hold
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim == 1:
        pts = pts[:, None]
    if pts.shape[0] < 2 or pts.shape[1] != system.n_controls:
        raise ValueError(f"points must be (P >= 2, {system.n_controls}) control vectors")
    tangent = np.gradient(pts, axis=0)
    norms = np.linalg.norm(tangent, axis=1)
    if np.any(norms == 0):
        raise ValueError("consecutive path points must differ")
    tangent /= norms[:, None]
    dt_rec = integrator.dt * record_every
    zeta, se, var, gs = (np.empty(pts.shape[0]) for _ in range(4))
    for j, lam in enumerate(pts):
        run = simulate(system, hold(lam, n_steps), integrator, n_traj, beta=beta,
                       seed=seed + j, init=init, record_every=record_every,
                       record_positions=True, progress=False)
        x = np.asarray(run.trace["x"])                     # (n_traj, n_rec, dim)
        flat = x.reshape(-1, system.dim)
        up = system.energy(flat, lam + h * tangent[j])
        dn = system.energy(flat, lam - h * tangent[j])
        force = -((up - dn) / (2 * h)).reshape(x.shape[0], x.shape[1])
        v = float(np.var(force))
        per = np.array([beta * np.var(f) * statistical_inefficiency(f) * dt_rec / 2
                        for f in force])
        zeta[j] = float(per.mean())
        se[j] = float(per.std(ddof=1) / np.sqrt(per.size)) if per.size > 1 else np.nan
        var[j] = v
        gs[j] = float(np.mean([statistical_inefficiency(f) for f in force]))
    return Friction(pts, zeta, se, var, gs)
