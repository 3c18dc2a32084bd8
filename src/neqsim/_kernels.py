"""Numba chunk kernels: advance every trajectory through steps k0+1 .. k1 of a protocol.

Pure functions over arrays: state and accumulators are updated in place, nothing is
allocated inside the step loop, and each trajectory draws only from its own generator
row, so results do not depend on thread count or on how steps and trajectories are
chunked. Each kernel has one explicit signature (one cached compile) and takes the
potential as a first-class function pointer (see ``_functions``); ``specialized()``
compiles the same source with the potential inlined.

Layout: ``prange`` runs over blocks of BLOCK trajectories; within a block, each step is
applied to every trajectory in turn. One trajectory's steps form a serial dependency
chain (x -> grad U -> x'), so interleaving independent chains lets the CPU overlap them
(measured 1.7x per step for an inlined potential). The arithmetic of each trajectory is
the same whatever the block size.

Step s+1 (0-based loop index s) switches lam_s -> lam_{s+1} at fixed state and applies
one kernel targeting pi_{lam_{s+1}}. ``u[i]`` always holds U(x_i, current lam), so the
work of a switch costs one call that also yields the gradient the kernel needs.
``failed[i]`` is -1 while trajectory i is healthy, else the step at which its energy
became NaN (or +inf where that is not a legitimate rejection); it is then frozen.
"""
import inspect
import math
import types as pytypes

import numpy as np
from numba import njit, prange, types

from ._functions import EnergyGradType, data_ptr, row_ptr
from ._rng import normal, uniform
from .integrators import OP_CLOSE, OP_O, OP_OPEN, OP_R, OP_V

BLOCK = 16

F1 = types.Array(types.float64, 1, "C")
F2 = types.Array(types.float64, 2, "C")
F3 = types.Array(types.float64, 3, "C")
U2 = types.Array(types.uint64, 2, "C")
I1 = types.Array(types.int64, 1, "C")
i8 = types.int64
f8 = types.float64

OVERDAMPED_SIG = types.void(EnergyGradType, F2, i8, i8, types.boolean, f8, f8, f8,
                            F2, F1, U2, F1, F1, F1, I1, I1, i8, i8, F2, F2, F3)
SPLITTING_SIG = types.void(EnergyGradType, F2, i8, i8, I1, F1, F1, f8, f8,
                           F2, F2, F1, U2, F1, F1, F1, F1, I1, I1, i8, i8, F2, F2, F3)


@njit(cache=True, inline="always")
def _ndim(x):
    """Configuration dimension; specialized kernels swap in a compile-time constant,
    which lets LLVM unroll the per-dimension loops (measured 1.5x for BAOAB, dim 1)."""
    return x.shape[1]


@njit(cache=True)
def _record_row(s1, rec_every, rec_off, n_rec):
    """Trace row written after step s1, or -1 (decided once per step, not per trajectory:
    an integer modulo per particle-step cost ~8 ns)."""
    if rec_every > 0 and s1 % rec_every == 0:
        c = s1 // rec_every - rec_off
        if 0 <= c < n_rec:
            return c
    return -1


@njit(cache=True)
def _record(c, i, Wi, Qi, xb, b, rec_W, rec_Q, rec_x):
    rec_W[i, c] = Wi
    rec_Q[i, c] = Qi
    if rec_x.shape[2] > 0:
        for j in range(xb.shape[1]):
            rec_x[i, c, j] = xb[b, j]


