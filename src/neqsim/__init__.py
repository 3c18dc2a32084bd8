"""neqsim: non-equilibrium thermodynamics simulation with exact work and heat bookkeeping.

    import neqsim as nq
    system = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [5.0, 1.0], n_steps=1000)
    run = nq.simulate(system, proto, nq.EulerMaruyama(dt=1e-3), n_traj=10_000, seed=1)
    run.work, run.heat, run.path_work

Sign conventions (docs/physics.md): W > 0 is work done on the system, Q > 0 heat absorbed
by it, and E_N - E_0 = W + Q (+ W_shadow) for every trajectory.

The public API is flat here; the code follows the data (docs/architecture.md):
systems, protocols -> dynamics -> engine -> storage -> analysis, with sampling (AIS),
targets, exact results, validation and the CLI on top. Importing neqsim compiles
nothing: every kernel is compiled (or loaded from numba's cache) on first use.
"""
from . import (
           _numba,  # noqa: F401  (first: it installs the kernel cache locator)
           analysis,
           exact,
           ising,
           jump,
           protocols,
           systems,
           targets,
           testsystems,  # the 0.1.0 name of nq.targets
)
from ._numba.gpu import CudaUnavailable
from ._version import __version__
from .dynamics import GHMC, MALA, EulerMaruyama, Gillespie, Integrator, Langevin, VelocityVerlet
from .dynamics import mcmc as kernels
from .engine.block import IntegrationError
from .engine.driver import resume, simulate
from .engine.executors import gpu_executor
from .engine.feedback import feedback
from .engine.initial import Equilibrate, Snapshots, StartDensity
from .engine.measurement import GaussianState, Measurement
from .engine.options import Execution, Record
from .protocols import Protocol, schedules
from .sampling import (
    AISResult,
    BatchedLogDensity,
    LogDensity,
    SMCOptions,
    SMCResult,
    ais,
    log_density,
    smc,
)
from .storage import Run, RunFileError, open_run
from .storage.feedback_run import FeedbackRun
from .systems import System, from_functions, potential
from .systems.markov import markov_states
from .systems.checks import PotentialError
from .validation import Calibration, calibrate

__all__ = ["simulate", "resume", "open_run", "Run", "RunFileError", "IntegrationError",
           "System", "from_functions", "potential", "PotentialError", "Protocol",
           "Equilibrate", "Snapshots", "StartDensity", "Record", "Execution", "calibrate", "Calibration",
           "Integrator", "EulerMaruyama", "MALA", "Langevin", "GHMC", "VelocityVerlet",
           "ais", "AISResult", "smc", "SMCOptions", "SMCResult", "log_density",
           "LogDensity", "BatchedLogDensity", "systems", "protocols", "schedules",
           "kernels", "analysis", "targets", "testsystems", "exact", "ising", "__version__",
           "jump", "Gillespie", "markov_states", "feedback", "Measurement",
           "GaussianState", "FeedbackRun", "gpu_executor", "CudaUnavailable"]
