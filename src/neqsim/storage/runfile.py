"""Run files: crash-safe, resumable HDF5 logs of work and heat (layout: docs/run-files.md).

Crash safety rests on one rule: **after a file is created, only raw data is ever
written**. Every dataset is allocated at full size when the file is made (in a temporary
file, renamed into place when complete), so the HDF5 structure (object headers, B-trees,
superblock) never changes while the simulation runs and a SIGKILL at any moment cannot
corrupt it. Results are written into their slots, flushed and fsync'ed, and only then is
the commit marker ``/neqsim/progress`` advanced (a single 32-byte write). Readers and
``resume`` trust exactly the trajectories ``0 .. progress[0]-1``; everything beyond reads
as the fill value (NaN, or -1 for integers).

Long blocks are checkpointed as well: the kernel state of the block in progress (positions,
velocities, RNG states, partial sums) goes into one of two checkpoint slots, alternately,
so the slot named by the marker is always complete.

The superblock is HDF5 format version 0 (not 2 as H5MD recommends): later superblocks
carry a "file open for writing" flag that a killed writer leaves set, and the file could
then not be opened without ``h5clear``.
"""
from __future__ import annotations

import getpass
import json
import os
import platform
import shutil
import tempfile
import time

import numpy as np

from .._keywords import suggest_keywords
from ..dynamics.base import Integrator, KernelState
from ..protocols.protocol import Protocol
from . import digests
from .audit import audit
from .errors import RunFileError, human_bytes, printable
from .names import CHECKPOINT, CONVENTIONS, FORMAT_VERSION, TOTALS
from .result import Run
from .sink import Sink

__all__ = ["RunFileError", "RunFileSink", "create", "open_run", "read_stored", "describe",
           "FORMAT_VERSION", "integrator_from_spec", "check_output", "check_folder"]


def _h5py():
    import h5py
    return h5py


# --- creating ---------------------------------------------------------------------------

def _dataset(group, name, shape, dtype, fill):
    """A contiguous dataset allocated (and filled) now, so later writes touch raw data only."""
    h5py = _h5py()
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return group.create_dataset(name, shape=shape, dtype=dtype, dcpl=dcpl, fillvalue=fill,
                                fill_time="alloc")


def _versions():
    import h5py
    import numba

    from .._version import __version__
    return {"version_neqsim": __version__, "version_numpy": np.__version__,
            "version_numba": numba.__version__, "version_h5py": h5py.__version__,
            "version_hdf5": h5py.version.hdf5_version,
            "version_python": platform.python_version()}


