"""Batched log densities (one Python call for every chain) and the Metropolis-Hastings
moves that run vectorized over chains in NumPy around them.

A batched log density is a Python callable ``f(X) -> (n,)`` returning log f(x_i) for
each row x_i of ``X`` (shape (n, d)), optionally with ``grad(X) -> (n, d)`` returning
d log f / dx_i. It may be written in NumPy, JAX (plain ``jax.numpy`` code, or a
``jax.jit`` / ``jax.vmap`` function) or PyTorch. With no ``grad``, JAX and PyTorch
functions are differentiated by their framework: the gradient of ``sum_i log f(x_i)``
with respect to ``X`` (one reverse pass), which is row i's own gradient because row i
of the output depends only on row i of the input, as a batched density must.
Neither framework is imported by neqsim unless the user's function is theirs.

Precision: neqsim does not change JAX's global configuration. JAX computes in float32
unless ``jax.config.update("jax_enable_x64", True)`` was called; a density returning
float32 is used as such (converted to float64 after the fact) and neqsim warns once,
since Metropolis-Hastings ratios of float32 energies carry their rounding.

Signs (docs/physics.md): energies are U = -log f. On a path between f_0 and f_1,

* likelihood path, f_t = f_0 f_1^t:  U(x, t) = a + t b,  a = -log f_0,  b = -log f_1;
* geometric path, f_t = f_0^(1-t) f_1^t:  U(x, t) = a + t b,  a = -log f_0,
  b = log f_0 - log f_1 (where f_0 = 0, b = +inf: zero density all along the path,
  t = 1 included, so the chains stay on the support of f_0).

:class:`BatchedMover` moves every chain with n Metropolis-Hastings moves targeting
pi_t ~ exp(-U(x, t)), drawing each chain's normals and uniforms from its own
xoshiro256++ stream (one row of an (n, 4) state array), so a chain's moves never depend
on which other chains share the call. The proposals are those of neqsim's compiled
kernels (dynamics/mcmc_kernel.py), with G = grad_x U(x, t):

* RWM:  y = x + eps z, z ~ N(0, I);  log alpha = -(U(y) - U(x)).
* MALA: y = x - (eps^2/2) G(x) + eps z;  log alpha = -(U(y) - U(x)) + log q(x|y) - log q(y|x)
  with log q(x|y) - log q(y|x) = -|x - y + (eps^2/2) G(y)|^2 / (2 eps^2) + |z|^2 / 2.
* HMC:  p ~ N(0, I), n_leapfrog leapfrog steps of size eps on H = U(x) + |p|^2/2 (unit
  mass); log alpha = -(H(y, p') - H(x, p)).

A proposal is accepted when log alpha >= 0 or u < exp(log alpha), u ~ U[0, 1). A
proposal whose energy is +inf (zero density), -inf or NaN is rejected; a chain whose
current energy is not finite does not move.
"""
from __future__ import annotations

import functools
import math
import sys
import types
import warnings

import numpy as np

from .._numba.rng import _fill_normals, _fill_uniforms
from ..dynamics import mcmc_kernel
from ..dynamics.mcmc import MarkovKernel

__all__ = ["BatchedLogDensity", "BatchedMover"]

_PATHS = ("likelihood", "geometric")


def _framework_of_module(name):
    root = (name or "").split(".")[0]
    if root in ("jax", "jaxlib"):
        return "jax"
    if root == "torch":
        return "torch"
    return None


def _code_names(code):
    names = set(code.co_names)
    for c in code.co_consts:  # lambdas, comprehensions and nested functions
        if isinstance(c, types.CodeType):
            names |= _code_names(c)
    return names


