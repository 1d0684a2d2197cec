"""Optimizers: the lectures' update W ← W − η ∂E/∂W (SGD), with momentum; Adam; and
gradient-norm clipping, the standard answer to the exploding gradients of lecture 002.

They update each parameter's `.data` in place from its `.grad`; a parameter whose `.grad`
is None (no backward pass reached it) is left as it is. Each parameter must be given once:
the same Tensor twice (as in model.parameters() + model.parameters()) is a ValueError, as
it would be updated, or clipped, twice.
"""
import math

import numpy as np

from .checks import real
from .tensor import Tensor


def _parameters(params, who):
    if isinstance(params, Tensor) or not hasattr(params, "__iter__"):
        what = "a single Tensor" if isinstance(params, Tensor) else type(params).__name__
        raise TypeError(f"{who}: needs a list of parameters; got {what} (write [t], or "
                        f"model.parameters())")
    params = list(params)
    if not params:
        raise ValueError(f"{who}: got no parameters to update")
    first = {}                     # id(tensor) -> its first position: identity, not == (elementwise)
    for k, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: parameters must be Tensors; got {type(p).__name__}")
        if id(p) in first:
            named = f" ({p.name})" if p.name else ""
            raise ValueError(f"{who}: parameter {k} is the same tensor as parameter {first[id(p)]}{named}; "
                             f"give each parameter once (it would be updated twice per step)")
        first[id(p)] = k
    return params


class Optimizer:
    def __init__(self, params, lr):
        self.params = _parameters(params, type(self).__name__)
        self.lr = real(f"{type(self).__name__}: lr", lr, above=0)
        self.shapes = [p.data.shape for p in self.params]     # its per-parameter state has these

    def _grads(self):
        """[(index, parameter, gradient)] for the parameters that have a gradient. Every
        parameter is checked before any is updated, so a bad .grad leaves them all unchanged."""
        who = f"{type(self).__name__}.step"
        out = []
        for k, p in enumerate(self.params):
            if p.grad is None:
                continue
            named = f"parameter {k}" + (f" ({p.name})" if p.name else "")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{who}: {named} holds {p.data.dtype} data; parameters must be float")
            if not isinstance(p.grad, np.ndarray) or p.grad.dtype.kind != "f":
                raise TypeError(f"{who}: {named} has a .grad that is not a float numpy array "
                                f"({type(p.grad).__name__} of dtype {getattr(p.grad, 'dtype', None)}); "
                                f"set p.grad = t.data.copy() for a Tensor t")
            if p.data.shape != self.shapes[k]:
                raise ValueError(f"{who}: {named} had shape {self.shapes[k]} when the optimizer was made "
                                 f"and has {p.data.shape} now; make a new optimizer for the new shape")
            if not p.data.flags.writeable:
                raise ValueError(f"{who}: {named}'s data is read-only (a broadcast or expanded view?), and "
                                 f"a step writes it in place; give it an array of its own: "
                                 f"p.data = p.data.copy()")
            if p.grad.shape != p.data.shape:
                raise ValueError(f"{who}: {named} has shape {p.data.shape} but its .grad has shape "
                                 f"{p.grad.shape}; a gradient must have its parameter's shape")
            out.append((k, p, p.grad))
        return out

    def zero_grad(self):
        for p in self.params:
            p.grad = None


class SGD(Optimizer):
    """v ← μ v + g;  W ← W − η v  (μ = 0: the lectures' W ← W − η ∂E/∂W)."""

    def __init__(self, params, lr, momentum=0.0):
        super().__init__(params, lr)
        self.momentum = real("SGD: momentum", momentum, at_least=0, below=1)
        self.velocity = [None] * len(self.params)

    def step(self):
        for k, p, grad in self._grads():
            step = grad
            if self.momentum:
                v = self.velocity[k]
                self.velocity[k] = step = grad.copy() if v is None else self.momentum * v + grad
            p.data -= self.lr * step


class Adam(Optimizer):
    """m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  W ← W − η m̂/(√v̂ + ε), where m̂ = m/(1−β₁ᵗ) and
    v̂ = v/(1−β₂ᵗ) undo the bias of starting m and v at 0 (Kingma & Ba, 2015)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be two numbers in [0, 1); got {betas!r}")
        self.betas = tuple(real(f"Adam: betas[{k}]", b, at_least=0, below=1) for k, b in enumerate(betas))
        self.eps = real("Adam: eps", eps, above=0)
        self.t = 0
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def step(self):
        grads = self._grads()             # checked before the step is counted
        self.t += 1
        b1, b2 = self.betas
        correct1, correct2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for k, p, g in grads:
            m, v = self.m[k], self.v[k]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p.data -= self.lr * (m / correct1) / (np.sqrt(v / correct2) + self.eps)


def clip_grad_norm(params, max_norm):
    """Scale all gradients together so their joint L2 norm is at most max_norm; return the
    norm before clipping (NaN or inf if a gradient is not finite: nothing is scaled then)."""
    params = _parameters(params, "clip_grad_norm")
    max_norm = real("clip_grad_norm: max_norm", max_norm, above=0)
    grads = [p.grad for p in params if p.grad is not None]
    for g in grads:
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            raise TypeError(f"clip_grad_norm: every .grad must be a float numpy array; "
                            f"got {type(g).__name__} of dtype {getattr(g, 'dtype', None)}")
    with np.errstate(over="ignore"):              # an overflow is seen, and handled, below
        total = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    if math.isinf(total) and all(np.all(np.isfinite(g)) for g in grads):
        # the squares overflowed (past 1.8e19 in float32, 1.3e154 in float64): scale first
        largest = max(float(np.max(np.abs(g))) for g in grads if g.size)
        total = largest * math.sqrt(sum(float(np.sum(np.square(g / largest, dtype=np.float64)))
                                        for g in grads))
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in params:                          # new arrays: a .grad may be another array's
            if p.grad is not None:                # memory (p.grad = t.data), which must not change
                p.grad = p.grad * np.asarray(scale, dtype=p.grad.dtype)
    return total
