"""Backpropagation through time by hand, in plain numpy: the independent witness.

The formulas of the math spec (lstm-math.md) written out step by step. This module imports
numpy and the standard library only and shares no code with the autodiff engine, so that
the engine's gradients can be checked against gradients derived on paper.

    lstm_gradients(params, xs, targets, h0=None, c0=None, mask=None)   LSTM: §1, §3.3, §5
    rnn_gradients(params, xs, targets, h0=None, mask=None)             vanilla RNN: §2.5

Both minimise the same loss, softmax cross-entropy summed over time, averaged over the batch:

    E = (1/B) Σ_t Σ_b m_tb · CE(Z_tb, y_tb),        CE(z, y) = −Σ_k y_k log softmax(z)_k

(one unbatched sequence is B = 1: the lecture's E = Σ_t E_t).

Inside, every sequence is (T, B, ·) and batch entries are rows, so gate pre-activations are
X_t @ Wᵀ and a weight gradient is dgᵀ X. An unbatched call runs with B = 1 and is squeezed
on return. Everything is float64.
"""
import re
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

__all__ = ["lstm_gradients", "rnn_gradients"]

GATES = ("f", "i", "c", "o")        # the order of the four blocks in the fused gate matrix


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
    net = _parse_params(params, LSTM_SCHEMA)
    xs, batched = _sequence(xs, net.n_in)
    T, B, _ = xs.shape
    Y, M = _targets(targets, mask, T, B, net.n_out, batched)
    HS0, layout = _initial_state("h0", h0, net, B, batched)
    CS0, _ = _initial_state("c0", c0, net, B, batched)

    layers = [_lstm_layer(net, k) for k in range(1, net.L + 1)]
    caches, below = [], xs
    for k, layer in enumerate(layers):          # forward, bottom layer first
        caches.append(_lstm_forward(layer, below, HS0[k], CS0[k]))
        below = caches[-1]["HS"]

    grads, dHS_out, loss = _output_layer(net, "W_y", below, Y, M)
    dHS0, dCS0 = np.empty_like(HS0), np.empty_like(CS0)
    for k in reversed(range(net.L)):            # backward, top layer first (§5.1)
        layer_grads, steps, dHS_out, dHS0[k], dCS0[k] = _lstm_backward(layers[k], caches[k], dHS_out, k > 0)
        _collect(grads, net, k + 1, layer_grads, steps, batched)

    grads["HS_0"] = dHS0.reshape(layout)
    grads["CS_0"] = dCS0.reshape(layout)
    grads["loss"] = loss
    return grads


def rnn_gradients(params, xs, targets, h0=None, mask=None):
    """dE/d(everything) for a vanilla RNN (stacked, with or without biases).

    params   W_xh (H, I), W_hh (H, H), b_h (H,), W_hy (O, H), b_y (O,); layer k ≥ 2 has
             layer{k}.W_xh (H, H), layer{k}.W_hh, layer{k}.b_h.
    Forward  a_t = W_xh x_t + W_hh h_{t−1} + b_h,  h_t = tanh(a_t),  Z_t = W_hy h_t + b_y.
    xs, targets, h0, mask as in lstm_gradients.

    Returns a dict: every parameter's name -> dE/dparam; "HS_0" -> dE/dh0; "loss" -> E; and
    per step (T, H) or (T, B, H), for every layer: "dHS_t" (total dE/dh_t) and "da_t".
    """
    net = _parse_params(params, RNN_SCHEMA)
    xs, batched = _sequence(xs, net.n_in)
    T, B, _ = xs.shape
    Y, M = _targets(targets, mask, T, B, net.n_out, batched)
    HS0, layout = _initial_state("h0", h0, net, B, batched)

    layers = [_rnn_layer(net, k) for k in range(1, net.L + 1)]
    caches, below = [], xs
    for k, layer in enumerate(layers):
        caches.append(_rnn_forward(layer, below, HS0[k]))
        below = caches[-1]["HS"]

    grads, dHS_out, loss = _output_layer(net, "W_hy", below, Y, M)
    dHS0 = np.empty_like(HS0)
    for k in reversed(range(net.L)):
        layer_grads, steps, dHS_out, dHS0[k] = _rnn_backward(layers[k], caches[k], dHS_out)
        _collect(grads, net, k + 1, layer_grads, steps, batched)

    grads["HS_0"] = dHS0.reshape(layout)
    grads["loss"] = loss
    return grads


