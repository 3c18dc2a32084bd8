"""Multistate Bennett acceptance ratio (MBAR): free energies of K states from samples drawn
from some or all of them, each sample's energy evaluated in every state (Shirts and
Chodera, J. Chem. Phys. 129, 124105 (2008))."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from .._keywords import suggest_keywords
from ..dynamics.base import positive
from ._common import Estimate, _resample, check_bootstrap, fp_local, warn_unreliable

__all__ = ["MBARResult", "mbar"]

MIN_OVERLAP = 0.03   # pymbar's advice for the overlap of neighbouring states
_EPS = np.finfo(float).eps
_MAX_STEP = 20.0     # largest change of any f_k in one Newton step (a trust region)
_NEWTON_MAXITER = 500
_SC_MAXITER = 20_000
_NEGATIVE_VARIANCE = 1e-10   # as pymbar: a squared error above -this is round-off of 0
_TINY = 1e-150       # weights below contribute nothing to any sum of weights (they sum to 1)


def _flush(w):
    """``w`` with weights below 1e-150 set to 0, for products of weights: a product of
    two of them would be a subnormal number, on which matrix products run ~100x slower,
    and it changes no sum by more than 1e-150 relative."""
    return np.where(w < _TINY, 0.0, w)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class MBARResult:
    """Free energies of K states from one MBAR fit.

    ``delta_f[i, j]`` = (f_j - f_i) / beta, in energy units (dimensionless for the default
    beta = 1), and ``std_error[i, j]`` its asymptotic standard error; ``free_energies``
    (K,) = ``delta_f[0]``, relative to state 0 (``free_energies_std_error`` its error).
    ``overlap`` is the overlap matrix O = W^T W diag(n_k) (row i: the probability that a
    sample of state i is seen in state j; rows of sampled states sum to 1) and
    ``overlap_eigenvalue`` = 1 - lambda_2, its spectral gap (0: disconnected, 1: identical
    states). ``weights`` (N, K): W[n, k] = exp(f_k - u_k(x_n)) / sum_j n_j exp(f_j -
    u_j(x_n)), the normalized weight of sample n in state k (each column sums to 1).

    ``reliable`` is False, with the reasons in ``warnings``, when the solver did not
    converge, some pair of adjacent states k, k+1 has overlap max(O[k, k+1], O[k+1, k])
    below 0.03, or part of the answer is not determined by the data (those entries are
    NaN, never a plausible number). ``ci`` (K, K, 2) and ``bootstrap_std_error`` (K, K)
    come from the bootstrap (NaN without one). ``diagnostics`` (also readable as
    attributes: ``res.ess``, ``res.solver``, ...): ``iterations``, ``solver``,
    ``converged``, ``max_residual`` (of the self-consistent equations, reduced units),
    ``tol``, ``ess`` (K,) (Kish effective sample size 1 / sum_n W_nk^2 of each state),
    ``adjacent_overlap`` (K-1,), ``overlap_eigenvalues`` (descending), ``theta`` (K, K)
    (asymptotic covariance of the reduced f_k, eq. (D4)), ``groups`` (the states whose
    differences the data determine, together), ``state_group`` (K,) (-1: undetermined),
    ``bootstrap_failed``.

    ``estimate(i, j)`` gives the pair as an :class:`Estimate` (method "MBAR").
    """
    delta_f: np.ndarray
    std_error: np.ndarray
    free_energies: np.ndarray
    overlap: np.ndarray
    overlap_eigenvalue: float
    weights: np.ndarray = field(repr=False)
    n_k: tuple = ()
    beta: float = 1.0
    reliable: bool = True
    warnings: tuple = ()
    diagnostics: dict = field(default_factory=dict, repr=False)
    ci: np.ndarray = field(default=None, repr=False)
    bootstrap_std_error: np.ndarray = field(default=None, repr=False)
    confidence: float = 0.95
    method: str = "MBAR"

    @property
    def n_states(self):
        return len(self.n_k)

    @property
    def free_energies_std_error(self):
        """Standard errors of ``free_energies`` (relative to state 0)."""
        return self.std_error[0]

    def __getattr__(self, name):
        diag = self.__dict__.get("diagnostics")
        if diag is not None and name in diag:
            return diag[name]
        raise AttributeError(f"MBARResult has no attribute {name!r}")

    def _state(self, k, name):
        K = len(self.n_k)
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"{name} must be a state index (an integer), got {k!r}")
        if not -K <= k < K:
            raise IndexError(f"{name} = {k} is not a state: there are {K} (0..{K - 1})")
        return int(k) % K

    def estimate(self, i, j):
        """dF = F_j - F_i (energy units) as an :class:`Estimate` (method "MBAR", quantity
        "delta_f"). It is reliable unless the value is undetermined (NaN), the solver did
        not converge, or an adjacent pair of states between i and j has overlap below
        0.03."""
        i, j = self._state(i, "i"), self._state(j, "j")
        d = self.diagnostics
        value, se = float(self.delta_f[i, j]), float(self.std_error[i, j])
        reasons = []
        if not math.isfinite(value):
            reasons.append(_pair_undetermined(i, j, d["state_group"], d["groups"]))
        if not d["converged"]:
            reasons.append(_solver_note(d))
        lo, hi = min(i, j), max(i, j)
        adj = d["adjacent_overlap"][lo:hi]
        for k, o in enumerate(adj, lo):
            if math.isfinite(value) and o < MIN_OVERLAP:
                reasons.append(_overlap_note(k, o))
        few = [k for k in (i, j) if self.n_k[k] == 1]
        if few:
            reasons.append(_few_note(few))
        if math.isfinite(value) and not math.isfinite(se):
            reasons.append(f"the asymptotic variance of states {i} and {j} came out "
                           "negative: the covariance is not trustworthy")
        ci = tuple(float(c) for c in self.ci[i, j])
        o_ij = self.overlap[i, j], self.overlap[j, i]
        diagnostics = {"states": (i, j), "overlap": float(np.max(o_ij)),
                       "min_adjacent_overlap": float(np.min(adj)) if adj.size else 1.0,
                       "overlap_eigenvalue": self.overlap_eigenvalue,
                       "ess_i": float(d["ess"][i]), "ess_j": float(d["ess"][j])}
        for key in ("solver", "iterations", "converged", "max_residual"):
            diagnostics[key] = d[key]
        return Estimate("MBAR", value, se, ci, float(self.bootstrap_std_error[i, j]),
                        self.confidence, self.n_k, self.beta, "delta_f", not reasons,
                        tuple(reasons), diagnostics)

    def __str__(self):
        kt = "" if self.beta == 1 else f", kT = {1 / self.beta:.6g}"
        lines = [f"MBAR over {len(self.n_k)} states (free energies relative to state 0{kt}):"]
        for k, (f, e) in enumerate(zip(self.free_energies, self.free_energies_std_error)):
            lines.append(f"  state {k} (n = {self.n_k[k]}): F = {f:.6g} +- {e:.3g}")
        lines.append(f"  overlap 1 - lambda_2 = {self.overlap_eigenvalue:.3g}")
        if self.warnings:
            lines.append(("  UNRELIABLE: " if not self.reliable else "  note: ")
                         + "; ".join(self.warnings))
        return "\n".join(lines)


def _groups_text(groups):
    return " | ".join("{" + ", ".join(map(str, g)) + "}" for g in groups)


def _pair_undetermined(i, j, state_group, groups):
    bad = [k for k in (i, j) if state_group[k] < 0]
    if bad:
        return (f"the free energy of state(s) {', '.join(map(str, bad))} is not determined "
                "by the samples (see the result's warnings)")
    return (f"states {i} and {j} lie in groups of states whose samples do not overlap "
            f"({_groups_text(groups)}): the data cannot determine their difference")


def _solver_note(d):
    return (f"the solver did not converge to tol = {d['tol']:.3g} ({d['solver']}, "
            f"{d['iterations']} iterations, max residual of the self-consistent equations "
            f"{d['max_residual']:.3g})")


def _overlap_note(k, o):
    return (f"overlap {o:.3g} of adjacent states {k} and {k + 1} (max of O[{k}, {k + 1}] and "
            f"O[{k + 1}, {k}]) is below {MIN_OVERLAP:g}: the error estimate is not "
            "trustworthy")


def _few_note(states):
    return (f"state(s) {', '.join(map(str, states))} have a single sample: one sample has no "
            "spread, so the error bar says nothing")


# --------------------------------------------------------------------------- input


def _check_inputs(u_kn, n_k, beta):
    """(reduced energies (K, N), counts (K,) int, beta), or one clear error."""
    beta = positive("beta", beta)
    n = np.asarray(n_k)
    if n.ndim != 1 or n.size == 0:
        raise ValueError(f"n_k must be a 1-D array of K sample counts (one per state), got "
                         f"shape {n.shape}")
    if n.dtype.kind not in "iuf":
        raise TypeError(f"n_k must hold integer sample counts, got dtype {n.dtype}")
    nf = n.astype(np.float64)
    if not (np.all(np.isfinite(nf)) and np.all(nf >= 0) and np.all(nf == np.round(nf))):
        raise ValueError(f"n_k must hold integer sample counts >= 0, got {n.tolist()}")
    n = nf.astype(np.int64)
    K, total = n.size, int(n.sum())
    a = np.asarray(u_kn)
    if np.iscomplexobj(a):
        raise TypeError(f"u_kn is complex ({a.dtype}): energies are real numbers")
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"u_kn must be an array of numbers (energies), got "
                        f"{type(u_kn).__name__} of dtype {a.dtype}") from None
    if a.ndim != 2 or a.shape != (K, total):
        hint = ""
        if a.ndim == 2 and a.shape == (total, K):
            hint = " (it looks transposed: pass u_kn.T)"
        elif a.ndim == 2 and a.shape[0] == K:
            hint = (f": n_k sums to {total} but u_kn has {a.shape[1]} samples (columns); "
                    "n_k[k] counts the samples drawn from state k, and every sample is one "
                    "column")
        raise ValueError(f"u_kn must have shape (K, N) = ({K}, {total}): one row per state "
                         f"(K = len(n_k) = {K}) and one column per sample (N = sum(n_k) = "
                         f"{total}); got shape {a.shape}{hint}")
    if K < 2:
        raise ValueError("MBAR needs at least 2 states (u_kn has one row)")
    if total == 0:
        raise ValueError("n_k counts no samples: at least one state must be sampled")
    nan = np.isnan(a)
    if nan.any():
        k, m = np.argwhere(nan)[0]
        raise ValueError(f"u_kn contains {int(nan.sum())} NaN value(s) of {a.size} (the first "
                         f"at state {k}, sample {m}): NaN is not an energy (a failed "
                         "evaluation?); +inf is allowed (the sample is impossible in that "
                         "state)")
    if np.any(a == -np.inf):
        k, m = np.argwhere(a == -np.inf)[0]
        raise ValueError(f"u_kn contains -inf (the first at state {k}, sample {m}): an "
                         "infinite weight exp(+inf) cannot be averaged")
    u = beta * a
    overflow = np.isfinite(a) & ~np.isfinite(u)
    if overflow.any():
        raise ValueError(f"beta * u_kn overflows for {int(overflow.sum())} finite energies")
    state_of = np.repeat(np.arange(K), n)
    own = u[state_of, np.arange(total)]
    if not np.all(np.isfinite(own)):
        m = int(np.flatnonzero(~np.isfinite(own))[0])
        raise ValueError(f"sample {m}, counted by n_k as drawn from state {state_of[m]}, has "
                         "u = +inf in that state: it cannot have been drawn from it. The "
                         "columns of u_kn must be ordered by the state they were drawn from "
                         "(the first n_k[0] from state 0, the next n_k[1] from state 1, ...)")
    return u, n, beta


# --------------------------------------------------------------------------- solvers


def _log_den(u, logn, f):
    """log sum_k n_k exp(f_k - u_kn) for every sample n (u: sampled states only)."""
    return logsumexp(f[:, None] - u + logn[:, None], axis=0)


def _objective(u, n, logn, f):
    """The convex MBAR objective (minus the log likelihood, up to a constant)
    F(f) = sum_n log sum_k n_k exp(f_k - u_kn) - sum_k n_k f_k, with the log denominators
    and the scale of the terms summed (for round-off allowances)."""
    logd = _log_den(u, logn, f)
    nf = n * f
    value = math.fsum(logd) - math.fsum(nf)
    scale = float(np.abs(logd).sum() + np.abs(nf).sum())
    return value, logd, scale


def _newton(u, n, f, tol, maxiter=_NEWTON_MAXITER):
    """Newton's method on F with f_0 fixed at 0, a backtracking (Armijo) line search and
    steps capped at _MAX_STEP. Gradient g_k = n_k (sum_n W_nk - 1), Hessian
    H_kl = delta_kl n_k sum_n W_nk - n_k n_l sum_n W_nk W_nl (positive definite on f_0 = 0
    when the states are connected). Returns (f, iterations, converged)."""
    logn = np.log(n)
    f = f - f[0]
    F, logd, scale = _objective(u, n, logn, f)
    if not math.isfinite(F):
        return f, 0, False
    for it in range(1, maxiter + 1):
        w = _flush(np.exp(f[:, None] - u - logd[None, :]))
        colsum = w.sum(axis=1)
        g = n * (colsum - 1.0)
        H = np.diag(n * colsum) - np.outer(n, n) * (w @ w.T)
        try:
            d = np.linalg.solve(H[1:, 1:], -g[1:])
        except np.linalg.LinAlgError:
            return f, it, False
        if not np.all(np.isfinite(d)):
            return f, it, False
        big = float(np.abs(d).max()) if d.size else 0.0
        if big <= tol:
            return f, it, True
        if big > _MAX_STEP:
            d *= _MAX_STEP / big
            big = _MAX_STEP
        slope = float(g[1:] @ d)
        t = 1.0
        for _ in range(60):
            fn = f.copy()
            fn[1:] += t * d
            Fn, logdn, scn = _objective(u, n, logn, fn)
            if Fn <= F + 1e-4 * t * min(slope, 0.0) + 32 * _EPS * max(scale, scn):
                break
            t *= 0.5
        else:
            return f, it, False
        f, F, logd, scale = fn, Fn, logdn, scn
        if t * big <= tol:
            return f, it, True
    return f, maxiter, False


def _lbfgs(u, n, f):
    """scipy's L-BFGS-B on F (f_0 = 0): the first fallback. Returns (f, iterations)."""
    from scipy.optimize import minimize  # here: scipy.optimize is slow to import
    logn = np.log(n)

    def fun(x):
        ff = np.concatenate([[0.0], x])
        logd = _log_den(u, logn, ff)
        w = np.exp(ff[:, None] - u - logd[None, :])
        return float(logd.sum() - n @ ff), (n * (w.sum(axis=1) - 1.0))[1:]

    res = minimize(fun, (f - f[0])[1:], jac=True, method="L-BFGS-B",
                   options={"maxiter": 10_000, "ftol": 0.0, "gtol": 1e-12})
    x = res.x if np.all(np.isfinite(res.x)) else (f - f[0])[1:]
    return np.concatenate([[0.0], x]), int(res.nit)


