"""Every op as a table row: our function, its numpy reference, its torch twin, input shapes.

The same rows drive the finite-difference tests, the float32 tests and the torch tests.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

from tinygrad_lstm import affine, concat, cross_entropy, maximum, minimum, pad, stack, where


@dataclass
class Case:
    id: str
    ours: Callable
    numpy: Callable
    shapes: Tuple[tuple, ...]
    torch: Optional[Callable] = None   # called with torch tensors; None: no torch twin
    positive: bool = False             # inputs in [0.5, 2): log, and divisors away from 0


def torch_linear(x, w, b=None):
    import torch.nn.functional as F      # only called when torch is importable
    return F.linear(x, w, b)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _cross_entropy_indices(z, idx):
    return -_log_softmax(z, -1)[np.arange(len(idx)), idx]


IDX = np.array([2, 0, 1, 2])                       # class indices for 4 rows of 3 classes
ONE_HOT = np.eye(3)[[1, 1, 0, 2]]

BROADCAST_PAIRS = {
    "same": ((3, 4), (3, 4)),
    "scalar-right": ((3, 4), ()),
    "scalar-left": ((), (3, 4)),
    "row": ((3, 4), (4,)),
    "column": ((3, 4), (3, 1)),
    "leading": ((2, 3, 4), (3, 4)),
    "both-stretch": ((2, 1, 4), (3, 1)),
    "outer": ((1, 4), (3, 1)),
}

CASES = []
for kind, shapes in BROADCAST_PAIRS.items():
    CASES += [
        Case(f"add-{kind}", lambda a, b: a + b, lambda a, b: a + b, shapes, lambda a, b: a + b),
        Case(f"sub-{kind}", lambda a, b: a - b, lambda a, b: a - b, shapes, lambda a, b: a - b),
        Case(f"mul-{kind}", lambda a, b: a * b, lambda a, b: a * b, shapes, lambda a, b: a * b),
        Case(f"div-{kind}", lambda a, b: a / b, lambda a, b: a / b, shapes, lambda a, b: a / b,
             positive=True),
    ]

for kind, shapes in {"2d@2d": ((3, 4), (4, 5)), "1d@2d": ((4,), (4, 5)), "2d@1d": ((3, 4), (4,)),
                     "1d@1d": ((4,), (4,)), "3d@2d": ((2, 3, 4), (4, 5)),
                     "3d@3d": ((2, 3, 4), (2, 4, 5)), "2d@3d": ((3, 4), (2, 4, 5)),
                     "batch-broadcast": ((2, 1, 3, 4), (5, 4, 2)), "1d@3d": ((4,), (2, 4, 5))}.items():
    CASES.append(Case(f"matmul-{kind}", lambda a, b: a @ b, lambda a, b: a @ b, shapes,
                      lambda a, b: a @ b))

# affine(x, W, b) = x Wᵀ + b with W (out, in): torch.nn.functional.linear
for kind, shapes in {"2d": ((3, 4), (5, 4), (5,)), "1d": ((4,), (5, 4), (5,)),
                     "one-row": ((1, 4), (5, 4), (5,))}.items():    # db is that row, not a sum
    CASES.append(Case(f"affine-{kind}", affine, lambda x, w, b: x @ w.T + b, shapes,
                      lambda x, w, b: torch_linear(x, w, b)))
for kind, shapes in {"2d": ((3, 4), (5, 4)), "1d": ((4,), (5, 4))}.items():
    CASES.append(Case(f"affine-no-bias-{kind}", affine, lambda x, w: x @ w.T, shapes,
                      lambda x, w: torch_linear(x, w)))

CASES += [
    Case("neg", lambda a: -a, lambda a: -a, ((3, 4),), lambda a: -a),
    Case("sigmoid", lambda a: a.sigmoid(), _sigmoid, ((3, 4),), lambda a: a.sigmoid()),
    Case("tanh", lambda a: a.tanh(), np.tanh, ((3, 4),), lambda a: a.tanh()),
    Case("exp", lambda a: a.exp(), np.exp, ((3, 4),), lambda a: a.exp()),
    Case("log", lambda a: a.log(), np.log, ((3, 4),), lambda a: a.log(), positive=True),
    Case("scalar-ops", lambda a: 2 * a - 1 / (3 + a * a) + 0.5,
         lambda a: 2 * a - 1 / (3 + a * a) + 0.5, ((3, 4),), lambda a: 2 * a - 1 / (3 + a * a) + 0.5),
    Case("array-constants", lambda a: a * np.arange(4.0) + np.ones((3, 1)),
         lambda a: a * np.arange(4.0) + np.ones((3, 1)), ((3, 4),)),
]


def _torch():
    import torch                          # only called when torch is importable
    return torch


CASES += [
    Case("pow-tensor", lambda a, b: a ** b, lambda a, b: a ** b, ((3, 4), (3, 4)), lambda a, b: a ** b,
         positive=True),
    Case("pow-tensor-row", lambda a, b: a ** b, lambda a, b: a ** b, ((3, 4), (4,)), lambda a, b: a ** b,
         positive=True),
    Case("pow-cube", lambda a: a ** 3, lambda a: a ** 3, ((3, 4),), lambda a: a ** 3),   # negative bases too
    Case("pow-root", lambda a: a ** 0.5, np.sqrt, ((3, 4),), lambda a: a ** 0.5, positive=True),
    Case("pow-negative", lambda a: a ** -1.5, lambda a: a ** -1.5, ((3, 4),), lambda a: a ** -1.5,
         positive=True),
    Case("rpow", lambda a: 2 ** a, lambda a: 2.0 ** a, ((3, 4),), lambda a: 2 ** a),
    Case("sqrt", lambda a: a.sqrt(), np.sqrt, ((3, 4),), lambda a: a.sqrt(), positive=True),
    Case("relu", lambda a: a.relu(), lambda a: np.maximum(a, 0), ((3, 4),), lambda a: a.relu()),
    Case("abs", abs, np.abs, ((3, 4),), lambda a: a.abs()),
    Case("sign", lambda a: a.sign(), np.sign, ((3, 4),), lambda a: a.sign()),
    Case("clamp", lambda a: a.clamp(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), ((3, 4),),
         lambda a: a.clamp(-0.5, 0.5)),
    Case("clamp-min", lambda a: a.clamp(min=0.2), lambda a: np.maximum(a, 0.2), ((3, 4),),
         lambda a: a.clamp(min=0.2)),
    Case("clamp-max", lambda a: a.clamp(max=-0.1), lambda a: np.minimum(a, -0.1), ((3, 4),),
         lambda a: a.clamp(max=-0.1)),
    # x against itself: every element a tie, half of g to each side, so x gets g once, not twice
    Case("maximum-ties", lambda a: maximum(a, a), lambda a: a, ((3, 4),), lambda a: _torch().maximum(a, a)),
]
for kind in ("same", "scalar-right", "row", "both-stretch"):
    shapes = BROADCAST_PAIRS[kind]
    CASES += [Case(f"maximum-{kind}", maximum, np.maximum, shapes, lambda a, b: _torch().maximum(a, b)),
              Case(f"minimum-{kind}", minimum, np.minimum, shapes, lambda a, b: _torch().minimum(a, b))]

COND = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
CASES += [
    Case("where", lambda a, b: where(COND, a, b), lambda a, b: np.where(COND, a, b), ((3, 4), (3, 4)),
         lambda a, b: _torch().where(_torch().tensor(COND), a, b)),
    Case("where-broadcast", lambda a, b: where(COND, a, b), lambda a, b: np.where(COND, a, b), ((3, 1), (4,)),
         lambda a, b: _torch().where(_torch().tensor(COND), a, b)),
    Case("where-number", lambda a: where(COND, 0.5, a), lambda a: np.where(COND, 0.5, a), ((3, 4),),
         lambda a: _torch().where(_torch().tensor(COND), 0.5, a)),
    Case("where-leaky-relu", lambda a: where(a > 0, a, 0.1 * a), lambda a: np.where(a > 0, a, 0.1 * a),
         ((3, 4),), lambda a: _torch().where(a > 0, a, 0.1 * a)),
]

for axis in (None, 0, 1, -1, (0, 2)):
    for keepdims in (False, True):
        CASES += [
            Case(f"sum-axis{axis}-keep{keepdims}", lambda a, ax=axis, k=keepdims: a.sum(axis=ax, keepdims=k),
                 lambda a, ax=axis, k=keepdims: a.sum(axis=ax, keepdims=k), ((2, 3, 4),),
                 lambda a, ax=axis, k=keepdims: a.sum(dim=ax, keepdim=k) if ax is not None else a.sum()),
            Case(f"mean-axis{axis}-keep{keepdims}",
                 lambda a, ax=axis, k=keepdims: a.mean(axis=ax, keepdims=k),
                 lambda a, ax=axis, k=keepdims: a.mean(axis=ax, keepdims=k), ((2, 3, 4),),
                 lambda a, ax=axis, k=keepdims: a.mean(dim=ax, keepdim=k) if ax is not None else a.mean()),
        ]

for axis in (None, 0, 1, -1, (0, 2)):
    for keepdims in (False, True):
        dims = dict(dim=axis if axis is not None else tuple(range(3)), keepdim=keepdims)
        CASES += [
            Case(f"max-axis{axis}-keep{keepdims}", lambda a, ax=axis, k=keepdims: a.max(axis=ax, keepdims=k),
                 lambda a, ax=axis, k=keepdims: a.max(axis=ax, keepdims=k), ((2, 3, 4),),
                 lambda a, d=dims: a.amax(**d)),
            Case(f"min-axis{axis}-keep{keepdims}", lambda a, ax=axis, k=keepdims: a.min(axis=ax, keepdims=k),
                 lambda a, ax=axis, k=keepdims: a.min(axis=ax, keepdims=k), ((2, 3, 4),),
                 lambda a, d=dims: a.amin(**d)),
        ]
CASES += [   # every largest (smallest) element twice: the two copies share the gradient, x gets g once
    Case("max-ties", lambda a: concat([a, a]).max(axis=0), lambda a: a.max(axis=0), ((3, 4),),
         lambda a: _torch().cat([a, a]).amax(dim=0)),
    Case("min-ties", lambda a: concat([a, a]).min(), lambda a: a.min(), ((3, 4),),
         lambda a: _torch().cat([a, a]).amin()),
]

CASES += [
    Case("reshape", lambda a: a.reshape(6, 4), lambda a: a.reshape(6, 4), ((2, 3, 4),),
         lambda a: a.reshape(6, 4)),
    Case("reshape-flat", lambda a: a.reshape(-1), lambda a: a.reshape(-1), ((2, 3, 4),),
         lambda a: a.reshape(-1)),
    Case("T", lambda a: a.T, lambda a: a.T, ((3, 4),), lambda a: a.T),
    Case("transpose-permute", lambda a: a.transpose(2, 0, 1), lambda a: a.transpose(2, 0, 1),
         ((2, 3, 4),), lambda a: a.permute(2, 0, 1)),
    Case("getitem-int", lambda a: a[1], lambda a: a[1], ((3, 4),), lambda a: a[1]),
    Case("getitem-slices", lambda a: a[:, 1:3], lambda a: a[:, 1:3], ((3, 4),), lambda a: a[:, 1:3]),
    Case("getitem-step", lambda a: a[..., ::2], lambda a: a[..., ::2], ((2, 3, 4),), lambda a: a[..., ::2]),
    Case("getitem-reverse", lambda a: a[::-1], lambda a: a[::-1], ((3, 4),)),
    Case("getitem-newaxis", lambda a: a[None, 0], lambda a: a[None, 0], ((3, 4),), lambda a: a[None, 0]),
    Case("getitem-repeated-rows", lambda a: a[[0, 2, 0, 0]], lambda a: a[[0, 2, 0, 0]], ((3, 4),),
         lambda a: a[[0, 2, 0, 0]]),
    Case("getitem-pairs", lambda a: a[[0, 1, 1], [3, 0, 0]], lambda a: a[[0, 1, 1], [3, 0, 0]], ((3, 4),),
         lambda a: a[[0, 1, 1], [3, 0, 0]]),
    Case("getitem-mask", lambda a: a[np.array([True, False, True])],
         lambda a: a[np.array([True, False, True])], ((3, 4),)),
]


def _torch_pad(widths, value=0.0):
    """torch's F.pad takes (before, after) pairs from the last axis back, in one flat list."""
    flat = [n for pair in reversed(widths) for n in pair]
    return lambda a: __import__("torch").nn.functional.pad(a, flat, value=value)