# ---------------------------------------------------------------------------------------
# LSTM: one layer forward (§1.4, §5.2) and backward (§3.3, §5.3)
# ---------------------------------------------------------------------------------------

def sigmoid(x):
    """σ(x) = 1/(1 + e^(−x)) = e^x/(1 + e^x); with e = e^(−|x|) ≤ 1 nothing overflows, for any x."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _lstm_layer(net, k):
    """Layer k's parameters, fused: W = [W_f; W_i; W_c; W_o] (4H, H+I), b likewise (4H,)."""
    P = net.params
    W = np.concatenate([P[_name(k, "W_" + g)] for g in GATES])
    b = [P[_name(k, "b_" + g)] for g in GATES] if net.bias else [np.zeros(net.H)] * 4
    peep = tuple(P[_name(k, "p_" + g)] for g in ("f", "i", "o")) if net.peep else None
    return {"W": W, "b": np.concatenate(b), "peep": peep}


def _lstm_forward(layer, xs, HS0, CS0):
    """Run one layer over the sequence xs (T, B, I); keep what BPTT needs (§1.7)."""
    T, B, _ = xs.shape
    H = HS0.shape[1]
    W, peep = layer["W"], layer["peep"]
    U = W[:, :H]                                  # recurrent columns: act on HS_{t−1} (§1.5)
    G_x = xs @ W[:, H:].T + layer["b"]            # input columns plus bias, all steps at once
    cache = {key: np.empty((T, B, H)) for key in ("CSp", "F", "I", "C", "O", "CS", "tCS", "HS")}
    HS, CS = HS0, CS0
    for t in range(T):
        f, i, c, o = np.split(G_x[t] + HS @ U.T, 4, axis=1)
        if peep is not None:                      # f and i peep at CS_{t−1} (§5.2)
            f, i = f + peep[0] * CS, i + peep[1] * CS
        F, I, C = sigmoid(f), sigmoid(i), np.tanh(c)
        CS_prev, CS = CS, CS * F + I * C          # CS_t = CS_{t−1} ⊗ F_t + I_t ⊗ C_t
        if peep is not None:                      # o peeps at the new CS_t
            o = o + peep[2] * CS
        O, tCS = sigmoid(o), np.tanh(CS)
        HS = O * tCS                              # HS_t = O_t ⊗ tanh(CS_t)
        for key, value in zip(cache, (CS_prev, F, I, C, O, CS, tCS, HS)):
            cache[key][t] = value
    HS_prev = np.concatenate([HS0[None], cache["HS"][:-1]])
    cache["X"] = np.concatenate([HS_prev, xs], axis=2)      # X_t = [HS_{t−1}; x_t]
    return cache


