"""Exact continuous-time simulation of Markov jump processes (Gillespie), lam piecewise
constant between protocol points."""
from __future__ import annotations

import numpy as np

from . import gillespie_kernel
from .base import Integrator, lanes_stepper, positive

__all__ = ["Gillespie"]


class Gillespie(Integrator):
    """Exact evolution of a discrete-state system (``nq.jump.markov_states``) for physical
    time ``dt`` per protocol step, at lam_k held fixed during step k.

    Step k switches lam_{k-1} -> lam_k at fixed state x (protocol work
    w_k = E_x(lam_k) - E_x(lam_{k-1})), then runs the jump process with the rates
    R(lam_k) for time dt: exponential waiting times of the exit rate, destinations in
    proportion to the rates (:mod:`neqsim.dynamics.gillespie_kernel`). A jump j -> i
    adds the non-conservative work f_ij to W and E_i - E_j - f_ij to the heat Q, so
    E_N - E_0 = W + Q. ``work`` is the total work (protocol plus non-conservative),
    the one Jarzynski and Crooks hold for (exactly, at any dt; ``path_work`` equals it).
    ``run.acceptance`` counts jumps per step.
    """
    kind = "jump"
    file_name = "jump.Gillespie"
    needs_gradient = False
    metropolized = True  # W_path = W exactly (the jumps obey local detailed balance)
    discrete_states = True

    def __init__(self, dt=1.0):
        self.dt = positive("Gillespie dt", dt)

    def params(self):
        return {"dt": self.dt}

    def proposals_per_step(self):
        """1: ``acceptance`` reads as jumps per protocol step."""
        return 1

    def stepper(self, system, lam, beta, record_every, specialize=None, lanes=None):
        """``advance(state, k0, k1, trace)`` running ``gillespie_kernel.jump_kernel`` on
        the rate tables of ``system`` at every protocol point."""
        tables = getattr(system, "tables", None)
        if tables is None or not getattr(system, "n_states", 0):
            raise TypeError(f"Gillespie needs a discrete-state system such as "
                            f"nq.jump.markov_states(...); {getattr(system, 'name', system)!r} "
                            "has no states and rates")
        lam = np.ascontiguousarray(lam, dtype=np.float64)
        if lam.ndim != 2 or lam.shape[1] != system.n_controls:
            raise ValueError(f"Gillespie: the protocol must have shape (N+1, "
                             f"{system.n_controls}), got {lam.shape}")
        E, R, F = tables(lam, beta)
        X = np.ascontiguousarray(R.sum(axis=1))
        prm = (np.ascontiguousarray(E), np.ascontiguousarray(R), np.ascontiguousarray(F), X,
               float(self.dt))
        inner = lanes_stepper(gillespie_kernel.jump_kernel, lam, prm, record_every,
                              lanes or 64)
        n_states = float(system.n_states)

        def advance(st, k0, k1, trace, rec_off=0):
            if st.x.shape[1] != 1 or not gillespie_kernel.all_states(st.x, n_states):
                raise ValueError(f"{system.name}: configurations must be state indices 0 .. "
                                 f"{system.n_states - 1} (floats, shape (n_traj, 1))")
            return inner(st, k0, k1, trace, rec_off)
        return advance
