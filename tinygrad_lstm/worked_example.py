"""Lecture 004's worked example, replayed on the engine: one LSTM step with the lecture's
weights, every forward value and every gradient beside what the lecture printed.

Setup (docs/math.md §4.1): H = 2, I = 3, O = 3, one step, no biases, HS_0 = [0, 0],
CS_0 = [1, 0], x_1 = [1, 0, 0] (the letter a), target class 1 (the letter b).
The lecture's numbers are kept as printed (strings), so each is compared at the precision
the lecture printed it: a value agrees when ours rounds to it. The same step is computed a
second time by the hand-derived formulas of bptt.py (its lstm_forward_step, output_layer
and lstm_backward_step), and every value both compute is compared.
"""
import json
from dataclasses import asdict, dataclass
from typing import List, Optional

import numpy as np

from .nn import LSTM
from .tensor import Tensor

WEIGHTS = {
    "W_f": [[0.813, -0.487, 0.020, -0.778, 0.418], [-0.708, 0.006, 0.856, -0.106, -0.872]],
    "W_i": [[-0.209, -0.140, 0.031, 0.226, 0.696], [0.101, -0.435, -0.406, -0.796, 0.324]],
    "W_c": [[-0.901, -0.877, -0.413, 0.160, -0.775], [-0.196, 0.077, 0.769, -0.567, -0.905]],
    "W_o": [[0.668, -0.605, -0.402, -0.691, -0.486], [0.613, 0.875, 0.549, -0.623, 0.262]],
    "W_y": [[0.320, -0.172], [0.449, 0.349], [0.914, 0.371]],
}
HS_0, CS_0, X_1, TARGET = [0.0, 0.0], [1.0, 0.0], [1.0, 0.0, 0.0], 1


def _column3(a, b):
    """A gate-weight gradient as the lecture printed it: column 3 (index 2), the rest 0."""
    return [["0", "0", a, "0", "0"], ["0", "0", b, "0", "0"]]


# (quantity, what the lecture printed or None, erratum of docs/math.md §4.5 or None)
LECTURE = [
    ("f_t = W_f X_t", ["0.02", "0.856"], None),
    ("i_t = W_i X_t", ["0.31", "-0.406"],
     "erratum 1: typo for 0.031 (its own I_t = 0.508 = σ(0.031))"),
    ("c_t = W_c X_t", ["-0.4121", "0.769"],
     "erratum 2: column 3 of W_c gives -0.413 (its C_t = tanh(-0.413))"),
    ("o_t = W_o X_t", ["-0.402", "0.549"], None),
    ("F_t", ["0.505", "0.702"], None),
    ("I_t", ["0.508", "0.4"], None),
    ("C_t", ["-0.391", "0.646"], None),
    ("O_t", ["0.401", "0.634"], None),
    ("CS_{t-1} ⊗ F_t", None, None),
    ("I_t ⊗ C_t", None, None),
    ("CS_t", None, None),
    ("tanh(CS_t)", None, None),
    ("HS_t", ["0.119", "0.16"], None),
    ("Z_t", ["0.011", "0.109", "0.168"], None),
    ("ŷ_t = softmax(Z_t)", ["0.305", "0.337", "0.358"], None),
    ("E = -log ŷ_t[b]", None, None),
    ("dZ_t = ŷ_t - y", ["0.305", "-0.663", "0.358"], None),
    ("dHS_t = W_yᵀ dZ_t", None, None),
    ("tanh(CS_t) in the dW_o line", ["0.05", "-0.039"],
     "erratum 3: should be tanh(CS_t) = [0.297, 0.253], as its own 1 - tanh²(CS_t) implies"),
    ("O_t(1 - O_t) in the dW_o line", ["0.221", "0.24"],
     "erratum 4: should be [0.240, 0.232]; the slide's printed result is right all the same"),
    ("dO_t", None, None),
    ("do_t", None, None),
    ("1 - tanh²(CS_t)", ["0.912", "0.936"], None),
    ("dCS_t", None, None),
    ("F_t(1 - F_t)", ["0.25", "0.209"], None),
    ("df_t", None, None),
    ("I_t(1 - I_t)", ["0.25", "0.24"], None),
    ("di_t", None, None),
    ("1 - C_t²", ["0.847", "0.582"],
     None),
    ("dc_t", None, None),
    ("dL/dW_y", [["0.036", "0.049"], ["-0.079", "-0.106"], ["0.043", "0.057"]], None),
    ("dL/dW_o", _column3("0.009", "-0.009"), None),
    ("dL/dW_f", _column3("0.012", "0"), None),
    ("dL/dW_i", _column3("-0.005", "-0.014"), None),
    ("dL/dW_c", _column3("0.02", "-0.021"), None),
    ("dL/dCS_{t-1}", None, "never evaluated in the lecture (shown only symbolically)"),
    ("dL/dHS_{t-1} via f: (W_fᵀ df_t)[0:H]", None, None),
    ("dL/dHS_{t-1} via i: (W_iᵀ di_t)[0:H]", None, None),
    ("dL/dHS_{t-1} via c: (W_cᵀ dc_t)[0:H]", None, None),
    ("dL/dHS_{t-1} via o: (W_oᵀ do_t)[0:H]", None, None),
    ("dL/dHS_{t-1}", None, "never evaluated in the lecture: the sum of the four routes above"),
    ("dL/dx_t", None, None),
]

