"""The differentiable ops: one small class each, forward and backward side by side.

Each rule is a plain function of numpy arrays (see Function in tensor.py): forward gets the
inputs, backward gets g = dL/d(output), the output and the inputs, and returns dL/d(input)
for each input, summed back to that input's shape. The rules use numpy and nothing else
and never write into their arguments, so the compiled path can run them on symbolic arrays
to write its program (compiled.py).
"""
import functools
import math

import numpy as np

from .checks import is_real, quote, real
from .tensor import Function, Tensor, _leaf_of, _lift


def unbroadcast(grad, like):
    """Sum `grad` over the axes numpy broadcasting added or stretched, to `like`'s shape and dtype.

    Broadcasting copies an input along those axes, so its gradient is the sum of the copies.
    """
    if grad.shape != like.shape:
        extra = grad.ndim - like.ndim
        stretched = tuple(i + extra for i, n in enumerate(like.shape)
                          if n == 1 and grad.shape[i + extra] != 1)
        grad = grad.sum(axis=tuple(range(extra)) + stretched, keepdims=True).reshape(like.shape)
    return grad if grad.dtype == like.dtype else grad.astype(like.dtype)


def _broadcast(name, op, x, y):
    try:
        return op(x, y)
    except ValueError:
        raise ValueError(f"{name}: shapes {x.shape} and {y.shape} cannot be broadcast together "
                         f"(numpy rules: trailing dimensions must be equal or 1)") from None


# --- element-wise binary ops ---------------------------------------------------------

class Add(Function):
    """z = x + y;  dz/dx = 1, dz/dy = 1."""
    name = "add"
    needs_values = False

    @staticmethod
    def forward(x, y):
        return _broadcast("add", np.add, x, y)

    @staticmethod
    def backward(g, z, x, y):
        return unbroadcast(g, x), unbroadcast(g, y)


class Sub(Function):
    """z = x − y;  dz/dx = 1, dz/dy = −1."""
    name = "sub"
    needs_values = False

    @staticmethod
    def forward(x, y):
        return _broadcast("sub", np.subtract, x, y)

    @staticmethod
    def backward(g, z, x, y):
        return unbroadcast(g, x), unbroadcast(-g, y)


class Mul(Function):
    """z = x ⊗ y;  dz/dx = y, dz/dy = x."""
    name = "mul"

    @staticmethod
    def forward(x, y):
        return _broadcast("mul", np.multiply, x, y)

    @staticmethod
    def backward(g, z, x, y):
        return unbroadcast(g * y, x), unbroadcast(g * x, y)


class Div(Function):
    """z = x / y;  dz/dx = 1/y, dz/dy = −x/y² = −z/y."""
    name = "div"

    @staticmethod
    def forward(x, y):
        return _broadcast("div", np.divide, x, y)

    @staticmethod
    def backward(g, z, x, y):
        g_over_y = g / y
        return unbroadcast(g_over_y, x), unbroadcast(-g_over_y * z, y)


class Pow(Function):
    """z = xʸ, the exponent a tensor;  dz/dx = y·xʸ⁻¹, dz/dy = z·ln x.

    ln x is real only for x > 0. At x = 0, z·ln x is taken as 0 (as torch does: z is 0 there
    for y > 0); for x < 0 it is NaN (xʸ is real there only at whole y, where it has no
    derivative in y)."""
    name = "pow"

    @staticmethod
    def forward(x, y):
        return _broadcast("pow", np.power, x, y)

    @staticmethod
    def backward(g, z, x, y):
        # logs of positive numbers only: numpy would warn even when y is a constant wanting no
        # gradient; and y·xʸ⁻¹ is 0 where y = 0 (xʸ is 1 there), also at x = 0 where 0⁻¹ is inf
        ln_x = np.log(np.where(x > 0, x, np.where(x < 0, np.nan, 1)))
        with np.errstate(divide="ignore", invalid="ignore"):
            dz_dx = np.where(np.equal(y, 0), 0.0, y * np.power(x, y - 1))
        return unbroadcast(g * dz_dx, x), unbroadcast(g * z * ln_x, y)


