"""The CUDA stepper: a :class:`KernelState` on the device, one thread per trajectory.

Every family's CUDA kernel (``*_cuda.py`` beside its CPU kernel) is driven through
:func:`cuda_stepper`, which has the CPU stepper's interface
``advance(state, k0, k1, trace, rec_off=0) -> StepInfo``: the engine drives blocks, checks
blow-ups, writes run files and checkpoints exactly as on the CPU, between kernel calls.
A call copies the block's state to device memory (skipped when the device already holds
it: the same state, continued from the step the last call stopped at), runs the kernel
and copies the state and the trace window back, so the host's arrays are always the
current ones (a checkpoint or commit reads them).

Kernel arguments, in this order: ``lam, k0, k1, *params, *state, trace.work, trace.heat,
trace.x, n_rec, rec_x, rec_every, rec_off`` with ``state`` the :class:`StateArrays`
fields the family names (``fields``). Empty arrays (no trace, no positions recorded)
travel as 1-element stand-ins, with ``n_rec`` and ``rec_x`` saying they are empty.
"""
from __future__ import annotations

import weakref

import numpy as np

from .base import step_info

__all__ = ["cuda_stepper", "OVERDAMPED_FIELDS", "UNDERDAMPED_FIELDS"]

OVERDAMPED_FIELDS = ("x", "u", "rng", "work", "heat", "path_work", "n_accepted",
                     "failed_step")
UNDERDAMPED_FIELDS = ("x", "v", "u", "rng", "work", "heat", "shadow_work", "path_work",
                      "n_accepted", "failed_step")


def cuda_stepper(kernel, lam, params, record_every, fields, *, threads=None):
    """``advance(state, k0, k1, trace, rec_off=0) -> StepInfo`` running ``kernel`` (a
    :class:`neqsim._numba.gpu.CudaKernel`) over the state's trajectories, one CUDA thread
    each, in blocks of ``threads`` (default: the kernel's; the numbers do not depend on
    it). ``params``: the family's scalars and arrays (arrays go to the device once)."""
    cuda = kernel.cuda
    lam_d = cuda.to_device(np.ascontiguousarray(lam, dtype=np.float64))
    params = tuple(cuda.to_device(np.ascontiguousarray(p)) if isinstance(p, np.ndarray)
                   else p for p in params)
    record_every = int(record_every)
    resident = {}  # the device copy of the last state: {"state": weakref, "k": step, ...}

    def device_state(state, k0):
        ref = resident.get("state")
        if ref is not None and ref() is state and resident["k"] == k0:
            return resident["arrays"]
        arrays = [cuda.to_device(np.ascontiguousarray(getattr(state, f))) for f in fields]
        resident.clear()
        resident.update(state=weakref.ref(state), arrays=arrays, k=k0)
        return arrays

    def advance(state, k0, k1, trace, rec_off=0):
        before = int(state.n_accepted.sum())
        n = state.n
        if n == 0 or k1 <= k0:
            return step_info(state, k0, k1, before)
        dev = device_state(state, k0)
        n_rec = trace.work.shape[1] if trace.work.size else 0
        rec_x = bool(trace.x.size)
        tw = cuda.to_device(trace.work if n_rec else np.zeros((1, 1)))
        th = cuda.to_device(trace.heat if n_rec else np.zeros((1, 1)))
        tx = cuda.to_device(trace.x if rec_x else np.zeros((1, 1, 1)))
        kernel.launch(n, lam_d, np.int64(k0), np.int64(k1), *params, *dev, tw, th, tx,
                      np.int64(n_rec), rec_x, np.int64(record_every), np.int64(rec_off),
                      threads=threads)
        for f, d in zip(fields, dev):
            d.copy_to_host(getattr(state, f))
        if n_rec:
            tw.copy_to_host(trace.work)
            th.copy_to_host(trace.heat)
        if rec_x:
            tx.copy_to_host(trace.x)
        resident["k"] = k1
        return step_info(state, k0, k1, before)

    advance.kernel = kernel
    return advance
