"""Checksums of run files (format 1.1): damage is reported, never returned as data.

Three kinds of digest (BLAKE2b, 16 bytes), all written before the commit marker that
makes the data they cover visible:

* the **configuration** (``/neqsim`` attribute ``config_digest``): every attribute and
  dataset under ``/parameters`` (protocol, fingerprints, integrator, beta, seed, ...) and
  the layout attributes of ``/neqsim``. Checked whenever a file is read, so a changed
  protocol step is refused before ``resume`` could use it.
* the **per-trajectory data**, in cells of ``digest_cell`` trajectories (the file's block
  size): for cell j and each per-trajectory dataset ("series": the totals and the trace
  values) the digest of its rows ``[j G, digest_rows[j])``. A commit of trajectories
  ``[a, b)`` recomputes the cells it touches from what is in the file, so the covered rows
  always include every committed one. Each dataset is checked when it is loaded.
* the **checkpoint** slot (``checkpoint_digest``): its arrays and the initial state of
  the block in progress, checked before ``resume`` continues from it.

Files of format 1.0 (neqsim 0.1.0) carry none of these and are read unchecked.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from .errors import RunFileError

__all__ = ["SIZE", "ALGORITHM", "config_digest", "check_config", "series_names",
           "CellDigests", "has_digests", "checkpoint_digest"]

ALGORITHM = "blake2b-128"
SIZE = 16
_BYTES_PER_READ = 2**20  # trace data hashed per read: memory stays bounded


def _h():
    return hashlib.blake2b(digest_size=SIZE)


def _bytes(array):
    """The little-endian bytes of ``array``, as a buffer (no copy when it is already
    contiguous and little-endian)."""
    a = np.ascontiguousarray(array)
    if a.size == 0:
        return b""
    return memoryview(a.astype(a.dtype.newbyteorder("<"), copy=False).reshape(-1)).cast("B")


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        return [value.dtype.str, list(value.shape), value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def config_digest(f):
    """Hex digest of /parameters (attributes and datasets) and /neqsim's layout."""
    h = _h()
    par = f["parameters"]
    attrs = {k: _jsonable(v) for k, v in par.attrs.items()}
    layout = {k: _jsonable(v) for k, v in f["neqsim"].attrs.items() if k != "config_digest"}
    h.update(json.dumps([attrs, layout], sort_keys=True, default=str).encode())
    for name in sorted(par):
        ds = par[name]
        h.update(f"{name}|{ds.dtype.str}|{ds.shape}|".encode())
        h.update(_bytes(ds[()]))
    return h.hexdigest()


def has_digests(f):
    return "config_digest" in f["neqsim"].attrs


def check_config(f, path):
    """Raise RunFileError unless the configuration matches its digest (1.1 files)."""
    if not has_digests(f):
        return
    stored = f["neqsim"].attrs["config_digest"]
    stored = stored.decode() if isinstance(stored, bytes) else str(stored)
    if config_digest(f) != stored:
        raise RunFileError(path, "is damaged: its configuration (/parameters: protocol, "
                                 "integrator, beta, seed, ...) does not match its checksum; "
                                 "the file was changed after it was written")


def series_names(f):
    """The per-trajectory datasets of a run file, in digest order."""
    out = [f"observables/totals/{k}" for k in f["observables/totals"]]
    for group in ("work", "heat", "position"):
        if f"observables/{group}/value" in f:
            out.append(f"observables/{group}/value")
    return out


def _trajectory_axis(name):
    return 0 if name.startswith("observables/totals/") else 1