# Errors of formula and notation (docs/math.md §4.5, items 5-12): nothing to compute, worth knowing.
NOTES = [
    "5. The lecture writes ∂C_t/∂c_t = 1 - tanh²(C_t); it is 1 - tanh²(c_t) = 1 - C_t² "
    "(its printed numbers [0.847, 0.582] follow the correct form).",
    "6. The final ∂L/∂CS_{t-1} formula (… ⊗ F_t) is labelled ∂L/∂CS_t, twice.",
    "7. ∂HS_t/∂o_t = tanh(CS_t) uses the pre-activation o_t where O_t is meant.",
    "8. Row vector (ŷ - y)ᵀ times W_yᵀ cannot be multiplied; W_yᵀ(ŷ - y) is what was evaluated.",
    "9. '+ dHS_{t+1}' and '+ dCS_{t+1}' are what step t+1 sends back: the top H rows of "
    "dX_{t+1}, and dCS_{t+1} ⊗ F_{t+1}.",
    "10. Concatenation is written ⊙, which usually means the element-wise product.",
    "11. The forget gate does not keep the cell-gradient factor at 0.5 or above: σ(f) < 0.5 when f < 0.",
    "12. The four-route sum into dHS_{t-1} does not make the hidden path additive; the cell path does.",
]


@dataclass
class Line:
    quantity: str
    lecture: Optional[list]    # as printed (strings), or None where the lecture gives no number
    ours: list                 # float64, from the engine's graph
    agrees: Optional[bool]     # ours rounds to every printed value; None: nothing to compare
    note: Optional[str]


@dataclass
class WorkedExample:
    lines: List[Line]
    bptt_max_difference: float   # the hand-derived BPTT's largest distance from autodiff,
                                 # over every value both compute (forward and backward)

    @property
    def typos(self):
        return [line for line in self.lines if line.agrees is False]

    def to_dict(self):
        return {"lines": [asdict(line) for line in self.lines], "notes": NOTES,
                "bptt_max_difference": self.bptt_max_difference}

    def to_json(self, **kwargs):
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def __str__(self):
        w = max(len(line.quantity) for line in self.lines)
        out = ["Lecture 004's worked example, one LSTM step on the engine (H=2, I=3, O=3, no biases)",
               f"{'quantity':<{w}} {'lecture':<26} {'ours (autodiff)':<40} check"]
        for line in self.lines:
            lecture = _show(line.lecture) if line.lecture is not None else "—"
            check = {True: "agrees", False: "TYPO", None: ""}[line.agrees]
            out.append(f"{line.quantity:<{w}} {lecture:<26} {_show(line.ours, 6):<40} {check}".rstrip())
            if line.note:
                out.append(f"{'':<{w}} ↳ {line.note}")
        out.append("")
        out.append(f"The hand-derived BPTT (bptt.py, docs/math.md §1.4 and §3.3) gives the same "
                   f"values, forward and backward, to {self.bptt_max_difference:.0e}.")
        out.append("Errors of formula and notation in the lecture (docs/math.md §4.5):")
        out += [f"  {note}" for note in NOTES]
        return "\n".join(out)


