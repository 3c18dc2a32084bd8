"""Where a run's results go, block by block: the :class:`Sink` interface and its in-memory
implementation (the run-file one is :class:`neqsim.storage.runfile.RunFileSink`).

The engine hands a sink the blocks of trajectories [a, b) strictly in trajectory order:
``block_start`` (initial state), ``write_trace`` (recorded rows, possibly several times
per block), ``checkpoint`` (the kernel state of a long block), ``commit`` (final
per-trajectory results). Traces are recorded into ``trace_buffers(a, b, rows)``: a
window of ``rows`` trace rows (all of them in memory; a bounded window for files, so a
block's memory does not grow with the number of steps), which ``write_trace`` receives
with the trace row its first row stands for. ``marker`` says how far it got: (n_committed, block_end,
steps_done, slot), with steps_done > 0 when block [n_committed, block_end) has a
checkpoint to continue from. ``result`` gives the finished :class:`~.result.Run`.
"""
from __future__ import annotations

import numpy as np

from ..dynamics.base import TraceBuffers
from .result import Run

__all__ = ["Sink", "MemorySink"]


class Sink:
    """Base of the result destinations (see the module docstring for the protocol)."""

    marker = (0, 0, 0, 0)
    path = None

    def __init__(self, job):
        self.job = job
        self.info = {}

    #: whether trace_buffers hold every row (in memory) or a window of them (files)
    windowed = True

    def trace_buffers(self, a, b, rows):
        """Arrays the kernel records block [a, b) into: ``rows`` trace rows (fresh)."""
        return TraceBuffers.empty(b - a, rows, self.job.rec_dim)

    def block_start(self, a, b, x0, v0, e0):
        raise NotImplementedError

    def write_trace(self, a, b, r0, r1, trace, offset=0):
        """Trace rows r0..r1-1 of block [a, b) are final; row r is ``trace`` row
        r - offset (nothing to do in memory: the kernel wrote into this sink's own
        buffers)."""

    def checkpoint(self, a, b, steps_done, state):
        """Kernel state of block [a, b) after ``steps_done`` steps (only files keep it)."""

    def load_checkpoint(self):
        """(KernelState, x0, v0, e0) of the checkpointed block the marker names."""
        raise NotImplementedError(f"{type(self).__name__} keeps no checkpoints")

    def commit(self, a, b, finals):
        raise NotImplementedError

    def write_block(self, a, b, block):
        """A whole block computed elsewhere (an executor's worker): dict with x0, v0, e0,
        finals and, when recording, the trace arrays rW, rQ, rx."""
        self.block_start(a, b, block["x0"], block["v0"], block["e0"])
        if self.job.record_every:
            self._store_trace(a, b, TraceBuffers(block["rW"], block["rQ"], block["rx"]))
        self.commit(a, b, block["finals"])

    def _store_trace(self, a, b, trace):
        self.write_trace(a, b, 0, self.job.n_rec, trace)

    def result(self, options):
        """The finished :class:`Run`."""
        raise NotImplementedError

    def close(self):
        pass


class MemorySink(Sink):
    """Keeps everything in memory (``simulate`` without ``out=``)."""
    windowed = False

    def __init__(self, job):
        super().__init__(job)
        n, d = job.n_traj, job.system.dim
        self.totals = {k: np.full(n, np.nan) for k in
                       ("work", "heat", "shadow_work", "path_work", "initial_energy",
                        "final_energy")}
        for k in ("x0", "x", "v0", "v"):
            self.totals[k] = np.empty((n, d))
        self.totals["n_accepted"] = np.zeros(n, dtype=np.int64)
        self.totals["failed_step"] = np.full(n, -1, dtype=np.int64)
        self.trace = TraceBuffers.empty(n, job.n_rec, job.rec_dim)

    def trace_buffers(self, a, b, rows):
        return TraceBuffers(*(r[a:b] for r in self.trace))

    def _store_trace(self, a, b, trace):
        for mine, theirs in zip(self.trace, trace):
            mine[a:b] = theirs

    def block_start(self, a, b, x0, v0, e0):
        self.totals["x0"][a:b] = x0
        if v0 is not None:
            self.totals["v0"][a:b] = v0
        self.totals["initial_energy"][a:b] = e0

    def commit(self, a, b, finals):
        for key, value in finals.items():
            self.totals[key][a:b] = value
        self.marker = (b, 0, 0, 0)

    def result(self, options):
        job, t = self.job, self.totals
        underdamped = job.underdamped
        failed = t["failed_step"] >= 0
        n_prop = job.integrator.proposals_per_step() * job.n_steps
        acceptance = t["n_accepted"] / n_prop if n_prop else None
        trace = None
        if job.record_every:
            steps = np.arange(job.n_rec) * job.record_every
            trace = {"step": steps, "time": steps * job.integrator.dt,
                     "lam": job.protocol.values[steps], "work": self.trace.work,
                     "heat": self.trace.heat}
            if job.rec_dim:
                trace["x"] = self.trace.x
        info = dict(self.info, chunk_traj=options.chunk_traj)
        if np.any(failed):
            info["failed_steps"] = t["failed_step"][failed]
        return Run(work=t["work"], heat=t["heat"],
                   shadow_work=t["shadow_work"] if underdamped else None,
                   path_work=t["path_work"], initial_energy=t["initial_energy"],
                   final_energy=t["final_energy"], x0=t["x0"], x=t["x"],
                   v0=t["v0"] if underdamped else None, v=t["v"] if underdamped else None,
                   acceptance=acceptance, failed=failed, trace=trace, protocol=job.protocol,
                   integrator=job.integrator, system=job.system, beta=job.beta, seed=job.seed,
                   info=info, init=job.init_spec())
