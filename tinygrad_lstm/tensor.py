"""Tensor: a numpy array that remembers the op that made it, and backward() over that graph.

The graph is the tensors themselves: `t.op` names the op that made `t` and `t.parents`
are its inputs. Leaves (data, parameters) have `op == ""` and no parents. Reverse mode
walks that graph once from the output, so backpropagation through time is nothing but
this walk over an unrolled LSTM.
"""
import threading

import numpy as np

from . import versions
from .checks import flag
from .checks import quote

DEFAULT_DTYPE = np.dtype(np.float64)


class _Mode(threading.local):
    """Grad mode, scope and anomaly mode, one copy per thread (as in torch): no_grad() in one
    thread must not stop another from recording. Each thread starts from __init__'s values.
    A thread-local attribute costs ~100 ns to read, so an op reads this thread's __dict__
    once and takes all three from it."""

    def __init__(self):
        self.grad_enabled = True   # False inside no_grad(): ops then record no graph
        self.scope = None          # the name of the innermost scope() block, copied onto new tensors
        self.anomaly = False       # True inside detect_anomaly(): every result checked for NaN/inf


_mode = _Mode()


class Tensor:
    """An n-d float array with an optional gradient and a link to the op that made it."""

    __slots__ = ("_data", "grad", "requires_grad", "name", "scope",
                 "_op", "_parents", "_inputs", "_output", "_options", "_saved_at")
    __array_ufunc__ = None   # `ndarray + Tensor` defers to Tensor.__radd__ instead of looping

    def __init__(self, data, requires_grad=False, name=None, dtype=None):
        self._data = _as_float_array(data, dtype)
        self.grad = None
        if requires_grad is not False and requires_grad is not True:   # the common case, fast
            requires_grad = flag("Tensor: requires_grad", requires_grad)   # not 'False', 0 or 1
        self.requires_grad = requires_grad
        self.name = _check_name(name)
        self.scope = _mode.scope
        self._op, self._parents = None, ()   # the op (a Function class) that made it, and its inputs

    # --- the graph, as viz/ reads it -------------------------------------------------
    @property
    def op(self):
        """The name of the op that made this tensor ("" for a leaf)."""
        return self._op.name if self._op is not None else ""

    @property
    def parents(self):
        """The tensors this one was computed from (empty for a leaf)."""
        return self._parents

    @property
    def is_leaf(self):
        """True if no op recorded making this tensor: data, a parameter, or a result computed
        from tensors that need no gradient (as in torch)."""
        return self._op is None

    # --- the data ------------------------------------------------------------------
    @property
    def data(self):
        """The numpy array this tensor holds (shared, not copied)."""
        return self._data

    @data.setter
    def data(self, array):
        # `t.data -= lr * t.grad` changes the array in place, then hands the same array back
        # here: an op may have saved it for backward(), so note the write (versions.py).
        # A new array replaces this one and leaves any saved one as it was.
        if array is self._data:
            versions.mark_written(array)
        elif isinstance(array, np.floating):              # 0-d arithmetic gives numpy scalars
            array = np.asarray(array)
        elif isinstance(array, float):                    # a Python float takes the data's dtype
            array = np.asarray(array, dtype=self._data.dtype)
        elif not isinstance(array, np.ndarray) or (array.dtype.kind != "f" and self._data.dtype.kind == "f"):
            what = f"an array of {array.dtype}" if isinstance(array, np.ndarray) else type(array).__name__
            raise TypeError(f"Tensor.data must be a numpy array of floats, as its gradient is; got {what}: "
                            f"convert it (np.asarray(x, dtype=float), or x.astype(float))")
        self._data = array

    # --- plain array facts ---------------------------------------------------------
    shape = property(lambda self: self._data.shape)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    dtype = property(lambda self: self._data.dtype)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d Tensor (a scalar) is undefined; use .item() for its value")
        return len(self.data)

    def numpy(self):
        """The data as a numpy array (shared, not copied)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        """What numpy sees: the data, so np.asarray(t) shares it and np.array(t) copies it."""
        if copy is False and dtype is not None and np.dtype(dtype) != self._data.dtype:
            raise ValueError(f"np.asarray(tensor, dtype={np.dtype(dtype)}, copy=False): the data is "
                             f"{self._data.dtype}, so a {np.dtype(dtype)} array needs a copy")
        return self._data.astype(self._data.dtype if dtype is None else dtype, copy=bool(copy))

    def __array_function__(self, func, types, args, kwargs):
        # np.concatenate, np.where, np.dot... would take the data and drop the graph without a
        # word: only the reductions a Tensor has as methods (np.sum(t) is t.sum()) pass
        method = _NUMPY_REDUCTIONS.get(func.__name__)
        if method is None or not (args and args[0] is self):
            raise TypeError(f"numpy's {func.__name__}() does not take Tensors: it would compute on the data "
                            f"and drop the graph. Use the op (concat, stack, where, clamp, @, ...), or "
                            f"pass t.data for the values alone")
        return getattr(self, method)(*args[1:], **kwargs)

    def item(self):
        """The value of a one-element tensor, as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only a tensor with one element has a single value; this one has "
                             f"shape {self.data.shape}")
        return self.data.item()

    def __float__(self):
        """float(t) for a one-element tensor, as torch."""
        return float(self.item())

    def tolist(self):
        """The data as nested Python lists (a plain number for a 0-d tensor)."""
        return self._data.tolist()

    def float(self):
        """The data as floats: bools and integers (a comparison, argmax) become a new leaf of
        float64, as Tensor(data) makes them; a float tensor is returned as it is. (torch's .float()
        gives float32; here a float tensor keeps its dtype and its graph.)"""
        return self if self._data.dtype.kind == "f" else Tensor(self._data)

    def __bool__(self):
        if self.data.size != 1:
            raise TypeError(f"the truth value of a tensor of shape {self.data.shape} is ambiguous; "
                            f"compare its .data, or use .item() for a one-element tensor")
        return bool(self.data)

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d Tensor (a scalar); use .item() for its value")
        return (self[i] for i in range(len(self.data)))

    def named(self, name):
        """Set `name` and return self, so a line can read `F_t = (...).sigmoid().named("F_t")`."""
        self.name = name if name.__class__ is str else _check_name(name)   # checked only if unusual
        return self

    def detach(self):
        """A new leaf with the same data (shared) and no history: gradients stop here."""
        return Tensor(self.data, name=self.name)

    def __repr__(self):
        extras = "".join(f", {k}={v!r}" for k, v in (("name", self.name), ("op", self.op),
                                                     ("scope", self.scope)) if v)
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}{extras}{grad})"

    # --- backward ------------------------------------------------------------------
    def backward(self, grad=None):
        """Accumulate d(self)/d(t) into `t.grad` for every tensor t that requires grad.

        `self` must be a scalar, or `grad` (same shape as self) seeds the pass. Gradients
        add to what `.grad` already holds, across uses of a node and across calls.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad, so no graph leads "
                               "to it; create the leaves with requires_grad=True")
        grads = {self: _seed_gradient(self, grad)}      # dL/d(node), summed over its uses so far
        anomaly = _mode.anomaly
        for node in reversed(topological_order(self, requiring_grad=True)):
            g = grads.pop(node, None)
            if g is None:          # reached only through inputs that returned no gradient
                continue
            _check_gradient(node, g, anomaly)
            total = g if node.grad is None else node.grad + g
            node.grad = np.array(total, dtype=node._data.dtype)  # an array of its own, never shared
            if node._op is None:   # a leaf: nothing further back
                continue
            if versions.clock[0] > node._saved_at and node._op.needs_values:   # a write since?
                _check_unchanged(node)
            input_grads = node._op.backward(g, node._output, *node._inputs, **node._options)
            if anomaly:
                _check_backward(node, input_grads)
            for parent, pg in zip(node._parents, input_grads):
                if pg is not None and parent.requires_grad:      # the chain rule, one edge at a time
                    grads[parent] = pg if parent not in grads else _add(parent, grads[parent], pg)

    # --- operators and methods: each calls its op class from ops.py ------------------
    def __add__(self, other): return ops.Add.apply(self, _lift(other, self))
    def __radd__(self, other): return ops.Add.apply(_lift(other, self), self)
    def __sub__(self, other): return ops.Sub.apply(self, _lift(other, self))
    def __rsub__(self, other): return ops.Sub.apply(_lift(other, self), self)
    def __mul__(self, other): return ops.Mul.apply(self, _lift(other, self))
    def __rmul__(self, other): return ops.Mul.apply(_lift(other, self), self)
    def __truediv__(self, other): return ops.Div.apply(self, _lift(other, self))
    def __rtruediv__(self, other): return ops.Div.apply(_lift(other, self), self)
    def __matmul__(self, other): return ops.MatMul.apply(self, _lift(other, self))
    def __rmatmul__(self, other): return ops.MatMul.apply(_lift(other, self), self)
    def __pow__(self, exponent): return ops.power(self, exponent)
    def __rpow__(self, base): return ops.Pow.apply(_lift(base, self), self)
    def __neg__(self): return ops.Neg.apply(self)
    def __abs__(self): return ops.Abs.apply(self)
    def __getitem__(self, index): return ops.GetItem.apply(self, index=index)

    # comparisons are element-wise, as in torch, and give bool data with no gradient; since == is
    # element-wise, hashing stays by identity, and the graph keys its dicts and sets by tensor
    def __lt__(self, other): return ops.compare(self, other, np.less, "<")
    def __le__(self, other): return ops.compare(self, other, np.less_equal, "<=")
    def __gt__(self, other): return ops.compare(self, other, np.greater, ">")
    def __ge__(self, other): return ops.compare(self, other, np.greater_equal, ">=")
    def __eq__(self, other): return ops.compare(self, other, np.equal, "==")
    def __ne__(self, other): return ops.compare(self, other, np.not_equal, "!=")
    __hash__ = object.__hash__

    def __setitem__(self, index, value):
        raise TypeError("Tensors do not support item assignment: an op that wrote into its input would "
                        "break the gradients of what used it. Build a new tensor (concat, *, +), or change "
                        ".data directly for a leaf you own")

    def sigmoid(self): return ops.Sigmoid.apply(self)
    def tanh(self): return ops.Tanh.apply(self)
    def exp(self): return ops.Exp.apply(self)
    def log(self): return ops.Log.apply(self)
    def sqrt(self): return ops.Sqrt.apply(self)
    def relu(self): return ops.Relu.apply(self)
    def abs(self): return ops.Abs.apply(self)
    def sign(self): return ops.Sign.apply(self)
    def clamp(self, min=None, max=None): return ops.clamp(self, min, max)

    # numpy's functions call these methods: np.sum(t) is t.sum(axis=None, out=None), a Tensor;
    # np.max(t) and np.argmax(t) likewise
    def sum(self, axis=None, keepdims=False, out=None, dtype=None):
        _refuse_numpy_arguments(self, "sum", out, dtype)
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False, out=None, dtype=None):
        _refuse_numpy_arguments(self, "mean", out, dtype)
        return ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False, out=None):
        _refuse_numpy_arguments(self, "max", out)
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False, out=None):
        _refuse_numpy_arguments(self, "min", out)
        return ops.Min.apply(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False, out=None):
        _refuse_numpy_arguments(self, "argmax", out)
        return ops.argmax(self, axis, keepdims)

    def softmax(self, axis=-1): return ops.Softmax.apply(self, axis=axis)
    def log_softmax(self, axis=-1): return ops.LogSoftmax.apply(self, axis=axis)

    def reshape(self, *shape):
        return ops.Reshape.apply(self, shape=shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.Transpose.apply(self, axes=axes or None)

    @property
    def T(self):
        return ops.Transpose.apply(self, axes=None)

    def squeeze(self, axis=None): return self.reshape(ops.squeezed(self.shape, axis))
    def unsqueeze(self, axis): return self.reshape(ops.unsqueezed(self.shape, axis))
    def flatten(self): return self.reshape(-1)
    def clone(self): return ops.Clone.apply(self)

    def expand(self, *shape):
        return ops.expand(self, tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list))
                          else shape)


class Function:
    """One differentiable op, as two rules on numpy arrays that keep no state:

        forward(*inputs, **options) -> output
        backward(g, out, *inputs, **options) -> dL/d(input) for each input (None for none)

    where g = dL/d(output), and each gradient is summed back to its input's shape. The
    tensor an op makes records what the rules need: the op's class, its parents (Tensors),
    their arrays and its output at forward time (the very arrays: a later `.data = ...` is
    not seen, and a change in place is caught by backward(), see versions.py), its options,
    and the version clock's reading. Because the rules are plain functions of arrays, the compiled path
    (compiled.py) runs the very same rules on symbolic arrays to write its program: eager
    and compiled share every derivative. The rules must not modify their arguments: the
    same array may reach several ops.
    """

    name = ""
    needs_values = True   # False if backward reads only the shapes of what the op saved (add,
                          # sum, reshape...): a later change in place cannot alter its gradient

    @classmethod
    def apply(cls, *parents, **options):
        inputs = tuple([p._data for p in parents])
        data = cls.forward(*inputs, **options)
        if data.__class__ is not np.ndarray:  # numpy gives a scalar for 0-d arithmetic
            data = np.asarray(data)
        mode = _mode.__dict__                 # this thread's flags, read once (see _Mode)
        if mode["anomaly"]:
            _check_forward(cls, parents, data)
        out = Tensor.__new__(Tensor)          # skips __init__'s checks: data is the op's array
        out._data, out.grad, out.name, out.scope = data, None, None, mode["scope"]
        out.requires_grad = mode["grad_enabled"] and any([p.requires_grad for p in parents])
        if out.requires_grad:                 # record what backward() will need, and when
            out._op, out._parents, out._inputs, out._options = cls, parents, inputs, options
            out._output, out._saved_at = data, versions.clock[0]
        else:
            out._op, out._parents = None, ()
        return out

    @staticmethod
    def forward(*inputs, **options):
        raise NotImplementedError

    @staticmethod
    def backward(g, out, *inputs, **options):
        raise NotImplementedError


def _check_gradient(node, g, anomaly=False):
    """The gradient reaching a node has the node's shape (else its .data was replaced)."""
    if anomaly and not np.all(np.isfinite(g)):
        raise FloatingPointError(f"detect_anomaly: the gradient reaching {_describe(node)} is not finite")
    if g.shape != node._data.shape:           # numpy arrays and scalars alike have .shape
        raise RuntimeError(f"backward(): the gradient reaching {_describe(node)} has shape {g.shape}, "
                           f"but its data has shape {node._data.shape} now: was its .data replaced "
                           f"after the graph was built?")
    if node.grad is not None and not isinstance(node.grad, np.ndarray):
        raise TypeError(f"backward(): {_describe(node)}.grad was set to a {type(node.grad).__name__}; "
                        f"a gradient is a numpy array (t.grad = other.data.copy()) or None")
    if node.grad is not None and node.grad.shape != g.shape:
        raise ValueError(f"backward(): {_describe(node)}.grad was set to "
                         f"{getattr(node.grad, 'shape', type(node.grad).__name__)}, but its gradient "
                         f"has shape {node._data.shape}; set .grad = None to start again")