def check_output(path, *, overwrite=False, resume=False):
    """Raise RunFileError now, before any work, if a run file cannot be written at
    ``path``: it exists (without overwrite or resume), it is a directory, or its folder
    does not exist or is not writable."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise RunFileError(path, "is a directory; give the path of a file to write")
    if os.path.exists(path):
        if not (overwrite or resume):
            raise RunFileError(path, "exists; to replace it pass overwrite=True (neqsim "
                                     "run: --overwrite), or resume=True / nq.resume(path) "
                                     "to continue the run in it (neqsim resume)")
        return
    check_folder(path)


def check_folder(path):
    """Raise RunFileError unless the folder of ``path`` exists and is writable."""
    path = os.fspath(path)
    if path == "":
        raise RunFileError(path, "an empty path; give the path of the run file to write")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise RunFileError(path, f"its folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise RunFileError(path, f"its folder {folder} is not writable")


def create(path, job, *, overwrite=False, chunk_traj):
    """Write the complete, empty structure of a run file for ``job`` at ``path``."""
    h5py = _h5py()
    path = os.fspath(path)
    check_output(path, overwrite=overwrite)
    folder = os.path.dirname(os.path.abspath(path))
    need, free = file_bytes(job, int(chunk_traj)), _free_bytes(folder)
    if need > free:  # every dataset is allocated now: a full disk must fail here, cleanly
        raise RunFileError(path, f"needs {human_bytes(need)} of disk ({job.n_traj:,} trajectories"
                                 + (f", traces of {job.n_rec:,} rows" if job.record_every
                                    else "") + f"), but the disk holding {folder} has "
                                 f"{human_bytes(free)} free: write it to a larger disk, or record "
                                 "less (fewer trajectories per file, a larger record_every, "
                                 "no positions)")
    # built in a fresh private directory (mode 0700, unpredictable name) beside the
    # target: no one can plant a symlink at the name h5py writes, and the rename is atomic
    tmp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".creating",
                               dir=folder)
    tmp = os.path.join(tmp_dir, "run.h5")
    n, d = job.n_traj, job.system.dim
    try:
        with h5py.File(tmp, "w", track_order=True) as f:
            h5md = f.create_group("h5md")
            h5md.attrs["version"] = np.array([1, 1], dtype=np.int32)
            try:
                author = getpass.getuser()
            except Exception:  # no user database (containers)
                author = "unknown"
            h5md.create_group("author").attrs["name"] = author
            creator = h5md.create_group("creator")
            from .._version import __version__
            creator.attrs["name"] = "neqsim"
            creator.attrs["version"] = __version__
            mod = h5md.create_group("modules").create_group("neqsim")
            mod.attrs["version"] = np.array(FORMAT_VERSION, dtype=np.int32)
            mod.attrs["description"] = ("non-equilibrium work/heat log; layout in neqsim's "
                                        "docs/run-files.md")

            par = f.create_group("parameters")
            for key, value in job.config().items():
                par.attrs[key] = value
            for key, value in CONVENTIONS.items():
                par.attrs[key] = value
            for key, value in _versions().items():
                par.attrs[key] = value
            par.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            for key, value in job.arrays().items():
                par.create_dataset(key, data=value)

            obs = f.create_group("observables")
            tot = obs.create_group("totals")
            for key in TOTALS:
                if key == "shadow_work" and not job.underdamped:
                    continue
                _dataset(tot, key, (n,), "f8", np.nan)
            for key in ("x0", "x") + (("v0", "v") if job.underdamped else ()):
                _dataset(tot, key, (n, d), "f8", np.nan)
            _dataset(tot, "n_accepted", (n,), "i8", -1)
            _dataset(tot, "failed_step", (n,), "i8", -1)
            if job.record_every:
                steps = np.arange(job.n_rec, dtype=np.int64) * job.record_every
                series = {"work": (n,), "heat": (n,), "lambda": None}
                if job.rec_dim:
                    series["position"] = (n, d)
                for key, shape in series.items():
                    g = obs.create_group(key)
                    g.create_dataset("step", data=steps)
                    g.create_dataset("time", data=steps * float(job.integrator.dt))
                    if shape is None:
                        g.create_dataset("value", data=job.protocol.values[steps])
                    else:
                        _dataset(g, "value", (job.n_rec,) + shape, "f8", np.nan)

            nq = f.create_group("neqsim")
            nq.attrs["format_version"] = np.array(FORMAT_VERSION, dtype=np.int32)
            nq.attrs["chunk_traj"] = int(chunk_traj)
            _dataset(nq, "progress", (4,), "i8", 0)
            _dataset(nq, "wall_time", (1,), "f8", 0.0)
            cap = int(chunk_traj)
            for slot in ("0", "1"):
                g = nq.create_group(f"checkpoint/{slot}")
                for key, shape, dtype in _state_layout(job, cap):
                    _dataset(g, key, shape, dtype, 0)
            digests.CellDigests.layout(f, n, cap, _dataset)
            nq.attrs["config_digest"] = digests.config_digest(f)  # last: covers the rest
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


def _free_bytes(folder):
    return shutil.disk_usage(folder).free


def file_bytes(job, cap):
    """Bytes the datasets of a run file for ``job`` take (all allocated at creation)."""
    n, d = job.n_traj, job.system.dim
    per = 8 * (len(TOTALS) + 2 + (4 if job.underdamped else 2) * d)
    if job.record_every:
        per += 8 * job.n_rec * (2 + job.rec_dim)
    slot = sum(int(np.prod(shape)) * 8 for _, shape, _ in _state_layout(job, cap))
    cells = -(-n // cap)
    return n * per + 2 * slot + cells * (digests.SIZE * 12 + 8) + (1 << 20)


def _state_layout(job, cap):
    """(dataset name, shape, dtype) of a checkpoint slot for blocks of ``cap``."""
    d, c = job.system.dim, CHECKPOINT
    out = [(c["x"], (cap, d), "f8"), (c["u"], (cap,), "f8"), (c["rng"], (cap, 4), "u8")]
    if job.underdamped:
        out.append((c["v"], (cap, d), "f8"))
    out += [(c[k], (cap,), "f8") for k in ("work", "heat", "shadow_work", "path_work")]
    out += [(c["n_accepted"], (cap,), "i8"), (c["failed_step"], (cap,), "i8")]
    return out


# --- writing ----------------------------------------------------------------------------

class RunFileSink(Sink):
    """Writes committed results into an existing run file (opened read-write, locked)."""

    def __init__(self, path, job):
        super().__init__(job)
        h5py = _h5py()
        self.path = os.fspath(path)
        try:
            self.f = h5py.File(self.path, "r+")
        except OSError as e:
            if "lock" in str(e).lower():
                raise RunFileError(self.path, "is open for writing by another process "
                                              "(a simulation or resume still running?)") from None
            raise RunFileError(self.path, f"cannot be opened for writing ({e})") from None
        try:  # a file from someone else: refuse links out of it before writing into it
            audit(self.f, self.path)
            digests.check_config(self.f, self.path)
        except BaseException:
            self.f.close()
            raise
        self.capacity = int(self.f["neqsim"].attrs["chunk_traj"])
        self.digests = digests.CellDigests(self.f) if digests.has_digests(self.f) else None
        self._fd = self._vfd()
        self._wall0 = float(self.f["neqsim/wall_time"][0])
        self._t0 = time.perf_counter()

    def _vfd(self):
        try:
            return self.f.id.get_vfd_handle()
        except Exception:  # driver without a file descriptor: flush only
            return None

    def _sync(self):
        self.f.flush()
        if self._fd is not None:
            os.fsync(self._fd)

    @property
    def marker(self):
        """(n_committed, block_end, steps_done, slot)."""
        return tuple(int(v) for v in self.f["neqsim/progress"][:])

    def _set_marker(self, values):
        self.f["neqsim/wall_time"][0] = self._wall0 + time.perf_counter() - self._t0
        self._sync()
        self.f["neqsim/progress"][:] = np.asarray(values, dtype=np.int64)
        self._sync()

    def block_start(self, a, b, x0, v0, e0):
        tot = self.f["observables/totals"]
        tot["x0"][a:b] = x0
        if v0 is not None:
            tot["v0"][a:b] = v0
        tot["initial_energy"][a:b] = e0

    def read_block_start(self, a, b):
        tot = self.f["observables/totals"]
        v0 = tot["v0"][a:b] if "v0" in tot else None
        return tot["x0"][a:b], v0, tot["initial_energy"][a:b]

    def write_trace(self, a, b, r0, r1, trace, offset=0):
        """Trace rows r0..r1-1 of trajectories a..b-1 (row r in ``trace`` row r - offset)."""
        if r1 <= r0:
            return
        obs = self.f["observables"]
        # the file is (rows, trajectories), the kernel's buffers the transpose: written in
        # pieces of about 1 MiB, so the transposed copies stay small beside the buffers
        per_row = (b - a) * 8 * max(1, trace.x.shape[2])
        step = max(1, 2**20 // per_row)
        for s0 in range(r0, r1, step):
            s1 = min(r1, s0 + step)
            i0, i1 = s0 - offset, s1 - offset
            obs["work/value"][s0:s1, a:b] = trace.work[:, i0:i1].T
            obs["heat/value"][s0:s1, a:b] = trace.heat[:, i0:i1].T
            if trace.x.shape[2]:
                obs["position/value"][s0:s1, a:b] = trace.x[:, i0:i1].transpose(1, 0, 2)

    def checkpoint(self, a, b, steps_done, state):
        """Save the kernel state of block a..b-1 after ``steps_done`` steps."""
        slot = 1 - self.marker[3]
        g = self.f[f"neqsim/checkpoint/{slot}"]
        n = b - a
        for field, value in state.arrays().items():
            g[CHECKPOINT[field]][:n] = value
        if self.digests is not None:
            self.f["neqsim/checkpoint_digest"][slot] = self._checkpoint_digest(
                g, a, b, steps_done)
        self._set_marker((a, b, steps_done, slot))

    def _checkpoint_digest(self, g, a, b, steps_done):
        """Digest of checkpoint slot ``g`` (rows of block a..b-1) and of the block's
        initial state, as they are in the file."""
        n = b - a
        arrays = {f"slot/{name}": g[name][:n] for name in g}
        tot = self.f["observables/totals"]
        for key in ("x0", "v0", "initial_energy"):
            if key in tot:
                arrays[key] = tot[key][a:b]
        return digests.checkpoint_digest(arrays, a, b, steps_done)

    def load_checkpoint(self):
        """(KernelState, x0, v0, e0) of the checkpointed block the marker names."""
        n_done, b, steps, slot = self.marker
        g = self.f[f"neqsim/checkpoint/{slot}"]
        n = b - n_done
        if self.digests is not None and not np.array_equal(
                self._checkpoint_digest(g, n_done, b, steps),
                self.f["neqsim/checkpoint_digest"][slot]):
            raise RunFileError(self.path, f"is damaged: the checkpoint of trajectories "
                                          f"{n_done}..{b - 1} (slot {slot}) does not match "
                                          "its checksum; refusing to continue from it")
        state = KernelState(**{field: g[name][:n] for field, name in CHECKPOINT.items()
                               if name in g})
        return (state,) + self.read_block_start(n_done, b)

    def commit(self, a, b, finals):
        """Write the final per-trajectory results of block a..b-1, then commit it."""
        tot = self.f["observables/totals"]
        for key, value in finals.items():
            if key in tot:
                tot[key][a:b] = value
        if self.digests is not None:  # before the marker: committed rows are always covered
            self.f.flush()
            self.digests.update(self.f, a, b)
        self._set_marker((b, 0, 0, self.marker[3]))

    def result(self, options):
        """The finished run, read lazily from this file (nothing is rebuilt or
        re-evaluated: the job is known)."""
        job = self.job
        n = self.marker[0]
        info = {"file": self.path, "n_committed": n, "chunk_traj": self.capacity,
                "wall_time_s": float(self.f["neqsim/wall_time"][0]),
                "created": _attr(self.f["parameters"].attrs.get("created")),
                "versions": {k[8:]: _attr(v) for k, v in self.f["parameters"].attrs.items()
                             if k.startswith("version_")}}
        info.update(self.info)
        run = _lazy_run(self.path, n, job.n_traj, job.protocol, job.integrator, job.system,
                        job.system.name, job.beta, job.seed, job.record_every,
                        job.underdamped, info)
        run.init = job.init_spec()
        return run

    def close(self):
        if self.f:
            self.f.close()
            self.f = None


# --- reading ----------------------------------------------------------------------------

def _attr(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _open(path, mode="r"):
    """Open and recognise a run file, or raise RunFileError saying what is wrong."""
    h5py = _h5py()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise RunFileError(path, "no such file")
    if os.path.isdir(path):
        raise RunFileError(path, "is a directory, not a run file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as e:
        raise RunFileError(path, f"cannot be read ({e})") from None
    if not is_hdf5:
        raise RunFileError(path, "is not an HDF5 file")
    try:
        f = h5py.File(path, mode, locking=False)
    except OSError as e:
        raise RunFileError(path, f"is a damaged or truncated HDF5 file ({e})") from None
    try:
        if "h5md/modules/neqsim" not in f:
            raise RunFileError(path, "is an HDF5 file but not a neqsim run file "
                                     "(no /h5md/modules/neqsim)")
        audit(f, path)  # before any dataset is read: nothing outside this file is touched
        version = _version(f)
        if version[0] > FORMAT_VERSION[0]:
            raise RunFileError(path, f"was written in run-file format {version[0]}."
                                     f"{version[1]}, newer than this neqsim understands "
                                     f"({FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}); upgrade neqsim")
        for name in ("parameters/protocol", "neqsim/progress", "observables/totals/work"):
            if name not in f:
                raise RunFileError(path, f"is damaged: {name} is missing")
        f["neqsim/progress"][:]  # reading raw data catches truncation early
    except RunFileError:
        f.close()
        raise
    except (OSError, KeyError, ValueError) as e:
        f.close()
        raise RunFileError(path, f"is damaged ({e})") from None
    return f


def _version(f):
    v = np.asarray(f["h5md/modules/neqsim"].attrs["version"]).ravel()
    if v.size != 2 or v.dtype.kind not in "iu":
        raise ValueError("its format version is not two integers")
    return int(v[0]), int(v[1])


def read_stored(path):
    """(config, arrays, marker) of a run file, every value checked against its type and
    every size against the file's real dataset shapes (a file is someone else's input)."""
    f = _open(path)
    try:
        config = _stored_config(path, f)
        digests.check_config(f, path)
        _check_shapes(path, f, config)
        par = f["parameters"]
        arrays = {k: par[k][()] for k in par}
        marker = tuple(int(v) for v in f["neqsim/progress"][:])
        _check_marker(path, marker, config)
        config["_format"] = _version(f)
        config["_digests"] = digests.has_digests(f)
    except (OSError, KeyError, ValueError, TypeError) as e:
        if isinstance(e, RunFileError):
            raise
        raise RunFileError(path, f"is damaged ({printable(e)})") from None
    finally:
        f.close()
    return config, arrays, marker


# type of each stored configuration attribute: "int>=k", "float>0", "json:<type>", str,
# "bool"; the file cannot be used without every one of them
_CONFIG = {"system": "str", "system_factory": "str", "system_params": "json:dict",
           "dim": "int>=1", "n_controls": "int>=1", "control_names": "json:list",
           "integrator": "str", "integrator_params": "json:dict", "dt": "float",
           "beta": "float>0", "seed": "seed", "n_traj": "int>=1", "n_steps": "int>=1",
           "init": "json:dict", "record_every": "int>=0", "record_positions": "bool",
           "on_failure": "str"}


def _stored_config(path, f):
    """The /parameters attributes, each checked (RunFileError naming the first bad one)."""
    config = {k: _attr(v) for k, v in f["parameters"].attrs.items()}
    for key, kind in _CONFIG.items():
        if key not in config:
            raise RunFileError(path, f"is damaged: the attribute parameters/{key} is missing")
        value = config[key]
        bad = None
        if kind == "str":
            bad = not isinstance(value, str)
        elif kind.startswith("int"):
            bad = isinstance(value, bool) or not isinstance(value, int) or \
                value < int(kind[5:])
        elif kind == "float":
            bad = not isinstance(value, (int, float)) or not np.isfinite(value)
        elif kind == "float>0":
            bad = not isinstance(value, (int, float)) or not (np.isfinite(value) and value > 0)
        elif kind == "bool":
            bad = not isinstance(value, (bool, int))
        elif kind == "seed":
            bad = not (isinstance(value, str) and value.isdigit() and int(value) < 2**64)
        elif kind.startswith("json:"):
            try:
                parsed = json.loads(value) if isinstance(value, str) else None
            except ValueError:
                parsed = None
            bad = not isinstance(parsed, {"dict": dict, "list": list}[kind[5:]])
        if bad:
            raise RunFileError(path, f"is damaged: parameters/{key} = {printable(repr(value))[:80]}"
                                     f" is not {_KIND_WORDS[kind.split(':')[0].split('>')[0]]}")
    if config["on_failure"] not in ("raise", "nan"):
        raise RunFileError(path, f"is damaged: parameters/on_failure = "
                                 f"{printable(repr(config['on_failure']))} is not 'raise' or 'nan'")
    neq = f["neqsim"].attrs
    try:
        config["_chunk_traj"] = int(neq["chunk_traj"])
        config["_wall_time"] = float(f["neqsim/wall_time"][0])
    except (KeyError, TypeError, ValueError):
        raise RunFileError(path, "is damaged: /neqsim lacks chunk_traj or wall_time") from None
    if not 1 <= config["_chunk_traj"] <= config["n_traj"]:
        raise RunFileError(path, f"is damaged: chunk_traj = {config['_chunk_traj']} is not "
                                 f"between 1 and n_traj = {config['n_traj']}")
    return config


_KIND_WORDS = {"str": "a string", "int": "an integer in range", "float": "a finite number",
               "bool": "a boolean", "seed": "a seed (decimal digits, < 2^64)",
               "json": "JSON of the right kind"}


def _check_shapes(path, f, config):
    """Every dataset we may read has the shape the configuration implies (so that no
    size taken from attributes is ever allocated before it is known to be real)."""
    n, d, m = config["n_traj"], config["dim"], config["n_controls"]
    steps, every = config["n_steps"], config["record_every"]
    cap = config["_chunk_traj"]
    want = {"parameters/protocol": (steps + 1, m),
            "parameters/fingerprint_energy": (3, 8),
            "parameters/fingerprint_gradient": (3, 8, d),
            "neqsim/progress": (4,)}
    init = json.loads(config["init"])
    if init.get("kind") == "arrays":
        want["parameters/init_x0"] = (n, d)
        if init.get("velocities"):
            want["parameters/init_v0"] = (n, d)
    tot = f["observables/totals"]
    for key in tot:
        want[f"observables/totals/{key}"] = (n, d) if key in ("x0", "x", "v0", "v") else (n,)
    if every:
        n_rec = steps // every + 1
        for key in ("work", "heat"):
            want[f"observables/{key}/value"] = (n_rec, n)
        want["observables/lambda/value"] = (n_rec, m)
        if "observables/position" in f:
            want["observables/position/value"] = (n_rec, n, d)
    for slot in ("0", "1"):
        g = f.get(f"neqsim/checkpoint/{slot}")
        if g is None:
            raise RunFileError(path, f"is damaged: neqsim/checkpoint/{slot} is missing")
        for key in g:
            want[f"neqsim/checkpoint/{slot}/{key}"] = (cap, d) if key in ("x", "v") else \
                (cap, 4) if key == "rng" else (cap,)
    for name, shape in want.items():
        if name not in f:
            if name.startswith(("parameters/", "neqsim/progress")) or name.endswith(
                    "/work") or name.endswith("work/value"):
                raise RunFileError(path, f"is damaged: {name} is missing")
            continue
        got = f[name].shape
        if got != shape:
            raise RunFileError(path, f"is damaged: {name} has shape {got}, but its "
                                     f"configuration implies {shape}")


def _check_marker(path, marker, config):
    n_done, end, steps, slot = marker
    n, cap = config["n_traj"], config["_chunk_traj"]
    ok = 0 <= n_done <= n and slot in (0, 1) and (
        (steps == 0) or (n_done < end <= min(n_done + cap, n) and 0 < steps < config["n_steps"]))
    if not ok:
        raise RunFileError(path, f"is damaged: its progress marker {list(marker)} is "
                                 "impossible for its configuration")


def _read_checked(f, path, name, n, verify=True):
    """Trajectories 0..n-1 of the per-trajectory dataset ``name`` (traces: all rows),
    checked against the file's checksums (format 1.1) unless ``verify`` is False."""
    try:
        ds = f[name]
        value = ds[:n] if name.startswith("observables/totals/") else ds[:, :n]
    except OSError as e:
        raise RunFileError(path, f"is damaged: cannot read {name} ({e})") from None
    if verify and digests.has_digests(f):
        digests.CellDigests(f).check(f, path, name, value, n)
    return value


