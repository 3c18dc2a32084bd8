"""CUDA kernel of the splitting integrators (Langevin, GHMC, velocity Verlet), generated
per sub-step sequence: one thread per trajectory.

The per-trajectory twin of :mod:`.splitting_kernel` (read its docstring for the
bookkeeping): :func:`cuda_kernel_source` walks the same sub-steps, split into the same
loops, and writes each trajectory's arithmetic as the CPU kernel writes each lane's, in
the same order, with the random numbers in the same order (per loop: the normals of its
O sub-steps, in order, ``D`` each; then the uniform of its accept/reject, drawn only
where the energy went up). What the CPU keeps in per-lane buffers between the loops of
a step (the step in progress, the state saved at a ``{``) is local to the thread here.

``D``, ``M``, ``NZ`` (normals per loop) and the potential's device copy are bound per
compile by :func:`neqsim._numba.gpu.cuda_kernel`.
"""
import math

import numpy as np
from numba import float64

from .._numba.rng import normal_state, to_uniform, xoshiro
from .._numba.trace import record_row
from .splitting_kernel import OP_CLOSE, OP_O, OP_OPEN, OP_R, OP_V, _phases

__all__ = ["cuda_kernel_source", "splitting_cuda_kernel"]

D = 1
M = 1
NZ = 1
cuda = None  # numba.cuda, bound when the kernel is built

_HELPERS = (math, np, float64, normal_state, to_uniform, xoshiro, record_row)


def potential(x, lam, out):  # bound to the device copy of the system's energy_grad
    raise NotImplementedError


