"""The CUDA backend (device="cuda") against the CPU kernels, on numba-cuda's simulator.

The simulator must be switched on (NUMBA_ENABLE_CUDASIM=1) before numba is imported, and
this suite is one process, so the comparisons run in one subprocess
(tests/cuda_sim_cases.py, 64 trajectories x 20 steps per case). The simulator runs each
CUDA thread's arithmetic as float64 Python, exactly what the CPU kernels compute, so every
per-trajectory result is compared bit for bit (x, v, W, Q, path work, shadow work,
energies, acceptance, failures, traces). On a GPU, where libdevice's exp/log differ from
the CPU's in the last bit, benchmarks/gpu/ measures the difference (docs/gpu.md).

Also here, without the simulator: the errors of a missing GPU and of a bad device, the
PTX of the kernels (FMA contraction off unless asked, when NVVM is installed), the
one-trajectory normal generator against the row form, and the exact Euler-Maruyama work
statistics the GPU benchmark checks its 10^8 trajectories against.
"""
import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import neqsim as nq
from neqsim._numba import rng as _rng
from neqsim.exact import dragged_trap_em_work, dragged_trap_work_mean

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(os.path.abspath(nq.__file__)))

try:
    import numba_cuda  # noqa: F401
    HAVE_NUMBA_CUDA = True
except ImportError:
    HAVE_NUMBA_CUDA = False

needs_numba_cuda = pytest.mark.skipif(
    not HAVE_NUMBA_CUDA, reason="numba-cuda is not installed (the optional extra "
    "neqsim[cuda]; the test extra brings it)")

COMPARED = ["em_trap", "em_trap3", "mala_well", "baoab_well", "obabo_trap3", "ghmc_well",
            "verlet_pulled", "blocks_well", "em_user", "ghmc_user", "baoab_split_calls",
            "em_blowup", "baoab_blowup", "ais_rwm_path", "ais_rwm_wall", "ais_mala_geometric",
            "ais_hmc_likelihood", "rwm_system", "hmc_system"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """The results of tests/cuda_sim_cases.py, run once on the simulator."""
    tmp = tmp_path_factory.mktemp("cuda_sim")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1",
               PYTHONPATH=os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, os.path.join(HERE, "cuda_sim_cases.py"), str(tmp)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(line[-1][len("RESULT "):])


def _bits(result):
    """The fields of one comparison that are not bit-identical."""
    return {k: v for k, v in result.items()
            if k not in ("n_failed", "mean_acceptance", "killed_at", "complete")
            and v != "identical"}


@needs_numba_cuda
@pytest.mark.parametrize("case", COMPARED)
def test_cuda_kernels_give_the_cpu_numbers_bit_for_bit(sim, case):
    """EM and MALA (1-D and 3-D traps, the double well, a user's 2-D potential with exp
    and cos from separate energy/gradient functions), BAOAB, OBABO, GHMC, velocity Verlet
    on a spring-pulled well, a splitting with two Metropolized blocks; a 32-thread CUDA
    block with kernel calls of 3 steps; trajectories that blow up (on_failure="nan");
    ais(..., device="cuda") with the random walk on a path of two log densities (one a
    hard wall), MALA on the geometric path forward and reverse, HMC on the likelihood
    path (log weights too); RandomWalk and HMC on a System."""
    assert set(sim[case]) >= {"work", "heat", "path_work", "x", "failed"}
    assert _bits(sim[case]) == {}, sim[case]


@needs_numba_cuda
def test_the_comparisons_exercise_what_they_claim(sim):
    """Failures are a subset (the masks are exercised both ways), GHMC rejects some
    proposals, and the traces were compared."""
    for case in ("em_blowup", "baoab_blowup"):
        assert 0 < sim[case]["n_failed"] < 64, sim[case]
    assert 0.3 < sim["ghmc_well"]["mean_acceptance"] < 0.99
    assert "acceptance" in sim["ghmc_user"] and "trace_x" in sim["blocks_well"]
    assert "shadow_work" in sim["baoab_well"] and "v" in sim["obabo_trap3"]
    for case in ("ais_rwm_path", "ais_rwm_wall", "ais_hmc_likelihood", "rwm_system"):
        assert 0.2 < sim[case]["mean_acceptance"] < 0.995, sim[case]
    assert "reverse" in sim["ais_mala_geometric"] and "log_weights" in sim["ais_rwm_wall"]


def test_the_bit_comparison_can_fail():
    """One ulp in one trajectory is reported as a difference (the checker is not blind)."""
    sys.path.insert(0, HERE)
    try:
        from cuda_sim_cases import diff
    finally:
        sys.path.remove(HERE)
    a = np.linspace(-1.0, 2.0, 7)
    b = a.copy()
    b[3] = np.nextafter(b[3], np.inf)
    assert diff(a, a.copy()) == "identical"
    assert diff(a, b) != "identical" and 0 < diff(a, b) < 1e-15
    assert diff(np.array([0.0]), np.array([-0.0])) != "identical"  # bits, not values


@needs_numba_cuda
def test_run_file_written_on_the_gpu_equals_the_cpu_one(sim):
    """Every dataset and attribute is equal, except when the file was made (its creation
    time, the digest covering it, the wall time)."""
    assert sim["runfile"]["missing"] == []
    assert set(sim["runfile"]["differ"]) <= {"parameters@created", "neqsim@config_digest",
                                             "neqsim/wall_time"}, sim["runfile"]


@needs_numba_cuda
def test_killed_gpu_run_resumes_to_the_cpu_numbers(sim):
    """SIGKILLed after a block commit and a mid-block checkpoint, resumed with
    device="cuda": the uninterrupted CPU run, bit for bit, traces included."""
    killed = sim["killed"]
    assert "error" not in killed, killed
    assert killed["complete"] and killed["killed_at"][0] >= 64 and killed["killed_at"][2] > 0
    assert _bits(killed) == {}, killed


@needs_numba_cuda
def test_gpu_executor_blocks_give_the_cpu_numbers(sim):
    """Two spawned workers (one per "GPU") computing blocks of 32: the CPU's numbers."""
    assert _bits(sim["executor"]) == {}, sim["executor"]


@needs_numba_cuda
def test_unsupported_integrators_and_systems_say_what_is_supported(sim):
    for key in ("not_implemented", "lattice"):
        msg = sim[key]
        assert "device='cuda'" in msg and "EulerMaruyama" in msg and "GHMC" in msg, msg
        assert "device='cpu'" in msg


def test_bad_device_is_one_clear_error():
    system = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [1.0, 1.0], 5)
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'.*gpu_executor"):
        nq.simulate(system, proto, nq.EulerMaruyama(0.01), 4, seed=1, device="gpu")


