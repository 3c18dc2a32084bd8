"""The second law and Landauer's bound as checks on work and heat samples."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._keywords import suggest_keywords
from ._common import as_finite, as_work, fp_local

__all__ = ["BoundCheck", "dissipation", "landauer", "shannon_entropy", "erasure_bound",
           "binary_entropy"]


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
