"""Kernels compiled once per potential, ever: the potential inlined, cached on disk by key.

A kernel template (a plain Python function in a ``*_kernel`` module) is compiled with its
constants (dimension, block size, splitting, ...) and the system's potential bound as
globals. The potential arrives as an ``inline="always"`` copy of the user's Python
function, and so do the functions it calls (:func:`inline_copy`): numba then compiles
the whole step into one function, LLVM sees the potential's arithmetic inside the loop
over the lanes of a block, and the loop vectorizes.

The machine code is cached on disk under a key of everything that determines it
(:func:`function_key` of the potential: its bytecode, constants, closure values and the
functions and values it references, recursively; the kernel and its constants; the
package's source hash; numba's version), so a second process, script or Dask worker
loads it instead of compiling, and an edited potential gets a new key (never stale
code: numba's own cache does not see edits to called functions, numba issue 8396).

Compiling runs LLVM's loop vectorizer in numba's first optimization pass as well (numba
runs it only in the last, after the loops over a potential's dimensions have been
partly unrolled, which stops it); the arithmetic and its order are unchanged (no
fast-math), so the numbers are the same as without it.
"""
from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import sys
import threading
import time
import types as pytypes

import numba
import numpy as np
from numba.core import caching, config
from numba.core.compiler_lock import global_compiler_lock
from numba.core.dispatcher import Dispatcher

from .cache import SOURCE_HASH

__all__ = ["function_key", "inline_copy", "KernelSpec", "specialized_kernel", "cache_root"]

_SKIP_MODULES = ("numpy", "math", "numba", "scipy", "cmath", "builtins", "llvmlite")


# --- what a compiled potential depends on -------------------------------------------------

class Uncacheable(Exception):
    """The potential references something whose value cannot be keyed reliably."""


def _value_key(v, h, memo, depth):
    if depth > 50:
        raise Uncacheable("reference chain too deep")
    if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
        h.update(f"{type(v).__name__}:{v!r};".encode())
    elif isinstance(v, np.ndarray):
        a = np.ascontiguousarray(v)
        h.update(f"nd:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    elif isinstance(v, np.generic):
        h.update(f"np:{v.dtype.str}:{v.item()!r};".encode())
    elif isinstance(v, (tuple, list)):
        h.update(f"{type(v).__name__}[{len(v)}];".encode())
        for item in v:
            _value_key(item, h, memo, depth + 1)
    elif isinstance(v, Dispatcher):
        _function_key(v.py_func, h, memo, depth + 1)
        h.update(repr(sorted((k, repr(o)) for k, o in v.targetoptions.items())).encode())
    elif isinstance(v, pytypes.FunctionType):
        _function_key(v, h, memo, depth + 1)
    elif isinstance(v, pytypes.ModuleType):
        h.update(f"module:{v.__name__};".encode())
    elif isinstance(v, enum.Enum):
        h.update(f"enum:{type(v).__module__}.{type(v).__qualname__}.{v.name}={v.value!r};"
                 .encode())
    elif isinstance(v, type) and issubclass(v, enum.Enum):
        h.update(f"enumtype:{v.__qualname__}:{[(m.name, m.value) for m in v]!r};".encode())
    elif isinstance(v, (np.dtype, numba.types.Type)) or (
            isinstance(v, type) and v.__module__.startswith(("builtins", "numpy", "numba"))):
        h.update(f"type:{v!r};".encode())
    elif hasattr(v, "dispatcher") and hasattr(v, "py_func"):  # a LazyKernel
        _function_key(v.py_func, h, memo, depth + 1)
    else:
        raise Uncacheable(f"cannot key a value of type {type(v).__name__}")


def _names(code):
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, pytypes.CodeType):
            names |= _names(c)
    return names


def _code_key(code, h):
    """The parts of a code object that determine what it computes: bytecode, constants
    (nested code recursively), names. (Not ``marshal.dumps``: its bytes depend on
    reference counts, which compiling a function changes; nor line numbers.)"""
    h.update(code.co_code)
    h.update(repr((code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
                   code.co_flags, code.co_names, code.co_varnames, code.co_freevars,
                   code.co_cellvars)).encode())
    for c in code.co_consts:
        if isinstance(c, pytypes.CodeType):
            _code_key(c, h)
        else:
            h.update(f"{type(c).__name__}:{c!r};".encode())