def _check_unchanged(node):
    """No array that node's op saved for its backward rule (its inputs and its output) was
    changed in place after the op ran (versions.py)."""
    saved = [(f"its input #{k}, {_describe(p)}", a)
             for k, (p, a) in enumerate(zip(node._parents, node._inputs))]
    for what, array in saved + [("its output", node._output)]:
        if versions.written_since(array, node._saved_at):
            raise RuntimeError(f"backward(): op '{node.op}' making {_describe(node)} saved {what}, "
                               f"whose data was then changed in place, so its gradient would be wrong. "
                               f"Change data in place only after backward() (as an optimizer step "
                               f"does), or assign a new array (t.data = t.data - x)")


def _add(node, a, b):
    """Two gradients reaching one node from two of its uses."""
    if a.shape != b.shape:            # only if .data was swapped between two uses
        raise RuntimeError(f"backward(): gradients of shapes {a.shape} and {b.shape} reach "
                           f"{_describe(node)}: was its .data replaced between two uses?")
    return a + b


class detect_anomaly:
    """Inside this block every op's result and every gradient is checked for NaN and inf;
    the first one found raises FloatingPointError naming the op, its scope and its inputs.
    Slower (one isfinite per op): for finding where a NaN comes from, not for training.

    Re-entrant and per thread, like no_grad: each exit restores what its own enter found."""

    def __enter__(self):
        quiet = np.errstate(all="ignore")         # the error below says it better than numpy's warning
        quiet.__enter__()
        _saved(self).append((_mode.anomaly, quiet))
        _mode.anomaly = True

    def __exit__(self, *exc):
        _mode.anomaly, quiet = _entered(self)
        quiet.__exit__(*exc)


