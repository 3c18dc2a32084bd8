"""Names written into run files: explicit constants, never derived from code layout.

A file written by any version must keep opening, so these strings are fixed. Moving a
class or renaming an attribute in the code must not change them; ``tests/test_names.py``
pins every one. Integrator classes carry their own run-file name (``file_name``); the
table here is what the test compares the registry against.
"""

#: /h5md/modules/neqsim version: major changes break readers (1.1: checksums, storage/digests.py)
FORMAT_VERSION = (1, 1)

#: per-trajectory totals under /observables/totals
TOTALS = ("work", "heat", "shadow_work", "path_work", "initial_energy", "final_energy")

#: KernelState field -> dataset name in /neqsim/checkpoint/<slot> (format 1.0)
CHECKPOINT = {"x": "x", "v": "v", "u": "u", "rng": "rng", "work": "W", "heat": "Q",
              "shadow_work": "S", "path_work": "P", "n_accepted": "nacc",
              "failed_step": "failed"}

#: the integrator names files store in parameters/integrator, and their classes
INTEGRATORS = {
    "EulerMaruyama": "neqsim.dynamics.overdamped.EulerMaruyama",
    "MALA": "neqsim.dynamics.overdamped.MALA",
    "Langevin": "neqsim.dynamics.splitting.Langevin",
    "GHMC": "neqsim.dynamics.splitting.GHMC",
    "VelocityVerlet": "neqsim.dynamics.splitting.VelocityVerlet",
    "kernels.RandomWalk": "neqsim.dynamics.mcmc.RandomWalk",
    "kernels.MALA": "neqsim.dynamics.mcmc.MALAKernel",
    "kernels.HMC": "neqsim.dynamics.mcmc.HMC",
    "ising.SpinFlip": "neqsim.dynamics.spinflip.SpinFlip",
    "jump.Gillespie": "neqsim.dynamics.gillespie.Gillespie",
}

#: the built-in system builders files store in parameters/system_factory
SYSTEMS = ("harmonic_trap", "double_well", "ising", "spring_pulled", "markov_states")

CONVENTIONS = {
    "convention_work": "W > 0 is work done ON the system: sum_k U(x_{k-1}, lam_k) - "
                       "U(x_{k-1}, lam_{k-1}), the control switch at fixed state",
    "convention_heat": "Q > 0 is heat absorbed BY the system from the bath",
    "convention_first_law": "final_energy - initial_energy = work + heat + shadow_work "
                            "(shadow_work = 0 where absent)",
    "energy_units": "the units of the user's potential; kT = 1/beta in the same units",
    "time_units": "time = step * dt in the integrator's units",
}