def _sc_update(u, n, f):
    """One self-consistent update (Shirts and Chodera eq. (11)), shifted to f_0 = 0:
    f_i <- -ln sum_n exp(-u_in) / sum_k n_k exp(f_k - u_kn)."""
    fn = -logsumexp(-u - _log_den(u, np.log(n), f)[None, :], axis=1)
    return fn - fn[0]


def _self_consistent(u, n, f, tol, maxiter=_SC_MAXITER):
    """Self-consistent iteration until the max change of f is below ``tol``: the last
    fallback (linear convergence, but it cannot diverge). Returns (f, iterations,
    converged)."""
    f = f - f[0]
    for it in range(1, maxiter + 1):
        fn = _sc_update(u, n, f)
        if not np.all(np.isfinite(fn)):
            return f, it, False
        change = float(np.abs(fn - f).max())
        f = fn
        if change <= tol:
            return f, it, True
    return f, maxiter, False


def _solve(u, n, f0, tol):
    """The reduced free energies (f_0 = 0) of connected sampled states: Newton, else
    L-BFGS-B polished by Newton, else by self-consistent iteration. Returns
    (f, log denominators, info)."""
    S = n.size
    if S == 1:
        f, it, ok, solver = np.zeros(1), 0, True, "none"
    else:
        # the effective tolerance: round-off in f_k - u_kn is ~eps |f|
        tol = max(tol, 64 * _EPS * max(1.0, float(np.abs(f0 - f0[0]).max())))
        f, it, ok = _newton(u, n, f0, tol)
        solver = "newton"
        if not ok:
            f1, it1 = _lbfgs(u, n, f0)
            f, it2, ok = _newton(u, n, f1, tol)
            it += it1 + it2
            solver = "l-bfgs-b+newton"
            if not ok:
                f, it3, ok = _self_consistent(u, n, f1, tol)
                it += it3
                solver = "l-bfgs-b+self-consistent"
    logd = _log_den(u, np.log(n), f)
    residual = float(np.abs(_sc_update(u, n, f) - f).max()) if S > 1 else 0.0
    if not math.isfinite(residual):
        ok = False
    return f, logd, {"iterations": it, "solver": solver, "converged": ok,
                     "max_residual": residual}


