"""Trust in the core: requires_grad is a real bool, stored gradients never alias one another
(nor the seed or any user array), and gradcheck refuses a tensor that has no gradient."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_lstm.gradcheck import check_gradients, compare
from tinygrad_lstm.ops import concat, stack
from tinygrad_lstm.tensor import Tensor, topological_order

from .strategies import arrays, seeds, shapes


# --- 1. requires_grad: True or False, nothing else ----------------------------------------

@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), (np.bool_(True), True), (np.bool_(False), False),
])
def test_requires_grad_accepts_bools(value, expected):
    t = Tensor([1.0, 2.0], requires_grad=value)
    assert t.requires_grad is expected          # stored as a plain Python bool


# A 0-d numpy bool array is refused: it is an array, not a flag (np.bool_ scalars are fine).
@pytest.mark.parametrize("value", ["False", "True", "", 0, 1, None, 1.0, 0.0, np.array(True),
                                   np.array([True]), [True]],
                         ids=lambda v: repr(v))
def test_requires_grad_refuses_anything_but_a_bool(value):
    with pytest.raises(TypeError, match="requires_grad must be True or False; got") as info:
        Tensor([1.0], requires_grad=value)
    assert repr(value) in str(info.value)


def test_requires_grad_message_for_the_string_false():
    with pytest.raises(TypeError) as info:
        Tensor([1.0], requires_grad="False")
    assert str(info.value) == "Tensor: requires_grad must be True or False; got 'False'"


# --- 2. no aliasing between stored gradients ----------------------------------------------

def _all_grads(root, extra=()):
    order = topological_order(root)
    known = set(order)                # a set hashes tensors by identity; `in` a list would use ==
    nodes = order + [t for t in extra if t not in known]
    return [(t, t.grad) for t in nodes if t.grad is not None]


def assert_no_aliasing(root, leaves=(), outside=()):
    """No two distinct tensors' .grad are one object or share memory; none shares memory
    with any array in `outside` (the seed, the user's arrays, any tensor's .data)."""
    pairs = _all_grads(root, leaves)
    for (a, ga), (b, gb) in itertools.combinations(pairs, 2):
        assert ga is not gb, f"{a!r} and {b!r} hold the same gradient object"
        assert not np.shares_memory(ga, gb), f"{a!r} and {b!r} gradients share memory"
    for t, g in pairs:
        for o in outside:
            assert not np.shares_memory(g, o), f"{t!r}.grad shares memory with a user array"
        for u, _ in pairs:
            assert not np.shares_memory(g, u.data), f"{t!r}.grad shares memory with {u!r}.data"


UNARY = {
    "identity_reshape": lambda x: x.reshape(*x.shape),
    "flat": lambda x: x.reshape(-1),
    "transpose": lambda x: x.transpose() if x.ndim else x,
    "getitem_all": lambda x: x[...],
    "getitem_first": lambda x: x[0] if x.ndim else x,
    "neg": lambda x: -x,
    "tanh": lambda x: x.tanh(),
    "sum_keep": lambda x: x.sum(keepdims=True),
    "concat_self": lambda x: concat([x, x], axis=0) if x.ndim else x,
    "stack_self": lambda x: stack([x, x])[1],
}
BINARY = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "sub": lambda a, b: a - b,
}


@st.composite
def graphs(draw):
    """A random small graph on two or three same-shaped leaves: a list of steps, each a
    unary op on an earlier node or a binary op on two earlier nodes (possibly the same)."""
    shape = draw(shapes(0, 3))
    n_leaves = draw(st.integers(1, 3))
    steps = draw(st.lists(st.one_of(
        st.tuples(st.just("u"), st.sampled_from(sorted(UNARY)), st.integers(0, 100)),
        st.tuples(st.just("b"), st.sampled_from(sorted(BINARY)), st.integers(0, 100), st.integers(0, 100))),
        min_size=1, max_size=8))
    return shape, n_leaves, steps, draw(seeds), draw(st.booleans())


def build(shape, n_leaves, steps, seed):
    user = [arrays(shape, seed + i) for i in range(n_leaves)]
    leaves = [Tensor(u, requires_grad=True, name=f"leaf{i}") for i, u in enumerate(user)]
    nodes = list(leaves)
    for step in steps:
        if step[0] == "u":
            x = nodes[step[2] % len(nodes)]
            out = UNARY[step[1]](x)
            if out.shape != shape:      # keep every node the leaves' shape, so binaries apply
                out = out.sum() * Tensor(np.ones(shape)) if out.shape != () or shape != () else out
        else:
            out = BINARY[step[1]](nodes[step[2] % len(nodes)], nodes[step[3] % len(nodes)])
        nodes.append(out)
    return user, leaves, nodes[-1]


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_no_two_tensors_share_a_gradient_array(graph):
    shape, n_leaves, steps, seed, explicit_seed = graph
    user, leaves, out = build(shape, n_leaves, steps, seed)
    outside = list(user)
    if explicit_seed:
        seed_grad = arrays(out.shape, seed + 99)
        seed_copy = seed_grad.copy()
        outside.append(seed_grad)
        out.backward(seed_grad)
    else:
        out.sum().backward() if out.shape != () else out.backward()
    assert_no_aliasing(out, leaves, outside)
    if explicit_seed:
        before = [t.grad.copy() for t in leaves if t.grad is not None]
        seed_grad[...] = 1e6                  # the user reuses their array: grads unchanged
        assert np.array_equal(seed_grad, np.full_like(seed_grad, 1e6))
        after = [t.grad for t in leaves if t.grad is not None]
        for b, a in zip(before, after):
            np.testing.assert_array_equal(a, b)
        assert not np.array_equal(seed_copy, seed_grad)


def test_x_plus_x():
    x = Tensor(np.ones(3), requires_grad=True)
    y = x + x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * np.ones(3))
    assert_no_aliasing(y, [x])


def test_reshape_and_getitem_and_transpose_own_their_gradients():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    r = x.reshape(3, 2)
    t = r.transpose()
    g = t[...]
    g.backward(np.ones((2, 3)))
    assert_no_aliasing(g, [x])
    r.grad[...] = 0                       # zeroing one leaves the others alone
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))
    np.testing.assert_array_equal(g.grad, np.ones((2, 3)))


def test_concat_parts_own_their_gradients():
    a = Tensor(np.ones((2, 2)), requires_grad=True)
    b = Tensor(np.ones((1, 2)), requires_grad=True)
    c = concat([a, b], axis=0)
    seed = np.arange(6.0).reshape(3, 2)
    c.backward(seed)
    assert_no_aliasing(c, [a, b], [seed])
    np.testing.assert_array_equal(a.grad, seed[:2])
    np.testing.assert_array_equal(b.grad, seed[2:])


def test_a_leaf_used_twice():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.tanh()
    z = y * y + y
    z.sum().backward()
    assert_no_aliasing(z, [x])
    np.testing.assert_allclose(y.grad, 2 * np.tanh([1.0, 2.0]) + 1)


def test_backward_with_a_user_array_then_mutating_it_leaves_the_grads_alone():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x.reshape(3)                       # an identity-shaped view op
    seed = np.array([1.0, 2.0, 3.0])
    y.backward(seed)
    assert x.grad is not seed and y.grad is not seed
    assert not np.shares_memory(x.grad, seed) and not np.shares_memory(y.grad, seed)
    seed[...] = -7
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y.grad, [1.0, 2.0, 3.0])


def test_backward_on_a_leaf_copies_the_seed():
    x = Tensor(np.zeros(2), requires_grad=True)
    seed = np.array([4.0, 5.0])
    x.backward(seed)
    assert not np.shares_memory(x.grad, seed)
    seed[0] = 0
    np.testing.assert_array_equal(x.grad, [4.0, 5.0])


# --- 3. gradcheck refuses a tensor that needs no gradient ---------------------------------

def test_check_gradients_names_a_tensor_without_requires_grad():
    w = Tensor(np.ones(2), requires_grad=True, name="w")
    x = Tensor(np.ones(2), name="x_t")
    with pytest.raises(ValueError) as info:
        check_gradients(lambda: (w * x).sum(), [w, w, x])
    assert str(info.value) == ("check_gradients: tensor 2 (x_t) does not require a gradient, so "
                               "autodiff gives it none; make it with requires_grad=True")


def test_check_gradients_on_an_unnamed_tensor_without_requires_grad():
    x = Tensor(np.ones(2))
    with pytest.raises(ValueError, match=r"check_gradients: tensor 0 does not require a gradient"):
        check_gradients(lambda: (x * x).sum(), [x])


def test_compare_refuses_a_frozen_parameter():
    from tinygrad_lstm.nn import RNN
    try:
        model = RNN(input_size=2, hidden_size=3, output_size=2)
    except TypeError:
        pytest.skip("RNN's constructor takes other arguments")
    name, param = next(iter(model.named_parameters()))
    param.requires_grad = False
    xs = np.zeros((2, 1, 2))
    with pytest.raises(ValueError, match=f"compare: parameter {name} does not require a gradient"):
        compare(model, xs, np.zeros((2, 1), dtype=int))
