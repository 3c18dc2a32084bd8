"""Checks of a user's potential before a run: that it compiles (one clear error naming
the user's function, file and line, and numba's reason), and that its gradient agrees
with a finite difference of its energy (wrong sign, or returned instead of written)."""
from __future__ import annotations

import functools
import math
import re

import numpy as np

__all__ = ["PotentialError", "check_bounds", "check_compiles", "check_gradient",
           "numba_reason", "short_traceback"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# what each kind of function must look like
SIGNATURES = {
    "energy": ("energy(x, lam) -> float", 2, True),
    "gradient": ("gradient(x, lam, out) -> None, writing dU/dx into out", 3, False),
    "energy_grad": ("energy_grad(x, lam, out) -> float, writing dU/dx into out", 3, True),
    "log_density": ("log_f(x) -> float", 1, True),
    "log_density_grad": ("log_f(x, grad) -> float, writing d log f/dx into grad", 2, True),
}


class PotentialError(TypeError):
    """A user's potential (or log density) that cannot be used: it does not compile, or
    its gradient disagrees with its energy."""


def numba_reason(err):
    """numba's error as (one-line reason, file, line) with its colours removed."""
    text = _ANSI.sub("", str(err))
    lines = [ln.strip() for ln in text.splitlines()]
    reason = next((ln for ln in lines if ln and not ln.startswith(("Failed in ", "During:",
                                                                     "File ", "^"))), text)
    loc = getattr(err, "loc", None)
    path = getattr(loc, "filename", None)
    line = getattr(loc, "line", None)
    return reason, path, line


def _source_line(path, line):
    try:
        with open(path) as f:
            return f.read().splitlines()[line - 1].strip()
    except (OSError, IndexError, TypeError):
        return None


def _display_name(py):
    return getattr(py, "__qualname__", getattr(py, "__name__", repr(py)))


def _where(py):
    code = getattr(py, "__code__", None)
    return (code.co_filename if code else "?"), (code.co_firstlineno if code else 0)


def check_compiles(fn, kind, owner):
    """Compile a copy of ``fn`` (a Python function or dispatcher) alone with the types
    the kernels give it; raise :class:`PotentialError` with its file, line and numba's
    reason if that fails. ``owner`` names the system for the message.

    Returns the compiled copy for :func:`check_bounds`: as the kernels compile it (the
    functions it calls inlined, numpy's error model) but with bounds checks, so one
    compile serves both checks."""
    import numba
    from numba import types
    from numba.core.errors import NumbaError

    from .._numba.specialize import inline_copy
    py = getattr(fn, "py_func", fn)
    what, n_args, returns = SIGNATURES[kind]
    A = types.Array(types.float64, 1, "C")
    args = (A,) * n_args
    copy = inline_copy(py)
    copy = getattr(copy, "py_func", copy)
    try:
        # a gradient may return anything (it is ignored): only its arguments are fixed
        return numba.njit(types.float64(*args) if returns else args, boundscheck=True,
                          error_model="numpy")(copy)
    except NumbaError as e:
        reason, path, line = numba_reason(e)
        name = _display_name(py)
        def_path, def_line = _where(py)
        path, line = path or def_path, line or def_line
        hint = ""
        if "No conversion from array" in reason and returns:
            hint = f" ({what}: return one float, e.g. a sum over x[j], not an array)"
        elif "NameError" in reason:
            hint = " (a typo, or a global numba cannot see?)"
        src = _source_line(path, line)
        of = "" if owner == name else f" (of system {owner!r})"
        arrays = "x: a float64 array" if n_args == 1 else \
            f"{', '.join(ARGUMENTS[kind])}: float64 arrays"
        raise PotentialError(
            f"{name}{of} ({path}, line {line}) does not compile with numba: {reason}"
            f"{hint}" + (f"\n    {src}" if src else "") +
            f"\nIt must be {what}, numba-compilable ({arrays}).") from None


# the arguments of each kind: lam has n_controls entries, the others dim
ARGUMENTS = {"energy": ("x", "lam"), "gradient": ("x", "lam", "out"),
             "energy_grad": ("x", "lam", "out"), "log_density": ("x",),
             "log_density_grad": ("x", "grad")}
N_BOUNDS_PROBES = 3


def check_bounds(compiled, fn, kind, owner, dim, n_controls):
    """Call ``compiled`` (from :func:`check_compiles`: bounds-checked) at a few probe
    points with arrays of exactly ``dim`` (x, out, grad) and ``n_controls`` (lam)
    entries; raise :class:`PotentialError` naming ``fn``'s file and line if it indexes
    outside them. Inside a kernel such an index reads garbage or overwrites memory
    (numba checks no bounds there), which can abort the process."""
    names = ARGUMENTS[kind]
    rng = np.random.default_rng(PROBE_SEED)
    for _ in range(N_BOUNDS_PROBES):
        x = rng.standard_normal(dim) * 2.0
        lam = rng.standard_normal(n_controls) * 2.0
        args = [x if a == "x" else lam if a == "lam" else np.zeros(dim) for a in names]
        try:
            compiled(*args)
        except IndexError:
            raise _bounds_error(fn, kind, owner, dim, n_controls, args) from None
        except Exception:  # noqa: BLE001 - only indexing is this check's business
            continue


def _bounds_error(fn, kind, owner, dim, n_controls, args):
    py = getattr(fn, "py_func", fn)
    name = _display_name(py)
    path, line = _where(py)
    detail = ""
    # numba's IndexError says neither where nor which index: the same call in Python
    # (the functions it calls in Python too, so nothing runs unchecked) says both
    try:
        _python_copy(py, {})(*[np.array(a) for a in args])
    except IndexError as e:
        tb = e.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        path, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        detail = f" ({e})"
    except Exception:  # noqa: BLE001 - not runnable as Python: the def line it is
        detail = ""
    per_x = [a for a in ARGUMENTS[kind] if a != "lam"]
    sizes = f"{' and '.join(per_x)} {'has' if len(per_x) == 1 else 'have'} {dim} " \
            f"entr{'y' if dim == 1 else 'ies'} (dim={dim})"
    if "lam" in ARGUMENTS[kind]:
        sizes += f", lam has {n_controls} (n_controls={n_controls})"
    if kind.startswith("log_density"):
        fix = "dim is the number of columns of the initial samples"
    else:
        fix = "pass the dim= and n_controls= it expects"
    src = _source_line(path, line)
    of = "" if owner == name else f" (of system {owner!r})"
    return PotentialError(
        f"{name}{of} ({path}, line {line}): index out of range{detail}: {sizes}; "
        f"index only within them, or {fix}" + (f"\n    {src}" if src else ""))


def _code_names(code):
    names = set(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_names"):
            names |= _code_names(c)
    return names


def _python_copy(fn, memo):
    """``fn`` with every numba dispatcher it calls (globals and closure values) replaced
    by its Python function, recursively: runs entirely in Python, bounds-checked."""
    import types as pytypes

    from numba.core.dispatcher import Dispatcher
    py = fn.py_func if isinstance(fn, Dispatcher) else fn
    if not isinstance(py, pytypes.FunctionType) or id(py) in memo:
        return memo.get(id(py), py)
    memo[id(py)] = py  # a recursive call resolves to the original

    def conv(v):
        return _python_copy(v, memo) if isinstance(v, (Dispatcher, pytypes.FunctionType)) \
            and not getattr(v, "__module__", "").startswith(("numpy", "numba")) else v
    glb = dict(py.__globals__)
    for key in _code_names(py.__code__):
        if key in glb:
            glb[key] = conv(glb[key])
    cells = []
    for c in py.__closure__ or ():
        try:
            cells.append(pytypes.CellType(conv(c.cell_contents)))
        except ValueError:  # an empty cell
            cells.append(c)
    cells = tuple(cells)
    new = pytypes.FunctionType(py.__code__, glb, py.__name__, py.__defaults__,
                               cells or None)
    memo[id(py)] = new
    return new


# probe points at which a system's energy and gradient are fingerprinted (fixed forever:
# run files store the values, and resume compares them bit for bit)
PROBE_SEED = 20261125
N_PROBES = 8


def probe_points(system, protocol):
    """(x, lams): N_PROBES fixed configurations ~ 2 N(0, 1) and lam_0, lam_mid, lam_N."""
    rng = np.random.default_rng(PROBE_SEED)
    x = rng.standard_normal((N_PROBES, system.dim)) * 2.0
    if hasattr(system, "probe_configurations"):  # discrete states: valid ones only
        x = system.probe_configurations(N_PROBES)
    return x, protocol.values[[0, protocol.n_steps // 2, protocol.n_steps]]


def check_gradient(system, protocol, *, rel_tol=1e-4):
    """Compare grad U with a central difference of U at the fingerprint probe points and
    lam_0, lam_mid, lam_N; raise :class:`PotentialError` naming the worst point."""
    x, lams = probe_points(system, protocol)
    worst = None
    for lam in lams:
        lam = np.ascontiguousarray(lam, dtype=np.float64)
        u, g = system.evaluate(x, lam)
        for j in range(system.dim):
            h = 1e-6 * np.maximum(1.0, np.abs(x[:, j]))
            xp, xm = x.copy(), x.copy()
            xp[:, j] += h
            xm[:, j] -= h
            fd = (system.evaluate(xp, lam)[0] - system.evaluate(xm, lam)[0]) / (2.0 * h)
            ok = np.isfinite(u) & np.isfinite(fd) & np.isfinite(g[:, j])
            scale = np.maximum(1.0, np.maximum(np.abs(g[:, j]), np.abs(fd)))
            err = np.where(ok, np.abs(g[:, j] - fd) / scale, 0.0)
            i = int(np.argmax(err))
            if worst is None or err[i] > worst[0]:
                worst = (float(err[i]), x[i].copy(), lam.copy(), j, float(g[i, j]),
                         float(fd[i]))
    if worst is not None and worst[0] > rel_tol:
        err, xi, lam, j, gj, fdj = worst
        sign = " (the opposite sign)" if gj * fdj < 0 and math.isclose(abs(gj), abs(fdj),
                                                                        rel_tol=1e-3) else ""
        raise PotentialError(
            f"{system.name}: its gradient disagrees with a finite difference of its energy: "
            f"at x = {np.array2string(xi, precision=4)}, lam = "
            f"{np.array2string(lam, precision=4)}, component {j}: gradient {gj:.6g}, "
            f"finite difference {fdj:.6g}{sign}. Check its sign, and that it is written "
            "into out (not returned). (check_gradient=False turns this check off.)")


def short_traceback(fn):
    """Re-raise a PotentialError from ``fn``'s own frame: the traceback then ends at the
    user's call instead of in the kernel machinery (numba's own runs to 70-90 lines)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PotentialError as e:
            raise PotentialError(str(e)) from None
    return wrapper
