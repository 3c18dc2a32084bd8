"""Run files: round trip, plain-h5py reading, SIGKILL + resume, memory, clear errors."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

import neqsim as nq

FIELDS = ("work", "heat", "shadow_work", "path_work", "initial_energy", "final_energy",
          "x0", "x", "v0", "v", "acceptance", "failed")


def assert_same_run(a, b):
    for key in FIELDS:
        x, y = getattr(a, key), getattr(b, key)
        if x is None or y is None:
            assert x is None and y is None, key
        else:
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), key
    assert (a.trace is None) == (b.trace is None)
    if a.trace is not None:
        assert sorted(a.trace.keys()) == sorted(b.trace.keys())
        for key in a.trace.keys():
            assert np.array_equal(a.trace[key], b.trace[key]), key
    assert a.protocol == b.protocol
    assert a.integrator == b.integrator
    assert (a.beta, a.seed, a.n_traj) == (b.beta, b.seed, b.n_traj)
    assert a.system_name == b.system_name


# breathing + dragged trap: asymmetric, and GHMC exercises acceptance and { } blocks
CASES = {
    "em": (nq.systems.harmonic_trap(), nq.protocols.linear([0.0, 1.0], [2.0, 4.0], 120),
           nq.EulerMaruyama(dt=0.01)),
    "ghmc": (nq.systems.double_well(), nq.protocols.linear([2.0, 0.0], [1.0, 1.0], 90),
             nq.GHMC(dt=0.2)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip(tmp_path, case):
    system, proto, integ = CASES[case]
    kw = dict(n_traj=777, beta=1.3, seed=11, record_every=7, record_positions=True)
    mem = nq.simulate(system, proto, integ, **kw)
    path = tmp_path / "run.h5"
    filed = nq.simulate(system, proto, integ, out=path, chunk_traj=200, chunk_steps=13,
                        checkpoint_every=0, **kw)
    assert filed.path == os.fspath(path) and filed.complete
    assert_same_run(mem, filed)
    back = nq.open_run(path)
    assert_same_run(mem, back)
    assert back.system.name == system.name and back.system.params == system.params
    assert np.max(np.abs(back.first_law_residual())) < 1e-9
    assert "Langevin" not in repr(back) or case == "ghmc"


def test_plain_h5py_as_documented(tmp_path):
    """Exactly the recipe of docs/run-files.md."""
    system, proto, integ = CASES["em"]
    path = tmp_path / "forward.h5"
    run = nq.simulate(system, proto, integ, n_traj=300, seed=5, out=path, record_every=10)
    with h5py.File(path, "r", locking=False) as f:
        par = f["parameters"].attrs
        n = int(f["neqsim/progress"][0])
        complete = n == par["n_traj"]
        beta = par["beta"]
        work = f["observables/totals/work"][:n]
        heat = f["observables/totals/heat"][:n]
        protocol = f["parameters/protocol"][:]
        integrator = par["integrator"], json.loads(par["integrator_params"])
        t = f["observables/work/time"][:]
        w_t = f["observables/work/value"][:, :n]
        assert list(f["h5md"].attrs["version"]) == [1, 1]
        assert f["h5md/creator"].attrs["name"] == "neqsim"
        assert list(f["h5md/modules/neqsim"].attrs["version"]) == [1, 1]
        assert "ON the system" in par["convention_work"]
        assert "BY the system" in par["convention_heat"]
        assert par["kT"] == 1.0 / beta and int(par["seed"]) == 5
        for key in ("version_neqsim", "version_numpy", "version_numba", "version_h5py"):
            assert par[key]
    assert complete and n == 300
    assert np.array_equal(work, run.work) and np.array_equal(heat, run.heat)
    assert np.array_equal(protocol, proto.values)
    assert integrator == ("EulerMaruyama", {"dt": 0.01, "gamma": 1.0})
    assert np.allclose(t, np.arange(13) * 10 * 0.01)
    assert np.array_equal(w_t[-1], run.work)  # step 120 is recorded: cumulative W = W


WRITER = textwrap.dedent("""
    import sys
    import neqsim as nq
    path, mode = sys.argv[1], sys.argv[2]
    system = nq.systems.double_well()
    proto = nq.protocols.linear([2.0, -0.5], [1.0, 1.0], 400)
    integ = nq.Langevin(dt=0.05, splitting="O V R V O")
    kw = dict(progress=False, chunk_steps=20, checkpoint_every=0, n_threads=1)
    if mode == "start":
        nq.simulate(system, proto, integ, n_traj=3000, seed=2024, out=path, chunk_traj=700,
                    record_every=25, record_positions=True, **kw)
    else:
        nq.resume(path, **kw)
    print("DONE", flush=True)
