"""The benchmark runs and prints its table (not a timed test)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_prints_table():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_engine.py"),
                          "--quick", "--runs", "1", "--no-compile"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    for w in ("W1", "W2", "W3"):
        assert w in out.stdout
    assert "x NumPy" in out.stdout and "C SIMD" in out.stdout
