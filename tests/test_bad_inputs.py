"""Every bad input gets one clear error (naming the parameter, what is wrong and what to
do) instead of a plausible wrong answer, a crash, or a library-internal message."""
import inspect
import json
import math
import subprocess
import sys
import textwrap
import traceback
import warnings

import numpy as np
import pytest

import neqsim as nq
from neqsim.analysis import UnreliableEstimateWarning
from neqsim.cli.config import ConfigError, load
from neqsim.engine.job import Job

A = nq.analysis
RNG = np.random.default_rng(0)
W = RNG.normal(size=50)


@nq.log_density
def _std_normal(x):
    return -0.5 * x[0] ** 2


def _ais(**kw):
    kw.setdefault("kernel", nq.kernels.RandomWalk(0.5))
    kw.setdefault("schedule", 5)
    n = kw.pop("n_chains", 50)
    if "initial" not in kw:
        kw["initial"] = RNG.normal(size=(n, 1))
    return nq.ais(_std_normal, _std_normal, n_chains=n, progress=False,
                  n_bootstrap=kw.pop("n_bootstrap", 0), **kw)


# 1 -------------------------------------------------------------------------------------
def test_cli_zero_or_negative_n_traj_is_an_error(tmp_path, monkeypatch, capsys):
    from neqsim.cli import main
    from neqsim.engine import driver

    def no_run(*a, **k):  # the old `n_traj or default` ran the configuration's 100000
        raise AssertionError("simulate ran")
    monkeypatch.setattr(driver, "simulate", no_run)
    for n in ("0", "-3"):
        assert main(["run", "dragged-trap", "--n-traj", n, "--out", tmp_path / "x.h5",
                     "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"n_traj (--n-traj) must be an integer >= 1, got {n}" in err
    assert main(["run", "dragged-trap", "--n-traj", "5", "--out", "", "--no-progress"]) == 2
    assert "out (--out) must be the path of a run file, got ''" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


# 2 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda w: A.ais_log_z(w),
    lambda w: A.ais_log_z(W, log_weights_reverse=w),
    lambda w: A.jarzynski(w),
    lambda w: A.cumulant(w),
    lambda w: A.bar(w, W),
    lambda w: A.bar(W, w),
    lambda w: A.crooks(w, W),
    lambda w: A.dissipation(w, 0.0),
    lambda w: A.landauer(w, [0.5, 0.5], [1.0, 0.0]),
], ids=["ais_log_z", "ais_log_z-reverse", "jarzynski", "cumulant", "bar-f", "bar-r",
        "crooks", "dissipation", "landauer"])
def test_estimators_refuse_arrays_that_are_not_1d(call):
    with pytest.raises(ValueError, match=r"must be a 1-D array of per-\w+ [\w ]+, got shape "
                                         r"\(200, 10\)"):
        call(RNG.normal(size=(200, 10)))


# 3 -------------------------------------------------------------------------------------
def test_one_sample_per_direction_has_no_error_bar():
    for wf, wr in (([1.0], [-1.5]), ([1.0, 2.0], [-1.5]), ([1.0], [-1.5, -0.5])):
        with pytest.warns(UnreliableEstimateWarning, match="at least 2 in each direction"):
            est = A.bar(wf, wr)
        assert math.isfinite(est.value)  # the estimate stands; only its error is unknown
        assert math.isnan(est.std_error) and not est.reliable
        assert np.isnan(est.ci).all() and math.isnan(est.bootstrap_std_error)
        assert any("error bar" in w for w in est.warnings)
    with pytest.warns(UnreliableEstimateWarning, match="at least 2 in each direction"):
        lz = A.ais_log_z([-1.0], log_weights_reverse=[1.5])
    assert math.isnan(lz.std_error) and not lz.reliable
    with pytest.warns(UnreliableEstimateWarning, match="a single work value"):
        est = A.jarzynski([1.0])
    assert math.isnan(est.std_error) and not est.reliable


# 4 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("delta_f", [math.nan, math.inf, -math.inf, "1.0x", None])
def test_second_law_needs_a_finite_delta_f(delta_f):
    with pytest.raises(ValueError, match=r"delta_f must be a finite real number, got"):
        A.dissipation(W, delta_f)
    with pytest.raises(ValueError, match=r"beta must be a finite number > 0, got nan"):
        A.dissipation(W, 0.0, beta=math.nan)
    with pytest.raises(ValueError, match=r"n_sigma must be a finite real number, got nan"):
        A.dissipation(W, 0.0, n_sigma=math.nan)


