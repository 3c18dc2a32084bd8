"""The calling conventions: how kernels see a potential, and the array types of the
signatures of the package's own (potential-free) kernels.

A potential is ``energy_grad(x, lam, grad_out) -> U(x, lam)``: ``x`` and ``lam`` are
float64 arrays of length ``dim`` and ``n_controls``, dU/dx is written into ``grad_out``.
The integrator kernels inline it (:mod:`.specialize`) and call it on per-lane buffers on
the stack (:mod:`.stack`), so that each call's arithmetic becomes part of a loop over
trajectories. (0.1.0 called potentials through first-class function pointers, which
kept LLVM from inlining and vectorizing them; that path is gone.)
"""
from numba import types

__all__ = ["F1", "F2", "F3", "U2", "I1", "I2", "i8", "f8"]

F1 = types.Array(types.float64, 1, "C")
F2 = types.Array(types.float64, 2, "C")
F3 = types.Array(types.float64, 3, "C")
U2 = types.Array(types.uint64, 2, "C")
I1 = types.Array(types.int64, 1, "C")
I2 = types.Array(types.int64, 2, "C")
i8 = types.int64
f8 = types.float64
