"""Underdamped integrators by splitting: Langevin (any palindromic V/R/O string), GHMC and
velocity Verlet, with heat in O sub-steps and shadow work in V/R sub-steps.

``gamma`` is a friction coefficient (mass / time):
``m dv = -grad U dt - gamma v dt + sqrt(2 gamma kT) dB`` (O step:
``v <- a v + sqrt((1 - a^2) kT / m) xi``, ``a = exp(-gamma h / m)``). W + W_shadow is
the exact path-ratio work of every palindromic splitting (Sivak, Chodera and Crooks,
PRX 2013); inside Metropolized ``{ }`` blocks the accept/reject makes the move exact.
"""
from __future__ import annotations

import math

import numpy as np

from .._numba.specialize import KernelSpec, specialized_kernel
from . import splitting_kernel
from .base import Integrator, lanes_stepper, positive
from .splitting_kernel import OP_CLOSE, OP_O, OP_OPEN, OP_R, OP_V

__all__ = ["Langevin", "GHMC", "VelocityVerlet", "parse_splitting"]

_OPS = {"V": OP_V, "R": OP_R, "O": OP_O, "{": OP_OPEN, "}": OP_CLOSE}


def parse_splitting(splitting):
    """Parse 'V R O R V' style strings into (ops, fractions of dt).

    V: v += h F / m; R: x += h v; O: Ornstein-Uhlenbeck velocity update; { and }: a
    Metropolized block (accept/reject on its total energy change, momentum flip on
    rejection). Each letter's h is dt divided by how often the letter occurs. The string
    must read the same backwards: a palindromic kernel is what makes
    W + W_shadow the exact path-ratio work. The control switch is never inside: it comes
    before the kernel, at the step boundary.
    """
    if not isinstance(splitting, str):
        raise TypeError("splitting must be a string such as 'V R O R V'")
    tokens = [c for c in splitting.upper() if not c.isspace()]
    bad = sorted({c for c in tokens if c not in _OPS})
    if bad:
        hint = " (the control switch H is always applied at the step boundary)" if "H" in bad else ""
        raise ValueError(f"splitting {splitting!r}: unknown sub-step(s) {bad}; use V, R, O, "
                         f"{{ and }}{hint}")
    if tokens.count("V") == 0 or tokens.count("R") == 0:
        raise ValueError(f"splitting {splitting!r} needs at least one V and one R")
    depth = 0
    for c in tokens:
        depth += (c == "{") - (c == "}")
        if depth < 0 or depth > 1:
            raise ValueError(f"splitting {splitting!r}: braces must be balanced and not nested")
        if depth and c == "O":
            # accepting on the energy change is exact only for a deterministic,
            # volume-preserving block; an O inside would make it a biased kernel
            raise ValueError(f"splitting {splitting!r}: O cannot be inside a Metropolized "
                             "{ } block (only V and R are deterministic)")
    if depth:
        raise ValueError(f"splitting {splitting!r}: unbalanced braces")
    mirror = [{"{": "}", "}": "{"}.get(c, c) for c in reversed(tokens)]
    if mirror != tokens:
        raise ValueError(f"splitting {splitting!r} is not palindromic; the path-ratio work "
                         "W + W_shadow is exact only for symmetric splittings")
    counts = {c: tokens.count(c) for c in "VRO"}
    ops = np.array([_OPS[c] for c in tokens], dtype=np.int64)
    frac = np.array([1.0 / counts[c] if c in counts else 0.0 for c in tokens])
    return ops, frac


