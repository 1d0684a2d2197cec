"""Version counters (tinygrad_lstm/versions.py): data an op saved for backward() and then
changed in place is an error naming the op and the tensor, never a silently wrong gradient;
replacing an array, or writing after backward(), is fine; the compiled path reads the
parameters' current values on every call."""
import gc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_lstm import nn, versions
from tinygrad_lstm.optim import SGD, Adam
from tinygrad_lstm.tensor import Tensor

from .op_cases import CASES
from .test_trust_core import build, graphs


def _leaves():
    w = Tensor([0.5, -1.0, 2.0, 0.25], requires_grad=True, name="w")
    x = Tensor([1.0, 2.0, 3.0, 4.0], name="x")
    return w, x


# Each case: build a graph, write into data it saved, say which op and which saved array the
# error must name. Several shapes of the one mistake: the leaf itself, a view of it, an op's
# output, through detach(), through an optimizer step.
def _leaf_minus_equals():
    w, x = _leaves()
    y = (w * x).sum()
    w.data -= 0.5
    return y, "mul", "its input #0, w"


def _leaf_times_equals_on_a_detached_copy():
    w, x = _leaves()
    y = (w * x).sum()
    d = w.detach()
    d.data *= 2.0                     # detach() shares w's memory
    return y, "mul", "its input #0, w"


def _slice_of_the_leaf():
    w, x = _leaves()
    v = w[0:2].named("v")
    y = (v * v).sum()
    w.data += 1.0                     # v's data is a view of w's
    return y, "mul", "its input #0, v"


def _reshape_of_the_leaf():
    w, x = _leaves()
    r = w.reshape(2, 2).named("r")
    y = (r @ r).sum()
    w.data /= 3.0
    return y, "matmul", "its input #0, r"


def _transpose_as_second_input():
    w, _ = _leaves()
    m = Tensor(np.arange(4.0).reshape(2, 2), name="m")
    wt = w.reshape(2, 2).T.named("wt")
    y = (m * wt).sum()
    w.data += 1.0
    return y, "mul", "its input #1, wt"


def _an_ops_output():
    w, x = _leaves()
    h = (w * x).tanh().named("h")     # tanh's backward uses its output: 1 - h²
    y = h.sum()
    h.data += 1.0
    return y, "tanh", "its output"


def _an_optimizer_step_before_backward():
    w, x = _leaves()
    (w * w).sum().backward()
    y = (w * w * x).sum()
    SGD([w], lr=0.1).step()           # the step belongs after y.backward()
    return y, "mul", "w"


def _a_model_and_adam():
    model = nn.LSTM(3, 2, 4, seed=0)
    xs = np.random.default_rng(0).standard_normal((3, 3))
    model.loss(xs, [0, 1, 2]).backward()
    loss = model.loss(xs, [0, 1, 2])
    Adam(model.parameters(), lr=0.01).step()
    return loss, "affine", "W_"


WRITES = [_leaf_minus_equals, _leaf_times_equals_on_a_detached_copy, _slice_of_the_leaf,
          _reshape_of_the_leaf, _transpose_as_second_input, _an_ops_output,
          _an_optimizer_step_before_backward, _a_model_and_adam]


@pytest.mark.parametrize("case", WRITES, ids=lambda f: f.__name__.strip("_"))
def test_a_write_in_place_after_forward_is_named_at_backward(case):
    y, op, saved = case()
    with pytest.raises(RuntimeError, match="changed in place") as info:
        y.backward()
    message = str(info.value)
    assert f"op '{op}'" in message and saved in message
    assert "only after backward()" in message and "assign a new array" in message


def _gradient_of_w(w_values, x_values):
    w = Tensor(w_values, requires_grad=True)
    ((w * Tensor(x_values)).tanh().sum()).backward()
    return w.grad


def test_replacing_the_array_keeps_the_saved_one_and_the_gradient_right():
    w, x = _leaves()
    start = w.data.copy()
    y = (w * x).tanh().sum()
    w.data = w.data + 5.0                  # a new array: the graph keeps the old one
    y.backward()
    np.testing.assert_array_equal(w.grad, _gradient_of_w(start, x.data))


def test_writing_after_backward_and_again_before_the_next_forward_is_fine():
    w, x = _leaves()
    for step in range(3):
        w.grad = None
        y = (w * x).tanh().sum()
        y.backward()
        np.testing.assert_array_equal(w.grad, _gradient_of_w(w.data.copy(), x.data))
        w.data -= 0.1 * w.grad             # after backward(): the next forward saves the new values


