"""FeedbackRun: the per-trajectory results of a feedback run (``nq.feedback``), in memory.

Beside what a :class:`~neqsim.Run` holds (W, Q, path work, final state, energies), each
trajectory carries its measurement outcomes y_m, the states x(t_m) they measured, the
mutual information I_i (summed over measurements, and per measurement) and its final
controls lam_i(N). Feedback runs are not written to run files (their protocol is
per trajectory, which the run-file format does not describe).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FeedbackRun"]


@dataclass(frozen=True, eq=False)
class FeedbackRun:
    """Results of ``nq.feedback`` (signs of docs/physics.md: W on the system, Q absorbed).

    work, heat, path_work : (n,) totals; ``path_work`` makes the fluctuation theorems exact
        for Euler-Maruyama at any dt (equal to ``work`` for MALA).
    x : (n, dim) final positions; initial_energy, final_energy : (n,) U(x_0, lam_0) and
        U(x_N, lam_i(N)); controls : (n, n_controls) final controls lam_i(N).
    outcomes : tuple, per measurement, of the (n, n_obs) outcomes y; measured : tuple of
        the (n, dim) states x(t_m) they measured; steps : the measurement steps.
    information : (n,) I_i = sum_m [ln p(y_m|x(t_m)) - ln p(y_m | y_<m)] (nats);
        information_terms : (n, n_meas) the terms; information_bias : (n_meas,) the
        estimated bias of each term's mean (0 where the marginal is exact);
        information_method : how each marginal was obtained.
    """
    work: np.ndarray
    heat: np.ndarray
    path_work: np.ndarray
    x: np.ndarray
    initial_energy: np.ndarray
    final_energy: np.ndarray
    controls: np.ndarray
    n_accepted: np.ndarray
    outcomes: tuple
    measured: tuple
    steps: tuple
    information: np.ndarray
    information_terms: np.ndarray
    information_bias: np.ndarray
    information_method: tuple
    beta: float
    seed: int
    n_steps: int
    integrator: object
    system_name: str
    info: dict = field(default_factory=dict)

    @property
    def n_traj(self):
        return int(self.work.shape[0])

    @property
    def kT(self):
        return 1.0 / self.beta

    @property
    def y(self):
        """The outcomes of the first measurement, (n, n_obs)."""
        return self.outcomes[0]

    @property
    def n_failed(self):
        return 0  # a blow-up raises IntegrationError; there are no partial results

    @property
    def acceptance(self):
        """Per-trajectory acceptance rate (MALA), NaN for Euler-Maruyama."""
        if not self.integrator.metropolized:
            return np.full(self.n_traj, np.nan)
        return self.n_accepted / self.n_steps

    def first_law_residual(self):
        """U(x_N, lam_i(N)) - U(x_0, lam_0) - W - Q per trajectory (rounding only)."""
        return self.final_energy - self.initial_energy - self.work - self.heat

    def __repr__(self):
        return (f"FeedbackRun({self.system_name}, {self.integrator!r}, n_traj={self.n_traj}, "
                f"measurements at steps {list(self.steps)}, <W> = {self.work.mean():.4g}, "
                f"<I> = {self.information.mean():.4g})")
