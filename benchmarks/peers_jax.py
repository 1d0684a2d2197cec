"""JAX peer for benchmarks/lstm.py, used only when jax is installed (pip install jax):
jax.jit(jax.value_and_grad(loss)), where the loss runs the LSTM with jax.lax.scan.

The same math as ours and benchmarks/numpy_lstm.py, on the same weights: gates on
X_t = [HS_{t−1}; x_t] with W_g (H, H+I) and b_g (the four fused into one matrix, and the
x_t part of every step done before the scan, as the numpy reference does), zero initial
state, Z_t = W_y HS_t + b_y, softmax cross-entropy summed over time, averaged over the
batch. float64 needs jax_enable_x64, which load() turns on (float32 arrays stay float32).
XLA uses every core. The first call traces and compiles; benchmarks/lstm.py reports that
time on a line of its own.
"""
GATES = "fico"


def load():
    """(jax, its version) or (None, None) when it is not installed."""
    try:
        import jax
    except ImportError:
        return None, None
    jax.config.update("jax_enable_x64", True)
    jax.jit(lambda x: x + 1)(0.0).block_until_ready()     # start the backend: not a compile time
    return jax, jax.__version__


def build(jax, params, xs, ys):
    """A function computing the loss and every gradient; returns the loss as a float."""
    jnp = jax.numpy
    H = params["W_f"].shape[0]

    def loss(p, xs, ys):
        W = jnp.concatenate([p["W_" + g] for g in GATES])         # (4H, H+I)
        b = jnp.concatenate([p["b_" + g] for g in GATES])
        B = xs.shape[1]
        inputs = xs @ W[:, H:].T + b                               # W x_t + b, all steps
        U_T = W[:, :H].T

        def step(state, input_t):
            h, c = state
            g = input_t + h @ U_T
            F, I = jax.nn.sigmoid(g[:, :H]), jax.nn.sigmoid(g[:, H:2 * H])
            C, O = jnp.tanh(g[:, 2 * H:3 * H]), jax.nn.sigmoid(g[:, 3 * H:])
            c = c * F + I * C
            h = O * jnp.tanh(c)
            return (h, c), h

        zeros = jnp.zeros((B, H), xs.dtype)
        _, HS = jax.lax.scan(step, (zeros, zeros), inputs)
        Z = HS @ p["W_y"].T + p["b_y"]
        picked = jnp.take_along_axis(jax.nn.log_softmax(Z, axis=-1), ys[..., None], axis=-1)
        return -picked.sum() / B

    step = jax.jit(jax.value_and_grad(loss))
    p = {name: jnp.asarray(value, dtype=xs.dtype) for name, value in params.items()}
    xs, ys = jnp.asarray(xs), jnp.asarray(ys)

    def run():
        value, grads = step(p, xs, ys)
        jax.block_until_ready(grads)
        return float(value)

    return run
