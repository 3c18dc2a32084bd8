"""The Gaussian feedback trap, exactly: work, mutual information and the Sagawa-Ueda equality.

The trap U(x, lam) = k/2 (x - lam)^2 (one dimension, inverse temperature beta) starts in
equilibrium at lam = 0, so x_0 ~ N(0, v) with v = kT/k. At t = 0 the position is measured
with Gaussian error, y = x_0 + sigma xi, and the trap centre jumps at once to the estimate
lam' = g y: ``gain`` g = 1 (the outcome itself) or the posterior mean
g = k_eff = v / (v + sigma^2) (``gain="optimal"``). The trap then holds lam' while x
relaxes; with ``shift_back`` it finally jumps back to lam = 0 (the second protocol leg).

Relaxation at fixed lam' is a linear Gaussian map of the offset from the centre,

    x_t - lam' = rho (x_0 - lam') + sqrt(kappa v (1 - rho^2)) eta,     eta ~ N(0, 1),

exactly for the continuous dynamics (rho = exp(-k t / gamma), kappa = 1) and for n
Euler-Maruyama steps of size dt (a = k dt / gamma, rho = (1 - a)^n, kappa = 2 / (2 - a):
its stationary variance is kappa v, not v, which is its O(dt) bias).

Work (this package's signs: W done ON the system, each jump at fixed x, docs/physics.md):

    W_1 = U(x_0, lam') - U(x_0, 0) = k/2 [(x_0 - lam')^2 - x_0^2]          (the feedback jump)
    W_2 = U(x_t, 0) - U(x_t, lam') = k/2 [x_t^2 - (x_t - lam')^2]          (shift back)
    <W_1> = k/2 [g^2 (v + sigma^2) - 2 g v]
    <W_1 + W_2> = k (1 - rho) [g^2 (v + sigma^2) - g v]

so with the optimal gain <W_1> = -(kT/2) k_eff (work extracted), and the mutual
information of the measurement is

    I = ln p(y | x_0) - ln p(y),   <I> = (1/2) ln(1 + v / sigma^2),

p(y) = N(0, v + sigma^2). dF = 0 (a translated trap has the same free energy), and the
second law with information reads <W> >= -kT <I>, i.e. k_eff <= ln(1 + v/sigma^2).

All of beta W and I are quadratic forms of three independent standard normals
u = (x_0 / sqrt(v), xi, eta): beta W = u^T A_W u and I = c_I + u^T A_I u, so the joint
moment generating function is a Gaussian integral in closed form,

    M(a, b) = <exp(-a beta W - b I)> = exp(-b c_I) det(1 + 2 (a A_W + b A_I))^(-1/2)

(+inf where the matrix is not positive definite: that moment does not exist).
M(1, 1) = <e^{-beta (W - dF) - I}> is the generalized Jarzynski equality of Sagawa and
Ueda (PRL 104, 090602 (2010)): ln M(1, 1) = 0 for every gain, sigma and rho when
kappa = 1 (the dynamics keeps the Boltzmann density; Euler-Maruyama's plain W misses it
by O(dt), its path work does not). M(1, 0) = <e^{-beta W}> is the efficacy gamma; for
the jump alone it is 1 / |1 - g| (infinite for g = 1: the reverse process finds every
outcome), 1 + v/sigma^2 at the optimal gain. M(2, 2) finite says the Sagawa-Ueda weights
have a finite variance, which an estimate of M(1, 1) from samples needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["FeedbackTrap"]


def _positive(name, value):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


@dataclass(frozen=True)
class FeedbackTrap:
    """The Gaussian feedback trap (module docstring): measure x_0 with error ``sigma``,
    jump the centre to ``gain`` * y, relax (offset factor ``rho``, noise factor
    ``kappa``), optionally jump back to 0 (``shift_back``).

    Build it with :meth:`continuous` (relaxation for a time t, exact dynamics) or
    :meth:`euler_maruyama` (n steps of neqsim's Euler-Maruyama at dt: the exact chain the
    simulation samples). ``gain`` is a number or ``"optimal"`` (k_eff = v / (v + sigma^2)).
    """
    sigma: float
    gain: float | str = 1.0
    k: float = 1.0
    beta: float = 1.0
    rho: float = 0.0
    kappa: float = 1.0
    shift_back: bool = False

    def __post_init__(self):
        _positive("sigma", self.sigma)
        _positive("k", self.k)
        _positive("beta", self.beta)
        _positive("kappa", self.kappa)
        if not (isinstance(self.gain, str) and self.gain == "optimal"):
            g = float(self.gain)
            if not math.isfinite(g):
                raise ValueError(f"gain must be a finite number or 'optimal', got {self.gain!r}")
        if not (0.0 <= float(self.rho) <= 1.0):
            raise ValueError(f"rho (the relaxation factor of the offset) must lie in [0, 1], "
                             f"got {self.rho!r}")

    @classmethod
    def continuous(cls, sigma, gain=1.0, *, t=math.inf, gamma=1.0, k=1.0, beta=1.0,
                   shift_back=False):
        """Relaxation for a time ``t`` by the overdamped dynamics itself (friction gamma):
        rho = exp(-k t / gamma), kappa = 1."""
        rho = 0.0 if t == math.inf else math.exp(-_positive("k", k) * float(t) /
                                                 _positive("gamma", gamma))
        return cls(sigma, gain, k, beta, rho, 1.0, shift_back)

    @classmethod
    def euler_maruyama(cls, sigma, gain=1.0, *, n_steps, dt, gamma=1.0, k=1.0, beta=1.0,
                       shift_back=False):
        """Relaxation by ``n_steps`` Euler-Maruyama steps x' = x - (dt/gamma) k (x - lam')
        + sqrt(2 dt / (beta gamma)) xi: with a = k dt / gamma, rho = (1 - a)^n and
        kappa = 2 / (2 - a) (the chain's stationary variance is kappa kT/k). Needs 0 < a < 2."""
        a = _positive("k", k) * _positive("dt", dt) / _positive("gamma", gamma)
        if not a < 2.0:
            raise ValueError(f"k dt / gamma = {a:g} >= 2: Euler-Maruyama is unstable in this trap")
        n = int(n_steps)
        if n != n_steps or n < 0:
            raise ValueError(f"n_steps must be an integer >= 0, got {n_steps!r}")
        return cls(sigma, gain, k, beta, (1.0 - a) ** n if n else 1.0, 2.0 / (2.0 - a),
                   shift_back)

    # --- parameters --------------------------------------------------------------------
    @property
    def var_x(self):
        """v = kT / k, the equilibrium variance of x at the measurement."""
        return 1.0 / (self.beta * self.k)

    @property
    def k_eff(self):
        """The posterior-mean gain v / (v + sigma^2): E[x_0 | y] = k_eff y."""
        return self.var_x / (self.var_x + self.sigma ** 2)

    @property
    def g(self):
        """The gain as a number."""
        return self.k_eff if isinstance(self.gain, str) else float(self.gain)

    # --- closed forms ------------------------------------------------------------------
    @property
    def mean_jump_work(self):
        """<W_1> = k/2 [g^2 (v + sigma^2) - 2 g v]."""
        v, s2, g = self.var_x, self.sigma ** 2, self.g
        return 0.5 * self.k * (g * g * (v + s2) - 2.0 * g * v)

    @property
    def mean_work(self):
        """<W>: <W_1>, or k (1 - rho) [g^2 (v + sigma^2) - g v] with the shift back."""
        if not self.shift_back:
            return self.mean_jump_work
        v, s2, g = self.var_x, self.sigma ** 2, self.g
        return self.k * (1.0 - self.rho) * (g * g * (v + s2) - g * v)

    @property
    def mean_information(self):
        """<I> = (1/2) ln(1 + v / sigma^2), nats."""
        return 0.5 * math.log1p(self.var_x / self.sigma ** 2)

    @property
    def var_work(self):
        """Var W = 2 tr(A_W^2) / beta^2 (beta W a Gaussian quadratic form)."""
        a_w, _, _ = self.quadratic_forms()
        return 2.0 * float(np.sum(a_w * a_w)) / self.beta ** 2

    @property
    def efficacy(self):
        """gamma = <e^{-beta W}> = M(1, 0) (dF = 0); 1 / |1 - g| for the jump alone."""
        return math.exp(self.log_mgf(1.0, 0.0))

    @property
    def log_generalized_jarzynski(self):
        """ln <e^{-beta (W - dF) - I}> = ln M(1, 1): 0 whenever kappa = 1."""
        return self.log_mgf(1.0, 1.0)

    def quadratic_forms(self):
        """(A_W, A_I, c_I): beta W = u^T A_W u, I = c_I + u^T A_I u, with u = (x_0 / sqrt(v),
        xi, eta) independent standard normals (symmetric 3 x 3 matrices)."""
        v, s, g = self.var_x, self.sigma, self.g
        x0 = np.array([math.sqrt(v), 0.0, 0.0])
        y = np.array([math.sqrt(v), s, 0.0])
        lam = g * y
        xt = lam + self.rho * (x0 - lam) + np.array(
            [0.0, 0.0, math.sqrt(self.kappa * v * (1.0 - self.rho ** 2))])

        def sq(p):
            return np.outer(p, p)
        half_bk = 0.5 * self.beta * self.k
        a_w = half_bk * (sq(x0 - lam) - sq(x0))
        if self.shift_back:
            a_w = a_w + half_bk * (sq(xt) - sq(xt - lam))
        # I = ln N(y; x0, s^2) - ln N(y; 0, v + s^2)
        a_i = -0.5 * sq(np.array([0.0, 1.0, 0.0])) + sq(y) / (2.0 * (v + s * s))
        c_i = 0.5 * math.log((v + s * s) / (s * s))
        return a_w, a_i, c_i

    def log_mgf(self, a, b):
        """ln M(a, b) = ln <exp(-a beta W - b I)> = -b c_I - (1/2) ln det(1 + 2 (a A_W + b A_I)),
        +inf where 1 + 2 (a A_W + b A_I) is not positive definite."""
        a_w, a_i, c_i = self.quadratic_forms()
        m = np.eye(3) + 2.0 * (a * a_w + b * a_i)
        ev = np.linalg.eigvalsh(0.5 * (m + m.T))
        if not ev.min() > 0:
            return math.inf
        return float(-b * c_i - 0.5 * np.sum(np.log(ev)))

    def weights_have_finite_variance(self):
        """Whether Var e^{-beta W - I} < inf (M(2, 2) finite): an estimate of the
        generalized equality from samples has a meaningful standard error only then."""
        return math.isfinite(self.log_mgf(2.0, 2.0))
