"""Kernels compiled on first use, never at import.

``@lazy_kernel(signature, parallel=True)`` returns a :class:`LazyKernel`: importing the
module that defines it costs nothing, and the first call compiles it with numba (or loads
it from numba's on-disk cache, see :mod:`.cache`). Importing neqsim therefore compiles
nothing, and a process pays only for the kernels it runs.
"""
import threading

from numba import njit

__all__ = ["LazyKernel", "lazy_kernel"]

_LOCK = threading.RLock()


class LazyKernel:
    """A numba dispatcher built on first call from ``py_func``, ``signature`` and
    ``options`` (passed to ``numba.njit``; ``cache=True`` unless given)."""

    def __init__(self, py_func, signature=None, **options):
        self.py_func = py_func
        self.signature = signature
        self.options = dict({"cache": True}, **options)
        self._dispatcher = None
        self.__name__ = py_func.__name__
        self.__qualname__ = getattr(py_func, "__qualname__", py_func.__name__)
        self.__doc__ = py_func.__doc__
        self.__module__ = py_func.__module__

    @property
    def dispatcher(self):
        """The compiled numba dispatcher (compiled or loaded now if not yet)."""
        d = self._dispatcher
        if d is None:
            with _LOCK:
                d = self._dispatcher
                if d is None:
                    if self.signature is None:
                        d = njit(**self.options)(self.py_func)
                    else:
                        d = njit(self.signature, **self.options)(self.py_func)
                    self._dispatcher = d
        return d

    @property
    def compiled(self):
        return self._dispatcher is not None

    def __call__(self, *args):
        return self.dispatcher(*args)

    def __repr__(self):
        state = "compiled" if self.compiled else "not compiled yet"
        return f"<LazyKernel {self.__qualname__} ({state})>"


def lazy_kernel(signature=None, **options):
    """Decorator form of :class:`LazyKernel`."""
    def wrap(fn):
        return LazyKernel(fn, signature, **options)
    return wrap
