"""What the AIS targets share: the conventions of their numba log densities and helpers.

* An unnormalized log density is a numba ``@njit`` function ``log_f(x) -> float`` of a
  1-D contiguous float64 array ``x``; where a gradient exists there is also
  ``log_f_grad(x, grad_out) -> float``, which returns the same value and writes
  d log f / dx into ``grad_out`` (same length as ``x``). Both raise ``ValueError`` when
  ``x`` has the wrong length.
* Data (matrices, vectors) are captured by closure, so numba freezes them into the
  machine code as constants: each factory call builds (and, on first call, compiles)
  its own functions. Nothing is cached to disk (closures cannot be).
* Problems are frozen dataclasses with plain-numpy fields (arrays are read-only).
* ``log`` is the natural logarithm throughout; samplers take a ``numpy.random.Generator``.
"""
import math

import numba
import numpy as np

__all__ = ["evaluate", "LOG_2PI"]

LOG_2PI = math.log(2.0 * math.pi)


def _frozen(a, dtype=np.float64):
    a = np.array(a, dtype=dtype, copy=True, order="C")
    a.setflags(write=False)
    return a


def _as_rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


@numba.njit(cache=False)
def _evaluate(fn, X):
    out = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        out[i] = fn(X[i])
    return out


def evaluate(log_f, X):
    """log_f evaluated on each row of X ((n, dim) array, or (n,) when dim == 1) -> (n,) array.

    Runs a compiled loop (compiled once per distinct ``log_f``).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    return _evaluate(log_f, np.ascontiguousarray(X))
