"""The differentiable ops: one small class each, forward and backward side by side.

forward gets numpy arrays and keeps (in __slots__) only what backward needs; backward gets
dL/d(output) and returns dL/d(input) for each input, summed back to that input's shape.
"""
import math

import numpy as np

from .tensor import Function, Product, Scatter, Tensor, _lift


def unbroadcast(grad, like):
    """Sum `grad` over the axes numpy broadcasting added or stretched, to `like`'s shape and dtype.

    Broadcasting copies an input along those axes, so its gradient is the sum of the copies.
    """
    if grad.shape != like.shape:
        extra = grad.ndim - like.ndim
        stretched = tuple(i + extra for i, n in enumerate(like.shape) if n == 1 and grad.shape[i + extra] != 1)
        grad = grad.sum(axis=tuple(range(extra)) + stretched, keepdims=True)
        grad = grad.reshape(like.shape)
    return grad if grad.dtype == like.dtype else grad.astype(like.dtype)


def _broadcast_error(name, x, y):
    return ValueError(f"{name}: shapes {x.shape} and {y.shape} cannot be broadcast together "
                      f"(numpy rules: trailing dimensions must be equal or 1)")


# --- element-wise binary ops ---------------------------------------------------------

class Add(Function):
    """z = x + y;  dz/dx = 1, dz/dy = 1."""
    __slots__ = ("x", "y")
    name = "add"

    def forward(self, x, y):
        self.x, self.y = x, y
        try:
            return x + y
        except ValueError:
            raise _broadcast_error(self.name, x, y) from None

    def backward(self, g):
        return unbroadcast(g, self.x), unbroadcast(g, self.y)


class Sub(Function):
    """z = x − y;  dz/dx = 1, dz/dy = −1."""
    __slots__ = ("x", "y")
    name = "sub"

    def forward(self, x, y):
        self.x, self.y = x, y
        try:
            return x - y
        except ValueError:
            raise _broadcast_error(self.name, x, y) from None

    def backward(self, g):
        return unbroadcast(g, self.x), unbroadcast(-g, self.y)


class Mul(Function):
    """z = x ⊗ y;  dz/dx = y, dz/dy = x."""
    __slots__ = ("x", "y")
    name = "mul"

    def forward(self, x, y):
        self.x, self.y = x, y
        try:
            return x * y
        except ValueError:
            raise _broadcast_error(self.name, x, y) from None

    def backward(self, g):
        x_in, y_in = self.parents
        return (unbroadcast(g * self.y, self.x) if x_in.requires_grad else None,
                unbroadcast(g * self.x, self.y) if y_in.requires_grad else None)


class Div(Function):
    """z = x / y;  dz/dx = 1/y, dz/dy = −x/y² = −z/y."""
    __slots__ = ("x", "y", "z")
    name = "div"

    def forward(self, x, y):
        self.x, self.y = x, y
        try:
            self.z = x / y
        except ValueError:
            raise _broadcast_error(self.name, x, y) from None
        return self.z

    def backward(self, g):
        g_over_y = g / self.y
        return unbroadcast(g_over_y, self.x), unbroadcast(-g_over_y * self.z, self.y)


class MatMul(Function):
    """z = x @ y;  dL/dx = g @ yᵀ, dL/dy = xᵀ @ g (numpy's rules for 1-D operands)."""
    __slots__ = ("x", "y")
    name = "matmul"

    def forward(self, x, y):
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(f"{self.name}: operands need at least 1 dimension; got shapes {x.shape} "
                             f"and {y.shape} (use * to scale by a scalar)")
        if x.shape[-1] != y.shape[-2 if y.ndim > 1 else 0]:
            raise ValueError(f"{self.name}: shapes {x.shape} and {y.shape} do not align: the last "
                             f"dimension of the first must equal the "
                             f"{'second-to-last' if y.ndim > 1 else 'only'} dimension of the second")
        self.x, self.y = x, y
        try:
            return x @ y
        except ValueError:   # batch dimensions that do not broadcast
            raise _broadcast_error(self.name, x, y) from None

    def backward(self, g):
        x, y = self.x, self.y
        x_in, y_in = self.parents[0], self.parents[1]
        if y.ndim == 2 and x.ndim <= 2:   # the common case, without the general reshaping
            dx = _left_gradient(g, y, x, x_in) if x_in.requires_grad else None
            if not y_in.requires_grad:
                return dx, None
            # dL/dy = xᵀg handed over unmultiplied: a weight used at every step gathers the
            # factors of many steps and multiplies them out together (Products, in tensor.py).
            return dx, Product(x if x.ndim == 2 else x[None, :], g if g.ndim == 2 else g[None, :])
        # A 1-D x acts as a row (1, n) and a 1-D y as a column (n, 1), whose extra axis
        # the product dropped; put those axes back into g, then use the 2-D formulas.
        if y.ndim == 1:
            g, y = g[..., None], y[:, None]
        if x.ndim == 1:
            g, x = np.expand_dims(g, -2), x[None, :]
        dx = unbroadcast(g @ np.swapaxes(y, -1, -2), x).reshape(self.x.shape) if x_in.requires_grad else None
        dy = unbroadcast(np.swapaxes(x, -1, -2) @ g, y).reshape(self.y.shape) if y_in.requires_grad else None
        return dx, dy


