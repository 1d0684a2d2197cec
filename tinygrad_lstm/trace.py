"""Symbolic arrays: run an op's own numpy rule once and write down every numpy call it makes.

A `Sym` stands for an array in a program being written. It carries the concrete value it
has during tracing, so shapes, dtypes and broadcasting are numpy's own, and it answers
numpy's dispatch protocols (__array_ufunc__, __array_function__), so that a rule written
for plain arrays, such as Sigmoid.backward's `g * z * (1 - z)`, runs unchanged on Syms and
leaves behind three instructions: multiply, subtract, multiply. That is how the compiled
path gets its program from the same rules as eager mode (compiled.py).

An instruction is plain data: the Sym it defines, a numpy call by name, its arguments (Syms
or literal constants) and its keyword arguments; its kind says how a backend may run it:

    "ufunc"    element-wise numpy ufunc: may write into a buffer given as out=, even one
               of its own inputs
    "matmul"   np.matmul: may write into a buffer given as out= that no input uses
    "reduce"   a method such as x.sum(axis=…, keepdims=…): may take out=
    "join"     np.concatenate / np.stack: may take out=
    "view"     a new view of existing memory (slice, transpose, reshape): no buffer
    "fresh"    makes a fresh array every time (astype, zeros_like, fancy indexing)
    "mutate"   writes into its first argument, a "fresh" array (x[i] = v, np.add.at)
"""
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

@dataclass(eq=False)
class Instr:
    out: "Sym"            # the value defined (for "mutate": the value written into)
    call: str             # numpy function ("multiply") or method (".sum") by name
    args: tuple
    kwargs: dict = field(default_factory=dict)
    kind: str = "ufunc"

    @cached_property
    def reads(self):
        """The Syms it reads, in its arguments and keyword arguments."""
        out = []

        def visit(a):
            if isinstance(a, Sym):
                out.append(a)
            elif isinstance(a, (tuple, list)):
                for x in a:
                    visit(x)
        visit(self.args)
        visit(list(self.kwargs.values()))
        return out

    def __str__(self):
        args = [_show(a) for a in self.args] + [f"{k}={_show(v)}" for k, v in self.kwargs.items()]
        if self.call.startswith("."):            # a method of its first argument
            text = f"{args[0]}{self.call}({', '.join(args[1:])})"
        else:
            text = f"{self.call}({', '.join(args)})"
        target = "" if self.kind == "mutate" else f"{self.out.name} = "
        return f"{target}{text}".ljust(60) + f"# {self.kind} {self.out.shape}"


def _show(a):
    if isinstance(a, Sym):
        return a.name
    if isinstance(a, (tuple, list)):
        inner = ", ".join(_show(x) for x in a)
        return f"({inner},)" if isinstance(a, tuple) and len(a) == 1 else f"({inner})"
    if isinstance(a, slice):
        return ":".join("" if v is None else str(v) for v in (a.start, a.stop)) + \
            (f":{a.step}" if a.step is not None else "")
    if a is Ellipsis:
        return "..."
    if isinstance(a, np.dtype):
        return f"'{a.name}'"
    return repr(a)


class Builder:
    """Collects the instructions that rules emit while they run on Syms. Rules emit into
    the active builder (`with builder:`), whichever builder made their arguments: a
    backward rule that reads forward values writes its instructions into the backward
    program."""
    active = None

    def __init__(self, prefix):
        self.prefix, self.instrs, self.count = prefix, [], 0

    def __enter__(self):
        self.previous, Builder.active = Builder.active, self
        return self

    def __exit__(self, *exc):
        Builder.active = self.previous

    def leaf(self, value, name=None, role="input"):
        """A Sym for a value that comes from outside the program (an input or a parameter)."""
        return Sym(name or self._name(), np.asarray(value), role)

    def emit(self, call, args, kwargs, kind, value):
        out = Sym(self._name(), value, "value")
        self.instrs.append(Instr(out, call, tuple(args), dict(kwargs), kind))
        return out

    def _name(self):
        self.count += 1
        return f"{self.prefix}{self.count}"


def _value(a):
    if isinstance(a, Sym):
        return a.value
    if isinstance(a, (tuple, list)):
        return type(a)(_value(x) for x in a)
    return a


