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
from functools import lru_cache
from typing import NamedTuple

import numpy as np

__all__ = ["lstm_gradients", "rnn_gradients"]

# The order of the four blocks in the fused gate matrix: the sigmoid gates O, F, I side by
# side (one σ call per step), and f, i, c, the three that dCS_t reaches, side by side.
GATES = ("o", "f", "i", "c")


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

def sigmoid_(x):
    """σ(x) = 1/(1 + e^(−x)), in place. For x < −709, e^(−x) overflows to inf and
    σ = 1/(1 + inf) = 0 is still right: call it under np.errstate(over="ignore")."""
    np.exp(np.negative(x, out=x), out=x)
    np.reciprocal(np.add(x, 1, out=x), out=x)
    return x


def _one_minus_square(x, out):
    """1 − x², the derivative of tanh at the point where tanh is x."""
    np.square(x, out=out)
    return np.subtract(1, out, out=out)


def _blocks(G):
    """The four H-wide gate blocks of the last axis, in the order of GATES (views)."""
    H = G.shape[-1] // 4
    return G[..., :H], G[..., H:2 * H], G[..., 2 * H:3 * H], G[..., 3 * H:]


def _lstm_layer(net, k):
    """Layer k's parameters, fused: W = [W_o; W_f; W_i; W_c] (4H, H+I), b likewise (4H,)."""
    P = net.params
    W = np.concatenate([P[_name(k, "W_" + g)] for g in GATES])
    b = [P[_name(k, "b_" + g)] for g in GATES] if net.bias else [np.zeros(net.H)] * 4
    peep = {g: P[_name(k, "p_" + g)] for g in ("f", "i", "o")} if net.peep else None
    return {"W": W, "b": np.concatenate(b), "peep": peep}


def _lstm_forward(layer, xs, HS0, CS0):
    """Run one layer over the sequence xs (T, B, I); keep what BPTT needs (§1.7).

    The cache: X (T+1, B, H+I), whose row t−1 is X_t = [HS_{t−1}; x_t] and whose last row
    starts with HS_T, so that "HS" (T, B, H) is a view of it; the gates O_t, F_t, I_t, C_t
    (T, B, 4H); CS (T+1, B, H) from CS_0; and tanh(CS_t) (T, B, H).
    """
    T, B, n_in = xs.shape
    H = HS0.shape[1]
    W, peep = layer["W"], layer["peep"]
    U_T = np.ascontiguousarray(W[:, :H].T)       # recurrent columns: act on HS_{t−1} (§1.5)
    gates = _rows_times(xs, W[:, H:].T)           # input columns plus bias, all steps at once
    gates += layer["b"]
    X = np.zeros((T + 1, B, H + n_in))
    X[0, :, :H] = HS0
    X[:T, :, H:] = xs
    CS = np.empty((T + 1, B, H))
    CS[0] = CS0
    tCS = np.empty((T, B, H))
    UHS = np.empty((B, 4 * H))
    with np.errstate(over="ignore"):              # see sigmoid_
        for t in range(T):
            CS_prev, CS_t = CS[t], CS[t + 1]
            g = gates[t]                          # o_t, f_t, i_t, c_t; then O_t, F_t, I_t, C_t
            g += np.matmul(X[t, :, :H], U_T, out=UHS)
            O, F, I, C = _blocks(g)
            if peep is None:
                sigmoid_(g[:, :3 * H])            # O_t, F_t, I_t at once
            else:                                 # f_t and i_t peep at CS_{t−1} (§5.2)
                F += peep["f"] * CS_prev
                I += peep["i"] * CS_prev
                sigmoid_(g[:, H:3 * H])
            np.tanh(C, out=C)
            np.multiply(CS_prev, F, out=CS_t)                 # CS_t = CS_{t−1} ⊗ F_t + I_t ⊗ C_t
            CS_t += np.multiply(I, C, out=UHS[:, :H])
            if peep is not None:                  # o_t peeps at the new CS_t
                O += peep["o"] * CS_t
                sigmoid_(O)
            np.multiply(O, np.tanh(CS_t, out=tCS[t]), out=X[t + 1, :, :H])  # HS_t = O_t ⊗ tanh(CS_t)
    return {"X": X, "HS": X[1:, :, :H], "gates": gates, "CS": CS, "tCS": tCS}


