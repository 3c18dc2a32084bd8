"""The CUDA kernels against the CPU kernels, on numba-cuda's simulator (run by
tests/test_cuda_sim.py in a subprocess: NUMBA_ENABLE_CUDASIM=1 must be set before numba is
imported, and the test suite is one process).

``python tests/cuda_sim_cases.py DIR`` runs every case and prints one JSON object: per
case, per result array, ``"identical"`` or the largest relative difference. The simulator
runs each CUDA thread's arithmetic as float64 Python (numpy scalars, math's libm), which
is what the CPU kernels compute, so every comparison is expected bit for bit.
"""
import json
import math
import os
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore", category=RuntimeWarning)  # uint64 wrap-around in Python

import h5py  # noqa: E402
import numpy as np  # noqa: E402

import neqsim as nq  # noqa: E402

N_TRAJ, N_STEPS = 64, 20
TIMES = {}  # case: (CPU s, simulated GPU s)
FIELDS = ("work", "heat", "path_work", "shadow_work", "initial_energy", "final_energy", "x",
          "v", "acceptance", "failed")


def diff(a, b):
    """"identical" (bits, NaNs in the same places), else the largest relative difference."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return f"shapes {a.shape} != {b.shape}"
    if a.dtype.kind == "f":
        if np.array_equal(a.view(np.int64) if a.dtype == np.float64 else a,
                          b.view(np.int64) if b.dtype == np.float64 else b):
            return "identical"
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return "NaNs differ"
        ok = ~np.isnan(a)
        return float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(a[ok]), 1e-300)))
    return "identical" if np.array_equal(a, b) else "differ"


def compare_runs(a, b):
    out = {}
    for f in FIELDS:
        va, vb = getattr(a, f), getattr(b, f)
        if va is None and vb is None:
            continue
        out[f] = diff(va, vb)
    if a.trace is not None or b.trace is not None:
        for k in ("work", "heat", "x"):
            ta, tb = _series(a.trace, k), _series(b.trace, k)
            if ta is not None or tb is not None:
                out["trace_" + k] = diff(ta, tb)
    return out


def _series(trace, key):
    try:
        return None if trace is None else np.asarray(trace[key])
    except KeyError:
        return None


def user_system():
    """A user's potential from separate energy and gradient, calling a helper through a
    closure, with numpy's transcendental functions (device copies of all of them)."""
    width = 0.7

    def bump(y):
        return np.exp(-y * y / (2.0 * width * width))

    def energy(x, lam):
        y = x[0] - lam[0]
        return 0.5 * y * y + lam[1] * bump(x[0]) + 0.1 * math.cos(x[1]) + 0.5 * x[1] * x[1]

    def gradient(x, lam, out):
        y = x[0] - lam[0]
        out[0] = y - lam[1] * x[0] / (width * width) * bump(x[0])
        out[1] = -0.1 * math.sin(x[1]) + x[1]

    return nq.from_functions(energy, gradient, dim=2, n_controls=2, name="bumpy")


def steep_energy(x, lam):
    return lam[0] * x[0] * x[0] * x[0] * x[0]


def steep_gradient(x, lam, out):
    out[0] = 4.0 * lam[0] * x[0] * x[0] * x[0]


