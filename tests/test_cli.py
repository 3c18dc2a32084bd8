"""The command line: run (examples and configs), validate, bench; user errors are one line."""
import json
import subprocess
import sys

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
                 "Landauer"):
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