def _winner_gradients(g, x, y, x_wins, y_wins):
    """g to whichever of x and y was picked, and half of it to each where they tie (as torch)."""
    half_at_ties = g * np.equal(x, y) / 2
    return unbroadcast(g * x_wins + half_at_ties, x), unbroadcast(g * y_wins + half_at_ties, y)


class Maximum(Function):
    """z = max(x, y) element-wise;  dz/dx = 1 where x > y, dz/dy = 1 where y > x, ½ each at a tie."""
    name = "maximum"

    @staticmethod
    def forward(x, y):
        return _broadcast("maximum", np.maximum, x, y)

    @staticmethod
    def backward(g, z, x, y):
        return _winner_gradients(g, x, y, x > y, x < y)


class Minimum(Function):
    """z = min(x, y) element-wise;  dz/dx = 1 where x < y, dz/dy = 1 where y < x, ½ each at a tie."""
    name = "minimum"

    @staticmethod
    def forward(x, y):
        return _broadcast("minimum", np.minimum, x, y)

    @staticmethod
    def backward(g, z, x, y):
        return _winner_gradients(g, x, y, x < y, x > y)


def maximum(x, y):
    """The larger of x and y element-wise, differentiably (numpy's np.maximum, torch.maximum)."""
    return _binary(Maximum, x, y)


def minimum(x, y):
    """The smaller of x and y element-wise, differentiably (numpy's np.minimum, torch.minimum)."""
    return _binary(Minimum, x, y)


def _binary(op, x, y):
    """Apply a binary op to two operands, a number or array among them becoming a constant."""
    like = x if isinstance(x, Tensor) else y
    if not isinstance(like, Tensor):
        raise TypeError(f"{op.name}: needs a Tensor among its two inputs; got {type(x).__name__} "
                        f"and {type(y).__name__}")
    return op.apply(_lift(x, like), _lift(y, like))


class MatMul(Function):
    """z = x @ y;  dL/dx = g @ yᵀ, dL/dy = xᵀ @ g (numpy's rules for 1-D operands)."""
    name = "matmul"

    @staticmethod
    def forward(x, y):
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(f"matmul: operands need at least 1 dimension; got shapes {x.shape} "
                             f"and {y.shape} (use * to scale by a scalar)")
        if x.shape[-1] != y.shape[-2 if y.ndim > 1 else 0]:
            raise ValueError(f"matmul: shapes {x.shape} and {y.shape} do not align: the last "
                             f"dimension of the first must equal the "
                             f"{'second-to-last' if y.ndim > 1 else 'only'} dimension of the second")
        return _broadcast("matmul", np.matmul, x, y)     # batch dimensions must broadcast

    @staticmethod
    def backward(g, z, x, y):
        # A 1-D x acts as a row (1, n) and a 1-D y as a column (n, 1), whose extra axis the
        # product dropped; put those axes back into g, then use the 2-D formulas.
        x2, y2 = x, y
        if y.ndim == 1:
            g, y2 = g[..., None], y[:, None]
        if x.ndim == 1:
            g, x2 = g[..., None, :], x[None, :]
        dx = unbroadcast(g @ y2.swapaxes(-1, -2), x2).reshape(x.shape)
        dy = unbroadcast(x2.swapaxes(-1, -2) @ g, y2).reshape(y.shape)
        return dx, dy


class Affine(Function):
    """z = x Wᵀ + b: the lecture's W X_t + b for a row (or batch of rows) x, as one op.

    x (n,) or (B, n), W (m, n), b (m,) or absent;  dL/dx = g W, dL/dW = gᵀ x, dL/db = Σ_rows g.
    """
    name = "affine"

    @staticmethod
    def forward(x, w, b=None):
        if w.ndim != 2 or x.ndim not in (1, 2) or (b is not None and b.shape != w.shape[:1]):
            raise ValueError(f"affine: W x + b needs x (n,) or (B, n), W (m, n) and b (m,); got "
                             f"shapes {x.shape}, {w.shape}" + (f" and {b.shape}" if b is not None else ""))
        if x.shape[-1] != w.shape[1]:
            raise ValueError(f"affine: shapes {x.shape} and {w.shape} do not align: the last dimension "
                             f"of x must equal the second of W")
        z = x @ w.T
        return z if b is None else z + b

    @staticmethod
    def backward(g, z, x, w, b=None):
        rows, x_rows = (g, x) if g.ndim == 2 else (g[None, :], x[None, :])   # one row: (1, m), (1, n)
        grads = (g @ w, rows.T @ x_rows)
        return grads if b is None else grads + (rows.sum(axis=0),)


