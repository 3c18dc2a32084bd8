"""Per-trajectory random numbers: xoshiro256++ streams keyed by (seed, trajectory).

Trajectory i owns a 4-word xoshiro256++ state derived only from (seed, i), so its noise
does not depend on thread count, chunking or how trajectories are split across workers,
and the whole generator state of a run is an (n_traj, 4) uint64 array that can be saved
and restored for resume.

Seeding: ``h = mix(seed) + (i + 1) * golden`` is a bijection of i for a fixed seed, and
each state word is ``mix(h + j * c)`` with ``mix`` the (bijective) splitmix64 finalizer,
so distinct trajectories get distinct states, each a pseudo-random point in the 2^256
period; stream overlap is then negligible for any feasible run.

Normals use a 256-strip Marsaglia-Tsang ziggurat: one 64-bit draw per normal on the
fast path (98.8% of draws), which is what makes a Langevin step cheap.

Two forms of the same streams: row-indexed (``next_u64(s, b)``, ``normal(s, b)`` on an
(n, 4) state array) and lanes (``normals_lanes``: the next normal of every lane of a
block whose states are held as four arrays s0..s3, structure-of-arrays). The lane form
draws in two passes: a branch-free fast path over all lanes, which vectorizes, then a
scalar fix-up of the lanes that left it (~1.2%), each continuing its own stream exactly
as ``normal`` would, so every lane gets the same numbers as the row form.
"""
import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic
from scipy.special import erfc

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED_SALT = np.uint64(0x6A09E667F3BCC909)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S17 = np.uint64(17)
_S11 = np.uint64(11)
_S8 = np.uint64(8)
_BYTE = np.uint64(0xFF)
_ONE = np.uint64(1)
_TWO_M53 = 2.0 ** -53


@njit(cache=True)
def _mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True)
def seed_states(seed, first, out):
    """Fill ``out[j]`` with the state of trajectory ``first + j`` for ``seed``."""
    base = _mix64(np.uint64(seed) ^ _SEED_SALT)
    for j in range(out.shape[0]):
        h = base + np.uint64(first + j + 1) * _GOLDEN
        for w in range(4):
            out[j, w] = _mix64(h + np.uint64(w + 1) * _M2)


@njit(cache=True, inline="always")
def next_u64(s, b):
    """xoshiro256++ (Blackman and Vigna 2019): advance row ``b`` of an (n, 4) state array.

    Row-indexed rather than taking a 1-D view: making a view per draw costs more than the
    draw itself inside the kernels' step loops."""
    s0 = s[b, 0]
    s1 = s[b, 1]
    s2 = s[b, 2]
    s3 = s[b, 3]
    result = _rotl(s0 + s3, 23) + s0
    t = s1 << _S17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    s[b, 0] = s0
    s[b, 1] = s1
    s[b, 2] = s2
    s[b, 3] = s3
    return result


@njit(cache=True, inline="always")
def uniform(s, b):
    """Uniform double in [0, 1) with 53 random bits (signed conversion: one instruction)."""
    return np.int64(next_u64(s, b) >> _S11) * _TWO_M53


@njit(cache=True)
def uniform_open(s, b):
    """Uniform double in (0, 1], safe for log."""
    return (np.int64(next_u64(s, b) >> _S11) + 1) * _TWO_M53


def _ziggurat_tables(n=256, r=3.6541528853610088):
    f = lambda x: np.exp(-0.5 * x * x)  # noqa: E731
    v = r * f(r) + np.sqrt(np.pi / 2) * erfc(r / np.sqrt(2))
    x = np.zeros(n + 1)
    x[0] = v / f(r)  # base strip: rectangle [0, r] x [0, f(r)] plus the tail
    x[1] = r
    for i in range(1, n - 1):
        x[i + 1] = np.sqrt(-2.0 * np.log(v / x[i] + f(x[i])))
    x[n] = 0.0
    return x, f(x)


_ZX, _ZF = _ziggurat_tables()
_ZR = float(_ZX[1])


@njit(cache=True, inline="always")
def normal(s, b):
    """Standard normal from row ``b`` by the ziggurat: strips of equal area under
    exp(-x^2/2); one 64-bit draw gives strip (8 bits), sign (1) and abscissa (53).
    The fast path (98.8% of draws) is inlined into the kernels; wedges and the tail go
    to an out-of-line function so the step loop stays small."""
    r = next_u64(s, b)
    i = np.int64(r & _BYTE)
    z = np.int64(r >> _S11) * _TWO_M53 * _ZX[i]
    if z < _ZX[i + 1]:
        return -z if (r >> _S8) & _ONE else z
    return _normal_slow(s, b, r)


@njit(cache=True)
def _normal_slow(s, b, r):
    zx = _ZX
    zf = _ZF
    while True:
        i = np.int64(r & _BYTE)
        neg = (r >> _S8) & _ONE
        z = np.int64(r >> _S11) * _TWO_M53 * zx[i]
        if z < zx[i + 1]:
            return -z if neg else z
        if i == 0:
            # Tail beyond r (Marsaglia 1964): exact draw from exp(-x^2/2), x > r.
            while True:
                a = -math.log(uniform_open(s, b)) / _ZR
                c = -math.log(uniform_open(s, b))
                if 2.0 * c > a * a:
                    z = _ZR + a
                    return -z if neg else z
        y = zf[i] + uniform(s, b) * (zf[i + 1] - zf[i])
        if y < math.exp(-0.5 * z * z):
            return -z if neg else z
        r = next_u64(s, b)