def _loader(path, name, n, transpose=None, verify=True):
    def load():
        f = _open(path)
        try:
            value = _read_checked(f, path, name, n, verify)
        finally:
            f.close()
        if transpose is not None:
            value = np.ascontiguousarray(value.transpose(transpose))
        return value
    return load


class _LazyTrace(dict):
    """The ``trace`` dict of a run read from a file: series load on first access."""

    def __init__(self, loaders, eager):
        super().__init__(eager)
        self._loaders = loaders

    def __missing__(self, key):
        if key not in self._loaders:
            raise KeyError(key)
        value = self._loaders.pop(key)()
        self[key] = value
        return value

    def keys(self):
        return list(super().keys()) + list(self._loaders)

    def __contains__(self, key):
        return super().__contains__(key) or key in self._loaders

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def values(self):
        return [self[k] for k in self.keys()]


def integrator_from_spec(name, params):
    """The integrator a run file names (``Integrator.file_name``) with its parameters."""
    from .. import dynamics  # noqa: F401  (every integrator class registers its name)
    cls = Integrator.registry.get(name)
    if cls is None:
        raise ValueError(f"unknown integrator {name!r}; known: {sorted(Integrator.registry)}")
    if not isinstance(params, dict):
        raise ValueError(f"the parameters of {name} are not a table: {params!r}")
    return cls(**params)


