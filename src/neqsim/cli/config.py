"""Run configurations for ``neqsim run``: named examples and TOML/JSON files.

A configuration names a built-in system, a protocol, an integrator and the run::

    [system]
    name = "harmonic_trap"        # harmonic_trap, double_well, ising
    params = { dim = 1 }
    [protocol]
    kind = "linear"               # linear: start, end, n_steps; piecewise: knots, n_steps
    start = [0.0, 1.0]
    end = [5.0, 1.0]
    n_steps = 1000
    [integrator]
    name = "EulerMaruyama"        # an integrator's run-file name (neqsim.storage.names)
    dt = 0.001
    [run]
    n_traj = 100000
    seed = 42
    beta = 1.0
    out = "forward.h5"
    record_every = 10             # optional
    reverse = true                # optional: also run the reverse process (both directions
                                  # then start with one kernel step: protocols.crooks_pair)

Every unknown or missing field is reported with the file and the section it belongs to.
"""
from __future__ import annotations

import difflib
import json
import math
import os

__all__ = ["EXAMPLES", "load", "ConfigError", "execute", "calibration_setup"]


class ConfigError(ValueError):
    pass


EXAMPLES = {
    "dragged-trap": {
        "description": "overdamped harmonic trap dragged 0 -> 5 (dF = 0; W Gaussian)",
        "system": {"name": "harmonic_trap"},
        "protocol": {"kind": "linear", "start": [0.0, 1.0], "end": [5.0, 1.0], "n_steps": 1000},
        "integrator": {"name": "EulerMaruyama", "dt": 1e-3},
        "run": {"n_traj": 100_000, "seed": 42, "out": "dragged_trap.h5", "reverse": True}},
    "breathing-trap": {
        "description": "harmonic trap stiffness 1 -> 4, BAOAB (dF = (kT/2) ln 4 = ln 2)",
        "system": {"name": "harmonic_trap"},
        "protocol": {"kind": "linear", "start": [0.0, 1.0], "end": [0.0, 4.0], "n_steps": 100},
        "integrator": {"name": "Langevin", "dt": 0.05, "splitting": "V R O R V"},
        "run": {"n_traj": 100_000, "seed": 1, "out": "breathing_trap.h5", "reverse": True}},
    "erasure": {
        "description": "bit erasure in a double well: lower, tilt, raise, untilt (MALA)",
        "system": {"name": "double_well"},
        "protocol": {"kind": "piecewise", "knots": [[4.0, 0.0], [0.0, 0.0], [0.0, 2.0],
                                                    [4.0, 2.0], [4.0, 0.0]], "n_steps": 2000},
        "integrator": {"name": "MALA", "dt": 0.01},
        "run": {"n_traj": 20_000, "seed": 3, "out": "erasure.h5"}},
}

_SECTIONS = {"system": {"name", "params"},
             "protocol": {"kind", "start", "end", "n_steps", "knots", "times"},
             "integrator": None,  # checked against the integrator's own parameters
             "run": {"n_traj", "seed", "beta", "out", "record_every", "record_positions",
                     "reverse", "chunk_traj", "on_failure"},
             "description": None}
_REQUIRED = {"system": ["name"], "protocol": ["kind", "n_steps"], "integrator": ["name"],
             "run": ["n_traj", "out"]}


def _suggest(word, options):
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(options))})"


