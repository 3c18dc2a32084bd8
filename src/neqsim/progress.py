"""Progress bar between kernel calls: tqdm, imported only when a bar is shown."""
from __future__ import annotations

import sys

__all__ = ["progress_bar", "wants_progress"]


def wants_progress(progress):
    """``progress`` as given, or (None) whether stderr is a terminal."""
    if progress is None:
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):
            return False
    return bool(progress)


class _NoBar:
    def advance(self, n):
        pass

    def close(self):
        pass


class _Bar:
    def __init__(self, total, initial, desc):
        from tqdm import tqdm  # here, so that runs without a bar never import it
        self._bar = tqdm(total=total, initial=initial, desc=desc, unit="traj",
                         unit_scale=True, dynamic_ncols=True, smoothing=0.1,
                         bar_format="{l_bar}{bar}| {n:,.0f}/{total:,} traj "
                                    "[{elapsed}<{remaining}, {rate_fmt}]")

    def advance(self, n):
        self._bar.update(n)

    def close(self):
        self._bar.close()


def progress_bar(progress, total, initial=0, desc=""):
    """A bar counting trajectories (fractions of blocks as their steps advance), with
    rate and ETA; a no-op object when ``progress`` is off."""
    return _Bar(total, initial, desc) if wants_progress(progress) else _NoBar()