def _static_framework(fn):
    """"jax" or "torch" when ``fn`` visibly belongs to one (a jitted or transformed
    function, or code referring to the framework's modules, directly or through the
    functions it calls); None when only its output can tell. Looks only if the framework
    is already imported: a function cannot use a module nobody imported."""
    if "jax" not in sys.modules and "torch" not in sys.modules:
        return None
    seen = set()

    def visit(obj, depth):
        if obj is None or depth > 4 or id(obj) in seen:
            return None
        seen.add(id(obj))
        if isinstance(obj, types.ModuleType):
            return _framework_of_module(obj.__name__)
        fw = _framework_of_module(type(obj).__module__)
        if fw:
            return fw
        subs = [getattr(obj, "__wrapped__", None), getattr(obj, "__func__", None)]
        if isinstance(obj, functools.partial):
            subs.append(obj.func)
        g = getattr(obj, "__globals__", None)
        code = getattr(obj, "__code__", None)
        if isinstance(g, dict):
            fw = _framework_of_module(g.get("__name__"))
            if fw:  # a function defined inside jax (jax.vmap's wrapper, jnp.sum)
                return fw
            if code is not None:
                subs += [g[k] for k in _code_names(code) if k in g]
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                subs.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        if callable(obj) and not isinstance(obj, (types.FunctionType, types.MethodType,
                                                  type)):
            subs.append(type(obj).__call__)  # a callable object: its method
        for s in subs:
            if isinstance(s, types.ModuleType) or callable(s):
                fw = visit(s, depth + 1)
                if fw:
                    return fw
        return None

    return visit(fn, 0)


def _framework_of_value(v):
    return _framework_of_module(type(v).__module__) or "numpy"


