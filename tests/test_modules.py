"""Models feel like torch modules: Linear takes numpy input as LSTM does."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.nn import Linear

from .helpers import assert_clear_error


@pytest.mark.parametrize("x", [np.array([1.0, 2.0, -1.0]), [1.0, 2.0, -1.0], [1, 2, -1]],
                         ids=["numpy", "list", "ints"])
def test_linear_takes_numpy_arrays_and_lists(x):
    layer = Linear(3, 2, seed=0)
    W, b = layer.parameters()
    y = layer(x)
    np.testing.assert_allclose(y.data, W.data @ np.array([1.0, 2.0, -1.0]) + b.data, rtol=1e-15)
    np.testing.assert_array_equal(y.data, layer(Tensor(np.array([1.0, 2.0, -1.0]))).data)
    y.sum().backward()                           # dL/dW = 1 xᵀ: the numpy input is a constant leaf
    np.testing.assert_array_equal(W.grad, np.tile([1.0, 2.0, -1.0], (2, 1)))


def test_linear_converts_input_to_its_dtype_and_takes_batches():
    layer = Linear(3, 2, seed=0, dtype="float32")
    rows = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = layer(rows)
    assert y.shape == (4, 2) and y.dtype == np.float32
    W, b = layer.parameters()
    np.testing.assert_allclose(y.data, rows @ W.data.T + b.data, rtol=1e-6)


BAD = [
    ("text", lambda: Linear(3, 2)("abc"), TypeError, ["Linear: x:", "real numbers", "<U3"]),
    ("ragged", lambda: Linear(3, 2)([[1, 2, 3], [4]]), ValueError, ["Linear: x:", "ragged"]),
    ("None", lambda: Linear(3, 2)(None), TypeError, ["Linear: x:", "numbers"]),
    ("wrong width", lambda: Linear(3, 2)(np.ones(4)), ValueError, ["affine", "(4,)", "(2, 3)", "align"]),
    ("3-d", lambda: Linear(3, 2)(np.ones((2, 2, 3))), ValueError, ["affine", "(n,) or (B, n)", "(2, 2, 3)"]),
]


@pytest.mark.parametrize("what, call, exc, pieces", BAD, ids=[b[0] for b in BAD])
def test_bad_linear_input_is_named(what, call, exc, pieces):
    assert_clear_error(call, exc, pieces)
