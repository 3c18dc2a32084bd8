"""GPU correctness and speed of neqsim's CUDA backend, for one lent GPU machine.

    python benchmarks/gpu/gpu_bench.py --out $OUT/gpu_results.json [--budget 450]

Stages (each writes the JSON again, so a run cut short still leaves what it measured):

1. ``env``: the GPU, driver, numba-cuda, and whether the kernels compile (PTX counts of
   fused multiply-adds with cuda_fma off and on).
2. ``correctness``: 10^5 trajectories x 1000 steps, CPU (all cores) against the GPU, per
   trajectory: how many are bit-identical in every result (x, v, W, Q, path and shadow
   work), the largest relative difference otherwise; two GPU runs (128- and 64-thread
   blocks) against each other (bit-identical); the GPU with FMA contraction against the
   CPU (what contraction changes). Cases: EM dragged trap, MALA and BAOAB double well,
   GHMC, and a user potential with exp/cos (transcendental functions: libdevice's).
3. ``cpu``: the 2-core CPU figure (n_threads=2, same commit), ns per particle-step.
4. ``bench``: dragged trap (EM) and BAOAB double well at 10^6, 10^7, 10^8 trajectories x
   1000 steps: the kernel alone (device-resident state, cuda.synchronize) with FMA
   contraction off and on, and end to end (simulate(..., device="cuda"), blocks of 10^7);
   ns per particle-step and the ratio to the 2-core CPU. 10^9 in blocks of 10^8 (kernel
   only, W summed per block) if the budget allows.
5. ``exact``: <W> and Var W of the dragged trap at 10^8 trajectories against the exact
   Euler-Maruyama values at this dt (neqsim.exact.dragged_trap_em_work), in sigmas.
"""
import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback

import numpy as np

T0 = time.perf_counter()
N_STEPS = 1000
RESULTS = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "stages": {}}


def elapsed():
    return time.perf_counter() - T0


def save(path):
    RESULTS["elapsed_s"] = round(elapsed(), 1)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(RESULTS, f, indent=1, default=str)
    os.replace(tmp, path)


def stage(name, path):
    def wrap(fn):
        def run(*a, **k):
            t = time.perf_counter()
            print(f"[{elapsed():6.1f}s] {name} ...", flush=True)
            try:
                RESULTS["stages"][name] = fn(*a, **k)
            except Exception as e:  # keep going: the other stages still tell something
                RESULTS["stages"][name] = {"error": f"{type(e).__name__}: {e}",
                                           "traceback": traceback.format_exc()[-3000:]}
            RESULTS["stages"][name + "_s"] = round(time.perf_counter() - t, 1)
            save(path)
            print(f"[{elapsed():6.1f}s] {name} done", flush=True)
        return run
    return wrap


# --- the systems ---------------------------------------------------------------------------

def trap_case(n_steps=None, dt=1e-3):
    import neqsim as nq
    n_steps = n_steps or N_STEPS
    t = n_steps * dt  # dragged at v = 1 for t = 1 (tau = gamma / k = 1)
    return (nq.systems.harmonic_trap(), nq.protocols.linear([0.0, 1.0], [t, 1.0], n_steps),
            nq.EulerMaruyama(dt))


def well_case(integ=None, n_steps=None):
    import neqsim as nq
    n_steps = n_steps or N_STEPS
    return (nq.systems.double_well(), nq.protocols.linear([2.0, -1.0], [2.0, 1.0], n_steps),
            integ or nq.Langevin(0.01))


def user_case(n_steps=None):
    import neqsim as nq
    n_steps = n_steps or N_STEPS

    def energy_grad(x, lam, out):
        y = x[0] - lam[0]
        b = math.exp(-y * y)
        out[0] = x[0] + lam[1] * (0.3 * math.cos(x[0]) - 2.0 * y * b)
        return 0.5 * x[0] * x[0] + lam[1] * (0.3 * math.sin(x[0]) + b)
    system = nq.from_functions(None, None, energy_grad=energy_grad, n_controls=2,
                               name="user_bump")
    return (system, nq.protocols.linear([-1.0, 0.0], [1.0, 1.0], n_steps),
            nq.EulerMaruyama(2e-3))


