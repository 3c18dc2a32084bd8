"""The command line: run (examples and configs), validate, bench; user errors are one line."""
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

import neqsim as nq


def neqsim(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "neqsim", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def test_validate_quick_passes():
    res = neqsim("validate", "--quick")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "FAIL" not in res.stdout.replace("FAILED", "")
    for case in ("dragged trap", "breathing dF, BAR", "Crooks slope", "second law",
                 "W + W_shadow", "MALA dF", "GHMC dF", "AIS log Z, Gaussian", "AIS log Z, Ising",
                 "Landauer", "quench dSigma", "asymmetric memory", "feedback trap", "Sagawa-Ueda", "3-cycle"):
        assert case in res.stdout, case


def test_validate_reports_a_broken_setting():
    """Euler-Maruyama at a time step far too large for the trap: the validation must not
    pass silently (it fails, or the run blows up with a clear error)."""
    res = neqsim("validate", "--case", "breathing", "--integrator", "em", "--dt", "2.5")
    assert res.returncode != 0
    assert "Traceback" not in res.stderr


def test_run_named_example_and_config(tmp_path):
    res = neqsim("run", "breathing-trap", "--n-traj", "2000", "--out", tmp_path / "b.h5",
                 "--no-progress")
    assert res.returncode == 0, res.stderr
    fwd, rev = nq.open_run(tmp_path / "b.h5"), nq.open_run(tmp_path / "b.reverse.h5")
    assert fwd.n_traj == rev.n_traj == 2000
    assert nq.protocols.is_reverse_of(fwd.protocol, rev.protocol)
    cfg = {"system": {"name": "double_well", "params": {"quartic": 1.0}},
           "protocol": {"kind": "linear", "start": [2.0, 0.0], "end": [1.0, 1.0],
                        "n_steps": 50},
           "integrator": {"name": "GHMC", "dt": 0.3},
           "run": {"n_traj": 500, "seed": 4, "out": str(tmp_path / "c.h5")}}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    res = neqsim("run", tmp_path / "c.json", "--no-progress")
    assert res.returncode == 0, res.stderr
    run = nq.open_run(tmp_path / "c.h5")
    direct = nq.simulate(nq.systems.double_well(), nq.protocols.linear([2.0, 0.0], [1.0, 1.0], 50),
                         nq.GHMC(dt=0.3), 500, seed=4)
    assert (run.work == direct.work).all()


def test_run_and_resume_with_workers_same_numbers(tmp_path):
    """--workers N: N spawned processes compute the blocks; forward and reverse runs are
    bit-identical to the single-process ones, and resume --workers completes a file."""
    args = ("run", "breathing-trap", "--n-traj", "3000", "--no-progress")
    assert neqsim(*args, "--out", tmp_path / "one.h5").returncode == 0
    res = neqsim(*args, "--out", tmp_path / "two.h5", "--workers", "2")
    assert res.returncode == 0, res.stderr
    for suffix in ("", ".reverse"):
        one, two = (nq.open_run(tmp_path / f"{n}{suffix}.h5") for n in ("one", "two"))
        assert two.complete and np.array_equal(one.work, two.work)
        assert np.array_equal(one.heat, two.heat) and np.array_equal(one.x, two.x)
    assert not (tmp_path / "two.h5.shards").exists()
    res = neqsim("run", "breathing-trap", "--workers", "0", "--out", tmp_path / "z.h5")
    assert res.returncode == 2 and "--workers must be >= 1" in res.stderr
    assert "Traceback" not in res.stderr
    res = neqsim("resume", tmp_path / "two.h5", "--workers", "2")
    assert res.returncode == 2 and "already complete" in res.stderr
    with h5py.File(tmp_path / "two.h5", "r+") as f:  # as if killed after 1000 trajectories
        f["neqsim/progress"][:] = [1000, 0, 0, 0]
        f["observables/totals/work"][1000:] = np.nan
    res = neqsim("resume", tmp_path / "two.h5", "--workers", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    resumed = nq.open_run(tmp_path / "two.h5")
    assert resumed.complete and np.array_equal(resumed.work, nq.open_run(tmp_path / "one.h5").work)


@pytest.mark.slow
def test_run_on_a_dask_scheduler(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    args = ("run", "dragged-trap", "--n-traj", "2000", "--no-progress")
    assert neqsim(*args, "--out", tmp_path / "one.h5").returncode == 0
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        res = neqsim(*args, "--out", tmp_path / "dask.h5", "--scheduler",
                     cluster.scheduler_address)
    assert res.returncode == 0, res.stderr
    for suffix in ("", ".reverse"):
        one, two = (nq.open_run(tmp_path / f"{n}{suffix}.h5") for n in ("one", "dask"))
        assert two.complete and np.array_equal(one.work, two.work)


@pytest.mark.parametrize("toml,message", [
    ('[system]\nname="harmonic_trap"\n[protocol]\nkind="linear"\nstart=[0,1]\nend=[1,1]\n'
     'n_steps=10\n[integrator]\nname="EulerMaruyama"\ndtt=0.1\n[run]\nn_traj=10\nout="x.h5"\n',
     "unknown field 'dtt' for EulerMaruyama (did you mean 'dt'?)"),
    ('[system]\nname="harmonic_trap"\n[protocol]\nkind="linear"\nstart=[0,1]\nend=[1,1]\n'
     '[integrator]\nname="EulerMaruyama"\ndt=0.1\n[run]\nn_traj=10\nout="x.h5"\n',
     "[protocol] is missing the field 'n_steps'"),
    ('[system]\nname="harmonic_trep"\n[protocol]\nkind="linear"\nstart=[0,1]\nend=[1,1]\n'
     'n_steps=10\n[integrator]\nname="EulerMaruyama"\ndt=0.1\n[run]\nn_traj=10\nout="x.h5"\n',
     "did you mean 'harmonic_trap'?"),
    ('[system]\nname="harmonic_trap"\n[protocol]\nkind="linear"\nstart=[0,1]\nend=[1,1]\n'
     'n_steps=10\n[integrator]\nname="EulerMaruyama"\ndt=-0.1\n[run]\nn_traj=10\nout="x.h5"\n',
     "dt must be a finite number > 0"),
    ('[system]\nname="harmonic_trap"\n[protocol]\nkind="linear"\nstart=[0,1]\nend=[1,1]\n'
     'n_steps=10\n[integrator]\nname="EulerMaruyama"\ndt=0.1\n[run]\nn_traj=0\nout="x.h5"\n',
     "n_traj must be an integer >= 1"),
])
def test_config_errors_are_one_clear_line(tmp_path, toml, message):
    path = tmp_path / "cfg.toml"
    path.write_text(toml)
    res = neqsim("run", path, cwd=tmp_path)
    assert res.returncode == 2
    assert message in res.stderr and "cfg.toml" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_unknown_example_and_existing_output(tmp_path):
    res = neqsim("run", "draged-trap")
    assert res.returncode == 2 and "dragged-trap" in res.stderr and "Traceback" not in res.stderr
    out = tmp_path / "e.h5"
    assert neqsim("run", "dragged-trap", "--n-traj", "10", "--out", out).returncode == 0
    res = neqsim("run", "dragged-trap", "--n-traj", "10", "--out", out)
    assert res.returncode == 2 and "exists" in res.stderr and "Traceback" not in res.stderr


def test_help_has_examples():
    for cmd in ("run", "validate", "info", "resume", "analyze", "bench"):
        res = neqsim(cmd, "--help")
        assert res.returncode == 0 and "example" in res.stdout, cmd