def test_cuda_without_gpu_names_the_remedies():
    """Without a GPU (or without numba-cuda): one CudaUnavailable naming the extra and
    the simulator."""
    if HAVE_NUMBA_CUDA:
        from numba import cuda
        if cuda.is_available():
            pytest.skip("a GPU (or the simulator) is available here")
    system = nq.systems.harmonic_trap()
    proto = nq.protocols.linear([0.0, 1.0], [1.0, 1.0], 5)
    with pytest.raises(nq.CudaUnavailable) as e:
        nq.simulate(system, proto, nq.EulerMaruyama(0.01), 4, seed=1, device="cuda")
    msg = str(e.value)
    assert "neqsim[cuda]" in msg and "NUMBA_ENABLE_CUDASIM=1" in msg


def _nvvm():
    """Whether kernels can be compiled to PTX here: NVVM itself and the libraries its
    compile needs (a numba-cuda without the CUDA wheels may find NVVM but not NVRTC)."""
    if not HAVE_NUMBA_CUDA:
        return False
    try:
        from numba import cuda
        from numba.cuda.cudadrv import nvvm
        nvvm.NVVM()

        def probe(a, b, c):
            return a * b + c
        cuda.compile_ptx(probe, "f8(f8, f8, f8)", device=True, cc=(8, 0))
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _nvvm(), reason="no NVVM (CUDA toolkit or the nvidia-cuda-nvcc "
                    "wheel: pip install 'numba-cuda[cu12]')")
