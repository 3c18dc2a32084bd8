"""Kernels recompiled with the potential inlined and the dimension a constant.

The generic kernels take the potential as a first-class function pointer and are
compiled once (cached on disk). :func:`specialized` compiles the same source again per
process, with ``abi.ndim`` replaced by a constant and without a signature, so the
potential's adapter arrives as a dispatcher that LLVM inlines; the arithmetic is the
same, so the results are bit-identical to the generic kernel's (tested).
"""
import types as pytypes

from numba import njit

from .abi import ndim as _generic_ndim  # noqa: F401  (the name kernels call)

__all__ = ["specialized"]

_COMPILED = {}


def specialized(func, key, dim, globals_extra=None, source=None, name=None):
    """``func`` (a plain kernel function) compiled with ``ndim(x) == dim`` and
    ``parallel=True``, once per ``key``. ``source`` (code text defining ``name``)
    replaces ``func``'s own code, e.g. a splitting unrolled for one sub-step sequence."""
    fn = _COMPILED.get(key)
    if fn is None:
        const = int(dim)
        glb = dict(func.__globals__)
        glb["ndim"] = njit(inline="always")(lambda x: const)
        if globals_extra:
            glb.update(globals_extra)
        if source is not None:
            exec(compile(source, f"<neqsim {name}>", "exec"), glb)
            py = glb[name]
        else:
            py = pytypes.FunctionType(func.__code__, glb, func.__name__, func.__defaults__,
                                      func.__closure__)
        fn = _COMPILED[key] = njit(parallel=True)(py)
    return fn