def _lstm_backward(layer, cache, dHS_out, need_dx=True):
    """§3.3 for one layer, t = T … 1, carrying dHS_next and dCS_next (with §5.3's peepholes).

    dHS_out (T, B, H) is the output-path part of dHS_t: W_yᵀ dZ_t for the top layer, the
    layer above's dx_t otherwise. Returns the weight gradients (fused), the per-step
    gradients, dx (T, B, I) for the layer below (None if there is none: need_dx=False),
    dE/dHS_0 and dE/dCS_0.
    """
    X, F, I, C, O, tCS = (cache[key] for key in ("X", "F", "I", "C", "O", "tCS"))
    T, B, H = F.shape
    W, peep = layer["W"], layer["peep"]
    U = np.ascontiguousarray(W[:, :H])                         # the columns that act on HS_{t−1}
    dHS_t, dCS_t, dG = np.empty((T, B, H)), np.empty((T, B, H)), np.empty((T, B, 4 * H))
    dHS_next, dCS_next = np.zeros((B, H)), np.zeros((B, H))
    for t in reversed(range(T)):
        dHS = dHS_out[t] + dHS_next                            # 3.
        do = dHS * tCS[t] * O[t] * (1 - O[t])                  # 4. and 7., before 5. (§5.3)
        dCS = dHS * O[t] * (1 - tCS[t] ** 2) + dCS_next        # 5.
        if peep is not None:
            dCS = dCS + peep[2] * do                           # CS_t → o_t (peephole)
        dG_t = dG[t]                                           # 6. and 7., written in place:
        np.multiply(dCS * cache["CSp"][t], F[t] * (1 - F[t]), out=dG_t[:, :H])       # df
        np.multiply(dCS * C[t], I[t] * (1 - I[t]), out=dG_t[:, H:2 * H])            # di
        np.multiply(dCS * I[t], 1 - C[t] ** 2, out=dG_t[:, 2 * H:3 * H])            # dc
        dG_t[:, 3 * H:] = do
        # 9.-10. only the H columns that reach HS_{t−1} are needed inside the loop;
        # the input columns (dx_t, for a layer below) are one matmul after it.
        dHS_next = dG_t @ U
        dCS_next = dCS * F[t]                                  # 11.
        if peep is not None:                                   # CS_{t−1} → f_t, i_t
            dCS_next = dCS_next + peep[1] * dG_t[:, H:2 * H] + peep[0] * dG_t[:, :H]
        dHS_t[t], dCS_t[t] = dHS, dCS
    dx = dG @ W[:, H:] if need_dx else None                    # 9.-10., for a layer below
    grads = _lstm_weight_grads(layer, cache, dG)
    steps = {"dHS_t": dHS_t, "dCS_t": dCS_t}
    steps.update({"d%s_t" % g: block.copy() for g, block in zip(GATES, np.split(dG, 4, axis=2))})
    return grads, steps, dx, dHS_next, dCS_next


def _lstm_weight_grads(layer, cache, dG):
    """8. for all steps at once: dW_g = Σ_t dg_tᵀ X_t, db_g = Σ_t dg_t; peepholes per §5.3."""
    H = dG.shape[2] // 4
    dW = _sum_outer(dG, cache["X"])
    db = dG.sum(axis=(0, 1))
    grads = {}
    for n, g in enumerate(GATES):
        grads["W_" + g] = dW[n * H:(n + 1) * H].copy()     # own arrays, not views of dW
        grads["b_" + g] = db[n * H:(n + 1) * H].copy()
    if layer["peep"] is not None:
        df, di, do = dG[..., :H], dG[..., H:2 * H], dG[..., 3 * H:]
        grads["p_f"] = (df * cache["CSp"]).sum(axis=(0, 1))     # dp_f = Σ_t df_t ⊗ CS_{t−1}
        grads["p_i"] = (di * cache["CSp"]).sum(axis=(0, 1))     # dp_i = Σ_t di_t ⊗ CS_{t−1}
        grads["p_o"] = (do * cache["CS"]).sum(axis=(0, 1))      # dp_o = Σ_t do_t ⊗ CS_t
    return grads


# ---------------------------------------------------------------------------------------
# Vanilla RNN: one layer forward (§2.1) and backward (§2.5)
# ---------------------------------------------------------------------------------------

def _rnn_layer(net, k):
    P = net.params
    b = P[_name(k, "b_h")] if net.bias else np.zeros(net.H)
    return {"W_xh": P[_name(k, "W_xh")], "W_hh": P[_name(k, "W_hh")], "b_h": b}