class BatchedLogDensity:
    """An unnormalized log density evaluated for all chains in one call.

    ``fn(X) -> (n,)``: log f(x_i) of each row of ``X`` (n, d); -inf is zero density.
    ``grad(X) -> (n, d)``, optional: d log f / dx_i. Without it, a JAX or PyTorch
    ``fn`` is differentiated by its framework (module docstring); a NumPy ``fn`` has no
    gradient. ``has_gradient`` is known at once for a jitted or transformed JAX
    function or code that refers to jax/torch, and after the first evaluation for any
    other function (its output's type tells).

    ``value(X)`` and ``value_grad(X)`` return float64 NumPy arrays of shapes (n,) and
    ((n,), (n, d)). Each raises one one-line error naming the function for an output of
    the wrong shape or a non-real dtype (ValueError / TypeError), and ValueError for
    NaN or +inf values (an undefined or infinite density) and for a non-finite gradient
    where the density is finite. ``n_evaluations`` counts one per row per call of
    ``fn`` (a value with its framework gradient is one).
    """

    def __init__(self, fn, *, grad=None, name=None):
        if isinstance(fn, BatchedLogDensity):
            grad = fn.grad if grad is None else grad
            name = name or fn.name
            fn = fn.fn
        if type(fn).__name__ == "LogDensity" and hasattr(fn, "value_grad"):
            raise TypeError(f"{fn!r} is a numba log density of one point; a batched log "
                            "density takes X of shape (n, d): pass the Python function")
        if not callable(fn):
            raise TypeError(f"a batched log density must be callable, got {fn!r}")
        if grad is not None and not callable(grad):
            raise TypeError(f"grad must be callable (X -> (n, d)), got {grad!r}")
        self.fn = fn
        self.grad = grad
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        self.n_evaluations = 0
        self._framework = _static_framework(fn)
        self._vg = None            # the framework's value-and-gradient function
        self._warned_precision = False

    # ---- what it is -----------------------------------------------------------------
    @property
    def framework(self):
        """"numpy", "jax", "torch", or None (not known before the first evaluation)."""
        return self._framework

    @property
    def has_gradient(self):
        return self.grad is not None or self._framework in ("jax", "torch")

    def __repr__(self):
        fw = self._framework or "framework not known yet"
        g = ", with gradient" if self.grad is not None else ""
        return f"BatchedLogDensity({self.name}, {fw}{g})"

    def __call__(self, X):
        return self.value(X)

    # ---- checked evaluation (public) --------------------------------------------------
    def value(self, X):
        """log f of each row of X: a float64 array (n,)."""
        return self._value(X, check=True)

    def value_grad(self, X):
        """(log f (n,), d log f / dX (n, d)), float64."""
        return self._value_grad(X, check=True)

    # ---- evaluation ---------------------------------------------------------------------
    def _input(self, X):
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"batched log density {self.name!r} takes X of shape (n, d), "
                             f"got shape {X.shape}")
        if self._framework == "torch":
            import torch  # the user's function is torch's: it is imported already
            return X, torch.tensor(X, dtype=torch.float64)
        view = X.view()
        view.flags.writeable = False  # the chains' state: the user's function must not edit it
        return X, view

    def _call(self, f, arg):
        out = f(arg)
        if self._framework is None:
            self._framework = _framework_of_value(out)
        return out

    def _as_array(self, out, shape, what, xshape):
        mod = type(out).__module__ or ""
        if mod.split(".")[0] == "torch":
            out = out.detach().cpu().numpy()
        try:
            arr = np.asarray(out)
        except Exception as err:  # noqa: BLE001  (any framework's conversion error)
            raise TypeError(f"batched log density {self.name!r}: its {what} "
                            f"({type(out).__name__}) is not an array: {err}") from None
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"batched log density {self.name!r} returned {what} of dtype "
                            f"{arr.dtype}; it must be real numbers (float64)")
        if arr.shape != shape:
            raise ValueError(f"batched log density {self.name!r} returned {what} of shape "
                             f"{arr.shape} for X of shape {xshape}; expected "
                             f"{shape}")
        if arr.dtype.kind == "f" and arr.dtype.itemsize < 8 and not self._warned_precision:
            self._warned_precision = True
            hint = (" (JAX computes in float32 unless jax.config.update("
                    "'jax_enable_x64', True) is set)") if self._framework == "jax" else ""
            warnings.warn(f"batched log density {self.name!r} returns {arr.dtype}: "
                          f"Metropolis-Hastings ratios carry its rounding{hint}",
                          stacklevel=4)
        return np.array(arr, dtype=np.float64)  # a copy: never a view of framework memory

    def _check_values(self, v, X):
        bad = np.isnan(v) | (v == np.inf)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            kind = "NaN" if np.isnan(v[i]) else "+inf"
            raise ValueError(f"batched log density {self.name!r} returned {kind} at "
                             f"{int(bad.sum())} of {v.size} points (first: row {i}, "
                             f"x = {np.array2string(X[i], precision=4)}); return -inf "
                             "for zero density")

    def _check_grad(self, v, g, X):
        bad = np.isfinite(v) & ~np.all(np.isfinite(g), axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"gradient of batched log density {self.name!r} is not finite "
                             f"at {int(bad.sum())} of {v.size} points where the density is "
                             f"(first: row {i}, x = {np.array2string(X[i], precision=4)})")

    def _value(self, X, check):
        X, arg = self._input(X)
        n = X.shape[0]
        out = self._call(self.fn, arg)
        self.n_evaluations += n
        v = self._as_array(out, (n,), "log f", X.shape)
        if check:
            self._check_values(v, X)
        return v

    def _value_grad(self, X, check):
        X, arg = self._input(X)
        n = X.shape[0]
        if self.grad is not None:
            out = self._call(self.fn, arg)
            gout = self.grad(arg)
        else:
            if self._framework is None:  # only the output tells; evaluate once to see
                self._call(self.fn, arg)
                self.n_evaluations += n
                X, arg = self._input(X)
            if self._framework not in ("jax", "torch"):
                raise TypeError(f"batched log density {self.name!r} has no gradient: pass "
                                "grad=(X -> (n, d) array of d log f/dX), or write it in "
                                "JAX or PyTorch")
            out, gout = self._framework_value_grad(arg)
        self.n_evaluations += n
        v = self._as_array(out, (n,), "log f", X.shape)
        g = self._as_array(gout, X.shape, "gradient", X.shape)
        if check:
            self._check_values(v, X)
            self._check_grad(v, g, X)
        return v, g

    def _framework_value_grad(self, arg):
        if self._framework == "torch":
            import torch
            xt = arg.detach().clone().requires_grad_(True)
            v = self.fn(xt)
            if not isinstance(v, torch.Tensor) or v.shape != (xt.shape[0],):
                return v, np.zeros(tuple(xt.shape))  # reported by the shape check
            (g,) = torch.autograd.grad(v.sum(), xt, allow_unused=True)
            return v, (torch.zeros_like(xt) if g is None else g)
        if self._vg is None:
            self._vg = _jax_value_grad(self.fn)
        try:
            return self._vg(arg)
        except Exception as err:  # jax's tracing errors have many types
            raise TypeError(f"JAX could not differentiate batched log density "
                            f"{self.name!r} ({type(err).__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else ''}); pass grad= "
                            "or write it in jax.numpy") from err