# 5 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, name", [
    (lambda w: A.jarzynski(w), "work"),
    (lambda w: A.cumulant(w), "work"),
    (lambda w: A.bar(W, w), "reverse work"),
    (lambda w: A.crooks(w, W), "forward work"),
    (lambda w: A.ais_log_z(w), "log_weights"),
    (lambda w: A.dissipation(w, 0.0), "work"),
    (lambda w: A.landauer(w, [0.5, 0.5], [1.0, 0.0]), "heat"),
], ids=["jarzynski", "cumulant", "bar", "crooks", "ais_log_z", "dissipation", "landauer"])
def test_complex_input_is_a_type_error_naming_the_argument(call, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not a ComplexWarning and a number
        with pytest.raises(TypeError, match=rf"^{name} is complex \(complex128\).*real part"):
            call(W + 1e-3j)


# 6 -------------------------------------------------------------------------------------
def _simulate(**kw):
    trap = nq.systems.harmonic_trap()
    return nq.simulate(trap, nq.protocols.linear([0.0, 1.0], [1.0, 1.0], 5),
                       nq.EulerMaruyama(0.01), kw.pop("n_traj", 10), progress=False, **kw)


def _too_large_for_memory():
    trap = nq.systems.harmonic_trap()
    job = Job.build(trap, nq.protocols.linear([0.0, 1.0], [1.0, 1.0], 5),
                    nq.EulerMaruyama(0.01), 10**15, beta=1.0, seed=1, init="equilibrium",
                    record_every=0, record_positions=False, on_failure="raise")
    job.check_memory()


DT = r"dt must be a finite number > 0, got None"
STEP = r"step_size must be finite and > 0 .*'adapt'\), got None"
SEED = r"seed must be an integer in \[0, 2\*\*64\) \(or None for a fresh one\), got "
BOOT = r"n_bootstrap must be an integer >= 0 \(0: no bootstrap\), got -5"
CONF = r"confidence must be a level in \(0, 1\), e.g. 0.95, got 1.5"


@pytest.mark.parametrize("call, match", [
    (lambda: nq.EulerMaruyama(dt=None), DT),
    (lambda: nq.MALA(dt=None), DT),
    (lambda: nq.Langevin(dt=None), DT),
    (lambda: nq.Langevin(dt=0.1, gamma=None), r"gamma must be a finite number >= 0, got None"),
    (lambda: nq.GHMC(dt=None), DT),
    (lambda: nq.VelocityVerlet(dt=None), DT),
    (lambda: nq.kernels.RandomWalk(step_size=None), STEP),
    (lambda: nq.kernels.MALA(step_size=None), STEP),
    (lambda: nq.kernels.HMC(step_size=None), STEP),
    (lambda: _simulate(n_traj=float("nan")), r"n_traj must be an integer >= 1, got nan"),
    (lambda: _simulate(n_traj=float("inf")), r"n_traj must be an integer >= 1, got inf"),
    (lambda: _simulate(seed="abc"), SEED + "'abc'"),
    (lambda: _simulate(beta="hot"), r"beta must be a finite number > 0, got 'hot'"),
    (lambda: _simulate(record_every=float("nan")), r"record_every must be an integer >= 0"),
    (_too_large_for_memory, r"n_traj=1000000000000000: the in-memory result needs about "
                            r"[\d.]+ PiB .* available; pass out='run.h5' to stream"),
    (lambda: _ais(seed="abc"), SEED + "'abc'"),
    (lambda: _ais(seed=-1), SEED + "-1"),
    (lambda: _ais(n_chains=float("nan"), initial=np.zeros((5, 1))),
     r"n_chains must be an integer >= 1, got nan"),
    (lambda: _ais(seed=1, n_bootstrap=-5), BOOT),
    (lambda: _ais(seed=1, kernel=nq.kernels.RandomWalk("adapt"), adapt_iters=0),
     r"adapt_iters must be an integer >= 1, got 0"),
    (lambda: A.jarzynski(W, n_bootstrap=-5), BOOT),
    (lambda: A.jarzynski(W, n_bootstrap=2.5), r"n_bootstrap must be an integer >= 0"),
    (lambda: A.jarzynski(W, confidence=1.5), CONF),
    (lambda: A.bar(W, W, n_bootstrap=-5), BOOT),
    (lambda: A.bar(W, W, confidence=1.5), CONF),
    (lambda: A.ais_log_z(W, n_bootstrap=-5), BOOT),
    (lambda: A.ais_log_z(W, confidence=1.5), CONF),
], ids=["em-dt", "mala-dt", "langevin-dt", "langevin-gamma", "ghmc-dt", "verlet-dt",
        "rwm-step", "kmala-step", "hmc-step", "n_traj-nan", "n_traj-inf", "seed-str",
        "beta-str", "record_every-nan", "n_traj-beyond-memory", "ais-seed-str",
        "ais-seed-negative", "ais-n_chains-nan", "ais-n_bootstrap", "ais-adapt_iters",
        "exp-n_bootstrap", "exp-n_bootstrap-float", "exp-confidence", "bar-n_bootstrap",
        "bar-confidence", "logz-n_bootstrap", "logz-confidence"])
def test_engine_and_estimator_arguments_get_one_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_memory_check_leaves_runs_that_fit():
    trap = nq.systems.harmonic_trap()
    job = Job.build(trap, nq.protocols.linear([0.0, 1.0], [1.0, 1.0], 5),
                    nq.EulerMaruyama(0.01), 1000, beta=1.0, seed=1, init="equilibrium",
                    record_every=1, record_positions=True, on_failure="raise")
    job.check_memory()
    with pytest.raises(ValueError, match=r"n_traj=1000: .* but 1.0 KiB of memory"):
        job.check_memory(available=1024)


# 7 -------------------------------------------------------------------------------------
def test_out_of_range_indices_in_user_functions_are_caught_before_any_step(tmp_path):
    """dim = 1 functions indexing past their arrays: inside a kernel they read garbage or
    overwrite memory (malloc(): invalid size, the process aborts). Run in a subprocess so
    that a regression crashes it, not pytest."""
    (tmp_path / "mypot.py").write_text(textwrap.dedent("""\
        def energy(x, lam):
            return 0.5 * x[0] ** 2

        def gradient_oob(x, lam, out):
            out[4] = x[0]

        def energy_oob(x, lam):
            return 0.5 * x[1] ** 2

        def gradient(x, lam, out):
            out[0] = x[0]

        def energy_grad_oob(x, lam, out):
            out[0] = lam[2] * x[0]
            return 0.5 * lam[2] * x[0] ** 2

        def log_f_oob(x):
            return -0.5 * x[3] ** 2

        def log_f_grad_oob(x, grad):
            grad[5] = -x[0]
            return -0.5 * x[0] ** 2

        def log_f(x, grad):
            grad[0] = -x[0]
            return -0.5 * x[0] ** 2
    """))
    (tmp_path / "script.py").write_text(textwrap.dedent("""\
        import numpy as np
        import neqsim as nq
        import mypot as m
        proto = nq.protocols.linear([0.0], [1.0], 10)
        x0 = np.linspace(-1, 1, 20)[:, None]
        cases = {
            "gradient": lambda: nq.from_functions(m.energy, m.gradient_oob),
            "energy": lambda: nq.from_functions(m.energy_oob, m.gradient),
            "energy_grad": lambda: nq.potential()(m.energy_grad_oob),
        }
        for name, make in cases.items():
            try:
                nq.simulate(make(), proto, nq.EulerMaruyama(0.01), 20, init=x0, seed=1,
                            progress=False, check_gradient=name != "energy")
                print(name, "RAN")
            except nq.PotentialError as e:
                print(name, "CAUGHT", str(e).replace("\\n", " | "))
        for name, f0, kernel in (("log_density", m.log_f_oob, nq.kernels.RandomWalk(0.5)),
                                 ("log_density_grad", m.log_f_grad_oob,
                                  nq.kernels.MALA(0.5))):
            try:
                nq.ais(nq.log_density(f0), nq.log_density(m.log_f), initial=x0,
                       kernel=kernel, n_chains=20, schedule=5, seed=1, progress=False)
                print(name, "RAN")
            except nq.PotentialError as e:
                print(name, "CAUGHT", str(e).replace("\\n", " | "))
    """))
    out = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    got = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    mypot = str(tmp_path / "mypot.py")
    expect = {
        "gradient": (5, "index 4 is out of bounds", "x and out have 1 entry (dim=1), lam has "
                     "1 (n_controls=1)", "out[4] = x[0]"),
        "energy": (8, "index 1 is out of bounds", "x has 1 entry (dim=1)", "x[1] ** 2"),
        "energy_grad": (14, "index 2 is out of bounds", "lam has 1 (n_controls=1)",
                        "lam[2] * x[0]"),
        "log_density": (18, "index 3 is out of bounds", "x has 1 entry (dim=1)",
                        "columns of the initial samples"),
        "log_density_grad": (21, "index 5 is out of bounds", "x and grad have 1 entry",
                             "grad[5] = -x[0]"),
    }
    for name, (line, *words) in expect.items():
        msg = got[name]
        assert msg.startswith("CAUGHT"), (name, msg)
        assert f"({mypot}, line {line}): index out of range" in msg, (name, msg)
        for w in words:
            assert w in msg, (name, w, msg)


# 8 -------------------------------------------------------------------------------------
def _uncompilable_energy(x, lam):
    return 0.5 * undefined_name_e * x[0] ** 2  # noqa: F821


def _uncompilable_gradient(x, lam, out):
    out[0] = undefined_name_g * x[0]  # noqa: F821


def _uncompilable_log_f(x):
    return -0.5 * undefined_name_f * x[0] ** 2  # noqa: F821


def _ok_energy(x, lam):
    return 0.5 * x[0] ** 2


def _ok_gradient(x, lam, out):
    out[0] = x[0]


def _line(fn):
    return inspect.getsourcelines(fn)[1] + 1


@pytest.mark.parametrize("call, fn, signature", [
    (lambda: nq.from_functions(_uncompilable_energy, _ok_gradient).energy(np.zeros(3), [1.0]),
     _uncompilable_energy, "(x, lam: float64 arrays)"),
    (lambda: nq.from_functions(_ok_energy, _uncompilable_gradient).gradient(np.zeros(3),
                                                                            [1.0]),
     _uncompilable_gradient, "(x, lam, out: float64 arrays)"),
    (lambda: nq.ais(nq.log_density(_uncompilable_log_f), _std_normal,
                    initial=np.zeros((10, 1)), kernel=nq.kernels.RandomWalk(0.5), n_chains=10,
                    schedule=3, seed=1, progress=False),
     _uncompilable_log_f, "(x: a float64 array)"),
    (lambda: nq.log_density(_uncompilable_log_f)(np.zeros(1)), _uncompilable_log_f,
     "(x: a float64 array)"),
], ids=["system.energy", "system.gradient", "ais", "log_density-call"])
def test_uncompilable_user_functions_give_the_short_error_everywhere(call, fn, signature):
    with pytest.raises(nq.PotentialError) as e:
        call()
    text = "".join(traceback.format_exception(e.type, e.value, e.tb))
    assert len(text.strip().splitlines()) < 15, text
    assert "numba/core" not in text
    assert f"{__file__}, line {_line(fn)}) does not compile with numba: NameError" in text
    assert signature in str(e.value)


# 9 -------------------------------------------------------------------------------------
def _config(**change):
    cfg = {"system": {"name": "harmonic_trap"},
           "protocol": {"kind": "linear", "start": [0.0, 1.0], "end": [1.0, 1.0],
                        "n_steps": 10},
           "integrator": {"name": "EulerMaruyama", "dt": 0.01},
           "run": {"n_traj": 10, "seed": 1, "out": "x.h5"}}
    for path, value in change.items():
        section, key = path.split("__")
        cfg[section][key] = value
    return json.dumps(cfg)


@pytest.mark.parametrize("text, match", [
    ("[1, 2]", "the top level must be a table of sections .*got a list"),
    ("null", "the top level must be a table of sections .*got null"),
    ("3", "the top level must be a table of sections .*got a number"),
    ("[" * 100_000 + "]" * 100_000, r"cannot be parsed \(nested too deeply\)"),
    ('{"a":' * 100_000 + "1" + "}" * 100_000, r"cannot be parsed \(nested too deeply\)"),
    (json.dumps({**json.loads(_config()), "run": [1, 2]}), r"\[run\] must be a table of "
                                                           "fields, got a list"),
    (json.dumps({"system": "harmonic_trap"}), r"\[system\] must be a table of fields, got "
                                              "a string"),
    (_config(protocol__n_steps="ten"), r"\[protocol\] n_steps must be an integer >= 1, got "
                                       "'ten'"),
    (_config(run__n_traj=1.5), r"\[run\] n_traj must be an integer >= 1, got 1.5"),
    (_config(protocol__start="abc"), r"\[protocol\] start must be a number or a list of "
                                     "numbers, got 'abc'"),
    (_config(protocol__start=[0.0, "a"]), r"\[protocol\] start must be a number or a list"),
    (_config(run__seed="abc"), r"\[run\] seed must be an integer >= 0"),
    (_config(run__out=5), r"\[run\] out must be a file name, got 5"),
    (_config(run__reverse="yes"), r"\[run\] reverse must be true or false, got 'yes'"),
    (_config(system__name=3), r"\[system\] name must be a string, got 3"),
    (_config(system__params=[1]), r"\[system\] params must be a table of parameters"),
    (_config(integrator__name=["EulerMaruyama"]), r"\[integrator\] name must be a string"),
], ids=["list", "null", "number", "deep-list", "deep-object", "run-list", "system-str",
        "n_steps-str", "n_traj-float", "start-str", "start-mixed", "seed-str", "out-int",
        "reverse-str", "name-int", "params-list", "integrator-name-list"])
def test_bad_run_configurations_are_config_errors_naming_the_file(tmp_path, text, match):
    path = tmp_path / "cfg.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        load(str(path))
    assert str(e.value).startswith(f"{path}: ")


def test_bad_toml_sections_and_fields(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text('system = "harmonic_trap"\n')
    with pytest.raises(ConfigError, match=r"cfg.toml: \[system\] must be a table of fields"):
        load(str(path))
    path.write_text('[system]\nname = "harmonic_trap"\n[protocol]\nkind = "linear"\n'
                    'start = [0.0, 1.0]\nend = [1.0, 1.0]\nn_steps = "ten"\n'
                    '[integrator]\nname = "EulerMaruyama"\ndt = 0.01\n'
                    '[run]\nn_traj = 10\nout = "x.h5"\n')
    with pytest.raises(ConfigError, match=r"cfg.toml: \[protocol\] n_steps must be an "
                                          "integer >= 1, got 'ten'"):
        load(str(path))


# 10 ------------------------------------------------------------------------------------
def test_per_temperature_step_sizes_are_used_with_an_adaptive_schedule():
    steps = np.linspace(0.3, 0.8, 11)  # one per temperature t_0..t_10
    res = _ais(kernel=nq.kernels.RandomWalk(steps), n_chains=100, seed=2,
               schedule=nq.schedules.adaptive(10, grid=20))
    assert res.schedule.n_steps == 10
    np.testing.assert_array_equal(res.kernel.step_size, steps)
    np.testing.assert_array_equal(res.run.integrator.step_size, steps)
    assert np.isfinite(res.log_z)
    for schedule in (nq.schedules.adaptive(10, grid=20), nq.schedules.uniform(10)):
        with pytest.raises(ValueError, match=r"kernel step_size has 5 entries; it needs one "
                                             r"per temperature t_0..t_N: 11 for this "
                                             r"schedule of 10 steps"):
            _ais(kernel=nq.kernels.RandomWalk(steps[:5]), seed=2, schedule=schedule)


# 11 ------------------------------------------------------------------------------------
def test_adaptive_schedule_pilot_fits_the_initial_samples():
    res = _ais(n_chains=200, seed=3, schedule=nq.schedules.adaptive(20, grid=30))
    assert res.pilot["n_pilot"] == 200 and res.schedule.n_steps == 20
    with pytest.raises(ValueError, match=r"n_pilot=500 pilot chains need as many initial "
                                         r"samples, but initial has 200: pass n_pilot <= "
                                         r"200"):
        _ais(n_chains=200, seed=3, schedule=nq.schedules.adaptive(20, n_pilot=500, grid=30))
    with pytest.raises(ValueError, match=r"n_pilot must be an integer >= 1, got 0"):
        nq.schedules.adaptive(20, n_pilot=0)
    # a callable draws as many as the pilot needs
    res = _ais(n_chains=50, seed=3, initial=lambda n, rng: rng.standard_normal((n, 1)),
               schedule=nq.schedules.adaptive(5, grid=10))
    assert res.pilot["n_pilot"] == 1000
