"""Finite differences: the gradient nobody derived, to check the ones somebody did.

    ∂f/∂x_j ≈ (f(x + ε e_j) − f(x − ε e_j)) / 2ε        (central difference, error O(ε²))

always evaluated in float64, where ε = 1e-6 leaves a truncation error near 1e-12 and a
rounding error near 1e-10; in float32 the same quotient would be mostly noise.
"""
import numpy as np

from .tensor import Tensor, no_grad

EPS = 1e-6


def numerical_gradients(f, tensors, eps=EPS):
    """d f() / d t for each tensor t, by central differences in float64.

    `f` takes no arguments and returns a Tensor with one element, computed from `tensors`
    (a closure: `lambda: model.loss(xs, ys)`). Each tensor's data is perturbed one element
    at a time and restored afterwards; during the check it is held as float64.
    """
    tensors = list(tensors)
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"numerical_gradients: expected Tensors; got {type(t).__name__}")
    originals = [t.data for t in tensors]
    try:
        for t in tensors:
            t.data = t.data.astype(np.float64)   # a copy: the original is never touched
        return [_central_differences(f, t, eps) for t in tensors]
    finally:
        for t, data in zip(tensors, originals):
            t.data = data


def _central_differences(f, t, eps):
    x = t.data
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)   # views: writing them writes x, grad
    with no_grad():
        for j in range(flat_x.size):
            saved = flat_x[j]
            flat_x[j] = saved + eps
            plus = _scalar(f())
            flat_x[j] = saved - eps
            minus = _scalar(f())
            flat_x[j] = saved
            flat_grad[j] = (plus - minus) / (2 * eps)
    return grad


def _scalar(out):
    data = out.data if isinstance(out, Tensor) else np.asarray(out)
    if data.size != 1:
        raise ValueError(f"numerical_gradients: f() must return one number; got shape {data.shape}")
    return float(data.reshape(()))


def rel_error(a, b):
    """The largest element-wise |a − b| / max(1e-8, |a| + |b|): 0 when equal, 1 when opposite."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes {a.shape} and {b.shape} differ")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def check_gradients(f, tensors, eps=EPS):
    """Autodiff against finite differences for a scalar f() of `tensors`.

    Returns [(autodiff gradient, numerical gradient), ...], one pair per tensor. The
    tensors' `.grad` is left as it was.
    """
    tensors = list(tensors)
    saved = [t.grad for t in tensors]
    try:
        for t in tensors:
            t.grad = None
        f().backward()
        autodiff = [t.grad if t.grad is not None else np.zeros_like(t.data) for t in tensors]
    finally:
        for t, grad in zip(tensors, saved):
            t.grad = grad
    return list(zip(autodiff, numerical_gradients(f, tensors, eps)))
