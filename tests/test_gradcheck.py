"""The finite-difference oracle itself: exact on known functions, and it leaves no trace."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.gradcheck import check_gradients, numerical_gradients, rel_error


def test_central_differences_on_a_known_gradient():
    x = Tensor([0.5, -1.0, 2.0])
    [grad] = numerical_gradients(lambda: (x * x * x).sum(), [x])    # d/dx x³ = 3x²
    np.testing.assert_allclose(grad, 3 * x.data ** 2, rtol=1e-9)


def test_float32_tensors_are_differenced_in_float64_and_restored():
    data = np.array([0.3, -0.2], dtype=np.float32)
    x = Tensor(data)
    [grad] = numerical_gradients(lambda: (x * x).sum(), [x])
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, 2 * data.astype(np.float64), rtol=1e-8)
    assert x.data is data and x.data.dtype == np.float32


def test_check_gradients_pairs_autodiff_with_numeric_and_keeps_grad():
    w = Tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    w.grad = np.full((2, 2), 7.0)
    [(autodiff, numeric)] = check_gradients(lambda: (w @ w).tanh().sum(), [w])
    assert rel_error(autodiff, numeric) < 1e-8
    np.testing.assert_array_equal(w.grad, np.full((2, 2), 7.0))


@pytest.mark.parametrize("a, b, expected", [(1.0, 1.0, 0.0), (1.0, -1.0, 1.0), (0.0, 0.0, 0.0),
                                            (3.0, 1.0, 0.5), ([1.0, 2.0], [1.0, 6.0], 0.5),
                                            (1e-9, 0.0, 0.1)])
def test_rel_error(a, b, expected):
    assert rel_error(a, b) == pytest.approx(expected)


def test_errors_of_the_oracle():
    x = Tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="one number"):
        numerical_gradients(lambda: x * 2.0, [x])
    with pytest.raises(TypeError, match="expected Tensors"):
        numerical_gradients(lambda: x.sum(), [np.ones(2)])
    with pytest.raises(ValueError, match=r"shapes \(2,\) and \(3,\)"):
        rel_error(np.ones(2), np.ones(3))