def rebuild_system(path, config, arrays, system=None):
    """The system a file was written with: rebuilt by name for built-ins, else
    ``system`` (checked against the stored names and fingerprint); None when neither."""
    from ..systems import fingerprint, from_spec
    if system is None:
        if not config["system_factory"]:
            return None
        return from_spec(config["system_factory"], json.loads(config["system_params"]))
    mine = {"system": system.name, "system_factory": system.factory or "",
            "system_params": json.dumps(system.params, sort_keys=True), "dim": system.dim,
            "n_controls": system.n_controls,
            "control_names": json.dumps(list(system.control_names))}
    diffs = [f"{k}: file {config[k]!r}, given {v!r}" for k, v in mine.items()
             if config.get(k) != v]
    if not diffs:
        fp = fingerprint(system, Protocol(arrays["protocol"]))
        if any(not np.array_equal(arrays.get(k), v, equal_nan=True) for k, v in fp.items()):
            diffs.append("potential energy/gradient at probe points differ")
    if diffs:
        raise RunFileError(path, "the system given does not match the file: "
                           + "; ".join(diffs))
    return system


@suggest_keywords
def open_run(path, *, system=None, verify=True):
    """Read a run file back as a :class:`neqsim.Run` (arrays load on first access).

    An interrupted run gives its committed trajectories (``run.complete`` is False).
    ``system`` supplies a user-defined potential (built-ins are rebuilt by name); without
    it ``run.system`` is None for user-defined systems. Each array is checked against
    the file's checksums when it loads (a damaged one raises RunFileError naming the
    dataset and block); ``verify=False`` skips that, to salvage a damaged file. The
    configuration is always checked.
    """
    path = os.fspath(path)
    config, arrays, marker = read_stored(path)
    n = marker[0]
    try:
        integrator = integrator_from_spec(config["integrator"],
                                          json.loads(config["integrator_params"]))
        system = rebuild_system(path, config, arrays, system)
    except (TypeError, ValueError) as e:
        if isinstance(e, RunFileError):
            raise
        raise RunFileError(path, f"cannot be read: {printable(e)}") from None
    info = {"file": path, "n_committed": n, "chunk_traj": config["_chunk_traj"],
            "wall_time_s": config["_wall_time"], "created": config.get("created"),
            "versions": {k[8:]: v for k, v in config.items() if k.startswith("version_")}}
    run = _lazy_run(path, n, config["n_traj"], Protocol(arrays["protocol"]), integrator,
                    system, config["system"], float(config["beta"]), int(config["seed"]),
                    config["record_every"], "v0" in _names(path, "observables/totals"), info,
                    verify=verify)
    run.init = json.loads(config["init"])
    return run


