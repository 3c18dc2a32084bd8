"""Integrators by short name and time step (``neqsim validate --integrator obabo --dt 0.3``)."""
from .overdamped import MALA, EulerMaruyama
from .splitting import GHMC, Langevin, VelocityVerlet

__all__ = ["PRESETS", "preset"]

PRESETS = {
    "em": lambda dt: EulerMaruyama(dt=dt),
    "euler_maruyama": lambda dt: EulerMaruyama(dt=dt),
    "mala": lambda dt: MALA(dt=dt),
    "baoab": lambda dt: Langevin(dt=dt, splitting="V R O R V"),
    "obabo": lambda dt: Langevin(dt=dt, splitting="O V R V O"),
    "ghmc": lambda dt: GHMC(dt=dt),
    "verlet": lambda dt: VelocityVerlet(dt=dt),
}


def preset(name, dt):
    """The integrator ``name`` (a key of PRESETS, any case) with time step ``dt``."""
    key = str(name).lower()
    if key not in PRESETS:
        raise ValueError(f"unknown integrator {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[key](dt)
