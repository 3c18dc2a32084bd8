"""Option objects of ``simulate``/``resume``: what to record, and how to execute.

``Record`` (like diffrax's ``SaveAt``) says what is kept besides the per-trajectory
totals; ``Execution`` collects the choices that change speed and memory but never a
single bit of the results. Both can also be given as the flat keywords of neqsim 0.1.0
(``record_every=10``, ``n_threads=2``, ...), which keep working.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .._keywords import unknown_keyword

__all__ = ["Record", "Execution", "split_keywords"]


@dataclass(frozen=True)
class Record:
    """Cumulative work and heat (and positions, if ``positions``) every ``every`` steps;
    ``every=0`` records nothing but the totals."""
    every: int = 0
    positions: bool = False


@dataclass(frozen=True)
class Execution:
    """How a run is executed; the numbers do not depend on any of it.

    n_threads : numba threads of this process (default: numba's).
    block_bytes : working memory of one block of trajectories, traces included (default
        64 MiB); a run file's traces are written through a window of rows sized to fit.
    chunk_traj : trajectories per block (default: as many as ``block_bytes`` allows).
    chunk_steps : steps per kernel call (default: adaptive, ~1 s per call).
    progress : progress bar (default: when stderr is a terminal).
    checkpoint_every : with a run file, checkpoint a long block at most this often (s).
    executor : a ``concurrent.futures.Executor`` computing blocks (docs/scale-out.md),
        with ``threads_per_worker``, ``system_factory`` and ``shard_dir`` as documented
        there.
    check_gradient : before the first step, compare the potential's gradient with a finite
        difference of its energy at fixed probe points (integrators that use it), and
        raise naming the worst point.
    specialize : accepted for 0.1.0 scripts; the kernels are always specialized now.
    device : "cpu" (default) or "cuda": one CUDA thread per trajectory (numba-cuda,
        ``pip install neqsim[cuda]``), the CPU's numbers (docs/gpu.md: bit for bit where
        the arithmetic allows, else within 1e-12 relative); with an executor, each
        worker uses one GPU (``nq.gpu_executor``).
    cuda_fma : let NVVM fuse multiply-adds in the CUDA kernels (faster; the last bits
        then differ from the CPU's). Default False.
    cuda_threads : CUDA threads per block (default 128; the numbers do not depend on it).
    """
    n_threads: int | None = None
    block_bytes: int = 64 * 2**20
    chunk_traj: int | None = None
    chunk_steps: int | None = None
    progress: bool | None = None
    checkpoint_every: float = 10.0
    executor: object = None
    threads_per_worker: int = 1
    system_factory: object = None
    shard_dir: object = "auto"
    check_gradient: bool = True
    specialize: bool | None = None
    device: str = "cpu"
    cuda_fma: bool = False
    cuda_threads: int | None = None


_RECORD_KEYS = {"record_every": "every", "record_positions": "positions"}
_EXECUTION_KEYS = tuple(f.name for f in dataclasses.fields(Execution))


def split_keywords(func, record, execution, keywords, *, allow_record=True):
    """(Record, Execution) from the option objects and the flat 0.1.0 keywords, with one
    clear error for an unknown keyword or a value given twice."""
    rec_kw, ex_kw = {}, {}
    known = set(_EXECUTION_KEYS) | (set(_RECORD_KEYS) if allow_record else set())
    for key, value in keywords.items():
        if key in _RECORD_KEYS and allow_record:
            rec_kw[_RECORD_KEYS[key]] = value
        elif key in _EXECUTION_KEYS:
            ex_kw[key] = value
        else:
            raise unknown_keyword(func, key, known | {"record", "execution"})
    if record is None:
        record = Record()
    elif not isinstance(record, Record):
        raise TypeError(f"record= must be nq.Record(every=..., positions=...), got "
                        f"{type(record).__name__}")
    if rec_kw:
        if record != Record():
            raise TypeError(f"{func}(): give record= or record_every/record_positions, "
                            "not both")
        record = dataclasses.replace(record, **rec_kw)
    if execution is None:
        execution = Execution()
    elif not isinstance(execution, Execution):
        raise TypeError(f"execution= must be nq.Execution(...), got {type(execution).__name__}")
    if ex_kw:
        clash = [k for k in ex_kw if getattr(execution, k) != getattr(Execution(), k)]
        if clash:
            raise TypeError(f"{func}(): {clash[0]} is given both in execution= and as a "
                            "keyword")
        execution = dataclasses.replace(execution, **ex_kw)
    return record, execution
