"""The op table against PyTorch, an optional dependency: forward and gradients to 1e-10."""
import pytest

from .helpers import check_op_against_torch
from .op_cases import CASES

torch = pytest.importorskip("torch")

TORCH_CASES = [c for c in CASES if c.torch is not None]


@pytest.mark.parametrize("case", TORCH_CASES, ids=[c.id for c in TORCH_CASES])
def test_op_matches_torch(case):
    check_op_against_torch(case, torch)
