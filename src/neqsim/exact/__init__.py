"""Closed forms and exact numerics, each in one place: Ising partition functions
(:mod:`.ising`), Gaussian and harmonic-trap results (:mod:`.gaussian`), 1-D equilibrium
densities by quadrature (:mod:`.quadrature`), exact work statistics of any 1-D overdamped
protocol on a grid (:mod:`.transfer`: the tilted Fokker-Planck equation, and the
transition operators of Euler-Maruyama and MALA at the user's dt), of 2-D ones
(:mod:`.transfer2d`) and of 1-D underdamped ones (:mod:`.underdamped`), Markov jump processes (:mod:`.master`: the tilted master
equation), and the Gaussian feedback trap (:mod:`.feedback`). Pure NumPy/SciPy:
systems, targets, validation and tests all take their exact answers from here."""
from .feedback import FeedbackTrap
from .gaussian import (
                       QuenchTerms,
                       breathing_quench,
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
from .master import (
                       MasterWorkStatistics,
                       SteadyState,
                       log_partition,
                       master_steady_state,
                       master_work_cgf,
                       master_work_statistics,
                       two_level_delta_f,
)
from .quadrature import grid_density
from .transfer2d import transfer_grid_2d, work_statistics_continuous_2d
from .underdamped import work_statistics_underdamped
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
           "work_statistics_continuous", "work_statistics_discrete", "work_distribution",
           "breathing_quench", "QuenchTerms", "work_statistics_continuous_2d",
           "transfer_grid_2d", "work_statistics_underdamped",
           "log_partition", "two_level_delta_f", "MasterWorkStatistics",
           "master_work_statistics", "master_work_cgf", "SteadyState", "master_steady_state",
           "FeedbackTrap"]