CASES += [
    Case("squeeze", lambda a: a.squeeze(1), lambda a: a.squeeze(1), ((3, 1, 4),), lambda a: a.squeeze(1)),
    Case("squeeze-all", lambda a: a.squeeze(), lambda a: a.squeeze(), ((1, 3, 1),), lambda a: a.squeeze()),
    Case("unsqueeze", lambda a: a.unsqueeze(1), lambda a: a[:, None], ((3, 4),), lambda a: a.unsqueeze(1)),
    Case("unsqueeze-last", lambda a: a.unsqueeze(-1), lambda a: a[..., None], ((3, 4),),
         lambda a: a.unsqueeze(-1)),
    Case("flatten", lambda a: a.flatten(), lambda a: a.reshape(-1), ((2, 3, 4),), lambda a: a.flatten()),
    Case("clone", lambda a: a.clone(), lambda a: a.copy(), ((3, 4),), lambda a: a.clone()),
    Case("expand", lambda a: a.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), ((3, 1),),
         lambda a: a.expand(2, 3, 4)),
    Case("expand-keep", lambda a: a.expand(-1, 5), lambda a: np.broadcast_to(a, (3, 5)), ((3, 1),),
         lambda a: a.expand(-1, 5)),
    Case("pad", lambda a: pad(a, ((1, 2), (0, 3))), lambda a: np.pad(a, ((1, 2), (0, 3))), ((3, 4),),
         _torch_pad(((1, 2), (0, 3)))),
    Case("pad-pair", lambda a: pad(a, (2, 1)), lambda a: np.pad(a, (2, 1)), ((3, 4),),
         _torch_pad(((2, 1), (2, 1)))),
    Case("pad-value", lambda a: pad(a, 1, value=2.5), lambda a: np.pad(a, 1, constant_values=2.5),
         ((2, 3, 4),), _torch_pad(((1, 1),) * 3, value=2.5)),
]

