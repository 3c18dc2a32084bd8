"""Numba kernel of the splitting integrators (Langevin, GHMC, velocity Verlet), generated
per sub-step sequence.

:func:`kernel_source` writes the kernel for one splitting (``OP_*`` codes, parsed by
:func:`neqsim.dynamics.splitting.parse_splitting`); :mod:`neqsim._numba.specialize`
compiles it with the potential inlined and ``D`` (dimension), ``M`` (controls), ``B``
(lanes per block) constants. As in the overdamped kernel, a block of ``B`` trajectories
is held as structure-of-arrays on the stack and each step is a few loops over its lanes:
normals first (``rng.normals_lanes``, for the O sub-steps of the loop that follows), then
one branch-free loop for the deterministic sub-steps (masks combine with ``&`` and
``|``, which do not branch: ``and``/``or`` would, and stop LLVM from vectorizing); a Metropolized ``{ }`` block
ends a loop with a scalar accept/reject loop (its uniform is drawn only where needed,
and exp() does not vectorize). Failures are masks: a trajectory whose energy becomes
non-finite keeps the positions and velocities it had at that point, its sums stay those
of the step before, and it is frozen.

Each lane does the arithmetic, and consumes the random numbers, of the kernel of neqsim
0.1.0 in the same order (tests/fixtures pin its outputs): per step, the switch H (work),
then the sub-steps with constants c1, c2 (V: v -= c1 grad U, c1 = h/m; R: x += c1 v,
c1 = h; O: v = c1 v + c2 xi; { .. }: Metropolized block). Bookkeeping: H -> W; O -> Q
(kinetic change); V and R -> S (shadow work). The energy after R sub-steps is evaluated
when a V needs the force, a block boundary needs the energy, or the step ends, and its
change charged to S then. Path work P = W + shadow work outside Metropolized blocks. A
rejected block restores x, v (flipped), U, grad U and S. |v|^2 is carried between
sub-steps (R leaves v alone): the same value recomputing it would give.
"""
import math

import numpy as np
from numba import carray

from .._numba.rng import normals_lanes, to_uniform, xoshiro
from .._numba.stack import stack_f8, stack_i8, stack_u8
from .._numba.trace import record_row

__all__ = ["OP_V", "OP_R", "OP_O", "OP_OPEN", "OP_CLOSE", "kernel_source", "lanes_for"]

# sub-step codes of a splitting string
OP_V, OP_R, OP_O, OP_OPEN, OP_CLOSE = 0, 1, 2, 3, 4

# compile-time constants, bound per specialization
D = 1
M = 1
B = 256
DB = D * B
NZ = 1   # rows of normals a loop draws ahead: (O sub-steps in it) * D
NZB = NZ * B

_HELPERS = (math, np, carray, normals_lanes, to_uniform, xoshiro, stack_f8, stack_i8,
            stack_u8, record_row)


def potential(x, lam, out):  # bound to the system's inlined energy_grad
    raise NotImplementedError


def lanes_for(dim):
    """Lanes per block: the block's buffers stay within about 48 kB for small
    dimensions, at least 16 lanes."""
    per_lane = 8 * (7 * dim + 24)
    b = 256
    while b > 16 and b * per_lane > 49152:
        b //= 2
    return b


def _phases(ops):
    """Split one step's sub-steps into loops: each Metropolized block's close ends a loop
    (its accept/reject is a loop of its own). Returns [(ops of the loop, index of each
    op), ...] and the indices of the closes, in order."""
    phases, current = [], []
    for o, op in enumerate(ops):
        current.append((o, op))
        if op == OP_CLOSE:
            phases.append(current)
            current = []
    phases.append(current)
    return phases


