"""Argument checks shared across the library: numpy scalars count like Python numbers
(np.int64(3) is a whole number, np.float32(0.5) a real one), bool never does, and every
message quotes the value exactly as the caller gave it."""
import math
import os

import numpy as np


def _describe(minimum):
    if minimum == 1:
        return "a positive integer"
    if minimum == 0:
        return "a whole number ≥ 0"
    return f"a whole number ≥ {minimum}"


def is_whole(value):
    """True for int and numpy integer scalars, False for bool (and np.bool_)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def whole(what, value, minimum=1, or_none=False):
    """`value` as an int, if it is a whole number ≥ minimum; else ValueError quoting it.
    `what` names the argument, with its owner if any ("recall: delay")."""
    if or_none and value is None:
        return None
    if not is_whole(value) or value < minimum:
        raise ValueError(f"{what} must be {_describe(minimum)}{' (or None)' if or_none else ''}; "
                         f"got {value!r}")
    return int(value)


def generator(seed, what="seed"):
    """A numpy Generator: from `seed`, an int ≥ 0 (the same one each time) or None (fresh
    entropy); or `seed` itself if it is a Generator already (shared by several users)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(whole(what, seed, minimum=0, or_none=True))


def is_real(value):
    """True for int, float and numpy integer and floating scalars; False for bool (and np.bool_)."""
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def real(what, value, above=None, at_least=None, below=None, or_none=False, expected=None):
    """`value` as a float, if it is a finite real number within the bounds given (above:
    greater than, at_least: ≥, below: less than); else ValueError quoting it. `expected`
    replaces the description the bounds make ("a positive finite number")."""
    if or_none and value is None:
        return None
    if not (is_real(value) and is_finite(value) and (above is None or value > above)
            and (at_least is None or value >= at_least) and (below is None or value < below)):
        # `expected` may say what None means; else " (or None)" says that it is allowed
        expected = expected or _describe_range(above, at_least, below) + (" (or None)" if or_none else "")
        raise ValueError(f"{what} must be {expected}; got {quote(value)}")
    return float(value)


def is_finite(value):
    """math.isfinite, also for an int too large for a float (10**400: not finite as a float)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def quote(value, limit=60):
    """repr(value), cut short past `limit` characters (a 400-digit int, a long string)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def listing(values, limit=8):
    """The values quoted (quote()), joined by commas; past `limit`, the first `limit` and how
    many there are in all: a message naming 400,000 missing keys would help nobody."""
    values = list(values)
    shown = ", ".join(quote(value) for value in values[:limit])
    return shown if len(values) <= limit else f"{shown}, … ({len(values):,} in all)"


def _describe_range(above, at_least, below):
    if at_least is not None and below is not None:
        return f"a number in [{at_least:g}, {below:g})"
    if above == 0 and at_least is None and below is None:
        return "a positive finite number"
    bounds = [f"{words} {bound:g}" for words, bound in (("greater than", above), ("≥", at_least),
                                                         ("less than", below)) if bound is not None]
    return "a finite number" + (f" {' and '.join(bounds)}" if bounds else "")


def flag(what, value):
    """`value` as a bool, if it is True or False (numpy's too); else TypeError quoting it: a
    truthy string such as 'no' must not quietly mean True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be True or False; got {value!r}")
    return bool(value)


def available_bytes():
    """The memory this process can still take, in bytes, as far as can be known: Linux's
    MemAvailable (/proc/meminfo), else free physical pages × page size; None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    parts = line.split()
                    return int(parts[1]) * (1024 if parts[2:3] == ["kB"] else 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages, page_size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def human_bytes(nbytes):
    """1536 → '1.5 KiB'; 32_000_320_000 → '29.8 GiB'; past 1024 PiB, '2.5e+04 PiB'."""
    value = float(nbytes)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            break
        value /= 1024
    if unit == "bytes":
        return f"{int(value)} bytes"
    return f"{value:.1f} {unit}" if value < 1024 else f"{value:.2g} {unit}"


class TooLargeError(MemoryError):
    """A size that cannot fit in the memory available, refused before anything is allocated."""


def check_fits(who, what, nbytes, advice=""):
    """MemoryError, before anything is allocated, if `what` (which names the arguments that
    set its size) needs more than the bytes available. No check when that is unknown."""
    available = available_bytes()
    if available is not None and nbytes > available:
        raise TooLargeError(f"{who}: {what} needs {nbytes:,} bytes ({human_bytes(nbytes)}), more than the "
                          f"{available:,} bytes available ({human_bytes(available)})"
                          + (f"; {advice}" if advice else ""))
