"""Properties over random shapes: autodiff equals finite differences wherever broadcasting
or matmul's rules take us, and gradients always come back in each input's shape."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_lstm import Tensor, concat
from tinygrad_lstm.gradcheck import check_gradients

from .strategies import arrays, broadcastable_pairs, matmul_pairs, seeds, shapes

BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / (b * b + 1.0)}


def assert_gradients_match(loss, tensors):
    for t, (autodiff, numeric) in zip(tensors, check_gradients(loss, tensors)):
        assert autodiff.shape == t.shape
        np.testing.assert_allclose(autodiff, numeric, rtol=1e-6, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(pair=broadcastable_pairs(), op=st.sampled_from(sorted(BINARY)), seed=seeds)
def test_broadcast_binary_ops(pair, op, seed):
    a = Tensor(arrays(pair[0], seed), requires_grad=True)
    b = Tensor(arrays(pair[1], seed + 1), requires_grad=True)
    out_shape = np.broadcast_shapes(*pair)
    R = arrays(out_shape, seed + 2)
    assert BINARY[op](a, b).shape == out_shape
    assert_gradients_match(lambda: (BINARY[op](a, b) * R).sum(), [a, b])


@settings(max_examples=30, deadline=None)
@given(pair=matmul_pairs(), seed=seeds)
def test_matmul(pair, seed):
    a = Tensor(arrays(pair[0], seed), requires_grad=True)
    b = Tensor(arrays(pair[1], seed + 1), requires_grad=True)
    assert (a @ b).shape == np.matmul(a.data, b.data).shape
    R = arrays((a @ b).shape, seed + 2)
    assert_gradients_match(lambda: ((a @ b) * R).sum(), [a, b])


@settings(max_examples=30, deadline=None)
@given(shape=shapes(1, 3), seed=seeds, data=st.data())
def test_reductions_and_softmax_along_any_axis(shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdims = data.draw(st.booleans())
    x = Tensor(arrays(shape, seed), requires_grad=True)

    def loss():
        s = x.sum(axis=axis, keepdims=keepdims) * x.mean(axis=axis, keepdims=keepdims)
        return s.sum() + (x.log_softmax(axis) * x.softmax(axis)).sum()

    assert_gradients_match(loss, [x])


@settings(max_examples=30, deadline=None)
@given(shape=shapes(1, 3), count=st.integers(1, 3), seed=seeds, data=st.data())
def test_concat_then_slice_back(shape, count, seed, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    parts = [Tensor(arrays(shape, seed + i), requires_grad=True) for i in range(count)]
    joined = concat(parts, axis=axis)
    assert joined.shape[axis] == count * shape[axis]
    R = arrays(joined.shape, seed + 7)
    assert_gradients_match(lambda: (concat(parts, axis=axis).tanh() * R).sum(), parts)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, depth=st.integers(1, 6))
def test_random_small_graphs(seed, depth):
    """A random chain of the ops over two shared inputs, reusing earlier results.
    Every value is (2, 3) or (3,), so any two of them broadcast together."""
    rng = np.random.default_rng(seed)
    a = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = Tensor(rng.standard_normal((3,)), requires_grad=True)
    steps = [rng.integers(0, 6) for _ in range(depth)]

    def loss():
        values = [a, b * 0.5]
        for step in steps:
            x, y = values[-1], values[len(values) // 2]
            values.append([lambda: x * y, lambda: x + y, lambda: (x - y).tanh(),
                           lambda: x.sigmoid() * y, lambda: x @ (a.T @ a) * 0.3,
                           lambda: x.softmax(-1) - y][step]())
        return (values[-1] * values[-1]).sum()

    assert_gradients_match(loss, [a, b])
