"""One writer per run-file path: an exclusive claim, taken before the file is checked or
created and held until the run stops.

Checking that a path is free and then renaming a new file onto it is not atomic, and
HDF5's own lock guards an inode, not a path: two ``simulate(out=same)`` calls could both
"succeed", each handing back the other's data. So a writer first takes
``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``<path>.lock``. The kernel drops the lock when
the process dies however it dies, so a killed writer never leaves a stale claim; a
second writer is refused at once with the holder's pid, host and start time.

Under the claim, leftovers of creations that were killed (temporary directories
``.<name>.*.creating`` and 0.1.0's ``<name>.tmp-<pid>``) can only be orphans, and are
removed. Without ``fcntl`` (Windows) the claim is an ``O_EXCL`` lock file, which a
killed writer leaves behind: the error then says to delete it.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import time

from .errors import RunFileError, printable

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None

__all__ = ["PathClaim", "claim", "creating_pattern"]


def creating_pattern(path):
    """Names of the temporary entries that creating ``path`` may leave in its folder."""
    name = re.escape(os.path.basename(path))
    return re.compile(rf"^(\.{name}\.[A-Za-z0-9_]+\.creating|{name}\.tmp-\d+)$")


class PathClaim:
    """The exclusive right of this process to write the run file at ``path``."""

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        self.lock_path = self.path + ".lock"
        self._fd = None

    def acquire(self):
        for _ in range(20):  # another writer may unlink the lock file between our steps
            try:
                flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | \
                    getattr(os, "O_CLOEXEC", 0) | (os.O_EXCL if fcntl is None else 0)
                fd = os.open(self.lock_path, flags, 0o644)
            except FileExistsError:  # no fcntl: the lock file itself is the claim
                raise self._busy(None) from None
            except OSError as e:
                raise RunFileError(self.path, f"cannot take the writer's lock "
                                              f"{self.lock_path} ({e.strerror})") from None
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    holder = _read(fd)
                    os.close(fd)
                    raise self._busy(holder) from None
                try:  # the file we locked must still be the one at lock_path
                    same = os.path.samestat(os.fstat(fd), os.stat(self.lock_path))
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            self._fd = fd
            self._remove_orphans()
            return self
        raise RunFileError(self.path, f"cannot take the writer's lock {self.lock_path} "
                                      "(it keeps being replaced)")

    def _busy(self, holder):
        who = f" ({printable(holder)})" if holder else ""
        hint = "" if fcntl is not None else (
            f"; if no run is writing it (a killed one left the lock), delete "
            f"{self.lock_path}")
        return RunFileError(self.path, f"is being written by another process{who}; wait "
                                       f"for it to finish, or write to another path{hint}")

    def _remove_orphans(self):
        folder = os.path.dirname(self.path)
        pattern = creating_pattern(self.path)
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            if pattern.match(name):
                entry = os.path.join(folder, name)
                if os.path.isdir(entry) and not os.path.islink(entry):
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    try:
                        os.remove(entry)  # a symlink is removed, never its target
                    except OSError:
                        pass

    def release(self):
        if self._fd is None:
            return
        try:
            os.remove(self.lock_path)  # before unlocking: a waiter re-checks the inode
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self.acquire() if self._fd is None else self

    def __exit__(self, *exc):
        self.release()


def claim(path):
    """``with claim(path):`` hold the writer's claim on ``path`` (RunFileError if taken)."""
    return PathClaim(path)


def _read(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 200).decode(errors="replace").strip()
    except OSError:
        return ""
