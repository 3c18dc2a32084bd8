"""CUDA plumbing, no physics: availability, device copies of Python functions, and kernels
compiled without fused multiply-add contraction.

numba-cuda is an optional extra (``pip install neqsim[cuda]``) and importing it costs
about a second, so nothing here imports it before a CUDA kernel is asked for.

* :func:`cuda_module` returns ``numba.cuda`` or raises :class:`CudaUnavailable`, one
  error saying what is missing (numba-cuda, or a GPU; ``NUMBA_ENABLE_CUDASIM=1`` runs
  the same kernels on numba-cuda's simulator, in Python, without a GPU).
* :func:`device_copy` turns a Python function (or a numba CPU dispatcher) into a CUDA
  device function compiled from the same Python source, with every function it calls
  (globals and closure values that are numba dispatchers or plain functions) copied the
  same way, recursively: a user's ``energy_grad`` becomes a device function unchanged.
* :func:`cuda_kernel` compiles a kernel template with its constants and device copies
  bound as globals. By default NVVM contracts ``a * b + c`` into one fused multiply-add
  (``-fma=1``: its default whatever ``fastmath`` says), which rounds once instead of
  twice and changes the last bits relative to the CPU; numba-cuda exposes no option for
  it, so the kernel's NVVM compilation runs with ``-fma=0`` passed through
  :func:`numba.cuda.cudadrv.nvvm.compile_ir` (``fma=True`` restores NVVM's default).
  Device functions are linked into the kernel's module and compiled with it, so the
  user's potential is compiled without contraction as well.

(The module is not called ``cuda.py``: numba-cuda's import redirector claims every module
whose dotted name contains "numba.cuda", and ``neqsim._numba.cuda`` would recurse in it.)
"""
from __future__ import annotations

import contextlib
import os
import threading
import types as pytypes

from .specialize import _names, rebuilt

__all__ = ["CudaUnavailable", "cuda_module", "simulated", "device_copy", "device_function",
           "cuda_kernel", "fma_contraction", "compiling_for", "CudaKernel", "INSTALL_HINT"]

INSTALL_HINT = ("install numba-cuda (pip install 'neqsim[cuda]', which also needs the CUDA "
                "runtime: pip install 'numba-cuda[cu12]' brings it), or set "
                "NUMBA_ENABLE_CUDASIM=1 before importing numba to run the CUDA kernels on "
                "numba-cuda's simulator (slow, Python; for tests)")

_SKIP_MODULES = ("numpy", "math", "numba", "scipy", "cmath", "builtins", "llvmlite")


class CudaUnavailable(RuntimeError):
    """device="cuda" was asked for, but numba-cuda or a GPU is missing."""


def simulated():
    """True when numba-cuda's simulator replaces the GPU (NUMBA_ENABLE_CUDASIM=1)."""
    from numba.core import config
    return bool(getattr(config, "ENABLE_CUDASIM", 0)) or \
        os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def cuda_module(device=True):
    """``numba.cuda`` with a usable device (or the simulator), else one CudaUnavailable
    naming what is missing and what to do. ``device=False``: numba-cuda alone (enough to
    build kernels and compile them to PTX)."""
    import importlib.util
    if importlib.util.find_spec("numba_cuda") is None:  # numba's own numba.cuda is deprecated
        raise CudaUnavailable(f"device='cuda' needs numba-cuda, which is not installed: "
                              f"{INSTALL_HINT}")
    try:
        from numba import cuda
    except ImportError as e:
        raise CudaUnavailable(f"device='cuda': numba-cuda does not import ({e}); "
                              f"{INSTALL_HINT}") from None
    if simulated() or not device:
        return cuda
    try:
        ok = cuda.is_available()
    except Exception as e:  # a broken driver or runtime: say which
        raise CudaUnavailable(f"device='cuda': the CUDA driver failed ({type(e).__name__}: "
                              f"{e}); {INSTALL_HINT}") from None
    if not ok:
        raise CudaUnavailable("device='cuda': numba-cuda finds no usable GPU (no NVIDIA "
                              "driver or device, or no CUDA runtime: pip install "
                              "'neqsim[cuda]' 'numba-cuda[cu12]'). Run on a machine with "
                              "one, use device='cpu', or set NUMBA_ENABLE_CUDASIM=1 before "
                              "importing numba to run the CUDA kernels on numba-cuda's "
                              "simulator (slow, Python; for tests)")
    return cuda


# --- device copies ------------------------------------------------------------------------

