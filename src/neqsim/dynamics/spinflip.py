"""Single-spin-flip Monte Carlo (Metropolis, Glauber) on Ising lattices, one sweep per step."""
from __future__ import annotations

import numpy as np

from .._numba.specialize import KernelSpec, specialized_kernel
from . import spinflip_kernel
from .base import Integrator, lanes_stepper

__all__ = ["SpinFlip"]


class SpinFlip(Integrator):
    """One sweep of single-spin-flip Monte Carlo per protocol step, on a lattice from
    :func:`ising`.

    A sweep is n_sites updates, each at a uniformly random site i. With the local field
    f_i = J sum_{j nbr i} s_j + h, a flip costs dE = 2 s_i f_i and is made with
    probability

    * ``rule="metropolis"``: min(1, exp(-beta dE));
    * ``rule="glauber"`` (heat bath): 1 / (1 + exp(beta dE)), i.e. s_i is set to +1 with
      probability 1 / (1 + exp(-2 beta f_i)) regardless of its old value.

    Every update is in detailed balance with pi_lam, and the random site choice makes the
    whole sweep reversible, so ``path_work`` equals ``work`` and Jarzynski, Crooks and BAR
    are exact with the protocol work. Heat is the energy change of the flips.

    ``dt`` = 1: trace times count sweeps. ``run.acceptance`` is the mean number of spin
    flips per sweep (``proposals_per_step()`` is 1 because the integrator does not know
    the lattice size); divide by ``system.dim`` for the flip rate per single-spin update.
    """
    kind = "spin"
    file_name = "ising.SpinFlip"
    needs_gradient = False
    metropolized = True
    discrete_states = True
    dt = 1.0
    RULES = ("metropolis", "glauber")

    def __init__(self, rule="metropolis"):
        if not isinstance(rule, str) or rule.lower() not in self.RULES:
            raise ValueError(f"SpinFlip rule must be one of {self.RULES}, got {rule!r}")
        self.rule = rule.lower()

    def params(self):
        return {"rule": self.rule}

    def proposals_per_step(self):
        """1: ``acceptance`` then reads as spin flips per sweep (see the class doc)."""
        return 1

    def stepper(self, system, lam, beta, record_every, specialize=None, lanes=None):
        """``advance(state, k0, k1, trace)`` running ``spinflip_kernel.spin_kernel``
        (compiled per lattice size and rule, cached on disk) in place."""
        nbr = getattr(system, "neighbors", None)
        if nbr is None:
            raise TypeError(f"SpinFlip needs a lattice system such as nq.ising.ising(...); "
                            f"{getattr(system, 'name', system)!r} has no neighbour table")
        nbr = np.array(nbr, dtype=np.int64, order="C")
        if nbr.ndim != 2 or nbr.shape[0] != system.dim or system.n_controls != 2:
            raise TypeError(f"SpinFlip needs a lattice system with a (dim, z) neighbour table "
                            f"and controls (J, h); got {system!r}")
        lam = np.ascontiguousarray(lam, dtype=np.float64)
        if lam.ndim != 2 or lam.shape[1] != 2:
            raise ValueError(f"SpinFlip needs a protocol of controls (J, h), shape (N+1, 2); "
                             f"got {lam.shape}")
        ns, z = nbr.shape
        ghosted = np.where(nbr < 0, ns, nbr)  # padding points at the always-0 ghost site
        b = lanes or spinflip_kernel.lanes_for(ns)
        kern = specialized_kernel(KernelSpec(
            spinflip_kernel.spin_kernel,
            {"NS": ns, "NS1": ns + 1, "Z": z, "NF": 2 * z + 1, "B": b, "BNS1": b * (ns + 1),
             "NF2": 4 * z + 2, "GLAUBER": self.rule == "glauber"}, label=f"{system.name}/SpinFlip"))
        inner = lanes_stepper(kern, lam, (float(beta), ghosted), record_every, b)

        def advance(st, k0, k1, trace, rec_off=0):
            if not spinflip_kernel.all_spins(st.x):
                raise ValueError(f"{system.name}: configurations must be spins, every entry "
                                 "+1 or -1: pass init= arrays of +-1 (nq.Equilibrate runs "
                                 "MALA, which cannot equilibrate spins), or start at J = 0 "
                                 "where init='equilibrium' samples exactly")
            return inner(st, k0, k1, trace, rec_off)
        return advance
