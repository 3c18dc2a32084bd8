"""Shard files: one finished trajectory block, written by the worker that computed it.

With an executor and a run file, each worker writes its block ``[a, b)`` to
``<shard_dir>/run-<key>/block-<a>-<b>.h5`` and returns only that path; the driver copies
shards into the run file strictly in trajectory order (a streaming merge), advances the
commit marker, and then deletes the shard. So

* block results never travel through the executor (Dask's scheduler and the driver's
  memory see paths, not arrays, however large the traces);
* a killed driver loses only the blocks still being computed: every block a worker
  finished is on disk, and ``resume`` copies it instead of recomputing it.

A shard is built in memory, then written under a temporary name, fsync'ed, and renamed
into place, so a shard file either is complete or does not exist under its final name,
and a full disk is an ordinary :class:`ShardError` naming the disk (h5py is never
writing when the disk fills). ``key`` identifies the run configuration (everything that
determines the numbers, plus the neqsim version): shards of another configuration live
in another ``run-<key>`` directory and are never mixed in, and each shard repeats the
full key and its range as attributes, which the driver checks before using it.

Anyone who can write the shard directory could place a shard there (its key is
computable from the run file), so each shard carries an HMAC-SHA256 of its contents
under a secret that never enters the run file: 32 random bytes kept in the driver's
memory, sent to the workers with the job, and stored for a later ``resume`` only in a
file readable by the user alone (``$XDG_CACHE_HOME/neqsim/shard-keys``, mode 0600),
deleted when the run completes. A shard whose authenticator does not verify is not
used (it is computed again). Cleaning up removes only what neqsim names: shard files,
their temporaries, and directories left empty.
"""
from __future__ import annotations

import errno
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import uuid

import numpy as np

__all__ = ["ShardError", "run_key", "write", "read", "scan", "remove", "tidy", "Shards",
           "secret_for"]

FORMAT = 2  # 2: with an authenticator (shards of format 1 are recomputed)
_NAME = re.compile(r"^block-(\d{12})-(\d{12})\.h5$")
_TMP = re.compile(r"^block-\d{12}-\d{12}\.h5\.[0-9a-f]+\.tmp$")
_RUN_DIR = re.compile(r"^run-[0-9a-f]{24}$")
_BLOCK_KEYS = ("x0", "v0", "e0", "rW", "rQ", "rx")
_SPARE = 16 * 2**20  # free space a shard write leaves on the disk, at least


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


def _items(block):
    """(name, array) of a block's contents, in the order the authenticator reads them."""
    out = [(name, np.asarray(block[name])) for name in _BLOCK_KEYS
           if block.get(name) is not None]
    out += [(f"finals/{name}", np.asarray(block["finals"][name]))
            for name in sorted(block["finals"])]
    return out


def _mac(secret, key, a, b, info, items):
    """HMAC-SHA256 (hex) of a block's contents under the run's secret."""
    h = hmac.new(secret, digestmod=hashlib.sha256)
    h.update(f"{FORMAT}|{key}|{a}|{b}|{info}|".encode())
    for name, value in items:
        value = np.ascontiguousarray(value)
        h.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _free_bytes(directory):
    return shutil.disk_usage(directory).free


def _full(directory, need, free=None):
    free = _free_bytes(directory) if free is None else free
    return ShardError(errno.ENOSPC, f"cannot write a shard of {need / 2**20:.1f} MiB in "
                                    f"{directory}: the disk holding it has "
                                    f"{free / 2**20:.1f} MiB free. Free space there, or pass "
                                    "shard_dir= on a larger shared disk (or shard_dir=None)")


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write(directory, key, a, b, block, secret):
    """Write block ``[a, b)`` (dict: x0, v0, e0, finals, info and, when recording, rW,
    rQ, rx), authenticated with ``secret``, atomically into ``directory``; return the
    shard's path. A full disk raises ShardError naming it."""
    import h5py
    if os.path.islink(directory):
        raise ShardError(f"{directory}: the shard directory is a symbolic link; refusing "
                         "to write through it")
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, _name(a, b))
    info = json.dumps(block.get("info", {}))
    items = _items(block)
    buf = io.BytesIO()  # built in memory: a full disk can only fail our own os.write
    with h5py.File(buf, "w") as f:
        f.attrs.update(format=FORMAT, key=key, a=a, b=b, info=info,
                       mac=_mac(secret, key, a, b, info, items))
        for name, value in items:
            f.create_dataset(name, data=value)
    data = buf.getbuffer()
    free = _free_bytes(directory)
    if free < len(data) + _SPARE:
        raise _full(directory, len(data), free)
    # unpredictable name, created exclusively, never through a planted link
    tmp = f"{final}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                     getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)  # a retried block writes identical bytes: either wins
    except OSError as e:
        remove(tmp)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _full(directory, len(data)) from None
        raise ShardError(f"cannot write the shard {final}: {e.strerror}") from None
    except BaseException:
        remove(tmp)
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


