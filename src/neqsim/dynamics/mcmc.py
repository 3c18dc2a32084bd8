"""Markov kernels for AIS: random-walk Metropolis, MALA and HMC with per-temperature steps.

Each is an :class:`neqsim.dynamics.base.Integrator`, so ``simulate`` drives it with the
same per-trajectory RNG, bookkeeping (W, Q, path work = W by detailed balance), run files
and analyzers as the Langevin integrators. Public as ``nq.kernels`` (RandomWalk, MALA,
HMC). ``nq.kernels.MALA`` (class :class:`MALAKernel`, parameterized by a step size, with
per-temperature steps and several moves) is not ``nq.MALA`` (the overdamped integrator,
parameterized by dt and gamma): the two run different kernels with different arithmetic. ``step_size`` is a number, an array with one value
per protocol point (entry k is used for the move after switching to lam_k), or
``"adapt"``: :func:`neqsim.ais` then tunes one step size per temperature on a separate
pilot run (never on the chains whose weights are reported: adapting on them biases
log Z) towards ``target_acceptance``.
"""
from __future__ import annotations

import math

import numpy as np

from .._numba.specialize import KernelSpec, specialized_kernel
from . import mcmc_kernel
from .base import Integrator, lanes_stepper

__all__ = ["RandomWalk", "MALA", "MALAKernel", "HMC", "MarkovKernel"]