def kernel_source(ops):
    """Source of ``splitting_kernel`` for the sub-step sequence ``ops``, and the number
    of O sub-steps in its largest loop (the rows of normals drawn ahead, per dimension)."""
    ops = [int(op) for op in ops]
    has_block = OP_OPEN in ops
    phases = _phases(ops)
    max_o = max(1, max(sum(op == OP_O for _, op in ph) for ph in phases))
    L = []
    emit = L.append

    emit("def splitting_kernel(lam, k0, k1, prm, st, tr, rec_every, rec_off):")
    # the sub-step constants as scalars: a load from the array inside a masked update
    # would be done as a gather (LLVM cannot prove it safe to load unconditionally)
    body = [f"c1_{o} = prm[0][{o}]" for o in range(len(ops))]
    body += [f"c2_{o} = prm[1][{o}]" for o in range(len(ops)) if ops[o] == OP_O]
    body += [
        "beta = prm[2]",
        "half_m = 0.5 * prm[3]",
        "n = st.x.shape[0]",
        "n_rec = tr.work.shape[1]",
        "rec_x = tr.x.shape[2] > 0",
        "xs = carray(stack_f8(DB), (D, B))",
        "vs = carray(stack_f8(DB), (D, B))",
        "gs = carray(stack_f8(DB), (D, B))",
        "zs = carray(stack_f8(NZB), (NZ, B))",
        "ub = carray(stack_f8(B), (B,))",
        "Wb = carray(stack_f8(B), (B,))",
        "Qb = carray(stack_f8(B), (B,))",
        "Sb = carray(stack_f8(B), (B,))",
        "Pb = carray(stack_f8(B), (B,))",
        "ab = carray(stack_i8(B), (B,))",
        "fb = carray(stack_i8(B), (B,))",
        "s0 = carray(stack_u8(B), (B,))",
        "s1 = carray(stack_u8(B), (B,))",
        "s2 = carray(stack_u8(B), (B,))",
        "s3 = carray(stack_u8(B), (B,))",
        "rbuf = carray(stack_u8(B), (B,))",
        "words = carray(stack_u8(B), (B,))",
        # the state of a step in progress, between its loops
        "ui_b = carray(stack_f8(B), (B,))",
        "Wi_b = carray(stack_f8(B), (B,))",
        "Pi_b = carray(stack_f8(B), (B,))",
        "Qi_b = carray(stack_f8(B), (B,))",
        "Si_b = carray(stack_f8(B), (B,))",
        "v2_b = carray(stack_f8(B), (B,))",
        "al_b = carray(stack_i8(B), (B,))",
        "xv = carray(stack_f8(D), (D,))",
        "vv = carray(stack_f8(D), (D,))",
        "gv = carray(stack_f8(D), (D,))",
        "lv = carray(stack_f8(M), (M,))",
    ]
    if has_block:
        body += [
            "xsv = carray(stack_f8(DB), (D, B))",
            "vsv = carray(stack_f8(DB), (D, B))",
            "gsv = carray(stack_f8(DB), (D, B))",
            "rj_b = carray(stack_i8(B), (B,))",
            "e0_b = carray(stack_f8(B), (B,))",
            "us_b = carray(stack_f8(B), (B,))",
            "ss_b = carray(stack_f8(B), (B,))",
            "de_b = carray(stack_f8(B), (B,))",
        ]
    body += [
        "for lo in range(0, n, B):",
        "    nb = min(B, n - lo)",
        "    for b in range(nb):",
        "        i = lo + b",
        "        for j in range(D):",
        "            xs[j, b] = st.x[i, j]",
        "            vs[j, b] = st.v[i, j]",
        "        ub[b] = st.u[i]",
        "        Wb[b] = st.work[i]",
        "        Qb[b] = st.heat[i]",
        "        Sb[b] = st.shadow_work[i]",
        "        Pb[b] = st.path_work[i]",
        "        ab[b] = st.n_accepted[i]",
        "        fb[b] = st.failed_step[i]",
        "        s0[b] = st.rng[i, 0]",
        "        s1[b] = st.rng[i, 1]",
        "        s2[b] = st.rng[i, 2]",
        "        s3[b] = st.rng[i, 3]",
        "    for s in range(k0, k1):",
        "        for j in range(M):",
        "            lv[j] = lam[s + 1, j]",
        "        step = np.int64(s + 1)",
    ]
    step = []
    fresh = True
    in_block = False

    def evaluate(pad):
        """The energy after R sub-steps (non-finite: a failure, or inside a block an
        infinite-energy proposal, which is rejected)."""
        out = [pad + "un = potential(xv, lv, gv)"]
        if in_block:
            out += [pad + "fail = alive & (math.isnan(un) | (un == -math.inf))",
                    pad + "ok = alive & (not fail)",
                    pad + "rj = rj | (ok & (un == math.inf))",
                    pad + "Si = Si + (un - ui) if ok & (un != math.inf) else Si"]
        else:
            out += [pad + "fail = alive & (not math.isfinite(un))",
                    pad + "ok = alive & (not fail)",
                    pad + "Si = Si + (un - ui) if ok else Si",
                    pad + "Pi = Pi + (un - ui) if ok else Pi"]
        out += [pad + "alive = ok",
                pad + "ui = un if ok else ui"]
        return out

    for p, phase in enumerate(phases):
        first, last = p == 0, p == len(phases) - 1
        o_ops = [o for o, op in phase if op == OP_O]
        # normals of this loop's O sub-steps, drawn ahead in their order
        for r, o in enumerate(o_ops):
            step += ["for j in range(D):",
                     f"    normals_lanes(s0, s1, s2, s3, zs, {r} * D + j, rbuf, words, nb)"]
        pad = "    "
        loop = ["for b in range(nb):"]
        loop += [pad + "for j in range(D):",
                 pad + "    xv[j] = xs[j, b]",
                 pad + "    vv[j] = vs[j, b]"]
        if first:
            loop += [pad + "alive = fb[b] < 0",
                     pad + "ui = potential(xv, lv, gv)",
                     pad + "alive = alive & math.isfinite(ui)",
                     pad + "w = ui - ub[b]",
                     pad + "Wi = Wb[b] + w",
                     pad + "Pi = Pb[b] + w",
                     pad + "Qi = Qb[b]",
                     pad + "Si = Sb[b]",
                     pad + "v2 = 0.0",
                     pad + "for j in range(D):",
                     pad + "    v2 += vv[j] * vv[j]"]
            if has_block:
                loop += [pad + "rj = False"]
        else:
            loop += [pad + "for j in range(D):",
                     pad + "    gv[j] = gs[j, b]",
                     pad + "alive = al_b[b] != 0",
                     pad + "ui = ui_b[b]",
                     pad + "Wi = Wi_b[b]",
                     pad + "Pi = Pi_b[b]",
                     pad + "Qi = Qi_b[b]",
                     pad + "Si = Si_b[b]",
                     pad + "v2 = v2_b[b]",
                     pad + "rj = rj_b[b] != 0"]
        for o, op in phase:
            if op == OP_R:
                loop += [pad + "for j in range(D):",
                         pad + f"    xv[j] = xv[j] + c1_{o} * vv[j] if alive else xv[j]"]
                fresh = False
                continue
            if op == OP_O:
                r = o_ops.index(o)
                loop += [pad + "for j in range(D):",
                         pad + f"    vv[j] = c1_{o} * vv[j] + c2_{o} * zs[{r} * D + j, b] "
                               "if alive else vv[j]",
                         pad + "v2n = 0.0",
                         pad + "for j in range(D):",
                         pad + "    v2n += vv[j] * vv[j]",
                         pad + "Qi = Qi + half_m * (v2n - v2) if alive else Qi",
                         pad + "v2 = v2n if alive else v2"]
                continue
            if not fresh:
                loop += evaluate(pad)
                fresh = True
            if op == OP_V:
                act = "alive & (not rj)" if in_block else "alive"
                loop += [pad + f"act = {act}",
                         pad + "for j in range(D):",
                         pad + f"    vv[j] = vv[j] - c1_{o} * gv[j] if act else vv[j]",
                         pad + "v2n = 0.0",
                         pad + "for j in range(D):",
                         pad + "    v2n += vv[j] * vv[j]",
                         pad + "dk = half_m * (v2n - v2)",
                         pad + "v2 = v2n if act else v2",
                         pad + "Si = Si + dk if act else Si"]
                if not in_block:
                    loop += [pad + "Pi = Pi + dk if act else Pi"]
            elif op == OP_OPEN:
                in_block = True
                loop += [pad + "rj = False",
                         pad + "for j in range(D):",
                         pad + "    xsv[j, b] = xv[j]",
                         pad + "    vsv[j, b] = vv[j]",
                         pad + "    gsv[j, b] = gv[j]",
                         pad + "us_b[b] = ui",
                         pad + "ss_b[b] = Si",
                         pad + "e0_b[b] = ui + half_m * v2"]
            else:  # OP_CLOSE: the energy change of the block, judged in the next loop
                in_block = False
                loop += [pad + "de_b[b] = ui + half_m * v2 - e0_b[b]"]
        if last:
            if not fresh:
                loop += evaluate(pad)
                fresh = True
            loop += [pad + "fb[b] = step if (fb[b] < 0) & (not alive) else fb[b]",
                     pad + "ub[b] = ui if alive else ub[b]",
                     pad + "Wb[b] = Wi if alive else Wb[b]",
                     pad + "Qb[b] = Qi if alive else Qb[b]",
                     pad + "Sb[b] = Si if alive else Sb[b]",
                     pad + "Pb[b] = Pi if alive else Pb[b]"]
        else:
            loop += [pad + "for j in range(D):",
                     pad + "    gs[j, b] = gv[j]",
                     pad + "al_b[b] = 1 if alive else 0",
                     pad + "ui_b[b] = ui",
                     pad + "Wi_b[b] = Wi",
                     pad + "Pi_b[b] = Pi",
                     pad + "Qi_b[b] = Qi",
                     pad + "Si_b[b] = Si",
                     pad + "v2_b[b] = v2",
                     pad + "rj_b[b] = 1 if rj else 0"]
        loop += [pad + "for j in range(D):",
                 pad + "    xs[j, b] = xv[j]",
                 pad + "    vs[j, b] = vv[j]"]
        step += loop
        if not last:
            # accept/reject of the block that closed this loop (scalar: exp, and the
            # uniform drawn only where the energy went up)
            step += [
                "for b in range(nb):",
                "    if al_b[b] == 0:",
                "        continue",
                "    de = de_b[b]",
                "    ok = rj_b[b] == 0 and math.isfinite(de)",
                "    if ok and not de <= 0.0:",
                "        r, s0[b], s1[b], s2[b], s3[b] = xoshiro(s0[b], s1[b], s2[b], s3[b])",
                "        ok = to_uniform(r) < math.exp(-beta * de)",
                "    if ok:",
                "        ab[b] += 1",
                "    else:",
                "        v2 = 0.0",
                "        for j in range(D):",
                "            xs[j, b] = xsv[j, b]",
                "            vs[j, b] = -vsv[j, b]",
                "            gs[j, b] = gsv[j, b]",
                "            v2 += vs[j, b] * vs[j, b]",
                "        ui_b[b] = us_b[b]",
                "        Si_b[b] = ss_b[b]",
                "        v2_b[b] = v2",
                "    rj_b[b] = 0",
            ]
    step += [
        "rc = record_row(s + 1, rec_every, rec_off, n_rec)",
        "if rc >= 0:",
        "    for b in range(nb):",
        "        if fb[b] < 0:",
        "            tr.work[lo + b, rc] = Wb[b]",
        "            tr.heat[lo + b, rc] = Qb[b]",
        "            if rec_x:",
        "                for j in range(D):",
        "                    tr.x[lo + b, rc, j] = xs[j, b]",
    ]
    body += ["        " + line for line in step]
    body += [
        "    for b in range(nb):",
        "        i = lo + b",
        "        for j in range(D):",
        "            st.x[i, j] = xs[j, b]",
        "            st.v[i, j] = vs[j, b]",
        "        st.u[i] = ub[b]",
        "        st.work[i] = Wb[b]",
        "        st.heat[i] = Qb[b]",
        "        st.shadow_work[i] = Sb[b]",
        "        st.path_work[i] = Pb[b]",
        "        st.n_accepted[i] = ab[b]",
        "        st.failed_step[i] = fb[b]",
        "        st.rng[i, 0] = s0[b]",
        "        st.rng[i, 1] = s1[b]",
        "        st.rng[i, 2] = s2[b]",
        "        st.rng[i, 3] = s3[b]",
    ]
    L += ["    " + line for line in body]
    return "\n".join(L) + "\n", max_o


def splitting_kernel(lam, k0, k1, prm, st, tr, rec_every, rec_off):
    """Placeholder for the generated kernel (:func:`kernel_source`); its code object
    carries the module's globals into the generated one."""
    raise NotImplementedError