def cases():
    trap = nq.systems.harmonic_trap()
    trap3 = nq.systems.harmonic_trap(3)
    well = nq.systems.double_well()
    pulled = nq.systems.spring_pulled(well, k_s=5.0, base_controls=[2.0, 0.0])
    drag = nq.protocols.linear([0.0, 1.0], [2.0, 1.5], N_STEPS)
    drag3 = nq.protocols.linear([0.0, 0.5, 0.0, 1.0], [1.0, -0.5, 0.3, 2.0], N_STEPS)
    tilt = nq.protocols.linear([2.0, -1.0], [0.5, 1.5], N_STEPS)
    pull = nq.protocols.linear([-1.0], [1.0], N_STEPS)
    bump = nq.protocols.linear([0.0, 0.0], [1.0, 1.5], N_STEPS)
    return {
        "em_trap": (trap, drag, nq.EulerMaruyama(0.05, gamma=0.8)),
        "em_trap3": (trap3, drag3, nq.EulerMaruyama(0.02)),
        "mala_well": (well, tilt, nq.MALA(0.3)),
        "baoab_well": (well, tilt, nq.Langevin(0.05)),
        "obabo_trap3": (trap3, drag3, nq.Langevin(0.1, gamma=2.0, splitting="O V R V O")),
        "ghmc_well": (well, tilt, nq.GHMC(0.4)),
        "verlet_pulled": (pulled, pull, nq.VelocityVerlet(0.05)),
        "blocks_well": (well, tilt, nq.Langevin(0.2, splitting="V { R V R } O O { R V R } V")),
        "em_user": (user_system(), bump, nq.EulerMaruyama(0.05)),
        "ghmc_user": (user_system(), bump, nq.GHMC(0.3)),
    }


def run_compare():
    out = {}
    rec = dict(record_every=5, record_positions=True)
    for name, (system, proto, integ) in cases().items():
        kw = dict(rec, seed=11, progress=False)
        if system.name == "bumpy":  # no exact sampler: given initial states
            g = np.random.default_rng(4)
            x0 = g.normal(size=(N_TRAJ, 2))
            kw["init"] = (x0, g.normal(size=(N_TRAJ, 2))) if integ.has_velocities else x0
        t = time.perf_counter()
        cpu = nq.simulate(system, proto, integ, N_TRAJ, **kw)
        t1 = time.perf_counter()
        gpu = nq.simulate(system, proto, integ, N_TRAJ, device="cuda", **kw)
        TIMES[name] = (round(t1 - t, 2), round(time.perf_counter() - t1, 2))
        out[name] = compare_runs(cpu, gpu)
        if name == "ghmc_well":
            out[name]["mean_acceptance"] = float(np.mean(cpu.acceptance))
    # blocks of 32 threads, kernel calls of 3 steps, trajectory blocks of 40: same numbers
    system, proto, integ = cases()["baoab_well"]
    cpu = nq.simulate(system, proto, integ, N_TRAJ, seed=11, progress=False, **rec)
    gpu = nq.simulate(system, proto, integ, N_TRAJ, seed=11, progress=False, device="cuda",
                      cuda_threads=32, chunk_steps=3, chunk_traj=40, **rec)
    out["baoab_split_calls"] = compare_runs(cpu, gpu)
    # trajectories that blow up (on_failure="nan"): the same ones, at the same steps
    steep = nq.from_functions(steep_energy, steep_gradient, name="steep")
    grow = nq.protocols.linear([1.0], [40.0], N_STEPS)
    for name, integ in (("em_blowup", nq.EulerMaruyama(0.05)),
                        ("baoab_blowup", nq.Langevin(0.25))):
        kw = dict(seed=3, progress=False, on_failure="nan", check_gradient=False,
                  init=np.linspace(-1.5, 1.5, N_TRAJ))
        cpu = nq.simulate(steep, grow, integ, N_TRAJ, **kw)
        gpu = nq.simulate(steep, grow, integ, N_TRAJ, device="cuda", **kw)
        out[name] = compare_runs(cpu, gpu)
        out[name]["n_failed"] = int(np.sum(cpu.failed))
    return out


def datasets(path):
    """{name: value} of every dataset and every attribute (``group@attr``) of a file."""
    found = {}
    with h5py.File(path, "r") as f:
        for key, value in f.attrs.items():
            found["@" + key] = value

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                found[name] = obj[()]
            for key, value in obj.attrs.items():
                found[f"{name}@{key}"] = value
        f.visititems(visit)
    return found


def compare_files(p, q):
    a, b = datasets(p), datasets(q)
    out = {"missing": sorted(set(a) ^ set(b))}
    differ = []
    for k in sorted(set(a) & set(b)):
        va, vb = a[k], b[k]
        try:
            same = np.array_equal(np.asarray(va), np.asarray(vb), equal_nan=True) \
                if np.asarray(va).dtype.kind in "fiub" else np.array_equal(va, vb)
        except (TypeError, ValueError):
            same = bool(va == vb)
        if not same:
            differ.append(k)
    out["differ"] = differ
    return out