# --------------------------------------------------------------------------- structure


def _sampled_groups(u, n, starts):
    """Groups of sampled states connected through overlapping samples. States i and j
    overlap when the energy differences u_j - u_i on the samples of i do not all exceed
    those on the samples of j (for two states: the forward works w_F = u_j - u_i and the
    negated reverse works -w_R are not disjoint, as in BAR); when they do, the likelihood
    cannot tell where between them dF lies."""
    sampled = [int(k) for k in np.flatnonzero(n)]
    parent = {k: k for k in sampled}

    def root(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a, i in enumerate(sampled):
        ci = slice(starts[i], starts[i + 1])
        for j in sampled[a + 1:]:
            cj = slice(starts[j], starts[j + 1])
            if root(i) == root(j):
                continue
            if (u[j, ci] - u[i, ci]).min() <= (u[j, cj] - u[i, cj]).max():
                parent[root(j)] = root(i)
    groups = {}
    for k in sampled:
        groups.setdefault(root(k), []).append(k)
    return [np.array(g) for g in sorted(groups.values())]


def _columns(states, starts):
    return np.concatenate([np.arange(starts[k], starts[k + 1]) for k in states])


def _initial(ug, ng, own_mean):
    """The better (lower objective) of two starting points: one self-consistent update
    from f = 0, and the mean energy of each state's own samples (pymbar's
    "mean-reduced-potential"; right where the states differ mostly by energy offsets,
    where the first is far off and Newton would need many capped steps)."""
    logn = np.log(ng)
    best = None
    for f0 in (_sc_update(ug, ng, np.zeros(ng.size)), own_mean - own_mean[0]):
        F = _objective(ug, ng, logn, f0)[0] if np.all(np.isfinite(f0)) else math.inf
        if best is None or F < best[0]:
            best = (F, f0)
    return best[1]


def _fit(u, n, starts, groups, tol, own=None, f_init=None, label=None):
    """f (K,) within each group (relative to the group's first sampled state; NaN where
    undetermined), the per-group log denominators, the state labels and solver info.
    ``own`` holds each sample's energy in its own state (for the starting point), or
    ``f_init`` a previous solution; ``label`` (from a previous fit) fixes which group each
    unsampled state belongs to."""
    K = n.size
    f = np.full(K, np.nan)
    fixed = label is not None
    label = np.array(label) if fixed else np.full(K, -1)
    cand = np.zeros((len(groups), K), dtype=bool)
    f_all = np.full((len(groups), K), np.nan)
    dens, info = [], {"iterations": 0, "solver": [], "converged": True, "max_residual": 0.0}
    for g, states in enumerate(groups):
        cols = _columns(states, starts)
        ug = u[states][:, cols]
        if f_init is None:
            f0 = _initial(ug, n[states].astype(float), np.array(
                [own[starts[k]:starts[k + 1]].mean() for k in states]))
        else:
            f0 = f_init[states] - f_init[states[0]]
        fg, logd, inf = _solve(ug, n[states], f0, tol)
        info["iterations"] += inf["iterations"]
        info["solver"].append(inf["solver"])
        info["converged"] &= inf["converged"]
        info["max_residual"] = max(info["max_residual"], inf["max_residual"])
        fk = -logsumexp(-u[:, cols] - logd[None, :], axis=1)
        fk -= fk[states[0]]
        fk[states] = fg
        f_all[g] = fk
        cand[g] = np.isfinite(fk)
        dens.append((cols, logd))
        if not fixed:
            label[states] = g
    if not fixed:
        for k in np.flatnonzero(n == 0):
            hits = np.flatnonzero(cand[:, k])
            if hits.size == 1:
                label[k] = hits[0]
    for k in range(K):
        if label[k] >= 0 and cand[label[k], k]:
            f[k] = f_all[label[k], k]
    solvers = sorted(set(info["solver"]), key=info["solver"].index)
    info["solver"] = solvers[0] if len(solvers) == 1 else "/".join(solvers)
    return f, dens, label, info


def _theta(w, n):
    """Asymptotic covariance of the reduced f_k (Shirts and Chodera eq. (D4)):
    Theta = V S (I - S V^T diag(n) V S)^+ S V^T from the thin SVD W = U S V^T of the
    (N, K) weight matrix (pseudo-inverse with rcond 1e-10, as pymbar)."""
    _, s, vt = np.linalg.svd(_flush(w), full_matrices=False)
    v = vt.T
    vs = v * s
    m = np.eye(s.size) - vs.T @ (n[:, None] * vs)
    return vs @ np.linalg.pinv(m, rcond=1e-10) @ vs.T


# --------------------------------------------------------------------------- estimator


@suggest_keywords
@fp_local
def mbar(u_kn, n_k, *, beta=1.0, n_bootstrap=0, seed=0, confidence=0.95, tol=1e-12,
         warn=True):
    """Multistate Bennett acceptance ratio: the free energies of K states from N samples
    pooled from them (Shirts and Chodera, J. Chem. Phys. 129, 124105 (2008)).

    ``u_kn`` (K, N): the energy of every sample in every state, u_kn[k, n] = u_k(x_n);
    its columns are ordered by the state each sample was drawn from (the first n_k[0]
    from state 0, then n_k[1] from state 1, ...: the estimate itself does not depend on
    the order, but the bootstrap, the disjointness test below and the check that every
    sample is possible in its own state do). ``n_k`` (K,): the number of samples drawn
    from each state
    (sum = N); n_k = 0 marks a state that is only evaluated, never sampled. Units: with
    the default ``beta = 1`` the energies are reduced (dimensionless, u_k = beta U_k) and
    so are the results; with another ``beta`` they are energies in units where kT =
    1 / beta, multiplied by beta internally, and the results are in the same energy
    units. +inf is allowed (the sample is impossible in that state: weight 0); NaN and
    -inf raise ValueError, as does +inf in the state a sample was drawn from.

    The reduced free energies f_i = -ln Z_i (f_0 = 0) solve the self-consistent equations

        f_i = -ln sum_n exp(-u_i(x_n)) / sum_k n_k exp(f_k - u_k(x_n)),

    the stationarity conditions of the convex function
    F(f) = sum_n ln sum_k n_k exp(f_k - u_k(x_n)) - sum_k n_k f_k (minus the log
    likelihood). It is minimized by Newton's method (log-sum-exp throughout, a line
    search, f_0 fixed), falling back to L-BFGS-B and self-consistent iteration; converged
    when the max change of f in a step is below ``tol`` (floored at round-off, ~64 eps
    max |f|). Unsampled states get f from the equation above at the solution.

    Errors: the asymptotic covariance Theta of the f_k (eq. (8), computed as in appendix
    D from the thin SVD of the weights W = U S V^T: Theta = V S (I - S V^T diag(n) V S)^+
    S V^T), and var(f_j - f_i) = Theta_ii + Theta_jj - 2 Theta_ij. With ``n_bootstrap`` > 0
    the samples of each sampled state are resampled with replacement (fixed ``seed``)
    for percentile intervals at level ``confidence`` and bootstrap standard errors.

    Never a confident wrong number: where groups of states have samples that do not
    overlap at all (for a pair i, j: every u_j - u_i on the samples of i exceeds every
    one on the samples of j, the BAR disjointness test), the data cannot determine the
    differences between groups; those entries are NaN and the result is unreliable, with
    the reason. So is an unsampled state with no weight on any sample, or weight from
    samples of several disconnected groups. Overlap of adjacent states k, k+1 below
    0.03 (max(O[k, k+1], O[k+1, k]) of the overlap matrix, pymbar's advice) or a
    solver that did not converge also mark the result unreliable (and emit an
    :class:`UnreliableEstimateWarning` when ``warn``).

    Returns an :class:`MBARResult` (``delta_f[i, j]`` = F_j - F_i, ``std_error``,
    ``free_energies``, ``overlap``, ``weights``, ...; ``estimate(i, j)`` for one pair).
    """
    n_bootstrap, confidence = check_bootstrap(n_bootstrap, confidence)
    tol = positive("tol", tol)
    u, n, beta = _check_inputs(u_kn, n_k, beta)
    K, N = u.shape
    kT = 1.0 / beta
    starts = np.concatenate([[0], np.cumsum(n)])
    state_of = np.repeat(np.arange(K), n)
    same = [(i, j) for i in range(K) for j in range(i + 1, K) if np.array_equal(u[i], u[j])]
    # each sample's energies relative to its own state's (finite): f is unchanged, and
    # the terms of the objective are O(1)
    own = u[state_of, np.arange(N)]
    u = u - own[None, :]

    groups = _sampled_groups(u, n, starts)
    f, dens, label, info = _fit(u, n, starts, groups, tol, own=own)
    members = [np.flatnonzero(label == g) for g in range(len(groups))]

    # weights, covariance, overlap
    weights = np.zeros((N, K))
    theta = np.full((K, K), np.nan)
    for g, (cols, logd) in enumerate(dens):
        m = members[g]
        wg = np.exp(f[m][None, :] - u[m][:, cols].T - logd[:, None])
        weights[np.ix_(cols, m)] = wg
        theta[np.ix_(m, m)] = _theta(wg, n[m].astype(float))
    undetermined = np.flatnonzero(label < 0)
    weights[:, undetermined] = np.nan
    ok = label >= 0
    same_group = (label[:, None] == label[None, :]) & ok[:, None] & ok[None, :]
    d_red = np.where(same_group, f[None, :] - f[:, None], np.nan)
    diag = np.diag(theta)
    d2 = diag[:, None] + diag[None, :] - 2.0 * theta
    negative = same_group & (d2 < -_NEGATIVE_VARIANCE)
    d2 = np.where(same_group & (d2 < 0) & ~negative, 0.0, d2)
    d2[negative] = np.nan
    for i, j in same:
        if same_group[i, j]:
            d_red[i, j] = d_red[j, i] = 0.0
            d2[i, j] = d2[j, i] = 0.0
    np.fill_diagonal(d_red, 0.0)   # F_k - F_k = 0, even where F_k is undetermined
    np.fill_diagonal(d2, 0.0)
    delta_f = d_red * kT
    std_error = np.sqrt(d2) * kT

    wt = _flush(weights[:, ok])
    o = np.full((K, K), np.nan)
    o[np.ix_(ok, ok)] = (wt.T @ wt) * n[ok][None, :]
    sq = np.sqrt(n[ok].astype(float))
    eig = np.sort(np.linalg.eigvalsh(sq[:, None] * (wt.T @ wt) * sq[None, :]))[::-1]
    overlap_eigenvalue = float(min(max(1.0 - eig[1], 0.0), 1.0)) if eig.size > 1 else 0.0
    adjacent = np.array([max(o[k, k + 1], o[k + 1, k]) if ok[k] and ok[k + 1] else np.nan
                         for k in range(K - 1)])
    ess = 1.0 / np.sum(_flush(weights)**2, axis=0)

    reasons = []
    if len(groups) > 1:
        reasons.append(f"the sampled states split into groups whose samples do not overlap "
                       f"({_groups_text([g.tolist() for g in groups])}): for i and j in "
                       "different groups every u_j - u_i on the samples of i exceeds every "
                       "one on the samples of j, so the data cannot determine their "
                       "free-energy difference (NaN)")
    for k in undetermined:
        hits = [g for g in range(len(groups)) if np.isfinite(
            logsumexp(-u[k, dens[g][0]] - dens[g][1]))]
        if not hits:
            reasons.append(f"state {k} (unsampled) has u = +inf on every sample: no sample "
                           "has weight in it, so its free energy is not determined (NaN)")
        else:
            reasons.append(f"state {k} (unsampled) is reweighted from samples of several "
                           "groups that do not overlap with each other: its free energy "
                           "is not determined (NaN)")
    diagnostics = {"iterations": info["iterations"], "solver": info["solver"],
                   "converged": bool(info["converged"]), "max_residual": info["max_residual"],
                   "tol": tol, "ess": ess, "adjacent_overlap": adjacent,
                   "overlap_eigenvalues": eig, "theta": theta,
                   "groups": tuple(tuple(int(k) for k in m) for m in members),
                   "state_group": label, "bootstrap_failed": 0}
    if not info["converged"]:
        reasons.append(_solver_note(diagnostics))
    for k, a in enumerate(adjacent):
        if math.isfinite(a) and a < MIN_OVERLAP:
            reasons.append(_overlap_note(k, a))
    few = [int(k) for k in np.flatnonzero(n == 1)]
    if few:
        reasons.append(_few_note(few))
    if negative.any():
        reasons.append(f"{int(negative.sum()) // 2} pair(s) have a negative asymptotic "
                       "variance beyond round-off: the covariance is not trustworthy (NaN)")

    ci = np.full((K, K, 2), np.nan)
    bse = np.full((K, K), np.nan)
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        reps = np.empty((n_bootstrap, K, K))
        sampled = np.flatnonzero(n)
        failed = 0
        for b in range(n_bootstrap):
            idx = np.concatenate([starts[k] + _resample(rng, n[k], 1) for k in sampled])
            fb, _, _, ib = _fit(u[:, idx], n, starts, groups, tol, f_init=f, label=label)
            if not ib["converged"]:
                fb = np.full(K, np.nan)
                failed += 1
            reps[b] = np.where(same_group, fb[None, :] - fb[:, None], np.nan) * kT
        diagnostics["bootstrap_failed"] = failed
        good = np.all(np.isfinite(reps), axis=0)
        alpha = 0.5 * (1.0 - confidence)
        q = np.quantile(reps, [alpha, 1.0 - alpha], axis=0)
        ci = np.where(good[..., None], np.moveaxis(q, 0, -1), np.nan)
        bse = np.where(good, np.std(reps, axis=0, ddof=1), np.nan)

    free_energies = delta_f[0].copy()
    arrays = [delta_f, std_error, free_energies, o, weights, ci, bse, ess, adjacent, eig,
              theta, label]
    for a in arrays:
        a.flags.writeable = False
    res = MBARResult(delta_f, std_error, free_energies, o, overlap_eigenvalue, weights,
                     tuple(int(k) for k in n), beta, not reasons, tuple(reasons),
                     diagnostics, ci, bse, confidence)
    if reasons and warn:
        warn_unreliable("MBAR", reasons)
    return res
