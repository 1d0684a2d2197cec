"""Every op's forward against numpy and its backward against finite differences, in float64;
float32 kept; and the rules run on the compiled path's symbolic arrays."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.compiled import _run_backward, _run_forward
from tinygrad_lstm.trace import Builder

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


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_rules_run_on_symbolic_arrays(case):
    """The compiled path runs each op's own rules on symbolic arrays (trace.py): every rule in
    the table must use only numpy calls a Sym records, and give eager's values there."""
    tensors = [Tensor(a, requires_grad=True) for a in make_inputs(case)]
    out = case.ours(*tensors)
    R = upstream(out.shape)
    (out * R).sum().backward()
    with Builder("f") as forward:
        leaves = {t: forward.leaf(t.data) for t in tensors}
        values = _run_forward([out], leaves)          # raises if a value differs from eager's
    with Builder("b") as backward:
        grads = _run_backward([out], {out: backward.leaf(R.astype(out.dtype))}, values)
    for t in tensors:
        assert grads[t].shape == t.shape and grads[t].dtype == t.dtype
        np.testing.assert_allclose(grads[t].value, t.grad, rtol=1e-12, atol=1e-12)
