"""Thin wrapper: the benchmark lives in neqsim.bench.integrators (also: neqsim bench integrators)."""
from neqsim.bench.integrators import main

if __name__ == "__main__":
    main()
