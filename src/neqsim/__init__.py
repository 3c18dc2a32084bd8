"""neqsim: non-equilibrium thermodynamics simulation with exact work and heat bookkeeping.

    import neqsim as nq
    system = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [5.0, 1.0], n_steps=1000)
    run = nq.simulate(system, proto, nq.integrators.EulerMaruyama(dt=1e-3), n_traj=10_000, seed=1)
    run.work, run.heat, run.path_work

Sign conventions (PHYSICS.md): W > 0 is work done on the system, Q > 0 heat absorbed by
it, and E_N - E_0 = W + Q (+ W_shadow) for every trajectory.
"""
from . import _cache  # noqa: F401  (must precede every cached kernel)
from . import analysis, integrators, ising, kernels, protocols, schedules, systems, testsystems
from .driver import IntegrationError, resume, simulate
from .ais import AISResult, LogDensity, ais, log_density
from .initial import Equilibrate
from .integrators import GHMC, MALA, EulerMaruyama, Langevin, VelocityVerlet
from .protocols import Protocol
from .run import Run
from .runfile import RunFileError, open_run
from .systems import System, from_functions, potential

__version__ = "0.1.0"

__all__ = ["ais", "log_density", "LogDensity", "AISResult", "kernels", "schedules", "testsystems", "ising",
           "simulate", "resume", "open_run", "RunFileError", "Run", "System", "Protocol", "Equilibrate", "IntegrationError",
           "from_functions", "potential", "systems", "protocols", "integrators", "analysis",
           "EulerMaruyama", "MALA", "Langevin", "GHMC", "VelocityVerlet", "__version__"]
