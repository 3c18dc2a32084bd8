"""Log densities written as plain Python functions: compiled by numba for the kernels
(one point per call), or batched (all chains per call; :mod:`.batched`)."""
from __future__ import annotations

import inspect

import numpy as np
from numba import njit
from numba.core.errors import NumbaError

from ..systems.checks import check_compiles, short_traceback
from .batched import BatchedLogDensity

__all__ = ["BatchedLogDensity", "LogDensity", "log_density"]


class LogDensity:
    """An unnormalized log density log f(x) compiled by numba, with its gradient if the
    function takes a second argument ``(x, grad)`` and writes d log f / dx into it."""

    def __init__(self, fn, *, name=None):
        if isinstance(fn, LogDensity):
            fn = fn.py_func
        py = getattr(fn, "py_func", fn)
        n_args = len(inspect.signature(py).parameters)
        if n_args not in (1, 2):
            raise TypeError(f"a log density takes (x) or (x, grad), got {n_args} arguments")
        self.py_func = py
        self.name = name or py.__name__
        self.has_gradient = n_args == 2
        jitted = fn if hasattr(fn, "py_func") else njit(py)
        self.jitted = jitted
        if self.has_gradient:
            self.value_grad = jitted
        else:
            f = jitted

            @njit
            def value_only(x, grad):
                return f(x)
            self.value_grad = value_only

    @short_traceback
    def __call__(self, x, grad=None):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if grad is None:
            grad = np.empty_like(x)
        try:
            return self.value_grad(x, grad)
        except NumbaError:
            # numba's own error runs to dozens of lines; the check names the user's line
            check_compiles(self.py_func, "log_density_grad" if self.has_gradient
                           else "log_density", self.name)
            raise

    def __repr__(self):
        return f"LogDensity({self.name}{', with gradient' if self.has_gradient else ''})"


def log_density(fn=None, *, name=None, batched=False, grad=None):
    """Decorator: ``@nq.log_density`` on ``log_f(x)`` or ``log_f(x, grad)`` (one point,
    compiled by numba: a :class:`LogDensity`).

    ``batched=True``, or a ``grad``: ``log_f(X) -> (n,)`` evaluates every row of X
    (n, d) in one Python call (NumPy, JAX or PyTorch), with ``grad(X) -> (n, d)``
    = d log f / dX when given (JAX and PyTorch functions are differentiated by their
    framework otherwise): a :class:`BatchedLogDensity`."""
    if batched or grad is not None:
        def make(f):
            return BatchedLogDensity(f, grad=grad, name=name)
    else:
        def make(f):
            return LogDensity(f, name=name)
    if fn is None:
        return make
    return make(fn)
