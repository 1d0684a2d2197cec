"""tinygrad_lstm: a small, readable, fast autodiff engine on numpy, with an LSTM built from its ops."""
from .ops import affine, concat, cross_entropy, maximum, minimum, pad, stack, where
from .tensor import Tensor, detect_anomaly, is_grad_enabled, no_grad, scope
# last: from here on the name `tensor` is this factory, not the module tensor.py (as in torch), which
# stays importable as `from tinygrad_lstm.tensor import ...`
from .factories import ones, randn, tensor, zeros

__version__ = "0.1.0"
__all__ = ["Tensor", "affine", "concat", "cross_entropy", "detect_anomaly", "is_grad_enabled", "maximum",
           "minimum", "no_grad", "ones", "pad", "randn", "scope", "stack", "tensor", "where", "zeros"]