def affine(x, w, b=None):
    """x Wᵀ + b as one op, W of shape (out, in): a Linear layer, or an LSTM gate's W_f X_t + b_f."""
    if not isinstance(x, Tensor):
        raise TypeError(f"affine: x must be a Tensor; got {type(x).__name__}")
    return Affine.apply(x, _lift(w, x)) if b is None else Affine.apply(x, _lift(w, x), _lift(b, x))


# --- element-wise unary ops ----------------------------------------------------------

class Neg(Function):
    """z = −x;  dz/dx = −1."""
    name = "neg"
    needs_values = False

    @staticmethod
    def forward(x):
        return -x

    @staticmethod
    def backward(g, z, x):
        return (-g,)


class Sigmoid(Function):
    """z = σ(x) = 1/(1+e^−x);  dz/dx = z(1 − z)."""
    name = "sigmoid"

    @staticmethod
    def forward(x):
        # where e^−x would overflow (x < −709 in float64, −88 in float32), σ(x) is below the
        # smallest normal float: x is floored there, so e^−x stays finite and σ stays that small
        return 1 / (1 + np.exp(-np.maximum(x, _exp_floor(x.dtype))))

    @staticmethod
    def backward(g, z, x):
        return (g * z * (1 - z),)


@functools.lru_cache(maxsize=None)
def _exp_floor(dtype):
    """The most negative x for which e^−x is finite in `dtype`."""
    return -float(np.log(np.finfo(dtype).max)) * (1 - 1e-5)    # a margin for float32 rounding


class Tanh(Function):
    """z = tanh(x);  dz/dx = 1 − z²."""
    name = "tanh"

    @staticmethod
    def forward(x):
        return np.tanh(x)

    @staticmethod
    def backward(g, z, x):
        return (g * (1 - z * z),)


class Exp(Function):
    """z = eˣ;  dz/dx = z."""
    name = "exp"

    @staticmethod
    def forward(x):
        return np.exp(x)

    @staticmethod
    def backward(g, z, x):
        return (g * z,)


class Log(Function):
    """z = ln x;  dz/dx = 1/x."""
    name = "log"

    @staticmethod
    def forward(x):
        return np.log(x)

    @staticmethod
    def backward(g, z, x):
        return (g / x,)


class PowScalar(Function):
    """z = xᵖ, the exponent p a number;  dz/dx = p·xᵖ⁻¹ (0 for p = 0, as torch: z is 1 everywhere)."""
    name = "pow_scalar"

    @staticmethod
    def forward(x, p):
        return np.power(x, p)

    @staticmethod
    def backward(g, z, x, p):
        return (np.zeros_like(x) if p == 0 else g * p * np.power(x, p - 1),)


def power(x, exponent):
    """x ** exponent: a number exponent is part of the op (pow_scalar), a tensor one an input (pow)."""
    if is_real(exponent):                               # a Python float keeps float32 float32
        return PowScalar.apply(x, p=real("**: the exponent", exponent))
    return Pow.apply(x, _lift(exponent, x))


class Sqrt(Function):
    """z = √x;  dz/dx = 1/(2z)."""
    name = "sqrt"

    @staticmethod
    def forward(x):
        return np.sqrt(x)

    @staticmethod
    def backward(g, z, x):
        return (g / (2 * z),)


class Relu(Function):
    """z = max(x, 0);  dz/dx = 1 where x > 0, else 0 (0 at the kink x = 0 too, as torch)."""
    name = "relu"

    @staticmethod
    def forward(x):
        return np.maximum(x, 0)

    @staticmethod
    def backward(g, z, x):
        return (g * (x > 0),)


class Abs(Function):
    """z = |x|;  dz/dx = sign(x), which is 0 at the kink x = 0 (as torch)."""
    name = "abs"

    @staticmethod
    def forward(x):
        return np.abs(x)

    @staticmethod
    def backward(g, z, x):
        return (g * np.sign(x),)


