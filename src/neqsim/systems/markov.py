"""Markov jump processes: n discrete states with energies E_i(lam) and rates obeying local
detailed balance, driven by the controls lam.

    import neqsim as nq
    two = nq.jump.markov_states([[0.0, 0.0], [0.0, 1.0]])   # E = (0, eps), lam = (eps,)
    proto = nq.protocols.linear([0.5], [3.0], 50)
    run = nq.simulate(two, proto, nq.Gillespie(dt=0.02), n_traj=10_000, seed=1)

The state is stored as a float index 0 .. n-1 in a configuration array of dim 1, so a
jump process uses the ordinary engine, run files and analyzers.

Rates (R[i, j] is the rate of the jump j -> i, column = from-state):

    R_ij(lam) = nu_ij(lam) exp(-beta (B_ij(lam) - E_j(lam)) + beta f_ij(lam) / 2),

with symmetric prefactors nu_ij = nu_ji >= 0 (0: no edge), symmetric barriers
B_ij = B_ji and an antisymmetric non-conservative bias f_ij = -f_ji, so that local
detailed balance holds:

    R_ij / R_ji = exp(-beta (E_i - E_j) + beta f_ij).

f_ij is the work the non-conservative force does ON the system in the jump j -> i
(a driven cycle: f > 0 along the ring). Bookkeeping (docs/jump-processes.md): a control
switch at fixed state is protocol work E_x(lam_k) - E_x(lam_{k-1}); a jump j -> i adds
f_ij to the work and E_i - E_j - f_ij to the heat; first law E_N - E_0 = W + Q.

Each field (energies, barriers, prefactor, bias) is a constant array, an array of
coefficients linear in lam (a leading axis of n_controls + 1: the value at lam = 0, then
d/dlam_c), or a Python function of lam. With arrays only, the system is rebuilt from its
parameters when a run file is reopened (factory "markov_states"); with functions, pass
``system=`` to ``resume`` as for any user potential. ``rates=`` replaces nu and B by a
user function ``rates(lam, beta) -> (n, n)``, checked against local detailed balance.
"""
from __future__ import annotations

import math

import numpy as np

from ..exact.master import log_partition
from . import markov_kernel
from .system import System

__all__ = ["MarkovStates", "markov_states", "LDB_RTOL"]

#: relative tolerance of the local-detailed-balance check of user rate functions
LDB_RTOL = 1e-9


def _unused_energy_grad(x, lam, out):  # pragma: no cover - never compiled
    # a jump system's energies come from tables, never from a compiled potential
    return 0.0


class _Field:
    """One lam-dependent array field: ``value(lam)`` of shape ``base``; ``spec`` is the
    JSON form (coefficients) or None for a user function."""

    def __init__(self, name, value, base, m, *, scalar_ok):
        self.name, self.base = name, base
        if callable(value):
            self.fn, self.coeffs, self.spec = value, None, None
            return
        try:
            a = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an array or a function of lam, got "
                             f"{value!r}") from None
        if a.ndim == 0 and scalar_ok:
            a = np.full(base, float(a))
        if a.shape == base:  # constant: zero slopes, so the JSON form is always (m + 1, ...)
            a = np.concatenate([a[None], np.zeros((m,) + base)])
        elif a.shape != (m + 1,) + base:
            raise ValueError(
                f"{name} must have shape {base} (constant) or {(m + 1,) + base} (the value "
                f"at lam = 0, then d/dlam for each of the {m} control(s)), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite, got non-finite entries at "
                             f"{np.argwhere(~np.isfinite(a))[:5].tolist()} (a missing edge "
                             "is a zero prefactor, not an infinite barrier)")
        self.fn, self.coeffs, self.spec = None, a, a.tolist()

    def __call__(self, lam):
        if self.coeffs is not None:
            c = self.coeffs
            return c[0] + np.tensordot(lam, c[1:], axes=1)
        try:
            a = np.array(self.fn(np.array(lam, dtype=np.float64)), dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{self.name}(lam) at lam={list(lam)} must return a float "
                             f"array of shape {self.base}: {e}") from None
        if a.shape != self.base:
            raise ValueError(f"{self.name}(lam) must return shape {self.base}, got "
                             f"{a.shape} at lam={list(lam)}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{self.name}(lam) is not finite at lam={list(lam)} (entries "
                             f"{np.argwhere(~np.isfinite(a))[:5].tolist()}); energies, "
                             "barriers, prefactors and biases must be finite numbers")
        return a


