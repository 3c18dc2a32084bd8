"""Overdamped Langevin integrators: Euler-Maruyama (with the exact path-ratio work) and MALA.

``gamma`` is a friction coefficient (mass / time): the dynamics is
``dx = -(1/gamma) grad U dt + sqrt(2 kT / gamma) dB``. Which estimators are exact at
finite dt: EulerMaruyama's W carries an O(dt) bias, its W_path = W + Q + kT sum
log[T(x'|x)/T(x|x')] is exact; MALA's detailed balance makes W itself exact.
"""
from __future__ import annotations

from .._numba.specialize import KernelSpec, specialized_kernel
from . import overdamped_kernel
from .base import Integrator, lanes_stepper, positive

__all__ = ["EulerMaruyama", "MALA"]


class EulerMaruyama(Integrator):
    """Overdamped Euler-Maruyama: x' = x - (dt/gamma) grad U(x, lam_k) + sqrt(2 dt/(beta gamma)) xi.

    Not in detailed balance: ``work`` carries an O(dt) bias; ``path_work`` adds
    Q + kT sum log[T(x_k|x_{k-1}) / T(x_{k-1}|x_k)] from the Gaussian transition
    densities and makes Jarzynski exact at any dt.
    """
    kind = "overdamped"
    file_name = "EulerMaruyama"
    metropolized = False

    def __init__(self, dt, gamma=1.0):
        self.dt = positive("dt", dt)
        self.gamma = positive("gamma", gamma)

    def params(self):
        return {"dt": self.dt, "gamma": self.gamma}

    def proposals_per_step(self):
        return 1 if self.metropolized else 0

    def kernel(self, system, lanes=None):
        """The compiled kernel for ``system`` (potential inlined, cached on disk)."""
        d, m = system.dim, system.n_controls
        b = lanes or overdamped_kernel.lanes_for(d)
        return specialized_kernel(KernelSpec(
            overdamped_kernel.overdamped_kernel,
            {"D": d, "M": m, "B": b, "DB": d * b, "METRO": bool(self.metropolized)},
            potentials={"potential": system.potential},
            label=f"{system.name}/{type(self).__name__}")), b

    def stepper(self, system, lam, beta, record_every, specialize=None, lanes=None):
        kern, b = self.kernel(system, lanes)
        return lanes_stepper(kern, lam, (float(beta), self.dt, self.gamma), record_every, b)

    def cuda_kernel(self, system, *, fma=False):
        """The CUDA kernel for ``system`` (the potential's device copy), compiled on first
        launch."""
        from .._numba.gpu import cuda_kernel
        from . import overdamped_cuda
        return cuda_kernel(overdamped_cuda.overdamped_cuda_kernel,
                           {"D": system.dim, "M": system.n_controls,
                            "METRO": bool(self.metropolized), "potential": system.potential},
                           fma=fma, label=f"{system.name}/{type(self).__name__}/cuda")

    def cuda_stepper(self, system, lam, beta, record_every, *, fma=False, threads=None):
        from .device import OVERDAMPED_FIELDS, cuda_stepper
        return cuda_stepper(self.cuda_kernel(system, fma=fma), lam,
                            (float(beta), self.dt, self.gamma), record_every,
                            OVERDAMPED_FIELDS, threads=threads)


class MALA(EulerMaruyama):
    """Metropolis-adjusted Langevin: the Euler-Maruyama move as a proposal, accepted with
    min(1, pi(y) T(x|y) / (pi(x) T(y|x))). Detailed balance makes W exact for any dt."""
    file_name = "MALA"
    metropolized = True
