"""The cyclic garbage collector is paused while a graph is built or walked, and does not
scan the graph afterwards; what it is for (cycles) still works, and its settings are left
as they were."""
import gc
import weakref

import numpy as np

from tinygrad_lstm import tensor
from tinygrad_lstm.nn import LSTM


def prepared(steps=300):
    """A model and a sequence, made before the collector starts counting."""
    rng = np.random.default_rng(0)
    return LSTM(3, 4, 5, seed=0), rng.standard_normal((steps, 3)), rng.integers(0, 5, steps)


def forward_backward(model, xs, ys):
    loss = model.loss(xs, ys)
    loss.backward()
    return loss


def test_the_graph_skips_the_young_generations_unscanned():
    model, xs, ys = prepared(300)         # ~15,000 tracked objects: 20 young collections' worth
    run = model.unroll(xs)
    young = gc.get_objects(generation=0) + gc.get_objects(generation=1)   # (allocating: a
    node = run.steps[0]["HS_t"]           # collection would run here if one were due)
    assert not any(o is node for o in young)
    model.loss_of(run, ys).backward()
    assert model.parameters()[0].grad is not None


def test_reference_cycles_made_before_are_collected_on_the_way_in():
    """The graph is moved to the oldest generation unscanned; a cycle made just before
    must not be moved along with it, to wait for a full collection."""
    class Node:
        pass
    model, xs, ys = prepared(50)
    gc.collect()                          # so that the cycle below starts in the youngest generation
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b                              # a cycle: only the collector can free it
    forward_backward(model, xs, ys)
    assert gone() is None


def test_cycles_that_live_through_passes_are_freed_by_a_full_collection_in_time(monkeypatch):
    """What is promoted unscanned is counted, and a full collection runs once enough is:
    CPython's own trigger for one never counts it, and such cycles would pile up."""
    class Node:
        pass
    monkeypatch.setattr(tensor, "PROMOTED_BEFORE_FULL_COLLECTION", 20_000)
    model, xs, ys = prepared(50)          # ~2,500 objects promoted a pass: a full collection
    alive, held = [], None                # every ~8 passes
    for _ in range(80):
        held = Node()
        held.itself = held                # a cycle that lives through one pass
        alive.append(weakref.ref(held))
        forward_backward(model, xs, ys)
    assert sum(ref() is not None for ref in alive) <= 10


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