def overdamped_chunk(eg, lam, k0, k1, metropolize, beta, dt, gamma,
                     x, u, rng, W, Q, P, nacc, failed,
                     rec_every, rec_off, rec_W, rec_Q, rec_x):
    """Euler-Maruyama (``metropolize`` False) or MALA (True) over steps k0+1..k1.

    Proposal y = x - (dt/gamma) g(x) + sqrt(2 dt / (beta gamma)) xi, T(y|x) Gaussian.
    Per step: w = U(x, lam_k) - U(x, lam_{k-1}); q = U(x', lam_k) - U(x, lam_k);
    EM path work adds q + kT log[T(x'|x) / T(x|x')]; MALA accepts with
    min(1, exp(-beta q) T(x|y) / T(y|x)), whose detailed balance makes W_path = W.
    """
    n = x.shape[0]
    d = _ndim(x)
    m = lam.shape[1]
    mu_dt = dt / gamma
    sig = math.sqrt(2.0 * dt / (beta * gamma))
    inv4Ddt = beta * gamma / (4.0 * dt)
    kT = 1.0 / beta
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, n)
        nb = hi - lo
        # thread-local copies; the potential is called through raw pointers into them
        xb = x[lo:hi].copy()
        st = rng[lo:hi].copy()
        ub = u[lo:hi].copy()
        Wb = W[lo:hi].copy()
        Qb = Q[lo:hi].copy()
        Pb = P[lo:hi].copy()
        ab = nacc[lo:hi].copy()
        fb = failed[lo:hi].copy()
        g = np.empty((nb, d))
        gy = np.empty((nb, d))
        y = np.empty((nb, d))
        lk = np.empty(m)
        lp = data_ptr(lk)
        for s in range(k0, k1):
            for j in range(m):
                lk[j] = lam[s + 1, j]
            rc = _record_row(s + 1, rec_every, rec_off, rec_W.shape[1])
            for b in range(nb):
                if fb[b] >= 0:
                    continue
                un = eg(row_ptr(xb, b), lp, row_ptr(g, b))
                if not math.isfinite(un):
                    fb[b] = s + 1
                    continue
                w = un - ub[b]
                Wb[b] += w
                Pb[b] += w
                sq = 0.0
                for j in range(d):
                    z = normal(st, b)
                    sq += z * z
                    y[b, j] = xb[b, j] - mu_dt * g[b, j] + sig * z
                uy = eg(row_ptr(y, b), lp, row_ptr(gy, b))
                rr = 0.0
                for j in range(d):
                    r = xb[b, j] - y[b, j] + mu_dt * gy[b, j]
                    rr += r * r
                # log T(y|x) - log T(x|y); the forward residual is sig * z exactly
                log_ratio = -0.5 * sq + rr * inv4Ddt
                q = uy - un
                if metropolize:
                    if math.isnan(uy) or uy == -math.inf:
                        fb[b] = s + 1
                        continue
                    log_a = -beta * q - log_ratio
                    if uy != math.inf and (log_a >= 0.0 or uniform(st, b) < math.exp(log_a)):
                        for j in range(d):
                            xb[b, j] = y[b, j]
                        Qb[b] += q
                        ub[b] = uy
                        ab[b] += 1
                    else:
                        ub[b] = un
                else:
                    if not math.isfinite(uy):
                        fb[b] = s + 1
                        continue
                    for j in range(d):
                        xb[b, j] = y[b, j]
                    Qb[b] += q
                    Pb[b] += q + log_ratio * kT
                    ub[b] = uy
                if rc >= 0:
                    _record(rc, lo + b, Wb[b], Qb[b], xb, b, rec_W, rec_Q, rec_x)
        x[lo:hi] = xb
        rng[lo:hi] = st
        u[lo:hi] = ub
        W[lo:hi] = Wb
        Q[lo:hi] = Qb
        P[lo:hi] = Pb
        nacc[lo:hi] = ab
        failed[lo:hi] = fb


@njit(cache=True, inline="always")
def _sq(v, b):
    k = 0.0
    for j in range(v.shape[1]):
        k += v[b, j] * v[b, j]
    return k


