"""A program pass: products that share their input become one product.

An LSTM step computes W_f X_t, W_i X_t, W_c X_t and W_o X_t: four thin matrix products of
the same X_t. In the program, the pass stacks the weights once per replay,
W = [W_f; W_i; W_c; W_o] (in `pre`), and computes all four in one product whose columns
are the four gates. Reverse mode then has the mirror image: dX_t = Σ_g dg_t W_g becomes
one product [df_t, di_t, dc_t, do_t] W, the four gate gradients being written side by
side into one buffer; and the weights' gradients Σ_t dg_tᵀ X_t become one product after
the loop, whose rows are the four dW_g. Same arithmetic, fewer and larger numpy calls.
The eager graph keeps the four gates apart, as the lecture draws them.
"""
import itertools
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .program import is_column_slice, uses as count_uses
from .trace import Instr, Sym


@dataclass(eq=False)
class Gate:
    """One product of a fused set: its weight's (and bias's) parameter index, its columns
    lo:hi of the fused product, its weight W, and its gradient g once the backward is fused."""
    weight: int
    bias: Optional[int]
    lo: int
    hi: int
    W: Sym
    g: Optional[Sym] = None


@dataclass(eq=False)
class Group:
    """Gates fused into one product of the forward value x, whose gradients are the columns
    of the backward loop's buffer D_t."""
    x: Sym
    gates: List[Gate]
    D: Sym


def fuse_shared_products(program, params):
    """Fuse every set of ≥ 2 products x @ W_kᵀ (+ b_k) of one forward value x; `params`
    maps each parameter Sym to its index."""
    made = {i.out: i for name in program.sections for i in program.sections[name]}
    uses = count_uses(program)
    candidates = {}
    for instr in program.sections["forward"]:
        weight = _transposed_param(instr, made, params)
        if weight is not None and instr.args[0].ndim == 2 and uses[instr.out] == 1:
            candidates.setdefault(instr.args[0], []).append((instr, weight))
    for x, found in candidates.items():
        if len(found) >= 2:
            _fuse(program, x, found, made, uses, params)


def _transposed_param(instr, made, params):
    if instr.call != "matmul" or len(instr.args) != 2 or not isinstance(instr.args[1], Sym):
        return None
    t = made.get(instr.args[1])
    if t is None or t.call != ".transpose" or len(t.args) != 1 or t.args[0] not in params:
        return None
    return t.args[0]


def _fuse(program, x, found, made, uses, params):
    forward = program.sections["forward"]
    adds = {}
    for instr, _ in found:             # the bias add that follows each product, if any
        after = next((i for i in forward if i.call == "add" and i.args[0] is instr.out), None)
        if after is not None and isinstance(after.args[1], Sym) and after.args[1] in params:
            adds[instr] = after
    if 0 < len(adds) < len(found):     # some gates with a bias, some without: leave them
        return
    with_bias = len(adds) == len(found)
    found = sorted(found, key=lambda f: _chain(program, (adds[f[0]] if with_bias else f[0]).out))
    weights = [w for _, w in found]
    count = itertools.count()

    def new(value, name):
        return Sym(f"{name}{next(count)}_{x.name}", value, "value")
    W = new(np.concatenate([w.value for w in weights]), "W")
    WT = new(W.value.T, "WT")
    program.sections["pre"] += [Instr(W, "concatenate", (tuple(weights),), {"axis": 0}, "join"),
                                Instr(WT, ".transpose", (W,), {}, "view")]
    M = new(x.value @ WT.value, "M")
    fused = [Instr(M, "matmul", (x, WT), {}, "matmul")]
    out = M
    if with_bias:
        biases = [adds[i].args[1] for i, _ in found]
        b = new(np.concatenate([v.value for v in biases]), "b")
        program.sections["pre"].append(Instr(b, "concatenate", (tuple(biases),), {"axis": 0}, "join"))
        out = new(M.value + b.value, "A")
        fused.append(Instr(out, "add", (M, b), {}, "ufunc"))
    gates, lo = [], 0
    for instr, w in found:
        pre_activation = adds[instr].out if with_bias else instr.out
        hi = lo + w.shape[0]
        fused.append(Instr(pre_activation, "getitem", (out, (slice(None), slice(lo, hi))), {}, "view"))
        gates.append(Gate(params[w], params[adds[instr].args[1]] if with_bias else None, lo, hi, w))
        lo = hi
    removed = {i for i, _ in found} | set(adds.values())
    first = min(forward.index(i) for i in removed)
    program.sections["forward"] = forward[:first] + fused + [i for i in forward[first:] if i not in removed]
    _fuse_backward(program, x, gates, W, new)