def _function_key(fn, h, memo, depth):
    if id(fn) in memo:
        h.update(f"ref:{memo[id(fn)]};".encode())
        return
    memo[id(fn)] = len(memo)
    _code_key(fn.__code__, h)
    h.update(repr(fn.__defaults__).encode())
    for cell in fn.__closure__ or ():
        _value_key(cell.cell_contents, h, memo, depth)
    glb = fn.__globals__
    for name in sorted(_names(fn.__code__)):
        if name not in glb:
            continue
        v = glb[name]
        h.update(f"g:{name}=".encode())
        if isinstance(v, pytypes.ModuleType) and not v.__name__.startswith(_SKIP_MODULES):
            # a user module: key what of it the code names (mymod.helper)
            h.update(f"module:{v.__name__};".encode())
            for attr in sorted(_names(fn.__code__)):
                if hasattr(v, attr) and not attr.startswith("__"):
                    sub = getattr(v, attr)
                    if not isinstance(sub, pytypes.ModuleType):
                        _value_key(sub, h, memo, depth + 1)
        else:
            _value_key(v, h, memo, depth)


def function_key(fn):
    """Hex digest of everything a compiled ``fn`` depends on (bytecode and constants,
    closure values, referenced globals and the functions among them, recursively);
    None when something it references cannot be keyed (then nothing is cached)."""
    h = hashlib.sha256()
    try:
        _value_key(fn, h, {}, 0)
    except Uncacheable:
        return None
    return h.hexdigest()


# --- inlining -----------------------------------------------------------------------------

def _is_inlinable(v):
    return isinstance(v, Dispatcher) or (isinstance(v, pytypes.FunctionType)
                                         and not v.__module__.startswith(_SKIP_MODULES))


_INLINED = {}


def inline_copy(fn):
    """An ``inline="always"`` numba copy of ``fn`` (a Python function or a dispatcher),
    with the functions it calls (globals and closure values that are numba dispatchers
    or plain functions) replaced by inline copies too, recursively. Returns ``fn``
    unchanged where that is impossible (recursion: numba cannot inline a function into
    itself). One copy per function object and process."""
    hit = _INLINED.get(id(fn))
    if hit is not None and hit[0] is fn:
        return hit[1]
    try:
        out = _inline(fn, {})
    except RecursionError:
        out = fn
    _INLINED[id(fn)] = (fn, out)
    return out


def rebuilt(py, glb, convert, wanted):
    """A copy of the plain function ``py`` with globals ``glb`` and each closure value v
    replaced by ``convert(v)`` where ``wanted(v)`` (the copies the CPU inliner and the
    CUDA device compiler make of a user's potential)."""
    cells = None
    if py.__closure__:
        cells = tuple(pytypes.CellType(convert(c.cell_contents) if wanted(c.cell_contents)
                                       else c.cell_contents) for c in py.__closure__)
    new = pytypes.FunctionType(py.__code__, glb, py.__name__, py.__defaults__, cells)
    new.__qualname__ = py.__qualname__
    new.__module__ = py.__module__
    return new


def _inline(fn, memo):
    py = fn.py_func if isinstance(fn, Dispatcher) else fn
    if not isinstance(py, pytypes.FunctionType):
        return fn
    if id(py) in memo:
        if memo[id(py)] is None:  # still being copied: a recursive call
            raise RecursionError
        return memo[id(py)]
    memo[id(py)] = None
    glb = dict(py.__globals__)
    for name in _names(py.__code__):
        if _is_inlinable(glb.get(name)):
            glb[name] = _inline(glb[name], memo)
    new = rebuilt(py, glb, lambda v: _inline(v, memo), _is_inlinable)
    out = memo[id(py)] = numba.njit(inline="always")(new)
    return out


# --- the disk cache -----------------------------------------------------------------------

def cache_root():
    """Where specialized kernels are cached: $NUMBA_CACHE_DIR/neqsim-kernels, else
    $XDG_CACHE_HOME/neqsim (default ~/.cache/neqsim)."""
    if config.CACHE_DIR:
        return os.path.join(config.CACHE_DIR, "neqsim-kernels")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "neqsim")


class _KeyedLocator(caching._CacheLocator):
    def __init__(self, path, stamp):
        self._path, self._stamp = path, stamp

    def get_cache_path(self):
        return self._path

    def get_source_stamp(self):
        return self._stamp

    def get_disambiguator(self):
        return "k"

    @classmethod
    def from_function(cls, py_func, py_file):
        return None


class _KeyedImpl(caching.CompileResultCacheImpl):
    def __init__(self, py_func, locator, name):  # noqa: D401 - no locator search
        self._lineno = py_func.__code__.co_firstlineno
        self._locator = locator
        self._filename_base = self.get_filename_base(name, getattr(sys, "abiflags", ""))


class _KeyedCache(caching.FunctionCache):
    """numba's function cache in a directory of its own, stamped with the key."""

    def __init__(self, py_func, path, key, name):
        self._name = repr(py_func)
        self._py_func = py_func
        self._impl = _KeyedImpl(py_func, _KeyedLocator(path, key), name)
        self._cache_path = path
        self._cache_file = caching.IndexDataCacheFile(
            cache_path=path, filename_base=self._impl.filename_base, source_stamp=key)
        self.enable()

    @property
    def index_path(self):
        return self._cache_file._index_path