class Langevin(Integrator):
    """Underdamped Langevin by a splitting string (openmmtools' letters V R O).

    BAOAB is "V R O R V" (the default; configurational sampling exact for harmonic
    wells), OBABO/VVVR is "O V R V O". Heat is the kinetic-energy change in O sub-steps,
    shadow work the energy change in V/R sub-steps; W + W_shadow is exact.
    """
    kind = "underdamped"
    file_name = "Langevin"
    has_velocities = True

    def __init__(self, dt, gamma=1.0, mass=1.0, splitting="V R O R V"):
        self.dt = positive("dt", dt)
        try:  # gamma = 0 is allowed (no bath: VelocityVerlet), so not ``positive``
            g = math.nan if isinstance(gamma, (bool, complex)) else float(gamma)
        except (TypeError, ValueError):
            g = math.nan
        if not (math.isfinite(g) and g >= 0):
            raise ValueError(f"gamma must be a finite number >= 0, got {gamma!r}")
        self.gamma = g
        self.mass = positive("mass", mass)
        self.ops, self.fractions = parse_splitting(splitting)
        self.splitting = " ".join(splitting.upper().split()) if " " in splitting else " ".join(
            c for c in splitting.upper())
        self.has_bath = bool(np.any(self.ops == OP_O))
        self.metropolized = bool(np.any(self.ops == OP_OPEN))

    def params(self):
        return {"dt": self.dt, "gamma": self.gamma, "mass": self.mass,
                "splitting": self.splitting}

    def proposals_per_step(self):
        return int(np.count_nonzero(self.ops == OP_OPEN))

    def kernel(self, system, lanes=None):
        """The compiled kernel for this splitting and ``system`` (generated for the
        sub-step sequence, potential inlined, cached on disk)."""
        d, m = system.dim, system.n_controls
        b = lanes or splitting_kernel.lanes_for(d)
        source, n_o = splitting_kernel.kernel_source(self.ops)
        return specialized_kernel(KernelSpec(
            splitting_kernel.splitting_kernel,
            {"D": d, "M": m, "B": b, "DB": d * b, "NZ": n_o * d, "NZB": n_o * d * b},
            potentials={"potential": system.potential}, source=source,
            name="splitting_kernel", label=f"{system.name}/{type(self).__name__}")), b

    def stepper(self, system, lam, beta, record_every, specialize=None, lanes=None):
        kern, b = self.kernel(system, lanes)
        c1, c2 = self.coefficients(beta)
        return lanes_stepper(kern, lam, (c1, c2, float(beta), self.mass), record_every, b)

    def cuda_kernel(self, system, *, fma=False):
        """The CUDA kernel for this splitting and ``system`` (generated for the sub-step
        sequence, the potential's device copy), compiled on first launch."""
        from .._numba.gpu import cuda_kernel
        from . import splitting_cuda
        source, n_o = splitting_cuda.cuda_kernel_source(self.ops)
        d = system.dim
        return cuda_kernel(splitting_cuda.splitting_cuda_kernel,
                           {"D": d, "M": system.n_controls, "NZ": n_o * d,
                            "potential": system.potential},
                           source=source, name="splitting_cuda_kernel", fma=fma,
                           label=f"{system.name}/{type(self).__name__}/cuda")

    def cuda_stepper(self, system, lam, beta, record_every, *, fma=False, threads=None):
        from .device import UNDERDAMPED_FIELDS, cuda_stepper
        c1, c2 = self.coefficients(beta)
        return cuda_stepper(self.cuda_kernel(system, fma=fma), lam,
                            (c1, c2, float(beta), self.mass), record_every,
                            UNDERDAMPED_FIELDS, threads=threads)

    def coefficients(self, beta):
        """Per sub-step constants: V: h/m; R: h; O: (a, sqrt((1 - a^2) kT / m))."""
        c1 = np.zeros(len(self.ops))
        c2 = np.zeros(len(self.ops))
        for j, (op, f) in enumerate(zip(self.ops, self.fractions)):
            h = f * self.dt
            if op == OP_V:
                c1[j] = h / self.mass
            elif op == OP_R:
                c1[j] = h
            elif op == OP_O:
                a = math.exp(-self.gamma * h / self.mass)
                c1[j] = a
                # 1 - a^2 via expm1 stays accurate when gamma h / m is tiny
                c2[j] = math.sqrt(-math.expm1(-2.0 * self.gamma * h / self.mass)
                                  / (beta * self.mass))
        return c1, c2


class GHMC(Langevin):
    """Generalized hybrid Monte Carlo: "O { V R V } O", the velocity-Verlet block
    accepted on its energy change (momentum flip on rejection). Exact for any dt; the
    control switch is outside the accept/reject block."""
    file_name = "GHMC"

    def __init__(self, dt, gamma=1.0, mass=1.0):
        super().__init__(dt, gamma, mass, splitting="O { V R V } O")

    def params(self):
        return {"dt": self.dt, "gamma": self.gamma, "mass": self.mass}


class VelocityVerlet(Langevin):
    """Hamiltonian dynamics, no bath ("V R V"): Q = 0 by construction, and
    W + W_shadow is the total energy change, exact in Crooks and Jarzynski."""
    file_name = "VelocityVerlet"

    def __init__(self, dt, mass=1.0):
        super().__init__(dt, 0.0, mass, splitting="V R V")

    def params(self):
        return {"dt": self.dt, "mass": self.mass}