def _lazy_run(path, n, n_traj, protocol, integrator, system, system_name, beta, seed,
              record_every, underdamped, info, verify=True):
    """A Run over the first ``n`` trajectories of the file; arrays load on first access."""
    t = "observables/totals/"

    def loader(name, transpose=None):
        return _loader(path, name, n, transpose, verify)
    loaders = {key: loader(t + key) for key in
               ("work", "heat", "path_work", "initial_energy", "final_energy", "x0", "x")}
    loaders["shadow_work"] = loader(t + "shadow_work") if underdamped else lambda: None
    for key in ("v0", "v"):
        loaders[key] = loader(t + key) if underdamped else (lambda: None)
    n_prop = integrator.proposals_per_step() * protocol.n_steps
    if n_prop:
        nacc = loader(t + "n_accepted")
        loaders["acceptance"] = lambda: nacc() / n_prop
    else:
        loaders["acceptance"] = lambda: None
    fstep = loader(t + "failed_step")
    loaders["failed"] = lambda: fstep() >= 0
    loaders["trace"] = lambda: _trace(path, record_every, n, loader)
    return Run._lazy(loaders, n_traj=n, protocol=protocol, integrator=integrator,
                     system=system, beta=beta, seed=seed, info=info,
                     system_name=system_name, path=path, complete=(n == n_traj))


