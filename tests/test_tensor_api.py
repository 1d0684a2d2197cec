"""The Tensor's surface beyond the ops: what numpy sees of it."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor

from .helpers import assert_clear_error


def test_numpy_sees_the_data_shared_or_copied_as_asked():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    shared = np.asarray(t)
    assert shared.dtype == np.float64 and shared.shape == (2, 3) and np.shares_memory(shared, t.data)
    copied = np.array(t)
    assert not np.shares_memory(copied, t.data)
    np.testing.assert_array_equal(copied, np.arange(6.0).reshape(2, 3))
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(np.asarray([t, 2 * t]), [t.data, 2 * t.data])   # not objects
    assert_clear_error(lambda: np.asarray(t, dtype=np.float32, copy=False), ValueError,
                       ["copy=False", "float64", "needs a copy"])


def test_numpy_reductions_call_the_tensors_own_and_keep_the_graph():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    total = np.sum(t)
    assert isinstance(total, Tensor) and total.item() == 15.0
    total.backward()
    np.testing.assert_array_equal(t.grad, np.ones((2, 3)))
    means = np.mean(t, axis=0, keepdims=True)
    assert isinstance(means, Tensor)
    np.testing.assert_array_equal(means.data, [[1.5, 2.5, 3.5]])


@pytest.mark.parametrize("call, pieces", [
    (lambda t: np.sum(t, out=np.zeros(())), ["sum", "out=", "ndarray"]),
    (lambda t: np.mean(t, dtype=np.float32), ["mean", "dtype=", "float64", "float32"]),
    (lambda t: t.sum(dtype="int64"), ["sum", "dtype=", "'int64'"]),
], ids=["np.sum-out", "np.mean-dtype", "sum-dtype"])
def test_what_numpy_could_ask_of_a_reduction_and_a_tensor_cannot_give_is_refused(call, pieces):
    assert_clear_error(lambda: call(Tensor(np.ones(3))), TypeError, pieces)
