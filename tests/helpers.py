"""The one oracle for op tests: forward against numpy, backward against finite differences
(always), and both against torch (when it is importable)."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.gradcheck import check_gradients


def make_inputs(case, dtype=np.float64, seed=0):
    """Random inputs of the case's shapes; `positive` cases get values in [0.5, 2)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in case.shapes]
    if case.positive:
        arrays = [0.5 + 1.5 * rng.random(shape) for shape in case.shapes]
    return [a.astype(dtype) for a in arrays]


def upstream(shape, seed=1):
    """A non-uniform upstream gradient: with L = Σ out ⊗ R a wrong transpose or a missing
    broadcast sum cannot hide behind a plain sum of ones."""
    return np.random.default_rng(seed).standard_normal(shape) + 0.5


def check_op(case, seed=0):
    """Forward equals the numpy reference; every input's gradient equals finite differences."""
    arrays = make_inputs(case, seed=seed)
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = case.ours(*tensors)
    np.testing.assert_allclose(out.data, case.numpy(*arrays), rtol=1e-12, atol=1e-12)
    R = upstream(out.shape)
    for t, (autodiff, numeric) in zip(tensors,
                                      check_gradients(lambda: (case.ours(*tensors) * R).sum(), tensors)):
        assert autodiff.shape == t.shape and autodiff.dtype == t.dtype
        np.testing.assert_allclose(autodiff, numeric, rtol=1e-6, atol=1e-8)


def check_op_against_torch(case, torch, seed=0):
    """Forward and every input gradient equal torch's to 1e-10 in float64."""
    arrays = make_inputs(case, seed=seed)
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_ours, out_theirs = case.ours(*ours), case.torch(*theirs)
    np.testing.assert_allclose(out_ours.data, out_theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
    R = upstream(out_ours.shape)
    (out_ours * R).sum().backward()
    (out_theirs * torch.tensor(R)).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-10)


def assert_clear_error(call, exc, pieces):
    """`call()` raises `exc` whose message contains every piece: what, expected, received."""
    with pytest.raises(exc) as info:
        call()
    for piece in pieces:
        assert piece in str(info.value), f"{piece!r} not in {str(info.value)!r}"