# --- stages --------------------------------------------------------------------------------

def env_info():
    from numba import cuda

    import neqsim as nq
    out = {"python": sys.version, "platform": platform.platform(), "neqsim": nq.__version__,
           "neqsim_file": nq.__file__, "cpu_count": os.cpu_count()}
    try:
        import numba
        import numba_cuda
        out["numba"] = numba.__version__
        out["numba_cuda"] = getattr(numba_cuda, "__version__", "?")
    except ImportError as e:
        out["numba_cuda"] = f"missing: {e}"
    try:
        out["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm",
             "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout
    except Exception as e:
        out["nvidia_smi"] = f"unavailable: {e}"
    out["cuda_available"] = bool(cuda.is_available())
    if out["cuda_available"]:
        dev = cuda.get_current_device()
        out["device"] = {"name": str(getattr(dev, "name", "?")),
                         "cc": list(getattr(dev, "compute_capability", (0, 0))),
                         "sms": int(getattr(dev, "MULTIPROCESSOR_COUNT", 0))}
        free, total = device_memory()
        out["device"]["memory_free_GB"] = round(free / 2**30, 1)
        out["device"]["memory_total_GB"] = round(total / 2**30, 1)
    # the kernels' PTX: fused multiply-adds with contraction off (libdevice's exp/log only)
    # and on
    try:
        system, proto, integ = trap_case(4)
        args = kernel_args(integ, system, proto.values, 2, (None,) * 0, ptx_only=True)
        out["ptx_fma_count"] = {
            str(f): integ.cuda_kernel(system, fma=f).ptx(args, cc=tuple(
                out.get("device", {}).get("cc", (9, 0)))).count("fma.rn.f64")
            for f in (False, True)}
    except Exception as e:
        out["ptx_fma_count"] = f"failed: {type(e).__name__}: {e}"
    return out


def device_memory():
    """(free, total) bytes of the current GPU (the simulator: 16 GiB, notionally)."""
    from numba import cuda
    try:
        free, total = (float(v) for v in cuda.current_context().get_memory_info())
        if math.isfinite(free) and free > 0:
            return free, total
    except Exception:
        pass
    return 16.0 * 2**30, 16.0 * 2**30


def per_trajectory(a, b):
    """How two runs differ per trajectory: bit-identical count (every result), largest
    relative difference |a - b| / max(|a|, |b|) per result."""
    fields = ["work", "heat", "path_work", "shadow_work", "final_energy", "x", "v"]
    same = np.ones(a.n_traj, dtype=bool)
    rel = {}
    for f in fields:
        va, vb = getattr(a, f), getattr(b, f)
        if va is None:
            continue
        va, vb = np.asarray(va, dtype=np.float64), np.asarray(vb, dtype=np.float64)
        eq = (va.view(np.int64) == vb.view(np.int64))
        eq = eq.reshape(a.n_traj, -1).all(axis=1)
        same &= eq
        scale = np.maximum(np.maximum(np.abs(va), np.abs(vb)), 1e-300)
        r = np.abs(va - vb) / scale
        r = np.where(np.isnan(va) & np.isnan(vb), 0.0, r)
        rel[f] = float(np.nanmax(r)) if r.size else 0.0
    acc = None
    if a.acceptance is not None:
        acc = int(np.sum(np.asarray(a.acceptance) != np.asarray(b.acceptance)))
    return {"n": int(a.n_traj), "bit_identical": int(same.sum()),
            "max_rel_diff": rel, "max_rel_diff_all": max(rel.values()),
            "acceptance_differs": acc}


def correctness(n=100_000):
    import neqsim as nq
    out = {}
    cases = {"em_trap": trap_case(), "mala_well": well_case(nq.MALA(0.05)),
             "baoab_well": well_case(), "ghmc_well": well_case(nq.GHMC(0.1)),
             "em_user_transcendental": user_case()}
    for name, (system, proto, integ) in cases.items():
        kw = dict(seed=2026, progress=False, check_gradient=False)
        t = time.perf_counter()
        cpu = nq.simulate(system, proto, integ, n, **kw)
        t_cpu = time.perf_counter() - t
        t = time.perf_counter()
        gpu = nq.simulate(system, proto, integ, n, device="cuda", **kw)
        t_gpu = time.perf_counter() - t
        gpu2 = nq.simulate(system, proto, integ, n, device="cuda", cuda_threads=64, **kw)
        fused = nq.simulate(system, proto, integ, n, device="cuda", cuda_fma=True, **kw)
        out[name] = {"integrator": repr(integ), "cpu_s": round(t_cpu, 2),
                     "gpu_s_incl_compile": round(t_gpu, 2),
                     "gpu_vs_cpu": per_trajectory(cpu, gpu),
                     "gpu_vs_gpu_other_block_size": per_trajectory(gpu, gpu2),
                     "gpu_fma_vs_cpu": per_trajectory(cpu, fused)}
        print(name, json.dumps(out[name]["gpu_vs_cpu"]), flush=True)
        if elapsed() > BUDGET * 0.45:
            out["skipped_after"] = name
            break
    return out


def cpu_figure(n=200_000):
    import neqsim as nq
    out = {}
    for name, case in (("em_trap", trap_case()), ("baoab_well", well_case())):
        system, proto, integ = case
        nq.simulate(system, proto, integ, 1000, seed=1, progress=False, n_threads=2)
        t = time.perf_counter()
        nq.simulate(system, proto, integ, n, seed=1, progress=False, n_threads=2)
        s = time.perf_counter() - t
        out[name] = {"n_traj": n, "n_steps": N_STEPS, "threads": 2, "seconds": round(s, 3),
                     "ns_per_particle_step": s / (n * N_STEPS) * 1e9}
    return out


def kernel_args(integ, system, lam, n, dev=None, ptx_only=False):
    """The kernel's arguments (dynamics/device.py's order) for n trajectories; host arrays
    for a PTX compile, device arrays otherwise."""
    from neqsim.dynamics.base import KernelState
    from neqsim.dynamics.device import OVERDAMPED_FIELDS, UNDERDAMPED_FIELDS
    d = system.dim
    if integ.has_velocities:
        c1, c2 = integ.coefficients(1.0)
        params, fields = (c1, c2, 1.0, integ.mass), UNDERDAMPED_FIELDS
    else:
        params, fields = (1.0, integ.dt, integ.gamma), OVERDAMPED_FIELDS
    if ptx_only:
        st = KernelState.start(np.zeros((n, d)), np.zeros(n), np.zeros((n, 4), np.uint64),
                               np.zeros((n, d)))
        state = [getattr(st, f) for f in fields]
        return (np.ascontiguousarray(lam), np.int64(0), np.int64(1), *params, *state,
                np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1, 1)), np.int64(0), False,
                np.int64(0), np.int64(0))
    return params, fields


