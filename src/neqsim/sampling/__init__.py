"""Annealed importance sampling from a script: log densities (:mod:`.density`), the AIS
path as a system (:mod:`.path`), pilot adaptation (:mod:`.adaptation`) and ``ais``
itself (:mod:`.annealing`); sequential Monte Carlo (:mod:`.smc`: resampling schemes in
:mod:`.resampling`, population moves in :mod:`.movers`)."""
from .annealing import AISResult, ais
from .batched import BatchedLogDensity
from .density import LogDensity, log_density
from .smc import SMCOptions, SMCResult, smc

__all__ = ["ais", "AISResult", "LogDensity", "log_density", "BatchedLogDensity", "smc", "SMCOptions", "SMCResult"]