def splitting_chunk(eg, lam, k0, k1, ops, c1, c2, beta, mass,
                    x, v, u, rng, W, Q, S, P, nacc, failed,
                    rec_every, rec_off, rec_W, rec_Q, rec_x):
    """Underdamped splitting integrator over steps k0+1..k1; E = U + (m/2)|v|^2.

    Each step: the switch H (work), then the sub-steps ``ops`` with constants c1, c2
    (V: v -= c1 grad U, c1 = h/m; R: x += c1 v, c1 = h; O: v = c1 v + c2 xi;
    { .. }: Metropolized block). Bookkeeping: H -> W; O -> Q (kinetic change);
    V and R -> S (shadow work). The energy after R sub-steps is evaluated lazily (when a
    V needs the force, a block boundary needs the energy, or the step ends) and its
    change charged to S then; O leaves x alone, so the total is the same as evaluating
    after every R. Path work P = W + shadow work outside Metropolized blocks: inside a
    block the accept/reject (momentum flip on rejection) makes the move exact. A
    rejected block restores x, v (flipped), U, grad U and S.
    """
    n = x.shape[0]
    d = _ndim(x)
    n_ops = len(ops)
    half_m = 0.5 * mass
    m = lam.shape[1]
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, n)
        nb = hi - lo
        xb = x[lo:hi].copy()
        vb = v[lo:hi].copy()
        st = rng[lo:hi].copy()
        ub = u[lo:hi].copy()
        Wb = W[lo:hi].copy()
        Qb = Q[lo:hi].copy()
        Sb = S[lo:hi].copy()
        Pb = P[lo:hi].copy()
        ab = nacc[lo:hi].copy()
        fb = failed[lo:hi].copy()
        g = np.empty((nb, d))
        xs = np.empty(d)
        vs = np.empty(d)
        gs = np.empty(d)
        lk = np.empty(m)
        lp = data_ptr(lk)
        for s in range(k0, k1):
            for j in range(m):
                lk[j] = lam[s + 1, j]
            rc = _record_row(s + 1, rec_every, rec_off, rec_W.shape[1])
            for b in range(nb):
                if fb[b] >= 0:
                    continue
                xp = row_ptr(xb, b)
                gp = row_ptr(g, b)
                ui = eg(xp, lp, gp)
                if not math.isfinite(ui):
                    fb[b] = s + 1
                    continue
                w = ui - ub[b]
                Wi = Wb[b] + w
                Pi = Pb[b] + w
                Qi = Qb[b]
                Si = Sb[b]
                fresh = True
                in_block = False
                reject_all = False
                e0 = 0.0
                s_saved = 0.0
                u_saved = 0.0
                for o in range(n_ops):
                    op = ops[o]
                    if op == OP_R:
                        h = c1[o]
                        for j in range(d):
                            xb[b, j] += h * vb[b, j]
                        fresh = False
                        continue
                    if op == OP_O:
                        k_old = _sq(vb, b)
                        for j in range(d):
                            vb[b, j] = c1[o] * vb[b, j] + c2[o] * normal(st, b)
                        Qi += half_m * (_sq(vb, b) - k_old)
                        continue
                    if not fresh:
                        un = eg(xp, lp, gp)
                        if math.isnan(un) or un == -math.inf:
                            fb[b] = s + 1
                            break
                        if un == math.inf:
                            if not in_block:
                                fb[b] = s + 1
                                break
                            # an infinite-energy proposal inside a block is just rejected
                            reject_all = True
                        else:
                            Si += un - ui
                            if not in_block:
                                Pi += un - ui
                        ui = un
                        fresh = True
                    if op == OP_V:
                        if reject_all:
                            continue
                        h = c1[o]
                        k_old = _sq(vb, b)
                        for j in range(d):
                            vb[b, j] -= h * g[b, j]
                        dk = half_m * (_sq(vb, b) - k_old)
                        Si += dk
                        if not in_block:
                            Pi += dk
                    elif op == OP_OPEN:
                        in_block = True
                        reject_all = False
                        for j in range(d):
                            xs[j] = xb[b, j]
                            vs[j] = vb[b, j]
                            gs[j] = g[b, j]
                        u_saved = ui
                        s_saved = Si
                        e0 = ui + half_m * _sq(vb, b)
                    else:  # OP_CLOSE
                        in_block = False
                        de = ui + half_m * _sq(vb, b) - e0
                        if (not reject_all) and math.isfinite(de) and (
                                de <= 0.0 or uniform(st, b) < math.exp(-beta * de)):
                            ab[b] += 1
                        else:
                            for j in range(d):
                                xb[b, j] = xs[j]
                                vb[b, j] = -vs[j]
                                g[b, j] = gs[j]
                            ui = u_saved
                            Si = s_saved
                        reject_all = False
                if fb[b] >= 0:
                    continue
                if not fresh:
                    un = eg(xp, lp, gp)
                    if not math.isfinite(un):
                        fb[b] = s + 1
                        continue
                    Si += un - ui
                    Pi += un - ui
                    ui = un
                ub[b] = ui
                Wb[b] = Wi
                Qb[b] = Qi
                Sb[b] = Si
                Pb[b] = Pi
                if rc >= 0:
                    _record(rc, lo + b, Wi, Qi, xb, b, rec_W, rec_Q, rec_x)
        x[lo:hi] = xb
        v[lo:hi] = vb
        rng[lo:hi] = st
        u[lo:hi] = ub
        W[lo:hi] = Wb
        Q[lo:hi] = Qb
        S[lo:hi] = Sb
        P[lo:hi] = Pb
        nacc[lo:hi] = ab
        failed[lo:hi] = fb