def load(source):
    """A configuration dict from a named example or a .toml/.json file (validated)."""
    if source in EXAMPLES:
        return EXAMPLES[source], f"example {source!r}"
    if not os.path.exists(source):
        raise ConfigError(f"{source}: no such file, and not a named example; examples: "
                          f"{', '.join(sorted(EXAMPLES))}")
    try:
        if source.endswith(".toml"):
            import tomllib
            with open(source, "rb") as f:
                cfg = tomllib.load(f)
        elif source.endswith(".json"):
            with open(source) as f:
                cfg = json.load(f)
        else:
            raise ConfigError(f"{source}: a configuration must be a .toml or .json file")
    except (ValueError, OSError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{source}: cannot be parsed ({e})") from None
    except RecursionError:
        raise ConfigError(f"{source}: cannot be parsed (nested too deeply); a configuration "
                          "is a table of sections holding fields") from None
    _check(cfg, source)
    return cfg, source


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _integer(minimum, none_ok=False):
    def check(v):
        # 1e5 in JSON is a float: integral floats are integers here
        return (v is None and none_ok) or (_is_number(v) and float(v).is_integer()
                                           and v >= minimum)
    return check, f"an integer >= {minimum}" + (" (or null for a fresh one)" if none_ok else "")


def _vector(v):
    return _is_number(v) or (isinstance(v, list) and len(v) > 0 and all(map(_is_number, v)))


_VECTOR = (_vector, "a number or a list of numbers")
# what each field must be (fields not here are checked where they are used)
_TYPES = {
    "system": {"name": (lambda v: isinstance(v, str), "a string"),
               "params": (lambda v: isinstance(v, dict), "a table of parameters")},
    "protocol": {"kind": (lambda v: isinstance(v, str), "a string"),
                 "n_steps": _integer(1), "start": _VECTOR, "end": _VECTOR, "times": _VECTOR,
                 "knots": (lambda v: isinstance(v, list) and len(v) > 0
                           and all(map(_vector, v)), "a list of control vectors")},
    "integrator": {"name": (lambda v: isinstance(v, str), "a string")},
    "run": {"n_traj": _integer(1), "seed": _integer(0, none_ok=True),
            "beta": (lambda v: _is_number(v) and v > 0, "a number > 0"),
            "out": (lambda v: isinstance(v, str) and v != "", "a file name"),
            "record_every": _integer(0), "chunk_traj": _integer(1),
            "record_positions": (lambda v: isinstance(v, bool), "true or false"),
            "reverse": (lambda v: isinstance(v, bool), "true or false"),
            "on_failure": (lambda v: isinstance(v, str), "a string")},
}
_KINDS = {dict: "a table", list: "a list", str: "a string", bool: "a boolean",
          int: "a number", float: "a number", type(None): "null"}


def _kind(v):
    return _KINDS.get(type(v), type(v).__name__)


def _check(cfg, where):
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: the top level must be a table of sections ([system], "
                          f"[protocol], [integrator], [run]), got {_kind(cfg)}")
    for section in cfg:
        if section not in _SECTIONS:
            raise ConfigError(f"{where}: unknown section [{section}]" + _suggest(section,
                                                                                 _SECTIONS))
    if "description" in cfg and not isinstance(cfg["description"], str):
        raise ConfigError(f"{where}: description must be a string, got "
                          f"{_kind(cfg['description'])}")
    for section, required in _REQUIRED.items():
        if section not in cfg:
            raise ConfigError(f"{where}: missing section [{section}]")
        if not isinstance(cfg[section], dict):
            raise ConfigError(f"{where}: [{section}] must be a table of fields, got "
                              f"{_kind(cfg[section])}")
        for key in required:
            if key not in cfg[section]:
                raise ConfigError(f"{where}: [{section}] is missing the field {key!r}")
        allowed = _SECTIONS[section]
        if allowed is not None:
            for key in cfg[section]:
                if key not in allowed:
                    raise ConfigError(f"{where}: [{section}] has an unknown field {key!r}"
                                      + _suggest(key, allowed))
        for key, (ok, what) in _TYPES[section].items():
            if key in cfg[section] and not ok(cfg[section][key]):
                raise ConfigError(f"{where}: [{section}] {key} must be {what}, got "
                                  f"{cfg[section][key]!r}")


def build(cfg, where):
    """(system, protocol, integrator, run options) from a checked configuration."""
    from .. import (
        dynamics,  # noqa: F401  (every integrator class registers its name)
        protocols,
    )
    from ..dynamics.base import Integrator
    from ..storage.runfile import integrator_from_spec
    from ..systems import BUILTINS, from_spec
    s = cfg["system"]
    if s["name"] not in BUILTINS:
        raise ConfigError(f"{where}: [system] name {s['name']!r} is not a built-in system"
                          + _suggest(s["name"], BUILTINS))
    try:
        system = from_spec(s["name"], s.get("params", {}))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: [system] params: {e}") from None
    p = dict(cfg["protocol"])
    kind = p.pop("kind")
    try:
        if kind == "linear":
            for key in ("start", "end"):
                if key not in p:
                    raise ConfigError(f"{where}: [protocol] kind 'linear' needs {key!r}")
            proto = protocols.linear(p["start"], p["end"], p["n_steps"])
        elif kind == "piecewise":
            if "knots" not in p:
                raise ConfigError(f"{where}: [protocol] kind 'piecewise' needs 'knots'")
            proto = protocols.piecewise(p["knots"], p["n_steps"], p.get("times"))
        else:
            raise ConfigError(f"{where}: [protocol] kind {kind!r} is unknown"
                              + _suggest(kind, ["linear", "piecewise"]))
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: [protocol]: {e}") from None
    integ_cfg = dict(cfg["integrator"])
    name = integ_cfg.pop("name")
    if name not in Integrator.registry:
        raise ConfigError(f"{where}: [integrator] name {name!r} is unknown"
                          + _suggest(name, Integrator.registry))
    import inspect
    accepted = [k for k in inspect.signature(Integrator.registry[name].__init__).parameters
                if k != "self"]
    for key in integ_cfg:
        if key not in accepted:
            raise ConfigError(f"{where}: [integrator] has an unknown field {key!r} for {name}"
                              + _suggest(key, accepted))
    try:
        integ = integrator_from_spec(name, integ_cfg)
    except TypeError as e:
        raise ConfigError(f"{where}: [integrator] {name}: {e}") from None
    except ValueError as e:
        raise ConfigError(f"{where}: [integrator] {name}: {e}") from None
    return system, proto, integ, dict(cfg["run"])


def execute(source, *, out=None, n_traj=None, seed=None, overwrite=False, progress=None,
            n_threads=None, executor=None, threads_per_worker=1):
    """Run a configuration (forward, and reverse if asked); returns the runs. ``executor``
    and ``threads_per_worker`` as in :func:`neqsim.simulate`."""
    from ..engine.driver import simulate
    from ..protocols import crooks_pair
    from ..storage.runfile import RunFileError
    # explicit None checks: 0 trajectories or an empty name is an error, not "the default"
    if n_traj is not None and not _integer(1)[0](n_traj):
        raise ConfigError(f"n_traj (--n-traj) must be an integer >= 1, got {n_traj!r}")
    if out is not None and not (isinstance(out, (str, os.PathLike)) and os.fspath(out)):
        raise ConfigError(f"out (--out) must be the path of a run file, got {out!r}")
    cfg, where = load(source)
    system, proto, integ, run = build(cfg, where)
    out = run["out"] if out is None else os.fspath(out)
    kw = dict(beta=run.get("beta", 1.0), seed=seed if seed is not None else run.get("seed"),
              record_every=run.get("record_every", 0),
              record_positions=run.get("record_positions", False),
              on_failure=run.get("on_failure", "raise"), chunk_traj=run.get("chunk_traj"),
              overwrite=overwrite, progress=progress, n_threads=n_threads,
              executor=executor, threads_per_worker=threads_per_worker)
    n = run["n_traj"] if n_traj is None else int(n_traj)
    reverse = None
    if run.get("reverse"):  # the exact time-reversed pair, for any integrator
        proto, reverse = crooks_pair(proto)
    try:
        runs = [simulate(system, proto, integ, n, out=out, **kw)]
        if reverse is not None:
            stem = out[:-3] if out.endswith(".h5") else out
            kw["seed"] = None if kw["seed"] is None else int(kw["seed"]) + 1
            runs.append(simulate(system, reverse, integ, n,
                                    out=f"{stem}.reverse.h5", **kw))
    except (ValueError, TypeError) as e:
        if isinstance(e, RunFileError):
            raise
        raise ConfigError(f"{where}: {e}") from None
    return runs


def calibration_setup(source):
    """(system, protocol, integrator, options) for ``neqsim calibrate`` from a named
    example, a configuration file, or a run file (its stored configuration; options hold
    beta, seed, init and reverse)."""
    if isinstance(source, str) and source.endswith((".h5", ".hdf5")):
        from ..engine.initial import Equilibrate
        from ..storage.runfile import open_run
        run = open_run(source)
        if run.system is None:
            raise ConfigError(f"{source}: written with the user-defined system "
                              f"{run.system_name!r}; calibrate it from Python: "
                              "nq.calibrate(system, protocol, integrator, n_traj, ...)")
        spec = run.init or {"kind": "equilibrium"}
        if spec["kind"] == "arrays":
            raise ConfigError(f"{source}: its initial states were given as arrays, which a "
                              "replicate cannot draw afresh; calibrate from Python with "
                              "init= a sampler of new starts")
        init = (Equilibrate(spec["n_steps"], spec["dt"], spec["start"])
                if spec["kind"] == "equilibrate" else "equilibrium")
        return run.system, run.protocol, run.integrator, {"beta": run.beta, "seed": run.seed,
                                                          "init": init, "reverse": False}
    cfg, where = load(source)
    system, proto, integ, run = build(cfg, where)
    return system, proto, integ, {"beta": run.get("beta", 1.0), "seed": run.get("seed"),
                                  "reverse": bool(run.get("reverse", False))}