""")


def _marker(path):
    try:
        with h5py.File(path, "r", locking=False) as f:
            return tuple(int(v) for v in f["neqsim/progress"][:])
    except (OSError, KeyError):
        return None


def _kill_when(proc, path, condition, extra_delay):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        m = _marker(path) if os.path.exists(path) else None
        if m is not None and condition(m):
            time.sleep(extra_delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("writer never reached the kill point")


def test_sigkill_and_resume_bit_identical(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    path = tmp_path / "killed.h5"
    rng = np.random.default_rng(7)
    # kill points: mid-block after a checkpoint, right after a block commit, and at
    # seeded random moments afterwards (inside kernel calls or writes)
    conditions = [lambda m: m[2] > 0 and m[0] == 0,
                  lambda m: m[0] >= 700 and m[2] == 0,
                  lambda m: m[0] >= 1400,
                  lambda m: m[0] >= 2100]
    mode, kills, seen = "start", 0, []
    for j, cond in enumerate(conditions):
        proc = subprocess.Popen([sys.executable, str(script), str(path), mode],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        delay = 0.0 if j == 1 else float(rng.uniform(0.0, 0.05))
        if not _kill_when(proc, path, cond, delay):
            out, err = proc.communicate()
            assert proc.returncode == 0, err.decode()
            break
        kills += 1
        mode = "resume"
        partial = nq.open_run(path)  # readable after every kill, committed data intact
        seen.append((partial.n_traj, _marker(path)))
        assert not partial.complete or partial.n_traj == 3000
        assert np.all(np.isfinite(partial.work))
    assert kills >= 2, seen
    assert any(m[2] > 0 for _, m in seen), f"no mid-block checkpoint was killed: {seen}"
    if not nq.open_run(path).complete:
        proc = subprocess.run([sys.executable, str(script), str(path), "resume"],
                              capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode()
    resumed = nq.open_run(path)
    assert resumed.complete
    reference = nq.simulate(nq.systems.double_well(),
                            nq.protocols.linear([2.0, -0.5], [1.0, 1.0], 400),
                            nq.Langevin(dt=0.05, splitting="O V R V O"), n_traj=3000,
                            seed=2024, record_every=25, record_positions=True)
    assert_same_run(reference, resumed)


def test_resume_in_process_and_refusals(tmp_path):
    system, proto, integ = CASES["em"]
    path = tmp_path / "r.h5"
    kw = dict(n_traj=500, seed=9)
    full = nq.simulate(system, proto, integ, **kw)
    # an interrupted run: a failure in a later block stops the writer (on_failure="raise")
    done = nq.simulate(system, proto, integ, out=path, chunk_traj=100, **kw)
    with h5py.File(path, "r+") as f:  # pretend the run stopped after 2 blocks
        f["neqsim/progress"][:] = [200, 0, 0, 0]
    part = nq.open_run(path)
    assert part.n_traj == 200 and not part.complete and "INCOMPLETE" in repr(part)
    assert np.array_equal(part.work, full.work[:200])
    with pytest.raises(nq.RunFileError, match="different configuration.*seed"):
        nq.simulate(system, proto, integ, out=path, resume=True, n_traj=500, seed=10)
    with pytest.raises(nq.RunFileError, match="different configuration.*dt"):
        nq.simulate(system, proto, nq.EulerMaruyama(dt=0.02), out=path, resume=True, **kw)
    with pytest.raises(nq.RunFileError, match="different configuration.*protocol"):
        nq.simulate(system, proto.reversed(), integ, out=path, resume=True, **kw)
    run = nq.simulate(system, proto, integ, out=path, resume=True, **kw)
    assert run.complete
    assert_same_run(full, run)
    assert_same_run(done, run)
    with pytest.raises(nq.RunFileError, match="already complete"):
        nq.resume(path)
    with pytest.raises(nq.RunFileError, match="exists"):
        nq.simulate(system, proto, integ, out=path, **kw)
    again = nq.simulate(system, proto, integ, out=path, overwrite=True, n_traj=50, seed=1)
    assert again.n_traj == 50


def test_user_potential_resume_needs_same_system(tmp_path):
    import numba

    @numba.njit
    def energy(x, lam):
        return 0.5 * lam[1] * (x[0] - lam[0]) ** 2 + 0.1 * x[0] ** 4

    @numba.njit
    def gradient(x, lam, out):
        out[0] = lam[1] * (x[0] - lam[0]) + 0.4 * x[0] ** 3

    @numba.njit
    def energy2(x, lam):
        return 0.5 * lam[1] * (x[0] - lam[0]) ** 2 + 0.2 * x[0] ** 4

    @numba.njit
    def gradient2(x, lam, out):
        out[0] = lam[1] * (x[0] - lam[0]) + 0.8 * x[0] ** 3

    mine = nq.from_functions(energy, gradient, dim=1, n_controls=2, name="mine")
    edited = nq.from_functions(energy2, gradient2, dim=1, n_controls=2, name="mine")
    proto = nq.protocols.linear([0, 1], [1, 2], 50)
    path = tmp_path / "u.h5"
    full = nq.simulate(mine, proto, nq.MALA(dt=0.1), n_traj=300, seed=4, out=path,
                       chunk_traj=100)
    with h5py.File(path, "r+") as f:
        f["neqsim/progress"][:] = [100, 0, 0, 0]
    assert nq.open_run(path).system is None
    with pytest.raises(nq.RunFileError, match="user-defined system 'mine'.*system="):
        nq.resume(path)
    with pytest.raises(nq.RunFileError, match="different energies"):
        nq.resume(path, system=edited)
    run = nq.resume(path, system=mine, progress=False)
    assert_same_run(full, run)


def test_progress_bar(tmp_path, capsys):
    system, proto, integ = CASES["em"]
    nq.simulate(system, proto, integ, n_traj=2000, seed=1, progress=True, chunk_traj=500)
    err = capsys.readouterr().err
    assert "2,000/2,000 traj" in err and "harmonic_trap" in err
    nq.simulate(system, proto, integ, n_traj=100, seed=1, progress=False)
    assert capsys.readouterr().err == ""


def test_bad_files_give_one_clear_error(tmp_path):
    system, proto, integ = CASES["em"]
    good = tmp_path / "good.h5"
    nq.simulate(system, proto, integ, n_traj=2000, seed=1, out=good)

    text = tmp_path / "notes.txt"
    text.write_text("not hdf5")
    with pytest.raises(nq.RunFileError, match="notes.txt: is not an HDF5 file"):
        nq.open_run(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(nq.RunFileError, match="other.h5: is an HDF5 file but not a neqsim"):
        nq.open_run(other)
    with pytest.raises(nq.RunFileError, match="missing.h5: no such file"):
        nq.open_run(tmp_path / "missing.h5")
    truncated = tmp_path / "truncated.h5"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(nq.RunFileError, match="truncated.h5: is a damaged or truncated"):
        nq.open_run(truncated)
    newer = tmp_path / "newer.h5"
    newer.write_bytes(data)
    with h5py.File(newer, "r+") as f:
        f["h5md/modules/neqsim"].attrs["version"] = np.array([2, 0], dtype=np.int32)
    with pytest.raises(nq.RunFileError, match="format 2.0, newer than this neqsim"):
        nq.open_run(newer)
    with pytest.raises(nq.RunFileError, match="already complete"):
        nq.resume(good)
    with pytest.raises(nq.RunFileError, match="good.h5: exists; to replace it pass overwrite=True"):
        nq.simulate(system, proto, integ, n_traj=10, seed=1, out=good)
    with pytest.raises(ValueError, match="pass out="):
        nq.simulate(system, proto, integ, n_traj=10, seed=1, resume=True)
    # the CLI: one line on stderr, exit code 2, no traceback
    for path, what in ((text, "is not an HDF5 file"), (other, "not a neqsim run file"),
                       (truncated, "damaged or truncated")):
        res = subprocess.run([sys.executable, "-m", "neqsim", "info", str(path)],
                             capture_output=True, text=True)
        assert res.returncode == 2 and what in res.stderr
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = subprocess.run([sys.executable, "-m", "neqsim", "info", str(good)],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "COMPLETE" in res.stdout and "2,000 / 2,000" in res.stdout


MEMORY = textwrap.dedent("""
    import resource, sys
    import neqsim as nq
    n = int(sys.argv[2])
    nq.simulate(nq.systems.harmonic_trap(), nq.protocols.linear([0, 1], [1, 1], 20),
                nq.EulerMaruyama(dt=0.01), n_traj=n, seed=1, out=sys.argv[1],
                chunk_traj=20_000, progress=False)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
""")


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units are platform-specific")
def test_memory_bounded_by_block(tmp_path):
    script = tmp_path / "mem.py"
    script.write_text(MEMORY)
    rss = {}
    for n in (100_000, 1_000_000):
        out = subprocess.run([sys.executable, str(script), str(tmp_path / f"m{n}.h5"), str(n)],
                             capture_output=True, text=True, check=True)
        rss[n] = int(out.stdout.split()[-1]) / 1024  # MiB
    # in memory, 10x the trajectories would add ~14 arrays x 8 B x 900k = ~100 MiB
    assert rss[1_000_000] - rss[100_000] < 30, rss
