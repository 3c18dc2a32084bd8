"""Benchmarks shipped with the package (``neqsim bench``; also ``benchmarks/*.py``).

Each compares neqsim with a vectorized NumPy implementation of the same workload written
in the benchmark itself, in one run, and reports ns per step and the speed-up."""