class Affine(Function):
    """z = x @ W + b, a layer's W X_t + b as one op (x (n,) or (B, n), W (n, m), b (m,));
    dL/dx = g Wᵀ, dL/dW = xᵀ g, dL/db = Σ_rows g. One node instead of a matmul and an add."""
    __slots__ = ("x", "w")
    name = "affine"

    def forward(self, x, w, b):
        if w.ndim != 2 or x.ndim not in (1, 2) or b.shape != w.shape[1:]:
            raise ValueError(f"affine: x @ W + b needs x (n,) or (B, n), W (n, m) and b (m,); got "
                             f"shapes {x.shape}, {w.shape} and {b.shape}")
        if x.shape[-1] != w.shape[0]:
            raise ValueError(f"affine: shapes {x.shape} and {w.shape} do not align: the last dimension "
                             f"of x must equal the first of W")
        self.x, self.w = x, w
        z = x @ w
        if b.dtype != z.dtype and np.result_type(z, b) != z.dtype:   # b promotes, as in x @ W + b
            return z + b
        z += b                       # z is the matmul's fresh result: add in place
        return z

    def backward(self, g):
        x, w = self.x, self.w
        x_in, w_in, b_in = self.parents
        rows = g if g.ndim == 2 else g[None, :]
        return (_left_gradient(g, w, x, x_in) if x_in.requires_grad else None,
                Product(x if x.ndim == 2 else x[None, :], rows) if w_in.requires_grad else None,
                (rows[0] if len(rows) == 1 else rows.sum(axis=0)) if b_in.requires_grad else None)


def affine(x, w, b):
    """x @ w + b as one op (a Linear layer, or an LSTM's fused gates W X_t + b)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"affine: x must be a Tensor; got {type(x).__name__}")
    return Affine.apply(x, _lift(w, x), _lift(b, x))


def _left_gradient(g, y, x, x_in):
    """dL/dx = g @ yᵀ, computing only the columns some input of x needs.

    An LSTM step's X_t = [HS_{t−1}; x_t] is a concat, and when x_t is data its columns'
    gradient goes nowhere: skipping them saves a third of this product for I = H/2.
    """
    fn = x_in._fn
    if fn.__class__ is Concat and x.ndim == 2 and fn.axis == 1:
        span = fn.span_needing_grad()
        if span is not None:
            dx = np.zeros(x.shape, dtype=x.dtype)     # the other columns' gradient goes nowhere
            dx[:, span] = g @ y[span].T
            return dx
    return unbroadcast(g @ y.T, x)


# --- element-wise unary ops ----------------------------------------------------------

class Neg(Function):
    """z = −x;  dz/dx = −1."""
    __slots__ = ()
    name = "neg"

    def forward(self, x):
        return -x

    def backward(self, g):
        return (-g,)


class Sigmoid(Function):
    """z = σ(x) = 1/(1+e^−x);  dz/dx = z(1 − z)."""
    __slots__ = ("z",)
    name = "sigmoid"

    def forward(self, x):
        # σ(x) = ½ + ½·tanh(x/2): the same function, without exp's overflow for x < −709.
        z = np.multiply(x, 0.5)
        np.tanh(z, out=z)
        z *= 0.5
        z += 0.5
        self.z = z
        return z

    def backward(self, g):
        z = self.z
        return (g * z * (1 - z),)


class Tanh(Function):
    """z = tanh(x);  dz/dx = 1 − z²."""
    __slots__ = ("z",)
    name = "tanh"

    def forward(self, x):
        self.z = np.tanh(x)
        return self.z

    def backward(self, g):
        z = self.z
        return (g * (1 - z * z),)


class Exp(Function):
    """z = eˣ;  dz/dx = z."""
    __slots__ = ("z",)
    name = "exp"

    def forward(self, x):
        self.z = np.exp(x)
        return self.z

    def backward(self, g):
        return (g * self.z,)


class Log(Function):
    """z = ln x;  dz/dx = 1/x."""
    __slots__ = ("x",)
    name = "log"

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, g):
        return (g / self.x,)


# --- reductions ----------------------------------------------------------------------

def _axis(name, axis, ndim):
    """Validate one axis and make it non-negative."""
    if axis.__class__ is int and -ndim <= axis < ndim:   # the common case, checked cheaply
        return axis % ndim
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{name}: axis must be an int; got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor with {ndim} "
                         f"dimension{'s' * (ndim != 1)}")
    return int(axis) % ndim


def _axes(name, axis, ndim):
    """Normalise `axis` (None, int or tuple of ints) to a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if axis.__class__ is int and -ndim <= axis < ndim:   # the common case, checked cheaply
        return (axis % ndim,)
    out = [_axis(name, a, ndim) for a in (axis if isinstance(axis, tuple) else (axis,))]
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: axis {axis!r} names a dimension twice")
    return tuple(sorted(out))


