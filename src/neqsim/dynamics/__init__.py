"""Markov kernels T_k: each integrator family's Python class beside its numba kernel.

``overdamped`` (EulerMaruyama, MALA), ``splitting`` (Langevin, GHMC, VelocityVerlet),
``mcmc`` (the AIS kernels RandomWalk, MALA, HMC; public as ``nq.kernels``) and
``spinflip`` (SpinFlip for Ising lattices), ``gillespie`` (Gillespie for Markov jump
processes); what they share is in ``base``.
"""
from .base import Integrator, KernelState, StepInfo, TraceBuffers
from .gillespie import Gillespie
from .mcmc import HMC, MALAKernel, MarkovKernel, RandomWalk
from .overdamped import MALA, EulerMaruyama
from .presets import PRESETS, preset
from .spinflip import SpinFlip
from .splitting import GHMC, Langevin, VelocityVerlet, parse_splitting

__all__ = ["Integrator", "KernelState", "StepInfo", "TraceBuffers", "EulerMaruyama", "MALA",
           "Langevin", "GHMC", "VelocityVerlet", "parse_splitting", "MarkovKernel",
           "RandomWalk", "MALAKernel", "HMC", "SpinFlip", "PRESETS", "preset", "Gillespie"]
