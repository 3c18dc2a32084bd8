"""Numba kernel of the splitting integrators (Langevin, GHMC, velocity Verlet).

Same contract as ``overdamped_kernel``: a pure function over arrays, blocked ``prange``
over trajectories, each trajectory drawing only from its own generator row. The
sub-step sequence arrives as integer codes (``OP_*``, parsed by
:func:`neqsim.dynamics.splitting.parse_splitting`); ``kernel(True, dim, ops)`` compiles a
copy unrolled for one sequence (``_splitting_source``), with the same arithmetic.
"""
import inspect
import math

import numpy as np
from numba import njit, prange, types

from .._numba.abi import (BLOCK, F1, F2, F3, I1, U2, EnergyGradType, data_ptr, f8, i8, ndim,
                          row_ptr)
from .._numba.lazy import LazyKernel
from .._numba.rng import normal, uniform
from .._numba.specialize import specialized
from .._numba.trace import record, record_row

# sub-step codes of a splitting string
OP_V, OP_R, OP_O, OP_OPEN, OP_CLOSE = 0, 1, 2, 3, 4

SPLITTING_SIG = types.void(EnergyGradType, F2, i8, i8, I1, F1, F1, f8, f8,
                           F2, F2, F1, U2, F1, F1, F1, F1, I1, I1, i8, i8, F2, F2, F3)


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
    d = ndim(x)
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
            rc = record_row(s + 1, rec_every, rec_off, rec_W.shape[1])
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
                    record(rc, lo + b, Wi, Qi, xb, b, rec_W, rec_Q, rec_x)
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


_GENERIC = LazyKernel(splitting_chunk, SPLITTING_SIG, parallel=True)


def kernel(specialize=False, dim=None, ops=None):
    """The generic kernel (potential through a pointer, one cached compile) or, with
    ``specialize``, a copy unrolled for the sub-step sequence ``ops`` with the potential
    inlined and ``dim`` a constant (compiled once per process; bit-identical)."""
    if not specialize:
        return _GENERIC
    ops = tuple(int(o) for o in ops)
    return specialized(splitting_chunk, ("splitting", int(dim), ops), dim,
                       source=_splitting_source(ops), name="splitting_chunk_unrolled")
