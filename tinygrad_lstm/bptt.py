"""Backpropagation through time by hand, in plain numpy: the independent witness.

The formulas of docs/math.md, one statement per formula, with its names and its section
cited, to be read next to the derivation. This module imports numpy and the standard
library only and shares no code with the autodiff engine, so that the engine's gradients
can be checked against gradients derived on paper. Speed is not its job (the compiled
path and benchmarks/numpy_lstm.py carry speed): nothing is fused or computed in place.

    lstm_gradients(params, xs, targets, h0=None, c0=None, mask=None)   LSTM
    rnn_gradients(params, xs, targets, h0=None, mask=None)             vanilla RNN

Both differentiate the same loss, softmax cross-entropy summed over time, averaged over the batch:

    E = (1/B) Σ_t Σ_b m_tb · CE(Z_tb, y_tb),        CE(z, y) = −Σ_k y_k log softmax(z)_k

(one unbatched sequence is B = 1: the lecture's E = Σ_t E_t).

As in docs/math.md, vectors are columns. A batch of B sequences is B columns side by side:
HS_t is (H, B), X_t = [HS_{t−1}; x_t] is (H+I, B), and the formulas read as written, e.g.
f_t = W_f X_t + b_f is `W_f @ X_t + b_f`, and dW_f += df_t X_tᵀ sums over the batch by
itself. Biases and peepholes are columns (H, 1). A model without biases or peepholes runs
with them at 0, which reduces §1.4 to §1.3 and §5.3 to §3.3; their gradients are then not
returned. Everything is float64.

The file: the LSTM (forward §1.4, §5.2; backward §3.3, §5.3; stacked layers §5.4), the
vanilla RNN (§2.1, §2.5), the output layer and loss shared by both (§1.4, §1.6, §3.3
steps 1–3), and last, reading and checking the arguments and laying out the results.
"""
import re
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

__all__ = ["lstm_gradients", "rnn_gradients",       # the entry points; and one step of each
           "lstm_forward_step", "lstm_backward_step", "rnn_forward_step", "rnn_backward_step",
           "output_layer"]


# ---------------------------------------------------------------------------------------
# The two entry points
# ---------------------------------------------------------------------------------------

def lstm_gradients(params, xs, targets, h0=None, c0=None, mask=None):
    """dE/d(everything) for an LSTM (stacked, with or without biases and peepholes).

    params   W_f, W_i, W_c, W_o (H, H+I) acting on X_t = [HS_{t−1}; x_t]; b_f..b_o (H,);
             optional peepholes p_f, p_i, p_o (H,); W_y (O, H), b_y (O,). Layer k ≥ 2 has
             the same gate names prefixed "layer{k}." (its input is layer k−1's HS_t).
    xs       (T, I), or (T, B, I) for a batch.
    targets  class indices (T,) / (T, B), or one-hot rows (T, O) / (T, B, O).
    h0, c0   None (zeros), or (H,) / (B, H); with L > 1 layers (L, H) / (L, B, H).
    mask     None, or bool (T,) / (T, B): the steps whose loss counts.

    Returns a dict: every parameter's name -> dE/dparam; "HS_0", "CS_0" -> dE/dh0, dE/dc0
    (laid out like h0); "loss" -> E; and per step (T, H) or (T, B, H), for every layer
    (prefixed like its parameters): "dHS_t", "dCS_t" (total dE/dHS_t, dE/dCS_t) and the
    pre-activation gradients "df_t", "di_t", "dc_t", "do_t".
    """
    a = _arguments(LSTM, params, xs, targets, mask, h0=h0, c0=c0)   # checked, as columns

    # forward, bottom layer first: layer k+1's x_t is layer k's HS_t (docs/math.md §5.4)
    caches, inputs = [], a.xs
    for P, HS_0, CS_0 in zip(a.layers, a.HS_0, a.CS_0):
        caches.append(lstm_forward(P, inputs, HS_0, CS_0))
        inputs = [s["HS_t"] for s in caches[-1]]
    E, d_out, dHS_above = output_layer(a.W_out, a.b_out, inputs, a.ys, a.ms)

    # backward, top layer first: what reaches layer k's HS_t from above is W_yᵀ dZ_t for the
    # top layer, and the dx_t of layer k+1 for the others (docs/math.md §5.4)
    results = []
    for P, steps in reversed(list(zip(a.layers, caches))):
        dP, ds, dHS_0, dCS_0 = lstm_backward(P, steps, dHS_above)
        results.insert(0, (dP, ds, {"HS_0": dHS_0, "CS_0": dCS_0}))
        dHS_above = [d["dx_t"] for d in ds]
    return _results(a, E, d_out, results, ("dHS_t", "dCS_t", "df_t", "di_t", "dc_t", "do_t"))


