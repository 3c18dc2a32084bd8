"""A run file is input from someone else: refuse what neqsim never writes, before reading.

HDF5 can make a dataset's bytes live in another file (external raw storage), make a
name point into another file (external links) or elsewhere in this one (soft links),
assemble a dataset from other files (virtual datasets), or run its bytes through filter
plugins. Reading or resuming such a file would read or *write* files outside it, so
:func:`audit` walks every object through hard links only, before any dataset is read,
and refuses each of those with the object's name. Our files use none of them.
"""
from __future__ import annotations

from .errors import RunFileError, printable

__all__ = ["audit", "MAX_OBJECTS"]

MAX_OBJECTS = 10_000  # a run file has about 50; a walk never runs away on crafted input


def _allowed_filters(h5py):
    # harmless built-in filters a user's h5repack may add; anything else is a plugin
    return {h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32}


def audit(f, path):
    """Raise RunFileError naming the first object of ``f`` that neqsim refuses to read:
    external or soft links, datasets with external storage, virtual datasets, unknown
    filters, non-numeric datasets, or more than MAX_OBJECTS objects."""
    import h5py
    allowed = _allowed_filters(h5py)
    seen = set()
    stack = [("", f)]
    count = 0
    while stack:
        prefix, group = stack.pop()
        for name in group:
            full = f"{prefix}/{name}"
            count += 1
            if count > MAX_OBJECTS:
                raise RunFileError(path, f"has more than {MAX_OBJECTS} objects; not a "
                                         "neqsim run file")
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise RunFileError(path, f"refused: {printable(full)} is an external link "
                                         "into another file; neqsim files have none")
            if isinstance(link, h5py.SoftLink):
                raise RunFileError(path, f"refused: {printable(full)} is a soft link; "
                                         "neqsim files have none")
            if not isinstance(link, h5py.HardLink):
                raise RunFileError(path, f"refused: {printable(full)} is a link of an "
                                         "unknown kind")
            obj = group[name]
            addr = h5py.h5o.get_info(obj.id).addr
            if addr in seen:  # a second hard link to an object (or a cycle)
                continue
            seen.add(addr)
            if isinstance(obj, h5py.Group):
                stack.append((full, obj))
            elif isinstance(obj, h5py.Dataset):
                _audit_dataset(obj, full, path, h5py, allowed)
            else:
                raise RunFileError(path, f"refused: {printable(full)} is a named datatype "
                                         "or another object neqsim files do not hold")


def _audit_dataset(ds, full, path, h5py, allowed):
    plist = ds.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise RunFileError(path, f"refused: {printable(full)} is a virtual dataset "
                                 "(assembled from other files); neqsim files have none")
    if plist.get_external_count() > 0:
        raise RunFileError(path, f"refused: {printable(full)} keeps its data in an "
                                 "external file; neqsim files have none")
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in allowed:
            raise RunFileError(path, f"refused: {printable(full)} uses HDF5 filter {code}, "
                                     "which is not a built-in one")
    if ds.dtype.kind not in "fiub":
        raise RunFileError(path, f"refused: {printable(full)} has data type "
                                 f"{printable(ds.dtype)}; neqsim datasets are numeric")
