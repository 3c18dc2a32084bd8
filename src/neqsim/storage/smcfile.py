"""SMC run files: the population at the last finished temperature, and every temperature's
record, so that a killed SMC run resumes from there to the bit-identical result.

Layout (HDF5; read it with plain h5py): root attributes ``neqsim_format`` = "neqsim-smc",
``format_version`` (1), ``config`` (JSON: densities, dimension, particles, seed, path,
kernel, options, schedule), ``complete``, ``digest`` (blake2b-128 of the configuration
and every dataset: damage is detected on reading); groups ``state`` (x, a, b, rng, logw,
eve, and scalars t, k, log_z, eps, n_evaluations as attributes) and ``records`` (one
entry per temperature step: t, ess, resampled, acceptance, step_size, log_z_increment),
``pilot`` (the pilot's schedule and step sizes, for ``schedule="pilot"``).

A checkpoint is written whole to ``<path>.tmp-<pid>`` in the same folder, flushed,
fsynced and renamed over ``path``: at any moment the file is the previous checkpoint or
the new one, never a mixture.
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from .errors import RunFileError, printable

__all__ = ["write_checkpoint", "read_checkpoint", "is_smc_file", "describe_smc",
           "SMC_FORMAT"]

SMC_FORMAT = "neqsim-smc"
VERSION = 1
_STATE = ("x", "a", "b", "rng", "logw", "eve")
_SCALARS = ("t", "k", "log_z", "eps", "n_evaluations")
_RECORDS = ("t", "ess", "resampled", "acceptance", "step_size", "log_z_increment")


def _digest(config_json, groups):
    h = hashlib.blake2b(digest_size=16)
    h.update(config_json.encode())
    for gname in sorted(groups):
        for name in sorted(groups[gname]):
            a = np.ascontiguousarray(groups[gname][name])
            h.update(f"{gname}/{name}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def write_checkpoint(path, config, state, records, pilot=None, complete=False):
    """Replace ``path`` atomically with this checkpoint (see the module docstring)."""
    import h5py
    path = os.fspath(path)
    cfg = json.dumps(config, sort_keys=True)
    groups = {"state": {k: np.asarray(state[k]) for k in _STATE},
              "records": {k: np.asarray(records[k]) for k in _RECORDS}}
    if pilot is not None:
        groups["pilot"] = {k: np.asarray(v) for k, v in pilot.items()}
    scalars = {k: state[k] for k in _SCALARS}
    digest = _digest(cfg + json.dumps(scalars, sort_keys=True, default=float), groups)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["neqsim_format"] = SMC_FORMAT
            f.attrs["format_version"] = VERSION
            f.attrs["config"] = cfg
            f.attrs["complete"] = bool(complete)
            f.attrs["scalars"] = json.dumps(scalars, sort_keys=True, default=float)
            f.attrs["digest"] = digest
            for gname, arrays in groups.items():
                g = f.create_group(gname)
                for name, a in arrays.items():
                    g.create_dataset(name, data=a)
            f.flush()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    try:  # the rename itself must survive a power cut
        dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def is_smc_file(path):
    import h5py
    try:
        with h5py.File(os.fspath(path), "r") as f:
            return f.attrs.get("neqsim_format") == SMC_FORMAT
    except OSError:
        return False


def read_checkpoint(path):
    """(config, state, records, pilot or None, complete) of an SMC run file, its digest
    checked; RunFileError naming the problem otherwise."""
    import h5py
    path = os.fspath(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise RunFileError(path, f"cannot be opened as an SMC run file ({printable(e)})") \
            from None
    with f:
        if f.attrs.get("neqsim_format") != SMC_FORMAT:
            raise RunFileError(path, "is not an SMC run file (written by nq.smc(out=...))")
        if int(f.attrs.get("format_version", -1)) > VERSION:
            raise RunFileError(path, "was written by a newer neqsim; upgrade to read it")
        try:
            cfg = str(f.attrs["config"])
            config = json.loads(cfg)
            scalars_json = str(f.attrs["scalars"])
            scalars = json.loads(scalars_json)
            groups = {g: {k: f[g][k][()] for k in f[g]} for g in ("state", "records", "pilot")
                      if g in f}
            digest = str(f.attrs["digest"])
            complete = bool(f.attrs["complete"])
        except (KeyError, ValueError, TypeError) as e:
            raise RunFileError(path, f"is damaged: {printable(e)}") from None
    if _digest(cfg + scalars_json, groups) != digest:
        raise RunFileError(path, "is damaged: its checksum does not match its contents")
    state = dict(groups["state"], **scalars)
    return config, state, groups["records"], groups.get("pilot"), complete


def describe_smc(path):
    """A human summary of an SMC run file (what ``neqsim info`` prints)."""
    config, state, records, pilot, complete = read_checkpoint(path)
    n, t = config["n_particles"], float(state["t"])
    lines = [f"{path}: neqsim SMC run file (format {VERSION})",
             f"  status      {'COMPLETE' if complete else f'INCOMPLETE at t = {t:.4g}'} "
             f"({int(state['k'])} temperature steps, {int(np.sum(records['resampled']))} "
             "resamplings)",
             f"  densities   {' and '.join(config['densities'])} ({config['path']} path), "
             f"dim {config['dim']}",
             f"  particles   {n:,}, seed {config['seed']}, kernel {config['kernel']}",
             f"  log Z       {float(state['log_z']):.6g}"
             + ("" if complete else " so far (the finished temperatures; resume with "
                "nq.smc(..., out=path, resume=True))")]
    if records["ess"].size:
        lines.append(f"  ESS         min {records['ess'].min():.1f}, mean acceptance "
                     f"{records['acceptance'].mean():.3f}")
    return "\n".join(lines)
