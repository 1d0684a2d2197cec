"""The fastest vectorised numpy LSTM forward + backward we could write: a performance reference.

Not part of the library: benchmarks/lstm.py times the engine and bptt.lstm_gradients (the
readable transcription of docs/math.md) against it, and tests/test_numpy_reference.py checks
that it agrees with bptt. One layer with biases, no peepholes, zero initial state; the
output layer Z_t = W_y HS_t + b_y; the loss softmax cross-entropy summed over time,
averaged over the batch. It computes in the dtype of xs (float64 or float32).

What makes it fast:
- one fused gate matrix W = [U | V]: the input part V x_t + b for all T steps is one GEMM
  before the loop, so only U HS_{t−1} is left inside it; on the way back only
  dHS_{t−1} = Uᵀ dg_t is;
- the blocks in the order o, f, i, c: the three sigmoid gates side by side (one call), and
  the three gates that dCS_t reaches side by side (one call);
- everything that does not depend on the recurrence is done for all steps at once: the
  output layer, softmax and loss; the local derivatives (docs/math.md §3.1); the weight
  gradient, one GEMM Σ_t dg_tᵀ X_t over a stack X_t = [HS_{t−1}; x_t] that the forward loop
  writes HS_t into;
- no temporaries inside the loops (out=), and few buffers: the local derivatives become
  dg_t in place.
"""
import numpy as np

ORDER = ("o", "f", "i", "c")        # the blocks of the fused gate matrix, top to bottom


def lstm_gradients(params, xs, ys):
    """dE/dparam for W_f..W_o, b_f..b_o, W_y, b_y, and "loss"; xs (T, B, I), ys int (T, B)."""
    T, B, I = xs.shape
    H = params["W_f"].shape[0]
    as_xs = dict(dtype=xs.dtype, copy=False)
    W = np.concatenate([params["W_" + g] for g in ORDER]).astype(**as_xs)      # (4H, H+I)
    b = np.concatenate([params["b_" + g] for g in ORDER]).astype(**as_xs)
    X, gates, CS, tCS = _forward(W, b, xs)
    loss, dW_y, db_y, dHS_out = _output_layer(params["W_y"].astype(**as_xs),
                                              params["b_y"].astype(**as_xs), X[1:, :, :H], ys)
    K, dHS_dCS = _local_derivatives(gates, CS, tCS)
    dG = _backward(W[:, :H], K, dHS_dCS, gates[..., H:2 * H], dHS_out)
    dW = dG.reshape(T * B, 4 * H).T @ X[:T].reshape(T * B, H + I)     # Σ_t dg_tᵀ X_t
    db = dG.sum(axis=(0, 1))
    grads = {"loss": loss, "W_y": dW_y, "b_y": db_y}
    for n, g in enumerate(ORDER):
        grads["W_" + g] = dW[n * H:(n + 1) * H]
        grads["b_" + g] = db[n * H:(n + 1) * H]
    return grads


def _forward(W, b, xs):
    """The stack X (T+1, B, H+I): X_t = [HS_{t−1}; x_t], HS_T in the last row; the gates
    O_t, F_t, I_t, C_t (T, B, 4H); CS (T+1, B, H) from CS_0 = 0; tanh(CS_t) (T, B, H)."""
    T, B, I = xs.shape
    H = W.shape[0] // 4
    X = np.empty((T + 1, B, H + I), xs.dtype)
    X[0, :, :H] = 0
    X[:T, :, H:] = xs
    gates = (xs.reshape(T * B, I) @ W[:, H:].T).reshape(T, B, 4 * H)  # V x_t, all steps
    gates += b
    CS = np.empty((T + 1, B, H), xs.dtype)
    CS[0] = 0
    tCS = np.empty((T, B, H), xs.dtype)
    U_T = np.ascontiguousarray(W[:, :H].T)          # in this layout the GEMM per step is faster
    UHS = np.empty((B, 4 * H), xs.dtype)
    with np.errstate(over="ignore"):        # e^(−x) = inf is right: σ(x) = 1/(1 + inf) = 0
        for t in range(T):
            g = gates[t]                                      # pre-activations, then gates
            g += np.matmul(X[t, :, :H], U_T, out=UHS)
            s = g[:, :3 * H]                                  # σ(x) = 1/(1 + e^(−x))
            np.exp(np.negative(s, out=s), out=s)
            np.reciprocal(np.add(s, 1, out=s), out=s)
            O, F, I_t, C = _blocks(g)
            np.tanh(C, out=C)
            CS_t = np.multiply(CS[t], F, out=CS[t + 1])       # CS_t = CS_{t−1} F_t + I_t C_t
            CS_t += np.multiply(I_t, C, out=UHS[:, :H])
            np.multiply(O, np.tanh(CS_t, out=tCS[t]), out=X[t + 1, :, :H])   # HS_t = O_t tanh(CS_t)
    return X, gates, CS, tCS


