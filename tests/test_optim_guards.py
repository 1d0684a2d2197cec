"""Optimizers refuse a parameter given twice: it would be updated (or clipped) twice per step."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.nn import LSTM
from tinygrad_lstm.optim import SGD, Adam, clip_grad_norm


def param(values, grad=None, name=None):
    p = Tensor(np.array(values, dtype=float), requires_grad=True, name=name)
    p.grad = None if grad is None else np.array(grad, dtype=float)
    return p


def model_twice():
    params = LSTM(3, 4, 2, seed=0).parameters()
    return params + params, len(params), params[0].name


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1), lambda ps: SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: Adam(ps, lr=0.01), lambda ps: clip_grad_norm(ps, 1.0)],
                         ids=["SGD", "SGD-momentum", "Adam", "clip_grad_norm"])
def test_the_same_tensor_twice_is_an_error_naming_both_positions(make):
    a, b = param([1.0, 2.0], name="W_f"), param([3.0])
    with pytest.raises(ValueError) as info:
        make([a, b, a])
    message = str(info.value)
    assert "parameter 2 is the same tensor as parameter 0 (W_f)" in message
    assert "give each parameter once" in message
    with pytest.raises(ValueError, match=r"parameter 1 is the same tensor as parameter 0; give each"):
        make([b, b])                                        # unnamed: no name in brackets


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_the_message_names_the_optimizer(cls):
    p = param([1.0])
    with pytest.raises(ValueError, match=rf"^{cls.__name__}: parameter 1 is the same tensor as parameter 0"):
        cls([p, p], lr=0.1)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_a_model_s_parameters_given_twice(cls):
    params, n, name = model_twice()
    with pytest.raises(ValueError, match=rf"{cls.__name__}: parameter {n} is the same tensor as parameter 0 "
                                         rf"\({name}\)"):
        cls(params, lr=0.1)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_a_generator_with_a_repeat_is_caught_too(cls):
    a, b = param([1.0]), param([2.0])
    with pytest.raises(ValueError, match="parameter 3 is the same tensor as parameter 1"):
        cls((t for t in [a, b, param([0.0]), b]), lr=0.1)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_named_pairs_are_still_refused_as_before(cls):
    model = LSTM(3, 4, 2, seed=0)
    with pytest.raises(TypeError, match="parameters must be Tensors; got tuple"):
        cls(model.named_parameters(), lr=0.1)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_distinct_tensors_with_equal_values_are_fine_and_each_updated_once(cls):
    a, b = param([1.0, 2.0], [1.0, 1.0]), param([1.0, 2.0], [1.0, 1.0])
    opt = cls([a, b], lr=0.1)
    opt.step()
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_allclose(a.data, [0.9, 1.9])          # one step of 0.1 (Adam's first is lr·sign(g))


def test_a_model_s_own_parameters_and_two_models_are_fine():
    one, two = LSTM(3, 4, 2, seed=0), LSTM(3, 4, 2, seed=0)
    SGD(one.parameters(), lr=0.1)
    Adam(one.parameters() + two.parameters(), lr=0.1)        # equal values, different tensors
    SGD(iter(one.parameters()), lr=0.1)


# --- what the sweep found: bare numpy errors, and clipping that overflowed ----------------

MAKERS = {"SGD": lambda ps: SGD(ps, lr=0.1, momentum=0.9), "Adam": lambda ps: Adam(ps, lr=0.01)}


def _tensor_grad(p):
    p.grad = Tensor(np.ones(2))                # a torch habit: .grad set to a Tensor


def _reshaped(p):
    p.data = p.data.reshape(2, 1)
    p.grad = np.ones((2, 1))


def _read_only(p):
    p.data = np.broadcast_to(np.ones(1), (2,))  # a view numpy will not write into


BAD_STATE = [
    (_tensor_grad, TypeError, "has a .grad that is not a float numpy array (Tensor of dtype float64); "
                              "set p.grad = t.data.copy() for a Tensor t"),
    (_reshaped, ValueError, "had shape (2,) when the optimizer was made and has (2, 1) now; "
                            "make a new optimizer"),
    (_read_only, ValueError, "data is read-only (a broadcast or expanded view?), and a step writes it "
                             "in place"),
]


@pytest.mark.parametrize("spoil, error, words", BAD_STATE, ids=[b[0].__name__.strip("_") for b in BAD_STATE])
@pytest.mark.parametrize("name", sorted(MAKERS))
def test_a_spoilt_parameter_is_named_and_nothing_is_updated(name, spoil, error, words):
    good, bad = param([1.0, 2.0], grad=[0.5, 0.5]), param([3.0, 4.0], grad=[1.0, 1.0], name="W_f")
    opt = MAKERS[name]([good, bad])
    spoil(bad)
    before = good.data.copy()
    with pytest.raises(error) as info:
        opt.step()
    assert f"{name}.step: parameter 1 (W_f)" in str(info.value) and words in str(info.value)
    np.testing.assert_array_equal(good.data, before)


@pytest.mark.parametrize("params", [5, None, 2.0])
def test_not_a_list_of_parameters(params):
    with pytest.raises(TypeError, match=f"SGD: needs a list of parameters; got {type(params).__name__}"):
        SGD(params, lr=0.1)


def test_clip_grad_norm_refuses_a_tensor_as_grad():
    p = param([1.0, 2.0])
    p.grad = Tensor([1.0, 1.0])
    with pytest.raises(TypeError, match="every .grad must be a float numpy array; got Tensor"):
        clip_grad_norm([p], 1.0)


@pytest.mark.parametrize("dtype, big", [(np.float32, 3e19), (np.float64, 3e160)])
def test_clip_grad_norm_does_not_overflow_where_the_squares_would(dtype, big):
    """The squares of 3e19 overflow float32 (and of 3e160 float64), but the norm, 5/3 of
    `big`, does not: it is returned, and the gradients scaled to norm 1."""
    p = Tensor(np.zeros(2, dtype), requires_grad=True)
    p.grad = np.array([big, big * 4 / 3], dtype=dtype)
    norm = clip_grad_norm([p], 1.0)
    assert norm == pytest.approx(big * 5 / 3, rel=1e-6)
    np.testing.assert_allclose(p.grad, [0.6, 0.8], rtol=1e-6)
    assert p.grad.dtype == dtype


def test_clip_grad_norm_still_reports_nan_and_inf_without_scaling():
    for bad in (np.nan, np.inf):
        p = param([1.0, 2.0], grad=[bad, 1.0])
        norm = clip_grad_norm([p], 1.0)
        assert (np.isnan(norm) if np.isnan(bad) else norm == np.inf)
        assert p.grad[1] == 1.0


def test_backward_refuses_a_tensor_as_grad():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    w.grad = Tensor([0.0, 0.0])
    with pytest.raises(TypeError,
                       match=r"backward\(\): w.grad was set to a Tensor; a gradient is a numpy array"):
        (w * w).sum().backward()


@pytest.mark.parametrize("value, what", [(np.array([3]), "an array of int64"), ([1.0], "list"),
                                          (None, "NoneType"), ("1", "str")])
def test_data_must_be_a_float_array(value, what):
    w = Tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match=f"Tensor.data must be a numpy array of floats, as its gradient is; "
                                        f"got {what}: convert it"):
        w.data = value
    assert w.data.dtype == np.float64 and w.data[0] == 1.0


def test_data_of_a_scalar_takes_the_numpy_scalar_that_0d_arithmetic_gives():
    w = Tensor(2.0, requires_grad=True)
    w.data = w.data - 0.5                      # np.float64, not an ndarray
    assert isinstance(w.data, np.ndarray) and w.data.shape == () and w.data == 1.5
    w.data = 3.0
    assert w.data.dtype == np.float64 and w.data == 3.0
