"""Ising lattices, public as ``nq.ising``: the lattice system (:mod:`neqsim.systems.ising`),
its single-spin-flip kernel (:mod:`neqsim.dynamics.spinflip`) and its exact partition
functions (:mod:`neqsim.exact.ising`), in one namespace.

    import neqsim as nq
    lattice = nq.ising.ising((8, 8))                           # periodic 8 x 8 torus
    proto = nq.protocols.linear([0.0, 0.0], [0.44, 0.0], 100)  # J: 0 -> 0.44 at h = 0
    run = nq.simulate(lattice, proto, nq.ising.SpinFlip("glauber"), n_traj=10_000, seed=1)
"""
from .dynamics.spinflip import SpinFlip
from .exact.ising import chain_log_z, torus_log_z
from .systems.ising import (
           ENUMERATE_MAX_SITES,
           Lattice,
           enumerate_log_z,
           ising,
           neighbor_table,
)

__all__ = ["ising", "Lattice", "SpinFlip", "neighbor_table", "chain_log_z", "torus_log_z",
           "enumerate_log_z", "ENUMERATE_MAX_SITES"]
