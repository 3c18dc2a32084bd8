"""Integrators: the Markov kernel T_k applied after each control switch.

Every integrator targets pi_{lam_k}(x) ~ exp(-beta U(x, lam_k)) (with Maxwell-Boltzmann
momenta for the underdamped ones) and reports, per trajectory (PHYSICS.md):

* ``work`` W = sum_k [U(x_{k-1}, lam_k) - U(x_{k-1}, lam_{k-1})]  (switches);
* ``heat`` Q: energy taken from the bath (configuration-only kernels: the change of U
  in the kernel step; splittings: the kinetic-energy change in O sub-steps);
* ``shadow_work`` (splittings): energy change in the deterministic V/R sub-steps;
* ``path_work`` W_path with beta W_path = -log(q_R / p_F) + beta dF, so that
  <exp(-beta W_path)> = exp(-beta dF) holds exactly at any time step.

Which estimators are exact at finite dt:

=================  ===============================  =====================================
integrator          path_work                        exact with plain W?
=================  ===============================  =====================================
EulerMaruyama       W + Q + kT sum log[T(x'|x)/T(x|x')]   no (O(dt) bias); W_path is exact
MALA                W (detailed balance)             yes
Langevin            W + W_shadow (Sivak et al 2013)  no; W + W_shadow is exact
GHMC                W (+ shadow outside {} blocks)   yes
VelocityVerlet      W + W_shadow (= total dE)        no; W + W_shadow is exact
=================  ===============================  =====================================

``gamma`` is a friction coefficient (mass / time) everywhere: overdamped
``dx = -(1/gamma) grad U dt + sqrt(2 kT / gamma) dB``; underdamped
``m dv = -grad U dt - gamma v dt + sqrt(2 gamma kT) dB`` (O step:
``v <- a v + sqrt((1 - a^2) kT / m) xi``, ``a = exp(-gamma h / m)``).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Integrator", "EulerMaruyama", "MALA", "Langevin", "GHMC", "VelocityVerlet",
           "parse_splitting"]

OP_V, OP_R, OP_O, OP_OPEN, OP_CLOSE = 0, 1, 2, 3, 4
_OPS = {"V": OP_V, "R": OP_R, "O": OP_O, "{": OP_OPEN, "}": OP_CLOSE}


def _positive(name, value):
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


class Integrator:
    """Base class of every Markov kernel ``simulate`` can drive.

    Subclasses register themselves by class name (``Integrator.registry``), which is how
    a run file names its integrator and rebuilds it from ``params()``."""
    kind = ""
    name = ""
    registry = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Integrator.registry[cls.spec_name()] = cls

    @classmethod
    def spec_name(cls):
        """How run files name the class: "MALA" here, "kernels.MALA" elsewhere."""
        module = cls.__module__.rsplit(".", 1)[-1]
        return cls.__name__ if module == "integrators" else f"{module}.{cls.__name__}"

    # state arrays the integrator's kernel carries besides x, u, rng and the sums
    has_velocities = False

    def params(self):
        """Parameters as a plain dict (stored in run metadata)."""
        return {}

    def proposals_per_step(self):
        """Metropolis tests per step (for acceptance rates); 0 if none."""
        return 0

    def stepper(self, system, lam, beta, record_every, specialize=False):
        """A function ``advance(state, k0, k1, rec_W, rec_Q, rec_x)`` that runs the
        compiled kernel over steps k0+1..k1 in place on the state dict (x, u, rng, W, Q,
        S, P, nacc, failed, and v where ``has_velocities``). Kernels are pure; the
        driver does everything else between calls."""
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.params() == other.params()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.params().items()))))


class EulerMaruyama(Integrator):
    """Overdamped Euler-Maruyama: x' = x - (dt/gamma) grad U(x, lam_k) + sqrt(2 dt/(beta gamma)) xi.

    Not in detailed balance: ``work`` carries an O(dt) bias; ``path_work`` adds
    Q + kT sum log[T(x_k|x_{k-1}) / T(x_{k-1}|x_k)] from the Gaussian transition
    densities and makes Jarzynski exact at any dt.
    """
    kind = "overdamped"
    name = "euler_maruyama"
    metropolized = False

    def __init__(self, dt, gamma=1.0):
        self.dt = _positive("dt", dt)
        self.gamma = _positive("gamma", gamma)

    def params(self):
        return {"dt": self.dt, "gamma": self.gamma}

    def proposals_per_step(self):
        return 1 if self.metropolized else 0

    def stepper(self, system, lam, beta, record_every, specialize=False):
        from . import _kernels
        kern = _kernels.kernel("overdamped", specialize, system.dim)
        fn, metro, dt, gamma = system.kernel_function, bool(self.metropolized), self.dt, \
            self.gamma

        def advance(st, k0, k1, rW, rQ, rx):
            kern(fn, lam, k0, k1, metro, beta, dt, gamma, st["x"], st["u"], st["rng"],
                 st["W"], st["Q"], st["P"], st["nacc"], st["failed"], record_every, 0,
                 rW, rQ, rx)
        return advance


class MALA(EulerMaruyama):
    """Metropolis-adjusted Langevin: the Euler-Maruyama move as a proposal, accepted with
    min(1, pi(y) T(x|y) / (pi(x) T(y|x))). Detailed balance makes W exact for any dt."""
    name = "mala"
    metropolized = True


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
    name = "langevin"
    has_velocities = True

    def __init__(self, dt, gamma=1.0, mass=1.0, splitting="V R O R V"):
        self.dt = _positive("dt", dt)
        g = float(gamma)
        if not (math.isfinite(g) and g >= 0):
            raise ValueError(f"gamma must be a finite number >= 0, got {gamma!r}")
        self.gamma = g
        self.mass = _positive("mass", mass)
        self.ops, self.fractions = parse_splitting(splitting)
        self.splitting = " ".join(splitting.upper().split()) if " " in splitting else " ".join(
            c for c in splitting.upper())
        self.has_bath = bool(np.any(self.ops == OP_O))

    def params(self):
        return {"dt": self.dt, "gamma": self.gamma, "mass": self.mass,
                "splitting": self.splitting}

    def proposals_per_step(self):
        return int(np.count_nonzero(self.ops == OP_OPEN))

    def stepper(self, system, lam, beta, record_every, specialize=False):
        from . import _kernels
        kern = _kernels.kernel("splitting", specialize, system.dim, self.ops)
        fn, ops, mass = system.kernel_function, self.ops, self.mass
        c1, c2 = self.coefficients(beta)

        def advance(st, k0, k1, rW, rQ, rx):
            kern(fn, lam, k0, k1, ops, c1, c2, beta, mass, st["x"], st["v"], st["u"],
                 st["rng"], st["W"], st["Q"], st["S"], st["P"], st["nacc"], st["failed"],
                 record_every, 0, rW, rQ, rx)
        return advance

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
    name = "ghmc"

    def __init__(self, dt, gamma=1.0, mass=1.0):
        super().__init__(dt, gamma, mass, splitting="O { V R V } O")

    def params(self):
        return {"dt": self.dt, "gamma": self.gamma, "mass": self.mass}


class VelocityVerlet(Langevin):
    """Hamiltonian dynamics, no bath ("V R V"): Q = 0 by construction, and
    W + W_shadow is the total energy change, exact in Crooks and Jarzynski."""
    name = "velocity_verlet"

    def __init__(self, dt, mass=1.0):
        super().__init__(dt, 0.0, mass, splitting="V R V")

    def params(self):
        return {"dt": self.dt, "mass": self.mass}
