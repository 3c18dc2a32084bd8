"""Where results go: the :class:`Run` result, the :class:`Sink` interface with its memory
and run-file implementations, run files (HDF5/H5MD, crash-safe, resumable), the shard
files of executor workers, and the names written into files."""
from .result import Run
from .runfile import RunFileError, RunFileSink, describe, open_run
from .sink import MemorySink, Sink

__all__ = ["Run", "Sink", "MemorySink", "RunFileSink", "RunFileError", "open_run", "describe"]