def _local_derivatives(cache):
    """§3.1's local derivatives for all steps at once (they depend on the forward pass only).

    Returns K (T, B, 4H), laid out like the gates, and ∂HS_t/∂CS_t (T, B, H), written over
    tanh(CS_t) in the cache (its last use):

        ∂HS_t/∂o_t = tanh(CS_t) ⊗ O_t ⊗ (1 − O_t)      ∂CS_t/∂f_t = CS_{t−1} ⊗ F_t ⊗ (1 − F_t)
        ∂CS_t/∂i_t = C_t ⊗ I_t ⊗ (1 − I_t)              ∂CS_t/∂c_t = I_t ⊗ (1 − C_t²)
        ∂HS_t/∂CS_t = O_t ⊗ (1 − tanh²(CS_t))           (directly, not through a peephole)

    so that §3.3's steps 4.–7. are do_t = dHS_t ⊗ K_o and dg_t = dCS_t ⊗ K_g for g = f, i, c.
    """
    gates, tCS = cache["gates"], cache["tCS"]
    H = gates.shape[2] // 4
    O, F, I, C = _blocks(gates)
    K = np.empty(gates.shape)
    K_o, K_f, K_i, K_c = _blocks(K)
    sig, dsig = gates[..., :3 * H], K[..., :3 * H]              # O, F, I and their σ'
    np.multiply(sig, np.subtract(1, sig, out=dsig), out=dsig)   # σ' = σ(1 − σ)
    K_o *= tCS
    K_f *= cache["CS"][:-1]
    K_i *= C
    np.multiply(I, _one_minus_square(C, out=K_c), out=K_c)
    dHS_dCS = _one_minus_square(tCS, out=tCS)                 # tanh(CS_t)'s last use
    dHS_dCS *= O
    return K, dHS_dCS


def _lstm_backward(layer, cache, dHS_out, need_dx=True):
    """§3.3 for one layer, t = T … 1, carrying dHS_next and dCS_next (with §5.3's peepholes).

    dHS_out (T, B, H) is the output-path part of dHS_t: W_yᵀ dZ_t for the top layer, the
    layer above's dx_t otherwise; it becomes dHS_t, in place. Returns the weight gradients
    (fused), the per-step gradients, dx (T, B, I) for the layer below (None if there is
    none: need_dx=False), dE/dHS_0 and dE/dCS_0.
    """
    dG, dHS_dCS = _local_derivatives(cache)        # each dg_t is then written over its K_t
    _, F, _, _ = _blocks(cache["gates"])
    T, B, H = F.shape
    U, peep = layer["W"][:, :H], layer["peep"]     # U: the columns that act on HS_{t−1}
    dHS_t, dCS_t = dHS_out, np.empty((T, B, H))
    dHS_next, dCS_next = np.zeros((B, H)), np.zeros((B, H))
    for t in reversed(range(T)):
        dHS = dHS_t[t]
        dHS += dHS_next                                                # 3.
        dg = dG[t]                                                     # K_t, becoming dg_t
        do = dg[:, :H]
        do *= dHS                                                      # 4. and 7.
        dCS = np.multiply(dHS, dHS_dCS[t], out=dCS_t[t])               # 5.
        dCS += dCS_next
        if peep is not None:                                           # CS_t → o_t (§5.3)
            dCS += peep["o"] * do
        fic = dg[:, H:].reshape(B, 3, H)                               # 6. and 7.: df_t,
        fic *= dCS[:, None]                                            # di_t, dc_t at once
        # 9.-10. only the H columns that reach HS_{t−1} are needed inside the loop;
        # the input columns (dx_t, for a layer below) are one matmul after it.
        np.matmul(dg, U, out=dHS_next)
        np.multiply(dCS, F[t], out=dCS_next)                           # 11.
        if peep is not None:                                           # CS_{t−1} → f_t, i_t
            dCS_next += peep["f"] * dg[:, H:2 * H] + peep["i"] * dg[:, 2 * H:3 * H]
    dx = _rows_times(dG, layer["W"][:, H:]) if need_dx else None     # 9.-10., for a layer below
    grads = _lstm_weight_grads(layer, cache, dG)
    steps = {"dHS_t": dHS_t, "dCS_t": dCS_t}
    steps.update({"d%s_t" % g: block for g, block in zip(GATES, _blocks(dG))})
    return grads, steps, dx, dHS_next, dCS_next