def kernel_only(case, n, fma, block=None):
    """ns per particle-step of the kernel on device-resident state (initial states drawn
    on the CPU as simulate does, copied once); for n > block, in blocks of ``block``
    trajectories, W accumulated per block."""
    from numba import cuda

    from neqsim.engine.block import start_block
    from neqsim.engine.initial import make_sampler
    from neqsim.engine.job import Job
    system, proto, integ = case
    block = min(n, block or n)
    kern = integ.cuda_kernel(system, fma=fma)
    params, fields = kernel_args(integ, system, proto.values, block)
    params = tuple(cuda.to_device(p) if isinstance(p, np.ndarray) else p for p in params)
    lam_d = cuda.to_device(np.ascontiguousarray(proto.values))
    dummies = (cuda.to_device(np.zeros((1, 1))), cuda.to_device(np.zeros((1, 1))),
               cuda.to_device(np.zeros((1, 1, 1))))
    job = Job.build(system, proto, integ, n, beta=1.0, seed=7, init="equilibrium",
                    record_every=0, record_positions=False, on_failure="raise")
    sampler, _ = make_sampler(system, proto.values[0], job.beta, job.init)
    total_kernel, s1, s2, done = 0.0, 0.0, 0.0, 0
    while done < n:
        b = min(block, n - done)
        state, *_ = start_block(job, sampler, done, done + b, {})
        dev = [cuda.to_device(np.ascontiguousarray(getattr(state, f))) for f in fields]
        tail = (*dev, *dummies, np.int64(0), False, np.int64(0), np.int64(0))
        kern.launch(b, lam_d, np.int64(0), np.int64(1), *params, *tail)  # compile, warm
        cuda.synchronize()
        t = time.perf_counter()
        kern.launch(b, lam_d, np.int64(1), np.int64(N_STEPS), *params, *tail)
        cuda.synchronize()
        total_kernel += time.perf_counter() - t
        W = dev[fields.index("work")].copy_to_host()
        s1 += float(np.sum(W))
        s2 += float(np.sum(W * W))
        done += b
        del dev
    steps = n * (N_STEPS - 1)
    return {"n_traj": n, "block": block, "fma": fma, "kernel_s": round(total_kernel, 4),
            "ns_per_particle_step": total_kernel / steps * 1e9,
            "mean_W": s1 / n, "var_W": s2 / n - (s1 / n) ** 2}


