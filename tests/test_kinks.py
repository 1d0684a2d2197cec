"""Gradients where an op has a kink or a tie, which finite differences cannot check: each is
defined as torch defines it, asserted by value here, and against torch when it is installed."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor, maximum, minimum

# (what, our function, torch's, inputs, the gradient of the sum of the output for each input)
KINKS = [
    ("relu at 0 gives 0", lambda x: x.relu(), lambda x: x.relu(), [[-1.0, 0.0, 2.0]], [[0, 0, 1]]),
    ("abs at 0 gives 0", abs, abs, [[-1.0, 0.0, 2.0]], [[-1, 0, 1]]),
    ("sign is flat everywhere", lambda x: x.sign(), lambda x: x.sign(), [[-1.0, 0.0, 2.0]], [[0, 0, 0]]),
    ("clamp passes the gradient at its bounds", lambda x: x.clamp(-0.5, 0.5), lambda x: x.clamp(-0.5, 0.5),
     [[-1.0, -0.5, 0.0, 0.5, 1.0]], [[0, 1, 1, 1, 0]]),
    ("maximum splits a tie in halves", maximum, lambda a, b: a.maximum(b),
     [[1.0, 2.0, 3.0], [1.0, 5.0, 0.0]], [[0.5, 0, 1], [0.5, 1, 0]]),
    ("minimum splits a tie in halves", minimum, lambda a, b: a.minimum(b),
     [[1.0, 2.0, 3.0], [1.0, 5.0, 0.0]], [[0.5, 1, 0], [0.5, 0, 1]]),
    ("a broadcast tie adds its halves", maximum, lambda a, b: a.maximum(b),
     [[[1.0, 2.0], [1.0, 0.0]], 1.0], [[[0.5, 1], [0.5, 0]], 2]),
    ("max shares a tie of three evenly", lambda x: x.max(), lambda x: x.amax(), [[1.0, 3.0, 3.0, 3.0]],
     [[0, 1 / 3, 1 / 3, 1 / 3]]),
    ("max along an axis shares each row's tie", lambda x: x.max(axis=1), lambda x: x.amax(dim=1),
     [[[2.0, 2.0, 1.0], [0.0, 5.0, 5.0]]], [[[0.5, 0.5, 0], [0, 0.5, 0.5]]]),
    ("min shares a tie", lambda x: x.min(axis=0), lambda x: x.amin(dim=0), [[[1.0, 2.0], [1.0, 0.0]]],
     [[[0.5, 0], [0.5, 1]]]),
    ("x ** y at x = 0: dz/dy is 0, not NaN", lambda x, y: x ** y, lambda x, y: x ** y,
     [[0.0, 2.0], [2.0, 3.0]], [[0, 12], [0, 8 * np.log(2)]]),
    ("x ** y at x < 0: dz/dy is NaN, without a warning", lambda x, y: x ** y, lambda x, y: x ** y,
     [[-2.0], [2.0]], [[-4], [np.nan]]),
    ("x ** 0 is flat, even at x = 0", lambda x: x ** 0, lambda x: x ** 0, [[0.0, 2.0]], [[0, 0]]),
]


def _ours(fn, inputs):
    tensors = [Tensor(np.array(v), requires_grad=True) for v in inputs]
    fn(*tensors).sum().backward()
    return [t.grad for t in tensors]


@pytest.mark.parametrize("what, ours, theirs, inputs, expected", KINKS, ids=[k[0] for k in KINKS])
def test_gradients_at_kinks_and_ties_are_torchs(what, ours, theirs, inputs, expected):
    for grad, want in zip(_ours(ours, inputs), expected):
        np.testing.assert_allclose(grad, want, rtol=1e-15, atol=0)


@pytest.mark.parametrize("what, ours, theirs, inputs, expected", KINKS, ids=[k[0] for k in KINKS])
def test_torch_agrees_at_kinks_and_ties(what, ours, theirs, inputs, expected):
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(np.array(v), requires_grad=True) for v in inputs]
    theirs(*tensors).sum().backward()
    for grad, t in zip(_ours(ours, inputs), tensors):
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-15, atol=0)


def test_a_constant_tensor_exponent_on_negative_bases_gives_the_base_its_gradient_quietly():
    x = Tensor([-1.5, -2.0], requires_grad=True)
    (x ** Tensor([2.0, 3.0])).sum().backward()       # ln x is never taken of a negative number
    np.testing.assert_allclose(x.grad, [2 * -1.5, 3 * 4.0], rtol=1e-15)
