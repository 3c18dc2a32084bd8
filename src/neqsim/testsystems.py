"""The 0.1.0 name of :mod:`neqsim.targets` (AIS targets with exact log Z), kept so that
``from neqsim.testsystems import ...`` keeps working."""
from .targets import *  # noqa: F401,F403
from .targets import __all__  # noqa: F401
