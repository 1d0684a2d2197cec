"""float64 by default, float32 end to end, integers become floats, constants follow the Tensor."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor, affine


@pytest.mark.parametrize("data", [[1, 2, 3], np.arange(3, dtype=np.int32), [True, False], 7])
def test_integer_and_bool_data_become_float64(data):
    t = Tensor(data)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=np.float64))


def test_float32_data_stays_float32_and_dtype_converts():
    assert Tensor(np.ones(2, dtype=np.float32)).dtype == np.float32
    assert Tensor([1, 2], dtype="float32").dtype == np.float32
    assert Tensor(np.ones(2), dtype=np.float32).dtype == np.float32


def test_constants_take_the_tensor_dtype():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = 2 * x + np.arange(3.0) - 0.5      # a float64 array and Python floats
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_float_tensors_promote_but_each_gradient_keeps_its_dtype():
    a = Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    b = Tensor(np.ones((2, 2)), requires_grad=True)
    out = (a @ b) * a + b
    assert out.dtype == np.float64            # numpy's promotion, as torch does
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_ndarray_on_the_left_defers_to_the_tensor():
    x = Tensor(np.ones(3), requires_grad=True)
    y = np.arange(3.0) * x
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.arange(3.0))


def test_affine_promotes_like_the_matmul_and_add_it_stands_for():
    x = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    W = Tensor(np.ones((4, 3), np.float32))       # (out, in)
    for b, expected in ((np.ones(4, np.float32), np.float32), (np.ones(4), np.float64)):
        z = affine(x, W, Tensor(b))
        assert z.dtype == expected == (x.data @ W.data.T + b).dtype
        np.testing.assert_array_equal(z.data, np.full((2, 4), 4.0))
