"""Argument checks shared by the constructors: numpy scalars count like Python numbers
(np.int64(3) is a whole number, np.float32(0.5) a real one), bool never does, and every
message quotes the value exactly as the caller gave it."""
import math

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
        raise ValueError(f"{what} must be {_describe(minimum)}{' (or None)' if or_none else ''}; got {value!r}")
    return int(value)


def finite(what, value):
    """`value` as a float, if it is a finite real number (int, float or a numpy scalar of
    either, not bool); else ValueError quoting it."""
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, (bool, np.bool_)) \
            or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number; got {value!r}")
    return float(value)