def test_a_write_into_what_only_shape_ops_saved_does_not_trip():
    w, x = _leaves()
    y = (w + x).reshape(2, 2).T.sum()       # add, reshape, transpose, sum: gradients need no values
    w.data *= 10.0
    y.backward()
    np.testing.assert_array_equal(w.grad, np.ones(4))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_ops_that_say_they_need_no_values_really_do_not(case):
    """An op with needs_values = False gives the same gradients from arrays of the same
    shapes and dtypes but other values: so skipping its check cannot hide a wrong gradient."""
    rng = np.random.default_rng(3)
    inputs = [Tensor(rng.uniform(0.5, 2.0, s) if case.positive else rng.standard_normal(s),
                     requires_grad=True) for s in case.shapes]
    out = case.ours(*inputs)
    for node in _nodes(out):
        if node._op.needs_values:
            continue
        g = rng.standard_normal(node.shape)
        others = [rng.standard_normal(a.shape).astype(a.dtype) for a in node._inputs]
        real = node._op.backward(g, node._output, *node._inputs, **node._options)
        fake = node._op.backward(g, rng.standard_normal(node.shape), *others, **node._options)
        for r, f in zip(real, fake):
            np.testing.assert_array_equal(r, f)


def test_a_write_to_an_unrelated_array_does_not_trip():
    w, x = _leaves()
    other = Tensor(np.ones(4), requires_grad=True)
    y = (w * x).sum()
    other.data += 1.0                      # the clock moves, but no saved memory changed
    y.backward()
    np.testing.assert_array_equal(w.grad, x.data)


def test_the_check_runs_again_for_a_second_backward():
    w, x = _leaves()
    y = (w * x).sum()
    y.backward()
    w.data += 1.0
    with pytest.raises(RuntimeError, match="op 'mul'"):
        y.backward()


def test_training_loops_with_optimizers_still_run():
    model = nn.LSTM(3, 4, 5, seed=1)
    xs = np.random.default_rng(1).standard_normal((6, 3))
    opt = Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = model.loss(xs, [0, 1, 2, 3, 4, 0])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_the_record_of_writes_forgets_freed_arrays():
    gc.collect()
    before = len(versions._last_write)
    for _ in range(200):
        t = Tensor(np.zeros(3))
        t.data += 1.0
    del t
    gc.collect()
    assert len(versions._last_write) <= before + 1


def test_an_array_that_is_not_a_view_owns_itself():
    a = np.zeros((2, 3))
    assert versions.owner(a) is a
    assert versions.owner(a[1:].T.reshape(-1)) is a
    assert versions.owner(a.reshape(3, 2)[::2]) is a


# --- the property, over random graphs --------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(graphs(), st.integers(0, 2), st.booleans())
def test_any_leaf_written_in_place_is_caught_and_a_replaced_one_is_not(graph, which, in_place):
    shape, n_leaves, steps, seed, _ = graph
    user, leaves, out = build(shape, n_leaves, steps, seed)
    out = out.sum() if out.shape != () else out
    leaf = leaves[which % len(leaves)]
    used = any(np.shares_memory(saved, leaf.data) for node in _nodes(out) if node._op.needs_values
               for saved in node._inputs + (node._output,))     # by an op whose gradient reads it
    if in_place:
        leaf.data += 1.0
    else:
        leaf.data = leaf.data + 1.0
    if in_place and used:
        with pytest.raises(RuntimeError, match="changed in place"):
            out.backward()
    else:
        out.backward()              # replaced, or its values not read by a gradient: no error
        _, fresh_leaves, fresh_out = build(shape, n_leaves, steps, seed)
        fresh_out = fresh_out.sum() if fresh_out.shape != () else fresh_out
        fresh_out.backward()
        for t, fresh in zip(leaves, fresh_leaves):
            if fresh.grad is not None:
                np.testing.assert_allclose(t.grad, fresh.grad, rtol=1e-12, atol=0)


def _nodes(out):
    from tinygrad_lstm.tensor import topological_order
    return [n for n in topological_order(out) if n._op is not None]


# --- the compiled path: no gap between forward and backward, and no stale copy -----------

@pytest.mark.parametrize("write", ["minus_equals", "element_assignment", "replacement"])
def test_compiled_calls_see_the_parameters_current_values(write):
    model = nn.LSTM(3, 4, 5, seed=2)
    rng = np.random.default_rng(2)
    xs, ys = rng.standard_normal((7, 2, 3)), rng.integers(0, 5, (7, 2))
    compiled = model.compile()
    compiled.loss_and_grad(xs, ys)             # traced and run once on the first values
    for p in model.parameters():
        shift = 0.3 * rng.standard_normal(p.shape)
        if write == "minus_equals":
            p.data -= shift
        elif write == "element_assignment":
            p.data[...] = p.data - shift
        else:
            p.data = p.data - shift
        p.grad = None
    loss = compiled.loss_and_grad(xs, ys)
    compiled_grads = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    eager = model.loss(xs, ys)
    eager.backward()
    assert abs(loss - eager.item()) < 1e-12
    for p, g in zip(model.parameters(), compiled_grads):
        np.testing.assert_allclose(g, p.grad, rtol=0, atol=1e-12)
