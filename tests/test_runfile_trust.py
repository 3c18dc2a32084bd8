"""Run files you can trust: one writer per path, checksums, crafted files refused, shards
that fail cleanly and cannot be forged, bounded trace memory, no orphans.

Each test reproduces a failure found by a red-team pass on 0.1.0 (issue 14)."""
import concurrent.futures as cf
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc

import h5py
import numpy as np
import pytest

import neqsim as nq
from neqsim.storage import shards as shard_files

TRAP = nq.systems.harmonic_trap()
PROTO = nq.protocols.linear([0.0, 1.0], [2.0, 4.0], 120)   # dragged and squeezed
EM = nq.EulerMaruyama(dt=0.01)
KW = dict(beta=1.0, seed=11, progress=False)


def _reference(n=600, **kw):
    return nq.simulate(TRAP, PROTO, EM, n_traj=n, **KW, **kw)


def _good_file(tmp_path, name="good.h5", n=600, **kw):
    path = tmp_path / name
    nq.simulate(TRAP, PROTO, EM, n_traj=n, out=path, chunk_traj=200, **KW, **kw)
    return path


# --- 1. one writer per path ----------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, time, neqsim as nq
    out, n, overwrite = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    proto = nq.protocols.linear([0.0, 1.0], [2.0, 4.0], 400)
    commit = nq.storage.RunFileSink.commit
    def slow_commit(self, a, b, finals):  # a long run: 1 s per block
        time.sleep(1.0)
        commit(self, a, b, finals)
    nq.storage.RunFileSink.commit = slow_commit
    try:
        run = nq.simulate(nq.systems.harmonic_trap(), proto, nq.EulerMaruyama(dt=0.001),
                          n_traj=n, seed=int(sys.argv[4]), out=out, overwrite=overwrite,
                          chunk_traj=1000, progress=False)
        print("OK", repr(float(run.work.sum())))
    except nq.RunFileError as e:
        print("REFUSED", e)
