"""Shared numba plumbing, no physics: the on-disk cache keyed by the package's source
(:mod:`.cache`), per-trajectory random numbers (:mod:`.rng`), the calling convention for
potentials (:mod:`.abi`), lazily compiled kernels (:mod:`.lazy`) and the trace helpers
every kernel shares (:mod:`.trace`)."""
