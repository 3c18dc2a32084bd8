"""A noisy measurement of the state and the feedback it drives: ``nq.Measurement``.

Measurement m at step k_m (time t_m = k_m dt) reads trajectory i's state x_i(k_m) (after
the kernel step k_m; k_m = 0 is the initial state) as

    y_{i,m} = C x_i(k_m) + sigma xi_{i,m},     xi ~ N(0, 1) per component,

with xi drawn from a stream keyed by (seed, i, m), distinct from the dynamics stream of
(seed, i). The controller turns the outcome into coefficients c_{i,m} = controller(y_{i,m})
(default: c = y) that move the controls from step k_m + 1 on:

    lam_i(k) = lam_base(k) + sum_m G_m(k) c_{i,m},     G_m(k) = 0 for k <= k_m

(causality: the kernel step k_m that produced x(k_m) ran before the outcome was known).
The Gaussian feedback trap is G = 1 on the centre after t_m: the trap moves to y.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Measurement", "GaussianState", "measurement_seed"]

_MASK = (1 << 64) - 1


def _mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def measurement_seed(seed, m):
    """The seed of measurement m's error stream: splitmix64 of (seed, m) with its own salt,
    so trajectory i's measurement errors are the stream (measurement_seed(seed, m), i) of
    :mod:`neqsim._numba.rng`, independent of its dynamics stream (seed, i)."""
    return _mix64((_mix64(int(seed) ^ 0x510E527FADE682D1) + (m + 1) * 0x9E3779B97F4A7C15)
                  & _MASK)


@dataclass(frozen=True)
class GaussianState:
    """A known Gaussian density N(mean, cov) of the state at a measurement: the outcome's
    marginal is then exactly p(y) = N(C mean, C cov C^T + diag(sigma^2))."""
    mean: object
    cov: object


@dataclass(frozen=True)
class Measurement:
    """One measurement and the feedback it drives (module docstring).

    Parameters
    ----------
    step : the step index k_m of the measurement (0 = the initial state), or
    time : its time t_m = k_m dt (must lie on the step grid of the integrator).
    sigma : the measurement error (standard deviation, > 0): a number, or one per
        observed component.
    observe : C, an (n_obs, dim) matrix (default the identity: every coordinate).
    gain : G: a number (times the identity), an (n_controls, n_coef) matrix applied to
        every step after the measurement, or an (N+1, n_controls, n_coef) schedule (zero
        up to step k_m); an (N+1,) profile when n_controls = n_coef = 1. A system whose
        controls are (centre, stiffness), as ``nq.systems.harmonic_trap()``, takes
        ``gain=[[1.0], [0.0]]`` to move the centre to y.
    controller : optional ``f(y) -> coefficients``, y an (n_traj, n_obs) array, returning
        (n_traj, n_coef) (vectorized over trajectories); default c = y (linear feedback).
    marginal : how ln p(y) enters the mutual information I = ln p(y|x) - ln p(y):
        ``"sample"`` (leave-one-out mixture over the other trajectories' states; the
        first measurement only), ``"gaussian"`` (a Gaussian fit of p(y_m | earlier
        outcomes) by least squares; exact for linear systems in the large-sample limit),
        a :class:`GaussianState` (exact; the first measurement only), or a callable
        ``f(y, previous) -> ln p(y | previous)`` ((n_traj,) values; ``previous`` is the
        tuple of the earlier outcomes' arrays). Default: "sample" for the first
        measurement, "gaussian" for later ones.
    """
    step: int | None = None
    sigma: object = None
    time: float | None = None
    observe: object = None
    gain: object = 1.0
    controller: object = None
    marginal: object = None

    def resolve(self, index, dim, n_controls, n_steps, dt):
        """The validated measurement: (step, C, sigma vector, gain schedule or None when
        the controller's width is unknown yet). One ValueError naming the problem."""
        name = f"measurement {index}"
        if self.sigma is None:
            raise ValueError(f"{name}: pass sigma=, the measurement error (> 0)")
        sigma = np.atleast_1d(np.asarray(self.sigma, dtype=np.float64))
        if np.any(~np.isfinite(sigma)) or np.any(sigma < 0):
            raise ValueError(f"{name}: sigma must be finite and > 0 (a standard deviation), "
                             f"got {self.sigma!r}")
        if np.any(sigma == 0):
            raise ValueError(f"{name}: sigma = 0 is an error-free measurement of a continuous "
                             "state, whose mutual information is infinite; pass sigma > 0")
        step = self._step(name, n_steps, dt)
        if self.observe is None:
            c_mat = np.eye(dim)
        else:
            c_mat = np.atleast_2d(np.asarray(self.observe, dtype=np.float64))
            if c_mat.ndim != 2 or c_mat.shape[1] != dim or not np.all(np.isfinite(c_mat)):
                raise ValueError(f"{name}: observe must be a finite (n_obs, {dim}) matrix C "
                                 f"(y = C x + noise), got shape {np.shape(self.observe)}")
        n_obs = c_mat.shape[0]
        if sigma.shape == (1,):
            sigma = np.full(n_obs, sigma[0])
        if sigma.shape != (n_obs,):
            raise ValueError(f"{name}: sigma must be one number or {n_obs} (one per observed "
                             f"component), got {sigma.size}")
        if self.controller is not None and not callable(self.controller):
            raise ValueError(f"{name}: controller must be a function y -> coefficients, got "
                             f"{type(self.controller).__name__}")
        m = self.marginal
        if not (m is None or callable(m) or isinstance(m, GaussianState)
                or (isinstance(m, str) and m in ("sample", "gaussian"))):
            raise ValueError(f"{name}: marginal must be 'sample', 'gaussian', a GaussianState "
                             f"or a function (y, previous) -> ln p(y | previous); got {m!r}")
        if index > 0 and (isinstance(m, GaussianState) or m == "sample"):
            raise ValueError(
                f"{name}: marginal={m!r} describes p(y) for the first measurement only; a "
                "later outcome's density depends on the earlier ones through the feedback: "
                "pass marginal='gaussian' or a function (y, previous) -> ln p(y | previous)")
        return step, c_mat, sigma

    def _step(self, name, n_steps, dt):
        if (self.step is None) == (self.time is None):
            raise ValueError(f"{name}: pass exactly one of step= (an index 0..{n_steps - 1}) "
                             "and time= (a multiple of the time step)")
        if self.time is not None:
            t = float(self.time)
            k = round(t / dt)
            if not (math.isfinite(t) and abs(k * dt - t) <= 1e-9 * max(abs(t), dt)):
                lo = math.floor(t / dt) if math.isfinite(t) else 0
                raise ValueError(f"{name}: time={self.time!r} is off the step grid (dt = "
                                 f"{dt:g}): the nearest steps are at t = {lo * dt:g} and "
                                 f"{(lo + 1) * dt:g}; measure at a multiple of dt")
            step = int(k)
        else:
            s = self.step
            if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
                raise ValueError(f"{name}: step must be an integer, got {s!r}")
            step = int(s)
        if not 0 <= step < n_steps:
            raise ValueError(f"{name}: step {step} is outside the protocol: a measurement "
                             f"must come before its feedback, at steps 0..{n_steps - 1}")
        return step

    def gain_schedule(self, name, step, n_controls, n_coef, n_steps):
        """G_m(k) as an (N+1, n_controls, n_coef) array, zero for k <= step."""
        g = np.asarray(self.gain, dtype=np.float64)
        shape = (n_steps + 1, n_controls, n_coef)
        if g.ndim == 0:
            if n_controls != n_coef:
                raise ValueError(f"{name}: a number as gain means G = gain * identity, but "
                                 f"there are {n_controls} controls and {n_coef} coefficients: "
                                 f"pass an ({n_controls}, {n_coef}) matrix")
            g = np.broadcast_to(float(g) * np.eye(n_controls), shape).copy()
            g[:step + 1] = 0.0
        elif g.shape == (n_controls, n_coef):
            g = np.broadcast_to(g, shape).copy()
            g[:step + 1] = 0.0
        elif g.shape == (n_steps + 1,) and n_controls == n_coef == 1:
            g = g.reshape(shape).copy()
        elif g.shape != shape:
            raise ValueError(f"{name}: gain must be a number, an ({n_controls}, {n_coef}) "
                             f"matrix (n_controls, n_coef), or an {shape} schedule; got shape "
                             f"{g.shape}")
        else:
            g = g.copy()
        if not np.all(np.isfinite(g)):
            raise ValueError(f"{name}: gain contains NaN or inf")
        if np.any(g[:step + 1] != 0.0):
            bad = int(np.nonzero(np.any(g[:step + 1] != 0.0, axis=(1, 2)))[0][0])
            raise ValueError(f"{name}: the gain schedule is nonzero at step {bad}, before the "
                             f"outcome of the measurement at step {step} is known; it must be "
                             f"zero at steps 0..{step}")
        return g
