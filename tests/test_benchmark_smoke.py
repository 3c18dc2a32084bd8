"""The benchmark runs and prints its table (not a timed test)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_prints_table():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_integrators.py"),
                          "--n-traj", "500", "--n-steps", "50", "--repeat", "1"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "(a) EM dragged trap" in out.stdout and "(b) BAOAB double well" in out.stdout
    assert "speed-up over NumPy" in out.stdout