def _show(value, digits=None):
    if isinstance(value, list) and value and isinstance(value[0], list):
        return "[" + ", ".join(_show(row, digits) for row in value) + "]"
    if digits is None:
        return "[" + ", ".join(value) + "]"
    return "[" + ", ".join(f"{v + 0.0:.{digits}f}" for v in value) + "]"   # + 0.0: no "-0.000000"


def _agrees(ours, printed):
    """True when each of ours rounds to the lecture's printed value, at its printed precision."""
    ours, printed = np.asarray(ours, dtype=float), np.asarray(printed)
    decimals = np.vectorize(lambda s: len(s.split(".")[1]) if "." in s else 0)(printed)
    return bool(np.all(np.abs(ours - printed.astype(float)) <= 0.5 * 10.0 ** -decimals + 1e-12))


def by_hand():
    """The lecture's step computed by bptt.py's formulas, one step of docs/math.md §1.4 and
    §3.3 (with T = 1 nothing comes back from a step t+1: §3.5). Returns {quantity: value},
    under the names of LECTURE, for every quantity those formulas compute."""
    from . import bptt   # the witness; plain numpy, no engine

    column = {name: np.array(value, dtype=float)[:, None] for name, value in
              (("x_t", X_1), ("HS_prev", HS_0), ("CS_prev", CS_0), ("y_t", np.eye(3)[TARGET]))}
    P = {name: np.array(WEIGHTS[name]) for name in ("W_f", "W_i", "W_c", "W_o")}
    P.update({name: np.zeros((2, 1)) for name in ("b_f", "b_i", "b_c", "b_o", "p_f", "p_i", "p_o")})
    W_y = np.array(WEIGHTS["W_y"])

    s = bptt.lstm_forward_step(P, column["x_t"], column["HS_prev"], column["CS_prev"])
    E, d_out, [dHS_above] = bptt.output_layer(W_y, np.zeros((3, 1)), [s["HS_t"]], [column["y_t"]],
                                              [np.ones((1, 1))])
    zero = np.zeros((2, 1))
    d = bptt.lstm_backward_step(P, s, dHS_above, zero, zero)        # T = 1: nothing from t+1
    dP = d["dP_t"]
    hand = {"F_t": s["F_t"], "I_t": s["I_t"], "C_t": s["C_t"], "O_t": s["O_t"], "CS_t": s["CS_t"],
            "tanh(CS_t)": s["tanh_CS_t"], "HS_t": s["HS_t"], "E = -log ŷ_t[b]": E,
            "dZ_t = ŷ_t - y": d_out["b"], "dHS_t = W_yᵀ dZ_t": d["dHS_t"], "dO_t": d["dO_t"],
            "do_t": d["do_t"], "dCS_t": d["dCS_t"], "df_t": d["df_t"], "di_t": d["di_t"],
            "dc_t": d["dc_t"], "dL/dW_y": d_out["W"], "dL/dCS_{t-1}": d["dCS_next"],
            "dL/dHS_{t-1}": d["dHS_next"], "dL/dx_t": d["dx_t"]}
    hand.update({f"dL/dW_{g}": dP[f"W_{g}"] for g in "fico"})
    return {quantity: np.squeeze(value) for quantity, value in hand.items()}