def _rnn_forward(layer, xs, HS0):
    """h_t = tanh(W_xh x_t + W_hh h_{t−1} + b_h) over the sequence xs (T, B, I)."""
    A_x = xs @ layer["W_xh"].T + layer["b_h"]     # the input part, all steps at once
    HS = np.empty(A_x.shape)
    h = HS0
    for t in range(len(xs)):
        h = HS[t] = np.tanh(A_x[t] + h @ layer["W_hh"].T)
    HS_prev = np.concatenate([HS0[None], HS[:-1]])
    return {"xs": xs, "HS": HS, "HS_prev": HS_prev}


def _rnn_backward(layer, cache, dHS_out):
    """§2.5 for one layer, t = T … 1, carrying dh_next; the weight sums at the end."""
    HS = cache["HS"]
    T, B, H = HS.shape
    dHS_t, da_t = np.empty((T, B, H)), np.empty((T, B, H))
    dh_next = np.zeros((B, H))
    for t in reversed(range(T)):
        dHS_t[t] = dHS_out[t] + dh_next               # output path + path from step t+1
        da_t[t] = dHS_t[t] * (1 - HS[t] ** 2)         # tanh'(a_t) = 1 − h_t²
        dh_next = da_t[t] @ layer["W_hh"]             # W_hhᵀ da_t, as rows
    dx = da_t @ layer["W_xh"]                         # W_xhᵀ da_t: for the layer below
    grads = {"W_xh": _sum_outer(da_t, cache["xs"]),   # Σ_t da_t x_tᵀ
             "W_hh": _sum_outer(da_t, cache["HS_prev"]),
             "b_h": da_t.sum(axis=(0, 1))}
    return grads, {"dHS_t": dHS_t, "da_t": da_t}, dx, dh_next


# ---------------------------------------------------------------------------------------
# Shared: the output layer and loss, and collecting the results
# ---------------------------------------------------------------------------------------

def _output_layer(net, W_name, HS, Y, M):
    """Z_t = W HS_t + b_y, the loss E, and the output-path gradient W ᵀ dZ_t, as rows."""
    W = net.params[W_name]
    b = net.params["b_y"] if net.bias else np.zeros(net.n_out)
    loss, dZ = _softmax_cross_entropy(HS @ W.T + b, Y, M)
    grads = {W_name: _sum_outer(dZ, HS)}              # dW_y = Σ_t dZ_t HS_tᵀ
    if net.bias:
        grads["b_y"] = dZ.sum(axis=(0, 1))
    return grads, dZ @ W, loss


def _softmax_cross_entropy(Z, Y, M):
    """E = (1/B) Σ m·(−Σ_k y_k log softmax(Z)_k) and dZ = (m/B)·(softmax(Z)·Σ_k y_k − y).

    Z, Y (T, B, O), M (T, B). A masked-out step has dZ_t = 0. log softmax via the max-shift.
    """
    shifted = Z - Z.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    weight = M[..., None] / Z.shape[1]
    loss = -(weight * Y * log_p).sum()
    dZ = weight * (np.exp(log_p) * Y.sum(axis=-1, keepdims=True) - Y)
    return float(loss), dZ


def _sum_outer(d, X):
    """Σ_t Σ_b d_tb X_tbᵀ: (T, B, m) and (T, B, n) -> (m, n), one matmul."""
    return d.reshape(-1, d.shape[2]).T @ X.reshape(-1, X.shape[2])


def _collect(grads, net, k, layer_grads, steps, batched):
    """Put layer k's results into `grads` under its names: only the parameters it has."""
    for base, grad in layer_grads.items():
        name = _name(k, base)
        if name in net.params:
            grads[name] = grad
    for base, value in steps.items():
        grads[_name(k, base)] = value if batched else value[:, 0]


# ---------------------------------------------------------------------------------------
# Reading and validating the arguments
# ---------------------------------------------------------------------------------------

class Schema(NamedTuple):
    kind: str             # "LSTM": gates act on [HS_{t−1}; x_t]; "RNN": W_xh acts on x_t alone
    weights: tuple        # per layer, required; weights[0] defines H and the input width
    biases: tuple         # per layer, all present or all absent (together with "b_y")
    peepholes: tuple      # per layer, all present or all absent
    out: str              # output weight (O, H)


