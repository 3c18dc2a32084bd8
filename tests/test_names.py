"""Names written into run files are explicit constants, pinned here: moving or renaming a
class in the code must not change what files say (or old files would stop opening)."""
import importlib
import os

import h5py

import neqsim as nq
from neqsim.dynamics import Integrator
from neqsim.storage import names
from neqsim.systems import BUILTINS

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

# the strings of format 1.0, written by neqsim 0.1.0: never change them
PINNED_INTEGRATORS = {"EulerMaruyama", "MALA", "Langevin", "GHMC", "VelocityVerlet",
                      "kernels.RandomWalk", "kernels.MALA", "kernels.HMC", "ising.SpinFlip",
                      "jump.Gillespie"}
PINNED_CHECKPOINT = {"x": "x", "v": "v", "u": "u", "rng": "rng", "work": "W", "heat": "Q",
                     "shadow_work": "S", "path_work": "P", "n_accepted": "nacc",
                     "failed_step": "failed"}


def test_integrator_names_are_the_pinned_constants():
    assert set(names.INTEGRATORS) == PINNED_INTEGRATORS
    for name, where in names.INTEGRATORS.items():
        module, cls = where.rsplit(".", 1)
        klass = getattr(importlib.import_module(module), cls)
        assert klass.file_name == name
        assert Integrator.registry[name] is klass
    assert set(Integrator.registry) == PINNED_INTEGRATORS


def test_names_do_not_follow_the_code_layout():
    """A subclass defined anywhere keeps the name it declares; one without a name is not
    registered (and cannot silently take another's)."""
    class Elsewhere(nq.EulerMaruyama):
        pass
    assert Elsewhere.file_name == "EulerMaruyama"
    assert Integrator.registry["EulerMaruyama"] is nq.EulerMaruyama
    try:
        class Clash(nq.Langevin):
            file_name = "MALA"
    except TypeError as e:
        assert "MALA" in str(e)
    else:
        raise AssertionError("a second class took the run-file name 'MALA'")


def test_checkpoint_and_system_names():
    assert names.CHECKPOINT == PINNED_CHECKPOINT
    assert names.FORMAT_VERSION == (1, 1)  # 1.1: checksums (files of 1.0 keep opening)
    assert set(names.SYSTEMS) == set(BUILTINS) == {"harmonic_trap", "double_well", "ising",
                                                   "spring_pulled", "markov_states"}
    assert names.TOTALS == ("work", "heat", "shadow_work", "path_work", "initial_energy",
                            "final_energy")


def test_files_of_0_1_0_use_exactly_these_names():
    seen = set()
    for f in sorted(os.listdir(FIXTURES)):
        if f.endswith(".h5"):
            with h5py.File(os.path.join(FIXTURES, f), "r", locking=False) as h:
                par = h["parameters"].attrs
                seen.add(par["integrator"])
                if par["system_factory"]:
                    assert par["system_factory"] in names.SYSTEMS
                slot = h["neqsim/checkpoint/0"]
                assert set(slot) <= set(names.CHECKPOINT.values())
    assert seen == {"Langevin", "ising.SpinFlip", "MALA", "kernels.MALA"}
    assert seen <= PINNED_INTEGRATORS
