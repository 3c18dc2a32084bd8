"""Driven systems: a potential U(x, lam), its gradient, and what is known exactly about it.

Build your own with :func:`from_functions` or :func:`potential`; the built-ins are
:func:`harmonic_trap`, :func:`double_well` and the Ising lattices (``nq.ising.ising``).
"""
from .builtin import BUILTINS, double_well, from_spec, harmonic_trap, spring_pulled
from .system import Gaussian, System, fingerprint, from_functions, potential

__all__ = ["System", "Gaussian", "from_functions", "potential", "harmonic_trap",
           "double_well", "spring_pulled", "from_spec", "BUILTINS", "fingerprint"]
