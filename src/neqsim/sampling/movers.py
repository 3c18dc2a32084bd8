"""Moves of a particle population on the tempered path U(x, t) = a(x) + t b(x), for SMC.

A mover knows the two components of the path energy of each particle and moves the
particles with a Metropolis-Hastings kernel at one temperature:

* likelihood path (f_t = f_0 L^t): a = -log f_0, b = -log L;
* geometric path (f_t = f_0^(1-t) f_1^t): a = -log f_0, b = log f_0 - log f_1.

:class:`NumbaMover` runs neqsim's compiled kernels (the fast path: densities written for
numba); :class:`neqsim.sampling.batched.BatchedMover` runs NumPy kernels around one call
of a batched Python density (NumPy, JAX, ...) per move. Both advance each particle's own
random stream, so a particle's moves never depend on how the population is split.
"""
from __future__ import annotations

import hashlib

import numba
import numpy as np
from numba import njit

from ..dynamics.base import KernelState, TraceBuffers
from ..engine.block import announce_compiles_for
from .path import path_system

__all__ = ["NumbaMover", "make_mover"]


_COMPONENTS = {}


def _components_kernel(f0, f1):
    """A compiled loop (log f_0(x_i), log f_1(x_i)) over the rows of x, once per pair of
    densities (compiling it costs a fraction of a second)."""
    key = (id(f0), id(f1))
    hit = _COMPONENTS.get(key)
    if hit is not None and hit[0] is f0 and hit[1] is f1:
        return hit[2]
    va, vb = f0.value_grad, f1.value_grad

    @njit(nogil=True)
    def components(x, la, lb, scratch):
        for i in range(x.shape[0]):
            la[i] = va(x[i], scratch)
            lb[i] = vb(x[i], scratch)
    _COMPONENTS[key] = (f0, f1, components)
    return components


class NumbaMover:
    """Moves with neqsim's compiled Markov kernels (RandomWalk, MALA, HMC) on the AIS path
    system of two numba log densities; see the module docstring for a and b.

    ``move`` runs ``kernel.n_moves`` proposals per particle at temperature t with step
    size eps, through the same kernel code as :func:`neqsim.ais` (a path energy with
    t fixed: the kernel's switch adds nothing)."""

    def __init__(self, f0, f1, dim, path, kernel, *, progress=None):
        self.dim, self.path, self.kernel = int(dim), path, kernel
        self.system = path_system(f0, f1, self.dim, path, kernel.needs_gradient)
        self._lam = np.zeros((2, 1))
        k = kernel.with_step_sizes(np.full(2, 0.1))
        self._eps = k.step_size          # the stepper reads this very array
        self._advance = k.stepper(self.system, self._lam, 1.0, 0)
        if progress is not False:
            announce_compiles_for(self.system, type(kernel).__name__, self._advance)
        self._components = _components_kernel(f0, f1)
        self._f = (f0, f1)
        self._payload = None
        self.n_evaluations = 0
        self._n_per_move = max(1, kernel._n_leap())  # density evaluations per proposal

    def components(self, x):
        """(a, b) of each row of ``x``: U(x, t) = a + t b."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        la, lb = np.empty(x.shape[0]), np.empty(x.shape[0])
        self._components(x, la, lb, np.empty(self.dim))
        self.n_evaluations += x.shape[0]
        a = -la
        b = -lb if self.path == "likelihood" else la - lb
        return a, b

    def payload(self):
        """What a worker in another process needs to rebuild this mover (the densities'
        Python functions, pickled by value where cloudpickle is installed)."""
        if self._payload is None:
            from ..engine.executors import _dumps
            blob = _dumps((self._f[0].py_func, self._f[0].name, self._f[1].py_func,
                           self._f[1].name, self.dim, self.path, self.kernel))
            self._payload = (hashlib.blake2b(blob, digest_size=16).hexdigest(), blob)
        return self._payload

    def move(self, x, a, b, rng, t, eps, block=None, executor=None):
        """Move every particle (rows of ``x``, updated in place with ``a``, ``b`` and the
        streams ``rng``) at temperature ``t``; returns the accepted count per particle.
        With an ``executor`` the blocks are moved by its workers (same numbers: each
        particle has its own stream)."""
        n = x.shape[0]
        if executor is not None:
            block = int(block) if block else max(1, -(-n // 8))
            token, blob = self.payload()
            futures = [(lo, executor.submit(_move_block, token, blob, x[lo:lo + block],
                                            a[lo:lo + block], b[lo:lo + block],
                                            rng[lo:lo + block], t, eps))
                       for lo in range(0, n, block)]
            acc = np.zeros(n, dtype=np.int64)
            for lo, fut in futures:
                xb, ab, bb, rb, accb = fut.result()
                hi = lo + xb.shape[0]
                x[lo:hi], a[lo:hi], b[lo:hi], rng[lo:hi], acc[lo:hi] = xb, ab, bb, rb, accb
            self.n_evaluations += n * (self.kernel.n_moves * self._n_per_move + 1)
            return acc
        self._lam[:] = t
        self._eps[:] = eps
        acc = np.zeros(n, dtype=np.int64)
        block = n if not block else int(block)
        for lo in range(0, n, block):
            hi = min(n, lo + block)
            u = a[lo:hi] + t * b[lo:hi]
            state = KernelState.start(x[lo:hi], u, rng[lo:hi])
            state.rng = rng[lo:hi]  # a view: the streams advance in place
            self._advance(state, 0, 1, TraceBuffers.empty(hi - lo, 0, 0))
            x[lo:hi] = state.x
            acc[lo:hi] = state.n_accepted
        na, nb = self.components(x)
        a[:], b[:] = na, nb
        self.n_evaluations += n * self.kernel.n_moves * self._n_per_move
        return acc


_WORKER_MOVERS = {}  # token -> NumbaMover, in each worker process


def _move_block(token, blob, x, a, b, rng, t, eps):
    """A worker's share of a move: (x, a, b, rng, accepted) of its block."""
    mover = _WORKER_MOVERS.get(token)
    if mover is None:
        import pickle

        from .density import LogDensity
        p0, n0, p1, n1, dim, path, kernel = pickle.loads(blob)
        mover = _WORKER_MOVERS[token] = NumbaMover(LogDensity(p0, name=n0),
                                                   LogDensity(p1, name=n1), dim, path,
                                                   kernel, progress=False)
    x, a, b, rng = (np.array(v, order="C") for v in (x, a, b, rng))
    acc = mover.move(x, a, b, rng, t, eps)
    return x, a, b, rng, acc


def make_mover(f0, f1, dim, path, kernel, *, progress=None):
    """The mover for these densities: compiled kernels for numba densities, NumPy kernels
    around the user's function for batched ones."""
    from .batched import BatchedLogDensity, BatchedMover
    batched = [isinstance(f, BatchedLogDensity) for f in (f0, f1)]
    if any(batched):
        if not all(batched):
            raise TypeError("log_prior and log_likelihood must both be numba log densities "
                            "or both batched (nq.log_density(f, batched=True))")
        return BatchedMover(f0, f1, path, kernel)
    return NumbaMover(f0, f1, dim, path, kernel, progress=progress)


def set_threads(n_threads):
    """numba's thread count for a block of work; returns the previous one."""
    old = numba.get_num_threads()
    if n_threads:
        numba.set_num_threads(int(n_threads))
    return old