def _describe(t):
    return f"{t.name or t.op or 'a leaf'}" + (f" (scope {t.scope})" if t.scope else "")


def _check_forward(cls, parents, data):
    if not np.all(np.isfinite(data)):
        bad = "NaN" if np.any(np.isnan(data)) else "inf"
        where = f" in scope {_mode.scope}" if _mode.scope else ""
        carriers = [p for p in parents if not np.all(np.isfinite(p.data))]
        if carriers:       # it came in from a leaf: data or a parameter, made outside the graph
            came = ", ".join(f"{_describe(p)} {p.data.shape}" for p in carriers)
            raise FloatingPointError(f"detect_anomaly: op '{cls.name}'{where} received non-finite values "
                                     f"from {came}, which no op of this graph made (data, or a parameter)")
        inputs = ", ".join(f"{_describe(p)} {p.data.shape}" for p in parents)
        raise FloatingPointError(f"detect_anomaly: the forward of op '{cls.name}'{where} produced {bad} "
                                 f"from finite inputs: {inputs}")


def _check_backward(node, grads):
    for k, (parent, grad) in enumerate(zip(node.parents, grads)):
        if grad is not None and parent.requires_grad and not np.all(np.isfinite(grad)):
            bad = "NaN" if np.any(np.isnan(grad)) else "inf"
            raise FloatingPointError(f"detect_anomaly: the backward of op '{node.op}' making "
                                     f"{_describe(node)} produced {bad} in the gradient of its input #{k}, "
                                     f"{_describe(parent)}")