LSTM_SCHEMA = Schema("LSTM", ("W_f", "W_i", "W_c", "W_o"), ("b_f", "b_i", "b_c", "b_o"),
                     ("p_f", "p_i", "p_o"), "W_y")
RNN_SCHEMA = Schema("RNN", ("W_xh", "W_hh"), ("b_h",), (), "W_hy")


class Net(NamedTuple):
    params: dict          # name -> float64 array, validated
    L: int                # number of layers
    H: int
    n_in: int             # the spec's I: the input width
    n_out: int            # the spec's O: the number of classes
    bias: bool
    peep: bool


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
        P[name] = _numeric("parameter %r" % name, value).astype(np.float64)
    L = _count_layers(P)
    per_layer = [[_name(k, base) for base in schema.weights] for k in range(1, L + 1)]
    _require(P, [name for names in per_layer for name in names] + [schema.out], schema)
    bias = _all_or_none(P, [_name(k, b) for k in range(1, L + 1) for b in schema.biases]
                        + ["b_y"], "biases", schema)
    peep = _all_or_none(P, [_name(k, p) for k in range(1, L + 1) for p in schema.peepholes],
                        "peepholes", schema)
    known = {_name(k, base) for k in range(1, L + 1)
             for base in schema.weights + schema.biases + schema.peepholes}
    unexpected = sorted(set(P) - known - {schema.out, "b_y"})
    if unexpected:
        raise ValueError("params: unexpected %s parameter(s) %s (layer 1 is unprefixed, layer "
                         "k >= 2 is 'layer{k}.'; found %d layer(s))"
                         % (schema.kind, ", ".join(map(repr, unexpected)), L))
    H, n_in, n_out = _infer_sizes(P, schema)
    for name, shape in _expected_shapes(schema, L, H, n_in, n_out).items():
        if name in P and P[name].shape != shape:
            raise ValueError("parameter %r: expected shape %s, received shape %s"
                             % (name, shape, P[name].shape))
    return Net(P, L, H, n_in, n_out, bias, peep)


def _count_layers(P):
    """The highest k of any "layer{k}." name, or 1; gaps show up later as missing names."""
    numbers = [re.match(r"layer([1-9][0-9]*)\.", name) for name in P]
    return max([int(m.group(1)) for m in numbers if m] + [1])


def _require(P, names, schema):
    missing = [name for name in names if name not in P]
    if missing:
        raise ValueError("params: missing %s parameter(s) %s; received %s"
                         % (schema.kind, ", ".join(map(repr, missing)), sorted(P)))


def _all_or_none(P, names, what, schema):
    """True if every name is present, False if none is; otherwise say which are missing."""
    present = [name for name in names if name in P]
    if present and len(present) < len(names):
        missing = [name for name in names if name not in P]
        raise ValueError("params: %s must be all present or all absent in an %s; have %s, "
                         "missing %s" % (what, schema.kind, ", ".join(present), ", ".join(missing)))
    return bool(present)