def _output_layer(W_y, b_y, HS, ys):
    """E, dE/dW_y, dE/db_y and dE/dHS_t through Z_t = W_y HS_t + b_y, for all steps at once."""
    T, B, H = HS.shape
    HS = HS.reshape(T * B, H)
    Z = HS @ W_y.T + b_y
    Z -= Z.max(axis=1, keepdims=True)                         # log-softmax with the max-shift
    P = np.exp(Z)
    total = P.sum(axis=1)
    rows, targets = np.arange(T * B), ys.reshape(-1)
    loss = (np.log(total).sum() - Z[rows, targets].sum()) / B
    P /= total[:, None]                                       # dZ = (softmax(Z) − y) / B
    P[rows, targets] -= 1
    P /= B
    return float(loss), P.T @ HS, P.sum(axis=0), (P @ W_y).reshape(T, B, H)


def _local_derivatives(gates, CS, tCS):
    """docs/math.md §3.1's local derivatives for all steps at once: K (T, B, 4H), blocks o, f, i, c, and
    ∂HS_t/∂CS_t (T, B, H), written over tanh(CS_t) (its last use):

        K_o = tanh(CS_t) σ'(o_t)   K_f = CS_{t−1} σ'(f_t)   K_i = C_t σ'(i_t)   K_c = I_t (1 − C_t²)
        ∂HS_t/∂CS_t = O_t (1 − tanh²(CS_t)),   with σ' = σ(1 − σ)
    """
    H = tCS.shape[2]
    O, F, I, C = _blocks(gates)
    K = np.empty_like(gates)
    sig, dsig = gates[..., :3 * H], K[..., :3 * H]
    np.multiply(sig, np.subtract(1, sig, out=dsig), out=dsig)
    K_o, K_f, K_i, K_c = _blocks(K)
    K_o *= tCS
    K_f *= CS[:-1]
    K_i *= C
    np.multiply(I, np.subtract(1, np.square(C, out=K_c), out=K_c), out=K_c)
    dHS_dCS = np.subtract(1, np.square(tCS, out=tCS), out=tCS)
    dHS_dCS *= O
    return K, dHS_dCS


def _backward(U, K, dHS_dCS, F, dHS_out):
    """docs/math.md §3.3, t = T … 1, over the local derivatives: dg_t = K_t ⊗ [dHS_t, dCS_t, dCS_t, dCS_t],
    written over K_t; returns dg (T, B, 4H)."""
    _, B, H = F.shape
    dHS = np.zeros((B, H), K.dtype)                           # dHS_next, then dHS_t
    dCS = np.zeros((B, H), K.dtype)                           # dCS_next, then dCS_t
    tmp = np.empty((B, H), K.dtype)
    for t in reversed(range(len(K))):
        dHS += dHS_out[t]
        dg = K[t]
        do = dg[:, :H]
        do *= dHS                                                         # do_t
        dCS += np.multiply(dHS, dHS_dCS[t], out=tmp)
        fic = dg[:, H:].reshape(B, 3, H)
        fic *= dCS[:, None]                                               # df_t, di_t, dc_t
        np.matmul(dg, U, out=dHS)                                         # dHS_{t−1}
        dCS *= F[t]                                                       # dCS_{t−1}
    return K


def _blocks(G):
    """The four H-wide blocks o, f, i, c of the last axis (views)."""
    H = G.shape[-1] // 4
    return G[..., :H], G[..., H:2 * H], G[..., 2 * H:3 * H], G[..., 3 * H:]