class MarkovStates(System):
    """A :class:`neqsim.System` of ``n_states`` discrete states (configurations: the state
    index as a float, dim 1) to drive with :class:`neqsim.Gillespie`.

    ``energies(lam)`` (n,), ``rates(lam, beta)`` (n, n) with R[i, j] the rate j -> i
    (zero diagonal), ``bias(lam)`` (n, n) the non-conservative work f_ij of each jump,
    ``tables(lam_values, beta)`` all three at every protocol point, ``free_energy(lam,
    beta)`` = -kT log sum_i exp(-beta E_i(lam)); ``init="equilibrium"`` draws exactly
    from pi_lam(i) = exp(-beta E_i) / Z.
    """

    n_states = 0

    def energies(self, lam):
        """E_i(lam), shape (n_states,)."""
        return self._energy(self._lam(lam))

    def bias(self, lam):
        """f_ij(lam): work done ON the system by the non-conservative force in the jump
        j -> i, antisymmetric (n, n); zero without ``bias=``."""
        lam = self._lam(lam)
        if self._bias is None:
            return np.zeros((self.n_states, self.n_states))
        f = self._bias(lam)
        if not np.allclose(f, -f.T, rtol=0.0, atol=1e-12 * max(1.0, np.abs(f).max())):
            raise ValueError(f"{self.name}: bias f_ij must be antisymmetric (f_ij = -f_ji: the "
                             f"work of a jump and of its reverse cancel); got {f.tolist()} at "
                             f"lam={list(lam)}")
        return 0.5 * (f - f.T)

    def rates(self, lam, beta=1.0):
        """R[i, j] = rate of the jump j -> i at ``lam`` (zero diagonal)."""
        lam, beta = self._lam(lam), float(beta)
        e, f, n = self._energy(lam), self.bias(lam), self.n_states
        if self._rates is not None:
            r = _Field("rates", lambda lm: self._rates(lm, beta), (n, n), 0, scalar_ok=False)(lam)
            np.fill_diagonal(r, 0.0)
            _check_ldb(self.name, r, e, f, beta, lam)
            return r
        nu, b = self._prefactor(lam), self._barriers(lam)
        for what, a in (("prefactor", nu), ("barriers", b)):
            if not np.allclose(a, a.T, rtol=1e-12, atol=0.0):
                raise ValueError(f"{self.name}: {what} must be symmetric (nu_ij = nu_ji, "
                                 f"B_ij = B_ji: local detailed balance); got {a.tolist()} at "
                                 f"lam={list(lam)}")
        if np.any(nu < 0):
            raise ValueError(f"{self.name}: prefactors must be >= 0 (0: no edge), got "
                             f"{nu.tolist()} at lam={list(lam)}")
        with np.errstate(over="raise"):
            try:
                r = nu * np.exp(-beta * (b - e[None, :]) + 0.5 * beta * f)
            except FloatingPointError:
                raise ValueError(f"{self.name}: a rate overflows at lam={list(lam)}, beta="
                                 f"{beta}; lower the energies or raise the barriers") from None
        np.fill_diagonal(r, 0.0)
        return r

    def tables(self, lam_values, beta=1.0):
        """(E, R, F) at every row of ``lam_values`` (K, n_controls): energies (K, n),
        rates (K, n, n) with R[k, i, j] the rate j -> i, biases (K, n, n)."""
        lam_values = np.asarray(lam_values, dtype=np.float64)
        n = self.n_states
        E = np.empty((lam_values.shape[0], n))
        R = np.empty((lam_values.shape[0], n, n))
        F = np.empty((lam_values.shape[0], n, n))
        for k, lam in enumerate(lam_values):
            E[k] = self._energy(self._lam(lam))
            F[k] = self.bias(lam)
            R[k] = self.rates(lam, beta)
        return E, R, F

    def free_energy(self, lam, beta=1.0, *, quadrature=True):
        """F(lam) = -kT log sum_i exp(-beta E_i(lam))."""
        beta = float(beta)
        return float(-log_partition(self.energies(lam), beta) / beta)

    def states(self, x):
        """int64 state indices of configurations ``x`` (n, 1), or one ValueError."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        idx = x.astype(np.int64) if np.all(np.isfinite(x)) else None
        if idx is None or np.any(idx != x) or np.any(idx < 0) or np.any(idx >= self.n_states):
            bad = x[~np.isin(x, np.arange(self.n_states, dtype=np.float64))][:5]
            raise ValueError(f"{self.name}: configurations must be state indices 0 .. "
                             f"{self.n_states - 1} (as floats, shape (n, 1)); got "
                             f"{bad.tolist()}")
        return idx

    def evaluate(self, x, lam):
        """(E_x(lam), zeros): the energy of each row's state; no gradient."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        e = self._energy(self._lam(lam))
        return e[self.states(x)], np.zeros_like(x)

    def evaluator(self):
        """None: energies are looked up in tables, no potential kernel is compiled."""
        return None

    def check_compiles(self):
        """Nothing to compile (the user's functions are plain Python)."""

    def probe_configurations(self, n):
        """Fingerprint probe points: states 0, 1, ..., cycled."""
        return (np.arange(n) % self.n_states).astype(np.float64)[:, None]

    def __repr__(self):
        return (f"MarkovStates({self.name!r}, n_states={self.n_states}, "
                f"controls={self.control_names})")