def _names(path, group):
    f = _open(path)
    try:
        return list(f[group])
    finally:
        f.close()


def _trace(path, record_every, n, loader):
    if not record_every:
        return None
    f = _open(path)
    try:
        eager = {"step": f["observables/work/step"][()], "time": f["observables/work/time"][()],
                 "lam": f["observables/lambda/value"][()]}
        has_x = "observables/position" in f
    finally:
        f.close()
    loaders = {"work": loader("observables/work/value", (1, 0)),
               "heat": loader("observables/heat/value", (1, 0))}
    if has_x:
        loaders["x"] = loader("observables/position/value", (1, 0, 2))
    return _LazyTrace(loaders, eager)


# --- summary ----------------------------------------------------------------------------

def describe(path):
    """A human summary of a run file (what ``neqsim info`` prints)."""
    config, arrays, marker = read_stored(path)
    n_done, block_end, steps_done, _ = marker
    n_traj, n_steps = config["n_traj"], config["n_steps"]
    fmt = config["_format"]
    lines = [f"{path}: neqsim run file (format {fmt[0]}.{fmt[1]}, written by neqsim "
             f"{config.get('version_neqsim')} on {config.get('created')})"]
    if n_done == n_traj:
        status = "COMPLETE"
    elif config["system_factory"]:
        status = f"INCOMPLETE (resume with: neqsim resume {path})"
    else:  # the CLI cannot rebuild a user's potential
        status = (f"INCOMPLETE (resume in Python with nq.resume({path!r}, system=...), "
                  "passing the same potential; neqsim resume rebuilds built-in systems only)")
    lines.append(f"  status      {status}")
    lines.append(f"  progress    {n_done:,} / {n_traj:,} trajectories committed "
                 f"({100.0 * n_done / n_traj:.1f}%)"
                 + (f"; block {n_done}..{block_end - 1} checkpointed at step "
                    f"{steps_done}/{n_steps}" if steps_done else ""))
    kind = "built-in" if config["system_factory"] else "user-defined"
    lines.append(f"  system      {config['system']} ({kind}, dim={config['dim']}, controls "
                 f"{', '.join(json.loads(config['control_names']))}"
                 + (f", {config['system_params']}" if config["system_params"] != "{}" else "")
                 + ")")
    lam = arrays["protocol"]
    lines.append(f"  protocol    {n_steps} steps, lam {_fmt(lam[0])} -> {_fmt(lam[-1])}")
    lines.append(f"  integrator  {config['integrator']}"
                 f"({', '.join(f'{k}={v!r}' for k, v in json.loads(config['integrator_params']).items())})")
    lines.append(f"  beta        {config['beta']:g} (kT = {config['kT']:g}), seed {config['seed']}")
    lines.append(f"  init        {json.loads(config['init'])['kind']}; traces every "
                 f"{config['record_every'] or '-'} steps"
                 + (" with positions" if config["record_positions"] else ""))
    lines.append(f"  wall time   {config['_wall_time']:.1f} s")
    if n_done:
        f = _open(path)
        try:
            w, wp, q, fs = (_read_checked(f, path, f"observables/totals/{k}", n_done)
                            for k in ("work", "path_work", "heat", "failed_step"))
            failed = int(np.count_nonzero(fs >= 0))
        finally:
            f.close()
        ok = np.isfinite(w)
        lines.append(f"  work W      mean {np.mean(w[ok]):.6g}, std {np.std(w[ok]):.6g} "
                     "(protocol work, committed trajectories)")
        lines.append(f"  path work   mean {np.mean(wp[ok]):.6g}, std {np.std(wp[ok]):.6g} "
                     "(W_path: the work the estimators use, exact at any dt)")
        lines.append(f"  heat Q      mean {np.mean(q[ok]):.6g}")
        if failed:
            lines.append(f"  failed      {failed} trajectories (NaN work and heat)")
    lines.append("  checksums   " + (
        f"{digests.ALGORITHM}: configuration and the data shown verified" if
        config["_digests"] else "none (format 1.0, before checksums: read unchecked)"))
    # every string above may come from someone else's file: no control characters
    return "\n".join(printable(line) for line in lines)


def _fmt(v):
    return "(" + ", ".join(f"{x:g}" for x in np.atleast_1d(v)) + ")"

