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
    def advance(self, units, per=1):
        pass

    def close(self):
        pass


class _Bar:
    """Counts whole items; progress arrives as integer ``units`` of which ``per`` make
    one item (trajectory-steps of an N-step protocol: per = N). Exact integer accounting,
    so the bar never passes its total (fractional advances summed past it did)."""

    def __init__(self, total, initial, desc, unit):
        from tqdm import tqdm  # here, so that runs without a bar never import it
        self._total = int(total)
        self._shown = int(initial)
        self._acc = {}  # per -> units not yet shown, by denominator
        self._bar = tqdm(total=self._total, initial=self._shown, desc=desc, unit=unit,
                         unit_scale=True, dynamic_ncols=True, smoothing=0.1,
                         bar_format="{l_bar}{bar}| {n:,}/{total:,} " + unit +
                                    " [{elapsed}<{remaining}, {rate_fmt}]")

    def advance(self, units, per=1):
        acc = self._acc.get(per, 0) + int(units)
        whole, self._acc[per] = divmod(acc, int(per))
        whole = min(whole, self._total - self._shown)
        if whole > 0:
            self._shown += whole
            self._bar.update(whole)

    def close(self):
        self._bar.close()


def progress_bar(progress, total, initial=0, desc="", unit="traj"):
    """A bar counting ``unit`` (trajectories by default, fractions of blocks as their
    steps advance), with rate and ETA; a no-op object when ``progress`` is off."""
    return _Bar(total, initial, desc, unit) if wants_progress(progress) else _NoBar()
