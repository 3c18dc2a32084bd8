"""AIS targets with EXACT log normalizing constants, for tests and ``validate``
(public as ``nq.targets``; ``nq.testsystems`` is its 0.1.0 name).

Every problem here has a closed-form log Z (log of the integral, or sum, of its
unnormalized density), so that free-energy and annealed-importance-sampling (AIS)
estimates can be compared with the truth rather than with another estimate.

Conventions: :mod:`._common`.

Problems
--------
``gaussian_path``          Gaussian -> shifted/scaled Gaussian, with the exact log Z(t) of
                           the whole geometric path (AIS schedules, thermodynamic integration).
``linear_regression``      Bayesian linear regression, known noise: exact log evidence.
``linear_regression_nig``  Normal-inverse-gamma linear regression in (w, log sigma^2):
                           exact (Student-t) log evidence.
``gaussian_mixture``       Multimodal mixture with unnormalized weights: log Z = log sum w.
``ising_1d`` / ``ising_2d``  periodic chain (transfer matrix) and zero-field torus
                           (Kaufman 1949); their formulas, with enumeration and Onsager's
                           infinite lattice, are :mod:`neqsim.exact.ising`'s (also here
                           under their 0.1.0 names ``ising_1d_log_z``, ``ising_2d_log_z``,
                           ``ising_enumerate_log_z``, ``ising_2d_onsager_log_z_per_site``).

``evaluate(log_f, X)`` evaluates any of the numba log densities on the rows of ``X``.
"""
import math

from ..exact.ising import chain_log_z as ising_1d_log_z
from ..exact.ising import onsager_log_z_per_site as ising_2d_onsager_log_z_per_site
from ..exact.ising import torus_enumerate_log_z as ising_enumerate_log_z
from ..exact.ising import torus_log_z as ising_2d_log_z
from ._common import evaluate
from .gaussian import GaussianPath, gaussian_path
from .ising import IsingChain, IsingLattice, ising_1d, ising_2d
from .mixture import GaussianMixture, gaussian_mixture
from .regression import (
                         LinearRegression,
                         LinearRegressionNIG,
                         linear_regression,
                         linear_regression_nig,
)

#: K_c = log(1 + sqrt 2) / 2 = 0.44068679...: critical coupling of the square lattice
ISING_2D_CRITICAL_COUPLING = 0.5 * math.log1p(math.sqrt(2.0))

__all__ = [
    "GaussianPath", "gaussian_path",
    "LinearRegression", "linear_regression",
    "LinearRegressionNIG", "linear_regression_nig",
    "GaussianMixture", "gaussian_mixture",
    "IsingChain", "ising_1d", "ising_1d_log_z",
    "IsingLattice", "ising_2d", "ising_2d_log_z", "ising_2d_onsager_log_z_per_site",
    "ising_enumerate_log_z", "ISING_2D_CRITICAL_COUPLING",
    "evaluate",
]
