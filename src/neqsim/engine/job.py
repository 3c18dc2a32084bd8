"""A validated simulation request: everything that determines the numbers of a run.

``Job`` is what a run file stores as its configuration and what ``resume`` compares:
two jobs with equal :meth:`Job.config` (and equal arrays) produce bit-identical results,
whatever the chunking, thread count or specialization (those are execution options and
are deliberately not part of it).
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass

import numpy as np

from ..dynamics.base import Integrator, positive
from ..protocols.protocol import Protocol, as_protocol
from ..storage.errors import human_bytes
from ..storage.runfile import integrator_from_spec
from ..systems.system import System, fingerprint
from .initial import Equilibrate, Snapshots, StartDensity

__all__ = ["Job", "check_int", "check_seed"]


def check_int(name, value, minimum):
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= minimum
    except (TypeError, ValueError, OverflowError):  # None, 'abc', NaN, inf
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_seed(seed):
    """``seed`` as an int in [0, 2**64) (None: draw a fresh one), or one ValueError."""
    if seed is None:
        return secrets.randbits(63)
    try:
        ok = not isinstance(seed, bool) and int(seed) == seed and 0 <= int(seed) < 2**64
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"seed must be an integer in [0, 2**64) (or None for a fresh one), "
                         f"got {seed!r}")
    return int(seed)


def available_memory():
    """Bytes of RAM available to a new allocation (Linux: MemAvailable; elsewhere the
    physical total), or None where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None



def _initial_arrays(init, n_traj, dim, underdamped):
    """User-supplied initial state: x, or (x, v) for underdamped integrators."""
    if isinstance(init, tuple):
        if len(init) != 2:
            raise ValueError("init=(x0, v0) must be a pair of arrays")
        x0, v0 = init
    else:
        x0, v0 = init, None
    x0 = np.array(x0, dtype=np.float64)
    if x0.ndim == 1 and dim == 1:
        x0 = x0[:, None]
    if x0.shape != (n_traj, dim):
        raise ValueError(f"initial positions must have shape ({n_traj}, {dim}), got {x0.shape}")
    if not np.all(np.isfinite(x0)):
        raise ValueError("initial positions contain NaN or inf")
    if v0 is not None:
        if not underdamped:
            raise ValueError("initial velocities were given to an overdamped integrator")
        v0 = np.array(v0, dtype=np.float64)
        if v0.ndim == 1 and dim == 1:
            v0 = v0[:, None]
        if v0.shape != (n_traj, dim) or not np.all(np.isfinite(v0)):
            raise ValueError(f"initial velocities must be a finite ({n_traj}, {dim}) array")
    return x0, v0


