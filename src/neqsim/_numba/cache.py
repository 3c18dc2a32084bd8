"""Numba's on-disk cache for neqsim's own kernels, keyed by the package's source.

Numba checks only the source of the cached function's own file, so a kernel that calls
jitted helpers from another module (the RNG, the potential convention) would keep
running stale machine code after those helpers change: numba issue 8396, seen here when
editing the RNG. Every neqsim module's cache therefore lives in a directory named by a
hash of all of neqsim's sources, in every folder of the package: any edit anywhere
starts a fresh cache.
"""
import hashlib
import os

from numba.core import caching, config

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sources():
    """Every .py file of the package, as sorted paths relative to its root."""
    out = []
    for root, dirs, files in os.walk(_PKG):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel = os.path.relpath(root, _PKG)
        out += [os.path.normpath(os.path.join(rel, f)) for f in files if f.endswith(".py")]
    return sorted(out)


def _source_hash():
    h = hashlib.sha256()
    for rel in _sources():
        h.update(rel.replace(os.sep, "/").encode())
        with open(os.path.join(_PKG, rel), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


SOURCE_HASH = _source_hash()


class PackageCacheLocator(caching.InTreeCacheLocator):
    """In-tree (or under NUMBA_CACHE_DIR) cache, one directory per source hash."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        base = (os.path.join(config.CACHE_DIR, "neqsim") if config.CACHE_DIR
                else os.path.join(_PKG, "__pycache__"))
        # one directory per package folder: numba names cache files by module basename
        # and qualname, which two folders could share (systems/ising.py, exact/ising.py)
        rel = os.path.relpath(os.path.dirname(os.path.abspath(py_file)), _PKG)
        self._cache_path = os.path.join(base, "numba-" + SOURCE_HASH, rel.replace(os.sep, "."))

    @classmethod
    def from_function(cls, py_func, py_file):
        path = os.path.abspath(py_file)
        if os.path.commonpath([path, _PKG]) != _PKG:
            return None
        return super().from_function(py_func, py_file)


if PackageCacheLocator not in caching.CacheImpl._locator_classes:
    caching.CacheImpl._locator_classes.insert(0, PackageCacheLocator)


def _prune_stale(base, keep, min_age_s=3600.0):
    """Remove caches of earlier source versions (best effort; an hour's grace for a
    process of the old version that may still be running)."""
    import shutil
    import time
    try:
        entries = os.listdir(base)
    except OSError:
        return
    now = time.time()
    for name in entries:
        path = os.path.join(base, name)
        if name.startswith("numba-") and name != keep:
            try:
                if now - os.path.getmtime(path) > min_age_s:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass


_prune_stale(os.path.join(config.CACHE_DIR, "neqsim") if config.CACHE_DIR
             else os.path.join(_PKG, "__pycache__"), "numba-" + SOURCE_HASH)
