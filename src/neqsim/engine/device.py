"""Device selection: which stepper computes a job's blocks (CPU threads or a CUDA GPU).

``device="cpu"`` (the default) runs the lanes kernels on numba's threads; ``"cuda"`` runs
the integrator's CUDA kernel (:meth:`Integrator.cuda_stepper`, one thread per
trajectory) on the current GPU, or on numba-cuda's simulator when NUMBA_ENABLE_CUDASIM=1.
Either way the driver, the sinks, checkpoints and resume are the same code, and the
numbers are the CPU's (docs/gpu.md says where bit-identity ends).
"""
from __future__ import annotations

__all__ = ["DEVICES", "check_device", "make_stepper"]

DEVICES = ("cpu", "cuda")


def check_device(device):
    """``device`` as "cpu" or "cuda", or one ValueError naming the choices."""
    d = device.lower().strip() if isinstance(device, str) else device
    if d not in DEVICES:
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r} (several GPUs: "
                         "device='cuda' with executor=nq.gpu_executor(), one worker per GPU)")
    return d


def make_stepper(job, lam, device, *, fma=False, threads=None):
    """``advance(state, k0, k1, trace, rec_off=0)`` of ``job``'s integrator on ``device``.

    For "cuda": :class:`~neqsim._numba.gpu.CudaUnavailable` without numba-cuda or a GPU,
    NotImplementedError for an integrator without a CUDA kernel (naming those with one)."""
    integ = job.integrator
    if device == "cpu":
        return integ.stepper(job.system, lam, job.beta, job.record_every)
    from .._numba.gpu import cuda_module
    cuda_module()  # first: a missing numba-cuda or GPU is the error to report
    if job.system.discrete:
        from ..dynamics.base import CUDA_FAMILIES
        raise NotImplementedError(f"device='cuda' does not run lattice systems "
                                  f"({job.system.name}); it runs {CUDA_FAMILIES}. Use "
                                  "device='cpu'")
    return integ.cuda_stepper(job.system, lam, job.beta, job.record_every, fma=fma,
                              threads=threads)