def test_ptx_has_no_contracted_multiply_adds_unless_asked():
    """For a real GPU (PTX, no device needed): with cuda_fma=False (the default) the
    kernel's own arithmetic is mul.rn/add.rn, never fused; the only fma.rn.f64 left are
    libdevice's exp and log of the ziggurat's slow path (46 of them, as in the normal
    generator alone), and a kernel that draws nothing (velocity Verlet) has none. With
    fma=True NVVM fuses the kernel's multiply-adds too."""
    from neqsim._numba.gpu import CudaKernel, compiling_for, device_copy, fma_contraction
    from neqsim.dynamics.base import KernelState
    from neqsim.dynamics.device import OVERDAMPED_FIELDS
    from numba import cuda, types

    ns = device_copy(_rng.normal_state)

    def draw(r, out):
        z, a0, a1, a2, a3 = ns(r[0], r[1], r[2], r[3])
        out[0] = z
    with compiling_for((9, 0)), fma_contraction(False):
        ptx, _ = cuda.compile_ptx(draw, (types.uint64[::1], types.float64[::1]), cc=(9, 0))
    in_rng = ptx.count("fma.rn.f64")

    def probe(x, out):
        out[0] = x[0] * x[1] + x[2]
    sig_args = (np.zeros(3), np.zeros(1))
    assert "fma.rn.f64" not in CudaKernel(probe, fma=False).ptx(sig_args)
    assert "fma.rn.f64" in CudaKernel(probe, fma=True).ptx(sig_args)

    system = nq.systems.harmonic_trap()
    st = KernelState.start(np.zeros((2, 1)), np.zeros(2), np.zeros((2, 4), np.uint64))
    args = (np.zeros((3, 2)), np.int64(0), np.int64(1), 1.0, 0.1, 1.0,
            *(getattr(st, f) for f in OVERDAMPED_FIELDS), np.zeros((1, 1)),
            np.zeros((1, 1)), np.zeros((1, 1, 1)), np.int64(0), False, np.int64(0),
            np.int64(0))
    exact = nq.EulerMaruyama(0.01).cuda_kernel(system).ptx(args)
    fused = nq.EulerMaruyama(0.01).cuda_kernel(system, fma=True).ptx(args)
    n_exact, n_fused = exact.count("fma.rn.f64"), fused.count("fma.rn.f64")
    # the exp on the wedge path appears twice (its overflow branch), the logs once each
    assert in_rng <= n_exact <= in_rng + 14 and n_fused > n_exact, (in_rng, n_exact, n_fused)
    assert "mul.rn.f64" in exact and "add.rn.f64" in exact
    # velocity Verlet draws nothing (no O step): its PTX has no FMA at all, unless asked
    from neqsim.dynamics.device import UNDERDAMPED_FIELDS
    well, vv = nq.systems.double_well(), nq.VelocityVerlet(0.1)
    c1, c2 = vv.coefficients(1.0)
    st = KernelState.start(np.zeros((2, 1)), np.zeros(2), np.zeros((2, 4), np.uint64),
                           np.zeros((2, 1)))
    vargs = (np.zeros((3, 2)), np.int64(0), np.int64(1), c1, c2, 1.0, 1.0,
             *(getattr(st, f) for f in UNDERDAMPED_FIELDS), np.zeros((1, 1)),
             np.zeros((1, 1)), np.zeros((1, 1, 1)), np.int64(0), False, np.int64(0),
             np.int64(0))
    assert vv.cuda_kernel(well).ptx(vargs).count("fma.rn.f64") == 0
    assert vv.cuda_kernel(well, fma=True).ptx(vargs).count("fma.rn.f64") > 0


@numba.njit
def _fill_by_state(states, out):
    for i in range(out.shape[0]):
        a0, a1, a2, a3 = states[i, 0], states[i, 1], states[i, 2], states[i, 3]
        for j in range(out.shape[1]):
            out[i, j], a0, a1, a2, a3 = _rng.normal_state(a0, a1, a2, a3)


def test_one_trajectory_normals_are_the_row_normals():
    """rng.normal_state (the CUDA kernels' form: a state in four values) draws exactly
    rng.normal's numbers, slow path and tail included (10^5 draws, 2.6e-4 in the tail)."""
    seed, n, m = 77, 4, 25_000
    ref = _rng.normals(seed, n, m)
    got = np.empty((n, m))
    _fill_by_state(_rng.make_states(seed, n), got)
    assert np.array_equal(got.view(np.int64), ref.view(np.int64))
    assert np.sum(np.abs(ref) > _rng._ZR) > 5  # the tail was drawn


def test_exact_em_work_of_the_dragged_trap():
    """dragged_trap_em_work (what the GPU benchmark's 10^8 trajectories are checked
    against) equals a CPU run within 4 sigma for <W> and Var W, at a dt coarse enough that
    the continuous-time <W> is rejected: the test resolves the O(dt) difference.
    10^6 trajectories x 40 steps, dt = 0.05, v = 1."""
    n, N, dt = 1_000_000, 40, 0.05
    proto = nq.protocols.linear([0.0, 1.0], [N * dt, 1.0], N)
    run = nq.simulate(nq.systems.harmonic_trap(), proto, nq.EulerMaruyama(dt), n, seed=21,
                      progress=False)
    W = run.work
    mean, var = dragged_trap_em_work(proto.values[:, 0], dt)
    se_mean = np.sqrt(var / n)
    se_var = var * np.sqrt(2.0 / (n - 1))  # W is Gaussian
    assert abs(W.mean() - mean) < 4 * se_mean, (W.mean(), mean, se_mean)
    assert abs(W.var(ddof=1) - var) < 4 * se_var, (W.var(ddof=1), var, se_var)
    assert abs(W.mean() - dragged_trap_work_mean(1.0, N * dt)) > 4 * se_mean
    # and its dt -> 0 limit is the continuous formula
    fine = np.linspace(0.0, 2.0, 20_001)
    assert abs(dragged_trap_em_work(fine, 1e-4)[0] - dragged_trap_work_mean(1.0, 2.0)) < 1e-4