""")


def _writer(tmp_path, out, n, overwrite, seed):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    return subprocess.Popen([sys.executable, str(script), str(out), str(n),
                             "1" if overwrite else "0", str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_writer_of_the_same_path_is_refused(tmp_path):
    """Two simulate(out=same) at once, with and without overwrite: the second is refused
    at once, the first's file holds exactly the first's numbers."""
    out = tmp_path / "shared.h5"
    first = _writer(tmp_path, out, 7000, False, 1)
    deadline = time.time() + 120
    while not os.path.exists(f"{out}.lock") or not out.exists():  # the first is writing
        assert first.poll() is None and time.time() < deadline, first.communicate()
        time.sleep(0.05)
    for overwrite in (False, True):
        second = _writer(tmp_path, out, 1000, overwrite, 2)
        text, err = second.communicate(timeout=300)
        assert text.startswith("REFUSED") and "being written by another process" in text, \
            (text, err)
        assert f"pid {first.pid}" in text
    text, err = first.communicate(timeout=300)
    assert text.startswith("OK"), err
    run = nq.open_run(out)
    assert run.complete and repr(float(run.work.sum())) == text.split()[1]
    assert not os.path.exists(f"{out}.lock")
    # and a resume of a file being written is refused the same way
    third = _writer(tmp_path, tmp_path / "other.h5", 3000, False, 3)
    while not (tmp_path / "other.h5").exists():
        time.sleep(0.05)
    with pytest.raises(nq.RunFileError, match="being written by another process"):
        nq.resume(tmp_path / "other.h5")
    third.communicate(timeout=300)


# --- 2. checksums -------------------------------------------------------------------------

def test_a_flipped_byte_in_committed_data_is_reported(tmp_path):
    good = _good_file(tmp_path, record_every=10)
    ref = nq.open_run(good)
    for name, index in (("observables/totals/heat", (437,)),
                        ("observables/totals/x", (12, 0)),
                        ("observables/work/value", (5, 310))):
        bad = tmp_path / "bad.h5"
        shutil.copy(good, bad)
        with h5py.File(bad, "r+") as f:
            ds = f[name]
            ds[index] = np.nextafter(ds[index], np.inf)  # the smallest possible change
        run = nq.open_run(bad)
        block = index[-1] // 200 if name.endswith("value") else index[0] // 200
        with pytest.raises(nq.RunFileError, match=rf"{name} of trajectories "
                                                  rf"{200 * block}\.\.{200 * block + 199} "
                                                  rf"\(block {block}\) does not match"):
            _ = run.trace["work"] if "work/value" in name else getattr(run, name.split("/")[-1])
        assert np.array_equal(run.work, ref.work)  # the intact datasets still read
        salvage = nq.open_run(bad, verify=False)  # data recovery stays possible
        assert salvage.heat.shape == (600,)
    res = subprocess.run([sys.executable, "-m", "neqsim", "info", str(bad)],
                         capture_output=True, text=True)
    assert res.returncode == 0  # info shows W, W_path, Q: the flipped trace is not read
    shutil.copy(good, bad)
    with h5py.File(bad, "r+") as f:
        f["observables/totals/path_work"][3] += 1.0
    res = subprocess.run([sys.executable, "-m", "neqsim", "info", str(bad)],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "path_work of trajectories 0..199" in res.stderr


def test_a_changed_protocol_step_is_refused_before_resume_uses_it(tmp_path):
    path = _good_file(tmp_path)
    with h5py.File(path, "r+") as f:
        f["neqsim/progress"][:] = [200, 0, 0, 0]       # as if killed after block 0
        f["parameters/protocol"][7, 0] += 1e-12           # a step the fingerprint skips
    for call in (lambda: nq.resume(path), lambda: nq.open_run(path)):
        with pytest.raises(nq.RunFileError, match="configuration .* does not match its "
                                                  "checksum"):
            call()


def test_a_damaged_checkpoint_is_not_continued(tmp_path, monkeypatch):
    path = tmp_path / "ck.h5"
    real = nq.storage.RunFileSink.commit

    def killed(self, a, b, finals):  # die in block 1, after it was checkpointed
        if a == 200:
            raise KeyboardInterrupt
        real(self, a, b, finals)
    monkeypatch.setattr(nq.storage.RunFileSink, "commit", killed)
    with pytest.raises(KeyboardInterrupt):
        nq.simulate(TRAP, PROTO, EM, n_traj=600, out=path, chunk_traj=200, chunk_steps=30,
                    checkpoint_every=0, record_every=7, **KW)
    monkeypatch.setattr(nq.storage.RunFileSink, "commit", real)
    with h5py.File(path, "r") as f:
        n_done, end, steps, slot = f["neqsim/progress"][:]
    assert (n_done, end, steps) == (200, 400, 90)
    copy = tmp_path / "ck2.h5"
    shutil.copy(path, copy)
    # intact: resume continues the checkpoint to the bit-identical result (traces too)
    run = nq.resume(path, progress=False)
    ref = _reference(record_every=7)
    for key in ("work", "heat", "path_work", "x"):
        assert np.array_equal(getattr(run, key), getattr(ref, key)), key
    assert np.array_equal(run.trace["work"], ref.trace["work"])
    with h5py.File(copy, "r+") as f:
        f[f"neqsim/checkpoint/{slot}/x"][17, 0] += 1e-9
    with pytest.raises(nq.RunFileError, match=r"checkpoint of trajectories 200\.\.399 .* "
                                              "does not match its checksum"):
        nq.resume(copy, progress=False)


def test_files_of_0_1_0_still_open_unchecked():
    fixtures = os.path.join(os.path.dirname(__file__), "fixtures")
    path = os.path.join(fixtures, "legacy_complete_obabo.h5")
    assert "checksums   none (format 1.0" in nq.storage.describe(path)
    assert nq.open_run(path).work.size > 0


# --- 5, 6, 9. crafted files ---------------------------------------------------------------

def _crafted(tmp_path, good, name, edit):
    path = tmp_path / f"{name}.h5"
    shutil.copy(good, path)
    with h5py.File(path, "r+") as f:
        edit(f, tmp_path)
    return path


def _external_storage(f, tmp_path):
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"\0" * 8 * 600)
    del f["observables/totals/work"]
    f.create_dataset("observables/totals/work", shape=(600,), dtype="f8",
                     external=[(str(victim), 0, 8 * 600)])


def _external_link(f, tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as g:
        g["heat"] = np.zeros(600)
    del f["observables/totals/heat"]
    f["observables/totals/heat"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "heat")


def _soft_link(f, tmp_path):
    del f["observables/totals/heat"]
    f["observables/totals/heat"] = h5py.SoftLink("/observables/totals/work")


def _virtual(f, tmp_path):
    with h5py.File(tmp_path / "src.h5", "w") as g:
        g["w"] = np.zeros(600)
    layout = h5py.VirtualLayout(shape=(600,), dtype="f8")
    layout[:] = h5py.VirtualSource(str(tmp_path / "src.h5"), "w", shape=(600,))
    del f["observables/totals/heat"]
    f["observables/totals"].create_virtual_dataset("heat", layout)


def _plugin_filter(f, tmp_path):
    del f["observables/totals/heat"]
    f.create_dataset("observables/totals/heat", data=np.zeros(600), compression="lzf")


def _strings(f, tmp_path):
    del f["observables/totals/heat"]
    f["observables/totals/heat"] = np.array([b"x"] * 600)


def _huge_dim(f, tmp_path):
    f["parameters"].attrs["dim"] = 10**10


def _no_beta(f, tmp_path):
    del f["parameters"].attrs["beta"]


def _bad_json(f, tmp_path):
    f["parameters"].attrs["integrator_params"] = "{dt: 0.01"


def _abstract_kernel(f, tmp_path):
    f["parameters"].attrs["integrator"] = "kernels.MarkovKernel"


def _bad_marker(f, tmp_path):
    f["neqsim/progress"][:] = [10**12, 0, 0, 0]


CRAFTED = {
    "external_storage": (_external_storage, "keeps its data in an external file"),
    "external_link": (_external_link, "is an external link"),
    "soft_link": (_soft_link, "is a soft link"),
    "virtual": (_virtual, "is a virtual dataset"),
    "plugin_filter": (_plugin_filter, "uses HDF5 filter 32000"),
    "strings": (_strings, "neqsim datasets are numeric"),
    "huge_dim": (_huge_dim, "configuration .* does not match its checksum"),
    "no_beta": (_no_beta, "parameters/beta is missing"),
    "bad_json": (_bad_json, "parameters/integrator_params = .* is not JSON"),
    "abstract_kernel": (_abstract_kernel, "configuration .* does not match its checksum"),
    "bad_marker": (_bad_marker, "progress marker .* is impossible"),
}


@pytest.fixture(scope="module")
def good_interrupted(tmp_path_factory):
    d = tmp_path_factory.mktemp("crafted")
    path = d / "good.h5"
    nq.simulate(TRAP, PROTO, EM, n_traj=600, out=path, chunk_traj=200, **KW)
    with h5py.File(path, "r+") as f:
        f["neqsim/progress"][:] = [200, 0, 0, 0]  # resumable
    return path


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_files_are_refused_before_anything_is_read(tmp_path, good_interrupted,
                                                           case):
    edit, message = CRAFTED[case]
    path = _crafted(tmp_path, good_interrupted, case, edit)
    outside = {p: p.read_bytes() for p in tmp_path.iterdir() if p != path}
    for call in (lambda: nq.open_run(path).heat, lambda: nq.resume(path, progress=False),
                 lambda: nq.storage.describe(str(path))):
        with pytest.raises(nq.RunFileError, match=message):
            call()
    for p, data in outside.items():  # nothing outside the file was touched
        assert p.read_bytes() == data, p
    res = subprocess.run([sys.executable, "-m", "neqsim", "resume", str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr


def _unchecked(tmp_path, good, name, **attrs):
    """A copy of ``good`` with /parameters attributes set and no configuration checksum
    (as a format 1.0 file has none): what the other checks must catch alone."""
    path = tmp_path / f"{name}.h5"
    shutil.copy(good, path)
    with h5py.File(path, "r+") as f:
        f["parameters"].attrs.update(attrs)
        del f["neqsim"].attrs["config_digest"]
    return path


def test_unchecked_sizes_are_bounded_by_real_shapes(tmp_path, good_interrupted):
    """A size in the attributes cannot make us allocate: it must agree with the
    datasets."""
    for key, value in (("dim", 10**10), ("n_traj", 10**15), ("n_steps", 10**12)):
        path = _unchecked(tmp_path, good_interrupted, key, **{key: value})
        with pytest.raises(nq.RunFileError, match="has shape .* but its configuration "
                                                  "implies|chunk_traj"):
            nq.open_run(path)


def test_abstract_markov_kernel_is_refused_by_name(tmp_path, good_interrupted):
    path = _unchecked(tmp_path, good_interrupted, "abstract",
                      integrator="kernels.MarkovKernel")
    with pytest.raises(nq.RunFileError, match="unknown integrator"):
        nq.open_run(path)
    with pytest.raises(TypeError, match="base class of the AIS kernels"):  # nor in Python
        nq.kernels.MarkovKernel(0.1)


def test_info_escapes_terminal_control_sequences(tmp_path, good_interrupted):
    path = _unchecked(tmp_path, good_interrupted, "ansi", created="\x1b[2J\x1b[31mowned\x07")
    res = subprocess.run([sys.executable, "-m", "neqsim", "info", str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    assert "\\x1b[2J" in res.stdout


# --- 7, 10. temporary files ----------------------------------------------------------------

def test_planted_symlinks_and_orphans_at_temporary_names(tmp_path):
    out = tmp_path / "run.h5"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, f"{out}.tmp-{os.getpid()}")  # 0.1.0's predictable name
    orphan = tmp_path / f".run.h5.{'x' * 8}.creating"  # a creation killed half-way
    orphan.mkdir()
    (orphan / "run.h5").write_bytes(b"\0" * 4096)
    nq.simulate(TRAP, PROTO, EM, n_traj=100, out=out, **KW)
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5", "victim.txt"]


# --- 3, 8. shards ------------------------------------------------------------------------

def test_a_full_disk_in_a_shard_write_names_the_disk(tmp_path, monkeypatch):
    block = {"x0": np.zeros((4, 1)), "v0": None, "e0": np.zeros(4),
             "finals": {"work": np.zeros(4)}, "info": {}}
    secret = os.urandom(32)
    monkeypatch.setattr(shard_files, "_free_bytes", lambda d: 1000)
    with pytest.raises(shard_files.ShardError, match=r"the disk holding .* has 0.0 MiB "
                                                     "free"):
        shard_files.write(tmp_path / "s", "k" * 64, 0, 4, block, secret)
    monkeypatch.setattr(shard_files, "_free_bytes", lambda d: 10**12)

    def enospc(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(shard_files, "_write_all", enospc)
    with pytest.raises(shard_files.ShardError, match="the disk holding"):
        shard_files.write(tmp_path / "s", "k" * 64, 0, 4, block, secret)
    assert list((tmp_path / "s").iterdir()) == []  # no temporary left behind
    # through simulate on an executor: the worker's error reaches the user as it is
    with cf.ThreadPoolExecutor(2) as pool, pytest.raises(OSError, match="the disk holding"):
        nq.simulate(TRAP, PROTO, EM, n_traj=600, out=tmp_path / "full.h5", chunk_traj=200,
                    executor=pool, **KW)


def test_a_run_file_that_cannot_fit_the_disk_is_refused_before_work(tmp_path, monkeypatch):
    from neqsim.storage import runfile
    monkeypatch.setattr(runfile, "_free_bytes", lambda d: 10 * 2**20)
    with pytest.raises(nq.RunFileError, match=r"needs 2\d\.\d MiB of disk .* has 10.0 MiB free"):
        nq.simulate(TRAP, PROTO, EM, n_traj=10_000, out=tmp_path / "big.h5",
                    record_every=1, **KW)
    assert list(tmp_path.iterdir()) == []


def test_forged_shards_are_not_merged_and_user_files_survive(tmp_path):
    path, root = tmp_path / "sh.h5", tmp_path / "sh.h5.shards"
    root.mkdir()
    (root / "notes.txt").write_text("mine")            # the user's, in the shard root
    job_key = _job_key(path)
    run_dir = root / f"run-{job_key[:24]}"
    run_dir.mkdir()
    (run_dir / "keep.txt").write_text("also mine")
    # a forged shard for block 0 with the right key and range but other numbers
    forged = {"x0": np.zeros((200, 1)), "v0": None, "e0": np.zeros(200),
              "finals": {k: np.full(200, 7.0) for k in ("work", "heat", "path_work",
                                                        "final_energy")}, "info": {}}
    shard_files.write(run_dir, job_key, 0, 200, forged, os.urandom(32))
    with cf.ThreadPoolExecutor(2) as pool:
        run = nq.simulate(TRAP, PROTO, EM, n_traj=600, out=path, chunk_traj=200,
                          executor=pool, resume=True, **KW)
    ref = _reference()
    assert np.array_equal(run.work, ref.work) and np.array_equal(run.heat, ref.heat)
    assert (root / "notes.txt").read_text() == "mine"
    assert (run_dir / "keep.txt").read_text() == "also mine"
    assert not list(run_dir.glob("block-*"))


def _job_key(path):
    from neqsim.engine.job import Job
    from neqsim.storage.shards import run_key
    job = Job.build(TRAP, PROTO, EM, 600, beta=1.0, seed=11, init="equilibrium",
                    record_every=0, record_positions=False, on_failure="raise")
    return run_key(job)


# --- 4. trace memory -------------------------------------------------------------------------

def test_traces_stream_within_the_block_memory(tmp_path):
    """300 trajectories x 20 000 steps with traces every step (96 MB of traces) through
    a 4 MiB block: peak Python-side memory stays near the budget, not the trace size,
    and the traces are the in-memory run's, bit for bit."""
    proto = nq.protocols.linear([0.0, 1.0], [2.0, 4.0], 20_000)
    kw = dict(n_traj=300, beta=1.0, seed=5, progress=False, record_every=1)
    nq.simulate(TRAP, proto, EM, n_traj=2, seed=1, progress=False)  # compile first
    tracemalloc.start()
    try:
        run = nq.simulate(TRAP, proto, EM, out=tmp_path / "t.h5", block_bytes=4 * 2**20,
                          **kw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # measured 7.0 MiB (the window fills the budget; ~1 MiB pieces of transposes and
    # checksum reads); 0.1.0: 112 MiB, the whole 96 MB trace of the block at once
    assert peak < 8 * 2**20, peak / 2**20
    ref = nq.simulate(TRAP, proto, EM, **kw)
    trace = nq.open_run(tmp_path / "t.h5").trace
    for key in ("work", "heat"):
        assert np.array_equal(trace[key], ref.trace[key]), key
    assert np.array_equal(run.work, ref.work)


# --- 10. workers of a killed driver ---------------------------------------------------------

KILLED_DRIVER = textwrap.dedent("""
    import sys, os, multiprocessing, concurrent.futures as cf
    import neqsim as nq
    if __name__ == "__main__":
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(2, mp_context=ctx) as pool:
            proto = nq.protocols.linear([0.0, 1.0], [2.0, 4.0], 2_000_000)
            nq.simulate(nq.systems.harmonic_trap(), proto, nq.EulerMaruyama(dt=1e-4),
                        n_traj=40_000, seed=1, out=sys.argv[1], executor=pool,
                        chunk_traj=10_000, progress=False)  # ~25 s per block
""")


def _children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_stop_when_the_driver_is_killed(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(KILLED_DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), str(tmp_path / "k.h5")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline:  # wait until the workers are computing blocks
        workers = [p for p in _children(driver.pid)
                   if "spawn_main" in open(f"/proc/{p}/cmdline").read()]
        if len(workers) == 2 and (tmp_path / "k.h5").exists():
            break
        time.sleep(0.2)
    assert len(workers) == 2, driver.communicate(timeout=5)
    time.sleep(3)  # in the middle of their blocks (each takes minutes)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    left = [p for p in workers if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, "workers outlived their driver by 30 s"