def _jax_value_grad(fn):
    """X -> (f(X), d sum f / dX) by one forward and one reverse pass, jitted; eager if
    the function cannot be traced under jit (Python control flow on values)."""
    import jax  # the user's function is JAX's: it is imported already
    import jax.numpy as jnp

    def vg(X):
        v, pull = jax.vjp(fn, X)
        return v, pull(jnp.ones_like(v))[0]

    jitted = jax.jit(vg)
    state = {"f": None}

    def call(X):
        if state["f"] is not None:
            return state["f"](X)
        try:
            out = jitted(X)
            state["f"] = jitted
        except Exception:  # noqa: BLE001  (not traceable under jit: try eagerly)
            out = vg(X)
            state["f"] = vg
        return out
    return call


class BatchedMover:
    """Metropolis-Hastings moves of all chains at once on the path between two batched
    log densities (module docstring: U(x, t) = a + t b, proposals, acceptance).

    ``BatchedMover(f0, f1, path, kernel)``: ``f0``, ``f1`` are
    :class:`BatchedLogDensity` (or plain callables, wrapped); ``path`` is "likelihood"
    (f_t = f0 f1^t: f0 the prior, f1 the likelihood) or "geometric"
    (f_t = f0^(1-t) f1^t: f1 the target); ``kernel`` is ``nq.kernels.RandomWalk``,
    ``nq.kernels.MALA`` or ``nq.kernels.HMC`` (its ``n_moves``, ``step_size`` when a
    number, and HMC's ``n_leapfrog`` are the defaults of :meth:`move`).

    Each proposal (each leapfrog step for HMC) is one call of f0 and one of f1 (with
    their gradients for MALA and HMC) on all n chains at once; every call has all n
    rows, so a jitted function sees one shape. ``n_evaluations`` counts the points at
    which the path density was evaluated (f0 and f1 at the same x count one).
    """

    def __init__(self, f0, f1, path, kernel):
        self.f0 = f0 if isinstance(f0, BatchedLogDensity) else BatchedLogDensity(f0)
        self.f1 = f1 if isinstance(f1, BatchedLogDensity) else BatchedLogDensity(f1)
        if path not in _PATHS:
            raise ValueError(f"path must be 'likelihood' or 'geometric', got {path!r}")
        self.path = path
        if not isinstance(kernel, MarkovKernel) or kernel._proposal not in (
                mcmc_kernel.RWM, mcmc_kernel.MALA, mcmc_kernel.HMC):
            raise TypeError("kernel must be nq.kernels.RandomWalk, nq.kernels.MALA or "
                            f"nq.kernels.HMC, got {kernel!r}")
        self.kernel = kernel
        self._proposal = kernel._proposal
        self.needs_gradient = self._proposal != mcmc_kernel.RWM
        self.n_leapfrog = int(getattr(kernel, "n_leapfrog", 1))
        if self.needs_gradient:
            for f in (self.f0, self.f1):
                if f.framework == "numpy" and not f.has_gradient:
                    raise TypeError(f"{type(kernel).__name__} needs the gradient of "
                                    f"batched log density {f.name!r}: pass grad= or write "
                                    "it in JAX or PyTorch")
        self._n_eval = 0
        self._gcache = None  # (X, ga, gb) of the last move: its gradients, reused if X is

    @property
    def n_evaluations(self):
        """Points at which the path density (f0 and f1) was evaluated, one per chain
        per call."""
        return self._n_eval

    # ---- energies ---------------------------------------------------------------------
    @staticmethod
    def energy(a, b, t):
        """U(x, t) = a + t b with the path's limits kept: at t = 0, U = a (never
        0 * inf); where a or b is +inf (a zero density) and the sum is undefined, +inf."""
        a = np.asarray(a, dtype=np.float64)
        if t == 0:
            return a.copy()
        with np.errstate(invalid="ignore", over="ignore"):
            u = a + t * np.asarray(b, dtype=np.float64)
        nan = np.isnan(u)
        if nan.any():
            u[nan & ((a == np.inf) | (np.asarray(b) == np.inf))] = np.inf
        return u

    def _split(self, l0, l1):
        a = -l0
        if self.path == "likelihood":
            b = -l1
        else:
            with np.errstate(invalid="ignore"):
                b = l0 - l1
            b[l0 == -np.inf] = np.inf  # f0 = 0: U = +inf all along the path (docstring)
        return a, b

    def _split_grad(self, g0, g1):
        return -g0, (-g1 if self.path == "likelihood" else g0 - g1)

    @staticmethod
    def _grad_u(ga, gb, t):
        return ga.copy() if t == 0 else ga + t * gb

    def components(self, X):
        """(a, b), float64 arrays (n,), of the rows of X: U(x, t) = a + t b.
        Likelihood path: a = -log f0, b = -log f1; geometric: a = -log f0,
        b = log f0 - log f1. Raises ValueError where a density is NaN or +inf."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        l0 = self.f0._value(X, check=True)
        l1 = self.f1._value(X, check=True)
        self._n_eval += X.shape[0]
        return self._split(l0, l1)

    def _eval(self, X):
        """(a, b) at proposals: NaN or +inf log densities pass (they are rejections)."""
        l0 = self.f0._value(X, check=False)
        l1 = self.f1._value(X, check=False)
        self._n_eval += X.shape[0]
        return self._split(l0, l1)

    def _eval_grad(self, X):
        """(a, b, grad a, grad b) at proposals, unchecked (rejections, not errors)."""
        l0, g0 = self.f0._value_grad(X, check=False)
        l1, g1 = self.f1._value_grad(X, check=False)
        self._n_eval += X.shape[0]
        a, b = self._split(l0, l1)
        ga, gb = self._split_grad(g0, g1)
        return a, b, ga, gb

    # ---- moves ------------------------------------------------------------------------
    def move(self, X, a, b, rng, t, eps=None, n_moves=None, *, block=None):
        """``n_moves`` Metropolis-Hastings moves of every chain (row of X) targeting
        exp(-(a + t b)) with step size ``eps``; X (n, d), a, b (n,) float64 and the
        streams ``rng`` ((n, 4) uint64, row i chain i's xoshiro256++ state) are updated
        in place. Returns the accepted count per chain, int64 (n,).

        ``eps`` and ``n_moves`` default to the kernel's. ``block``: chains per call of
        the densities (memory); the numbers do not depend on it (each chain's stream is
        its own)."""
        n_moves = self.kernel.n_moves if n_moves is None else n_moves
        if isinstance(n_moves, bool) or int(n_moves) != n_moves or n_moves < 1:
            raise ValueError(f"n_moves must be an integer >= 1, got {n_moves!r}")
        n_moves = int(n_moves)
        if eps is None:
            eps = self.kernel.step_size
            if not isinstance(eps, float):
                raise ValueError(f"{self.kernel!r} has no single step size; pass eps")
        try:
            eps = float(eps)
        except (TypeError, ValueError):
            eps = math.nan
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"t must be finite, got {t!r}")
        self._check_state(X, a, b, rng)
        n = X.shape[0]
        acc = np.zeros(n, dtype=np.int64)
        if n == 0:
            return acc
        g, fresh = None, False
        if self.needs_gradient:
            c = self._gcache
            if c is not None and c[0].shape == X.shape and np.array_equal(c[0], X):
                g = (c[1], c[2])  # the last move ended here: its gradients still hold
            else:
                g, fresh = (np.empty_like(X), np.empty_like(X)), True
        block = n if not block else max(1, int(block))
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            for lo in range(0, n, block):
                hi = min(n, lo + block)
                gb = None if g is None else (g[0][lo:hi], g[1][lo:hi])
                acc[lo:hi] = self._move_block(X[lo:hi], a[lo:hi], b[lo:hi], rng[lo:hi],
                                              t, eps, n_moves, gb, fresh)
        if g is not None:
            self._gcache = (X.copy(), g[0], g[1])
        return acc

    @staticmethod
    def _check_state(X, a, b, rng):
        def ok(arr, dtype, shape):
            return (isinstance(arr, np.ndarray) and arr.dtype == dtype and arr.shape == shape
                    and arr.flags.c_contiguous and arr.flags.writeable)
        if not (isinstance(X, np.ndarray) and X.ndim == 2):
            raise ValueError(f"X must be an (n, d) array, got {getattr(X, 'shape', X)!r}")
        n = X.shape[0]
        for nm, arr, dt, shape in (("X", X, np.float64, X.shape), ("a", a, np.float64, (n,)),
                                   ("b", b, np.float64, (n,)),
                                   ("rng", rng, np.uint64, (n, 4))):
            if not ok(arr, dt, shape):
                raise ValueError(f"{nm} must be a writeable C-contiguous {np.dtype(dt)} "
                                 f"array of shape {shape} (it is updated in place), got "
                                 f"{getattr(arr, 'dtype', type(arr))} "
                                 f"{getattr(arr, 'shape', '')}")

    def _move_block(self, X, a, b, rng, t, eps, n_moves, g, fresh):
        """The moves of one block of chains (all arrays are views, updated in place)."""
        n, d = X.shape
        z = np.empty((n, d))
        u = np.empty((n, 1))
        acc = np.zeros(n, dtype=np.int64)
        if g is not None and fresh:
            # the gradient at the current points (not carried over from the last move)
            _, _, ga0, gb0 = self._eval_grad(X)
            g[0][:], g[1][:] = ga0, gb0
        for _ in range(n_moves):
            ux = self.energy(a, b, t)
            live = np.isfinite(ux)  # zero density (weight zero) or broken: never moves
            _fill_normals(rng, z)
            if self._proposal == mcmc_kernel.RWM:
                y = np.where(live[:, None], X + eps * z, X)
                ay, by = self._eval(y)
                uy = self.energy(ay, by, t)
                log_a = ux - uy
            elif self._proposal == mcmc_kernel.MALA:
                gx = self._grad_u(g[0], g[1], t)
                # chains that do not move propose their own point: the user's function
                # never sees the garbage their (unused) gradients would make
                y = np.where(live[:, None], X - (0.5 * eps * eps) * gx + eps * z, X)
                ay, by, gay, gby = self._eval_grad(y)
                uy = self.energy(ay, by, t)
                log_a = ux - uy + _mala_log_q(X, y, z, self._grad_u(gay, gby, t), eps)
            else:
                y, ay, by, gay, gby, uy, k_diff = self._leapfrog(X, a, b, g, ux, live, z,
                                                                 t, eps)
                log_a = ux - uy - k_diff
            _fill_uniforms(rng, u)
            # NaN log alpha fails both comparisons: a rejection, like the numba kernels
            ok = live & np.isfinite(uy) & (
                (log_a >= 0.0) | (u[:, 0] < np.exp(np.minimum(log_a, 0.0))))
            X[ok] = y[ok]
            a[ok] = ay[ok]
            b[ok] = by[ok]
            if g is not None:
                g[0][ok] = gay[ok]
                g[1][ok] = gby[ok]
            acc += ok
        return acc

    def _leapfrog(self, X, a, b, g, ux, live, p0, t, eps):
        """n_leapfrog leapfrog steps from (X, p0) on H = U + |p|^2/2. A chain whose
        energy turns non-finite stops there (its proposal is then rejected), as in
        the numba kernel. Returns the end point, its components and gradients, its
        energy, and |p'|^2/2 - |p0|^2/2."""
        p = p0.copy()
        y = X.copy()
        ay, by = a.copy(), b.copy()
        gay, gby = g[0].copy(), g[1].copy()
        gy = self._grad_u(gay, gby, t)
        uy = ux.copy()
        run = live.copy()
        h = 0.5 * eps
        for _ in range(self.n_leapfrog):
            r = run[:, None]
            p = np.where(r, p - h * gy, p)
            y = np.where(r, y + eps * p, y)
            al, bl, gal, gbl = self._eval_grad(y)
            ul = self.energy(al, bl, t)
            uy = np.where(run, ul, uy)
            ay = np.where(run, al, ay)
            by = np.where(run, bl, by)
            gay = np.where(r, gal, gay)
            gby = np.where(r, gbl, gby)
            run = run & np.isfinite(ul)
            r = run[:, None]
            gy = np.where(r, self._grad_u(gal, gbl, t), gy)
            p = np.where(r, p - h * gy, p)
        k_diff = 0.5 * (np.einsum("ij,ij->i", p, p) - np.einsum("ij,ij->i", p0, p0))
        return y, ay, by, gay, gby, uy, k_diff


def _mala_log_q(x, y, z, gy, eps):
    """log q(x|y) - log q(y|x) of the MALA proposal y = x - (eps^2/2) G(x) + eps z: the
    forward residual is eps z, the reverse one x - y + (eps^2/2) G(y)."""
    r = x - y + (0.5 * eps * eps) * gy
    return -np.einsum("ij,ij->i", r, r) / (2.0 * eps * eps) + 0.5 * np.einsum("ij,ij->i", z, z)