def _copyable(v):
    from numba.core.dispatcher import Dispatcher
    if type(v).__module__.startswith("numba.cuda"):  # a device function already
        return False
    return isinstance(v, Dispatcher) or (isinstance(v, pytypes.FunctionType)
                                         and not v.__module__.startswith(_SKIP_MODULES)) \
        or (hasattr(v, "dispatcher") and hasattr(v, "py_func"))  # a LazyKernel


_COPIES = {}
_COPIES_LOCK = threading.Lock()


def device_copy(fn):
    """A CUDA device function compiled from ``fn``'s Python source (``fn`` a function, a
    numba dispatcher or a LazyKernel), the functions it calls copied likewise. One copy
    per function object and process."""
    with _COPIES_LOCK:
        hit = _COPIES.get(id(fn))
        if hit is not None and hit[0] is fn:
            return hit[1]
        try:
            out = _copy(fn, {})
        except RecursionError:
            raise ValueError(f"{getattr(fn, '__name__', fn)!r} calls itself (directly or "
                             "through the functions it calls); CUDA device functions "
                             "cannot recurse: write it as a loop") from None
        _COPIES[id(fn)] = (fn, out)
        return out


# numpy's scalar math functions that numba-cuda lacks (its NumPy ufunc table has no
# exp, sqrt, ...): in device copies ``np.exp(x)`` is ``math.exp(x)``, which numba's CPU
# target compiles to the same code as np.exp on a scalar
_MATH_FOR_NP = {"exp": "exp", "expm1": "expm1", "log": "log", "log1p": "log1p",
                "log2": "log2", "log10": "log10", "sqrt": "sqrt", "sin": "sin",
                "cos": "cos", "tan": "tan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
                "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
                "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
                "hypot": "hypot", "floor": "floor", "ceil": "ceil", "fabs": "fabs",
                "copysign": "copysign", "isnan": "isnan", "isinf": "isinf",
                "isfinite": "isfinite", "power": "pow", "erf": "erf"}


def _numpy_for_devices():
    import math

    import numpy as np
    mod = pytypes.ModuleType("numpy")  # numba resolves a module's attributes by name
    mod.__dict__.update({k: v for k, v in vars(np).items() if not k.startswith("__")})
    for k, m in _MATH_FOR_NP.items():
        if hasattr(math, m):
            setattr(mod, k, getattr(math, m))
    mod.abs = mod.absolute = abs
    return mod


_NP_DEVICE = []


def rebind(py, glb_extra=None, memo=None):
    """``py`` (a plain function) with the callable globals and closure values it names
    replaced by device copies (numpy by a numpy whose scalar math functions are math's),
    and ``glb_extra`` added to its globals."""
    import numpy as np
    memo = {} if memo is None else memo
    glb = dict(py.__globals__)
    for name in _names(py.__code__):
        v = glb.get(name)
        if v is np:
            if not _NP_DEVICE:
                _NP_DEVICE.append(_numpy_for_devices())
            glb[name] = _NP_DEVICE[0]
        elif _copyable(v):
            glb[name] = _copy(v, memo)
    glb.update(glb_extra or {})
    return rebuilt(py, glb, lambda v: _copy(v, memo), _copyable)


def _copy(fn, memo):
    from numba import cuda
    py = getattr(fn, "py_func", fn)
    if not isinstance(py, pytypes.FunctionType):
        return fn
    if id(py) in memo:
        if memo[id(py)] is None:  # still being copied: a recursive call
            raise RecursionError
        return memo[id(py)]
    memo[id(py)] = None
    out = memo[id(py)] = cuda.jit(device=True)(rebind(py, memo=memo))
    return out


def device_function(template, constants):
    """A CUDA device function from ``template`` (a plain function) with ``constants``
    bound as its globals (callables among them as device copies) and ``cuda`` bound to
    numba.cuda: for device twins of CPU helpers that use CPU-only intrinsics."""
    cuda = cuda_module(device=False)
    extra = {k: device_copy(v) if _copyable(v) else v for k, v in constants.items()}
    extra["cuda"] = cuda
    return cuda.jit(device=True)(rebind(template, extra))


# --- kernels without FMA contraction ------------------------------------------------------

_FMA_LOCK = threading.RLock()


@contextlib.contextmanager
def fma_contraction(enabled):
    """NVVM compilations in this block run with ``-fma=1`` (``enabled``) or ``-fma=0``.

    numba-cuda passes its kernels' options to ``nvvm.compile_ir`` and never sets ``fma``
    unless ``fastmath=True``, and NVVM contracts by default; this wraps the function its
    code generator calls, for this block (a lock keeps concurrent compiles apart)."""
    from numba.cuda.cudadrv import nvvm
    with _FMA_LOCK:
        orig = nvvm.compile_ir

        def compile_ir(llvmir, **options):
            if not options.get("fastmath"):
                options.setdefault("fma", bool(enabled))
            return orig(llvmir, **options)
        nvvm.compile_ir = compile_ir
        try:
            yield
        finally:
            nvvm.compile_ir = orig