class Sign(Function):
    """z = sign(x) (−1, 0 or 1);  dz/dx = 0: flat on each side of 0 (as torch, which gives 0 at 0 too)."""
    name = "sign"
    needs_values = False

    @staticmethod
    def forward(x):
        return np.sign(x)

    @staticmethod
    def backward(g, z, x):
        return (np.zeros_like(x),)


class Clamp(Function):
    """z = x held within [low, high] (either may be None);  dz/dx = 1 where low ≤ x ≤ high,
    the bounds included (as torch), and 0 where x was cut."""
    name = "clamp"

    @staticmethod
    def forward(x, low=None, high=None):
        z = x if low is None else np.maximum(x, low)
        return z if high is None else np.minimum(z, high)

    @staticmethod
    def backward(g, z, x, low=None, high=None):
        inside = g if low is None else g * (x >= low)
        return (inside if high is None else inside * (x <= high),)


def clamp(x, min=None, max=None):
    """x held within [min, max], as torch.clamp; either bound may be left out (not both)."""
    bounds = {}
    for name, bound in (("min", min), ("max", max)):
        if bound is not None:
            if not is_real(bound):
                raise TypeError(f"clamp: {name} must be a number (or None); got {quote(bound)}")
            bounds[name] = real(f"clamp: {name}", bound)   # a Python float keeps float32 float32
    if not bounds:
        raise ValueError("clamp: needs min, max or both; got neither")
    if len(bounds) == 2 and bounds["min"] > bounds["max"]:
        raise ValueError(f"clamp: min ({min!r}) is greater than max ({max!r})")
    return Clamp.apply(x, low=bounds.get("min"), high=bounds.get("max"))


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
    name = "sum"
    needs_values = False

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        return x.sum(axis=_reduced_axes("sum", x, axis, keepdims), keepdims=keepdims)

    @staticmethod
    def backward(g, z, x, axis=None, keepdims=False):
        return (np.broadcast_to(g.reshape(_kept_shape(x, axis)), x.shape),)


def _reduced_axes(name, x, axis, keepdims):
    if keepdims is not True and keepdims is not False:
        raise TypeError(f"{name}: keepdims must be True or False; got {keepdims!r}")
    return _axes(name, axis, x.ndim)


def _kept_shape(x, axis):
    """The shape of a sum over `axis` with keepdims: x's shape with 1 on the summed axes."""
    axes = _axes("sum", axis, x.ndim)
    return tuple(1 if i in axes else n for i, n in enumerate(x.shape))


class Mean(Function):
    """z = (1/n) Σ x over `axis` (n elements per output);  dz/dx = 1/n."""
    name = "mean"
    needs_values = False

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        total = x.sum(axis=_reduced_axes("mean", x, axis, keepdims), keepdims=keepdims)
        n = x.size // max(1, math.prod(_kept_shape(x, axis)))
        return total / n if n else total * np.nan       # the mean of nothing is NaN

    @staticmethod
    def backward(g, z, x, axis=None, keepdims=False):
        n = x.size // max(1, math.prod(_kept_shape(x, axis)))
        return Sum.backward(g / n, z, x, axis, keepdims)


class Max(Function):
    """z = the largest x over `axis` (numpy's max, torch's amax);  dz/dx = 1/k at each of the k
    elements equal to it, and 0 elsewhere: tied elements share the gradient evenly, as in torch's
    amax (central differences agree at a tie of two: each gets ½)."""
    name = "max"

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        return x.max(axis=_nonempty_axes("max", x, axis, keepdims), keepdims=keepdims)

    @staticmethod
    def backward(g, z, x, axis=None, keepdims=False):
        return _shared_among_ties(g, z, x, axis)


class Min(Function):
    """z = the smallest x over `axis` (numpy's min, torch's amin);  dz/dx = 1/k at each of the k
    elements equal to it, and 0 elsewhere: the backward rule of max."""
    name = "min"
    backward = staticmethod(Max.backward)

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        return x.min(axis=_nonempty_axes("min", x, axis, keepdims), keepdims=keepdims)