def topological_order(root, requiring_grad=False):
    """Every tensor that leads to `root` (and root), each after all its parents; with
    requiring_grad, only those that require grad (what backward() visits).

    Iterative depth-first search with an explicit stack, so a graph of any depth (an LSTM
    unrolled over 10,000 steps is ~170,000 nodes) never meets Python's recursion limit.
    """
    order, seen = [], {root}
    stack = [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for p in parents:
            if p not in seen and (p.requires_grad or not requiring_grad):
                seen.add(p)
                stack.append((p, iter(p._parents)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _seed_gradient(t, grad):
    if grad is None:
        if t.data.size != 1:
            raise ValueError(f"backward() needs a scalar output, or an explicit gradient of the "
                             f"output's shape; got an output of shape {t.data.shape} and no "
                             f"gradient (reduce it with .sum() or .mean(), or call backward(grad))")
        return np.ones_like(t.data)
    grad = grad.data if isinstance(grad, Tensor) else grad
    seed = _as_float_array(grad, t.data.dtype)
    if seed.shape != t.data.shape:
        raise ValueError(f"backward(grad): grad has shape {seed.shape} but the output has shape "
                         f"{t.data.shape}; they must match")
    return seed


def _as_float_array(data, dtype=None):
    """Validate and convert user data: floats keep their dtype, ints and bools become float64."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = _float_dtype(dtype)
    try:
        array = np.asarray(data)
    except ValueError as e:   # numpy >= 1.24 refuses ragged nesting
        raise ValueError(f"Tensor data must be a rectangular array of numbers; got ragged "
                         f"nested sequences ({e})") from None
    kind = array.dtype.kind
    if kind == "f":
        return array if dtype is None or dtype == array.dtype else array.astype(dtype)
    if kind in "iub":
        return array.astype(dtype or DEFAULT_DTYPE)
    if kind == "O":
        raise TypeError("Tensor data must be numbers; got objects (ragged nesting, None, or "
                        f"other non-numeric values) of type {type(data).__name__}")
    raise TypeError(f"Tensor data must be real numbers; got numpy dtype {array.dtype} "
                    f"from {type(data).__name__}")


def _refuse_numpy_arguments(t, name, out, dtype=None):
    """numpy's functions pass out=None (and dtype=None) to a method they call (np.sum(t) calls
    t.sum(axis=None, out=None)); any other value is refused: an op makes a new tensor, in the
    tensor's own dtype."""
    if out is not None:
        raise TypeError(f"{name}: out= is not supported: an op makes a new tensor and writes into "
                        f"none; got out of type {type(out).__name__}")
    if dtype is not None:
        raise TypeError(f"{name}: dtype= is not supported: the result has the tensor's dtype "
                        f"({t.dtype}); got dtype={dtype!r}")


def _leaf_of(array):
    """A leaf holding `array` as it is, such as the bool data of a comparison (the constructor
    makes bools floats). It never requires grad: nothing differentiates it."""
    t = Tensor.__new__(Tensor)
    t._data, t.grad, t.requires_grad, t.name, t.scope = array, None, False, None, _mode.scope
    t._op, t._parents = None, ()
    return t


# numpy's function name -> the Tensor method it calls (np.max is named amax in older numpy)
_NUMPY_REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "max", "amax": "max", "min": "min", "amin": "min",
                     "argmax": "argmax"}


def _check_name(name):
    if name is not None and not isinstance(name, str):
        raise TypeError(f"a Tensor's name must be a string or None; got {type(name).__name__}")
    return name


def _float_dtype(dtype):
    try:
        parsed = np.dtype(dtype)
    except (TypeError, ValueError):          # a misspelt name: quote it as given, not as None
        parsed = None
    if parsed is None or parsed.kind != "f":
        raise TypeError(f"dtype must be a float type such as 'float32' or 'float64'; got {quote(dtype)}")
    return parsed


def _lift(value, like):
    """Wrap a Python number or numpy array as a constant with the dtype of Tensor `like` (the
    default float if `like` holds bools or integers)."""
    if isinstance(value, Tensor):
        return value
    try:
        return Tensor(value, dtype=like.data.dtype if like.data.dtype.kind == "f" else None)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot combine a Tensor with {type(value).__name__}: {e}") from None


def _saved(manager):
    """The stack of states `manager` saved on entering, for this thread. A stack, so one
    object can be nested in itself (`with g: with g:`); per thread, so threads can share it."""
    local = manager.__dict__.setdefault("_local", threading.local())
    if not hasattr(local, "stack"):
        local.stack = []
    return local.stack


def _entered(manager):
    """What `manager`'s matching enter saved, taken off its stack: a RuntimeError if it was
    never entered (in this thread), rather than a bare pop from an empty list."""
    stack = _saved(manager)
    if not stack:
        raise RuntimeError(f"{type(manager).__name__} was exited without being entered (in this thread); "
                           f"use it in a `with` statement")
    return stack.pop()


class no_grad:
    """Inside this block ops record no graph: for evaluation and parameter updates.

    Re-entrant and per thread: each exit restores what its own enter found."""

    def __enter__(self):
        _saved(self).append(_mode.grad_enabled)
        _mode.grad_enabled = False

    def __exit__(self, *exc):
        _mode.grad_enabled = _entered(self)


def is_grad_enabled():
    """Whether ops record a graph in this thread."""
    return _mode.grad_enabled


class scope:
    """Tag every tensor made inside this block with `.scope` (viz groups by it).

    Nested scopes join with "/": scope("t=3") around scope("layer2") gives "t=3/layer2".
    (A class, not a generator: an unrolled LSTM enters one per step.) Re-entrant and per
    thread, like no_grad: each exit restores the scope its own enter found.
    """

    def __init__(self, name):
        if not isinstance(name, str) or not name:
            raise TypeError(f"scope(name) needs a non-empty string; got {name!r}")
        self.name = name

    def __enter__(self):
        outer = _mode.scope
        _saved(self).append(outer)
        _mode.scope = self.name if outer is None else f"{outer}/{self.name}"

    def __exit__(self, *exc):
        _mode.scope = _entered(self)


# The op classes subclass Function (above); binding the module, not its names, lets either
# module be imported first.
from . import ops  # noqa: E402