def _digest_rows(ds, axis, lo, hi):
    """Digest of trajectories [lo, hi) of ``ds`` (read in bounded pieces for traces)."""
    h = _h()
    if axis == 0:
        h.update(_bytes(ds[lo:hi]))
    else:
        row = max(1, (hi - lo) * int(np.prod(ds.shape[2:])) * ds.dtype.itemsize)
        step = max(1, _BYTES_PER_READ // row)
        for r in range(0, ds.shape[0], step):
            h.update(_bytes(ds[r:r + step, lo:hi]))
    return h.digest()


def _digest_array(data, axis, lo, hi):
    """Digest of trajectories [lo, hi) of an array holding trajectories from 0."""
    h = _h()
    h.update(_bytes(data[lo:hi] if axis == 0 else data[:, lo:hi]))
    return h.digest()


class CellDigests:
    """The per-trajectory digests of an open run file (format 1.1)."""

    def __init__(self, f):
        g = f["neqsim"]
        self.cell = int(g.attrs["digest_cell"])
        self.series = [s.decode() if isinstance(s, bytes) else str(s)
                       for s in json.loads(_jsonable(g.attrs["digest_series"]))]
        self.n_traj = int(f["observables/totals/work"].shape[0])

    @staticmethod
    def layout(f, n_traj, cell, make_dataset):
        """Datasets and attributes of a new file's digests (at creation; ``make_dataset``
        allocates a dataset at full size, as every dataset of a run file is)."""
        _dataset = make_dataset
        g = f["neqsim"]
        names = series_names(f)
        n_cells = -(-n_traj // cell)
        g.attrs["digest"] = ALGORITHM
        g.attrs["digest_cell"] = int(cell)
        g.attrs["digest_series"] = json.dumps(names)
        _dataset(g, "digests", (n_cells, len(names), SIZE), "u1", 0)
        _dataset(g, "digest_rows", (n_cells,), "i8", 0)
        _dataset(g, "checkpoint_digest", (2, SIZE), "u1", 0)

    def _cells(self, a, b):
        return range(a // self.cell, -(-b // self.cell))

    def update(self, f, a, b):
        """After trajectories [a, b) are written (before the marker moves): the digests
        of every cell they touch, over the cell's rows from its start to b."""
        digests, rows = f["neqsim/digests"], f["neqsim/digest_rows"]
        for j in self._cells(a, b):
            lo, hi = j * self.cell, min((j + 1) * self.cell, b, self.n_traj)
            values = np.empty((len(self.series), SIZE), dtype=np.uint8)
            for s, name in enumerate(self.series):
                values[s] = np.frombuffer(
                    _digest_rows(f[name], _trajectory_axis(name), lo, hi), dtype=np.uint8)
            digests[j] = values
            rows[j] = hi

    def check(self, f, path, name, data, n):
        """Raise RunFileError unless ``data`` (trajectories 0..n-1 of series ``name``,
        as read) matches the digests of the cells covering them."""
        if n <= 0 or name not in self.series:
            return
        s = self.series.index(name)
        axis = _trajectory_axis(name)
        covered = f["neqsim/digest_rows"][:]
        stored = f["neqsim/digests"][:, s, :]
        ds = f[name]
        for j in self._cells(0, n):
            lo = j * self.cell
            end = int(covered[j])
            if end < min(lo + self.cell, n):
                raise RunFileError(path, f"is damaged: {name} of trajectories {lo}..{n - 1} "
                                         "has no checksum though they are committed")
            if end <= n:
                got = _digest_array(data, axis, lo, end)
            else:  # the last cell's digest also covers rows written just before a kill
                h = _h()
                h.update(_bytes(data[lo:n] if axis == 0 else data[:, lo:n]))
                extra = ds[n:end] if axis == 0 else ds[:, n:end]
                h.update(_bytes(extra))
                got = h.digest()
            if got != stored[j].tobytes():
                raise RunFileError(path, f"is damaged: {name} of trajectories {lo}.."
                                         f"{min(end, n) - 1} (block {j}) does not match its "
                                         "checksum; the file was changed after it was "
                                         "written (nq.open_run(path, verify=False) reads it "
                                         "anyway)")


def checkpoint_digest(arrays, a, b, steps_done):
    """Digest of a checkpoint: the slot's arrays (name -> array, in order), the block's
    initial state, and where it stands."""
    h = _h()
    h.update(f"{a}|{b}|{steps_done}|".encode())
    for name in sorted(arrays):
        value = arrays[name]
        h.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        h.update(_bytes(value))
    return np.frombuffer(h.digest(), dtype=np.uint8)