def rnn_gradients(params, xs, targets, h0=None, mask=None):
    """dE/d(everything) for a vanilla RNN (stacked, with or without biases).

    params   W_xh (H, I), W_hh (H, H), b_h (H,), W_hy (O, H), b_y (O,); layer k ≥ 2 has
             layer{k}.W_xh (H, H), layer{k}.W_hh, layer{k}.b_h.
    Forward  a_t = W_xh x_t + W_hh HS_{t−1} + b_h,  HS_t = tanh(a_t),  Z_t = W_hy HS_t + b_y.
    xs, targets, h0, mask as in lstm_gradients.

    Returns a dict: every parameter's name -> dE/dparam; "HS_0" -> dE/dh0; "loss" -> E; and
    per step (T, H) or (T, B, H), for every layer: "dHS_t" (total dE/dHS_t) and "da_t".
    """
    a = _arguments(RNN, params, xs, targets, mask, h0=h0)

    caches, inputs = [], a.xs                    # forward, bottom layer first (§5.4)
    for P, HS_0 in zip(a.layers, a.HS_0):
        caches.append(rnn_forward(P, inputs, HS_0))
        inputs = [s["HS_t"] for s in caches[-1]]
    E, d_out, dHS_above = output_layer(a.W_out, a.b_out, inputs, a.ys, a.ms)

    results = []                                 # backward, top layer first (§5.4)
    for P, steps in reversed(list(zip(a.layers, caches))):
        dP, ds, dHS_0 = rnn_backward(P, steps, dHS_above)
        results.insert(0, (dP, ds, {"HS_0": dHS_0}))
        dHS_above = [d["dx_t"] for d in ds]
    return _results(a, E, d_out, results, ("dHS_t", "da_t"))


# ---------------------------------------------------------------------------------------
# LSTM: one step forward (§1.4, §5.2) and one step backward (§3.3, §5.3)
# ---------------------------------------------------------------------------------------

