"""Tensor: a numpy array that remembers the op that made it, and backward() over that graph.

The graph is the tensors themselves: `t.op` names the op that made `t` and `t.parents`
are its inputs. Leaves (data, parameters) have `op == ""` and no parents. Reverse mode
walks that graph once from the output, so backpropagation through time is nothing but
this walk over an unrolled LSTM.
"""
import gc
from contextlib import contextmanager

import numpy as np

DEFAULT_DTYPE = np.dtype(np.float64)
_grad_enabled = True    # False inside no_grad(): ops then record no graph
_scope = None           # the name of the innermost scope() block, copied onto each new tensor
_anomaly = False        # True inside detect_anomaly(): every op's output is checked for NaN/inf


class Tensor:
    """An n-d float array with an optional gradient and a link to the op that made it."""

    __slots__ = ("data", "grad", "requires_grad", "name", "scope", "_fn", "_pending", "_owned")
    __array_ufunc__ = None   # `ndarray + Tensor` defers to Tensor.__radd__ instead of looping

    def __init__(self, data, requires_grad=False, name=None, dtype=None):
        self.data = _as_float_array(data, dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.name = _check_name(name)
        self.scope = _scope
        self._fn = None        # the Function that made this tensor; None for a leaf
        self._pending = None   # gradient gathered during one backward() pass
        self._owned = False    # _pending is a buffer this pass made, so it may grow in place

    # --- the graph, as viz/ reads it -------------------------------------------------
    @property
    def op(self):
        """The name of the op that made this tensor ("" for a leaf)."""
        return self._fn.name if self._fn is not None else ""

    @property
    def parents(self):
        """The tensors this one was computed from (empty for a leaf)."""
        return self._fn.parents if self._fn is not None else ()

    # --- plain array facts ---------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d Tensor (a scalar) is undefined; use .item() for its value")
        return len(self.data)

    def numpy(self):
        """The data as a numpy array (shared, not copied)."""
        return self.data

    def item(self):
        """The value of a one-element tensor, as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only a tensor with one element has a single value; this one has "
                             f"shape {self.data.shape}")
        return self.data.item()

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
        seed = _seed_gradient(self, grad)
        if _anomaly and not np.all(np.isfinite(seed)):
            raise FloatingPointError("detect_anomaly: the gradient given to backward() is not finite")
        order = topological_order(self, requiring_grad=True)
        self._pending = seed
        with _gc_paused():
            try:
                self._backward_pass(order)
            except BaseException:      # stopped half-way: leave no half-gathered gradient behind
                for node in order:
                    node._pending, node._owned = None, False
                raise

    def _backward_pass(self, order):
        for node in reversed(order):
            g, node._pending, node._owned = node._pending, None, False
            if g is None:        # reached only through inputs that returned no gradient
                continue
            if g.__class__ is Products:
                g = g.total(node.data.dtype)
                if _anomaly and not np.all(np.isfinite(g)):
                    raise FloatingPointError(f"detect_anomaly: the gradient gathered for {_describe(node)} from "
                                             f"its matmuls is not finite")
            if g.shape != node.data.shape:   # only if .data was swapped after the graph was built
                raise RuntimeError(f"backward(): the gradient reaching {_describe(node)} has shape {g.shape}, "
                                   f"but its data has shape {node.data.shape} now: was its .data replaced "
                                   f"after the graph was built?")
            fn = node._fn
            if node.grad is None:   # a leaf owns its buffer: optimizers update it in place
                node.grad = g if fn is not None else np.array(g, dtype=node.data.dtype)
            elif getattr(node.grad, "shape", None) != g.shape:
                raise ValueError(f"backward(): {_describe(node)}.grad was set to "
                                 f"{getattr(node.grad, 'shape', type(node.grad).__name__)}, but its gradient "
                                 f"has shape {g.shape}; set .grad = None to start again")
            else:
                node.grad = node.grad + g
            if fn is None:
                continue
            grads = fn.backward(g)
            if _anomaly:
                _check_backward(node, grads)
            for parent, pg in zip(fn.parents, grads):
                if pg is None or not parent.requires_grad:
                    continue
                if parent._pending is None and pg.__class__ is np.ndarray:
                    parent._pending = pg              # the common case, inline: a first gradient, kept as is
                else:
                    _gather(parent, pg)

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
    def __neg__(self): return ops.Neg.apply(self)
    def __getitem__(self, index): return ops.GetItem.apply(self, index=index)

    def __setitem__(self, index, value):
        raise TypeError("Tensors do not support item assignment: an op that wrote into its input would "
                        "break the gradients of what used it. Build a new tensor (concat, *, +), or change "
                        ".data directly for a leaf you own")

    def sigmoid(self): return ops.Sigmoid.apply(self)
    def tanh(self): return ops.Tanh.apply(self)
    def exp(self): return ops.Exp.apply(self)
    def log(self): return ops.Log.apply(self)
    def sum(self, axis=None, keepdims=False): return ops.Sum.apply(self, axis=axis, keepdims=keepdims)
    def mean(self, axis=None, keepdims=False): return ops.Mean.apply(self, axis=axis, keepdims=keepdims)
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


class Function:
    """One differentiable op: `forward(*arrays) -> array` and `backward(grad) -> grads`.

    backward returns one gradient per input (None where there is none), each already
    summed back to that input's shape: an array; a Product (a matmul's xᵀg left
    unmultiplied, so a weight used at every step can multiply many of them out at once);
    or a Scatter (a slice's g, written into its input's gradient buffer in place).
    It must not modify `grad` in place: the same array may be handed to several parents,
    and a gradient it returns may be a view of `grad` (a slice, or the one row of a batch).
    """

    __slots__ = ("parents",)
    name = ""

    @classmethod
    def apply(cls, *parents, **options):
        # The hot path of every op: kept to plain attribute access, no helper calls.
        # (A call with **options costs twice one without, so the options are passed only if given.)
        fn = cls()
        n = len(parents)
        if n == 1:
            x = parents[0]
            data = fn.forward(x.data, **options) if options else fn.forward(x.data)
            record = _grad_enabled and x.requires_grad
        elif n == 2:
            x, y = parents
            data = fn.forward(x.data, y.data, **options) if options else fn.forward(x.data, y.data)
            record = _grad_enabled and (x.requires_grad or y.requires_grad)
        elif n == 3 and not options:
            x, y, z = parents
            data = fn.forward(x.data, y.data, z.data)
            record = _grad_enabled and (x.requires_grad or y.requires_grad or z.requires_grad)
        else:
            data = fn.forward(*[p.data for p in parents], **options)
            record = _grad_enabled and any([p.requires_grad for p in parents])
        if _anomaly:
            _check_forward(cls, parents, data)
        out = _new(Tensor)
        out.data = data
        out.grad = out.name = out._pending = None
        out.scope = _scope
        out._owned = False
        if record:
            fn.parents = parents
            out._fn, out.requires_grad = fn, True
        else:
            out._fn, out.requires_grad = None, False
        return out

    def forward(self, *arrays, **options):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError


_new = object.__new__


def _gather(parent, pg):
    """Add one gradient `pg` (an array, a Product or a Scatter) to what `parent` has gathered.

    parent._owned says that parent._pending is a dense array this pass made, which may then
    grow in place; an array handed over by an op may be shared with other parents, so it is
    kept and never written into.
    """
    pending, cls = parent._pending, pg.__class__
    if pending is not None and pending.shape != pg.shape:   # only if .data was swapped between two uses
        raise RuntimeError(f"backward(): gradients of shapes {pending.shape} and {pg.shape} reach "
                           f"{_describe(parent)}: was its .data replaced between two uses?")
    if cls is Scatter:
        if parent._owned:            # write the slice straight into our buffer
            pg.add_into(pending)
            return
        pg = pg.dense()              # a fresh buffer: ours to grow
        if pending is None:
            parent._pending, parent._owned = pg, True
            return
        if pending.__class__ is not Products:
            pg += pending
            parent._pending, parent._owned = pg, True
            return
    if pending is None:
        parent._pending = Products(pg) if cls is Product else pg
    elif pending.__class__ is Products:
        pending.add(pg)
    elif cls is Product:
        parent._pending, parent._owned = Products(pg, dense=pending), False
    elif parent._owned:              # a weight used at every step: add in place, no new array
        pending += pg
    else:
        parent._pending, parent._owned = pending + pg, True


class Scatter:
    """A gradient that is zero except at `index` (GetItem's backward): g goes to x[index].

    The four gate slices of a step each send one; the first makes a zero buffer and the
    others write into it, where a dense gradient each would cost a zeros array and a sum.
    """
    __slots__ = ("index", "g", "shape", "basic")

    def __init__(self, index, g, shape, basic):
        self.index, self.g, self.shape, self.basic = index, g, shape, basic

    def add_into(self, buffer):
        if self.basic:
            buffer[self.index] += self.g
        else:                       # fancy indexing may pick an element twice: add each
            np.add.at(buffer, self.index, self.g)

    def dense(self):
        buffer = np.zeros(self.shape, dtype=self.g.dtype)
        if self.basic:               # each element picked once: writing g is adding it to zero
            buffer[self.index] = self.g
        else:
            self.add_into(buffer)
        return buffer


class Product:
    """A gradient xᵀg, not yet multiplied out (matmul and affine hand one to their weight).

    A weight used at every time step receives one per step; Products multiplies them out
    in chunks, Σ_t x_tᵀ g_t = [x_1; …; x_k]ᵀ [g_1; …; g_k], which is far faster than k thin
    products added one by one. The arithmetic is the same reverse mode, reordered.
    """
    __slots__ = ("x", "g", "shape")

    def __init__(self, x, g):
        self.x, self.g, self.shape = x, g, (x.shape[1], g.shape[1])


# Rows of Products gathered before they are multiplied out: enough for one efficient GEMM
# (H 512, B 64: 8 steps of 64 rows), few enough that the factors held stay small and the
# memory they use is reused from chunk to chunk.
CHUNK_ROWS = 512


class Products:
    """The gradient gathered for one node: Products to multiply out, plus a dense part."""
    __slots__ = ("xs", "gs", "rows", "dense", "owned", "shape")

    def __init__(self, product, dense=None):
        self.xs, self.gs, self.rows, self.dense, self.owned = [], [], 0, dense, False
        self.shape = product.shape
        self.add(product)

    def add(self, grad):
        """Gather a Product, or add a dense array (owned: `dense` is ours to add into)."""
        if grad.__class__ is Product:
            self.xs.append(grad.x)
            self.gs.append(grad.g)
            self.rows += len(grad.x)
            if self.rows >= CHUNK_ROWS:
                self._multiply_out()
        elif self.owned:
            self.dense += grad
        else:
            self.dense = grad if self.dense is None else self.dense + grad
            self.owned = self.dense is not grad

    def _multiply_out(self):
        xs, gs = self.xs, self.gs
        out = xs[0].T @ gs[0] if len(xs) == 1 else np.concatenate(xs).T @ np.concatenate(gs)
        self.xs, self.gs, self.rows = [], [], 0
        self.add(out)
        self.owned = True

    def total(self, dtype):
        if self.xs:
            self._multiply_out()
        out = self.dense
        return out if out.dtype == dtype else out.astype(dtype)


class detect_anomaly:
    """Inside this block every op's result and every gradient is checked for NaN and inf;
    the first one found raises FloatingPointError naming the op, its scope and its inputs.
    Slower (one isfinite per op): for finding where a NaN comes from, not for training."""

    def __enter__(self):
        global _anomaly
        self.previous, _anomaly = _anomaly, True
        self.quiet = np.errstate(all="ignore")    # the error below says it better than numpy's warning
        self.quiet.__enter__()

    def __exit__(self, *exc):
        global _anomaly
        _anomaly = self.previous
        self.quiet.__exit__(*exc)


def _describe(t):
    return f"{t.name or t.op or 'a leaf'}" + (f" (scope {t.scope})" if t.scope else "")


def _check_forward(cls, parents, data):
    if not np.all(np.isfinite(data)):
        bad = "NaN" if np.any(np.isnan(data)) else "inf"
        where = f" in scope {_scope}" if _scope else ""
        carriers = [p for p in parents if not np.all(np.isfinite(p.data))]
        if carriers:       # it came in from a leaf: data or a parameter, made outside the graph
            came = ", ".join(f"{_describe(p)} {p.data.shape}" for p in carriers)
            raise FloatingPointError(f"detect_anomaly: op '{cls.name}'{where} received non-finite values from "
                                     f"{came}, which no op of this graph made (data, or a parameter)")
        inputs = ", ".join(f"{_describe(p)} {p.data.shape}" for p in parents)
        raise FloatingPointError(f"detect_anomaly: the forward of op '{cls.name}'{where} produced {bad} "
                                 f"from finite inputs: {inputs}")


def _check_backward(node, grads):
    for k, (parent, grad) in enumerate(zip(node.parents, grads)):
        if grad is None or grad.__class__ is Product or not parent.requires_grad:
            continue
        if grad.__class__ is Scatter:
            grad = grad.g
        if not np.all(np.isfinite(grad)):
            bad = "NaN" if np.any(np.isnan(grad)) else "inf"
            raise FloatingPointError(f"detect_anomaly: the backward of op '{node.op}' making {_describe(node)} "
                                     f"produced {bad} in the gradient of its input #{k}, {_describe(parent)}")


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while a graph is built or walked.

    Every allocation nudges the collector to scan the young objects, and a graph is
    thousands of them (an LSTM step makes ~50), yet it has no reference cycles for the
    collector to find: refcounting frees it. On leaving, what was made is promoted past
    the young generations unscanned (_promote_unscanned), so the collector does not scan
    the whole graph at its next allocation either (~16 ms for an LSTM unrolled over 2000
    steps). The youngest objects made before get their young collection on the way in
    (a few µs), so they are not promoted along with it.
    """
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.collect(0)
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _promote_unscanned()
            gc.enable()


# Objects promoted unscanned since the last full collection, and how many may be before the
# next. CPython decides on a full collection by counting what its own collections promote,
# so it never counts these; a cycle promoted with them (an object of the user's that lived
# through a pass) would then never be freed. A million is ~10 passes of a 2000-step LSTM; a
# full collection of a few hundred thousand objects takes tens of ms, a few percent of that.
_promoted = 0
PROMOTED_BEFORE_FULL_COLLECTION = 1_000_000


def _promote_unscanned():
    """Move every object the collector tracks to its oldest generation without a scan
    (freeze then unfreeze: the one way CPython offers), and run a full collection once
    PROMOTED_BEFORE_FULL_COLLECTION objects have been promoted so. Skipped where objects
    are frozen by someone else (they must stay frozen) or gc.freeze does not exist. Like
    pausing the collector, this assumes no other thread freezes objects meanwhile."""
    global _promoted
    if not hasattr(gc, "freeze") or gc.get_freeze_count():
        return
    _promoted += gc.get_count()[0]           # what was made since the collection on the way in
    gc.freeze()
    gc.unfreeze()
    if _promoted > PROMOTED_BEFORE_FULL_COLLECTION:
        _promoted = 0
        gc.collect()


def topological_order(root, requiring_grad=False):
    """Every tensor that leads to `root` (and root), each after all its parents; with
    requiring_grad, only those that require grad (what backward() visits).

    Iterative depth-first search with an explicit stack, so a graph of any depth (an LSTM
    unrolled over 10,000 steps is ~250,000 nodes) never meets Python's recursion limit.
    """
    order, seen, empty = [], {root}, ()
    stack = [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for p in parents:
            if p not in seen and (p.requires_grad or not requiring_grad):
                seen.add(p)
                fn = p._fn
                stack.append((p, iter(fn.parents if fn is not None else empty)))
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


def _check_name(name):
    if name is not None and not isinstance(name, str):
        raise TypeError(f"a Tensor's name must be a string or None; got {type(name).__name__}")
    return name


def _float_dtype(dtype):
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind != "f":
        raise TypeError(f"dtype must be a float type such as 'float32' or 'float64'; got {dtype!r}")
    return dtype


def _lift(value, like):
    """Wrap a Python number or numpy array as a constant with the dtype of Tensor `like`."""
    if isinstance(value, Tensor):
        return value
    try:
        return Tensor(value, dtype=like.data.dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot combine a Tensor with {type(value).__name__}: {e}") from None


class no_grad:
    """Inside this block ops record no graph: for evaluation and parameter updates."""

    def __enter__(self):
        global _grad_enabled
        self.previous, _grad_enabled = _grad_enabled, False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.previous


def is_grad_enabled():
    return _grad_enabled


class scope:
    """Tag every tensor made inside this block with `.scope` (viz groups by it).

    Nested scopes join with "/": scope("t=3") around scope("layer2") gives "t=3/layer2".
    (A class, not a generator: an unrolled LSTM enters one per step.)
    """

    def __init__(self, name):
        if not isinstance(name, str) or not name:
            raise TypeError(f"scope(name) needs a non-empty string; got {name!r}")
        self.name = name

    def __enter__(self):
        global _scope
        self.previous = _scope
        _scope = self.name if _scope is None else f"{_scope}/{self.name}"

    def __exit__(self, *exc):
        global _scope
        _scope = self.previous


# The op classes subclass Function (above); binding the module, not its names, lets either
# module be imported first.
from . import ops  # noqa: E402
