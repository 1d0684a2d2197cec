"""Every op's forward against numpy and its backward against finite differences, in float64."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor

from .helpers import check_op, make_inputs, upstream
from .op_cases import CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_matches_numpy_and_finite_differences(case):
    check_op(case)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_keeps_float32(case):
    """float32 in, float32 out, float32 gradients: no silent upcast anywhere."""
    tensors = [Tensor(a, requires_grad=True) for a in make_inputs(case, dtype=np.float32)]
    out = case.ours(*tensors)
    assert out.dtype == np.float32
    (out * upstream(out.shape)).sum().backward()
    for t in tensors:
        assert t.grad.dtype == np.float32 and t.grad.shape == t.shape
    expected = case.ours(*[Tensor(t.data.astype(np.float64)) for t in tensors]).data
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-5)
