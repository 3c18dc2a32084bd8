"""The error of run files, in its own module so that every storage module can raise it."""

__all__ = ["RunFileError", "printable", "human_bytes"]


class RunFileError(ValueError):
    """A run file that cannot be used as asked (missing, not a run, damaged, busy, ...)."""

    def __init__(self, path, problem):
        super().__init__(f"{printable(path)}: {problem}")
        self.path = path
        self.problem = problem


def printable(text):
    """``text`` with control characters (ANSI escapes, newlines, ...) written as Python
    escapes: strings read from a file (someone else's input) never drive the terminal."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def human_bytes(n):
    """A byte count for messages: 512 bytes, 3.5 MiB, 7.0 PiB."""
    n = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
