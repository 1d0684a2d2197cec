"""Each op's backward rule in one line, for the page's stepper: what reverse mode adds to the
inputs' gradients once the output's gradient g = ∂L/∂out is complete. The rules themselves
are in tinygrad_lstm/ops.py; these are their formulas, in the names of the graph's nodes."""

RULES = {
    "add": "∂L/∂{a} += {g},  ∂L/∂{b} += {g}",
    "sub": "∂L/∂{a} += {g},  ∂L/∂{b} −= {g}",
    "mul": "∂L/∂{a} += {g} ⊙ {b},  ∂L/∂{b} += {g} ⊙ {a}",
    "div": "∂L/∂{a} += {g} / {b},  ∂L/∂{b} −= {g} ⊙ {a} / {b}²",
    "matmul": "∂L/∂{a} += {g} {b}ᵀ,  ∂L/∂{b} += {a}ᵀ {g}",
    "affine": "{out} = {b} {a} + {c}:  ∂L/∂{a} += {b}ᵀ {g},  ∂L/∂{b} += {g} {a}ᵀ,  ∂L/∂{c} += {g}",
    "neg": "∂L/∂{a} −= {g}",
    "sigmoid": "∂L/∂{a} += {g} ⊙ {out} ⊙ (1 − {out})",
    "tanh": "∂L/∂{a} += {g} ⊙ (1 − {out}²)",
    "exp": "∂L/∂{a} += {g} ⊙ {out}",
    "log": "∂L/∂{a} += {g} / {a}",
    "sum": "∂L/∂{a} += {g}, copied back over the summed axes",
    "mean": "∂L/∂{a} += {g} / n, copied back over the averaged axes",
    "reshape": "∂L/∂{a} += {g}, reshaped back to {a}'s shape",
    "transpose": "∂L/∂{a} += {g} transposed back",
    "getitem": "∂L/∂{a}[index] += {g}",
    "concat": "each input gets its own slice of {g}",
    "stack": "input k gets its own slice {g}[k]",
    "softmax": "∂L/∂{a} += {out} ⊙ ({g} − Σ {g} ⊙ {out})",
    "log_softmax": "∂L/∂{a} += {g} − softmax({a}) Σ {g}",
    "cross_entropy": "∂L/∂{a} += {g} ⊙ (softmax({a}) − {b})",
}


def rule(t):
    """t's op's backward rule, with its own name and its inputs' names; "" for a leaf."""
    if not t.op:
        return ""
    names = {"out": t.name or t.op}
    for key, parent in zip("abc", t.parents):
        names[key] = parent.name or parent.op or "const"
    text = RULES.get(t.op, "see its backward() in tinygrad_lstm/ops.py")
    names["g"] = f"∂L/∂{names['out']}"
    return text.format_map(_Missing(names))


class _Missing(dict):
    def __missing__(self, key):
        return "?"