def _splitting_source(ops):
    """Source of ``splitting_chunk`` with the sub-step loop unrolled for one splitting.

    Which sub-steps need a fresh energy and which lie inside a Metropolized block is
    decided here, once, instead of by flags in every step; the emitted statements are
    exactly those the interpreter in ``splitting_chunk`` executes, in the same order, so
    the results are bit-identical (tested for every built-in splitting).
    """
    lines = []
    emit = lines.append
    fresh = True
    in_block = False

    def evaluate():
        emit("un = eg(xp, lp, gp)")
        if in_block:
            emit("if math.isnan(un) or un == -math.inf:")
            emit("    fb[b] = s + 1")
            emit("    break")
            emit("if un == math.inf:")
            emit("    reject_all = True")
            emit("else:")
            emit("    Si += un - ui")
        else:
            emit("if not math.isfinite(un):")
            emit("    fb[b] = s + 1")
            emit("    break")
            emit("Si += un - ui")
            emit("Pi += un - ui")
        emit("ui = un")

    for o, op in enumerate(ops):
        if op == OP_R:
            emit("for j in range(d):")
            emit(f"    xb[b, j] += c1[{o}] * vb[b, j]")
            fresh = False
            continue
        if op == OP_O:
            # |v|^2 is carried in v2 between sub-steps (R leaves v alone): the same
            # value the interpreter recomputes, so the same bits, at half the work
            emit("for j in range(d):")
            emit(f"    vb[b, j] = c1[{o}] * vb[b, j] + c2[{o}] * normal(st, b)")
            emit("v2n = _sq(vb, b)")
            emit("Qi += half_m * (v2n - v2)")
            emit("v2 = v2n")
            continue
        if not fresh:
            evaluate()
            fresh = True
        if op == OP_V:
            pad = ""
            if in_block:
                emit("if not reject_all:")
                pad = "    "
            emit(pad + "for j in range(d):")
            emit(pad + f"    vb[b, j] -= c1[{o}] * g[b, j]")
            emit(pad + "v2n = _sq(vb, b)")
            emit(pad + "dk = half_m * (v2n - v2)")
            emit(pad + "v2 = v2n")
            emit(pad + "Si += dk")
            if not in_block:
                emit("Pi += dk")
        elif op == OP_OPEN:
            in_block = True
            emit("reject_all = False")
            emit("for j in range(d):")
            emit("    xs[j] = xb[b, j]")
            emit("    vs[j] = vb[b, j]")
            emit("    gs[j] = g[b, j]")
            emit("u_saved = ui")
            emit("s_saved = Si")
            emit("e0 = ui + half_m * v2")
        else:
            in_block = False
            emit("de = ui + half_m * v2 - e0")
            emit("if (not reject_all) and math.isfinite(de) and (")
            emit("        de <= 0.0 or uniform(st, b) < math.exp(-beta * de)):")
            emit("    ab[b] += 1")
            emit("else:")
            emit("    for j in range(d):")
            emit("        xb[b, j] = xs[j]")
            emit("        vb[b, j] = -vs[j]")
            emit("        g[b, j] = gs[j]")
            emit("    ui = u_saved")
            emit("    Si = s_saved")
            emit("    v2 = _sq(vb, b)")
            emit("reject_all = False")
    if not fresh:
        evaluate()
    emit("break")
    body = "\n".join(" " * 20 + ln for ln in lines)

    src = inspect.getsource(splitting_chunk)
    start = src.index("                for o in range(n_ops):")
    stop = src.index("                if fb[b] >= 0:\n                    continue\n                if not fresh:")
    end = src.index("                ub[b] = ui\n")
    head = ("                reject_all = False\n                v2 = _sq(vb, b)\n"
            "                for _once in range(1):\n")
    tail = "                if fb[b] >= 0:\n                    continue\n"
    out = src[:start] + head + body + "\n" + tail + src[end:]
    assert stop > start
    return out.replace("def splitting_chunk(", "def splitting_chunk_unrolled(", 1)


