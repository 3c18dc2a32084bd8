"""The AIS path as a :class:`neqsim.System`: U(x, t) = -log f_t(x) from two log densities.

``path="likelihood"``: f_t = prior * likelihood^t; ``path="geometric"``:
f_t = f_0^(1-t) f_N^t. Compiled once per (densities, dim, path kind, gradient).
"""
from __future__ import annotations

from numba import carray

from .._numba.stack import stack_f8
from ..dynamics.path_energy import combine as _combine
from ..systems.system import System

__all__ = ["path_system"]

_PATH_SYSTEMS = {}


def path_system(f0, f1, dim, path, need_gradient):
    """The AIS path as a System, compiled once per (densities, dim, path, gradient)."""
    key = (id(f0), id(f1), int(dim), path, bool(need_gradient))
    hit = _PATH_SYSTEMS.get(key)
    if hit is not None and hit[0] is f0 and hit[1] is f1:
        return hit[2]
    system = _build_path_system(f0, f1, dim, path, need_gradient)
    _PATH_SYSTEMS[key] = (f0, f1, system)
    return system


def _build_path_system(f0, f1, dim, path, need_gradient):
    """U(x, t) = -log f0 - t log f1 (path 'likelihood') or -(1-t) log f0 - t log f1."""
    a, b = f0.value_grad, f1.value_grad
    geometric = path == "geometric"
    if need_gradient and not (f0.has_gradient and f1.has_gradient):
        missing = [f.name for f in (f0, f1) if not f.has_gradient]
        raise ValueError(f"this kernel needs gradients, but {missing} take only x: write "
                         "them as f(x, grad), or use nq.kernels.RandomWalk")
    if need_gradient:
        def eg(x, lam, out):
            t = lam[0]
            ga = carray(stack_f8(dim), (dim,))  # scratch on the stack: no allocation
            va = a(x, ga)
            vb = b(x, out)
            ca = 1.0 - t if geometric else 1.0
            for j in range(x.shape[0]):
                out[j] = -ca * ga[j] - t * out[j]
            return _combine(va, vb, ca, t)
    else:
        def eg(x, lam, out):
            t = lam[0]
            va = a(x, out)
            vb = b(x, out)
            for j in range(x.shape[0]):  # no gradient: never leave garbage for a kernel
                out[j] = 0.0
            ca = 1.0 - t if geometric else 1.0
            return _combine(va, vb, ca, t)
    name = f"ais[{f0.name}*{f1.name}^t]" if not geometric else \
        f"ais[{f0.name}^(1-t)*{f1.name}^t]"
    system = System(eg, dim, 1, name=name, control_names=("t",),
                    params={"path": path})
    system.sources = [(f.py_func, "log_density_grad" if f.has_gradient else "log_density")
                      for f in (f0, f1)]
    if not need_gradient:
        # log f0 and log f1 of a point, for the random walk that keeps them per chain
        system.path_components = (a, b)
    else:
        # the densities, for the CUDA kernels' twin of eg (its stack scratch is CPU-only)
        system.path_densities = (a, b)
    return system
