"""Checking weights by name before they go into a model: one set of checks for
Module.load_state_dict, LSTM/RNN.assign (and so load()) and interop.from_torch_state_dict.

Every key and every value is checked first, and one error names every problem, so a model
is changed whole or not at all. A value may be a numpy array (or scalar), one of our Tensors
or a torch tensor (read without importing torch). It must hold real numbers (not bool,
complex or objects; a list is refused, as torch's load_state_dict refuses one), have the
shape expected, and be finite in the dtype it is converted to: 1e39 is a float64 but an
infinity in float32, and a NaN weight makes every output NaN. The arrays handed back are
new, so whatever the caller keeps can change later without changing the model.
"""
from typing import List, NamedTuple

import numpy as np

from .checks import listing
from .tensor import Tensor


class IncompatibleKeys(NamedTuple):
    """The keys that did not match, as torch's load_state_dict reports them: the model's
    parameters the state lacks (with strict=False they keep their values), and the state's
    keys the model has no parameter for (with strict=False, ignored)."""
    missing_keys: List[str]
    unexpected_keys: list


def readable_array(name, value):
    """`value` as a numpy array of real numbers, not copied (a Tensor's data, a torch tensor's
    memory, the array itself); a TypeError naming `name` if it is none."""
    if isinstance(value, Tensor):
        value = value.data
    elif hasattr(value, "detach") and hasattr(value, "cpu"):     # a torch tensor, or one alike
        try:
            value = value.detach().cpu().numpy()
        except (TypeError, ValueError, RuntimeError, AttributeError) as e:     # bfloat16, say
            raise TypeError(f"{name!r} cannot be read as a numpy array ({type(e).__name__}: {e}); "
                            f"convert it first, e.g. with .double()") from None
    if not isinstance(value, (np.ndarray, np.generic)):
        raise TypeError(f"{name!r} must be a numpy array or a tensor; got {type(value).__name__}")
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name!r} must be an array of real numbers; got {type(value).__name__} of "
                        f"dtype {array.dtype}")
    return array


def readable_arrays(values):
    """({name: readable_array(name, value)} for the values that are readable, [the errors
    of those that are not])."""
    arrays, problems = {}, []
    for name, value in values.items():
        try:
            arrays[name] = readable_array(name, value)
        except TypeError as e:
            problems.append(e)
    return arrays, problems


def real_array(name, value, dtype, shape=None):
    """`value` as a new numpy array of `dtype`. A TypeError or ValueError naming `name` if it
    is not an array of real numbers, has another shape than `shape` (when given), or is not
    finite in `dtype`."""
    array = readable_array(name, value)
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name!r} has shape {array.shape}, expected {tuple(shape)}")
    with np.errstate(over="ignore"):                           # an overflow is reported below
        converted = array.astype(dtype, order="C")              # a copy, always, in C order
    bad = converted.size - np.count_nonzero(np.isfinite(converted))
    if bad:
        overflow = np.isfinite(array).all()                    # finite until converted
        raise ValueError(f"{name!r} holds {bad} non-finite value(s) (NaN or infinity)"
                         + (f" once converted to {converted.dtype} (beyond its range)" if overflow else ""))
    return converted


def real_arrays(values, where, like=None, problems=()):
    """{name: real_array(name, value, ...)} for every item of `values`, in the dtype and shape
    of the Tensor like[name], or in float64 and any shape without `like`. Every value is
    tried; then one error, after `where`, names every problem (`problems` first): a
    TypeError if all are about types, else a ValueError."""
    problems, arrays = list(problems), {}
    for name, value in values.items():
        target = None if like is None else like[name]
        try:
            arrays[name] = real_array(name, value, np.float64 if target is None else target.dtype,
                                      None if target is None else target.shape)
        except (TypeError, ValueError) as e:
            problems.append(e)
    if problems:
        kind = TypeError if all(isinstance(e, TypeError) for e in problems) else ValueError
        raise kind(f"{where}: " + "; ".join(str(e) for e in problems))
    return arrays


def check_state(parameters, state, where, strict=True):
    """(arrays, IncompatibleKeys): new arrays for the `parameters` ({name: Tensor}) that
    `state` ({name: value}) has, each in its parameter's dtype and shape, and the keys that
    did not match. strict=True refuses missing and unexpected keys; strict=False only
    reports them. Everything else is refused either way, all of it in one error."""
    if not hasattr(state, "items"):
        raise TypeError(f"{where}: expected a mapping of arrays by name; got {type(state).__name__}")
    state = dict(state.items())
    keys = IncompatibleKeys([name for name in parameters if name not in state],
                            [key for key in state if key not in parameters])
    problems = []
    if strict and keys.missing_keys:
        problems.append(ValueError(f"missing {listing(keys.missing_keys)}"))
    if strict and keys.unexpected_keys:
        problems.append(ValueError(f"unexpected {listing(keys.unexpected_keys)}"))
    if problems:
        problems[-1] = ValueError(f"{problems[-1]} (load_state_dict(state, strict=False) loads the keys "
                                  f"that match and returns the others)")
    arrays = real_arrays({name: state[name] for name in parameters if name in state}, where, parameters,
                         problems)
    return arrays, keys