def _fuse_backward(program, x, gates, W, new):
    """dX_t = Σ_k g_k W_k → [g_1 … g_k] W, the g_k written into the columns of one buffer."""
    backward = program.sections["backward"]
    uses = count_uses(program)
    products = {}
    for instr in backward:
        if instr.call == "matmul" and len(instr.args) == 2 and isinstance(instr.args[1], Sym):
            for gate in gates:
                if instr.args[1] is gate.W and uses[instr.out] == 1:
                    products[instr.out] = (instr, gate)
    if len(products) != len(gates):
        return
    partial, chain = set(products), []
    for instr in backward:             # the adds that sum exactly these products
        if instr.call == "add" and len(instr.args) == 2 and all(a in partial for a in instr.args):
            partial -= set(instr.args)
            partial.add(instr.out)
            chain.append(instr)
    if len(partial) != 1:
        return
    total = partial.pop()
    made = {i.out: i for i in backward}
    grads = {gate: instr.args[0] for instr, gate in products.values()}   # each gate's g_k
    if any(g not in made or made[g].kind not in ("ufunc", "matmul") for g in grads.values()):
        return
    if len({id(g) for g in grads.values()}) != len(gates):
        return                         # two gates share one gradient array: no room side by side
    # the weights' (and biases') gradients must be the hoisted Σ_t g_kᵀ X (Σ_t g_k), which
    # the fused product after the loop replaces; a rule written otherwise keeps its own
    post = {(p, how, a, b) for p, how, a, b in program.post}
    if not all((gate.weight, "gemm", g, x) in post
               and (gate.bias is None or (gate.bias, "rows", g, None) in post) for gate, g in grads.items()):
        return
    for gate, g in grads.items():
        gate.g = g
    D = new(np.concatenate([gate.g.value for gate in gates], axis=-1), "D")   # gates are in column order
    last = max(backward.index(i) for i in chain)
    removed = set(chain) | {instr for instr, _ in products.values()}
    fused = Instr(total, "matmul", (D, W), {}, "matmul")
    program.sections["backward"] = [fused if k == last else i for k, i in enumerate(backward)
                                    if i not in removed or k == last]
    program.groups.append(Group(x, gates, D))
    program.post = [e for e in program.post if e[2] not in set(grads.values())]


def _chain(program, s):
    """The element-wise calls applied to s, one after another: gates alike sort together."""
    calls, instrs = [], program.sections["forward"]
    while True:
        readers = [i for i in instrs if any(a is s for a in i.reads)]
        if len(readers) != 1 or readers[0].kind != "ufunc":
            return str(calls)
        calls.append((readers[0].call, [a for a in readers[0].args if not isinstance(a, Sym)]))
        s = readers[0].out


def merge_side_by_side(program):
    """Element-wise ops on neighbouring column spans of one array become one op on their
    union: σ applied to the f, i and o columns of the fused gates is one σ on 3H columns.
    The ops' results become column views of the merged result, so the next op of each
    chain meets neighbours again and merges in turn."""
    count = itertools.count()
    changed = True
    while changed:
        changed = False
        for name in ("forward", "backward"):
            while _merge_once(program, name, count):
                changed = True


def _merge_once(program, name, count):
    instrs = program.sections[name]
    views = {}
    for section in ("forward", name):
        for i in program.sections[section]:
            span = _column_span(i)
            if span is not None:
                views[i.out] = span
    groups = {}
    for i in instrs:
        if i.kind != "ufunc" or i.kwargs:
            continue
        spans = [(k, a) for k, a in enumerate(i.args) if isinstance(a, Sym)]
        if len(spans) != 1 or spans[0][1] not in views:
            continue
        k, v = spans[0]
        base, lo, hi = views[v]
        key = (i.call, k, tuple(repr(a) for a in i.args if not isinstance(a, Sym)), base)
        groups.setdefault(key, []).append((lo, hi, i))
    for (call, k, _, base), members in groups.items():
        members.sort(key=lambda m: m[0])
        run = [members[0]]
        for m in members[1:] + [None]:
            if m is not None and m[0] == run[-1][1]:
                run.append(m)
                continue
            if len(run) >= 2:
                _merge(program, name, base, run, k, count)
                return True
            run = [m] if m is not None else []
    return False


def _column_span(instr):
    """(x, a, b) for a view x[:, a:b], else None."""
    if not is_column_slice(instr):
        return None
    lo, hi, _ = instr.args[1][1].indices(instr.args[0].shape[1])
    return instr.args[0], lo, hi


def _merge(program, name, base, run, k, count):
    lo, hi = run[0][0], run[-1][1]
    first = run[0][2]
    tag = next(count)
    V = Sym(f"V{tag}", base.value[:, lo:hi], "value")
    args = list(first.args)
    args[k] = V
    value = getattr(np, first.call)(*[a.value if isinstance(a, Sym) else a for a in args])
    O = Sym(f"O{tag}", value, "value")
    merged = [Instr(V, "getitem", (base, (slice(None), slice(lo, hi))), {}, "view"),
              Instr(O, first.call, tuple(args), {}, "ufunc")]
    merged += [Instr(i.out, "getitem", (O, (slice(None), slice(a - lo, b - lo))), {}, "view")
               for a, b, i in run]
    members = {i for _, _, i in run}
    instrs = program.sections[name]
    at = min(instrs.index(i) for i in members)         # where the earliest of them stood
    program.sections[name] = [x for x in instrs[:at] if x not in members] + merged + \
        [x for x in instrs[at:] if x not in members]
