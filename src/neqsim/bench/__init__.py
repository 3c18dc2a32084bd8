"""Benchmarks shipped with the package (``neqsim bench``; also ``benchmarks/*.py``):
:mod:`.engine` times neqsim against NumPy and the C SIMD limit on the perf-reference
workloads, in one run, as ratios, with compile and cache-load times."""
