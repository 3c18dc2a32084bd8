"""Markov jump processes, public as ``nq.jump``: discrete-state systems with rates in local
detailed balance (:mod:`neqsim.systems.markov`), their exact Gillespie integrator
(:mod:`neqsim.dynamics.gillespie`) and the exact tilted master equation
(:mod:`neqsim.exact.master`), in one namespace (docs/jump-processes.md).

    import neqsim as nq
    two = nq.jump.markov_states([[0.0, 0.0], [0.0, 1.0]])   # E = (0, eps), lam = (eps,)
    proto = nq.protocols.linear([0.5], [3.0], 50)
    run = nq.simulate(two, proto, nq.jump.Gillespie(dt=0.02), n_traj=10_000, seed=1)
    exact = nq.jump.master_work_statistics(two, proto, 0.02)
"""
from .dynamics.gillespie import Gillespie
from .exact.master import (
           MasterWorkStatistics,
           SteadyState,
           generator,
           log_partition,
           master_steady_state,
           master_work_cgf,
           master_work_statistics,
           two_level_delta_f,
)
from .systems.markov import MarkovStates, markov_states

__all__ = ["markov_states", "MarkovStates", "Gillespie", "master_work_statistics",
           "master_work_cgf", "MasterWorkStatistics", "master_steady_state", "SteadyState",
           "generator", "log_partition", "two_level_delta_f"]