for axis in (0, 1, -1):
    shapes = [(3, 4, 2), (3, 4, 2), (3, 4, 2)]
    for i, n in zip(range(3), (2, 1, 3)):
        shapes[i] = tuple(n if d == axis % 3 else s for d, s in enumerate(shapes[i]))
    CASES.append(Case(f"concat-axis{axis}", lambda *xs, ax=axis: concat(xs, axis=ax),
                      lambda *xs, ax=axis: np.concatenate(xs, axis=ax), tuple(shapes),
                      lambda *xs, ax=axis: __import__("torch").cat(xs, dim=ax)))

for axis in (0, 1, -1):
    CASES.append(Case(f"stack-axis{axis}", lambda *xs, ax=axis: stack(xs, axis=ax),
                      lambda *xs, ax=axis: np.stack(xs, axis=ax), ((3, 2), (3, 2), (3, 2)),
                      lambda *xs, ax=axis: __import__("torch").stack(xs, dim=ax)))

for axis in (-1, 0):
    CASES += [
        Case(f"softmax-axis{axis}", lambda a, ax=axis: a.softmax(ax),
             lambda a, ax=axis: np.exp(_log_softmax(a, ax)), ((3, 4),), lambda a, ax=axis: a.softmax(ax)),
        Case(f"log_softmax-axis{axis}", lambda a, ax=axis: a.log_softmax(ax),
             lambda a, ax=axis: _log_softmax(a, ax), ((3, 4),), lambda a, ax=axis: a.log_softmax(ax)),
    ]


