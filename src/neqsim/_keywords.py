"""Keyword errors that name the closest valid keyword ("did you mean ...?"), as the run
configuration loader does for TOML fields."""
import difflib
import functools
import inspect

__all__ = ["unknown_keyword", "suggest_keywords"]


def unknown_keyword(func, name, known):
    """The TypeError for an unknown keyword, with the closest known one."""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"
    return TypeError(f"{func}() got an unexpected keyword argument {name!r}{hint}")


def suggest_keywords(fn):
    """Decorator: a keyword ``fn`` does not take gets the TypeError of
    :func:`unknown_keyword` (with the closest name) instead of Python's bare one."""
    sig = inspect.signature(fn)
    names = [p.name for p in sig.parameters.values()
             if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not takes_any:
            for key in kwargs:
                if key not in sig.parameters:
                    raise unknown_keyword(fn.__name__, key, names)
        return fn(*args, **kwargs)
    return wrapper
