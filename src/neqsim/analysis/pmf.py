"""Potentials of mean force from pulling: the Hummer-Szabo estimator.

A particle in U_0(x) pulled by a spring, U(x, lam_t) = U_0(x) + u(x, t) with
u(x, t) = k_s/2 (x - lam_t)^2 (:func:`neqsim.systems.spring_pulled`), started in
equilibrium at lam_0. Jarzynski's equality applied to the joint distribution of x_t and
W_t gives <delta(x - x_t) exp(-beta W_t)> = exp(-beta (U_0(x) + u(x, t))) / Z_0 and
<exp(-beta W_t)> = Z_t / Z_0; combining the slices as in WHAM (Hummer and Szabo, PNAS 98,
3658 (2001), eq. 5),

    G_0(x) = -kT ln { sum_t <delta(x - x_t) e^{-beta W_t}> / <e^{-beta W_t}>
                      / sum_t e^{-beta u(x, t)} / <e^{-beta W_t}> },

up to a constant. Averages are over trajectories at each recorded step, delta(x - x_t) is
a histogram bin; the profile is reported relative to its most populated bin, with bootstrap
errors over trajectories. The unweighted histogram of all x_t, -kT ln p(x), is returned
beside it: far from equilibrium it is visibly wrong, which is why the weights matter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from .._keywords import suggest_keywords
from ._common import check_bootstrap, fp_local, open_source

__all__ = ["hummer_szabo", "PMF"]


@dataclass(frozen=True)
class PMF:
    """G_0 on bins: ``centers``, ``edges``, ``value`` and ``std_error`` (energy units,
    relative to the bin ``reference``; NaN where fewer than ``min_count`` samples fell),
    ``counts`` (samples per bin over all trajectories and slices), ``naive`` (-kT ln of the
    unweighted histogram, relative to the same bin), ``reliable`` per bin, ``method``."""
    method: str
    centers: np.ndarray
    edges: np.ndarray
    value: np.ndarray
    std_error: np.ndarray
    counts: np.ndarray
    naive: np.ndarray
    reference: int
    reliable: np.ndarray
    beta: float
    diagnostics: dict = field(default_factory=dict)

    def plot(self, ax=None, exact=None):
        from .plots import plot_pmf
        return plot_pmf(self, ax=ax, exact=exact)


def _spring(run, k_s):
    if k_s is not None:
        return float(k_s)
    s = run.system
    if s is not None and s.params.get("k_s") is not None and s.name == "spring_pulled":
        return float(s.params["k_s"])
    raise ValueError("hummer_szabo needs the spring constant: pass k_s= (it is read from "
                     "the run's system when that is nq.systems.spring_pulled)")


def _log_g(x, lw, lam, beta, ks, edges):
    """beta G_0 per bin (unnormalized) from positions x (n, R), reduced works lw = -beta W
    (n, R) and spring positions lam (R,)."""
    n, n_rec = x.shape
    nb = edges.size - 1
    width = np.diff(edges)
    centers = 0.5 * (edges[1:] + edges[:-1])
    idx = np.digitize(x, edges) - 1
    inside = (idx >= 0) & (idx < nb)
    log_avg_w = logsumexp(lw, axis=0) - math.log(n)            # ln <e^{-beta W_t}>
    num = np.full(nb, -np.inf)
    for r in range(n_rec):
        ok = inside[:, r]
        if not ok.any():
            continue
        # ln sum_i 1(x_i in b) e^{-beta W_i} / n / width, per bin
        m = lw[ok, r].max()
        s = np.bincount(idx[ok, r], weights=np.exp(lw[ok, r] - m), minlength=nb)
        with np.errstate(divide="ignore"):
            term = m + np.log(s) - math.log(n) - np.log(width) - log_avg_w[r]
        num = np.logaddexp(num, term)
    den = logsumexp(-beta * 0.5 * ks * (centers[:, None] - lam[None, :]) ** 2
                    - log_avg_w[None, :], axis=1)
    return -(num - den)


@suggest_keywords
@fp_local
def hummer_szabo(run, reverse=None, *, k_s=None, bins=40, x_range=None, min_count=100,
                 n_bootstrap=100, seed=0):
    """The PMF G_0(x) from a pulling run (module docstring). ``run``: a Run or run file
    recorded with ``record_every`` and ``record_positions=True``, control 0 the spring's
    position; ``k_s``: the spring constant (default: from the system). ``bins``: a count
    or edges over ``x_range`` (default: the range of the recorded positions). Bins with
    fewer than ``min_count`` samples are NaN. ``reverse``: the reverse pulls (the exact
    time reversal, :func:`neqsim.protocols.crooks_pair`): every path of both directions
    then enters every slice with its Minh-Adib weight (:mod:`.profile`), the
    bidirectional estimator of Minh and Adib (PRL 100, 180602 (2008)). Returns a
    :class:`PMF`.
    """
    n_bootstrap, _ = check_bootstrap(n_bootstrap, 0.95)
    run = open_source(run)
    tr = run.trace
    if tr is None or "x" not in tr:
        raise ValueError("hummer_szabo needs recorded positions: simulate with "
                         "record_every > 0 and record_positions=True")
    if run.n_failed:
        raise ValueError(f"hummer_szabo: the run has {run.n_failed} failed trajectories")
    ks, beta = _spring(run, k_s), run.beta
    x = np.asarray(tr["x"], dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != 1:
        raise ValueError("hummer_szabo: positions must be one-dimensional")
    x = x[:, :, 0]
    lam = np.asarray(tr["lam"], dtype=np.float64)[:, 0]
    if reverse is None:
        lw = -beta * np.asarray(tr["work"], dtype=np.float64)

        def weights(i):
            return lw[i]
        n_split = None
    else:
        from .profile import both_directions, path_log_weights
        rev = open_source(reverse)
        pt, ptau, nf, nr, xs = both_directions(run, rev, positions=True)
        x = xs[:, :, 0]
        lw = path_log_weights(pt, ptau, nf, nr)[0]

        def weights(i):  # a bootstrap resample solves its own BAR for the path weights
            return path_log_weights(pt[i], ptau[i], nf, nr)[0]
        n_split = nf
    if np.isscalar(bins):
        lo, hi = (float(x.min()), float(x.max())) if x_range is None else x_range
        edges = np.linspace(lo, hi, int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
    counts = np.histogram(x, edges)[0]
    good = counts >= min_count
    if not good.any():
        raise ValueError(f"hummer_szabo: no bin holds {min_count} samples; record more "
                         "trajectories or use fewer bins")
    ref = int(np.argmax(counts))
    g = _log_g(x, lw, lam, beta, ks, edges)
    value = np.where(good, (g - g[ref]) / beta, np.nan)
    se = np.full(value.shape, np.nan)
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        reps = np.empty((n_bootstrap, value.size))
        n = x.shape[0]
        for b in range(n_bootstrap):
            i = rng.integers(0, n, n) if n_split is None else np.concatenate(
                [rng.integers(0, n_split, n_split), n_split + rng.integers(0, n - n_split,
                                                                           n - n_split)])
            gb = _log_g(x[i], weights(i), lam, beta, ks, edges)
            reps[b] = (gb - gb[ref]) / beta
        with np.errstate(invalid="ignore"):
            se = np.where(good, np.nanstd(reps, axis=0, ddof=1), np.nan)
    with np.errstate(divide="ignore"):
        naive = -np.log(counts / counts.sum() / np.diff(edges)) / beta
    naive = np.where(good, naive - naive[ref], np.nan)
    reliable = good & np.isfinite(se)
    method = "Hummer-Szabo" if reverse is None else "Minh-Adib (bidirectional)"
    return PMF(method, 0.5 * (edges[1:] + edges[:-1]), edges, value, se, counts,
               naive, ref, reliable, beta, {"k_s": ks, "n_traj": x.shape[0],
                                            "n_slices": x.shape[1]})