def _infer_sizes(P, schema):
    """H and the input width from layer 1's gate weights (the shape most of them share, so a
    single misshapen one is the one named), O from the output weight."""
    first = schema.weights[0]
    if schema.kind == "LSTM":
        shapes = [P[w].shape for w in schema.weights if w in P]
        common = max(shapes, key=shapes.count)
        first = next(w for w in schema.weights if w in P and P[w].shape == common)
    W = P[first]
    lstm = schema.kind == "LSTM"
    if W.ndim != 2 or W.shape[0] < 1 or W.shape[1] < (W.shape[0] + 1 if lstm else 1):
        raise ValueError("parameter %r: expected a matrix of shape %s with H, I >= 1; "
                         "received shape %s" % (first, "(H, H+I)" if lstm else "(H, I)", W.shape))
    H = W.shape[0]
    n_in = W.shape[1] - H if lstm else W.shape[1]
    W_out = P[schema.out]
    if W_out.ndim != 2 or W_out.shape[0] < 1 or W_out.shape[1] != H:
        raise ValueError("parameter %r: expected shape (O, %d) with O >= 1 (H = %d from %r); "
                         "received shape %s" % (schema.out, H, H, first, W_out.shape))
    return H, n_in, W_out.shape[0]


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
    xs = _numeric("xs", xs).astype(np.float64)
    if xs.ndim not in (2, 3) or xs.shape[-1] != n_in:
        raise ValueError("xs: expected shape (T, %d) or (T, B, %d) (I = %d from the parameters); "
                         "received shape %s" % (n_in, n_in, n_in, xs.shape))
    if xs.shape[0] == 0:
        raise ValueError("xs: empty sequence (T = 0); received shape %s" % (xs.shape,))
    if xs.ndim == 3 and xs.shape[1] == 0:
        raise ValueError("xs: empty batch (B = 0); received shape %s" % (xs.shape,))
    return (xs if xs.ndim == 3 else xs[:, None]), xs.ndim == 3


def _targets(targets, mask, T, B, n_out, batched):
    """The targets as one-hot rows Y (T, B, O) and the mask M (T, B), both float64."""
    M = _mask(mask, T, B, batched)
    raw = _numeric("targets", targets)
    lead = (T, B) if batched else (T,)
    if raw.shape == lead:
        return _one_hot(raw, M.reshape(lead) > 0, n_out).reshape(T, B, n_out), M
    if raw.shape == lead + (n_out,):
        return raw.astype(np.float64).reshape(T, B, n_out), M
    raise ValueError("targets: expected class indices of shape %s or one-hot rows of shape %s "
                     "(T = %d from xs, O = %d from the parameters); received shape %s"
                     % (lead, lead + (n_out,), T, n_out, raw.shape))


def _one_hot(indices, counted, n_out):
    """Rows of the identity. Only the steps that count are checked and used: a masked-out
    step may hold any placeholder (e.g. −1)."""
    used = indices[counted]
    if indices.dtype.kind == "b" or (indices.dtype.kind == "f" and not np.all(used == np.round(used))):
        raise ValueError("targets: class indices must be integers; received dtype %s"
                         % indices.dtype)
    bad = used[(used < 0) | (used >= n_out)]
    if bad.size:
        raise ValueError("targets: class index %s out of range [0, %d) (O = %d from the "
                         "parameters)" % (bad.flat[0], n_out, n_out))
    return np.eye(n_out)[np.where(counted, indices, 0).astype(np.intp)]


def _mask(mask, T, B, batched):
    """None -> every step counts. Booleans (or 0/1) of shape (T,) or, batched, (T, B)."""
    if mask is None:
        return np.ones((T, B))
    raw = _numeric("mask", mask)
    shapes = [(T,), (T, B)] if batched else [(T,)]
    if raw.shape not in shapes:
        raise ValueError("mask: expected shape %s (T = %d from xs); received shape %s"
                         % (" or ".join(map(str, shapes)), T, raw.shape))
    if not np.isin(raw, (0, 1)).all():
        raise ValueError("mask: expected booleans (or 0/1); received values %s"
                         % np.unique(raw)[:5])
    return np.broadcast_to(raw.reshape(T, -1), (T, B)).astype(np.float64)


def _initial_state(what, value, net, B, batched):
    """h0 or c0 as (L, B, H) float64, and the caller's layout (for its gradient)."""
    layout = ((B,) if batched else ()) + (net.H,)
    if net.L > 1:
        layout = (net.L,) + layout
    if value is None:
        return np.zeros((net.L, B, net.H)), layout
    state = _numeric(what, value).astype(np.float64)
    if state.shape != layout:
        raise ValueError("%s: expected shape %s (%s, H = %d, %d layer(s)); received shape %s"
                         % (what, layout, "batched, B = %d" % B if batched else "unbatched",
                            net.H, net.L, state.shape))
    return state.reshape(net.L, B, net.H).copy(), layout