def read(path, key, a, b, secret):
    """The block dict of a shard, after checking it is block ``[a, b)`` of run ``key``
    and that its authenticator verifies under ``secret``."""
    import h5py
    try:
        if os.path.islink(path):
            raise ShardError(f"{path}: a symbolic link, not a shard")
        with h5py.File(path, "r", locking=False) as f:
            _check(f, path, key, a, b)
            block = {name: f[name][()] for name in _BLOCK_KEYS if name in f}
            block["finals"] = {name: d[()] for name, d in f["finals"].items()}
            info = f.attrs["info"]
            info = info.decode() if isinstance(info, bytes) else str(info)
            mac = f.attrs.get("mac", "")
            mac = mac.decode() if isinstance(mac, bytes) else str(mac)
        if not hmac.compare_digest(mac, _mac(secret, key, a, b, info, _items(block))):
            raise ShardError(f"{path}: its authenticator does not verify: not written by "
                             "this run's workers (or changed since)")
        block.setdefault("v0", None)
        block["info"] = json.loads(info)
    except ShardError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
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
            if _TMP.match(name):
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


def _tidy_run_dir(directory):
    """Remove the shard files and temporaries in ``directory``, then the directory if
    that left it empty; anything else in it stays."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if _NAME.match(name) or _TMP.match(name):
            remove(os.path.join(directory, name))
    try:
        os.rmdir(directory)
    except OSError:
        pass  # not empty: someone else's files are in it


def tidy(root, keep=None):
    """Remove what neqsim put under the shard root ``root`` (``run-<key>`` directories of
    shard files), except the directory ``keep``; then ``root`` if it is left empty."""
    if os.path.islink(root) or not os.path.isdir(root):
        return
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if _RUN_DIR.match(name) and path != keep and not os.path.islink(path):
            _tidy_run_dir(path)
    try:
        os.rmdir(root)
    except OSError:
        pass


def _keys_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "neqsim", "shard-keys")


def secret_for(key, *, create=True):
    """The run's shard secret: read from the user's private key file, or (``create``) a
    fresh one written there; None when there is none and ``create`` is False."""
    folder = _keys_dir()
    path = os.path.join(folder, key[:32])
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_mode & 0o077 or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
                raise PermissionError  # readable by others: not a secret any more
            secret = bytes.fromhex(fh.read().decode())
            if len(secret) == 32:
                return secret
    except (OSError, ValueError):
        pass
    if not create:
        return None
    secret = os.urandom(32)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secret.hex().encode())
        os.replace(tmp, path)
    except OSError:
        pass  # no private place to keep it: shards still verify within this driver
    return secret


def forget_secret(key):
    remove(os.path.join(_keys_dir(), key[:32]))


class Shards:
    """The shard directory of one run, as the driver uses it."""

    def __init__(self, root, key, *, owned):
        self.root = os.path.abspath(os.fspath(root))  # workers may have another cwd
        self.key = key
        self.dir = os.path.join(self.root, f"run-{key[:24]}")
        self.owned = owned  # root is <run file>.shards: ours to tidy up
        self.secret = secret_for(key)

    def prepare(self, n_done):
        """Create the directory; return the reusable shards {a: (b, path)}."""
        for d in (self.root, self.dir):
            if os.path.islink(d):
                raise ShardError(f"{d}: the shard directory is a symbolic link; refusing "
                                 "to use it")
        os.makedirs(self.dir, exist_ok=True)
        if self.owned:  # other configurations' shards belong to files since overwritten
            tidy(self.root, keep=self.dir)
        return scan(self.dir, n_done)

    def finish(self):
        """After the last block is committed: remove what this run put in its shard
        directory, and its secret."""
        _tidy_run_dir(self.dir)
        if self.owned:
            tidy(self.root)
        forget_secret(self.key)
