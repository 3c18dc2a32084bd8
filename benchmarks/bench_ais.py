"""Thin wrapper: the benchmark lives in neqsim.bench.ais (also: neqsim bench ais)."""
from neqsim.bench.ais import main

if __name__ == "__main__":
    main()