class MarkovKernel(Integrator):
    """Base of the Metropolis-Hastings kernels; ``_proposal`` is the kernel's code for
    the proposal (``mcmc_kernel.RWM``, ``MALA``, ``HMC``), read only by :meth:`stepper`."""
    kind = "mcmc"
    metropolized = True
    _proposal = -1
    default_acceptance = 0.5
    default_step_size = 0.2  # where "adapt" starts
    dt = 1.0  # one step per temperature: trace "time" counts temperatures

    def __init__(self, step_size=0.1, *, n_moves=1, target_acceptance=None):
        if self._proposal < 0:  # the base class has no proposal: it would never move
            raise TypeError("MarkovKernel is the base class of the AIS kernels and has no "
                            "proposal; use nq.kernels.RandomWalk, nq.kernels.MALA or "
                            "nq.kernels.HMC")
        if isinstance(step_size, str):
            if step_size != "adapt":
                raise ValueError(f"step_size must be a number, an array or 'adapt', "
                                 f"got {step_size!r}")
            self.step_size = "adapt"
        else:
            try:
                if np.iscomplexobj(step_size) or step_size is None:
                    raise TypeError
                arr = np.asarray(step_size, dtype=np.float64)
            except (TypeError, ValueError):
                arr = np.full(2, np.nan)  # reported below with what was given
            if not (np.all(np.isfinite(arr)) and np.all(arr > 0)) or arr.ndim > 1 \
                    or arr.size == 0:
                raise ValueError(f"step_size must be finite and > 0 (a number, one per "
                                 f"temperature in a 1-D array, or 'adapt'), got "
                                 f"{step_size!r}")
            self.step_size = float(arr) if arr.ndim == 0 else arr.copy()
        if isinstance(n_moves, bool) or int(n_moves) != n_moves or n_moves < 1:
            raise ValueError(f"n_moves must be an integer >= 1, got {n_moves!r}")
        self.n_moves = int(n_moves)
        try:
            t = self.default_acceptance if target_acceptance is None else \
                float(target_acceptance)
        except (TypeError, ValueError):
            t = math.nan
        if not 0 < t < 1:
            raise ValueError(f"target_acceptance must be in (0, 1), got {target_acceptance!r}")
        self.target_acceptance = t

    def params(self):
        s = self.step_size
        p = {"step_size": s if isinstance(s, (str, float)) else [float(v) for v in s],
             "n_moves": self.n_moves, "target_acceptance": self.target_acceptance}
        p.update(self._extra_params())
        return p

    def _extra_params(self):
        return {}

    def __eq__(self, other):
        return type(self) is type(other) and self.params() == other.params()

    __hash__ = Integrator.__hash__

    public_name = ""  # the name in nq.kernels, for repr

    def __repr__(self):
        s = self.step_size
        s = repr(s) if isinstance(s, (str, float)) else f"array[{len(s)}]"
        extra = "".join(f", {k}={v!r}" for k, v in self._extra_params().items())
        return f"kernels.{self.public_name}(step_size={s}, n_moves={self.n_moves}{extra})"

    def proposals_per_step(self):
        return self.n_moves

    def with_step_sizes(self, eps):
        """A copy with per-protocol-point step sizes ``eps`` (from adaptation)."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.step_size = np.asarray(eps, dtype=np.float64).copy()
        return new

    def step_sizes(self, n_points):
        s = self.step_size
        if isinstance(s, str):
            raise ValueError(f"{type(self).__name__}(step_size='adapt') must be tuned first: "
                             "nq.ais adapts it on a pilot run")
        if isinstance(s, float):
            return np.full(n_points, s)
        if s.shape != (n_points,):
            raise ValueError(f"step_size array has {s.size} entries; the protocol has "
                             f"{n_points} points")
        return s

    def _n_leap(self):
        return 0

    def kernel(self, system, lanes=None):
        """The compiled kernel for ``system`` (potential inlined, cached on disk); on an
        AIS path of two log densities, the random walk keeps both per chain."""
        d, m = system.dim, system.n_controls
        b = lanes or mcmc_kernel.lanes_for(d)
        comp = getattr(system, "path_components", None)
        label = f"{system.name}/{type(self).__name__}"
        if self._proposal == mcmc_kernel.RWM and comp is not None:
            return specialized_kernel(KernelSpec(
                mcmc_kernel.rwm_path_kernel, {"D": d, "M": m, "B": b, "DB": d * b},
                potentials={"fa": comp[0], "fb": comp[1]}, label=label)), b, True
        return specialized_kernel(KernelSpec(
            mcmc_kernel.mcmc_kernel,
            {"D": d, "M": m, "B": b, "DB": d * b, "PROPOSAL": self._proposal},
            potentials={"potential": system.potential}, label=label)), b, False

    def stepper(self, system, lam, beta, record_every, specialize=None, lanes=None):
        kern, b, on_path = self.kernel(system, lanes)
        eps = np.ascontiguousarray(self.step_sizes(np.shape(lam)[0]), dtype=np.float64)
        if on_path:
            geometric = bool(system.params.get("path") == "geometric")
            params = (eps, np.int64(self.n_moves), float(beta), geometric)
        else:
            params = (eps, np.int64(self._n_leap()), np.int64(self.n_moves), float(beta))
        return lanes_stepper(kern, lam, params, record_every, b)


    def cuda_kernel(self, system, *, fma=False):
        """The CUDA kernel for ``system`` (device copies of its potential, or of an AIS
        path's log densities), compiled on first launch; and whether it is the random
        walk on a path of two log densities."""
        from .._numba.gpu import cuda_kernel, device_function
        from . import mcmc_cuda
        d, m = system.dim, system.n_controls
        label = f"{system.name}/{type(self).__name__}/cuda"
        comp = getattr(system, "path_components", None)
        if self._proposal == mcmc_kernel.RWM and comp is not None:
            return cuda_kernel(mcmc_cuda.rwm_path_cuda_kernel,
                               {"D": d, "M": m, "fa": comp[0], "fb": comp[1]},
                               fma=fma, label=label), True
        pot = system.potential
        dens = getattr(system, "path_densities", None)
        if dens is not None:
            geometric = bool(system.params.get("path") == "geometric")
            pot = _PATH_POTENTIALS.get((id(system), geometric))
            if pot is None or pot[0] is not system:
                pot = _PATH_POTENTIALS[(id(system), geometric)] = (system, device_function(
                    mcmc_cuda.path_potential, {"D": d, "GEOMETRIC": geometric,
                                               "fa": dens[0], "fb": dens[1]}))
            pot = pot[1]
        return cuda_kernel(mcmc_cuda.mcmc_cuda_kernel,
                           {"D": d, "M": m, "PROPOSAL": self._proposal, "potential": pot},
                           fma=fma, label=label), False

    def cuda_stepper(self, system, lam, beta, record_every, *, fma=False, threads=None):
        from .device import OVERDAMPED_FIELDS, cuda_stepper
        kern, on_path = self.cuda_kernel(system, fma=fma)
        eps = np.ascontiguousarray(self.step_sizes(np.shape(lam)[0]), dtype=np.float64)
        if on_path:
            geometric = bool(system.params.get("path") == "geometric")
            params = (eps, np.int64(self.n_moves), float(beta), geometric)
        else:
            params = (eps, np.int64(self._n_leap()), np.int64(self.n_moves), float(beta))
        return cuda_stepper(kern, lam, params, record_every, OVERDAMPED_FIELDS,
                            threads=threads)


_PATH_POTENTIALS = {}  # (id(path system), geometric): (system, its CUDA path potential)


class RandomWalk(MarkovKernel):
    """Random-walk Metropolis: y = x + eps xi, accepted with min(1, pi(y)/pi(x)).
    Needs no gradient. Default target acceptance 0.234 (Roberts, Gelman, Gilks 1997)."""
    file_name = "kernels.RandomWalk"
    public_name = "RandomWalk"
    needs_gradient = False
    _proposal = mcmc_kernel.RWM
    default_acceptance = 0.234
    default_step_size = 0.5


class MALAKernel(MarkovKernel):
    """Metropolis-adjusted Langevin with step size eps (public as ``nq.kernels.MALA``):
    y = x + (eps^2/2) grad log pi(x) + eps xi, Metropolis-Hastings accepted.
    (``nq.MALA(dt)`` is the same move as an integrator parameterized by a time step,
    dt = eps^2/2, with its own kernel and arithmetic.)
    Default target acceptance 0.574 (Roberts and Rosenthal 1998)."""
    file_name = "kernels.MALA"
    public_name = "MALA"
    _proposal = mcmc_kernel.MALA
    default_acceptance = 0.574


MALA = MALAKernel  # the public name, nq.kernels.MALA


class HMC(MarkovKernel):
    """Hamiltonian Monte Carlo: fresh N(0, I) momenta, ``n_leapfrog`` leapfrog steps of
    size eps on H = -log pi(x) + |p|^2/2, accepted with min(1, e^{-dH}). Default target
    acceptance 0.65 (Beskos et al. 2013)."""
    file_name = "kernels.HMC"
    public_name = "HMC"
    _proposal = mcmc_kernel.HMC
    default_acceptance = 0.65

    def __init__(self, step_size=0.1, n_leapfrog=10, *, n_moves=1, target_acceptance=None):
        super().__init__(step_size, n_moves=n_moves, target_acceptance=target_acceptance)
        if isinstance(n_leapfrog, bool) or int(n_leapfrog) != n_leapfrog or n_leapfrog < 1:
            raise ValueError(f"n_leapfrog must be an integer >= 1, got {n_leapfrog!r}")
        self.n_leapfrog = int(n_leapfrog)

    def _extra_params(self):
        return {"n_leapfrog": self.n_leapfrog}

    def _n_leap(self):
        return self.n_leapfrog


def _clip_eps(e):
    return float(min(max(e, 1e-8), 1e8)) if math.isfinite(e) else 1.0