def sigmoid(z):
    """σ(z) = 1/(1 + e^(−z)). Where e^(−z) overflows to inf (z < −709), σ = 1/(1 + inf) = 0
    is still the right value (docs/math.md §1.6), so numpy need not warn about it."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


def lstm_forward_step(P, x_t, HS_prev, CS_prev):
    """One step of the forward pass. P: one layer's parameters by name, vectors as columns;
    x_t (I, B); HS_prev, CS_prev = HS_{t−1}, CS_{t−1} (H, B). Returns what BPTT keeps (§1.7)."""
    # docs/math.md §1.2: the gate input, previous hidden state first
    X_t = np.concatenate([HS_prev, x_t])
    # docs/math.md §1.4, with §5.2's peepholes: f_t and i_t look at CS_{t−1}
    f_t = P["W_f"] @ X_t + P["p_f"] * CS_prev + P["b_f"]
    i_t = P["W_i"] @ X_t + P["p_i"] * CS_prev + P["b_i"]
    c_t = P["W_c"] @ X_t + P["b_c"]
    F_t = sigmoid(f_t)
    I_t = sigmoid(i_t)
    C_t = np.tanh(c_t)
    CS_t = CS_prev * F_t + I_t * C_t
    # docs/math.md §1.4, with §5.2's peephole: o_t looks at the new CS_t
    o_t = P["W_o"] @ X_t + P["p_o"] * CS_t + P["b_o"]
    O_t = sigmoid(o_t)
    tanh_CS_t = np.tanh(CS_t)
    HS_t = O_t * tanh_CS_t
    # docs/math.md §1.7: what the backward pass needs from this step
    return {"X_t": X_t, "CS_prev": CS_prev, "F_t": F_t, "I_t": I_t, "C_t": C_t, "O_t": O_t,
            "CS_t": CS_t, "tanh_CS_t": tanh_CS_t, "HS_t": HS_t}


def lstm_backward_step(P, s, dHS_above, dHS_next, dCS_next):
    """One step of docs/math.md §3.3, steps 3–11, with §5.3's peepholes; t goes down.

    s: what lstm_forward_step kept for step t. dHS_above: what reaches HS_t from above
    (W_yᵀ dZ_t, or the layer above's dx_t); dHS_next, dCS_next: what step t+1 sends back
    (§3.2). Returns the step's gradients by name, among them dHS_next and dCS_next for step
    t−1, dx_t, and "dP_t": this step's terms of the parameters' gradients (step 8).
    """
    X_t, CS_prev, CS_t, tanh_CS_t = s["X_t"], s["CS_prev"], s["CS_t"], s["tanh_CS_t"]
    F_t, I_t, C_t, O_t = s["F_t"], s["I_t"], s["C_t"], s["O_t"]
    # docs/math.md §3.3 steps 3–4, and 7 for o_t first: the peephole p_o needs do_t in 5 (§5.3)
    dHS_t = dHS_above + dHS_next
    dO_t = dHS_t * tanh_CS_t
    do_t = dO_t * O_t * (1 - O_t)
    # docs/math.md §3.3 step 5, plus p_o ⊗ do_t (§5.3)
    dCS_t = dHS_t * O_t * (1 - tanh_CS_t ** 2) + P["p_o"] * do_t + dCS_next
    # docs/math.md §3.3 step 6
    dF_t = dCS_t * CS_prev
    dI_t = dCS_t * C_t
    dC_t = dCS_t * I_t
    # docs/math.md §3.3 step 7
    df_t = dF_t * F_t * (1 - F_t)
    di_t = dI_t * I_t * (1 - I_t)
    dc_t = dC_t * (1 - C_t ** 2)
    # docs/math.md §3.3 step 8 and §5.3: this step's terms, summed over the batch's columns
    dP_t = {}
    for g, dg_t in (("f", df_t), ("i", di_t), ("c", dc_t), ("o", do_t)):
        dP_t["W_" + g] = dg_t @ X_t.T
        dP_t["b_" + g] = dg_t.sum(axis=1, keepdims=True)
    dP_t["p_f"] = (df_t * CS_prev).sum(axis=1, keepdims=True)
    dP_t["p_i"] = (di_t * CS_prev).sum(axis=1, keepdims=True)
    dP_t["p_o"] = (do_t * CS_t).sum(axis=1, keepdims=True)
    # docs/math.md §3.3 step 9: lecture 004's four routes, summed for all of X_t
    dX_t = P["W_f"].T @ df_t + P["W_i"].T @ di_t + P["W_c"].T @ dc_t + P["W_o"].T @ do_t
    # docs/math.md §3.3 step 10: the top H rows go to HS_{t−1}, the rest to x_t
    H = len(CS_t)
    dHS_next = dX_t[:H]
    dx_t = dX_t[H:]
    # docs/math.md §3.3 step 11, plus the peepholes of f_t and i_t onto CS_{t−1} (§5.3)
    dCS_next = dCS_t * F_t + P["p_i"] * di_t + P["p_f"] * df_t
    return {"dHS_t": dHS_t, "dO_t": dO_t, "do_t": do_t, "dCS_t": dCS_t, "dF_t": dF_t,
            "dI_t": dI_t, "dC_t": dC_t, "df_t": df_t, "di_t": di_t, "dc_t": dc_t,
            "dX_t": dX_t, "dx_t": dx_t, "dHS_next": dHS_next, "dCS_next": dCS_next, "dP_t": dP_t}


def lstm_forward(P, xs, HS_0, CS_0):
    """One layer over the sequence xs (a list of x_t), t = 1 … T: what each step kept."""
    steps, HS_t, CS_t = [], HS_0, CS_0
    for x_t in xs:
        steps.append(lstm_forward_step(P, x_t, HS_t, CS_t))
        HS_t, CS_t = steps[-1]["HS_t"], steps[-1]["CS_t"]
    return steps


def lstm_backward(P, steps, dHS_above):
    """docs/math.md §3.3 for one layer, t = T … 1. Returns the parameters' gradients, each
    step's gradients (in time order), and dE/dHS_0, dE/dCS_0."""
    dP = {name: np.zeros_like(value) for name, value in P.items()}
    dHS_next = np.zeros_like(steps[0]["CS_t"])        # §3.2: both zero at t = T
    dCS_next = np.zeros_like(steps[0]["CS_t"])
    ds = [None] * len(steps)
    for t in reversed(range(len(steps))):
        ds[t] = lstm_backward_step(P, steps[t], dHS_above[t], dHS_next, dCS_next)
        dP = {name: dP[name] + ds[t]["dP_t"][name] for name in dP}       # Σ_t, step 8
        dHS_next, dCS_next = ds[t]["dHS_next"], ds[t]["dCS_next"]
    return dP, ds, dHS_next, dCS_next                 # after the loop: dE/dHS_0, dE/dCS_0


# ---------------------------------------------------------------------------------------
# Vanilla RNN: one step forward (§2.1) and one step backward (§2.5)
# ---------------------------------------------------------------------------------------

def rnn_forward_step(P, x_t, HS_prev):
    """One step of the forward pass, docs/math.md §2.1 (where, as here, h_t is named HS_t).
    x_t (I, B); HS_prev = HS_{t−1} (H, B). Returns what the backward pass needs."""
    a_t = P["W_xh"] @ x_t + P["W_hh"] @ HS_prev + P["b_h"]
    HS_t = np.tanh(a_t)
    return {"x_t": x_t, "HS_prev": HS_prev, "HS_t": HS_t}


def rnn_backward_step(P, s, dHS_above, dHS_next):
    """One step of docs/math.md §2.5, steps 3–7 (steps 1–2 and W_hyᵀ dZ_t are output_layer's;
    dHS_above is that, or the layer above's dx_t, §5.4). "dP_t" holds step t's terms."""
    dHS_t = dHS_above + dHS_next                                # 3. output path + path from t+1
    da_t = dHS_t * (1 - s["HS_t"] ** 2)                         # 4.
    dP_t = {"W_xh": da_t @ s["x_t"].T,                          # 5.
            "W_hh": da_t @ s["HS_prev"].T,
            "b_h": da_t.sum(axis=1, keepdims=True)}
    dx_t = P["W_xh"].T @ da_t                                   # 6. for a layer below, if any
    dHS_next = P["W_hh"].T @ da_t                               # 7. step t's message to HS_{t−1}
    return {"dHS_t": dHS_t, "da_t": da_t, "dx_t": dx_t, "dHS_next": dHS_next, "dP_t": dP_t}


def rnn_forward(P, xs, HS_0):
    """One layer over the sequence xs (a list of x_t), t = 1 … T: what each step kept."""
    steps, HS_t = [], HS_0
    for x_t in xs:
        steps.append(rnn_forward_step(P, x_t, HS_t))
        HS_t = steps[-1]["HS_t"]
    return steps


def rnn_backward(P, steps, dHS_above):
    """docs/math.md §2.5 for one layer, t = T … 1. Returns the parameters' gradients, each
    step's gradients (in time order), and dE/dHS_0."""
    dP = {name: np.zeros_like(value) for name, value in P.items()}
    dHS_next = np.zeros_like(steps[0]["HS_t"])                  # nothing follows step T
    ds = [None] * len(steps)
    for t in reversed(range(len(steps))):
        ds[t] = rnn_backward_step(P, steps[t], dHS_above[t], dHS_next)
        dP = {name: dP[name] + ds[t]["dP_t"][name] for name in dP}       # Σ_t, step 5
        dHS_next = ds[t]["dHS_next"]
    return dP, ds, dHS_next                                     # after the loop: dE/dHS_0


# ---------------------------------------------------------------------------------------
# Shared: the output layer and the loss
# ---------------------------------------------------------------------------------------

def log_softmax(Z):
    """log softmax(Z) down each column, the max subtracted first (docs/math.md §1.6)."""
    shifted = Z - Z.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


def output_layer(W_y, b_y, HS, ys, ms):
    """Z_t = W_y HS_t + b_y and the loss E, then docs/math.md §3.3 steps 1–2 and the output
    part of step 3, W_yᵀ dZ_t, at every step (§2.5 steps 1–3 for the RNN's W_hy). They need
    only the forward pass, so they are done for all t before the layers' backward loops.

    HS, ys, ms: lists over t of HS_t (H, B), the targets y_t (O, B) and the mask m_t (1, B).
    Returns E, {"W": dW_y, "b": db_y} and the list of W_yᵀ dZ_t.
    """
    B = HS[0].shape[1]
    E, dW_y, db_y, dHS_above = 0.0, np.zeros_like(W_y), np.zeros_like(b_y), []
    for HS_t, y_t, m_t in zip(HS, ys, ms):
        # docs/math.md §1.3–1.4: E_t = −Σ_k y_k log ŷ_k, weighted by the mask m_t and
        # averaged over the batch
        Z_t = W_y @ HS_t + b_y
        log_yhat_t = log_softmax(Z_t)
        E = E - (m_t * y_t * log_yhat_t).sum() / B
        # docs/math.md §3.3 step 1, scaled by m_t/B: dZ_t = ŷ_t Σ_k y_k − y_t (§3.1), which is
        # ŷ_t − y_t for a one-hot y_t, and 0 at a step without a loss
        dZ_t = m_t / B * (np.exp(log_yhat_t) * y_t.sum(axis=0) - y_t)
        # docs/math.md §3.3 step 2, and W_yᵀ dZ_t, the first term of step 3
        dW_y = dW_y + dZ_t @ HS_t.T
        db_y = db_y + dZ_t.sum(axis=1, keepdims=True)
        dHS_above.append(W_y.T @ dZ_t)
    return float(E), {"W": dW_y, "b": db_y}, dHS_above


# ---------------------------------------------------------------------------------------
# Reading and checking the arguments, and laying out the results
# ---------------------------------------------------------------------------------------

LAYER_PREFIX = re.compile(r"layer([1-9][0-9]*)\.")


class Schema(NamedTuple):
    kind: str             # "LSTM": gates act on [HS_{t−1}; x_t]; "RNN": W_xh acts on x_t alone
    weights: tuple        # per layer, required; weights[0] defines H and the input width
    biases: tuple         # per layer, all present or all absent (together with "b_y")
    peepholes: tuple      # per layer, all present or all absent
    out: str              # output weight (O, H)


LSTM = Schema("LSTM", ("W_f", "W_i", "W_c", "W_o"), ("b_f", "b_i", "b_c", "b_o"),
              ("p_f", "p_i", "p_o"), "W_y")
RNN = Schema("RNN", ("W_xh", "W_hh"), ("b_h",), (), "W_hy")


class Net(NamedTuple):
    params: dict          # name -> float64 array, validated
    L: int                # number of layers
    H: int
    n_in: int             # docs/math.md's I: the input width
    n_out: int            # docs/math.md's O: the number of classes
    bias: bool
    peep: bool


class Arguments(NamedTuple):
    """Everything the formulas need, as columns: a list entry per layer or per step."""
    net: Net
    out_name: str         # "W_y" (LSTM) or "W_hy" (RNN)
    layers: list          # per layer: its parameters by unprefixed name, biases and peepholes
                          # as (H, 1) columns, zeros where the model has none
    W_out: np.ndarray     # W_y (W_hy for the RNN)
    b_out: np.ndarray     # b_y as an (O, 1) column
    xs: list              # per step x_t (I, B)
    ys: list              # per step y_t (O, B)
    ms: list              # per step m_t (1, B)
    HS_0: list            # per layer (H, B)
    CS_0: list            # per layer (H, B); the RNN's are unused
    batched: bool
    layout: tuple         # the caller's layout of h0 and c0, for their gradients


def _arguments(schema, params, xs, targets, mask, **states):
    """Check the arguments and lay them out as columns (see Arguments)."""
    net = _parse_params(params, schema)
    xs, batched = _sequence(xs, net.n_in)
    T, B, _ = xs.shape
    Y, M = _targets(targets, mask, T, B, net.n_out, batched)
    initial = {what: _initial_state(what, value, net, B, batched) for what, value in states.items()}
    names = schema.weights + schema.biases + schema.peepholes
    layers = [{base: _column(net.params[_name(k, base)]) if _name(k, base) in net.params
               else np.zeros((net.H, 1)) for base in names}      # only biases, peepholes absent
              for k in range(1, net.L + 1)]
    b_out = _column(net.params["b_y"]) if net.bias else np.zeros((net.n_out, 1))
    return Arguments(net, schema.out, layers, net.params[schema.out], b_out, [x.T for x in xs],
                     [y.T for y in Y], [m[None, :] for m in M], initial["h0"],
                     initial.get("c0", [None] * net.L), batched, _layout(net, B, batched))


def _column(v):
    """A bias or peephole (H,) as the column (H, 1); a matrix unchanged."""
    return v[:, None] if v.ndim == 1 else v


def _results(a, E, d_out, layers, step_keys):
    """The caller's dict: gradients of the parameters it passed, under its names and
    shapes; the initial states' gradients in its layout; per-step gradients (T, [B,] H)."""
    net, P = a.net, a.net.params
    grads = {}
    for k, (dP, ds, _) in enumerate(layers, start=1):
        for base, grad in dP.items():
            if _name(k, base) in P:
                grads[_name(k, base)] = grad.reshape(P[_name(k, base)].shape)
        for key in step_keys:
            steps = np.stack([d[key].T for d in ds])            # (T, B, H)
            grads[_name(k, key)] = steps if a.batched else steps[:, 0]
    grads[a.out_name] = d_out["W"]
    if net.bias:
        grads["b_y"] = d_out["b"].reshape(P["b_y"].shape)
    for state in layers[0][2]:
        grads[state] = np.stack([initial[state].T for _, _, initial in layers]).reshape(a.layout)
    grads["loss"] = E
    return grads


def _name(k, base):
    """Layer 1's parameters are unprefixed; layer k ≥ 2's are "layer{k}.<name>"."""
    return base if k == 1 else "layer%d.%s" % (k, base)


def _parse_params(params, schema):
    """Check the dict against the schema; infer L, H, I, O, bias and peepholes from it."""
    if not isinstance(params, Mapping):
        raise TypeError("params: expected a dict name -> numpy array; received %s"
                        % type(params).__name__)
    P = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise TypeError("params: expected string names; received %r" % (name,))
        P[name] = _numeric("parameter %r" % name, value).astype(np.float64, copy=False)
    return Net(P, *_structure({name: p.shape for name, p in P.items()}, schema))


def _structure(S, schema):
    """L, H, I, O, bias and peepholes from the parameters' shapes S (name -> shape),
    checked against the schema."""
    L = _count_layers(S, schema)
    weights, biases, peepholes = ([_name(k, base) for k in range(1, L + 1) for base in group]
                                  for group in (schema.weights, schema.biases, schema.peepholes))
    _require(S, weights + [schema.out], schema)
    bias = _all_or_none(S, biases + ["b_y"], "biases", schema)
    peep = _all_or_none(S, peepholes, "peepholes", schema)
    unexpected = sorted(set(S).difference(weights, biases, peepholes, (schema.out, "b_y")))
    if unexpected:
        raise ValueError("params: unexpected %s parameter(s) %s (layer 1 is unprefixed, layer "
                         "k >= 2 is 'layer{k}.'; found %d layer(s))"
                         % (schema.kind, _few(unexpected), L))
    H, n_in, n_out = _infer_sizes(S, schema)
    for name, shape in _expected_shapes(schema, L, H, n_in, n_out).items():
        if name in S and S[name] != shape:
            raise ValueError("parameter %r: expected shape %s, received shape %s"
                             % (name, shape, S[name]))
    return L, H, n_in, n_out, bias, peep


def _count_layers(names, schema):
    """The highest k of any "layer{k}." name, or 1; gaps show up later as missing names. A k
    calling for more layers than the names given could make (each has weights of its own) is
    refused first: "layer99999999.W_f" would otherwise have us list 400 million names."""
    numbered = {name: LAYER_PREFIX.match(name) for name in names}
    digits = {name: m.group(1) for name, m in numbered.items() if m}
    if not digits:
        return 1
    highest = max(digits, key=lambda name: (len(digits[name]), digits[name]))   # no int() of 5,000 digits
    per_layer = len(schema.weights)
    if len(digits[highest]) > 9 or int(digits[highest]) * per_layer + 1 > len(names):
        raise ValueError("params: %s numbers a layer beyond what the %d parameters given can make: "
                         "each %s layer has its own %s, and layers are numbered 2, 3, ... with none skipped"
                         % (_few([highest]), len(names), schema.kind, ", ".join(schema.weights)))
    return int(digits[highest])


def _few(names, limit=8, show=repr):
    """The names (as `show` writes them) joined by commas; past `limit`, the first few and how
    many in all, since a message listing thousands of names helps nobody. Long names are cut."""
    shown = [show(name) for name in names[:limit]]
    shown = [text if len(text) <= 60 else text[:60] + "..." for text in shown]
    return ", ".join(shown) + (", ... (%d in all)" % len(names) if len(names) > limit else "")


def _require(S, names, schema):
    missing = [name for name in names if name not in S]
    if missing:
        raise ValueError("params: missing %s parameter(s) %s; received %s"
                         % (schema.kind, _few(missing), _few(sorted(S))))


def _all_or_none(S, names, what, schema):
    """True if every name is present, False if none is; otherwise say which are missing."""
    present = [name for name in names if name in S]
    if present and len(present) < len(names):
        missing = [name for name in names if name not in S]
        raise ValueError("params: %s must be all present or all absent in an %s; have %s, missing %s"
                         % (what, schema.kind, _few(present, show=str), _few(missing, show=str)))
    return bool(present)


def _infer_sizes(S, schema):
    """H and the input width from layer 1's gate weights (the shape most of them share, so a
    single misshapen one is the one named), O from the output weight. S: name -> shape."""
    first = schema.weights[0]
    if schema.kind == "LSTM":
        shapes = [S[w] for w in schema.weights if w in S]
        common = max(shapes, key=shapes.count)
        first = next(w for w in schema.weights if w in S and S[w] == common)
    shape = S[first]
    lstm = schema.kind == "LSTM"
    if len(shape) != 2 or shape[0] < 1 or shape[1] < (shape[0] + 1 if lstm else 1):
        raise ValueError("parameter %r: expected a matrix of shape %s with H, I >= 1; "
                         "received shape %s" % (first, "(H, H+I)" if lstm else "(H, I)", shape))
    H = shape[0]
    n_in = shape[1] - H if lstm else shape[1]
    output_shape = S[schema.out]
    if len(output_shape) != 2 or output_shape[0] < 1 or output_shape[1] != H:
        raise ValueError("parameter %r: expected shape (O, %d) with O >= 1 (H = %d from %r); "
                         "received shape %s" % (schema.out, H, H, first, output_shape))
    return H, n_in, output_shape[0]


def _expected_shapes(schema, L, H, n_in, n_out):
    shapes = {schema.out: (n_out, H), "b_y": (n_out,)}
    for k in range(1, L + 1):
        width = n_in if k == 1 else H                  # layer k ≥ 2 reads layer k−1's HS_t
        if schema.kind == "LSTM":
            shapes.update({_name(k, w): (H, H + width) for w in schema.weights})
        else:
            shapes.update({_name(k, "W_xh"): (H, width), _name(k, "W_hh"): (H, H)})
        shapes.update({_name(k, v): (H,) for v in schema.biases + schema.peepholes})
    return shapes


def _numeric(what, value):
    """value as a numpy array of booleans, integers or reals; TypeError for anything else."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as error:       # e.g. ragged nested lists
        raise TypeError("%s: expected a numeric array; received %s (%s)"
                        % (what, type(value).__name__, error)) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError("%s: expected a numeric array; received dtype %s" % (what, arr.dtype))
    return arr


def _sequence(xs, n_in):
    """xs as (T, B, I) float64, and whether it was batched."""
    xs = _numeric("xs", xs).astype(np.float64, copy=False)
    if xs.ndim not in (2, 3) or xs.shape[-1] != n_in:
        raise ValueError("xs: expected shape (T, %d) or (T, B, %d) (I = %d from the parameters); "
                         "received shape %s" % (n_in, n_in, n_in, xs.shape))
    if xs.shape[0] == 0:
        raise ValueError("xs: empty sequence (T = 0); received shape %s" % (xs.shape,))
    if xs.ndim == 3 and xs.shape[1] == 0:
        raise ValueError("xs: empty batch (B = 0); received shape %s" % (xs.shape,))
    return (xs if xs.ndim == 3 else xs[:, None]), xs.ndim == 3


def _targets(targets, mask, T, B, n_out, batched):
    """The targets as one-hot rows Y (T, B, O) and the mask M (T, B), both float64. What the
    engine refuses is refused here too, at every step, whether the mask counts it or not."""
    M = _mask(mask, T, B, batched)
    raw = _numeric("targets", targets)
    lead = (T, B) if batched else (T,)
    if raw.shape == lead:
        return _one_hot(raw, n_out).reshape(T, B, n_out), M
    if raw.shape == lead + (n_out,):
        return _distributions(raw).reshape(T, B, n_out), M
    raise ValueError("targets: expected class indices of shape %s or one-hot rows of shape %s "
                     "(T = %d from xs, O = %d from the parameters); received shape %s"
                     % (lead, lead + (n_out,), T, n_out, raw.shape))


def _one_hot(indices, n_out):
    """Rows of the identity, for integer class indices in [0, O)."""
    if indices.dtype.kind == "b" or (indices.dtype.kind == "f" and not np.all(indices == np.round(indices))):
        raise ValueError("targets: class indices must be integers; received dtype %s"
                         % indices.dtype)
    bad = indices[(indices < 0) | (indices >= n_out)]
    if bad.size:
        raise ValueError("targets: class index %s out of range [0, %d) (O = %d from the parameters; "
                         "a step the mask leaves out needs a valid index too)" % (bad.flat[0], n_out, n_out))
    return np.eye(n_out)[indices.astype(np.intp)]


def _distributions(rows):
    """One-hot (or probability) rows as float64: finite and non-negative, or the loss they
    give (−Σ y log ŷ) is no cross-entropy (a negative row makes it negative)."""
    rows = rows.astype(np.float64)
    bad = rows[~np.isfinite(rows) | (rows < 0)]
    if bad.size:
        raise ValueError("targets: one-hot (or probability) rows must be finite and non-negative; "
                         "received %s" % bad.flat[0])
    return rows


def _mask(mask, T, B, batched):
    """None -> every step counts. Booleans (or 0/1 integers) of shape (T,) or, batched,
    (T, B). Floats are refused, as the engine refuses them: 0.5 is no answer to "does this
    step have a loss?"."""
    if mask is None:
        return np.ones((T, B))
    raw = _numeric("mask", mask)
    shapes = [(T,), (T, B)] if batched else [(T,)]
    if raw.shape not in shapes:
        raise ValueError("mask: expected shape %s (T = %d from xs); received shape %s"
                         % (" or ".join(map(str, shapes)), T, raw.shape))
    if raw.dtype.kind not in "biu":
        raise ValueError("mask: expected booleans (or 0/1 integers), True where a step has a loss; "
                         "received dtype %s" % raw.dtype)
    if not np.isin(raw, (0, 1)).all():
        raise ValueError("mask: expected booleans (or 0/1); received values %s"
                         % np.unique(raw)[:5])
    return np.broadcast_to(raw.reshape(T, -1), (T, B)).astype(np.float64)


def _layout(net, B, batched):
    """The shape of h0 and c0 as the caller passes them (and gets their gradients back)."""
    return ((net.L,) if net.L > 1 else ()) + ((B,) if batched else ()) + (net.H,)


def _initial_state(what, value, net, B, batched):
    """h0 or c0 as a list over layers of columns (H, B) float64; zeros for None."""
    layout = _layout(net, B, batched)
    if value is None:
        return [np.zeros((net.H, B)) for _ in range(net.L)]
    state = _numeric(what, value).astype(np.float64)
    if state.shape != layout:
        raise ValueError("%s: expected shape %s (%s, H = %d, %d layer(s)); received shape %s"
                         % (what, layout, "batched, B = %d" % B if batched else "unbatched",
                            net.H, net.L, state.shape))
    return [layer.T.copy() for layer in state.reshape(net.L, B, net.H)]
