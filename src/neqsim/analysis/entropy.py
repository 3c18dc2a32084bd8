"""Entropy production with arbitrary start and end densities, from samples.

For the forward process of docs/physics.md started from ANY density p_0 (not only
pi_{lam_0}) and ending in whatever density p_N the protocol leaves behind, the total
entropy production (system plus bath, in units of k) is

    dSigma = -beta <Q> + S(p_N) - S(p_0) >= 0,       S(p) = -int p ln p  (nats),

and with the non-equilibrium free energy F_neq(p, lam) = <U>_p - kT S(p)
= F(lam) + kT KL(p || pi_lam), the first law <W> = <U_N> - <U_0> - <Q> turns it into

    beta <W> - beta [F_neq(p_N, lam_N) - F_neq(p_0, lam_0)] = dSigma >= 0,

the second law for non-equilibrium end points (Esposito & Van den Broeck, EPL 95, 40004
(2011)): work beyond the change of the non-equilibrium free energy is dissipated; a
start in equilibrium has F_neq(p_0, lam_0) = F(lam_0).

Entropies of the simulated densities are estimated from the positions: the
Kozachenko-Leonenko k-nearest-neighbour estimator

    S_hat = psi(n) - psi(k) + log V_d + (d / n) sum_i log eps_i,

eps_i the distance from x_i to its k-th nearest neighbour, V_d the volume of the unit
d-ball (consistent; bias O(n^{-1}) for smooth densities in d = 1 and a few 1e-3 nats in
d = 2 at n = 1e4). Its standard error is the spread of the per-point terms d log eps_i
over sqrt(n), times 1.1: the terms of neighbouring points are correlated, and the factor
calibrates the error bar (seeded replicates in tests/test_entropy_production.py put the
z-scores' spread at 0.95-1.05 with it). Every term's error is propagated per trajectory
(the terms share the samples), so the error of dSigma is the spread of one combined
per-trajectory quantity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._keywords import suggest_keywords
from .dissipation import BoundCheck

__all__ = ["EntropyTerm", "EntropyProduction", "knn_entropy", "kl_to_equilibrium",
           "entropy_production"]

SE_FACTOR = 1.1


@dataclass(frozen=True)
class EntropyTerm:
    """One term of the decomposition: ``value`` +- ``std_error`` (nats, or energy for
    free energies); ``exact`` when it came from a known density or closed form."""
    name: str
    value: float
    std_error: float
    exact: bool = False

    def __str__(self):
        err = "exact" if self.exact else f"+- {self.std_error:.3g}"
        return f"{self.name:<34s} {self.value:>12.6g} {err}"


def _positions(x, name):
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 10:
        raise ValueError(f"{name}: need an (n, dim) array of at least 10 samples, got shape "
                         f"{np.shape(x)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: samples contain NaN or inf (failed trajectories?): drop "
                         "them first")
    return a


def _knn_terms(x, k):
    """(constant, per-point terms t_i = d log eps_i): S_hat = constant + mean(t)."""
    from scipy.spatial import cKDTree
    from scipy.special import digamma, gammaln
    n, d = x.shape
    if int(k) != k or not 1 <= k < n:
        raise ValueError(f"k must be an integer in [1, n), got {k!r}")
    k = int(k)
    if d > 3:
        raise ValueError(f"the k-nearest-neighbour entropy is offered up to d = 3 (got "
                         f"d = {d}): its bias grows quickly with the dimension")
    dist, _ = cKDTree(x).query(x, k=k + 1)
    eps = dist[:, k]
    if np.any(eps <= 0):
        raise ValueError("samples contain duplicate points (a k-th neighbour at distance "
                         "0): the density has atoms (rejected moves from a shared start, "
                         "a bootstrap resample?); a continuous density is needed")
    log_vd = 0.5 * d * math.log(math.pi) - gammaln(0.5 * d + 1.0)
    return float(digamma(n) - digamma(k) + log_vd), d * np.log(eps)


def knn_entropy(samples, *, k=3):
    """Differential entropy S(p) = -int p ln p (nats) of the density the ``samples``
    ((n, d) array, d <= 3) were drawn from, by the Kozachenko-Leonenko estimator (module
    doc). Returns an :class:`EntropyTerm`."""
    x = _positions(samples, "knn_entropy")
    c, t = _knn_terms(x, k)
    return EntropyTerm("S(p)", c + float(t.mean()),
                       SE_FACTOR * float(t.std(ddof=1)) / math.sqrt(t.size))


def kl_to_equilibrium(samples, system, lam, beta=1.0, *, k=3):
    """KL(p || pi_lam) = -S(p) + beta <U(x, lam)>_p - beta F(lam) >= 0 from samples of p
    (kNN entropy; F from ``system.free_energy``). Returns an :class:`EntropyTerm`."""
    x = _positions(samples, "kl_to_equilibrium")
    lam = np.ascontiguousarray(np.atleast_1d(np.asarray(lam, dtype=np.float64)))
    f = _free_energy(system, lam, beta)
    c, t = _knn_terms(x, k)
    u = np.asarray(system.energy(x, lam), dtype=np.float64).reshape(-1)
    per = beta * u - t
    return EntropyTerm("KL(p || pi)", float(per.mean()) - c - beta * f,
                       SE_FACTOR * float(per.std(ddof=1)) / math.sqrt(per.size))


def _free_energy(system, lam, beta):
    fe = getattr(system, "free_energy", None)
    f = fe(lam, beta) if fe is not None else None
    if f is None or not math.isfinite(float(f)):
        raise ValueError(f"{getattr(system, 'name', system)!r} has no free energy at "
                         f"lam={np.asarray(lam).tolist()}: KL(p || pi) needs F(lam)")
    return float(f)


@dataclass(frozen=True, eq=False)
class EntropyProduction:
    """The decomposition of :func:`entropy_production` (nats unless noted).

    heat_term : -beta <Q>, the entropy released to the bath.
    s_start, s_end : S(p_0), S(p_N).
    entropy_production : dSigma = -beta <Q> + S(p_N) - S(p_0), with ``second_law`` its
        check dSigma >= 0.
    kl_start, kl_end : KL(p_0 || pi_{lam_0}), KL(p_N || pi_{lam_N}).
    work_term : beta (<W> - dF).
    neq_free_energy_change : F_neq(p_N, lam_N) - F_neq(p_0, lam_0) in energy units.
    identity_residual : beta <W> - beta dF_neq - dSigma (zero by the first law, up to
        round-off: the terms are consistent).
    n : trajectories used; start : how S(p_0) was obtained.
    """
    heat_term: EntropyTerm
    s_start: EntropyTerm
    s_end: EntropyTerm
    entropy_production: EntropyTerm
    kl_start: EntropyTerm
    kl_end: EntropyTerm
    work_term: EntropyTerm
    neq_free_energy_change: EntropyTerm
    identity_residual: float
    beta: float
    n: int
    start: str
    second_law: BoundCheck = field(repr=False)

    def table(self):
        rows = [self.heat_term, self.s_start, self.s_end, self.entropy_production,
                self.kl_start, self.kl_end, self.work_term, self.neq_free_energy_change]
        lines = [f"entropy production over {self.n} trajectories (S(p_0): {self.start})"]
        lines += [str(r) for r in rows]
        lines.append(f"beta<W> - beta dF_neq - dSigma = {self.identity_residual:.2e} "
                     "(first law)")
        lines.append(str(self.second_law))
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def _start_terms(start, x0, u0, system, lam0, beta, k):
    """Per-trajectory terms s_i with S(p_0) = c + mean(s), and (c, exact, label)."""
    from ..engine.initial import StartDensity
    if isinstance(start, StartDensity) and start.entropy is not None:
        return np.zeros(x0.shape[0]), float(start.entropy), True, "exact (StartDensity.entropy)"
    if isinstance(start, StartDensity) and start.log_density is not None:
        lp = np.asarray(start.log_density(x0), dtype=np.float64).reshape(-1)
        if lp.shape[0] != x0.shape[0] or not np.all(np.isfinite(lp)):
            raise ValueError("StartDensity.log_density must return one finite value per "
                             "initial position")
        return -lp, 0.0, False, "-<log p_0(x_0)> (known density)"
    if start == "equilibrium":
        # S(pi) = beta (<U> - F): exact density, the mean over the sample
        f0 = _free_energy(system, lam0, beta)
        return beta * u0, -beta * f0, False, "beta(<U_0> - F_0) (equilibrium start)"
    if start is None or start == "knn":
        c, t = _knn_terms(x0, k)
        return t, c, False, f"k-nearest neighbours (k={k})"
    raise ValueError("start must be 'equilibrium', 'knn', None, or a nq.StartDensity")


@suggest_keywords
def entropy_production(run, *, start=None, k=3, n_sigma=4.0):
    """The entropy production of a run and its decomposition (module doc), from the
    initial and final positions and the per-trajectory work and heat.

    run : a :class:`neqsim.Run` (or run file) of a configuration-space kernel (overdamped
        or Monte Carlo: heat is the potential-energy change of the kernel steps); the
        system needs ``free_energy`` for the KL and work terms.
    start : how S(p_0) is known. None: from the run's own record (equilibrium starts use
        S = beta(<U_0> - F_0); other starts the kNN estimator); "equilibrium"; "knn"; or the
        :class:`neqsim.StartDensity` the run was started from (its ``entropy`` if given,
        else -<log p_0(x_0)>).
    k : neighbours of the kNN estimator.
    """
    from ..storage.result import Run
    from ..storage.runfile import open_run
    if not isinstance(run, Run):
        run = open_run(run)
    if run.v0 is not None:
        raise ValueError("entropy_production needs configuration-space dynamics (overdamped "
                         "or Monte Carlo): with velocities the entropies are over phase "
                         "space and the heat includes kinetic energy; not supported")
    beta = float(run.beta)
    ok = ~np.asarray(run.failed, dtype=bool)
    x0 = _positions(np.asarray(run.x0)[ok], "initial positions")
    xn = _positions(np.asarray(run.x)[ok], "final positions")
    w = np.asarray(run.work, dtype=np.float64)[ok]
    q = np.asarray(run.heat, dtype=np.float64)[ok]
    u0 = np.asarray(run.initial_energy, dtype=np.float64)[ok]
    un = np.asarray(run.final_energy, dtype=np.float64)[ok]
    lam = run.protocol.values
    lam0, lamn = np.ascontiguousarray(lam[0]), np.ascontiguousarray(lam[-1])
    if start is None:
        kind = (run.init or {}).get("kind", "equilibrium") if isinstance(run.init, dict) \
            else "equilibrium"
        start = "equilibrium" if kind in ("equilibrium", "equilibrate") else "knn"
    s0_terms, s0_c, s0_exact, label = _start_terms(start, x0, u0, run.system, lam0, beta, k)
    cn, tn = _knn_terms(xn, k)
    f0 = _free_energy(run.system, lam0, beta)
    fn = _free_energy(run.system, lamn, beta)
    n = w.size

    def term(name, per, const=0.0, inflate=True, exact=False):
        per = np.asarray(per, dtype=np.float64)
        se = float(per.std(ddof=1)) / math.sqrt(n) * (SE_FACTOR if inflate else 1.0)
        return EntropyTerm(name, const + float(per.mean()), 0.0 if exact else se, exact)

    knn0 = start == "knn"
    heat = term("-beta <Q>", -beta * q, inflate=False)
    s0 = term("S(p_0)", s0_terms, s0_c, inflate=knn0, exact=s0_exact)
    sn = term("S(p_N)", tn, cn)
    sigma = term("dSigma = -beta<Q> + S_N - S_0", -beta * q + tn - s0_terms, cn - s0_c)
    kl0 = term("KL(p_0 || pi_0)", beta * u0 - s0_terms, -beta * f0 - s0_c, inflate=knn0,
               exact=False)
    kln = term("KL(p_N || pi_N)", beta * un - tn, -beta * fn - cn)
    work = term("beta (<W> - dF)", beta * w, -beta * (fn - f0), inflate=False)
    dfneq = term("dF_neq (energy)", (un - tn / beta) - (u0 - s0_terms / beta),
                 -(cn - s0_c) / beta)
    resid = beta * (float(w.mean()) - dfneq.value) - sigma.value
    check = BoundCheck("second law dSigma", sigma.value, sigma.std_error, 0.0,
                       float(n_sigma), note="-beta<Q> + S(p_N) - S(p_0) >= 0")
    return EntropyProduction(heat, s0, sn, sigma, kl0, kln, work, dfneq, float(resid),
                             beta, int(n), label, check)
