"""Protocols: schedules lam_0 .. lam_N of the control parameters (:mod:`.protocol`), and
AIS annealing schedules 0 = t_0 .. t_N = 1 (:mod:`.schedules`, public as ``nq.schedules``),
and optimal protocols (:mod:`.optimize`: exact least work in 1-D, thermodynamic length).
"""
from .optimize import OptimalProtocol, length_protocol, optimize
from .protocol import (
                       Protocol,
                       as_protocol,
                       concatenate,
                       crooks_pair,
                       from_callable,
                       hold,
                       is_reverse_of,
                       jump,
                       linear,
                       piecewise,
)

__all__ = ["Protocol", "as_protocol", "linear", "piecewise", "from_callable", "hold",
           "concatenate", "jump", "crooks_pair", "is_reverse_of", "optimize",
           "OptimalProtocol", "length_protocol"]
