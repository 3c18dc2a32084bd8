"""Closed forms and exact numerics, each in one place: Ising partition functions
(:mod:`.ising`), Gaussian and harmonic-trap results (:mod:`.gaussian`), and 1-D
equilibrium densities by quadrature (:mod:`.quadrature`), and exact work statistics of
any 1-D overdamped protocol on a grid (:mod:`.transfer`: the tilted Fokker-Planck
equation, and the transition operators of Euler-Maruyama and MALA at the user's dt). Pure NumPy/SciPy: systems,
targets, validation and tests all take their exact answers from here."""
from .gaussian import (
                       breathing_trap_delta_f,
                       dragged_trap_em_work,
                       dragged_trap_work_mean,
                       dragged_trap_work_variance,
                       harmonic_free_energy,
)
from .ising import (
                       bonds_log_z,
                       chain_log_z,
                       independent_log_z,
                       onsager_log_z_per_site,
                       torus_enumerate_log_z,
                       torus_log_z,
)
from .quadrature import grid_density
from .transfer import (
                       WorkStatistics,
                       transfer_grid,
                       work_distribution,
                       work_statistics_continuous,
                       work_statistics_discrete,
)

__all__ = ["harmonic_free_energy", "breathing_trap_delta_f", "dragged_trap_work_mean",
           "dragged_trap_work_variance", "dragged_trap_em_work", "chain_log_z", "torus_log_z",
           "torus_enumerate_log_z", "bonds_log_z", "independent_log_z",
           "onsager_log_z_per_site", "grid_density", "WorkStatistics", "transfer_grid",
           "work_statistics_continuous", "work_statistics_discrete", "work_distribution"]
