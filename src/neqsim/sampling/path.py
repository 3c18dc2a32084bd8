"""The AIS path as a :class:`neqsim.System`: U(x, t) = -log f_t(x) from two log densities.

``path="likelihood"``: f_t = prior * likelihood^t; ``path="geometric"``:
f_t = f_0^(1-t) f_N^t. Compiled once per (densities, dim, path kind, gradient).
"""
from __future__ import annotations

import numpy as np
from numba import carray, njit

from .._numba.abi import ENERGY_GRAD_SIG, POINTER_SIG
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
            ga = np.empty(x.shape[0])
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
    system = System(njit(ENERGY_GRAD_SIG)(eg), dim, 1, name=name, control_names=("t",),
                    params={"path": path})
    if not need_gradient:
        # log f0 and log f1 of a point, for the random walk's cached-density kernel
        def components(xp, op, sp):
            xv, sv, ov = carray(xp, (dim,)), carray(sp, (dim,)), carray(op, (2,))
            ov[0] = a(xv, sv)
            ov[1] = b(xv, sv)
            return 0.0
        system.path_components = njit(POINTER_SIG)(components)
    return system