class Sum(Function):
    """z = Σ x over `axis`;  dz/dx = 1, so g is copied back along the summed axes."""
    __slots__ = ("shape", "kept")
    name = "sum"

    def forward(self, x, axis=None, keepdims=False):
        if keepdims is not True and keepdims is not False:
            raise TypeError(f"{self.name}: keepdims must be True or False; got {keepdims!r}")
        axes = _axes(self.name, axis, x.ndim)
        self.shape = x.shape
        self.kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))   # keepdims shape
        return x.sum(axis=axes, keepdims=keepdims)

    def backward(self, g):
        grad = np.empty(self.shape, dtype=g.dtype)
        grad[...] = g.reshape(self.kept)     # broadcast along the summed axes
        return (grad,)


class Mean(Sum):
    """z = (1/n) Σ x over `axis` (n elements per output);  dz/dx = 1/n."""
    __slots__ = ("n",)
    name = "mean"

    def forward(self, x, axis=None, keepdims=False):
        total = super().forward(x, axis, keepdims)
        self.n = x.size // max(1, math.prod(self.kept))
        return total / self.n if self.n else total * np.nan   # the mean of nothing is NaN

    def backward(self, g):
        return super().backward(g / self.n)


# --- shape ops -----------------------------------------------------------------------

class Reshape(Function):
    """z = x viewed with a new shape;  the gradient is g viewed with x's shape."""
    __slots__ = ("shape",)
    name = "reshape"

    def forward(self, x, shape):
        self.shape = x.shape
        if shape is None or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                                    for n in (shape if isinstance(shape, tuple) else (shape,))):
            raise TypeError(f"reshape: the new shape must be ints; got {shape!r}")
        try:
            return x.reshape(shape)
        except (ValueError, TypeError):
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} "
                             f"elements) into {shape!r}") from None

    def backward(self, g):
        return (g.reshape(self.shape),)


class Transpose(Function):
    """z = x with its axes permuted (reversed by default);  the gradient is g permuted back."""
    __slots__ = ("axes",)
    name = "transpose"

    def forward(self, x, axes=None):
        if axes is not None and (len(axes) != x.ndim or _axes(self.name, axes, x.ndim) != tuple(range(x.ndim))):
            raise ValueError(f"transpose: axes {tuple(axes)} are not a permutation of the "
                             f"{x.ndim} axes of a tensor of shape {x.shape}")
        self.axes = None if axes is None else tuple(a % x.ndim for a in axes)
        return x.transpose(self.axes)

    def backward(self, g):
        if self.axes is None:                # reversing the axes is its own inverse
            return (g.transpose(),)
        inverse = sorted(range(len(self.axes)), key=self.axes.__getitem__)
        return (g.transpose(inverse),)


def _is_basic(index):
    """True for numpy 'basic' indexing (ints, slices, None, ...), which picks each element once."""
    for i in (index if index.__class__ is tuple else (index,)):
        if not (i.__class__ is slice or i.__class__ is int or i is Ellipsis or i is None
                or isinstance(i, np.integer)):
            return False
    return True


