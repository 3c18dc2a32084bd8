"""Free-energy profiles along a protocol: dF(lam_t) at every recorded step of a run.

A run recorded with ``record_every`` holds each trajectory's cumulative work W_t at the
recorded steps, and Jarzynski's equality holds at every intermediate time:
<exp(-beta W_t)>_F = exp(-beta [F(lam_t) - F(lam_0)]) (the forward process up to t is a
process of its own, started in equilibrium). :func:`profile` evaluates it at every slice.

With the reverse process (the exact time reversal, :func:`neqsim.protocols.crooks_pair`),
every path of either direction is used at every slice by the bidirectional path-ensemble
estimator (Minh and Adib, PRL 100, 180602 (2008); Minh and Chodera, JCP 131, 134110
(2009)): with w_n(t) the work from lam_0 to lam_t along path n (a reverse trajectory
read backwards has w_n(t) = -(W_R - W_R(lam_N -> lam_t)) and w_n(tau) = -W_R),

    exp(-beta dF(t)) = sum_n exp(-beta w_n(t)) / (n_F + n_R exp(-beta (w_n(tau) - dF))),

the sum over all n_F + n_R paths and dF = dF(tau) from BAR; at t = tau it is BAR's
equation. It is MBAR over the path ensemble (states "slice t" with reduced energies
beta w_n(t), samples from slice 0 and from the end), so :func:`neqsim.analysis.mbar` gives
its asymptotic errors too (``path_mbar=True``: ``diagnostics["std_error_asymptotic"]``). The reported errors
are bootstrap standard deviations (trajectories resampled within each direction; seeded).

The works are the protocol work W that traces record: exact for Metropolized kernels
(MALA, GHMC, SpinFlip) at any time step, and up to the integrator's O(dt) error otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from .._keywords import suggest_keywords
from ._common import check_bootstrap, fp_local, open_source
from .bar import bar_reduced
from .exp import MIN_ESS, jarzynski

__all__ = ["profile", "Profile"]


@dataclass(frozen=True)
class Profile:
    """dF(lam_t) = F(lam_t) - F(lam_0) at the recorded steps: ``time``, ``step``, ``lam``
    (n_rec, n_controls), ``value`` and ``std_error`` (energy units), ``reliable`` per slice,
    ``exact`` (when the system knows F, else None), ``method``, ``warnings`` (a summary),
    ``diagnostics`` (per-slice ``ess`` and the total ``delta_f``)."""
    method: str
    time: np.ndarray
    step: np.ndarray
    lam: np.ndarray
    value: np.ndarray
    std_error: np.ndarray
    reliable: np.ndarray
    exact: np.ndarray | None
    beta: float
    warnings: tuple = ()
    diagnostics: dict = field(default_factory=dict)

    @property
    def delta_f(self):
        return self.value

    def z_scores(self):
        """(value - exact) / std_error per slice (NaN where either is unknown or 0)."""
        if self.exact is None:
            raise ValueError("the system knows no exact F: pass exact= to profile()")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.std_error > 0, (self.value - self.exact) / self.std_error,
                            np.nan)

    def plot(self, ax=None, x="time"):
        """The profile with its error band (only where reliable) and the exact curve."""
        from .plots import plot_profile
        return plot_profile(self, ax=ax, x=x)


def _trace_works(run, name):
    tr = run.trace
    if tr is None:
        raise ValueError(f"profile: the {name} run has no traces; simulate it with "
                         "record_every > 0 (every slice of the profile is a recorded step)")
    return np.asarray(tr["work"], dtype=np.float64), np.asarray(tr["lam"]), \
        np.asarray(tr["step"]), np.asarray(tr["time"])


def _exact(run, lam):
    s = run.system
    if s is None:
        return None
    try:
        f = [s.free_energy(row, run.beta) for row in lam]
    except (TypeError, ValueError):
        return None
    if any(v is None for v in f):
        return None
    return np.array(f) - f[0]


def both_directions(fwd, rev, positions=False):
    """Every path of a forward/reverse pair as a forward-type path at the forward run's
    recorded slices: (beta w_n(t) (n_F + n_R, n_rec), beta w_n(tau), n_F, n_R, x_n(t) or
    None). A reverse trajectory read backwards has w_n(t) = -(W_R - W_R(lam_N -> lam_t))."""
    if rev.n_failed:
        raise ValueError(f"the reverse run has {rev.n_failed} failed trajectories")
    beta = fwd.beta
    wf_t, lam, _, _ = _trace_works(fwd, "forward")
    wr_t, lam_r, _, _ = _trace_works(rev, "reverse")
    # the end of the reverse path (lam_0) need not be a recorded step: its work is the total
    wr_t = np.concatenate([wr_t, np.asarray(rev.work, dtype=np.float64)[:, None]], axis=1)
    lam_r = np.concatenate([lam_r, rev.protocol.values[-1][None, :]])
    # the reverse record at each forward slice's controls (exact reversal: the same values)
    index = {}
    for i, row in enumerate(lam_r):
        index.setdefault(row.tobytes(), i)
    match = np.array([index.get(row.tobytes(), -1) for row in lam])
    if np.any(match < 0):
        raise ValueError("profile: the reverse run's recorded controls do not include every "
                         "forward slice's; run the pair from nq.protocols.crooks_pair with "
                         "a record_every that divides n_steps + 2 (crooks_pair adds one step to each "
                         "direction)")
    wf_tot = beta * np.asarray(fwd.work, dtype=np.float64)
    wr_tot = beta * np.asarray(rev.work, dtype=np.float64)
    paths_t = np.concatenate([beta * wf_t, -(wr_tot[:, None] - beta * wr_t[:, match])])
    paths_tau = np.concatenate([wf_tot, -wr_tot])
    xs = None
    if positions:
        xf = np.asarray(fwd.trace["x"], dtype=np.float64)
        xr = np.concatenate([np.asarray(rev.trace["x"], dtype=np.float64),
                             np.asarray(rev.x, dtype=np.float64)[:, None, :]], axis=1)
        xs = np.concatenate([xf, xr[:, match]])
    return paths_t, paths_tau, wf_tot.size, wr_tot.size, xs


def path_log_weights(paths_t, paths_tau, n_f, n_r):
    """Minh-Adib log weights -beta w_n(t) - ln(n_F + n_R e^{-(beta w_n(tau) - beta dF)})
    of every path at every slice, and beta dF from BAR."""
    df = bar_reduced(paths_tau[:n_f], -paths_tau[n_f:])
    log_den = np.logaddexp(math.log(n_f), math.log(n_r) - (paths_tau - df))
    return -paths_t - log_den[:, None], df


@suggest_keywords
@fp_local
def profile(forward, reverse=None, *, exact=None, n_bootstrap=200, seed=0, min_ess=MIN_ESS,
            path_mbar=False):
    """The free-energy profile dF(lam_t) from the traces of a forward run (Jarzynski per
    slice) or of a forward and reverse pair (the bidirectional path-ensemble estimator):
    see the module docstring. ``forward``/``reverse``: Runs or run files recorded with
    ``record_every``; ``exact``: F(lam_t) - F(lam_0) per slice to compare with (default:
    the system's free energy where known). ``path_mbar=True`` (bidirectional only) also
    solves the same estimator as MBAR over the slices for its asymptotic errors: an
    (n_rec + 1) x (n_F + n_R) problem, so it is off by default. Returns a :class:`Profile`.
    """
    n_bootstrap, _ = check_bootstrap(n_bootstrap, 0.95)
    fwd = open_source(forward)
    if fwd.n_failed:
        raise ValueError(f"profile: the forward run has {fwd.n_failed} failed trajectories")
    wf_t, lam, step, time = _trace_works(fwd, "forward")
    beta = fwd.beta
    ex = _exact(fwd, lam) if exact is None else np.asarray(exact, dtype=np.float64)
    if ex is not None and ex.shape != (lam.shape[0],):
        raise ValueError(f"exact must have one value per recorded step ({lam.shape[0]}), "
                         f"got shape {ex.shape}")
    n_rec = lam.shape[0]
    if reverse is None:
        vals, ses, rel, ess = (np.zeros(n_rec) for _ in range(4))
        for r in range(n_rec):
            e = jarzynski(wf_t[:, r], beta, n_bootstrap=0, min_ess=min_ess, warn=False)
            vals[r], ses[r], rel[r], ess[r] = e.value, e.std_error, e.reliable, e.ess
        rel = rel.astype(bool)
        n_bad = int(np.count_nonzero(~rel))
        warn = (f"{n_bad} of {n_rec} slices unreliable (EXP's diagnostics)",) if n_bad \
            else ()
        return Profile("Jarzynski per slice", time, step, lam, vals, ses, rel, ex, beta, warn,
                       {"ess": ess, "delta_f": float(vals[-1])})
    rev = open_source(reverse)
    paths_t, paths_tau, nf, nr, _ = both_directions(fwd, rev)

    def estimate(pt, ptau, n_f, n_r):
        lw, df = path_log_weights(pt, ptau, n_f, n_r)
        return -logsumexp(lw, axis=0), lw, df
    red, lw, df = estimate(paths_t, paths_tau, nf, nr)
    ess = np.exp(2 * logsumexp(lw, axis=0) - logsumexp(2 * lw, axis=0))
    # the same estimator is MBAR over the path ensemble (Minh and Chodera 2009): states
    # "slice t" with reduced energies beta w_n(t), samples from slice 0 (forward paths)
    # and from the end (reverse paths); MBAR's covariance gives the asymptotic errors
    extra = {}
    if path_mbar:
        from .mbar import mbar
        u_kn = np.vstack([paths_t.T, paths_tau[None, :]])
        n_k = np.zeros(u_kn.shape[0], dtype=np.int64)
        n_k[0], n_k[-1] = nf, nr
        pm = mbar(u_kn, n_k, warn=False)
        extra = {"path_mbar": pm, "std_error_asymptotic": pm.std_error[0, :-1] / beta}
    ses = np.full(n_rec, np.nan)
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        reps = np.empty((n_bootstrap, n_rec))
        for b in range(n_bootstrap):
            idx = np.concatenate([rng.integers(0, nf, nf), nf + rng.integers(0, nr, nr)])
            reps[b] = estimate(paths_t[idx], paths_tau[idx], nf, nr)[0]
        ses = reps.std(axis=0, ddof=1) / beta
    rel = ess >= min_ess
    if not n_bootstrap:
        rel[:] = False
    n_bad = int(np.count_nonzero(~rel))
    warn = ()
    if n_bad:
        warn = (f"{n_bad} of {n_rec} slices unreliable (effective sample size of the "
                f"path weights below {min_ess:g}" + ("" if n_bootstrap else
                                                     ", or no bootstrap error") + ")",)
    return Profile("bidirectional path ensemble (Minh-Adib)", time, step, lam, red / beta,
                   ses, rel, ex, beta, warn,
                   {"ess": ess, "delta_f": float(df / beta), **extra})
