"""Thin wrapper: the benchmark lives in neqsim.bench.engine (also: neqsim bench)."""
from neqsim.bench.engine import main

if __name__ == "__main__":
    main()
