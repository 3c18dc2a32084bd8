"""The second law and Landauer's bound as checks on work and heat samples."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._keywords import suggest_keywords
from ._common import as_finite, as_work, fp_local

__all__ = ["BoundCheck", "dissipation", "landauer", "shannon_entropy", "erasure_bound",
           "binary_entropy", "local_free_energies", "memory_free_energy", "memory_bound"]


@dataclass(frozen=True)
class BoundCheck:
    """``value`` +- ``std_error`` checked against ``bound``: ``holds`` unless the value is
    below the bound by more than ``n_sigma`` standard errors (``margin``: (value - bound)
    in standard errors). ``ci``, ``reliable``, ``warnings``, ``diagnostics`` as for every
    result."""
    name: str
    value: float
    std_error: float
    bound: float
    n_sigma: float
    note: str = ""

    @property
    def margin(self):
        return (self.value - self.bound) / self.std_error if self.std_error > 0 else \
            math.copysign(math.inf, self.value - self.bound)

    @property
    def holds(self):
        return self.value >= self.bound - self.n_sigma * self.std_error

    # the vocabulary of every result (as Estimate)
    @property
    def ci(self):
        return (math.nan, math.nan)

    @property
    def warnings(self):
        return () if math.isfinite(self.std_error) else ("no standard error",)

    @property
    def reliable(self):
        return not self.warnings

    @property
    def diagnostics(self):
        return {"bound": self.bound, "margin": self.margin, "holds": self.holds,
                "n_sigma": self.n_sigma}

    def __str__(self):
        return (f"{self.name}: {self.value:.6g} +- {self.std_error:.3g} >= {self.bound:.6g}"
                f" ({'holds' if self.holds else 'VIOLATED'}, margin {self.margin:.1f} sigma)")


@suggest_keywords
@fp_local
def dissipation(work, delta_f, beta=None, *, n_sigma=4.0):
    """Second law: <W> - dF >= 0, checked on a sample of works done on the system.

    beta (<W> - dF) is the relative entropy D(P_F || P_R) between the forward path
    measure and the time-reversed reverse one (Kawai, Parrondo & Van den Broeck, PRL 98,
    080602 (2007)): dissipation measures how distinguishable the arrow of time is. The
    result's ``value`` is W_diss = <W> - dF (energy units) with its standard error;
    ``kl = beta W_diss`` is in the note.
    """
    w, beta = as_work(work, beta)
    if not np.all(np.isfinite(w)):
        raise ValueError("dissipation: work contains +inf")
    # a NaN or infinite dF would make the check fail (or pass) whatever the work
    delta_f = as_finite("delta_f", delta_f)
    n_sigma = _n_sigma(n_sigma)
    value = float(np.mean(w) - delta_f)
    se = float(np.std(w, ddof=1) / math.sqrt(w.size)) if w.size > 1 else math.inf
    return BoundCheck("second law <W> - dF", value, se, 0.0, n_sigma,
                      note=f"D(P_F||P_R) = beta W_diss = {beta * value:.4g} nats")


def _n_sigma(n_sigma):
    v = as_finite("n_sigma", n_sigma)
    if v < 0:
        raise ValueError(f"n_sigma must be a number of standard errors >= 0, got {n_sigma!r}")
    return v


def shannon_entropy(p):
    """S(p) = -sum p ln p in nats (0 ln 0 = 0)."""
    p = np.asarray(p, dtype=np.float64)
    if np.any(p < 0) or not math.isclose(float(p.sum()), 1.0, abs_tol=1e-9):
        raise ValueError(f"probabilities must be >= 0 and sum to 1, got {p}")
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())


def binary_entropy(p):
    """H(p) = -p ln p - (1 - p) ln(1 - p), nats."""
    return shannon_entropy([p, 1.0 - p])


def erasure_bound(success, beta=1.0):
    """Minimum mean heat released, -<Q> >= kT (ln 2 - H(p)), to erase one bit (two
    equally likely states) into a chosen state with success probability p: the
    generalized Landauer bound for symmetric wells; kT ln 2 at p = 1, 0 at p = 1/2."""
    return (math.log(2.0) - binary_entropy(success)) / float(beta)


@suggest_keywords
@fp_local
def landauer(heat, p_initial, p_final, beta=None, *, n_sigma=4.0):
    """Generalized Landauer bound: heat released to the bath, -<Q> (Q absorbed BY the
    system), is at least kT [S(p_0) - S(p_N)], S the Shannon entropy (nats) of the
    coarse-grained memory states at the start and end (valid when the states have
    equal local free energies, e.g. the symmetric wells of a double-well bit). For
    erasure of a uniform bit with success probability p the bound is kT (ln 2 - H(p))
    (:func:`erasure_bound`). ``heat`` may be an array or a Run (``run.heat``)."""
    from ..storage.result import Run
    if isinstance(heat, Run):
        if beta is None:
            beta = heat.beta
        heat = heat.heat
    q, beta = as_work(heat, beta, name="heat", what="per-trajectory heats")
    if not np.all(np.isfinite(q)):
        raise ValueError("landauer: heat contains +inf")
    n_sigma = _n_sigma(n_sigma)
    bound = (shannon_entropy(p_initial) - shannon_entropy(p_final)) / beta
    se = float(np.std(q, ddof=1) / math.sqrt(q.size)) if q.size > 1 else math.inf
    return BoundCheck("Landauer -<Q>", float(-np.mean(q)), se, bound, n_sigma,
                      note=f"kT [S(p0) - S(pN)] = {bound:.4g}")


def local_free_energies(system, lam, boundaries, beta=1.0):
    """Local free energies F_m = -kT ln int_{b_{m-1}}^{b_m} exp(-beta U(x, lam)) dx of the
    memory states of a 1-D system, the states being the intervals between ``boundaries``
    (sorted; the outer states extend to -inf and +inf): len(boundaries) + 1 values, by
    quadrature on the grid of :func:`neqsim.exact.grid_density` (relative error < 1e-8).
    Their Boltzmann weights exp(-beta F_m) sum to exp(-beta F(lam))."""
    from ..exact.quadrature import grid_density
    b = np.sort(np.atleast_1d(np.asarray(boundaries, dtype=np.float64)))
    if b.size < 1 or not np.all(np.isfinite(b)):
        raise ValueError(f"boundaries must be finite points between memory states, got "
                         f"{boundaries!r}")
    beta = as_finite("beta", beta)
    grid, logp, logz = grid_density(system, lam, beta)
    p = np.exp(logp)
    # cumulative trapezoid integral, interpolated at the boundaries
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(grid))])
    at = np.interp(b, grid, cum)
    edges = np.concatenate([[0.0], at, [cum[-1]]])
    mass = np.diff(edges)
    shift = logz - math.log(cum[-1])          # log of the unnormalized Z per unit of cum
    with np.errstate(divide="ignore"):
        return -(np.log(mass) + shift) / beta


def memory_free_energy(p, local_free_energies, beta=1.0):
    """Non-equilibrium free energy of a memory whose states m hold probability p_m, each in
    local equilibrium: F_neq = sum_m p_m F_m + kT sum_m p_m ln p_m (= F(lam) when p_m is
    the equilibrium exp(-beta (F_m - F)))."""
    p = np.asarray(p, dtype=np.float64)
    f = np.asarray(local_free_energies, dtype=np.float64)
    if p.shape != f.shape:
        raise ValueError(f"p has {p.shape} states, local_free_energies {f.shape}")
    shannon_entropy(p)                            # validates p
    use = p > 0
    return float(np.sum(p[use] * f[use]) + np.sum(p[use] * np.log(p[use])) / float(beta))


@suggest_keywords
@fp_local
def memory_bound(work, final_states, f_initial, f_final, p_initial=None, beta=None, *,
                 n_sigma=4.0):
    """Generalized Landauer bound for a memory of any number of states with unequal local
    free energies (asymmetric wells) and any final probabilities (partial erasure):

        <W> >= F_neq(p_N) - F_neq(p_0),   F_neq(p) = sum_m p_m F_m + kT sum_m p_m ln p_m,

    the second law with non-equilibrium end points (:mod:`neqsim.analysis.entropy`) with
    the states in local equilibrium at both ends; the equality is reached only by a
    quasi-static protocol. For two symmetric wells, a start at p_0 = (1/2, 1/2) and a
    cycle it is kT (ln 2 - H(p_N)) (:func:`erasure_bound`).

    work : per-trajectory works (array or Run). final_states : each trajectory's memory
    state at the end (integers 0..M-1, e.g. ``np.digitize(run.x[:, 0], boundaries)``).
    f_initial, f_final : local free energies F_m at lam_0 and lam_N
    (:func:`local_free_energies`). p_initial : start probabilities (default the
    equilibrium ones, exp(-beta (F_m - F))).

    Returns a :class:`BoundCheck` of <W> against F_neq(p_N) - F_neq(p_0), p_N estimated
    from ``final_states``; its error propagates both (the bound moves with p_N: per
    trajectory, w_i - g_{m_i} with g_m = F_m + kT (1 + ln p_m) is the linearization).
    """
    from ..storage.result import Run
    if isinstance(work, Run):
        if beta is None:
            beta = work.beta
        work = work.work
    w, beta = as_work(work, beta)
    s = np.asarray(final_states)
    f0 = np.asarray(f_initial, dtype=np.float64)
    f1 = np.asarray(f_final, dtype=np.float64)
    m = f1.size
    if f0.shape != (m,) or m < 2 or not (np.all(np.isfinite(f0)) and np.all(np.isfinite(f1))):
        raise ValueError("f_initial and f_final must be finite local free energies of the "
                         "same M >= 2 memory states")
    if s.shape != w.shape or not np.issubdtype(s.dtype, np.integer) or \
            s.min() < 0 or s.max() >= m:
        raise ValueError(f"final_states must be one integer state in 0..{m - 1} per "
                         "trajectory")
    if p_initial is None:
        e = np.exp(-beta * (f0 - f0.min()))
        p0 = e / e.sum()
    else:
        p0 = np.asarray(p_initial, dtype=np.float64)
        if p0.shape != (m,):
            raise ValueError(f"p_initial must have {m} probabilities")
    pn = np.bincount(s, minlength=m) / s.size
    bound = memory_free_energy(pn, f1, beta) - memory_free_energy(p0, f0, beta)
    with np.errstate(divide="ignore"):
        g = f1 + (1.0 + np.log(pn)) / beta
    per = w - g[s]
    se = float(np.std(per, ddof=1) / math.sqrt(w.size)) if w.size > 1 else math.inf
    return BoundCheck("memory <W>", float(np.mean(w)), se, float(bound), _n_sigma(n_sigma),
                      note=f"F_neq(p_N) - F_neq(p_0) = {bound:.4g}; p_N = "
                      + ", ".join(f"{v:.4g}" for v in pn))
