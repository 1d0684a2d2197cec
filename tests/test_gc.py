"""The cyclic garbage collector is paused while a graph is built or walked, and does not
scan the graph afterwards; what it is for (cycles) still works, and its settings are left
as they were."""
import gc

import numpy as np
import pytest

from tinygrad_lstm.nn import LSTM


def prepared(steps=300):
    """A model and a sequence, made before the collector starts counting."""
    rng = np.random.default_rng(0)
    return LSTM(3, 4, 5, seed=0), rng.standard_normal((steps, 3)), rng.integers(0, 5, steps)


def forward_backward(model, xs, ys):
    loss = model.loss(xs, ys)
    loss.backward()
    return loss


@pytest.fixture
def collections():
    """A list that gets one entry (the generation) per collection the collector runs."""
    seen = []

    def record(phase, info):
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(record)
    try:
        yield seen
    finally:
        gc.callbacks.remove(record)


def test_building_and_walking_a_graph_runs_no_collection(collections):
    model, xs, ys = prepared(300)
    gc.collect()                          # start from an empty young generation
    collections.clear()
    forward_backward(model, xs, ys)       # ~15,000 tracked objects: 20 collections' worth
    leftover = [[] for _ in range(100)]   # allocations after: no scan of the graph is due
    assert collections == []
    assert model.parameters()[0].grad is not None and leftover


def test_reference_cycles_made_before_are_still_collected():
    class Node:
        pass
    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b                              # a cycle: only the collector can free it
    forward_backward(*prepared(50))
    assert gc.collect() >= 2


def test_a_disabled_collector_stays_disabled_and_frozen_objects_stay_frozen():
    gc.disable()
    try:
        forward_backward(*prepared(20))
        assert not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()    # (a few may be freed meanwhile: they leave the count)
        forward_backward(*prepared(20))
        assert gc.get_freeze_count() > frozen / 2 and gc.isenabled()
    finally:
        gc.unfreeze()