def _lstm_weight_grads(layer, cache, dG):
    """8. for all steps at once: dW_g = Σ_t dg_tᵀ X_t, db_g = Σ_t dg_t; peepholes per §5.3."""
    T, _, H4 = dG.shape
    dW = _sum_outer(dG, cache["X"][:T]).reshape(4, H4 // 4, -1)     # the blocks W_o, W_f, ...
    db = dG.sum(axis=(0, 1)).reshape(4, H4 // 4)
    grads = {}
    for g, dW_g, db_g in zip(GATES, dW, db):
        grads["W_" + g], grads["b_" + g] = dW_g, db_g
    if layer["peep"] is not None:
        do, df, di, _ = _blocks(dG)
        CS = cache["CS"]
        grads["p_f"] = (df * CS[:-1]).sum(axis=(0, 1))     # dp_f = Σ_t df_t ⊗ CS_{t−1}
        grads["p_i"] = (di * CS[:-1]).sum(axis=(0, 1))     # dp_i = Σ_t di_t ⊗ CS_{t−1}
        grads["p_o"] = (do * CS[1:]).sum(axis=(0, 1))      # dp_o = Σ_t do_t ⊗ CS_t
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
    loss, dZ = _softmax_cross_entropy(_rows_times(HS, W.T) + b, Y, M)
    grads = {W_name: _sum_outer(dZ, HS)}              # dW_y = Σ_t dZ_t HS_tᵀ
    if net.bias:
        grads["b_y"] = dZ.sum(axis=(0, 1))
    return grads, _rows_times(dZ, W), loss


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


def _rows_times(A, M):
    """Every row of A (T, B, n) times M (n, m): (T, B, m), as one matmul."""
    return (A.reshape(-1, A.shape[2]) @ M).reshape(A.shape[:2] + M.shape[1:])


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

LAYER_PREFIX = re.compile(r"layer([1-9][0-9]*)\.")


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
        P[name] = _numeric("parameter %r" % name, value).astype(np.float64, copy=False)
    return Net(P, *_structure(tuple((name, p.shape) for name, p in P.items()), schema))


@lru_cache(maxsize=64)
def _structure(shapes, schema):
    """L, H, I, O, bias and peepholes from the parameters' (name, shape) pairs, checked
    against the schema. It depends on nothing else, so it is cached: a training loop
    passes the same names and shapes every step (an error is raised every time)."""
    S = dict(shapes)
    L = _count_layers(S)
    weights, biases, peepholes = ([_name(k, base) for k in range(1, L + 1) for base in group]
                                  for group in (schema.weights, schema.biases, schema.peepholes))
    _require(S, weights + [schema.out], schema)
    bias = _all_or_none(S, biases + ["b_y"], "biases", schema)
    peep = _all_or_none(S, peepholes, "peepholes", schema)
    unexpected = sorted(set(S).difference(weights, biases, peepholes, (schema.out, "b_y")))
    if unexpected:
        raise ValueError("params: unexpected %s parameter(s) %s (layer 1 is unprefixed, layer "
                         "k >= 2 is 'layer{k}.'; found %d layer(s))"
                         % (schema.kind, ", ".join(map(repr, unexpected)), L))
    H, n_in, n_out = _infer_sizes(S, schema)
    for name, shape in _expected_shapes(schema, L, H, n_in, n_out).items():
        if name in S and S[name] != shape:
            raise ValueError("parameter %r: expected shape %s, received shape %s"
                             % (name, shape, S[name]))
    return L, H, n_in, n_out, bias, peep


def _count_layers(names):
    """The highest k of any "layer{k}." name, or 1; gaps show up later as missing names."""
    numbers = [LAYER_PREFIX.match(name) for name in names]
    return max([int(m.group(1)) for m in numbers if m] + [1])


def _require(S, names, schema):
    missing = [name for name in names if name not in S]
    if missing:
        raise ValueError("params: missing %s parameter(s) %s; received %s"
                         % (schema.kind, ", ".join(map(repr, missing)), sorted(S)))


def _all_or_none(S, names, what, schema):
    """True if every name is present, False if none is; otherwise say which are missing."""
    present = [name for name in names if name in S]
    if present and len(present) < len(names):
        missing = [name for name in names if name not in S]
        raise ValueError("params: %s must be all present or all absent in an %s; have %s, "
                         "missing %s" % (what, schema.kind, ", ".join(present), ", ".join(missing)))
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
    out = S[schema.out]
    if len(out) != 2 or out[0] < 1 or out[1] != H:
        raise ValueError("parameter %r: expected shape (O, %d) with O >= 1 (H = %d from %r); "
                         "received shape %s" % (schema.out, H, H, first, out))
    return H, n_in, out[0]


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
    """The targets as one-hot rows Y (T, B, O) and the mask M (T, B), both float64."""
    M = _mask(mask, T, B, batched)
    raw = _numeric("targets", targets)
    lead = (T, B) if batched else (T,)
    if raw.shape == lead:
        counted = None if mask is None else M.reshape(lead) > 0
        return _one_hot(raw, counted, n_out).reshape(T, B, n_out), M
    if raw.shape == lead + (n_out,):
        return raw.astype(np.float64, copy=False).reshape(T, B, n_out), M
    raise ValueError("targets: expected class indices of shape %s or one-hot rows of shape %s "
                     "(T = %d from xs, O = %d from the parameters); received shape %s"
                     % (lead, lead + (n_out,), T, n_out, raw.shape))


def _one_hot(indices, counted, n_out):
    """Rows of the identity. Only the steps that count (all if counted is None) are checked
    and used: a masked-out step may hold any placeholder (e.g. −1)."""
    used = indices if counted is None else indices[counted]
    if indices.dtype.kind == "b" or (indices.dtype.kind == "f" and not np.all(used == np.round(used))):
        raise ValueError("targets: class indices must be integers; received dtype %s"
                         % indices.dtype)
    bad = used[(used < 0) | (used >= n_out)]
    if bad.size:
        raise ValueError("targets: class index %s out of range [0, %d) (O = %d from the "
                         "parameters)" % (bad.flat[0], n_out, n_out))
    if counted is not None:
        indices = np.where(counted, indices, 0)
    return np.eye(n_out)[indices.astype(np.intp)]


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