def worked_example():
    """Replay the lecture's step and compare; returns a WorkedExample (print it, or .to_json())."""
    model = LSTM(input_size=3, hidden_size=2, output_size=3, bias=False)
    for name, p in model.named_parameters():
        p.data = np.array(WEIGHTS[name])
    h0 = Tensor(HS_0, requires_grad=True, name="HS_0")
    c0 = Tensor(CS_0, requires_grad=True, name="CS_0")
    xs = Tensor([X_1], requires_grad=True, name="x")
    run = model.unroll(xs, h0, c0)
    loss = model.loss_of(run, [TARGET])
    loss.backward()

    s = run.steps[0]
    v = {k: t.data for k, t in s.items()}
    g = {k: t.grad for k, t in s.items()}
    P = {n: p.data for n, p in model.named_parameters()}
    G = {n: p.grad for n, p in model.named_parameters()}
    forget_part, input_part = s["CS_t"].parents   # CS_t = CS_{t-1} ⊗ F_t + I_t ⊗ C_t
    y_hat = np.exp(v["Z_t"] - v["Z_t"].max())
    y_hat /= y_hat.sum()
    ours = {
        "f_t = W_f X_t": v["f_t"], "i_t = W_i X_t": v["i_t"], "c_t = W_c X_t": v["c_t"],
        "o_t = W_o X_t": v["o_t"], "F_t": v["F_t"], "I_t": v["I_t"], "C_t": v["C_t"], "O_t": v["O_t"],
        "CS_{t-1} ⊗ F_t": forget_part.data, "I_t ⊗ C_t": input_part.data, "CS_t": v["CS_t"],
        "tanh(CS_t)": v["tanh(CS_t)"], "HS_t": v["HS_t"], "Z_t": v["Z_t"], "ŷ_t = softmax(Z_t)": y_hat,
        "E = -log ŷ_t[b]": [loss.item()], "dZ_t = ŷ_t - y": g["Z_t"], "dHS_t = W_yᵀ dZ_t": g["HS_t"],
        "tanh(CS_t) in the dW_o line": v["tanh(CS_t)"],
        "O_t(1 - O_t) in the dW_o line": v["O_t"] * (1 - v["O_t"]),
        "dO_t": g["O_t"], "do_t": g["o_t"], "1 - tanh²(CS_t)": 1 - v["tanh(CS_t)"] ** 2,
        "dCS_t": g["CS_t"], "F_t(1 - F_t)": v["F_t"] * (1 - v["F_t"]), "df_t": g["f_t"],
        "I_t(1 - I_t)": v["I_t"] * (1 - v["I_t"]), "di_t": g["i_t"], "1 - C_t²": 1 - v["C_t"] ** 2,
        "dc_t": g["c_t"], "dL/dW_y": G["W_y"], "dL/dW_o": G["W_o"], "dL/dW_f": G["W_f"],
        "dL/dW_i": G["W_i"], "dL/dW_c": G["W_c"], "dL/dCS_{t-1}": c0.grad, "dL/dHS_{t-1}": h0.grad,
        "dL/dx_t": xs.grad[0],
    }
    for gate in "fico":   # lecture 004's four routes from step t back into HS_{t-1}
        ours[f"dL/dHS_{{t-1}} via {gate}: (W_{gate}ᵀ d{gate}_t)[0:H]"] = (
            P[f"W_{gate}"].T @ g[f"{gate}_t"])[:2]
    lines = [Line(q, printed, np.asarray(ours[q], dtype=float).tolist(),
                  None if printed is None else _agrees(ours[q], printed), note)
             for q, printed, note in LECTURE]
    witness = max(float(np.max(np.abs(np.asarray(ours[q], dtype=float) - value)))
                  for q, value in by_hand().items())
    return WorkedExample(lines, witness)
