"""Fixed-size arrays on the stack, for the block buffers of the kernels.

``stack_f8(n)`` / ``stack_u8(n)`` / ``stack_i8(n)`` return a pointer to ``n`` float64 /
uint64 / int64 values in the calling function's stack frame (``n`` a compile-time
constant); wrap it with ``numba.carray(ptr, shape)``. Why the stack: LLVM knows that two
distinct stack arrays never overlap, so a loop over the lanes of a block that reads some
buffers and writes others vectorizes without run-time overlap checks (with heap arrays
it needs one check per pair of buffers and gives up beyond eight, e.g. in ten
dimensions), and a per-lane buffer of ``dim`` values becomes registers. The memory lives
as long as the function that called the intrinsic (an inlined kernel's caller).
"""
import llvmlite.ir as llir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["stack_f8", "stack_u8", "stack_i8"]


def _stack(dtype):
    @intrinsic
    def stack(typingctx, n):
        if not isinstance(n, types.IntegerLiteral):
            return None  # the size must be a compile-time constant
        size = max(int(n.literal_value), 1)
        sig = types.CPointer(dtype)(n)

        def codegen(context, builder, signature, args):
            ty = context.get_value_type(dtype)
            arr = cgutils.alloca_once(builder, llir.ArrayType(ty, size))
            return builder.bitcast(arr, ty.as_pointer())
        return sig, codegen
    return stack


stack_f8 = _stack(types.float64)
stack_u8 = _stack(types.uint64)
stack_i8 = _stack(types.int64)