class GetItem(Function):
    """z = x[index];  the gradient is g at `index` and zero elsewhere (repeats add up)."""
    __slots__ = ("shape", "index", "basic")
    name = "getitem"

    def forward(self, x, index):
        self.shape, self.index, self.basic = x.shape, index, _is_basic(index)
        if not self.basic and any(isinstance(i, Tensor) for i in (index if index.__class__ is tuple else (index,))):
            raise TypeError("index a Tensor with ints, slices or integer numpy arrays, not with a "
                            "Tensor (a Tensor holds floats); use t[idx.numpy().astype(int)]")
        try:
            out = x[index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (tensor of shape {x.shape}, index {index!r})") from None
        except (TypeError, ValueError) as e:
            raise type(e)(f"getitem: cannot index a tensor of shape {x.shape} with {index!r}: {e}") from None
        return out

    def backward(self, g):
        return (Scatter(self.index, g, self.shape, self.basic),)


class Concat(Function):
    """z = [x₁; x₂; …] along `axis`;  each input's gradient is its slice of g."""
    __slots__ = ("axis", "ends")
    name = "concat"

    def forward(self, *xs, axis=0):
        if axis.__class__ is not int:
            _check_axis_type(self.name, axis)
        try:
            out = np.concatenate(xs, axis=axis)
        except (ValueError, TypeError):      # numpy checks the shapes; we explain them
            raise ValueError(f"concat: shapes {', '.join(str(x.shape) for x in xs)} cannot be "
                             f"joined along axis {axis!r}: all need the same number of dimensions "
                             f"(at least 1), the axis must exist, and the sizes must be equal "
                             f"except on that axis") from None
        self.axis = axis % out.ndim
        self.ends, end = [], 0
        for x in xs:
            end += x.shape[self.axis]
            self.ends.append(end)
        return out

    def span_needing_grad(self):
        """The slice along `axis` from the first to the last input that needs a gradient,
        or None when that is all of them."""
        needs = [p.requires_grad for p in self.parents]
        first, last = needs.index(True), len(needs) - 1 - needs[::-1].index(True)
        if first == 0 and last == len(needs) - 1:
            return None
        return slice(self.ends[first - 1] if first else 0, self.ends[last])

    def backward(self, g):
        before = (slice(None),) * self.axis
        start, grads = 0, []
        for end in self.ends:
            grads.append(g[before + (slice(start, end),)])
            start = end
        return tuple(grads)


def concat(tensors, axis=0):
    """Join tensors along an existing axis (numpy's concatenate), differentiably."""
    return _join(Concat, tensors, axis)


def _check_axis_type(name, axis):
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{name}: axis must be an int; got {axis!r}")


def _join(op, tensors, axis):
    """Apply Concat or Stack to a sequence of Tensors (numbers and arrays become constants)."""
    if isinstance(tensors, (Tensor, np.ndarray)):
        raise TypeError(f"{op.name}: needs a list or tuple of tensors; got a single "
                        f"{type(tensors).__name__} (write {op.name}([a, b]))")
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op.name}: needs at least one tensor; got an empty sequence")
    for like in tensors:             # the first Tensor gives the constants their dtype
        if isinstance(like, Tensor):
            break
    else:
        raise TypeError(f"{op.name}: needs at least one Tensor among its inputs")
    return op.apply(*[t if t.__class__ is Tensor else _lift(t, like) for t in tensors], axis=axis)


class Stack(Function):
    """z = [x₁, x₂, …] along a new `axis`;  each input's gradient is g indexed at its position."""
    __slots__ = ("axis",)
    name = "stack"

    def forward(self, *xs, axis=0):
        _check_axis_type(self.name, axis)
        try:
            out = np.stack(xs, axis=axis)
        except (ValueError, TypeError):
            raise ValueError(f"stack: shapes {', '.join(str(x.shape) for x in xs)} cannot be "
                             f"stacked along axis {axis!r}: all must have the same shape, and the "
                             f"new axis must be within 0..{xs[0].ndim} (or negative)") from None
        self.axis = axis % out.ndim
        return out

    def backward(self, g):
        before = (slice(None),) * self.axis
        return tuple(g[before + (i,)] for i in range(g.shape[self.axis]))


def stack(tensors, axis=0):
    """Join same-shaped tensors along a new axis (numpy's stack), differentiably."""
    return _join(Stack, tensors, axis)


# --- softmax and cross-entropy -------------------------------------------------------

