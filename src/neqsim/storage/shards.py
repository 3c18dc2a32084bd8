"""Shard files: one finished trajectory block, written by the worker that computed it.

With an executor and a run file, each worker writes its block ``[a, b)`` to
``<shard_dir>/run-<key>/block-<a>-<b>.h5`` and returns only that path; the driver copies
shards into the run file strictly in trajectory order (a streaming merge), advances the
commit marker, and then deletes the shard. So

* block results never travel through the executor (Dask's scheduler and the driver's
  memory see paths, not arrays, however large the traces);
* a killed driver loses only the blocks still being computed: every block a worker
  finished is on disk, and ``resume`` copies it instead of recomputing it.

A shard is written under a temporary name, fsync'ed, and renamed into place, so a shard
file either is complete or does not exist under its final name. ``key`` identifies the
run configuration (everything that determines the numbers, plus the neqsim version):
shards of another configuration live in another ``run-<key>`` directory and are never
mixed in, and each shard repeats the full key and its range as attributes, which the
driver checks before using it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid

import numpy as np

__all__ = ["ShardError", "run_key", "write", "read", "scan", "remove", "Shards"]

FORMAT = 1
_NAME = re.compile(r"^block-(\d{12})-(\d{12})\.h5$")
_BLOCK_KEYS = ("x0", "v0", "e0", "rW", "rQ", "rx")


class ShardError(OSError):
    """A shard file that is missing, unreadable or not the block it should be."""


def run_key(job):
    """SHA-256 of everything that determines a run's numbers (``Job.config`` and
    ``Job.arrays``) and of the neqsim version: equal keys give bit-identical blocks."""
    from .._version import __version__
    h = hashlib.sha256()
    h.update(json.dumps({"neqsim": __version__, **job.config()}, sort_keys=True).encode())
    for name, value in sorted(job.arrays().items()):
        value = np.ascontiguousarray(value)
        h.update(f"{name}{value.dtype.str}{value.shape}".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _name(a, b):
    return f"block-{a:012d}-{b:012d}.h5"


def _fsync_path(path, directory=False):
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:  # e.g. directories on Windows: the rename is as durable as it gets
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write(directory, key, a, b, block):
    """Write block ``[a, b)`` (dict: x0, v0, e0, finals, info and, when recording, rW,
    rQ, rx) atomically into ``directory``; return the shard's path."""
    import h5py
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, _name(a, b))
    tmp = f"{final}.{uuid.uuid4().hex}.tmp"
    try:
        # the name is unique to this attempt: no other process opens it, no lock needed
        with h5py.File(tmp, "w", locking=False) as f:
            f.attrs.update(format=FORMAT, key=key, a=a, b=b,
                           info=json.dumps(block.get("info", {})))
            for name in _BLOCK_KEYS:
                if block.get(name) is not None:
                    f.create_dataset(name, data=block[name])
            g = f.create_group("finals")
            for name, value in block["finals"].items():
                g.create_dataset(name, data=value)
        _fsync_path(tmp)
        os.replace(tmp, final)  # a retried block writes identical bytes: either wins
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_path(directory, directory=True)
    return final


def _check(f, path, key, a, b):
    attrs = f.attrs
    if int(attrs.get("format", -1)) != FORMAT:
        raise ShardError(f"{path}: shard format {attrs.get('format')!r}, expected {FORMAT}")
    stored = attrs.get("key")
    stored = stored.decode() if isinstance(stored, bytes) else stored
    if stored != key:
        raise ShardError(f"{path}: written for another run configuration")
    if (int(attrs["a"]), int(attrs["b"])) != (a, b):
        raise ShardError(f"{path}: holds trajectories {int(attrs['a'])}..{int(attrs['b'])}, "
                         f"not {a}..{b}")


def read(path, key, a, b):
    """The block dict of a shard, after checking it is block ``[a, b)`` of run ``key``."""
    import h5py
    try:
        with h5py.File(path, "r", locking=False) as f:
            _check(f, path, key, a, b)
            block = {name: f[name][()] for name in _BLOCK_KEYS if name in f}
            block.setdefault("v0", None)
            block["finals"] = {name: d[()] for name, d in f["finals"].items()}
            block["info"] = json.loads(f.attrs["info"])
    except ShardError:
        raise
    except (OSError, KeyError, ValueError) as e:
        raise ShardError(f"{path}: unreadable shard ({type(e).__name__}: {e})") from None
    n = b - a
    for name, value in [*((k, block.get(k)) for k in ("x0", "e0")),
                        *block["finals"].items()]:
        if value is None or value.shape[:1] != (n,):
            raise ShardError(f"{path}: {name} does not have {n} rows")
    return block


def scan(directory, n_done):
    """Finished shards in ``directory`` that start at or after ``n_done``: {a: (b, path)}.

    Shards of already committed trajectories (a driver killed between committing a
    block and deleting its shard) and leftovers of interrupted writes are removed."""
    found = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    for name in names:
        path = os.path.join(directory, name)
        m = _NAME.match(name)
        if m is None:
            if name.endswith(".tmp"):
                remove(path)
            continue
        a, b = int(m.group(1)), int(m.group(2))
        if b <= n_done:
            remove(path)
        elif a >= n_done and b > a and a not in found:
            found[a] = (b, path)
    return found


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


class Shards:
    """The shard directory of one run, as the driver uses it."""

    def __init__(self, root, key, *, owned):
        self.root = os.path.abspath(os.fspath(root))  # workers may have another cwd
        self.key = key
        self.dir = os.path.join(self.root, f"run-{key[:24]}")
        self.owned = owned  # root is <run file>.shards: ours to tidy up

    def prepare(self, n_done):
        """Create the directory; return the reusable shards {a: (b, path)}."""
        os.makedirs(self.dir, exist_ok=True)
        if self.owned:  # other configurations' shards belong to files since overwritten
            for name in os.listdir(self.root):
                path = os.path.join(self.root, name)
                if name.startswith("run-") and path != self.dir:
                    shutil.rmtree(path, ignore_errors=True)
        return scan(self.dir, n_done)

    def finish(self):
        """After the last block is committed: remove the run's shard directory (the
        driver removes an owned ``<run file>.shards`` root with every completed file)."""
        shutil.rmtree(self.dir, ignore_errors=True)