WRITER = """
import os, sys, warnings
warnings.filterwarnings("ignore", category=RuntimeWarning)
import neqsim as nq
path, mode = sys.argv[1], sys.argv[2]
kw = dict(progress=False, chunk_steps=4, checkpoint_every=0, device="cuda")
if mode == "start":
    nq.simulate(nq.systems.double_well(), nq.protocols.linear([2.0, -0.5], [1.0, 1.0], 24),
                nq.Langevin(0.05, splitting="O V R V O"), 160, seed=2024, out=path,
                chunk_traj=64, record_every=4, record_positions=True, **kw)
else:
    nq.resume(path, **kw)
print("DONE", flush=True)
"""


def _marker(path):
    try:
        with h5py.File(path, "r", locking=False) as f:
            return tuple(int(v) for v in f["neqsim/progress"][:])
    except (OSError, KeyError):
        return None


def run_files(tmp):
    out = {}
    system, proto, integ = cases()["mala_well"]
    kw = dict(seed=5, progress=False, record_every=4, record_positions=True, chunk_traj=24)
    p_cpu, p_gpu = os.path.join(tmp, "cpu.h5"), os.path.join(tmp, "gpu.h5")
    nq.simulate(system, proto, integ, N_TRAJ, out=p_cpu, **kw)
    nq.simulate(system, proto, integ, N_TRAJ, out=p_gpu, device="cuda", **kw)
    out["runfile"] = compare_files(p_cpu, p_gpu)
    # killed mid-block (SIGKILL after a checkpoint), resumed on the simulated GPU
    script = os.path.join(tmp, "writer.py")
    with open(script, "w") as f:
        f.write(WRITER)
    path = os.path.join(tmp, "killed.h5")
    proc = subprocess.Popen([sys.executable, script, path, "start"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    killed_at, deadline = None, time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        m = _marker(path) if os.path.exists(path) else None
        if m is not None and m[0] >= 64 and m[2] > 0:  # one block committed, one halfway
            proc.kill()
            proc.wait()
            killed_at = m
            break
        time.sleep(0.002)
    if killed_at is None:
        proc.kill()
        out["killed"] = {"error": "the writer was never caught mid-block: "
                         + proc.communicate()[1].decode()[-2000:]}
        return out
    res = subprocess.run([sys.executable, script, path, "resume"], capture_output=True,
                         timeout=300)
    if res.returncode != 0:
        out["killed"] = {"error": res.stderr.decode()[-2000:]}
        return out
    resumed = nq.open_run(path)
    reference = nq.simulate(nq.systems.double_well(),
                            nq.protocols.linear([2.0, -0.5], [1.0, 1.0], 24),
                            nq.Langevin(0.05, splitting="O V R V O"), 160, seed=2024,
                            record_every=4, record_positions=True, progress=False)
    out["killed"] = dict(compare_runs(reference, resumed), killed_at=list(killed_at),
                         complete=bool(resumed.complete))
    return out


def _half_plane_value(x):  # log of the indicator of x_0 > -0.5: a hard wall (RWM rejects)
    return 0.0 if x[0] > -0.5 else -math.inf


def run_ais():
    """ais(..., device="cuda"): the random walk on a path of two log densities (and a hard
    wall), MALA and HMC on the gradient path (likelihood and geometric), forward and
    reverse; and the random walk on a System (the general kernel)."""
    from neqsim import testsystems
    out = {}
    gp = testsystems.gaussian_path(3, np.array([1.0, -0.5, 2.0]), 0.5)
    f0 = nq.log_density(gp.log_f0_grad, name="f0")
    fN = nq.log_density(gp.log_fN_grad, name="fN")
    wall = nq.log_density(_half_plane_value, name="wall")
    rng = np.random.default_rng(6)
    x0 = rng.standard_normal((N_TRAJ, 3))
    xr = gp.sampleN(N_TRAJ, rng)
    sched = nq.schedules.linear(N_STEPS)
    problems = {
        "ais_rwm_path": (f0, fN, "geometric", nq.kernels.RandomWalk(0.4, n_moves=2), None),
        "ais_rwm_wall": (f0, wall, "likelihood", nq.kernels.RandomWalk(0.8), None),
        "ais_mala_geometric": (f0, fN, "geometric", nq.kernels.MALA(0.3), xr),
        "ais_hmc_likelihood": (f0, fN, "likelihood", nq.kernels.HMC(0.2, 3), None),
    }
    for name, (a, b, path, kernel, rev) in problems.items():
        kw = dict(path=path, initial=x0, schedule=sched, kernel=kernel, n_chains=N_TRAJ,
                  seed=13, reverse_initial=rev, n_bootstrap=0, warn=False, progress=False)
        cpu = nq.ais(a, b, **kw)
        gpu = nq.ais(a, b, device="cuda", **kw)
        res = compare_runs(cpu.run, gpu.run)
        res["log_weights"] = diff(cpu.log_weights, gpu.log_weights)
        if rev is not None:
            res["reverse"] = diff(cpu.log_weights_reverse, gpu.log_weights_reverse)
        res["mean_acceptance"] = float(np.mean(cpu.run.acceptance))
        out[name] = res
    system, proto, _ = cases()["mala_well"]
    for name, kernel in (("rwm_system", nq.kernels.RandomWalk(0.5, n_moves=2)),
                         ("hmc_system", nq.kernels.HMC(0.15, 4))):
        cpu = nq.simulate(system, proto, kernel, N_TRAJ, seed=9, progress=False,
                          record_every=5)
        gpu = nq.simulate(system, proto, kernel, N_TRAJ, seed=9, progress=False,
                          record_every=5, device="cuda")
        out[name] = dict(compare_runs(cpu, gpu), mean_acceptance=float(np.mean(cpu.acceptance)))
    return out


def run_executor():
    system, proto, integ = cases()["baoab_well"]
    cpu = nq.simulate(system, proto, integ, 96, seed=8, progress=False)
    with nq.gpu_executor([0, 0]) as ex:
        gpu = nq.simulate(system, proto, integ, 96, seed=8, progress=False, device="cuda",
                          executor=ex, chunk_traj=32)
    return {"executor": compare_runs(cpu, gpu)}


def run_refusals():
    out = {}
    try:
        nq.simulate(nq.ising.ising((4, 4)), nq.protocols.linear([0.0, 0.0], [0.3, 0.0], 5),
                    nq.ising.SpinFlip("glauber"), 8, seed=1, device="cuda", progress=False)
        out["lattice"] = "no error"
    except NotImplementedError as e:
        out["lattice"] = str(e)
    try:
        from neqsim.dynamics.base import Integrator

        class Custom(nq.EulerMaruyama):  # an integrator family without a CUDA kernel
            def cuda_stepper(self, *a, **k):
                return Integrator.cuda_stepper(self, *a, **k)
        nq.simulate(nq.systems.harmonic_trap(), nq.protocols.linear([0.0, 1.0], [1.0, 1.0],
                                                                     5),
                    Custom(0.01), 8, seed=1, device="cuda", progress=False)
        out["not_implemented"] = "no error"
    except NotImplementedError as e:
        out["not_implemented"] = str(e)
    return out


if __name__ == "__main__":
    assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"
    tmp = sys.argv[1]
    which = sys.argv[2:] or ["compare", "ais", "files", "executor", "refusals"]
    result, times = {}, {}
    for w in which:
        t = time.perf_counter()
        result.update({"compare": run_compare, "files": lambda: run_files(tmp),
                       "executor": run_executor, "refusals": run_refusals,
                       "ais": run_ais}[w]())
        times[w] = round(time.perf_counter() - t, 2)
    result["_times"] = dict(times, **TIMES)
    print("RESULT " + json.dumps(result))
