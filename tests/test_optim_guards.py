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