_GENERIC = {
    "overdamped": njit(OVERDAMPED_SIG, parallel=True, cache=True)(overdamped_chunk),
    "splitting": njit(SPLITTING_SIG, parallel=True, cache=True)(splitting_chunk),
}
_SOURCES = {"overdamped": overdamped_chunk, "splitting": splitting_chunk}
_SPECIALIZED = {}


def kernel(name, specialize=False, dim=None, ops=None):
    """The chunk kernel ``name`` ('overdamped' or 'splitting').

    Generic (default): one cached compile, the potential called through a pointer.
    Specialized: the same source compiled per process without a signature and with the
    dimension a compile-time constant, so the potential's adapter arrives as a
    dispatcher and LLVM inlines it and unrolls the per-dimension loops (measured 1.3x
    for EM and 2x for BAOAB in one dimension). Each (kernel, potential, dim) costs a
    compile of a few seconds once per process; nothing is cached on disk, so it cannot
    go stale. The splitting kernel is also unrolled for the given sub-step sequence
    ``ops`` (see ``_splitting_source``). The arithmetic is the same, so results are
    bit-identical to the generic kernel (tested).
    """
    if not specialize:
        return _GENERIC[name]
    key = (name, int(dim), None if ops is None else tuple(int(o) for o in ops))
    fn = _SPECIALIZED.get(key)
    if fn is None:
        const = int(dim)
        glb = dict(globals())
        glb["_ndim"] = njit(inline="always")(lambda x: const)
        if name == "splitting" and ops is not None:
            exec(compile(_splitting_source(key[2]), "<neqsim splitting kernel>", "exec"), glb)
            src = glb["splitting_chunk_unrolled"]
        else:
            src = _SOURCES[name]
            src = pytypes.FunctionType(src.__code__, glb, src.__name__, src.__defaults__,
                                       src.__closure__)
        fn = _SPECIALIZED[key] = njit(parallel=True)(src)
    return fn


@njit(types.void(U2, F1, F1, F2), parallel=True, cache=True)
def init_gaussian(rng, mean, std, out):
    """out[i, j] = mean[j] + std[j] * xi_ij, from trajectory i's stream."""
    for i in prange(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = mean[j] + std[j] * normal(rng, i)


@njit(types.void(U2, F1, F1, F2), parallel=True, cache=True)
def init_inverse_cdf(rng, grid, cdf, out):
    """1-D exact sampling: x = C^{-1}(u) with C the tabulated CDF (linear in each cell)."""
    m = grid.shape[0]
    for i in prange(out.shape[0]):
        t = uniform(rng, i) * cdf[m - 1]
        j = np.searchsorted(cdf, t, side="right") - 1
        if j < 0:
            j = 0
        if j > m - 2:
            j = m - 2
        span = cdf[j + 1] - cdf[j]
        f = (t - cdf[j]) / span if span > 0 else 0.5
        out[i, 0] = grid[j] + f * (grid[j + 1] - grid[j])
