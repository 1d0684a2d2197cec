"""Optimizers against one and two steps computed by hand; gradient clipping."""
import math

import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.optim import SGD, Adam, clip_grad_norm

from .helpers import assert_clear_error


def param(values, grad):
    p = Tensor(np.array(values, dtype=float), requires_grad=True)
    p.grad = np.array(grad, dtype=float)
    return p


def test_sgd_is_the_lectures_update():
    p = param([1.0, -2.0], [0.5, 0.25])
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [1.0 - 0.05, -2.0 - 0.025])


def test_sgd_momentum_two_steps():
    p = param([1.0], [2.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step()                          # v = 2;            w = 1 − 0.2 = 0.8
    p.grad = np.array([1.0])
    opt.step()                          # v = 0.9·2 + 1 = 2.8; w = 0.8 − 0.28 = 0.52
    np.testing.assert_allclose(p.data, [0.52])


def test_adam_two_steps_by_hand():
    p = param([1.0, 0.0], [0.5, -2.0])
    opt = Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    g1 = np.array([0.5, -2.0])
    opt.step()
    # step 1: m̂ = g, v̂ = g², so the step is lr·g/(|g| + eps) ≈ lr·sign(g)
    expected = np.array([1.0, 0.0]) - 0.01 * g1 / (np.abs(g1) + 1e-8)
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)
    g2 = np.array([-1.0, 1.0])
    p.grad = g2.copy()
    opt.step()
    m = 0.9 * (0.1 * g1) + 0.1 * g2
    v = 0.999 * (0.001 * g1 ** 2) + 0.001 * g2 ** 2
    m_hat, v_hat = m / (1 - 0.9 ** 2), v / (1 - 0.999 ** 2)
    expected = expected - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)


def test_parameters_without_a_gradient_are_left_alone():
    p, q = param([1.0], [1.0]), param([5.0], [1.0])
    q.grad = None
    Adam([p, q], lr=0.1).step()
    SGD([p, q], lr=0.1, momentum=0.5).step()
    assert q.data[0] == 5.0 and p.data[0] != 1.0


def test_clipping_scales_all_gradients_together_and_returns_the_norm_before():
    a, b = param([0.0], [3.0]), param([0.0, 0.0], [0.0, 4.0])
    norm = clip_grad_norm([a, b], max_norm=1.0)
    assert norm == pytest.approx(5.0)
    total = math.sqrt(float(a.grad @ a.grad + b.grad @ b.grad))
    assert total == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad / b.grad[1], [3 / 4])     # the direction is kept
    small = param([0.0], [0.5])
    assert clip_grad_norm([small], 1.0) == pytest.approx(0.5) and small.grad[0] == 0.5


def test_a_non_finite_gradient_is_reported_not_spread():
    p = param([0.0, 0.0], [np.inf, 1.0])
    assert math.isinf(clip_grad_norm([p], 1.0))
    assert p.grad[1] == 1.0


@pytest.mark.parametrize("call, exc, pieces", [
    (lambda: SGD([param([1.0], [1.0])], lr=0), ValueError, ["SGD", "lr", "positive", "0"]),
    (lambda: Adam([param([1.0], [1.0])], lr=-1e-3), ValueError, ["Adam", "lr", "-0.001"]),
    (lambda: SGD([param([1.0], [1.0])], lr=0.1, momentum=1.0), ValueError, ["momentum", "[0, 1)"]),
    (lambda: Adam([param([1.0], [1.0])], betas=(0.9,)), ValueError, ["betas", "two numbers"]),
    (lambda: SGD([], lr=0.1), ValueError, ["SGD", "no parameters"]),
    (lambda: SGD([np.ones(2)], lr=0.1), TypeError, ["Tensors", "ndarray"]),
    (lambda: clip_grad_norm([param([1.0], [1.0])], 0), ValueError, ["max_norm", "positive"]),
])
def test_bad_settings(call, exc, pieces):
    assert_clear_error(call, exc, pieces)