def end_to_end(case, n, chunk=10_000_000):
    import neqsim as nq
    system, proto, integ = case
    t = time.perf_counter()
    run = nq.simulate(system, proto, integ, n, seed=99, progress=False, device="cuda",
                      chunk_traj=min(n, chunk), check_gradient=False)
    s = time.perf_counter() - t
    W = np.asarray(run.work)
    out = {"n_traj": n, "seconds": round(s, 3),
           "ns_per_particle_step": s / (n * N_STEPS) * 1e9,
           "mean_W": float(W.mean()), "var_W": float(W.var(ddof=1)), "n": int(W.size)}
    del run, W
    return out


def bench(cpu):
    from numba import cuda
    out = {"sizes": {}}
    free = device_memory()[0]
    for name, case in (("em_trap", trap_case()), ("baoab_well", well_case())):
        rows = out["sizes"].setdefault(name, {})
        cpu_ns = (cpu or {}).get(name, {}).get("ns_per_particle_step")
        for n in SIZES:
            if elapsed() > BUDGET * 0.85:
                rows[str(n)] = "skipped: time budget"
                continue
            row = {}
            # device bytes per trajectory: state (<= 13 doubles) and the copy in flight
            block = min(n, int(free * 0.5 // 128))
            for fma in (False, True):
                row["kernel_fma" if fma else "kernel"] = kernel_only(case, n, fma, block)
            if n < SIZES[-1] or name == "em_trap":  # 10^8 end to end: the exact check
                row["end_to_end"] = end_to_end(case, n)
            for key in ("kernel", "kernel_fma", "end_to_end"):
                if key in row and cpu_ns:
                    row[key]["speedup_vs_2core_cpu"] = cpu_ns / row[key]["ns_per_particle_step"]
            rows[str(n)] = row
            print(name, n, json.dumps({k: v.get("ns_per_particle_step") for k, v in row.items()}),
                  flush=True)
            if name == "em_trap" and n == SIZES[-1] and "end_to_end" in row:
                out["em_1e8"] = row["end_to_end"]
        # 10^9 in blocks, kernel only, if the 10^8 kernel time says it fits
        big, k8 = 10 * SIZES[-1], rows.get(str(SIZES[-1]))
        if isinstance(k8, dict):
            est = 10 * (k8["kernel"]["kernel_s"] + 5.0)
            if elapsed() + est < BUDGET * 0.95:
                rows[str(big)] = {"kernel": kernel_only(case, big, False, SIZES[-1])}
                if cpu_ns:
                    rows[str(big)]["kernel"]["speedup_vs_2core_cpu"] = \
                        cpu_ns / rows[str(big)]["kernel"]["ns_per_particle_step"]
            else:
                rows[str(big)] = f"skipped: estimated {est:.0f} s, over the budget"
    return out


def exact_check(b):
    from neqsim.exact import dragged_trap_em_work
    system, proto, integ = trap_case()
    mean, var = dragged_trap_em_work(proto.values[:, 0], integ.dt, integ.gamma)
    row = (b or {}).get("em_1e8")
    if not row:
        return {"error": "no 10^8 end-to-end run"}
    n = row["n"]
    se_m = math.sqrt(var / n)
    se_v = var * math.sqrt(2.0 / (n - 1))
    zm = (row["mean_W"] - mean) / se_m
    zv = (row["var_W"] - var) / se_v
    return {"n": n, "mean_W": row["mean_W"], "exact_mean_W": mean, "z_mean": zm,
            "var_W": row["var_W"], "exact_var_W": var, "z_var": zv,
            "within_4_sigma": bool(abs(zm) < 4 and abs(zv) < 4)}


def main():
    global BUDGET
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."),
                                                  "gpu_results.json"))
    ap.add_argument("--budget", type=float, default=450.0,
                    help="seconds for all stages (later stages shrink or skip)")
    ap.add_argument("--correctness-n", type=int, default=100_000)
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes (5 steps, 64..256 trajectories): checks the script "
                         "itself, e.g. on numba-cuda's simulator (NUMBA_ENABLE_CUDASIM=1)")
    args = ap.parse_args()
    BUDGET = args.budget
    if args.smoke:
        import warnings
        warnings.filterwarnings("ignore", category=RuntimeWarning)  # simulator: uint64 wraps
        global N_STEPS, SIZES, CPU_N
        N_STEPS, SIZES, CPU_N = 5, (64, 128, 256), 256
        args.correctness_n = 32
    RESULTS["n_steps"], RESULTS["sizes"] = N_STEPS, SIZES
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    stage("env", args.out)(env_info)()
    if not RESULTS["stages"]["env"].get("cuda_available"):
        RESULTS["error"] = "numba-cuda finds no GPU: nothing else to measure"
        save(args.out)
        return 1
    stage("correctness", args.out)(correctness)(args.correctness_n)
    stage("cpu", args.out)(cpu_figure)(CPU_N)
    cpu = RESULTS["stages"].get("cpu")
    stage("bench", args.out)(bench)(cpu if isinstance(cpu, dict) and "error" not in cpu
                                    else None)
    stage("exact", args.out)(exact_check)(RESULTS["stages"].get("bench"))
    b = RESULTS["stages"].get("bench", {})
    summary = {}
    for name in ("em_trap", "baoab_well"):
        rows = b.get("sizes", {}).get(name, {}) if isinstance(b, dict) else {}
        best = [r["kernel"].get("speedup_vs_2core_cpu") for r in rows.values()
                if isinstance(r, dict) and "kernel" in r]
        best = [x for x in best if x]
        summary[name + "_best_kernel_speedup"] = max(best) if best else None
        summary[name + "_meets_50x"] = bool(best) and max(best) >= 50
    summary["exact_within_4_sigma"] = RESULTS["stages"].get("exact", {}).get("within_4_sigma")
    RESULTS["summary"] = summary
    save(args.out)
    print(json.dumps(summary), flush=True)
    return 0


BUDGET = 450.0
SIZES = (10**6, 10**7, 10**8)
CPU_N = 200_000

if __name__ == "__main__":
    sys.exit(main())