def _nonempty_axes(name, x, axis, keepdims):
    """The axes to reduce, none of them empty: the max of nothing does not exist."""
    axes = _reduced_axes(name, x, axis, keepdims)
    for a in axes:
        if x.shape[a] == 0:
            raise ValueError(f"{name}: axis {a} of a tensor of shape {x.shape} is empty, and the "
                             f"{name} of no elements does not exist")
    return axes


def _shared_among_ties(g, z, x, axis):
    """g, copied back over the reduced axes to the elements equal to the result z, and split
    evenly among those that tie."""
    kept = _kept_shape(x, axis)
    ties = np.equal(x, z.reshape(kept)).astype(x.dtype)          # 1 where x is the max (or min)
    return (g.reshape(kept) * ties / ties.sum(axis=_axes("max", axis, x.ndim), keepdims=True),)


def argmax(x, axis=None, keepdims=False):
    """The index of the largest element (of the flattened tensor, or along `axis`), as int64 data
    with no gradient; of tied elements, the first (as numpy and torch)."""
    if keepdims is not True and keepdims is not False:
        raise TypeError(f"argmax: keepdims must be True or False; got {keepdims!r}")
    data = x.data
    if axis is not None:
        axis = _axis("argmax", axis, data.ndim)
    if (data.size if axis is None else data.shape[axis]) == 0:
        along = "" if axis is None else f" along axis {axis}"
        raise ValueError(f"argmax: the tensor (shape {data.shape}) is empty{along}, so it has no "
                         f"largest element")
    return _leaf_of(np.asarray(data.argmax(axis=axis, keepdims=keepdims)))


# --- shape ops -----------------------------------------------------------------------

class Reshape(Function):
    """z = x viewed with a new shape;  the gradient is g viewed with x's shape."""
    name = "reshape"
    needs_values = False

    @staticmethod
    def forward(x, shape):
        if shape is None or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                                    for n in (shape if isinstance(shape, tuple) else (shape,))):
            raise TypeError(f"reshape: the new shape must be ints; got {shape!r}")
        try:
            return x.reshape(shape)
        except (ValueError, TypeError):
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} "
                             f"elements) into {shape!r}") from None

    @staticmethod
    def backward(g, z, x, shape):
        return (g.reshape(x.shape),)


class Transpose(Function):
    """z = x with its axes permuted (reversed by default);  the gradient is g permuted back."""
    name = "transpose"
    needs_values = False

    @staticmethod
    def forward(x, axes=None):
        if axes is not None and (len(axes) != x.ndim
                                 or _axes("transpose", axes, x.ndim) != tuple(range(x.ndim))):
            raise ValueError(f"transpose: axes {tuple(axes)} are not a permutation of the "
                             f"{x.ndim} axes of a tensor of shape {x.shape}")
        return x.transpose(None if axes is None else tuple(a % x.ndim for a in axes))

    @staticmethod
    def backward(g, z, x, axes=None):
        if axes is None:                     # reversing the axes is its own inverse
            return (g.transpose(),)
        inverse = sorted(range(x.ndim), key=lambda k: axes[k] % x.ndim)
        return (g.transpose(inverse),)


def squeezed(shape, axis=None):
    """`shape` without the axes of size 1 that `axis` names (all of them if None), as np.squeeze;
    naming an axis of another size is an error (numpy's choice; torch leaves such an axis)."""
    if axis is None:
        return tuple(n for n in shape if n != 1)
    axes = _axes("squeeze", axis, len(shape))
    for a in axes:
        if shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} of a tensor of shape {shape} has size {shape[a]}, not 1")
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def unsqueezed(shape, axis):
    """`shape` with a new axis of size 1 at position `axis` (−1: last), as torch.unsqueeze."""
    axis = _axis("unsqueeze", axis, len(shape) + 1)
    return shape[:axis] + (1,) + shape[axis:]


class Expand(Function):
    """z = x repeated along its axes of size 1 and new leading axes, to `shape` (numpy's
    broadcast_to, torch's expand: a read-only view);  the gradient sums g over the copies."""
    name = "expand"
    needs_values = False

    @staticmethod
    def forward(x, shape):
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"expand: a tensor of shape {x.shape} cannot be expanded to {shape}: each "
                             f"of its sizes must be the new one or 1, and new axes go in front") from None

    @staticmethod
    def backward(g, z, x, shape):
        return (unbroadcast(g, x),)


