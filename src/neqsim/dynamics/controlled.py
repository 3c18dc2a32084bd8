"""Overdamped steps under per-trajectory controls (feedback): the class that configures
:mod:`.controlled_kernel`.

The engine's integrators drive every trajectory through one shared schedule lam_0..lam_N.
Under feedback each trajectory has its own, lam_i(k) = base[k] + gain[k] @ coef[i]
(an affine law in what the controller made of trajectory i's measurements). This runs
:class:`~neqsim.dynamics.overdamped.EulerMaruyama` or :class:`~neqsim.dynamics.overdamped.MALA`
with exactly their arithmetic and random numbers (zero gains reproduce ``simulate``).
"""
from __future__ import annotations

import numpy as np

from .._numba.specialize import KernelSpec, specialized_kernel
from .._numba.threads import run_split
from . import controlled_kernel
from .base import StateArrays, step_info
from .overdamped import EulerMaruyama

__all__ = ["Controlled"]


class Controlled:
    """``integrator`` (EulerMaruyama or MALA) on ``system`` with per-trajectory controls
    lam_i(k) = base[k] + sum_c gain[k, :, c] coef[i, c].

    ``base``: (N+1, n_controls); ``gain``: (N+1, n_controls, n_coef). ``advance(state,
    coef, k0, k1)`` runs steps k0+1..k1 in place on a
    :class:`~neqsim.dynamics.base.KernelState` with the (n, n_coef) coefficients ``coef``.
    """

    def __init__(self, integrator, system, base, gain, beta):
        if not isinstance(integrator, EulerMaruyama):
            raise TypeError(f"feedback runs overdamped dynamics: pass nq.EulerMaruyama(...) "
                            f"or nq.MALA(...), got {type(integrator).__name__}")
        self.integrator = integrator
        self.system = system
        self.base = np.ascontiguousarray(base, dtype=np.float64)
        self.gain = np.ascontiguousarray(gain, dtype=np.float64)
        n_coef = self.gain.shape[2]
        self.params = np.array([float(beta), integrator.dt, integrator.gamma])
        self.kernel = specialized_kernel(KernelSpec(
            controlled_kernel.controlled_kernel,
            {"D": system.dim, "M": system.n_controls, "C": max(n_coef, 1),
             "METRO": bool(integrator.metropolized)},
            potentials={"potential": system.potential},
            label=f"{system.name}/{type(integrator).__name__} (feedback)",
            checks=[system.check_compiles]))

    def controls(self, coef, k):
        """lam_i(k) for every trajectory: (n, n_controls)."""
        return self.base[k][None, :] + np.asarray(coef) @ self.gain[k].T

    def advance(self, state, coef, k0, k1):
        """Steps k0+1 .. k1 in place; returns a :class:`~neqsim.dynamics.base.StepInfo`."""
        before = int(state.n_accepted.sum())
        arrays = state.kernel_arrays()
        coef = np.ascontiguousarray(coef, dtype=np.float64)

        def part(a, b):
            self.kernel(self.base, self.gain, coef[a:b], int(k0), int(k1), self.params,
                        StateArrays(*(v[a:b] for v in arrays)))
        run_split(part, state.n, 64)
        return step_info(state, k0, k1, before)
