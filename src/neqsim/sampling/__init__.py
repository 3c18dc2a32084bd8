"""Annealed importance sampling from a script: log densities (:mod:`.density`), the AIS
path as a system (:mod:`.path`), pilot adaptation (:mod:`.adaptation`) and ``ais``
itself (:mod:`.annealing`)."""
from .annealing import AISResult, ais
from .density import LogDensity, log_density

__all__ = ["ais", "AISResult", "LogDensity", "log_density"]