@njit(cache=True, inline="always")
def xoshiro(a0, a1, a2, a3):
    """``next_u64`` on a state held in four values: (result, a0, a1, a2, a3)."""
    result = _rotl(a0 + a3, 23) + a0
    t = a1 << _S17
    a2 ^= a0
    a3 ^= a1
    a1 ^= a2
    a0 ^= a3
    a2 ^= t
    a3 = _rotl(a3, 45)
    return result, a0, a1, a2, a3


@njit(cache=True, inline="always")
def to_uniform(r):
    """Uniform double in [0, 1) from a 64-bit draw (as ``uniform``)."""
    return np.int64(r >> _S11) * _TWO_M53


@njit(cache=True)
def normal_slow_state(a0, a1, a2, a3, r):
    """``_normal_slow`` on a state held in four values: the normal that the draw ``r``
    (which left the fast path) starts, and the state after it: (z, a0, a1, a2, a3)."""
    zx = _ZX
    zf = _ZF
    while True:
        i = np.int64(r & _BYTE)
        neg = (r >> _S8) & _ONE
        z = np.int64(r >> _S11) * _TWO_M53 * zx[i]
        if z < zx[i + 1]:
            return (-z if neg else z), a0, a1, a2, a3
        if i == 0:
            while True:
                r1, a0, a1, a2, a3 = xoshiro(a0, a1, a2, a3)
                a = -math.log((np.int64(r1 >> _S11) + 1) * _TWO_M53) / _ZR
                r2, a0, a1, a2, a3 = xoshiro(a0, a1, a2, a3)
                c = -math.log((np.int64(r2 >> _S11) + 1) * _TWO_M53)
                if 2.0 * c > a * a:
                    z = _ZR + a
                    return (-z if neg else z), a0, a1, a2, a3
        r1, a0, a1, a2, a3 = xoshiro(a0, a1, a2, a3)
        y = zf[i] + np.int64(r1 >> _S11) * _TWO_M53 * (zf[i + 1] - zf[i])
        if y < math.exp(-0.5 * z * z):
            return (-z if neg else z), a0, a1, a2, a3
        r, a0, a1, a2, a3 = xoshiro(a0, a1, a2, a3)


@njit(cache=True, inline="always")
def normal_state(a0, a1, a2, a3):
    """``normal`` on a state held in four values: (z, a0, a1, a2, a3), the same numbers
    as ``normal`` on the row (one trajectory per thread: the CUDA kernels' form)."""
    r, a0, a1, a2, a3 = xoshiro(a0, a1, a2, a3)
    i = np.int64(r & _BYTE)
    z = np.int64(r >> _S11) * _TWO_M53 * _ZX[i]
    if z < _ZX[i + 1]:
        return (-z if (r >> _S8) & _ONE else z), a0, a1, a2, a3
    return normal_slow_state(a0, a1, a2, a3, r)


@intrinsic
def _cttz(typingctx, x):
    """Index of the lowest set bit of a nonzero uint64 (LLVM's cttz)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], context.get_constant(types.boolean, True))
    return sig, codegen


@njit(cache=True, inline="always")
def normals_lanes(s0, s1, s2, s3, z, row, rbuf, words, nb):
    """z[row, b] = the next standard normal of lane b's stream, for lanes b < nb.

    Pass 1 runs the ziggurat's fast path on every lane without a branch (it vectorizes)
    and marks the lanes whose draw left it as bits of ``words`` (one uint64 per 64
    lanes); pass 2 finishes those lanes, scalar, each continuing its own stream: the
    same numbers as ``normal`` on each lane's row. ``rbuf`` keeps each lane's draw."""
    nw = (nb + 63) // 64
    any_bad = np.uint64(0)
    for w in range(nw):
        base = 64 * w
        m = np.uint64(0)
        for k in range(min(64, nb - base)):
            b = base + k
            r, a0, a1, a2, a3 = xoshiro(s0[b], s1[b], s2[b], s3[b])
            s0[b] = a0
            s1[b] = a1
            s2[b] = a2
            s3[b] = a3
            i = np.int64(r & _BYTE)
            x = np.int64(r >> _S11) * _TWO_M53 * _ZX[i]
            z[row, b] = -x if (r >> _S8) & _ONE else x
            rbuf[b] = r
            m |= np.uint64(x >= _ZX[i + 1]) << np.uint64(k)
        words[w] = m
        any_bad |= m
    if any_bad:
        for w in range(nw):
            m = words[w]
            while m:
                b = 64 * w + np.int64(_cttz(m))
                m &= m - _ONE
                z[row, b], s0[b], s1[b], s2[b], s3[b] = normal_slow_state(
                    s0[b], s1[b], s2[b], s3[b], rbuf[b])


@njit(cache=True)
def _fill_normals(states, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = normal(states, i)


@njit(cache=True)
def _fill_uniforms(states, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = uniform(states, i)


def make_states(seed, n, first=0):
    """States for trajectories ``first .. first + n - 1`` of ``seed``: (n, 4) uint64."""
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed}")
    out = np.empty((n, 4), dtype=np.uint64)
    seed_states(np.uint64(seed), np.int64(first), out)
    return out


def normals(seed, n, m, first=0):
    """Draw an (n, m) array of normals, row i from trajectory ``first + i``'s stream."""
    st = make_states(seed, n, first)
    out = np.empty((n, m))
    _fill_normals(st, out)
    return out


def uniforms(seed, n, m, first=0):
    st = make_states(seed, n, first)
    out = np.empty((n, m))
    _fill_uniforms(st, out)
    return out
