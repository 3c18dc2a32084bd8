"""Shared numba plumbing, no physics: the on-disk cache keyed by the package's source
(:mod:`.cache`), per-trajectory random numbers (:mod:`.rng`), the potential calling
convention (:mod:`.abi`), lazily compiled kernels (:mod:`.lazy`), specialized kernels
with the potential inlined (:mod:`.specialize`), stack buffers (:mod:`.stack`), the
kernel threads (:mod:`.threads`) and the trace helpers every kernel shares
(:mod:`.trace`).

Importing this package installs the cache locator first, before any module of it
decorates a cached kernel: numba picks a function's cache directory when it is
decorated.
"""
from . import cache  # noqa: F401  (first: numba chooses cache locators at decoration time)