@dataclass(eq=False)
class Job:
    system: System
    protocol: Protocol
    integrator: Integrator
    n_traj: int
    beta: float
    seed: int
    init: object            # "equilibrium", Equilibrate, or None when arrays are given
    init_x0: np.ndarray | None
    init_v0: np.ndarray | None
    record_every: int
    record_positions: bool
    on_failure: str
    init_source: dict | None = None  # where given initial states came from (Snapshots)

    @classmethod
    def build(cls, system, protocol, integrator, n_traj, *, beta, seed, init, record_every,
              record_positions, on_failure, init_source=None):
        """Validate a request (clear errors for every bad input) and draw a seed if None."""
        if not isinstance(system, System):
            raise TypeError(f"system must be a neqsim System, got {type(system).__name__}")
        if not isinstance(integrator, Integrator):
            raise TypeError(f"integrator must be a neqsim integrator, "
                            f"got {type(integrator).__name__}")
        if getattr(system, "discrete", False) and not integrator.discrete_states:
            hint = getattr(system, "driven_by", None)
            raise TypeError(f"{system.name} is a spin lattice: drive it with "
                            "nq.ising.SpinFlip('metropolis' or 'glauber'), not "
                            f"{type(integrator).__name__}" if hint is None else
                            f"{system.name} has discrete states: drive it with {hint}, not "
                            f"{type(integrator).__name__}")
        protocol = as_protocol(protocol)
        if protocol.n_controls != system.n_controls:
            raise ValueError(f"{system.name} takes {system.n_controls} control(s) "
                             f"{system.control_names}, but the protocol has "
                             f"{protocol.n_controls}")
        n_traj = check_int("n_traj", n_traj, 1)
        beta = positive("beta", beta)
        seed = check_seed(seed)
        record_every = check_int("record_every", record_every, 0)
        if on_failure not in ("raise", "nan"):
            raise ValueError(f"on_failure must be 'raise' or 'nan', got {on_failure!r}")
        underdamped = integrator.has_velocities
        x0 = v0 = None
        if isinstance(init, Snapshots):
            init_source = init.spec()
            init = init.positions(n_traj, system.dim)
        elif isinstance(init, StartDensity):
            init_source = init.spec()
            init = init.positions(n_traj, system.dim, seed)
        if isinstance(init, (np.ndarray, list, tuple)):
            x0, v0 = _initial_arrays(init, n_traj, system.dim, underdamped)
            init = None
        elif isinstance(init, Equilibrate):
            start = np.asarray(init.start, dtype=np.float64)
            if start.ndim == 2 and start.shape[0] > 1 and start.shape != (n_traj, system.dim):
                raise ValueError(f"Equilibrate.start must be one configuration or an "
                                 f"({n_traj}, {system.dim}) array, got {start.shape}")
        elif not (isinstance(init, str) and init == "equilibrium"):
            raise ValueError(f"init must be 'equilibrium', nq.Equilibrate(...), "
                             f"nq.Snapshots(...), nq.StartDensity(...), or arrays; got "
                             f"{init!r}")
        return cls(system, protocol, integrator, n_traj, beta, int(seed), init, x0, v0,
                   record_every, bool(record_positions), on_failure,
                   dict(init_source) if init_source and x0 is not None else None)

    # --- derived sizes ---------------------------------------------------------------
    @property
    def underdamped(self):
        return self.integrator.has_velocities

    @property
    def n_steps(self):
        return self.protocol.n_steps

    @property
    def n_rec(self):
        return self.n_steps // self.record_every + 1 if self.record_every else 0

    @property
    def rec_dim(self):
        return self.system.dim if (self.record_every and self.record_positions) else 0

    def bytes_per_trajectory(self):
        """Working memory of one trajectory inside a block (kernel state and traces)."""
        d = self.system.dim
        return 8 * (6 * d + 16 + self.n_rec * (2 + self.rec_dim))

    def check_memory(self, available=None):
        """Raise a ValueError, before anything is allocated, when the in-memory result
        (every trajectory's state and traces at once) cannot fit in the available RAM:
        numpy's MemoryError names a shape, not the way out (out= streams to a file and
        keeps memory bounded by one block). ``available``: bytes (default: the system's)."""
        need = self.n_traj * self.bytes_per_trajectory()
        available = available_memory() if available is None else available
        if available is not None and need > available:
            raise ValueError(
                f"n_traj={self.n_traj}: the in-memory result needs about {human_bytes(need)} "
                f"({human_bytes(self.bytes_per_trajectory())} per trajectory) but "
                f"{human_bytes(available)} of memory is available; pass out='run.h5' to stream "
                "the trajectories to a run file, or use fewer trajectories")

    # --- configuration as stored in run files ------------------------------------------
    def init_spec(self):
        if self.init is None:
            return {"kind": "arrays", "velocities": self.init_v0 is not None,
                    **(self.init_source or {})}
        if isinstance(self.init, Equilibrate):
            return {"kind": "equilibrate", "n_steps": int(self.init.n_steps),
                    "dt": float(self.init.dt),
                    "start": np.asarray(self.init.start, dtype=float).tolist()}
        return {"kind": "equilibrium"}

    def config(self):
        """Scalar configuration (JSON-able): equal configs + equal arrays = equal results."""
        s = self.system
        return {
            "system": s.name, "system_factory": s.factory or "",
            "system_params": json.dumps(s.params, sort_keys=True), "dim": s.dim,
            "n_controls": s.n_controls, "control_names": json.dumps(list(s.control_names)),
            "integrator": self.integrator.file_name,
            "integrator_params": json.dumps(self.integrator.params(), sort_keys=True),
            "dt": float(self.integrator.dt), "beta": self.beta, "kT": 1.0 / self.beta,
            "seed": str(self.seed), "n_traj": self.n_traj, "n_steps": self.n_steps,
            "init": json.dumps(self.init_spec(), sort_keys=True),
            "record_every": self.record_every, "record_positions": self.record_positions,
            "on_failure": self.on_failure,
        }

    def arrays(self):
        """Array-valued configuration: protocol, system fingerprint, initial arrays."""
        out = {"protocol": self.protocol.values}
        out.update(fingerprint(self.system, self.protocol))
        if self.init_x0 is not None:
            out["init_x0"] = self.init_x0
        if self.init_v0 is not None:
            out["init_v0"] = self.init_v0
        return out

    def differences(self, config, arrays):
        """Names (with both values) where this job differs from a stored configuration."""
        mine, diffs = self.config(), []
        for key in sorted(set(mine) | set(config)):
            if key == "kT":
                continue
            a, b = config.get(key), mine.get(key)
            if a != b and not (isinstance(a, float) and isinstance(b, float) and a == b):
                diffs.append(f"{key}: file {a!r}, requested {b!r}")
        for key, value in self.arrays().items():
            stored = arrays.get(key)
            if stored is None or stored.shape != value.shape or \
                    not np.array_equal(stored, value, equal_nan=True):
                what = "potential energy/gradient at probe points" \
                    if key.startswith("fingerprint") else key
                diffs.append(f"{what} differ")
        for key in arrays:
            if key not in self.arrays():
                diffs.append(f"{key}: in the file, not requested")
        return diffs

    @classmethod
    def from_stored(cls, path, config, arrays, system=None):
        """Rebuild the job a file was written with (``system`` for user potentials)."""
        if system is None:
            if not config["system_factory"]:
                raise ValueError(
                    f"{path}: written with the user-defined system {config['system']!r}; pass "
                    "system= (the same potential) to rebuild it")
            from ..systems.builtin import from_spec
            system = from_spec(config["system_factory"], json.loads(config["system_params"]))
        integrator = integrator_from_spec(config["integrator"],
                                          json.loads(config["integrator_params"]))
        spec = json.loads(config["init"])
        source = None
        if spec["kind"] == "arrays":
            x0 = arrays["init_x0"]
            init = (x0, arrays["init_v0"]) if "init_v0" in arrays else x0
            source = {k: spec[k] for k in ("source", "thin", "skip", "name") if k in spec} or None
        elif spec["kind"] == "equilibrate":
            init = Equilibrate(spec["n_steps"], spec["dt"], np.asarray(spec["start"]))
        else:
            init = "equilibrium"
        return cls.build(system, Protocol(arrays["protocol"]), integrator, config["n_traj"],
                         beta=config["beta"], seed=int(config["seed"]), init=init,
                         record_every=config["record_every"],
                         record_positions=config["record_positions"],
                         on_failure=config["on_failure"], init_source=source)
