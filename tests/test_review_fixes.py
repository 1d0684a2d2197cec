"""What a review of this round's changes found, each pinned: the gradient of x ** y at 0⁰,
where() keeping a copy of its condition, clipping that never writes into another array's
memory, finite differences on Fortran-ordered data, a cell's numpy input in the cell's
dtype, a float assigned to float32 data staying float32, numpy functions refusing Tensors
rather than dropping the graph, and factories refusing shapes that cannot fit."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor, where
from tinygrad_lstm.gradcheck import check_gradients, numerical_gradients
from tinygrad_lstm.nn import LSTMCell, RNNCell
from tinygrad_lstm.optim import clip_grad_norm


def test_pow_at_zero_to_the_zero_has_torch_s_gradient_and_no_warning():
    x = Tensor([0.0, 2.0, 0.0], requires_grad=True)
    y = Tensor([0.0, 0.0, 2.0], requires_grad=True)
    (x ** y).sum().backward()                       # RuntimeWarnings are errors in this suite
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])       # d(x⁰)/dx = 0; d(x²)/dx at 0 = 0
    np.testing.assert_array_equal(y.grad, [0.0, np.log(2.0), 0.0])  # z·ln x, taken as 0 at x = 0


def test_a_constant_zero_base_warns_nothing():
    y = Tensor([1.0, 2.0], requires_grad=True)
    (Tensor([0.0, 0.0]) ** y).sum().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 0.0])


def test_where_keeps_a_copy_of_its_condition():
    x, y = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    condition = np.array([True, False])
    z = where(condition, x, y)
    condition[:] = False                             # the caller reuses the array
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])
    np.testing.assert_array_equal(y.grad, [0.0, 1.0])


def test_clipping_never_writes_into_the_array_a_grad_came_from():
    x = Tensor([3.0, 4.0], requires_grad=True)
    y = x.exp()
    loss = (y * 1.0).sum()
    p = Tensor([0.0, 0.0], requires_grad=True)
    p.grad = y.data                                  # against the advice (.copy()), but allowed
    before = y.data.copy()
    clip_grad_norm([p], 1.0)
    np.testing.assert_array_equal(y.data, before)
    assert np.linalg.norm(p.grad) == pytest.approx(1.0, rel=1e-6)
    loss.backward()
    np.testing.assert_allclose(x.grad, np.exp([3.0, 4.0]))


def test_finite_differences_on_fortran_ordered_data():
    data = np.arange(6.0).reshape(2, 3).T            # not C-ordered: reshape(-1) would copy
    w = Tensor(data, requires_grad=True)

    def f():
        return (w * w).sum()
    [numeric] = numerical_gradients(f, [w])
    np.testing.assert_allclose(numeric, 2 * data, rtol=1e-8)
    [(autodiff, numeric_again)] = check_gradients(f, [w])
    np.testing.assert_allclose(numeric_again, autodiff, rtol=1e-8)


@pytest.mark.parametrize("make, state", [(lambda: LSTMCell(3, 2, dtype="float32"), ([0.0, 0.0], [0.0, 0.0])),
                                         (lambda: RNNCell(3, 2, dtype="float32"), ([0.0, 0.0],))])
def test_a_cell_s_numpy_input_takes_the_cell_s_dtype(make, state):
    outs = make()([0.1, 0.2, 0.3], state)            # lists: numpy would make them float64
    assert [t.dtype for t in outs] == [np.float32] * len(state)


def test_a_python_float_assigned_to_float32_data_stays_float32():
    t = Tensor(np.float32(1.0))
    t.data = 3.0
    assert t.data.dtype == np.float32 and t.data.shape == () and t.data == 3.0


@pytest.mark.parametrize("call", [lambda a: np.concatenate([a, a]), lambda a: np.where(a.data > 1, a, a),
                                  lambda a: np.dot(a, a), lambda a: np.clip(a, 0, 1),
                                  lambda a: np.stack([a, a])],
                         ids=["concatenate", "where", "dot", "clip", "stack"])
def test_numpy_functions_refuse_tensors_rather_than_drop_the_graph(call):
    a = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"numpy's \w+\(\) does not take Tensors: it would compute on the "
                                        r"data and drop the graph"):
        call(a)


def test_numpy_reductions_still_call_the_tensor_s_own():
    a = Tensor([[1.0, 5.0], [3.0, 2.0]], requires_grad=True)
    total = np.sum(a, axis=0)
    assert isinstance(total, Tensor) and total.op == "sum" and total.tolist() == [4.0, 7.0]
    assert np.max(a).item() == 5.0 and np.min(a).item() == 1.0 and np.mean(a).item() == 2.75
    assert np.argmax(a).item() == 1
    np.testing.assert_array_equal(np.asarray(a), a.data)


@pytest.mark.parametrize("make", ["zeros", "ones", "randn"])
def test_factories_refuse_a_shape_that_cannot_fit(make):
    import tinygrad_lstm
    from tinygrad_lstm.checks import TooLargeError
    with pytest.raises(TooLargeError, match=rf"{make}: a tensor of shape \(1099511627776, 1099511627776\) "
                                            r"needs 9,671,406,556,917,033,397,649,408 bytes"):
        getattr(tinygrad_lstm, make)(2 ** 40, 2 ** 40)


@pytest.mark.parametrize("bad", ["targets", "mask"])
def test_loss_checks_targets_and_mask_before_unrolling(bad, monkeypatch):
    from tinygrad_lstm.nn import LSTM
    model = LSTM(3, 4, 5)
    unrolled = []
    monkeypatch.setattr(LSTM, "unroll", lambda self, *a, **k: unrolled.append(1))
    xs, targets, mask = np.zeros((6, 3)), np.zeros(6, dtype=int), np.ones(6, dtype=bool)
    if bad == "targets":
        targets = np.full(6, 7)                        # class 7 of 5
    else:
        mask = np.ones(4, dtype=bool)                  # 4 steps of 6
    with pytest.raises(ValueError):
        model.loss(xs, targets, mask=mask)
    assert unrolled == []
