"""Free-energy estimates and fluctuation-theorem checks from work samples.

Every function takes plain arrays (works done ON the system, energy units; beta defaults
to 1), :class:`neqsim.Run` objects, or run-file paths (whose ``path_work`` and ``beta``
are used). Estimates come with standard errors, bootstrap intervals and diagnostics, and
say so (``reliable=False`` and an :class:`UnreliableEstimateWarning`) when the sample
cannot support them; bad input (NaN) raises instead of giving a plausible number.

    est = nq.analysis.jarzynski(fwd.work, beta=1.0)        # EXP
    est = nq.analysis.bar(fwd.work, rev.work, beta=1.0)    # BAR
    chk = nq.analysis.crooks(fwd.work, rev.work, beta=1.0) # Crooks line and crossing
    lz = nq.analysis.ais_log_z(log_weights)                # AIS log Z
    prof = nq.analysis.profile(fwd, rev)                   # dF(lam_t) at every recorded step
    pmf = nq.analysis.hummer_szabo(pull_run)               # PMF from pulling
    res = nq.analysis.mbar(u_kn, n_k)                      # MBAR over K states
    su = nq.analysis.sagawa_ueda(feedback_run)             # <e^{-beta(W-dF)-I}> = 1
"""
from ._common import CorrelatedTrajectoriesWarning, Estimate, UnreliableEstimateWarning, as_work
from .bar import bar, overlap
from .crooks import CrooksCheck, crooks
from .dissipation import (
    BoundCheck,
    binary_entropy,
    dissipation,
    erasure_bound,
    landauer,
    local_free_energies,
    memory_bound,
    memory_free_energy,
    shannon_entropy,
)
from .entropy import (
    EntropyProduction,
    EntropyTerm,
    entropy_production,
    kl_to_equilibrium,
    knn_entropy,
)
from .exp import cumulant, jarzynski
from .correlation import blocking_inefficiency, starts_ordered, statistical_inefficiency
from .friction import Friction, friction
from .logz import ais_log_z, ess_curve
from .mbar import MBARResult, mbar
from .pmf import PMF, hummer_szabo
from .profile import Profile, profile
from .sagawa_ueda import SagawaUeda, sagawa_ueda
from .tails import ParetoTail, pareto_tail

__all__ = ["Estimate", "UnreliableEstimateWarning", "as_work", "jarzynski", "cumulant", "bar",
           "overlap", "crooks", "CrooksCheck", "ais_log_z", "ess_curve", "dissipation",
           "landauer", "shannon_entropy", "binary_entropy", "erasure_bound", "BoundCheck",
           "CorrelatedTrajectoriesWarning", "pareto_tail", "ParetoTail",
           "statistical_inefficiency", "blocking_inefficiency", "starts_ordered",
           "profile", "Profile", "hummer_szabo", "PMF", "mbar", "MBARResult", "friction",
           "Friction", "local_free_energies", "memory_free_energy", "memory_bound",
           "entropy_production", "EntropyProduction", "EntropyTerm", "knn_entropy",
           "kl_to_equilibrium", "sagawa_ueda", "SagawaUeda"]


def __getattr__(name):
    # ``plots`` needs matplotlib: import it on first access (nq.analysis.plots), not with
    # neqsim, so importing the package stays light and works without a display
    if name == "plots":
        import importlib
        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
