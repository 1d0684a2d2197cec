"""Each op's backward rule in one line, for the page's stepper: what reverse mode adds to the
inputs' gradients once the output's gradient g = ∂L/∂out is complete. The rules themselves
are in tinygrad_lstm/ops.py; these are their formulas, in the names of the graph's nodes."""
from .layout import time_of

RULES = {
    "add": "∂L/∂{a} += {g},  ∂L/∂{b} += {g}",
    "sub": "∂L/∂{a} += {g},  ∂L/∂{b} −= {g}",
    "mul": "∂L/∂{a} += {g} ⊙ {b},  ∂L/∂{b} += {g} ⊙ {a}",
    "div": "∂L/∂{a} += {g} / {b},  ∂L/∂{b} −= {g} ⊙ {a} / {b}²",
    "matmul": "∂L/∂{a} += {g} {b}ᵀ,  ∂L/∂{b} += {a}ᵀ {g}",
    # affine(x, W, b) is W x + b for a vector x (n×1), x Wᵀ + b for a batch (a row per sequence)
    "affine": "{out} = {b} {a} + {c}:  ∂L/∂{a} += {b}ᵀ {g},  ∂L/∂{b} += {g} {a}ᵀ,  ∂L/∂{c} += {g}",
    "affine/2": "{out} = {b} {a}:  ∂L/∂{a} += {b}ᵀ {g},  ∂L/∂{b} += {g} {a}ᵀ",
    "affine/batch": "{out} = {a} {b}ᵀ + {c}:  ∂L/∂{a} += {g} {b},  ∂L/∂{b} += {g}ᵀ {a},  "
                    "∂L/∂{c} += Σ_rows {g}",
    "affine/2/batch": "{out} = {a} {b}ᵀ:  ∂L/∂{a} += {g} {b},  ∂L/∂{b} += {g}ᵀ {a}",
    "neg": "∂L/∂{a} −= {g}",
    "sigmoid": "∂L/∂{a} += {g} ⊙ {out} ⊙ (1 − {out})",
    "tanh": "∂L/∂{a} += {g} ⊙ (1 − {out}²)",
    "exp": "∂L/∂{a} += {g} ⊙ {out}",
    "log": "∂L/∂{a} += {g} / {a}",
    "pow": "∂L/∂{a} += {g} ⊙ {b} {a}^({b}−1),  ∂L/∂{b} += {g} ⊙ {out} ln {a}",
    "pow_scalar": "∂L/∂{a} += {g} ⊙ p {a}^(p−1), p the exponent",
    "sqrt": "∂L/∂{a} += {g} / (2 {out})",
    # [P] is 1 where P holds and 0 elsewhere
    "relu": "∂L/∂{a} += {g} ⊙ [{a} > 0]",
    "abs": "∂L/∂{a} += {g} ⊙ sign({a})",
    "sign": "∂L/∂{a} += 0: sign is flat",
    "clamp": "∂L/∂{a} += {g} ⊙ [min ≤ {a} ≤ max]",
    "maximum": "∂L/∂{a} += {g} ⊙ ([{a} > {b}] + ½[{a} = {b}]),  "
               "∂L/∂{b} += {g} ⊙ ([{b} > {a}] + ½[{b} = {a}])",
    "minimum": "∂L/∂{a} += {g} ⊙ ([{a} < {b}] + ½[{a} = {b}]),  "
               "∂L/∂{b} += {g} ⊙ ([{b} < {a}] + ½[{b} = {a}])",
    "where": "∂L/∂{b} += {g} ⊙ [{a}],  ∂L/∂{c} += {g} ⊙ [not {a}]",
    "sum": "∂L/∂{a} += {g}, copied back over the summed axes",
    "mean": "∂L/∂{a} += {g} / n, copied back over the averaged axes",
    "max": "∂L/∂{a} += {g} ⊙ [{a} = {out}] / k, k the number of ties, copied back over the reduced axes",
    "min": "∂L/∂{a} += {g} ⊙ [{a} = {out}] / k, k the number of ties, copied back over the reduced axes",
    "reshape": "∂L/∂{a} += {g}, reshaped back to {a}'s shape",
    "transpose": "∂L/∂{a} += {g} transposed back",
    "expand": "∂L/∂{a} += {g}, summed over the copies",
    "pad": "∂L/∂{a} += the middle of {g}, without the padding",
    "clone": "∂L/∂{a} += {g}",
    "getitem": "∂L/∂{a}[index] += {g}",
    "concat": "each input gets its own slice of {g}",
    "stack": "input k gets its own slice {g}[k]",
    "softmax": "∂L/∂{a} += {out} ⊙ ({g} − Σ {g} ⊙ {out})",
    "log_softmax": "∂L/∂{a} += {g} − softmax({a}) Σ {g}",
    "cross_entropy": "∂L/∂{a} += {g} ⊙ (softmax({a}) − {b})",
}


def rule(t):
    """t's op's backward rule, with its own name and its inputs' names; "" for a leaf. A name
    of several words is put in brackets: ∂L/∂(CS_{t-1} ⊗ F_t)."""
    if not t.op:
        return ""
    names = {"out": _name(t)}
    for key, parent in zip("abc", t.parents):
        names[key] = _name(parent, t)
    names["g"] = f"∂L/∂{names['out']}"
    key = t.op
    if t.op == "affine":
        key += "/2" * (len(t.parents) == 2) + "/batch" * (t.parents[0].data.ndim == 2)
    return RULES.get(key, "see its backward() in tinygrad_lstm/ops.py").format(**names)


def _name(t, user=None):
    """A node's name as its user's rule says it: the step before's CS_t is CS_{t-1}."""
    name = t.name or t.op or "const"
    step, user_step = time_of(t.scope), time_of(getattr(user, "scope", None))
    if name.endswith("_t") and None not in (step, user_step) and step == user_step - 1:
        name = name[:-2] + "_{t-1}"
    return f"({name})" if " " in name else name
