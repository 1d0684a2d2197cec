"""Trust, continued: an index array changed after forward, detect_anomaly per thread and
re-entrant, and optimizers that check every gradient's shape before updating anything."""
import threading

import numpy as np
import pytest

from tinygrad_lstm import Tensor, detect_anomaly
from tinygrad_lstm.optim import SGD, Adam
from tinygrad_lstm.tensor import _mode


# --- 1. the index is the one given at forward time -----------------------------------------

def _grad_of(data, index, weights):
    x = Tensor(data, requires_grad=True)
    (x[index] * Tensor(weights)).sum().backward()
    return x.grad


def _mutate(index):
    if isinstance(index, tuple):
        for a in index:
            _mutate(a)
    elif isinstance(index, np.ndarray) and index.dtype == bool:
        index[...] = np.roll(index, 1)      # as many picked, other places
    elif isinstance(index, (np.ndarray, list)):
        index[0] = 2 if index[0] != 2 else 0


CASES = {
    "1-d array": (np.arange(5.0), lambda: np.array([0, 1, 1, 4])),
    "list": (np.arange(5.0), lambda: [0, 1, 1, 4]),
    "tuple of arrays": (np.arange(12.0).reshape(3, 4), lambda: (np.array([0, 1, 1]), np.array([3, 0, 0]))),
    "tuple with a slice": (np.arange(12.0).reshape(3, 4), lambda: (slice(None), np.array([3, 0, 3]))),
    "boolean mask": (np.arange(5.0), lambda: np.array([True, False, True, False, True])),
}


@pytest.mark.parametrize("case", CASES)
def test_changing_the_index_after_forward_does_not_move_the_gradient(case):
    data, make = CASES[case]
    index = make()
    x = Tensor(data, requires_grad=True)
    y = x[index]
    weights = np.arange(1.0, y.data.size + 1).reshape(y.data.shape)
    loss = (y * Tensor(weights)).sum()
    _mutate(index)                                   # the user reuses their array
    loss.backward()
    np.testing.assert_array_equal(x.grad, _grad_of(data, make(), weights))
    assert not np.array_equal(x.grad, _grad_of(data, index, weights))   # the change mattered


def test_an_empty_list_index_still_indexes():
    x = Tensor(np.arange(3.0), requires_grad=True)
    y = x[[]]
    assert y.shape == (0,)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(3))


# --- 2. detect_anomaly: re-entrant and per thread -------------------------------------------

def _nan():
    return Tensor(np.array([1.0])) * Tensor(np.array([np.nan]))


def test_detect_anomaly_is_reentrant():
    guard = detect_anomaly()
    with guard:
        with guard:
            assert _mode.anomaly
        assert _mode.anomaly      # the inner exit restored what it found: on
        with pytest.raises(FloatingPointError):
            _nan()
    assert not _mode.anomaly
    _nan()                                      # off again: no error


def test_detect_anomaly_in_one_thread_is_not_on_in_another():
    guard = detect_anomaly()
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with guard:
            seen["worker"] = _mode.anomaly
            inside.set()
            done.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    assert inside.wait(5)
    try:
        seen["main"] = _mode.anomaly
        _nan()                                   # no FloatingPointError here
        with guard:                              # the same object, entered here too
            assert _mode.anomaly
        assert not _mode.anomaly
    finally:
        done.set()
        t.join(5)
    assert seen == {"worker": True, "main": False}


# --- 3. optimizers: a mis-shaped gradient is named, and nothing is updated ------------------

OPTIMIZERS = {
    "sgd": lambda ps: SGD(ps, lr=0.1),
    "sgd momentum": lambda ps: SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda ps: Adam(ps, lr=0.1),
}
BAD = {
    "too few": np.ones(3),
    "transposed": np.ones((3, 2)),
    "broadcastable row": np.ones((1, 3)),
    "scalar": np.array(1.0),
    "too many": np.ones((2, 2, 3)),
}


@pytest.mark.parametrize("named", [True, False])
@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("make", OPTIMIZERS)
def test_a_misshaped_grad_is_named_and_nothing_is_updated(make, bad, named):
    a = Tensor(np.ones((4,)), requires_grad=True, name="bias")
    w = Tensor(np.ones((2, 3)), requires_grad=True, name="weight" if named else None)
    c = Tensor(np.ones((5,)), requires_grad=True)
    opt = OPTIMIZERS[make]([a, w, c])
    for p in (a, w, c):
        p.grad = np.full(p.data.shape, 0.5)
    opt.step()                                    # one good step: momentum and Adam state exist
    before = [p.data.copy() for p in (a, w, c)]
    state = {k: [None if v is None else v.copy() for v in getattr(opt, k)]
             for k in ("velocity", "m", "v") if hasattr(opt, k)}
    t = getattr(opt, "t", None)
    a.grad, c.grad = np.full(4, 0.5), np.full(5, 0.5)
    w.grad = BAD[bad]
    with pytest.raises(ValueError) as e:
        opt.step()
    message = str(e.value)
    assert ("weight" if named else "parameter 1") in message
    assert str(BAD[bad].shape) in message and "(2, 3)" in message
    for p, old in zip((a, w, c), before):
        np.testing.assert_array_equal(p.data, old)
    for k, vs in state.items():
        for v, old in zip(getattr(opt, k), vs):
            if old is not None:
                np.testing.assert_array_equal(v, old)
    assert getattr(opt, "t", None) == t