def _torch_ce(target, reduction):
    def f(z):
        import torch
        return torch.nn.functional.cross_entropy(z, torch.tensor(target), reduction=reduction)
    return f


for reduction, reduce in (("none", lambda v: v), ("sum", np.sum), ("mean", np.mean)):
    CASES += [
        Case(f"cross_entropy-indices-{reduction}", lambda z, r=reduction: cross_entropy(z, IDX, r),
             lambda z, f=reduce: f(_cross_entropy_indices(z, IDX)), ((4, 3),), _torch_ce(IDX, reduction)),
        Case(f"cross_entropy-onehot-{reduction}", lambda z, r=reduction: cross_entropy(z, ONE_HOT, r),
             lambda z, f=reduce: f(-(ONE_HOT * _log_softmax(z, -1)).sum(-1)), ((4, 3),),
             _torch_ce(ONE_HOT, reduction)),
    ]
CASES.append(Case("cross_entropy-batched-time", lambda z: cross_entropy(z, IDX.reshape(2, 2), "sum"),
                  lambda z: -_log_softmax(z, -1)[[[0, 0], [1, 1]], [[0, 1], [0, 1]], IDX.reshape(2, 2)].sum(),
                  ((2, 2, 3),)))

BY_ID = {c.id: c for c in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"