def expand(x, shape):
    """x repeated to `shape`, as torch's expand; −1 keeps the size of that axis of x."""
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in shape):
        raise TypeError(f"expand: the new shape must be ints; got {shape!r}")
    new = len(shape) - x.ndim                 # how many axes go in front
    if new < 0 or -1 in shape[:new] or any(n < -1 for n in shape):
        raise ValueError(f"expand: cannot expand a tensor of shape {x.shape} to {shape}: the new "
                         f"shape needs at least its {x.ndim} dimensions, sizes ≥ 0, and −1 only where "
                         f"x has an axis")
    return Expand.apply(x, shape=tuple(x.shape[i - new] if n == -1 else int(n) for i, n in enumerate(shape)))


class Pad(Function):
    """z = x with a constant `value` around it, pad_width giving (before, after) for each axis as
    in np.pad;  the gradient is the middle of g, where x sits."""
    name = "pad"
    needs_values = False

    @staticmethod
    def forward(x, pad_width, value=0.0):
        return np.pad(x, pad_width, constant_values=value)

    @staticmethod
    def backward(g, z, x, pad_width, value=0.0):
        return (g[tuple(slice(before, before + n) for (before, _), n in zip(pad_width, x.shape))],)


def pad(x, pad_width, value=0.0):
    """x padded with a constant `value`, differentiably. pad_width is numpy's: n for every side,
    (before, after) for every axis, or one (before, after) per axis."""
    if not isinstance(x, Tensor):
        raise TypeError(f"pad: x must be a Tensor; got {type(x).__name__}")
    if not is_real(value):
        raise TypeError(f"pad: value must be a number; got {quote(value)}")
    value = real("pad: value", value)
    try:
        widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))
    except ValueError:
        widths = None
    if widths is None or widths.dtype.kind not in "iu" or np.any(widths < 0):
        raise ValueError(f"pad: pad_width must be whole numbers ≥ 0 in one of numpy's forms: n, "
                         f"(before, after), or one (before, after) for each of the {x.ndim} axes of a "
                         f"tensor of shape {x.shape}; got {pad_width!r}")
    return Pad.apply(x, pad_width=tuple((int(b), int(a)) for b, a in widths), value=float(value))


class Clone(Function):
    """z = a copy of x that stays in the graph (as torch's clone; detach() leaves it);  dz/dx = 1."""
    name = "clone"
    needs_values = False

    @staticmethod
    def forward(x):
        return x.copy()

    @staticmethod
    def backward(g, z, x):
        return (g,)


def _is_basic(index):
    """True for numpy 'basic' indexing (ints, slices, None, ...), which picks each element once."""
    for i in (index if index.__class__ is tuple else (index,)):
        if not (i.__class__ is slice or i.__class__ is int or i is Ellipsis or i is None
                or isinstance(i, np.integer)):
            return False
    return True


def _frozen_index(index):
    """The index with every array in it copied (lists become arrays), as it is now."""
    if index.__class__ is tuple:
        return tuple([_frozen_one(i) for i in index])
    return _frozen_one(index)


def _frozen_one(i):
    if isinstance(i, np.ndarray):
        return i.copy()
    if isinstance(i, Tensor) and i.dtype.kind in "biu":     # a mask (t > 0) or indices (argmax)
        return i.data.copy()
    if isinstance(i, list):
        try:
            a = np.array(i)
        except (TypeError, ValueError):      # ragged or odd: forward explains it
            return list(i)
        if a.size == 0:
            return a.astype(np.intp)         # x[[]] is an empty integer index, as in numpy
        if a.dtype.kind in "biu":
            return a
        return list(i)                       # Tensors, floats…: left for forward to reject
    return i