@contextlib.contextmanager
def vectorizing():
    """Run LLVM's loop vectorizer in numba's first (inlining) optimization pass too."""
    from numba.core.registry import cpu_target
    with global_compiler_lock:
        codegen = cpu_target.target_context.codegen()
        saved = codegen._loopvect, codegen._opt_level
        codegen._loopvect, codegen._opt_level = True, 3
        try:
            yield
        finally:
            codegen._loopvect, codegen._opt_level = saved


# --- specialized kernels ------------------------------------------------------------------

class KernelSpec:
    """A kernel template with its compile-time constants: what to compile, under which
    key. ``template`` is a plain function; ``constants`` its globals to override (ints
    are compile-time constants); ``source``/``name``: generated code defining ``name``
    instead of the template's own code. ``potential`` (a Python function or dispatcher)
    is bound to the global ``potential`` as an inline copy and keyed by its dependencies."""

    def __init__(self, template, constants, *, potentials=None, source=None, name=None,
                 label="kernel", vectorize=True, checks=()):
        self.template = template
        self.constants = dict(constants)
        self.potentials = dict(potentials or {})
        self.source = source
        self.name = name or template.__name__
        self.label = label
        self.vectorize = vectorize
        self.checks = list(checks)  # run before a compile (not before a cache load)

    def key(self):
        """Hex key of the compiled code, or None if a potential cannot be keyed."""
        h = hashlib.sha256()
        h.update(f"neqsim {SOURCE_HASH} numba {numba.__version__} {self.name};".encode())
        h.update(repr(sorted((k, repr(v)) for k, v in self.constants.items())).encode())
        h.update((self.source or "").encode())
        _code_key(self.template.__code__, h)
        for slot, fn in sorted(self.potentials.items()):
            k = function_key(fn)
            if k is None or inline_copy(fn) is fn:
                # not keyable, or not inlinable (recursion: the kernel then calls the
                # potential, and numba cannot reload such code from its cache reliably)
                return None
            h.update(f"{slot}:{k};".encode())
        return h.hexdigest()[:32]

    def build(self):
        glb = dict(self.template.__globals__)
        glb.update(self.constants)
        for slot, fn in self.potentials.items():
            glb[slot] = inline_copy(fn)
        if self.source is not None:
            code = compile(self.source, f"<neqsim {self.name}>", "exec")
            exec(code, glb)
            py = glb[self.name]
        else:
            t = self.template
            py = pytypes.FunctionType(t.__code__, glb, t.__name__, t.__defaults__,
                                      t.__closure__)
        return py


class SpecializedKernel:
    """A compiled specialized kernel: compiled (or loaded from the disk cache) on first
    call, for the argument types of that call."""

    def __init__(self, spec, cache=True):
        self.spec = spec
        self.key = spec.key()
        py = spec.build()
        self.dispatcher = numba.njit(nogil=True, error_model="numpy")(py)
        self._cache = None
        if self.key is not None and cache:
            self._cache = _KeyedCache(py, os.path.join(cache_root(), self.key), self.key,
                                      spec.name)
            self.dispatcher._cache = self._cache
        self._ready = False
        self._lock = threading.Lock()
        self.compile_s = None
        self.loaded_from_cache = None

    @property
    def will_compile(self):
        """True when the first call will compile (nothing cached under the key)."""
        if self._ready:
            return False
        return self._cache is None or not os.path.exists(self._cache.index_path)

    def _prepare(self, args):
        with self._lock:
            if self._ready:
                return
            if self.will_compile:
                for check in self.spec.checks:
                    check()
            sig = tuple(numba.typeof(a) for a in args)
            t = time.perf_counter()
            misses = sum(self.dispatcher._cache_misses.values())
            with (vectorizing() if self.spec.vectorize else contextlib.nullcontext()):
                self.dispatcher.compile(sig)
            self.compile_s = time.perf_counter() - t
            self.loaded_from_cache = sum(self.dispatcher._cache_misses.values()) == misses \
                and self._cache is not None
            self._ready = True

    def __call__(self, *args):
        if not self._ready:
            self._prepare(args)
        return self.dispatcher(*args)


_KERNELS = {}
_KERNELS_LOCK = threading.Lock()


def specialized_kernel(spec):
    """The :class:`SpecializedKernel` of ``spec``, one per key and process (a potential
    that cannot be keyed is compiled per process, and its kernels are kept with it)."""
    key = spec.key()
    if key is None:
        memo_key = ("unkeyed", spec.name, repr(sorted(spec.constants.items())),
                    spec.source, tuple(id(p) for p in spec.potentials.values()))
    else:
        memo_key = key
    with _KERNELS_LOCK:
        hit = _KERNELS.get(memo_key)
        if hit is None:
            # the potentials are kept alive with the kernel, so their ids stay unique
            hit = _KERNELS[memo_key] = (SpecializedKernel(spec), tuple(spec.potentials.values()))
    return hit[0]