@contextlib.contextmanager
def compiling_for(cc):
    """Device functions compile for the current GPU's compute capability; without a GPU
    (PTX for inspection only), for ``cc`` in this block."""
    from numba import cuda
    from numba.cuda import dispatcher
    if cuda.is_available():
        yield
        return
    with _FMA_LOCK:
        saved = dispatcher.get_current_device
        dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(
            compute_capability=tuple(cc))
        try:
            yield
        finally:
            dispatcher.get_current_device = saved


class CudaKernel:
    """A CUDA kernel compiled on first launch (for the argument types of that launch),
    with NVVM's FMA contraction off unless ``fma``. ``launch(n, *args)`` runs one thread
    per trajectory 0..n-1 in blocks of ``threads`` (the numbers do not depend on it)."""

    def __init__(self, py, *, fma=False, label="kernel", threads=128):
        self.cuda = cuda_module(device=False)
        self.py_func = py
        self.fma = bool(fma)
        self.label = label
        self.spec = pytypes.SimpleNamespace(label=label)  # what the driver reports
        self.threads = int(threads)
        self.dispatcher = self.cuda.jit(fastmath=False)(py)
        self._compiled = False
        self.compile_s = None
        self.will_compile = True
        self.loaded_from_cache = False
        self.key = None
        self._lock = threading.Lock()

    def ptx(self, args, cc=(9, 0)):
        """The PTX this kernel compiles to for arguments like ``args`` (host arrays and
        scalars) on compute capability ``cc``: needs NVVM (the CUDA toolkit's, or the
        nvidia-cuda-nvcc wheel), not a GPU. What the tests and benchmarks read for
        fused multiply-adds (``fma.rn.f64``)."""
        import numba
        sig = tuple(numba.typeof(a) for a in args)
        with compiling_for(cc), fma_contraction(self.fma):
            ptx, _ = self.cuda.compile_ptx(self.py_func, sig, cc=cc)
        return ptx

    def launch(self, n, *args, threads=None):
        t = int(threads or self.threads)
        grid = max(1, (int(n) + t - 1) // t)
        if self._compiled:
            # inside the FMA setting too: new argument types would compile again
            with fma_contraction(self.fma):
                self.dispatcher[grid, t](*args)
            return
        import time
        with self._lock, fma_contraction(self.fma):
            t0 = time.perf_counter()
            self.dispatcher[grid, t](*args)
            if not simulated():
                self.cuda.synchronize()
            self.compile_s = time.perf_counter() - t0
            self._compiled = True
            self.will_compile = False


def cuda_kernel(template, constants=None, *, source=None, name=None, fma=False,
                label="kernel", threads=128):
    """:class:`CudaKernel` of ``template`` (a plain function of a ``*_cuda`` module) or of
    generated ``source`` defining ``name`` (executed with the template's globals), with
    ``constants`` bound as globals and every function it calls replaced by a device copy
    (:func:`device_copy`)."""
    cuda = cuda_module(device=False)  # launching checks for a device
    consts = constants or {}
    memo_key = (id(template), source, name, bool(fma), threads,
                tuple(sorted((k, ("id", id(v)) if callable(v) else repr(v))
                             for k, v in consts.items())))
    with _KERNELS_LOCK:
        hit = _KERNELS.get(memo_key)
    if hit is not None:
        return hit[0]
    glb = dict(template.__globals__)
    glb.update(constants or {})
    glb["cuda"] = cuda
    if source is not None:
        code = compile(source, f"<neqsim cuda {name}>", "exec")
        exec(code, glb)
        py = glb[name]
    else:
        py = pytypes.FunctionType(template.__code__, glb, template.__name__,
                                  template.__defaults__, template.__closure__)
    for k in _names(py.__code__):
        if _copyable(glb.get(k)):
            glb[k] = device_copy(glb[k])
    kern = CudaKernel(py, fma=fma, label=label, threads=threads)
    with _KERNELS_LOCK:
        # the constants (potentials) are kept alive with the kernel: their ids stay unique
        _KERNELS.setdefault(memo_key, (kern, template, tuple(consts.values())))
        return _KERNELS[memo_key][0]


_KERNELS = {}
_KERNELS_LOCK = threading.Lock()