def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)     # subtract the max: exp cannot overflow
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _classes(name, x, axis):
    axis = _axis(name, axis, x.ndim)
    if x.shape[axis] == 0:
        raise ValueError(f"{name}: axis {axis} of a tensor of shape {x.shape} is empty: there is nothing "
                         f"to normalise over")
    return axis


class Softmax(Function):
    """s = eˣ / Σ eˣ along `axis`;  dL/dx = s ⊗ (g − Σ g⊗s)."""
    __slots__ = ("s", "axis")
    name = "softmax"

    def forward(self, x, axis=-1):
        self.axis = _classes(self.name, x, axis)
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))   # shifted: exp cannot overflow
        e /= e.sum(axis=self.axis, keepdims=True)
        self.s = e
        return e

    def backward(self, g):
        s = self.s
        return (s * (g - (g * s).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    """z = x − log Σ eˣ along `axis`;  dL/dx = g − softmax(x) ⊗ Σ g."""
    __slots__ = ("z", "axis")
    name = "log_softmax"

    def forward(self, x, axis=-1):
        self.axis = _classes(self.name, x, axis)
        self.z = _log_softmax(x, self.axis)
        return self.z

    def backward(self, g):
        return (g - np.exp(self.z) * g.sum(axis=self.axis, keepdims=True),)


class CrossEntropy(Function):
    """E = −Σ_k y_k log softmax(z)_k per row of logits z (classes on the last axis);
    dE/dz = softmax(z)·Σ_k y_k − y, which is ŷ − y for a one-hot y."""
    __slots__ = ("probs", "y")
    name = "cross_entropy"

    def forward(self, z, target):
        log_probs = _log_softmax(z, -1)
        self.probs, self.y = np.exp(log_probs), target
        return -(target * log_probs).sum(axis=-1)

    def backward(self, g):
        y = self.y
        return (g[..., None] * (self.probs * y.sum(axis=-1, keepdims=True) - y),)


def cross_entropy(logits, target, reduction="mean"):
    """Softmax cross-entropy of `logits` (..., C) against class indices (...) or one-hot (..., C).

    reduction: "none" gives one loss per row, "sum" their sum, "mean" their mean.
    """
    if not isinstance(logits, Tensor):
        raise TypeError(f"cross_entropy: logits must be a Tensor; got {type(logits).__name__}")
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"cross_entropy: reduction must be 'none', 'sum' or 'mean'; got {reduction!r}")
    losses = CrossEntropy.apply(logits, target=_target_distribution(logits, target))
    return losses if reduction == "none" else losses.sum() if reduction == "sum" else losses.mean()


def _target_distribution(logits, target):
    """Class indices become one-hot rows; one-hot (or any distribution) rows are checked."""
    shape, dtype = logits.data.shape, logits.data.dtype
    if logits.data.ndim == 0:
        raise ValueError("cross_entropy: logits need a class axis (the last); got a scalar")
    try:
        target = np.asarray(target.data if isinstance(target, Tensor) else target)
    except ValueError:
        raise ValueError("cross_entropy: targets must be a rectangular array; got ragged nested sequences") from None
    classes = shape[-1]
    if classes == 0:
        raise ValueError(f"cross_entropy: logits of shape {shape} have no classes (the last axis is empty)")
    if target.shape == shape[:-1]:
        if target.dtype.kind not in "iu" and not (target.dtype.kind == "f" and np.all(target == np.round(target))):
            raise TypeError(f"cross_entropy: class indices must be integers; got dtype {target.dtype}")
        if target.size and (target.min() < 0 or target.max() >= classes):
            bad = target[(target < 0) | (target >= classes)].flat[0]
            raise ValueError(f"cross_entropy: class index {bad} is out of range for {classes} "
                             f"classes (expected 0 to {classes - 1})")
        return np.eye(classes, dtype=dtype)[target.astype(np.intp)]
    if target.shape == shape:
        if target.dtype.kind not in "iubf":
            raise TypeError(f"cross_entropy: one-hot targets must be numbers; got dtype {target.dtype}")
        if not np.all(np.isfinite(target)) or np.any(target < 0):
            raise ValueError("cross_entropy: one-hot (or probability) targets must be finite and non-negative")
        return target.astype(dtype)
    raise ValueError(f"cross_entropy: target of shape {target.shape} fits neither class indices "
                     f"{shape[:-1]} nor one-hot {shape} for logits of shape {shape}")
