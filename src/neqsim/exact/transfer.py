"""Exact work statistics of a 1-D overdamped protocol, on a grid (transfer operators).

For a one-dimensional system U(x, lam) driven through lam_0 .. lam_N the way neqsim's
integrators drive it (docs/physics.md: at step k the control switches lam_{k-1} -> lam_k at
fixed x, work increment dU = U(x, lam_k) - U(x, lam_{k-1}), then one Markov kernel under
lam_k), the joint law of (x, W) is propagated on a grid instead of sampled:

* moment fields m0 = p(x), m1 = E[W 1(x)], m2 = E[W^2 1(x)]: at a switch
  m2 += 2 dU m1 + dU^2 m0, m1 += dU m0 (on the old values), and each evolves under the same
  linear kernel, so <W> = sum m1 and <W^2> = sum m2 exactly (up to the grid);
* tilted densities g_s (the moment generating function): at a switch g_s *= exp(-s dU),
  then the kernel; G(s) = log <exp(-s W)> = log sum g_s. G(beta) against -beta dF is the
  Jarzynski check.

Two kernels:

:func:`work_statistics_continuous` -- the exact overdamped dynamics
dx = -(1/gamma) grad U dt + sqrt(2 kT / gamma) dB for a time dt under each lam_k (the
protocol's lam is piecewise constant, as the integrators see it). Fokker-Planck by finite
volumes with Scharfetter-Gummel fluxes (conservative, and exp(-beta U) at the cell centres is
exactly stationary, so the scheme satisfies detailed balance on the grid and Jarzynski holds
to round-off), Crank-Nicolson in time with substeps. Second order in the cell size h and the
substep tau; the default refinement runs (n/2 cells, m substeps) and (n cells, 2m substeps),
whose leading errors differ by exactly a factor 4, and reports the Richardson extrapolation
with |fine - coarse| / 3 as the error estimate.

:func:`work_statistics_discrete` -- neqsim's own integrator at its finite dt:
Euler-Maruyama x' = x - (dt/gamma) grad U(x, lam_k) + sqrt(2 dt / (beta gamma)) xi
(src/neqsim/dynamics/overdamped_kernel.py), or MALA (that move as a proposal with the
Metropolis-Hastings acceptance). The Gaussian transition density is applied as a Nystrom
(midpoint-rule) operator on the grid, which for smooth potentials converges faster than any
power of h; ``kernel="cell"`` instead integrates the Gaussian over each destination cell
(rows sum to one up to the mass leaving the grid; second order in h). The result is the
simulation's expectation at that dt, time-step bias included.

Pure NumPy/SciPy; the system and protocol are duck-typed (``system.energy(x, lam)``,
``system.gradient(x, lam)``, ``system.free_energy(lam, beta)``, ``protocol.values``), so
this module sits in :mod:`neqsim.exact` below the systems and dynamics layers.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import lapack
from scipy.special import exprel, ndtr

__all__ = ["WorkStatistics", "work_statistics_continuous", "work_statistics_discrete",
           "transfer_grid"]

TAIL = 30.0          # beta (U - U_min) at the automatic grid's edges, for every lam
CONTINUOUS_CELLS = 2000
DISCRETE_CELLS = 1200
_SCAN = 2001         # points of the coarse scan that finds the support


@dataclass(frozen=True, eq=False)
class WorkStatistics:
    """Exact (grid) statistics of the protocol work W.

    mean_work, var_work : <W> and Var W.
    mean_path_work : <W_path>, the mean path-ratio work (docs/physics.md): W itself for
        the continuous process and MALA (detailed balance), and for Euler-Maruyama
        <U(x_N, lam_N) - U(x_0, lam_0)> + kT sum_k <log[T(x_k|x_{k-1}) / T(x_{k-1}|x_k)]>
        with the Gaussian transition densities (what ``run.path_work`` averages to).
    dissipated_work : <W> - dF (property).
    path_kl : KL(P_F || P_R) between the forward and the time-reversed path measures,
        beta (<W_path> - dF) >= 0 (property; the second law as a divergence, exact at
        any dt; the protocol work's beta (<W> - dF) equals it only when W = W_path).
    log_mgf : {s: G(s) = log <exp(-s W)>} for the requested s, and always s = beta.
    delta_f : F(lam_N) - F(lam_0) from ``system.free_energy`` (quadrature or closed form).
    delta_f_grid : the same from the grid's own Boltzmann sums.
    jarzynski_residual : G(beta) + beta delta_f (zero when Jarzynski holds; for
        Euler-Maruyama it is the time-step bias of exp(-beta W)).
    mean_work_error, var_work_error, log_mgf_error, jarzynski_error : refinement
        estimates of the discretization error (NaN without refinement): continuous mode
        |fine - coarse| / 3 (the fine run's Richardson error estimate; the extrapolated
        value reported is usually far better), discrete mode |fine - coarse|.
    coarse, fine : {"mean_work", "var_work", "log_mgf"} of each refinement level.
    mode : "continuous", "EulerMaruyama" or "MALA"; kernel : "fokker-planck", "nystrom",
        "cell".
    grid : (lo, hi, n_cells) of the fine grid; grid_spacing its h.
    x, density : cell centres and the final probability mass per cell (fine grid).
    mass_error : |sum(density) - 1| at the end (conservation; for the discrete kernels
        it includes the mass that left the grid).
    lost_mass : discrete kernels: probability that a move (a proposal, for MALA) left
        the grid, summed over steps; continuous: 0 (zero-flux walls).
    edge_mass : the largest probability held by the outermost 1% of cells at any step
        (a grid that is too narrow shows here).
    n_steps, dt, gamma, beta, substeps : the problem (substeps: Crank-Nicolson substeps
        per protocol step of the fine run; 1 for discrete modes).
    extrapolated : whether values are Richardson extrapolations.
    seconds : wall time.
    """
    mean_work: float
    var_work: float
    log_mgf: dict
    delta_f: float
    mean_path_work: float
    mean_path_work_error: float
    delta_f_grid: float
    jarzynski_residual: float
    mean_work_error: float
    var_work_error: float
    log_mgf_error: dict
    jarzynski_error: float
    mode: str
    kernel: str
    grid: tuple
    grid_spacing: float
    n_steps: int
    dt: float
    gamma: float
    beta: float
    substeps: int
    extrapolated: bool
    mass_error: float
    lost_mass: float
    edge_mass: float
    x: np.ndarray = field(repr=False)
    density: np.ndarray = field(repr=False)
    coarse: dict = field(default=None, repr=False)
    fine: dict = field(default=None, repr=False)
    seconds: float = 0.0

    @property
    def dissipated_work(self):
        return self.mean_work - self.delta_f

    @property
    def path_kl(self):
        return self.beta * (self.mean_path_work - self.delta_f)


# ---------------------------------------------------------------- inputs and the grid

def _lams(protocol):
    v = getattr(protocol, "values", protocol)
    v = np.array(v, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] < 2:
        raise ValueError("protocol must be a Protocol or an (N+1, n_controls) array, N >= 1")
    if not np.all(np.isfinite(v)):
        raise ValueError("protocol has non-finite control values")
    return v


def _check_system(system, lams):
    if getattr(system, "dim", 1) != 1:
        raise ValueError("exact transfer-operator work statistics need a one-dimensional "
                         f"system, got dim={system.dim}")
    m = getattr(system, "n_controls", lams.shape[1])
    if lams.shape[1] != m:
        raise ValueError(f"protocol has {lams.shape[1]} controls, the system {m}")


def _energy(system, x, lam):
    u = np.asarray(system.energy(x, np.ascontiguousarray(lam)), dtype=np.float64).reshape(-1)
    if np.any(np.isnan(u)):
        raise ValueError(f"energy is NaN on the grid at lam={np.asarray(lam).tolist()}")
    return u


def _scan_lams(lams, most=257):
    """Distinct control vectors to scan (all of them, or an even subsample with the ends)."""
    _, first = np.unique(lams, axis=0, return_index=True)
    uniq = lams[np.sort(first)]
    if uniq.shape[0] > most:
        idx = np.unique(np.linspace(0, uniq.shape[0] - 1, most).round().astype(int))
        uniq = uniq[idx]
    return uniq


def _scan(system, lams, beta, tail):
    """Coarse scan: (xs, beta U on xs for each scanned lam) with every edge above tail."""
    sel = _scan_lams(lams)
    lo, hi = -1.0, 1.0
    for _ in range(64):
        xs = np.linspace(lo, hi, _SCAN)
        bu = np.stack([beta * _energy(system, xs, lam) for lam in sel])
        m = bu.min(axis=1)
        if not np.all(np.isfinite(m)):
            raise ValueError("energy is not bounded below on the scanned range")
        rel = bu - m[:, None]
        left_ok = bool(np.all(rel[:, 0] > tail))
        right_ok = bool(np.all(rel[:, -1] > tail))
        if left_ok and right_ok:
            return xs, bu, rel
        span = hi - lo
        lo = lo if left_ok else lo - span
        hi = hi if right_ok else hi + span
    raise ValueError("exp(-beta U) does not decay within the scanned range; the "
                     "equilibrium density is not normalizable")


def transfer_grid(system, protocol, *, beta=1.0, tail=TAIL, pad=0.0):
    """(lo, hi): the interval outside which beta (U(x, lam) - min U(., lam)) exceeds
    ``tail`` for every lam of the protocol, widened by ``pad`` on each side."""
    lams = _lams(protocol)
    _check_system(system, lams)
    xs, _, rel = _scan(system, lams, float(beta), float(tail))
    keep = np.nonzero(np.any(rel <= tail, axis=0))[0]
    a = xs[max(keep[0] - 1, 0)]
    b = xs[min(keep[-1] + 1, xs.size - 1)]
    return float(a - pad), float(b + pad)


def _max_curvature(system, lams, beta, lo, hi, tail=20.0):
    """Largest |U''| where some equilibrium density of the protocol is non-negligible
    (beta (U - min) <= tail): the fastest physical relaxation rate is about it / gamma."""
    sel = _scan_lams(lams, most=65)
    xs = np.linspace(lo, hi, _SCAN)
    h = xs[1] - xs[0]
    best = 0.0
    for lam in sel:
        u = _energy(system, xs, lam)
        rel = beta * (u - u.min())
        c = np.abs(np.diff(u, 2)) / (h * h)
        mask = rel[1:-1] <= tail
        if np.any(mask):
            best = max(best, float(c[mask].max()))
    return best


def _parse_grid(grid, n_default, auto):
    if grid is None:
        lo, hi = auto()
        return lo, hi, int(n_default)
    g = tuple(grid)
    if len(g) == 2:
        lo, hi, n = float(g[0]), float(g[1]), int(n_default)
    elif len(g) == 3:
        lo, hi, n = float(g[0]), float(g[1]), int(g[2])
    else:
        raise ValueError("grid must be (lo, hi) or (lo, hi, n_cells)")
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"grid must have finite lo < hi, got ({lo}, {hi})")
    return lo, hi, n


def _s_values(s, beta):
    s_list = [float(v) for v in np.atleast_1d(np.asarray(s if s is not None else (),
                                                         dtype=np.float64))]
    if not all(math.isfinite(v) for v in s_list):
        raise ValueError("s values must be finite")
    keys = list(dict.fromkeys(s_list + [float(beta)]))
    return keys


def _delta_f(system, lams, beta):
    try:
        f0 = system.free_energy(lams[0], beta)
        f1 = system.free_energy(lams[-1], beta)
    except (AttributeError, TypeError):
        return math.nan
    if f0 is None or f1 is None:
        return math.nan
    return float(f1) - float(f0)


# ---------------------------------------------------------------- shared propagation

class _Fields:
    """Columns: m0, m1, m2, then one tilted density per real s (renormalized each step,
    with the log normalizers kept), then the real and the imaginary parts of one
    characteristic-function density per k (p(x) <e^{-i k W} | x>: an imaginary tilt has
    modulus 1, so these need no renormalization)."""

    def __init__(self, p0, s_keys, k_keys=()):
        n = p0.size
        self.s = np.asarray(s_keys, dtype=np.float64)
        self.k = np.asarray(k_keys, dtype=np.float64)
        ns, nk = self.s.size, self.k.size
        self._t = slice(3, 3 + ns)
        self._re = slice(3 + ns, 3 + ns + nk)
        self._im = slice(3 + ns + nk, 3 + ns + 2 * nk)
        self.F = np.zeros((n, 3 + ns + 2 * nk), order="F")
        self.F[:, 0] = p0
        self.F[:, self._t] = p0[:, None]
        self.F[:, self._re] = p0[:, None]
        self.logz = np.zeros(ns)

    def switch(self, du):
        F = self.F
        F[:, 2] += 2.0 * du * F[:, 1] + du * du * F[:, 0]
        F[:, 1] += du * F[:, 0]
        if self.s.size:
            t = -np.outer(du, self.s)                       # (n, ns)
            shift = t.max(axis=0)
            F[:, self._t] *= np.exp(t - shift)
            self.logz += shift
        if self.k.size:  # (R + i I) e^{-i k du}
            ph = np.outer(du, self.k)
            c, sn = np.cos(ph), np.sin(ph)
            re, im = F[:, self._re].copy(), F[:, self._im].copy()
            F[:, self._re] = re * c + im * sn
            F[:, self._im] = im * c - re * sn

    def renormalize(self):
        if self.s.size:
            tot = self.F[:, self._t].sum(axis=0)
            if np.any(~(tot > 0)):
                raise FloatingPointError("a tilted density vanished on the grid; "
                                         "try a wider grid or a smaller |s|")
            self.F[:, self._t] /= tot
            self.logz += np.log(tot)

    def results(self):
        F = self.F
        mean = float(F[:, 1].sum())
        m2 = float(F[:, 2].sum())
        total = float(F[:, 0].sum())
        # moments conditional on staying on the grid (total = 1 up to what left)
        mean_c = mean / total
        var = m2 / total - mean_c * mean_c
        g = {float(k): float(v + np.log(F[:, 3 + j].sum()))
             for j, (k, v) in enumerate(zip(self.s, self.logz))}
        char = (F[:, self._re].sum(axis=0) + 1j * F[:, self._im].sum(axis=0)) / total
        return {"mean_work": mean_c, "var_work": var, "log_mgf": g, "mass": total,
                "char": char}


def _edge(p, width):
    return float(np.abs(p[:width]).sum() + np.abs(p[-width:]).sum())


# ---------------------------------------------------------------- (a) continuous time

def _bernoulli_pair(delta):
    """(B(delta), B(-delta)) with B(z) = z / (e^z - 1), using B(-z) = B(z) + z so the
    ratio B(delta) / B(-delta) = exp(-delta) holds to round-off for any sign."""
    ad = np.abs(delta)
    with np.errstate(over="ignore"):
        small = 1.0 / exprel(ad)          # B(|d|) in (0, 1], 0 for huge |d|
    large = small + ad                    # B(-|d|)
    pos = delta >= 0
    return np.where(pos, small, large), np.where(pos, large, small)


def _fp_operator(u, beta, gamma, h):
    """Tridiagonal generator A (dP/dt = A P, P = mass per cell) of the Scharfetter-Gummel
    finite-volume Fokker-Planck operator with zero-flux walls: (sub, diag, super)."""
    c = 1.0 / (beta * gamma * h * h)      # D / h^2, D = kT / gamma
    bp, bm = _bernoulli_pair(beta * np.diff(u))
    a = c * bp                            # flux i -> i+1 per unit mass in i
    b = c * bm                            # flux i+1 -> i per unit mass in i+1
    d = np.zeros(u.size)
    d[:-1] -= a
    d[1:] -= b
    return a, d, b


class _Tridiagonal:
    """A tridiagonal generator A = (sub a, diag d, super b) and a step tau:
    ``apply`` F -> (I + tau/2 A) F, ``solve`` F -> (I - tau/2 A)^{-1} F (one LU)."""

    def __init__(self, a, d, b, tau):
        self.a, self.d, self.b, self.ht = a, d, b, 0.5 * tau
        ht = self.ht
        dl, dm, du, du2, ipiv, info = lapack.dgttrf(-ht * a, 1.0 - ht * d, -ht * b)
        if info != 0:
            raise np.linalg.LinAlgError(f"implicit step matrix is singular (info={info})")
        self.lu = (dl, dm, du, du2, ipiv)

    def apply(self, F):
        ht = self.ht
        out = F * (1.0 + ht * self.d)[:, None]
        out[1:] += (ht * self.a)[:, None] * F[:-1]
        out[:-1] += (ht * self.b)[:, None] * F[1:]
        return out

    def solve(self, F):
        x, info = lapack.dgttrs(*self.lu, np.asfortranarray(F))
        if info != 0:
            raise np.linalg.LinAlgError(f"tridiagonal solve failed (info={info})")
        return x


class _CrankNicolson(_Tridiagonal):
    def step(self, F):
        return self.solve(self.apply(F))


def _start(system, lams, beta, lo, hi, n, s_keys, k_keys=()):
    """The grid (spacing, cell centres), U at lam_0, the equilibrium fields there, log Z_0,
    and the edge-mass bookkeeping every run starts from."""
    h = (hi - lo) / n
    x = lo + (np.arange(n) + 0.5) * h
    u_prev = _energy(system, x, lams[0])
    w = np.exp(-beta * (u_prev - u_prev.min()))
    fields = _Fields(w / w.sum(), s_keys, k_keys)
    logz0 = math.log(w.sum() * h) - beta * u_prev.min()
    width = max(1, n // 100)
    return h, x, u_prev, fields, logz0, width, _edge(fields.F[:, 0], width)


def _drive(lams, u0, energy, fields, make_step, substeps, edge, edge_of, cells=None):
    """The protocol on a grid, shared by the continuous-time engines: at each step switch
    lam_{k-1} -> lam_k at fixed state (``fields.switch`` with dU per cell; ``cells`` maps
    the per-x dU onto the grid's cells), then ``substeps`` applications of
    ``make_step(u).step`` (rebuilt only when lam changes). Returns (U at lam_N, the
    largest edge mass seen)."""
    u_prev, op = u0, None
    for k in range(1, lams.shape[0]):
        same = np.array_equal(lams[k], lams[k - 1])
        u = u_prev if same else energy(lams[k])
        if not same:
            du = u - u_prev
            fields.switch(du if cells is None else cells(du))
        if op is None or not same:
            op = make_step(u)
        F = fields.F
        for _ in range(substeps):
            F = op.step(F)
        fields.F = np.asfortranarray(F)
        fields.renormalize()
        edge = max(edge, edge_of(fields.F[:, 0]))
        u_prev = u
    return u_prev, edge


def _continuous_run(system, lams, dt, beta, gamma, lo, hi, n, substeps, s_keys, k_keys=()):
    h, x, u_prev, fields, logz0, width, edge = _start(system, lams, beta, lo, hi, n, s_keys,
                                                      k_keys)
    tau = dt / substeps
    u_prev, edge = _drive(lams, u_prev, lambda lam: _energy(system, x, lam), fields,
                          lambda u: _CrankNicolson(*_fp_operator(u, beta, gamma, h), tau),
                          substeps, edge, lambda p: _edge(p, width))
    out = fields.results()
    logz1 = math.log(np.exp(-beta * (u_prev - u_prev.min())).sum() * h) - beta * u_prev.min()
    out.update(x=x, density=fields.F[:, 0].copy(), edge=edge, lost=0.0,
               df_grid=-(logz1 - logz0) / beta, h=h, mean_path_work=out["mean_work"])
    return out


def _auto_substeps(system, lams, dt, beta, gamma, lo, hi, accuracy=0.02):
    kmax = _max_curvature(system, lams, beta, lo, hi)
    rate = kmax / gamma
    if not rate > 0:
        return 1
    return max(1, int(math.ceil(dt * rate / accuracy)))


def work_statistics_continuous(system, protocol, dt, *, beta=1.0, gamma=1.0, grid=None,
                               n_cells=CONTINUOUS_CELLS, s=(), substeps=None, tail=TAIL,
                               refine=True):
    """Exact work statistics of ``protocol`` under continuous-time overdamped Langevin
    dynamics, dx = -(1/gamma) grad U dt + sqrt(2 kT / gamma) dB, with lam_k held for a
    time ``dt`` after each switch (the protocol as neqsim's integrators apply it).

    Parameters
    ----------
    system : a one-dimensional :class:`neqsim.System` (``energy`` and ``free_energy`` used)
    protocol : :class:`neqsim.Protocol` or (N+1, n_controls) array
    dt : time per protocol step
    beta, gamma : inverse temperature and friction
    grid : None (automatic: where beta (U - min U) <= ``tail`` for some lam of the
        protocol), (lo, hi), or (lo, hi, n_cells)
    n_cells : cells of the fine grid (the coarse refinement level has half)
    s : values at which to report G(s) = log <exp(-s W)> (s = beta is always added)
    substeps : Crank-Nicolson substeps per protocol step of the coarse level (the fine
        level takes twice as many); default from the stiffest relaxation rate
        max|U''| / gamma in the occupied region, so that rate * substep <= 0.02
    refine : run two levels and report Richardson-extrapolated values with error
        estimates; False runs the fine level only

    Returns a :class:`WorkStatistics`.
    """
    t0 = time.perf_counter()
    lams = _lams(protocol)
    _check_system(system, lams)
    beta, gamma, dt = float(beta), float(gamma), float(dt)
    for name, v in (("beta", beta), ("gamma", gamma), ("dt", dt)):
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be finite and > 0, got {v}")
    lo, hi, n = _parse_grid(grid, n_cells,
                            lambda: transfer_grid(system, lams, beta=beta, tail=tail))
    if n < 8:
        raise ValueError(f"n_cells must be >= 8, got {n}")
    m = int(substeps) if substeps is not None else \
        _auto_substeps(system, lams, dt, beta, gamma, lo, hi)
    if m < 1:
        raise ValueError(f"substeps must be >= 1, got {m}")
    s_keys = _s_values(s, beta)
    if refine:
        coarse = _continuous_run(system, lams, dt, beta, gamma, lo, hi, n // 2, m, s_keys)
        fine = _continuous_run(system, lams, dt, beta, gamma, lo, hi, n, 2 * m, s_keys)
    else:
        coarse = None
        fine = _continuous_run(system, lams, dt, beta, gamma, lo, hi, n, m, s_keys)
    return _package(system, lams, beta, gamma, dt, lo, hi, n, coarse, fine, s, s_keys,
                    mode="continuous", kernel="fokker-planck", order=2,
                    substeps=(2 * m if refine else m), t0=t0)


# ---------------------------------------------------------------- (b) discrete time

def _integrator_kind(integrator):
    name = getattr(integrator, "file_name", type(integrator).__name__)
    if name not in ("EulerMaruyama", "MALA"):
        raise TypeError("work_statistics_discrete supports neqsim's overdamped integrators "
                        f"EulerMaruyama and MALA, got {type(integrator).__name__}")
    dt = float(integrator.dt)
    gamma = float(getattr(integrator, "gamma", 1.0))
    metro = bool(getattr(integrator, "metropolized", name == "MALA"))
    return ("MALA" if metro else "EulerMaruyama"), dt, gamma, metro


def _transition(system, x, lam, u, beta, dt, gamma, h, metro, kernel):
    """Row-stochastic transition matrix T[i, j] (mass from cell i to cell j) of one
    integrator step under ``lam``, and the probability of leaving the grid from each i."""
    g = np.asarray(system.gradient(x, np.ascontiguousarray(lam)), dtype=np.float64)
    g = g.reshape(-1)
    sig = math.sqrt(2.0 * dt / (beta * gamma))
    mu = x - (dt / gamma) * g
    lo_edge, hi_edge = x[0] - 0.5 * h, x[-1] + 0.5 * h
    leave = ndtr((lo_edge - mu) / sig) + ndtr((mu - hi_edge) / sig)
    z = (x[None, :] - mu[:, None]) / sig           # z[i, j]: source i, destination j
    if kernel == "cell":
        edges = np.concatenate([x - 0.5 * h, [hi_edge]])
        ze = (edges[None, :] - mu[:, None]) / sig
        left = ze[:, :-1]
        right = ze[:, 1:]
        # difference of lower tails below the mean, of upper tails above (no cancellation)
        T = np.where(left > 0, ndtr(-left) - ndtr(-right), ndtr(right) - ndtr(left))
    else:
        T = (h / (math.sqrt(2.0 * math.pi) * sig)) * np.exp(-0.5 * z * z)
    if metro:
        # log acceptance -beta (U(y) - U(x)) - [log N(y|x) - log N(x|y)], as in the kernel
        la = -beta * (u[None, :] - u[:, None]) + 0.5 * z * z - 0.5 * (z * z).T
        T *= np.exp(np.minimum(la, 0.0))
        idx = np.arange(x.size)
        T[idx, idx] = 0.0
        T[idx, idx] = 1.0 - T.sum(axis=1)           # rejections (and proposals off the grid)
        return T, leave, None
    # E[log T(x'|x) - log T(x|x') | x = x_i] = sum_j T_ij L_ij: the step's path-ratio term
    zz = z * z
    ratio = (T * (0.5 * (zz.T - zz))).sum(axis=1)
    return T, leave, ratio


def _discrete_run(system, lams, dt, beta, gamma, metro, kernel, lo, hi, n, s_keys,
                  k_keys=()):
    h, x, u_prev, fields, logz0, width, edge = _start(system, lams, beta, lo, hi, n, s_keys,
                                                      k_keys)
    lost = 0.0
    T = leave = None
    u_start = float(fields.F[:, 0] @ u_prev)
    log_ratio = 0.0
    for k in range(1, lams.shape[0]):
        same = np.array_equal(lams[k], lams[k - 1])
        u = u_prev if same else _energy(system, x, lams[k])
        if not same:
            fields.switch(u - u_prev)
        if T is None or not same:
            T, leave, ratio = _transition(system, x, lams[k], u, beta, dt, gamma, h, metro,
                                          kernel)
        lost += float(fields.F[:, 0] @ leave)
        if ratio is not None:
            log_ratio += float(fields.F[:, 0] @ ratio)
        fields.F = np.asfortranarray(T.T @ fields.F)
        fields.renormalize()
        edge = max(edge, _edge(fields.F[:, 0], width))
        u_prev = u
    out = fields.results()
    logz1 = math.log(np.exp(-beta * (u_prev - u_prev.min())).sum() * h) - beta * u_prev.min()
    if metro:
        path = out["mean_work"]          # detailed balance: W_path = W
    else:
        # W_path = U(x_N, lam_N) - U(x_0, lam_0) + kT sum_k log[T(x_k|x_{k-1}) / T(x_{k-1}|x_k)]
        u_end = float(fields.F[:, 0] @ u_prev) / out["mass"]
        path = u_end - u_start + log_ratio / beta
    out.update(x=x, density=fields.F[:, 0].copy(), edge=edge, lost=lost,
               df_grid=-(logz1 - logz0) / beta, h=h, mean_path_work=path)
    return out


def work_statistics_discrete(system, protocol, integrator, *, beta=1.0, grid=None,
                             n_cells=DISCRETE_CELLS, s=(), tail=TAIL, kernel="nystrom",
                             refine=True):
    """Exact work statistics of ``protocol`` under neqsim's own overdamped integrator at
    its finite time step: what ``nq.simulate(system, protocol, integrator, ...)`` averages
    to (its ``.work``), time-step bias included.

    Parameters
    ----------
    system : a one-dimensional :class:`neqsim.System` (``energy``, ``gradient``,
        ``free_energy`` used)
    protocol : :class:`neqsim.Protocol` or (N+1, n_controls) array
    integrator : ``nq.EulerMaruyama(dt, gamma)`` or ``nq.MALA(dt, gamma)``
    beta : inverse temperature
    grid : None (automatic: where beta (U - min U) <= ``tail`` for some lam, widened by
        10 noise widths sqrt(2 dt / (beta gamma)) on each side), (lo, hi), or
        (lo, hi, n_cells)
    n_cells : cells of the fine grid (the coarse refinement level has half); the
        transition matrices are dense (n_cells^2)
    s : values at which to report G(s) = log <exp(-s W)> (s = beta is always added)
    kernel : "nystrom" (Gaussian density at the cell centres times h: spectrally
        accurate for smooth potentials) or "cell" (the Gaussian integrated over each
        destination cell: second order)
    refine : also run the coarse level and report |fine - coarse| as the error estimate

    Returns a :class:`WorkStatistics` (values from the fine level; moments are those of
    the trajectories that stay on the grid, see ``lost_mass``).
    """
    t0 = time.perf_counter()
    lams = _lams(protocol)
    _check_system(system, lams)
    mode, dt, gamma, metro = _integrator_kind(integrator)
    beta = float(beta)
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be finite and > 0, got {beta}")
    if kernel not in ("nystrom", "cell"):
        raise ValueError(f"kernel must be 'nystrom' or 'cell', got {kernel!r}")
    sig = math.sqrt(2.0 * dt / (beta * gamma))
    lo, hi, n = _parse_grid(grid, n_cells, lambda: transfer_grid(
        system, lams, beta=beta, tail=tail, pad=10.0 * sig))
    if n < 8:
        raise ValueError(f"n_cells must be >= 8, got {n}")
    s_keys = _s_values(s, beta)

    def run(cells):
        return _discrete_run(system, lams, dt, beta, gamma, metro, kernel, lo, hi, cells,
                             s_keys)

    coarse = run(n // 2) if refine else None
    fine = run(n)
    return _package(system, lams, beta, gamma, dt, lo, hi, n, coarse, fine, s, s_keys,
                    mode=mode, kernel=kernel, order=None, substeps=1, t0=t0)


# ---------------------------------------------------------------- results

def _package(system, lams, beta, gamma, dt, lo, hi, n, coarse, fine, s, s_keys, *, mode,
             kernel, order, substeps, t0):
    def level(r):
        return None if r is None else {"mean_work": r["mean_work"],
                                       "mean_path_work": r["mean_path_work"],
                                       "var_work": r["var_work"],
                                       "log_mgf": dict(r["log_mgf"])}

    if coarse is not None and order is not None:
        f = 2.0 ** order

        def value(a, b):   # a fine, b coarse
            return (f * a - b) / (f - 1.0)

        def error(a, b):
            return abs(a - b) / (f - 1.0)
    elif coarse is not None:
        def value(a, b):
            return a

        def error(a, b):
            return abs(a - b)
    else:
        def value(a, b):
            return a

        def error(a, b):
            return math.nan
    c = coarse if coarse is not None else fine
    mean = value(fine["mean_work"], c["mean_work"])
    var = value(fine["var_work"], c["var_work"])
    path = value(fine["mean_path_work"], c["mean_path_work"])
    g = {k: value(fine["log_mgf"][k], c["log_mgf"][k]) for k in s_keys}
    ge = {k: error(fine["log_mgf"][k], c["log_mgf"][k]) for k in s_keys}
    df = _delta_f(system, lams, beta)
    bkey = float(beta)
    resid = g[bkey] + beta * df if math.isfinite(df) else math.nan
    return WorkStatistics(
        mean_work=float(mean), var_work=float(var), log_mgf=g, delta_f=float(df),
        mean_path_work=float(path),
        mean_path_work_error=float(error(fine["mean_path_work"], c["mean_path_work"])),
        delta_f_grid=float(fine["df_grid"]), jarzynski_residual=float(resid),
        mean_work_error=float(error(fine["mean_work"], c["mean_work"])),
        var_work_error=float(error(fine["var_work"], c["var_work"])),
        log_mgf_error=ge, jarzynski_error=float(ge[bkey]), mode=mode, kernel=kernel,
        grid=(float(lo), float(hi), int(n)), grid_spacing=float(fine["h"]),
        n_steps=int(lams.shape[0] - 1), dt=float(dt), gamma=float(gamma), beta=beta,
        substeps=int(substeps), extrapolated=bool(coarse is not None and order is not None),
        mass_error=float(abs(fine["mass"] - 1.0)), lost_mass=float(fine["lost"]),
        edge_mass=float(fine["edge"]), x=fine["x"], density=fine["density"],
        coarse=level(coarse), fine=level(fine), seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------- the distribution P(W)

def work_distribution(system, protocol, *, dt=None, integrator=None, beta=1.0, gamma=1.0,
                      n_w=256, w_range=None, grid=None, n_cells=600, tail=TAIL):
    """The exact work density P(W) of ``protocol``, by Fourier inversion of the
    characteristic function phi(k) = <e^{-i k W}>, propagated like the tilted densities
    (an imaginary tilt: each switch multiplies the field by e^{-i k dU(x)}, the relaxation
    acts on its real and imaginary parts). Continuous time with ``dt`` (and ``gamma``), or
    the discrete operator of ``integrator`` (EulerMaruyama or MALA) at its dt.

    On ``n_w`` points w_j over ``w_range`` (default: <W> -+ 10 sd, from the same engine)
    of length L, P(w_j) = (1/L) sum_{|m| < n_w/2} phi(k_m) e^{i k_m w_j}, k_m = 2 pi m / L:
    exact up to the grid in x and the period L (P must vanish at the ends of the range).
    Returns (w, P) as arrays; P integrates to 1 over the range. The grid quantizes W (each
    switch adds dU at a cell centre), so phi(k) stops decaying at large k: with few steps
    and large increments (the double well at dt = 0.1, 20 steps) the inversion shows an
    aliasing floor of ~1e-3 of the peak; many small steps (the dragged trap) are exact to
    1e-4 of the peak. The moments and G(s) above are not affected.
    """
    lams = _lams(protocol)
    _check_system(system, lams)
    beta = float(beta)
    if (dt is None) == (integrator is None):
        raise ValueError("give dt (continuous time) or integrator (its discrete operator)")
    n_w = int(n_w)
    if n_w < 16 or n_w % 2:
        raise ValueError(f"n_w must be an even integer >= 16, got {n_w}")
    if integrator is not None:
        _, dt_, gamma_, metro = _integrator_kind(integrator)
        sig = math.sqrt(2.0 * dt_ / (beta * gamma_))
        lo, hi, n = _parse_grid(grid, n_cells, lambda: transfer_grid(
            system, lams, beta=beta, tail=tail, pad=10.0 * sig))

        def run(k):
            return _discrete_run(system, lams, dt_, beta, gamma_, metro, "nystrom", lo, hi,
                                 n, (), k)
    else:
        dt, gamma = float(dt), float(gamma)
        lo, hi, n = _parse_grid(grid, n_cells, lambda: transfer_grid(
            system, lams, beta=beta, tail=tail))
        m = _auto_substeps(system, lams, dt, beta, gamma, lo, hi)

        def run(k):
            return _continuous_run(system, lams, dt, beta, gamma, lo, hi, n, m, (), k)
    if w_range is None:
        first = run(())
        sd = math.sqrt(max(first["var_work"], 1e-300))
        w_range = (first["mean_work"] - 10 * sd, first["mean_work"] + 10 * sd)
    a, b = float(w_range[0]), float(w_range[1])
    if not b > a:
        raise ValueError(f"w_range must be (low, high) with high > low, got {w_range}")
    length = b - a
    w = a + (np.arange(n_w) + 0.5) * (length / n_w)
    k = 2 * np.pi * np.arange(n_w // 2 + 1) / length
    phi = run(k)["char"]
    # phi(-k) = conj(phi(k)); <e^{-ikW}> e^{ikw} summed over -n/2 < m < n/2
    terms = np.real(phi[1:, None] * np.exp(1j * k[1:, None] * w[None, :]))
    p = (np.real(phi[0]) + 2.0 * terms[:-1].sum(axis=0) + terms[-1]) / length
    return w, p