def cuda_kernel_source(ops):
    """Source of ``splitting_cuda_kernel`` for the sub-step sequence ``ops`` and the
    number of normals its largest loop draws per dimension (as
    :func:`neqsim.dynamics.splitting_kernel.kernel_source`)."""
    ops = [int(op) for op in ops]
    has_block = OP_OPEN in ops
    phases = _phases(ops)
    max_o = max(1, max(sum(op == OP_O for _, op in ph) for ph in phases))
    L = []
    emit = L.append
    emit("def splitting_cuda_kernel(lam, k0, k1, c1, c2, beta, mass, x, v, u, rng, work, "
         "heat, shadow_work, path_work, n_accepted, failed_step, tr_work, tr_heat, tr_x, "
         "n_rec, rec_x, rec_every, rec_off):")
    body = ["i = cuda.grid(1)",
            "if i >= x.shape[0]:",
            "    return"]
    body += [f"c1_{o} = c1[{o}]" for o in range(len(ops))]
    body += [f"c2_{o} = c2[{o}]" for o in range(len(ops)) if ops[o] == OP_O]
    body += [
        "half_m = 0.5 * mass",
        "xv = cuda.local.array(D, float64)",
        "vv = cuda.local.array(D, float64)",
        "gv = cuda.local.array(D, float64)",
        "zs = cuda.local.array(NZ, float64)",
        "lv = cuda.local.array(M, float64)",
    ]
    if has_block:
        body += ["xsv = cuda.local.array(D, float64)",
                 "vsv = cuda.local.array(D, float64)",
                 "gsv = cuda.local.array(D, float64)"]
    body += [
        "for j in range(D):",
        "    xv[j] = x[i, j]",
        "    vv[j] = v[i, j]",
        "ub = u[i]",
        "Wb = work[i]",
        "Qb = heat[i]",
        "Sb = shadow_work[i]",
        "Pb = path_work[i]",
        "ab = n_accepted[i]",
        "fb = failed_step[i]",
        "a0 = rng[i, 0]",
        "a1 = rng[i, 1]",
        "a2 = rng[i, 2]",
        "a3 = rng[i, 3]",
        # the state saved at a block's opening, and its energy change (typed up front)
        "rj = False",
        "us_ = 0.0",
        "ss_ = 0.0",
        "e0_ = 0.0",
        "de_ = 0.0",
        "for s in range(k0, k1):",
        "    for j in range(M):",
        "        lv[j] = lam[s + 1, j]",
        "    step = s + 1",
    ]
    step = []
    fresh = True
    in_block = False

    def evaluate():
        out = ["un = potential(xv, lv, gv)"]
        if in_block:
            out += ["fail = alive & (math.isnan(un) | (un == -math.inf))",
                    "ok = alive & (not fail)",
                    "rj = rj | (ok & (un == math.inf))",
                    "Si = Si + (un - ui) if ok & (un != math.inf) else Si"]
        else:
            out += ["fail = alive & (not math.isfinite(un))",
                    "ok = alive & (not fail)",
                    "Si = Si + (un - ui) if ok else Si",
                    "Pi = Pi + (un - ui) if ok else Pi"]
        out += ["alive = ok",
                "ui = un if ok else ui"]
        return out

    for p, phase in enumerate(phases):
        first, last = p == 0, p == len(phases) - 1
        o_ops = [o for o, op in phase if op == OP_O]
        # a failed trajectory keeps drawing: its stream stays the CPU's, bit for bit
        for r, o in enumerate(o_ops):
            step += ["for j in range(D):",
                     f"    zs[{r} * D + j], a0, a1, a2, a3 = normal_state(a0, a1, a2, a3)"]
        loop = []
        if first:
            loop += ["alive = fb < 0",
                     "ui = potential(xv, lv, gv)",
                     "alive = alive & math.isfinite(ui)",
                     "w = ui - ub",
                     "Wi = Wb + w",
                     "Pi = Pb + w",
                     "Qi = Qb",
                     "Si = Sb",
                     "v2 = 0.0",
                     "for j in range(D):",
                     "    v2 += vv[j] * vv[j]"]
            if has_block:
                loop += ["rj = False"]
        for o, op in phase:
            if op == OP_R:
                loop += ["for j in range(D):",
                         f"    xv[j] = xv[j] + c1_{o} * vv[j] if alive else xv[j]"]
                fresh = False
                continue
            if op == OP_O:
                r = o_ops.index(o)
                loop += ["for j in range(D):",
                         f"    vv[j] = c1_{o} * vv[j] + c2_{o} * zs[{r} * D + j] "
                         "if alive else vv[j]",
                         "v2n = 0.0",
                         "for j in range(D):",
                         "    v2n += vv[j] * vv[j]",
                         "Qi = Qi + half_m * (v2n - v2) if alive else Qi",
                         "v2 = v2n if alive else v2"]
                continue
            if not fresh:
                loop += evaluate()
                fresh = True
            if op == OP_V:
                act = "alive & (not rj)" if in_block else "alive"
                loop += [f"act = {act}",
                         "for j in range(D):",
                         f"    vv[j] = vv[j] - c1_{o} * gv[j] if act else vv[j]",
                         "v2n = 0.0",
                         "for j in range(D):",
                         "    v2n += vv[j] * vv[j]",
                         "dk = half_m * (v2n - v2)",
                         "v2 = v2n if act else v2",
                         "Si = Si + dk if act else Si"]
                if not in_block:
                    loop += ["Pi = Pi + dk if act else Pi"]
            elif op == OP_OPEN:
                in_block = True
                loop += ["rj = False",
                         "for j in range(D):",
                         "    xsv[j] = xv[j]",
                         "    vsv[j] = vv[j]",
                         "    gsv[j] = gv[j]",
                         "us_ = ui",
                         "ss_ = Si",
                         "e0_ = ui + half_m * v2"]
            else:  # OP_CLOSE: the energy change of the block, judged after the loop
                in_block = False
                loop += ["de_ = ui + half_m * v2 - e0_"]
        if last:
            if not fresh:
                loop += evaluate()
                fresh = True
            loop += ["fb = step if (fb < 0) & (not alive) else fb",
                     "ub = ui if alive else ub",
                     "Wb = Wi if alive else Wb",
                     "Qb = Qi if alive else Qb",
                     "Sb = Si if alive else Sb",
                     "Pb = Pi if alive else Pb"]
        step += loop
        if not last:
            # the accept/reject of the block that closed this loop
            step += [
                "if alive:",
                "    de = de_",
                "    ok = (not rj) and math.isfinite(de)",
                "    if ok and not de <= 0.0:",
                "        r64, a0, a1, a2, a3 = xoshiro(a0, a1, a2, a3)",
                "        ok = to_uniform(r64) < math.exp(-beta * de)",
                "    if ok:",
                "        ab += 1",
                "    else:",
                "        v2 = 0.0",
                "        for j in range(D):",
                "            xv[j] = xsv[j]",
                "            vv[j] = -vsv[j]",
                "            gv[j] = gsv[j]",
                "            v2 += vv[j] * vv[j]",
                "        ui = us_",
                "        Si = ss_",
                "    rj = False",
            ]
    step += [
        "rc = record_row(s + 1, rec_every, rec_off, n_rec)",
        "if rc >= 0 and fb < 0:",
        "    tr_work[i, rc] = Wb",
        "    tr_heat[i, rc] = Qb",
        "    if rec_x:",
        "        for j in range(D):",
        "            tr_x[i, rc, j] = xv[j]",
    ]
    body += ["    " + line for line in step]
    body += [
        "for j in range(D):",
        "    x[i, j] = xv[j]",
        "    v[i, j] = vv[j]",
        "u[i] = ub",
        "work[i] = Wb",
        "heat[i] = Qb",
        "shadow_work[i] = Sb",
        "path_work[i] = Pb",
        "n_accepted[i] = ab",
        "failed_step[i] = fb",
        "rng[i, 0] = a0",
        "rng[i, 1] = a1",
        "rng[i, 2] = a2",
        "rng[i, 3] = a3",
    ]
    L += ["    " + line for line in body]
    return "\n".join(L) + "\n", max_o


def splitting_cuda_kernel(*args):
    """Placeholder for the generated kernel (:func:`cuda_kernel_source`); its globals
    are the generated one's."""
    raise NotImplementedError