class GetItem(Function):
    """z = x[index];  the gradient is g at `index` and zero elsewhere (repeats add up)."""
    name = "getitem"
    needs_values = False

    @classmethod
    def apply(cls, x, index):
        # the graph keeps the index for backward: a copy, so that the caller changing their
        # index array between forward and backward cannot move the gradient
        return super().apply(x, index=_frozen_index(index))

    @staticmethod
    def forward(x, index):
        if not _is_basic(index) and any(isinstance(i, Tensor)
                                        for i in (index if index.__class__ is tuple else (index,))):
            raise TypeError("index a Tensor with ints, slices, integer or bool arrays, or a Tensor of "
                            "bools or integers, not with a Tensor of floats; use t[idx.numpy().astype(int)]")
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (tensor of shape {x.shape}, index {index!r})") from None
        except (TypeError, ValueError) as e:
            raise type(e)(f"getitem: cannot index a tensor of shape {x.shape} with {index!r}: {e}") from None

    @staticmethod
    def backward(g, z, x, index):
        grad = np.zeros_like(x)
        if _is_basic(index):                 # each element picked once: write g there
            grad[index] = g
        else:                                # fancy indexing may pick an element twice: add each
            np.add.at(grad, index, g)
        return (grad,)


class Concat(Function):
    """z = [x₁; x₂; …] along `axis`;  each input's gradient is its slice of g."""
    name = "concat"
    needs_values = False

    @staticmethod
    def forward(*xs, axis=0):
        if axis.__class__ is not int:
            _check_axis_type("concat", axis)
        try:
            return np.concatenate(xs, axis=axis)
        except (ValueError, TypeError):      # numpy checks the shapes; we explain them
            raise ValueError(f"concat: shapes {', '.join(str(x.shape) for x in xs)} cannot be "
                             f"joined along axis {axis!r}: all need the same number of dimensions "
                             f"(at least 1), the axis must exist, and the sizes must be equal "
                             f"except on that axis") from None

    @staticmethod
    def backward(g, z, *xs, axis=0):
        before = (slice(None),) * (axis % g.ndim)
        grads, start = [], 0
        for x in xs:
            end = start + x.shape[axis]
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
    like = next((t for t in tensors if isinstance(t, Tensor)), None)   # gives the constants their dtype
    if like is None:
        raise TypeError(f"{op.name}: needs at least one Tensor among its inputs")
    return op.apply(*[_lift(t, like) for t in tensors], axis=axis)


class Stack(Function):
    """z = [x₁, x₂, …] along a new `axis`;  each input's gradient is g indexed at its position."""
    name = "stack"
    needs_values = False

    @staticmethod
    def forward(*xs, axis=0):
        _check_axis_type("stack", axis)
        try:
            return np.stack(xs, axis=axis)
        except (ValueError, TypeError):
            raise ValueError(f"stack: shapes {', '.join(str(x.shape) for x in xs)} cannot be "
                             f"stacked along axis {axis!r}: all must have the same shape, and the "
                             f"new axis must be within 0..{xs[0].ndim} (or negative)") from None

    @staticmethod
    def backward(g, z, *xs, axis=0):
        before = (slice(None),) * (axis % g.ndim)
        return tuple(g[before + (i,)] for i in range(len(xs)))


def stack(tensors, axis=0):
    """Join same-shaped tensors along a new axis (numpy's stack), differentiably."""
    return _join(Stack, tensors, axis)


# --- comparisons (bool data, no gradient), and choosing by them ----------------------

def compare(x, other, ufunc, symbol):
    """x <symbol> other element-wise (numpy's broadcasting), as a leaf of bool data: a comparison
    is flat almost everywhere, so it has no gradient, and its result never requires one."""
    try:
        y = _lift(other, x)
    except TypeError:               # t == None or t != "text": Python falls back to identity
        return NotImplemented
    return _leaf_of(_broadcast(f"'{symbol}'", ufunc, x.data, y.data))


class Where(Function):
    """z = x where the condition c holds, else y (numpy's broadcasting);  dz/dx = 1 where c,
    dz/dy = 1 where not c. The condition (bool data) gets no gradient."""
    name = "where"

    @staticmethod
    def forward(c, x, y):
        try:
            return np.where(c, x, y)
        except ValueError:
            raise ValueError(f"where: shapes {c.shape}, {x.shape} and {y.shape} (condition, x, y) "
                             f"cannot be broadcast together") from None

    @staticmethod
    def backward(g, z, c, x, y):
        return None, unbroadcast(np.where(c, g, 0), x), unbroadcast(np.where(c, 0, g), y)


