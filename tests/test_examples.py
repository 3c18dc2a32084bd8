"""Every script in examples/ runs end to end at small size and leaves its outputs.

Each example is run as a user would run it (a subprocess, ``python examples/NAME.py``)
with ``NEQSIM_EXAMPLE_SMALL=1`` (a few thousand trajectories) and ``NEQSIM_OUT`` pointing
to a temporary directory. A run passes when it exits with status 0, writes its figure
``NAME.png`` and at least one complete run file (``*.h5``, readable with
``nq.open_run``), and its printed results table has no ``FAIL`` status (examples mark a
check of an exact identity FAIL when the estimate misses the exact value by more than
4 standard errors, or a bound when it is violated).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import neqsim as nq

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


def test_examples_found():
    assert len(EXAMPLES) >= 2, f"no examples found in {ROOT / 'examples'}"


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_small(script, tmp_path):
    env = dict(os.environ, NEQSIM_EXAMPLE_SMALL="1", NEQSIM_OUT=str(tmp_path),
               MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    log = f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
    assert proc.returncode == 0, f"{script.name} exited with {proc.returncode}\n{log}"

    figure = tmp_path / f"{script.stem}.png"
    assert figure.is_file() and figure.stat().st_size > 10_000, \
        f"{script.name} did not write its figure {figure.name}\n{log}"

    run_files = sorted(tmp_path.glob("*.h5"))
    assert run_files, f"{script.name} wrote no run file (*.h5)\n{log}"
    for path in run_files:
        run = nq.open_run(path)
        assert run.complete and run.n_traj > 0 and len(run.work) == run.n_traj, path.name

    failed = [line for line in proc.stdout.splitlines() if re.search(r"\bFAIL\b", line)]
    assert not failed, f"{script.name} reports failed checks:\n" + "\n".join(failed) + \
        f"\n{log}"