def _check_ldb(name, r, e, f, beta, lam):
    n = r.shape[0]
    if np.any(r < 0):
        raise ValueError(f"{name}: rates must be >= 0, got {r.tolist()} at lam={list(lam)}")
    for i in range(n):
        for j in range(i + 1, n):
            a, b = r[i, j], r[j, i]
            if a == 0.0 and b == 0.0:
                continue
            want = -beta * (e[i] - e[j]) + beta * f[i, j]
            got = math.log(a / b) if a > 0 and b > 0 else (math.inf if a > 0 else -math.inf)
            if not abs(got - want) <= LDB_RTOL * max(1.0, abs(want)):
                raise ValueError(
                    f"{name}: rates violate local detailed balance at lam={list(lam)}: "
                    f"log(R[{i},{j}] / R[{j},{i}]) = {got:.12g} (jump {j} -> {i} over its "
                    f"reverse), but -beta (E_{i} - E_{j}) + beta f_{i}{j} = {want:.12g}; "
                    "build rates as nu_ij exp(-beta (B_ij - E_j) + beta f_ij / 2) with "
                    "symmetric nu and B (or pass barriers= and prefactor= instead)")


def markov_states(energies, *, barriers=0.0, prefactor=1.0, bias=None, rates=None,
                  n_controls=None, control_names=None, name="markov_states"):
    """A :class:`MarkovStates` system: n states, energies E_i(lam), rates with local
    detailed balance (module docstring for the equations).

    ``energies``: (n,) constant, (n_controls + 1, n) coefficients E(lam) = E^0 +
    sum_c lam_c E^c, or a function ``energies(lam) -> (n,)`` (then ``n_controls``,
    default 1). ``barriers`` B_ij (default 0: R_ij = nu exp(beta E_j)), ``prefactor``
    nu_ij (default 1 on every edge; 0 removes an edge), ``bias`` f_ij (default none):
    scalars (barriers, prefactor), (n, n) arrays, (n_controls + 1, n, n) coefficients,
    or functions of lam. ``rates``: a function ``rates(lam, beta) -> (n, n)`` (R[i, j]
    the rate j -> i) used instead of barriers and prefactor; it is checked against
    R_ij / R_ji = exp(-beta (E_i - E_j) + beta f_ij) at every protocol point.
    """
    if callable(energies):
        m = 1 if n_controls is None else int(n_controls)
        if m < 1:
            raise ValueError(f"n_controls must be >= 1, got {n_controls!r}")
        try:
            e0 = np.asarray(energies(np.zeros(m)), dtype=np.float64)
        except Exception as e:  # noqa: BLE001 - the user's function: say what failed
            raise ValueError(f"energies(lam) failed at lam = 0 ({type(e).__name__}: {e}); "
                             "it must return the (n,) state energies") from None
        if e0.ndim != 1 or e0.size < 2:
            raise ValueError(f"energies(lam) must return a 1-D array of n >= 2 state "
                             f"energies, got shape {e0.shape}")
        n = e0.size
    else:
        try:
            a = np.asarray(energies, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"energies must be an array or a function of lam, got "
                             f"{energies!r}") from None
        if a.ndim not in (1, 2) or a.shape[-1] < 2:
            raise ValueError(f"energies must have shape (n,) or (n_controls + 1, n) with "
                             f"n >= 2 states, got {a.shape}")
        n = a.shape[-1]
        m = a.shape[0] - 1 if a.ndim == 2 else (1 if n_controls is None else int(n_controls))
        if a.ndim == 2 and m < 1:
            raise ValueError(f"energies of shape {a.shape}: a 2-D array holds the value at "
                             "lam = 0 and then one row per control; pass a 1-D array for "
                             "constant energies")
        if n_controls is not None and int(n_controls) != m:
            raise ValueError(f"energies of shape {a.shape} give {m} control(s), but "
                             f"n_controls={n_controls}")
    if rates is not None and not callable(rates):
        raise ValueError("rates must be a function rates(lam, beta) -> (n, n) array")
    if rates is not None and not (np.isscalar(barriers) and barriers == 0.0 and
                                  np.isscalar(prefactor) and prefactor == 1.0):
        raise ValueError("pass either rates= or barriers=/prefactor=, not both")
    fe = _Field("energies", energies, (n,), m, scalar_ok=False)
    fb = _Field("barriers", barriers, (n, n), m, scalar_ok=True)
    fp = _Field("prefactor", prefactor, (n, n), m, scalar_ok=True)
    ff = None if bias is None else _Field("bias", bias, (n, n), m, scalar_ok=False)
    if control_names is None:
        control_names = ("lam",) if m == 1 else tuple(f"lam{c}" for c in range(m))
    serial = rates is None and all(f is None or f.spec is not None for f in (fe, fb, fp, ff))
    params = {"energies": fe.spec, "barriers": fb.spec, "prefactor": fp.spec,
              "bias": None if ff is None else ff.spec,
              "control_names": list(control_names), "name": name} if serial else \
        {"n_states": n}

    system = MarkovStates(_unused_energy_grad, 1, m, name=name, control_names=control_names,
                          params=params, factory="markov_states" if serial else None)
    system.n_states = n
    system.discrete = True
    system.driven_by = "nq.Gillespie(dt=...)"
    system._energy, system._barriers, system._prefactor = fe, fb, fp
    system._bias, system._rates = ff, rates
    system.sources = []

    def exact_sampler(lam, beta):
        e = system._energy(np.asarray(lam, dtype=np.float64))
        p = np.exp(-float(beta) * (e - e.min()))
        cdf = np.cumsum(p / p.sum())
        cdf[-1] = 1.0

        def sample(rng, first, n_traj):
            out = np.empty((n_traj, 1))
            markov_kernel.sample_states(rng, cdf, out)
            return out
        return sample

    system.exact_sampler = exact_sampler
    if serial:  # the first checks now, not at the first run
        system.rates(np.zeros(m), 1.0)
    return system