class Sym:
    """A symbolic array: a name in a program, and its value while tracing."""
    __array_priority__ = 1000

    def __init__(self, name, value, role):
        self.name, self.value, self.role = name, value, role
        self.shape, self.dtype = value.shape, value.dtype     # kept when the value is let go

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape)))

    def __repr__(self):
        return f"Sym({self.name}, {self.shape}, {self.dtype})"

    def __bool__(self):
        raise TypeError("a traced rule branched on an array's value; the compiled path can only "
                        "replay rules whose control flow depends on shapes, not on data")

    __float__ = __int__ = __index__ = __bool__

    # --- numpy's dispatch protocols -----------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if Builder.active is None:
            raise TypeError(f"a symbolic array ({self.name}) was used outside tracing")
        if "out" in kwargs:
            raise TypeError("traced rules must not write with out=: the compiler chooses buffers")
        if method == "__call__":
            kind = "ufunc" if ufunc.signature is None else "matmul"
            return Builder.active.emit(ufunc.__name__, inputs, kwargs, kind, ufunc(*_value(inputs), **kwargs))
        if method == "at":
            target = inputs[0]
            _check_fresh(target)
            getattr(ufunc, "at")(target.value, *_value(inputs[1:]))
            Builder.active.instrs.append(Instr(target, f"{ufunc.__name__}.at", tuple(inputs), {}, "mutate"))
            return None
        return NotImplemented

    def __array_function__(self, func, types, args, kwargs):
        kind = {np.concatenate: "join", np.stack: "join", np.broadcast_to: "view",
                np.zeros_like: "fresh", np.where: "fresh", np.pad: "fresh",
                np.shape: None}.get(func, "unsupported")
        if kind is None:
            return func(*_value(args), **_value(kwargs))
        if kind == "unsupported":
            raise TypeError(f"the compiled path cannot trace np.{func.__name__} yet")
        return Builder.active.emit(func.__name__, args, kwargs, kind, func(*_value(args), **_value(kwargs)))

    # --- methods the rules use -----------------------------------------------------------
    def _method(self, name, kind, *args, **kwargs):
        value = getattr(self.value, name)(*_value(args), **_value(kwargs))
        return Builder.active.emit("." + name, (self,) + args, kwargs, kind, value)

    def sum(self, axis=None, keepdims=False):
        return self._method("sum", "reduce", axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return self._method("max", "reduce", axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return self._method("min", "reduce", axis=axis, keepdims=keepdims)

    def reshape(self, *shape):         # a view, or a copy of a non-contiguous array: the
        return self._method("reshape", "view", *shape)   # backend evaluates it where it is read

    def transpose(self, *axes):
        return self._method("transpose", "view", *axes)

    def swapaxes(self, a, b):
        return self._method("swapaxes", "view", a, b)

    def astype(self, dtype):
        return self._method("astype", "fresh", np.dtype(dtype))

    def copy(self):
        return self._method("copy", "fresh")

    T = property(lambda self: self._method("transpose", "view"))

    def __getitem__(self, index):
        basic = all(isinstance(i, (int, slice, type(None), type(Ellipsis), np.integer))
                    for i in (index if isinstance(index, tuple) else (index,)))
        value = self.value[_value(index)]
        return Builder.active.emit("getitem", (self, index), {}, "view" if basic else "fresh", value)

    def __setitem__(self, index, v):
        _check_fresh(self)
        self.value[_value(index)] = _value(v)
        Builder.active.instrs.append(Instr(self, "setitem", (self, index, v), {}, "mutate"))

    # --- operators: numpy's ufuncs, which come back to __array_ufunc__ -------------------
    def __add__(self, o): return np.add(self, o)
    def __radd__(self, o): return np.add(o, self)
    def __sub__(self, o): return np.subtract(self, o)
    def __rsub__(self, o): return np.subtract(o, self)
    def __mul__(self, o): return np.multiply(self, o)
    def __rmul__(self, o): return np.multiply(o, self)
    def __truediv__(self, o): return np.divide(self, o)
    def __rtruediv__(self, o): return np.divide(o, self)
    def __matmul__(self, o): return np.matmul(self, o)
    def __rmatmul__(self, o): return np.matmul(o, self)
    def __neg__(self): return np.negative(self)
    def __lt__(self, o): return np.less(self, o)      # not == and !=: Syms are dict keys, by identity
    def __le__(self, o): return np.less_equal(self, o)
    def __gt__(self, o): return np.greater(self, o)
    def __ge__(self, o): return np.greater_equal(self, o)


def _check_fresh(target):
    instrs = Builder.active.instrs
    made = isinstance(target, Sym) and next((i for i in instrs if i.out is target), None)
    if not made or made.kind != "fresh":
        raise TypeError("a traced rule may write only into an array it has just made (np.zeros_like)")
