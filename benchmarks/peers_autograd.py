"""HIPS autograd peer for benchmarks/lstm.py, used only when it is installed (pip install
autograd): value_and_grad over a Python loop in autograd.numpy, a per-op tape like our
eager path. The same math and weights as benchmarks/numpy_lstm.py (see peers_jax.py).
"""
import numpy as np

GATES = "fico"


def load():
    """(autograd, its version) or (None, None) when it is not installed."""
    try:
        import autograd
    except ImportError:
        return None, None
    from importlib.metadata import version
    return autograd, version("autograd")


def build(autograd, params, xs, ys):
    """A function computing the loss and every gradient; returns the loss as a float."""
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    T, B, _ = xs.shape
    H = params["W_f"].shape[0]
    rows, targets = np.arange(T * B), ys.reshape(-1)

    def sigmoid(x):
        return 0.5 * (anp.tanh(0.5 * x) + 1)

    def loss(p):
        W = anp.concatenate([p["W_" + g] for g in GATES])          # (4H, H+I)
        b = anp.concatenate([p["b_" + g] for g in GATES])
        h = c = np.zeros((B, H), xs.dtype)
        hs = []
        for t in range(T):
            g = anp.dot(anp.concatenate([h, xs[t]], axis=1), W.T) + b
            F, I = sigmoid(g[:, :H]), sigmoid(g[:, H:2 * H])
            C, O = anp.tanh(g[:, 2 * H:3 * H]), sigmoid(g[:, 3 * H:])
            c = c * F + I * C
            h = O * anp.tanh(c)
            hs.append(h)
        Z = anp.dot(anp.concatenate(hs, axis=0), p["W_y"].T) + p["b_y"]    # (T·B, O)
        return (anp.sum(logsumexp(Z, axis=1)) - anp.sum(Z[rows, targets])) / B

    step = autograd.value_and_grad(loss)
    p = {name: np.asarray(value, dtype=xs.dtype) for name, value in params.items()}

    def run():
        return float(step(p)[0])

    return run
