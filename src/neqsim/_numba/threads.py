"""Threads for the kernels: each thread runs the (GIL-free) kernel on its own contiguous
range of trajectories. Trajectories are independent and each draws only from its own
stream, so the split never changes a bit; the number of threads is numba's setting
(``numba.set_num_threads``, or ``simulate(..., n_threads=...)``)."""
from __future__ import annotations

import concurrent.futures as cf
import threading

import numba

__all__ = ["split", "run_split", "thread_count"]

_POOL = None
_POOL_LOCK = threading.Lock()


def thread_count():
    """Threads a kernel call uses now: numba's current setting for this thread."""
    return max(1, int(numba.get_num_threads()))


def _pool():
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = cf.ThreadPoolExecutor(max(1, numba.config.NUMBA_NUM_THREADS),
                                          thread_name_prefix="neqsim-kernel")
        return _POOL


def split(n, parts, align):
    """[(a, b), ...]: at most ``parts`` contiguous ranges covering 0..n, each a multiple
    of ``align`` long except the last."""
    if parts <= 1 or n <= align:
        return [(0, n)]
    size = -(-n // parts)
    size = -(-size // align) * align
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def run_split(fn, n, align):
    """``fn(a, b)`` for the ranges of :func:`split` over the current thread count, in
    parallel (the first range in this thread); re-raises the first error."""
    ranges = split(n, thread_count(), align)
    if len(ranges) == 1:
        fn(*ranges[0])
        return
    futures = [_pool().submit(fn, a, b) for a, b in ranges[1:]]
    error = None
    try:
        fn(*ranges[0])
    except BaseException as e:  # noqa: B902 - re-raised below, after the others finish
        error = e
    for f in futures:
        try:
            f.result()
        except BaseException as e:  # noqa: B902
            error = error or e
    if error is not None:
        raise error
