"""Version counters: backward() never uses data that was changed in place after an op saved it.

An op keeps its inputs' arrays for its backward rule (x for dz/dy = x in z = x ⊗ y). If one
of them is changed in place before backward() (`w.data -= lr * w.grad`, an optimizer step),
the rule would compute a gradient at values the forward never saw, silently. torch counts
writes per tensor and compares at backward; so does this module, with one clock:

- `clock[0]` counts the in-place writes this process has made;
- `mark_written(array)` notes the clock's new reading against the memory that `array` views
  (its owner: a slice, reshape or detach() shares its owner's memory, and so its version);
- an op that records a graph notes the clock when it saved its inputs (`_saved_at`), and
  backward() asks `written_since(input, saved_at)` for each input only when the clock has
  moved since: one integer comparison per op when nothing was written.

What counts as a write: `t.data op= ...` (Python's augmented assignment hands the same array
back to the `data` setter) and every in-place update the library makes (optimizers, loading
weights into a model). Element assignment into a numpy array (`t.data[0] = 5`, np.copyto, or
writing the array a Tensor was made from) is numpy's business and is not seen, as torch does
not see writes through `.data`: change elements only after backward(), or replace the array
(`t.data = new`), which leaves the saved one as it was.
"""
import threading
import weakref

import numpy as np

clock = [0]                 # in-place writes so far; read without the lock (a list item read is atomic)
_lock = threading.Lock()
_last_write = {}            # id(owner array) -> [clock at its last write, weak reference to the owner]


def owner(array):
    """The array that owns the memory `array` views (numpy keeps .base pointing at the owner)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def mark_written(array):
    """Record that `array`'s memory was just changed in place."""
    mem = owner(array)
    key = id(mem)
    with _lock:
        clock[0] += 1
        entry = _last_write.get(key)
        if entry is not None and entry[1]() is mem:
            entry[0] = clock[0]
        else:           # forgotten when the owner is freed, before its id can be reused
            _last_write[key] = [clock[0], weakref.ref(mem, lambda _, k=key: _last_write.pop(k, None))]


def written_since(array, since):
    """Whether `array`'s memory was changed in place after the clock read `since`."""
    mem = owner(array)
    entry = _last_write.get(id(mem))
    return entry is not None and entry[0] > since and entry[1]() is mem