def where(condition, x, y):
    """x where `condition` holds, else y, differentiably in x and y (torch.where, np.where).

    The condition is bool data: a comparison (t > 0) or a bool array. x and y are Tensors or
    numbers (at least one of the three a Tensor)."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: the condition must hold bools (a comparison such as t > 0, or a bool "
                        f"array); got dtype {cond.dtype}")
    like = next((v for v in (x, y, condition) if isinstance(v, Tensor)), None)
    if like is None:
        raise TypeError(f"where: needs a Tensor among condition, x and y; got {type(x).__name__} "
                        f"and {type(y).__name__}")
    # a copy of the caller's array, as GetItem copies an index: changing it later must not move
    # the gradient
    return Where.apply(condition if isinstance(condition, Tensor) else _leaf_of(cond.copy()),
                       _lift(x, like), _lift(y, like))


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
    name = "softmax"

    @staticmethod
    def forward(x, axis=-1):
        return np.exp(_log_softmax(x, _classes("softmax", x, axis)))

    @staticmethod
    def backward(g, s, x, axis=-1):
        return (s * (g - (g * s).sum(axis=axis, keepdims=True)),)


class LogSoftmax(Function):
    """z = x − log Σ eˣ along `axis`;  dL/dx = g − softmax(x) ⊗ Σ g."""
    name = "log_softmax"

    @staticmethod
    def forward(x, axis=-1):
        return _log_softmax(x, _classes("log_softmax", x, axis))

    @staticmethod
    def backward(g, z, x, axis=-1):
        return (g - np.exp(z) * g.sum(axis=axis, keepdims=True),)


class CrossEntropy(Function):
    """E = −Σ_k y_k log softmax(z)_k per row of logits z (classes on the last axis);
    dE/dz = softmax(z)·Σ_k y_k − y, which is ŷ − y for a one-hot y. The targets y are an
    input that needs no gradient."""
    name = "cross_entropy"

    @staticmethod
    def forward(z, y):
        return -(y * _log_softmax(z, -1)).sum(axis=-1)

    @staticmethod
    def backward(g, E, z, y):
        probs = np.exp(_log_softmax(z, -1))
        return g[..., None] * (probs * y.sum(axis=-1, keepdims=True) - y), None


def cross_entropy(logits, target, reduction="mean"):
    """Softmax cross-entropy of `logits` (..., C) against class indices (...) or one-hot (..., C).

    reduction: "none" gives one loss per row, "sum" their sum, "mean" their mean.
    """
    if not isinstance(logits, Tensor):
        raise TypeError(f"cross_entropy: logits must be a Tensor; got {type(logits).__name__}")
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"cross_entropy: reduction must be 'none', 'sum' or 'mean'; got {reduction!r}")
    losses = CrossEntropy.apply(logits, Tensor(target_distribution(logits.data, target), name="y"))
    return losses if reduction == "none" else losses.sum() if reduction == "sum" else losses.mean()


def target_distribution(logits, target):
    """Class indices become one-hot rows; one-hot (or any distribution) rows are checked.
    `logits` is the array of logits the targets are for."""
    shape, dtype = logits.shape, logits.dtype
    if logits.ndim == 0:
        raise ValueError("cross_entropy: logits need a class axis (the last); got a scalar")
    try:
        target = np.asarray(target.data if isinstance(target, Tensor) else target)
    except ValueError:
        raise ValueError("cross_entropy: targets must be a rectangular array; "
                         "got ragged nested sequences") from None
    classes = shape[-1]
    if classes == 0:
        raise ValueError(f"cross_entropy: logits of shape {shape} have no classes "
                         "(the last axis is empty)")
    if target.shape == shape[:-1]:
        if target.dtype.kind not in "iu" and not (target.dtype.kind == "f"
                                                  and np.all(target == np.round(target))):
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
            raise ValueError("cross_entropy: one-hot (or probability) targets must be finite "
                             "and non-negative")
        return target.astype(dtype)
    raise ValueError(f"cross_entropy: target of shape {target.shape} fits neither class indices "
                     f"{shape[:-1]} nor one-hot {shape} for logits of shape {shape}")
