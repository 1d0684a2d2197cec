"""bptt.py, the hand-derived witness, checked against what it must agree with.

- central finite differences of its own loss, for every parameter and the initial states;
- per-step gradients (dHS_t, dCS_t, dg_t) against finite differences of a loss written
  here from the forward equations, with a perturbation injected at that step;
- the lecture's worked example (docs/math.md §4), to 6 decimals;
- bad inputs, which must fail with a message that says what was expected;
- that it stays an independent witness that reads like the derivation: numpy and the
  standard library only, loadable on its own from its file, nothing computed in place.
(Autodiff = bptt to 1e-10 is tests/test_compare.py's, on hypothesis-drawn sizes.)
"""
import ast
import importlib.util
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from tinygrad_lstm.bptt import lstm_gradients, rnn_gradients

BPTT = Path(__file__).resolve().parents[1] / "tinygrad_lstm" / "bptt.py"

EPS = 1e-6
TOL = dict(rtol=1e-6, atol=1e-8)
GATES = "fico"
T, I, H, O = 5, 4, 3, 5


def prefix(k):
    return "" if k == 1 else "layer%d." % k


def lstm_params(rng, layers=1, bias=True, peep=False, n_in=I):
    P = {}
    for k in range(1, layers + 1):
        width = n_in if k == 1 else H
        for g in GATES:
            P[prefix(k) + "W_" + g] = rng.normal(0, 0.6, (H, H + width))
            if bias:
                P[prefix(k) + "b_" + g] = rng.normal(0, 0.5, H)
        for g in "fio" if peep else "":
            P[prefix(k) + "p_" + g] = rng.normal(0, 0.5, H)
    P["W_y"] = rng.normal(0, 0.8, (O, H))
    if bias:
        P["b_y"] = rng.normal(0, 0.5, O)
    return P


def rnn_params(rng, layers=1, bias=True):
    P = {}
    for k in range(1, layers + 1):
        P[prefix(k) + "W_xh"] = rng.normal(0, 0.6, (H, I if k == 1 else H))
        P[prefix(k) + "W_hh"] = rng.normal(0, 0.6, (H, H))
        if bias:
            P[prefix(k) + "b_h"] = rng.normal(0, 0.5, H)
    P["W_hy"] = rng.normal(0, 0.8, (O, H))
    if bias:
        P["b_y"] = rng.normal(0, 0.5, O)
    return P


def state_shape(layers, B):
    return ((layers,) if layers > 1 else ()) + ((B,) if B else ()) + (H,)


def numerical_gradient(loss, a):
    """d loss() / d a by central differences, perturbing the array a in place."""
    grad = np.zeros_like(a)
    flat, flat_grad = a.reshape(-1), grad.reshape(-1)
    for j in range(flat.size):
        saved = flat[j]
        flat[j] = saved + EPS
        plus = loss()
        flat[j] = saved - EPS
        minus = loss()
        flat[j] = saved
        flat_grad[j] = (plus - minus) / (2 * EPS)
    return grad


def check_against_finite_differences(fn, params, xs, targets, **kwargs):
    """Every parameter gradient and HS_0 / CS_0 against differences of the returned loss."""
    grads = fn(params, xs, targets, **kwargs)

    def loss():
        return fn(params, xs, targets, **kwargs)["loss"]

    for name, value in params.items():
        np.testing.assert_allclose(grads[name], numerical_gradient(loss, value), **TOL, err_msg=name)
        assert grads[name].shape == value.shape and grads[name].dtype == np.float64
    for state, key in (("h0", "HS_0"), ("c0", "CS_0")):
        if state in kwargs:
            np.testing.assert_allclose(grads[key], numerical_gradient(loss, kwargs[state]), **TOL,
                                       err_msg=key)
    return grads


# --- every parameter and the initial states, against finite differences -------------------

LSTM_CASES = {
    # name: (layers, bias, peep, B, mask, one_hot)
    "bias": (1, True, False, 0, False, False),
    "no-bias": (1, False, False, 0, False, False),
    "peepholes": (1, True, True, 0, False, False),
    "batched": (1, True, False, 3, False, False),
    "stacked": (2, True, False, 0, False, False),
    "stacked-batched-peepholes-no-bias": (2, False, True, 2, False, False),
    "many-to-one": (1, True, False, 0, True, False),
    "batched-mask": (1, True, True, 3, True, False),
    "one-hot": (1, True, False, 2, False, True),
}


def make_targets(rng, B, one_hot):
    lead = (T, B) if B else (T,)
    if one_hot:                    # any non-negative rows: CE = −Σ_k y_k log softmax_k
        return rng.uniform(0, 1, lead + (O,))
    return rng.integers(0, O, lead)


def make_mask(rng, B):
    if not B:
        return np.arange(T) == T - 1              # many-to-one: only the last step has a loss
    mask = rng.uniform(size=(T, B)) < 0.5
    mask[-1] = True
    return mask


@pytest.mark.parametrize("case", LSTM_CASES)
def test_lstm_gradients_match_finite_differences(case):
    layers, bias, peep, B, masked, one_hot = LSTM_CASES[case]
    rng = np.random.default_rng(sorted(LSTM_CASES).index(case))
    params = lstm_params(rng, layers, bias, peep)
    xs = rng.normal(size=(T, B, I) if B else (T, I))
    targets = make_targets(rng, B, one_hot)
    kwargs = dict(h0=rng.normal(0, 0.5, state_shape(layers, B)),
                  c0=rng.normal(0, 0.8, state_shape(layers, B)))
    if masked:
        kwargs["mask"] = make_mask(rng, B)
    grads = check_against_finite_differences(lstm_gradients, params, xs, targets, **kwargs)
    expected = set(params) | {"HS_0", "CS_0", "loss"} | {
        prefix(k) + key for k in range(1, layers + 1)
        for key in ("dHS_t", "dCS_t", "df_t", "di_t", "dc_t", "do_t")}
    assert set(grads) == expected
    assert isinstance(grads["loss"], float)
    for k in range(1, layers + 1):
        assert grads[prefix(k) + "dCS_t"].shape == ((T, B, H) if B else (T, H))


RNN_CASES = {"bias": (1, True, 0), "no-bias": (1, False, 0), "batched": (1, True, 3),
             "stacked": (2, True, 0), "stacked-batched-no-bias": (2, False, 2)}


@pytest.mark.parametrize("case", RNN_CASES)
def test_rnn_gradients_match_finite_differences(case):
    layers, bias, B = RNN_CASES[case]
    rng = np.random.default_rng(100 + sorted(RNN_CASES).index(case))
    params = rnn_params(rng, layers, bias)
    xs = rng.normal(size=(T, B, I) if B else (T, I))
    h0 = rng.normal(0, 0.5, state_shape(layers, B))
    grads = check_against_finite_differences(rnn_gradients, params, xs, make_targets(rng, B, False),
                                             h0=h0)
    expected = set(params) | {"HS_0", "loss"} | {
        prefix(k) + key for k in range(1, layers + 1) for key in ("dHS_t", "da_t")}
    assert set(grads) == expected


def test_rnn_many_to_one_and_one_hot():
    rng = np.random.default_rng(7)
    params = rnn_params(rng)
    targets = np.eye(O)[rng.integers(0, O, T)]
    check_against_finite_differences(rnn_gradients, params, rng.normal(size=(T, I)), targets,
                                     h0=rng.normal(size=H), mask=make_mask(rng, 0))


def test_zero_initial_state_gradients_are_returned_in_the_default_layout():
    rng = np.random.default_rng(8)
    params = lstm_params(rng, layers=2)
    xs, targets = rng.normal(size=(T, 2, I)), rng.integers(0, O, (T, 2))
    grads = lstm_gradients(params, xs, targets)
    zeros = np.zeros((2, 2, H))
    with_zeros = check_against_finite_differences(lstm_gradients, params, xs, targets,
                                                  h0=zeros.copy(), c0=zeros.copy())
    for key in ("HS_0", "CS_0"):
        assert grads[key].shape == (2, 2, H)
        np.testing.assert_array_equal(grads[key], with_zeros[key])


# --- the per-step gradients, against a loss with a perturbation injected at one step -------

def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_lstm_loss(P, xs, Y, M, h0, c0, inject=None):
    """E from §1.4 and §5.2, one sequence at a time, column vectors, written independently.

    xs (T, B, I), Y (T, B, O) one-hot, M (T, B), h0 and c0 (L, B, H). inject = (key, t,
    delta (B, H)) adds delta to one quantity at one step, e.g. ("layer2.dCS_t", 3, ...):
    CS_t of layer 2 at step t+1 (HS_t is then computed from the perturbed CS_t).
    """
    layers, B = h0.shape[0], xs.shape[1]
    E = 0.0
    for b in range(B):
        def bump(k, quantity, t, value):
            if inject and inject[0] == prefix(k) + quantity and inject[1] == t:
                return value + inject[2][b]
            return value

        inputs = xs[:, b]
        for k in range(1, layers + 1):
            W = {g: P[prefix(k) + "W_" + g] for g in GATES}
            bias = {g: P.get(prefix(k) + "b_" + g, 0.0) for g in GATES}
            peep = {g: P.get(prefix(k) + "p_" + g, 0.0) for g in "fio"}
            HS, CS, outputs = h0[k - 1, b], c0[k - 1, b], []
            for t in range(len(xs)):
                X = np.concatenate([HS, inputs[t]])
                f = bump(k, "df_t", t, W["f"] @ X + bias["f"] + peep["f"] * CS)
                i = bump(k, "di_t", t, W["i"] @ X + bias["i"] + peep["i"] * CS)
                c = bump(k, "dc_t", t, W["c"] @ X + bias["c"])
                CS = bump(k, "dCS_t", t, CS * sigmoid(f) + sigmoid(i) * np.tanh(c))
                o = bump(k, "do_t", t, W["o"] @ X + bias["o"] + peep["o"] * CS)
                HS = bump(k, "dHS_t", t, sigmoid(o) * np.tanh(CS))
                outputs.append(HS)
            inputs = np.array(outputs)
        E += output_loss(P, "W_y", inputs, Y[:, b], M[:, b]) / B
    return E


def reference_rnn_loss(P, xs, Y, M, h0, inject=None):
    """E from §2.1, one sequence at a time; inject as above with keys "da_t", "dHS_t"."""
    layers, B = h0.shape[0], xs.shape[1]
    E = 0.0
    for b in range(B):
        inputs = xs[:, b]
        for k in range(1, layers + 1):
            h, outputs = h0[k - 1, b], []
            for t in range(len(xs)):
                a = P[prefix(k) + "W_xh"] @ inputs[t] + P[prefix(k) + "W_hh"] @ h
                a = a + P.get(prefix(k) + "b_h", 0.0)
                if inject and inject[0] == prefix(k) + "da_t" and inject[1] == t:
                    a = a + inject[2][b]
                h = np.tanh(a)
                if inject and inject[0] == prefix(k) + "dHS_t" and inject[1] == t:
                    h = h + inject[2][b]
                outputs.append(h)
            inputs = np.array(outputs)
        E += output_loss(P, "W_hy", inputs, Y[:, b], M[:, b]) / B
    return E


def output_loss(P, W_name, states, Y, M):
    """Σ_t m_t · CE(W HS_t + b_y, y_t) for one sequence: the output layer of §1.3 / §2.1."""
    E = 0.0
    for t, HS in enumerate(states):
        Z = P[W_name] @ HS + P.get("b_y", 0.0)
        log_p = Z - Z.max() - np.log(np.exp(Z - Z.max()).sum())
        E -= M[t] * (Y[t] @ log_p)
    return E


def check_per_step(grads, reference, keys, B):
    """Each per-step array grads[key][t] against d reference(inject=(key, t, δ)) / dδ at δ = 0."""
    for key in keys:
        per_step = grads[key] if grads[key].ndim == 3 else grads[key][:, None]
        for t in range(len(per_step)):
            delta = np.zeros((B, H))
            numeric = numerical_gradient(lambda: reference(inject=(key, t, delta)), delta)
            np.testing.assert_allclose(per_step[t], numeric, **TOL, err_msg="%s at t=%d" % (key, t))


@pytest.mark.parametrize("layers, peep, B", [(1, False, 0), (2, True, 2)])
def test_lstm_per_step_gradients_match_injected_perturbations(layers, peep, B):
    rng = np.random.default_rng(11 + layers)
    params = lstm_params(rng, layers, bias=True, peep=peep)
    xs = rng.normal(size=(T, B, I) if B else (T, I))
    targets = rng.integers(0, O, (T, B) if B else T)
    mask = make_mask(rng, B)
    h0, c0 = rng.normal(0, 0.5, state_shape(layers, B)), rng.normal(0, 0.8, state_shape(layers, B))
    grads = lstm_gradients(params, xs, targets, h0=h0, c0=c0, mask=mask)

    Bn = B or 1                               # the reference always takes (T, B, ·)
    Y, M = np.eye(O)[targets.reshape(T, Bn)], mask.reshape(T, Bn)
    h0_, c0_ = h0.reshape(layers, Bn, H), c0.reshape(layers, Bn, H)

    def reference(inject=None):
        return reference_lstm_loss(params, xs.reshape(T, Bn, I), Y, M, h0_, c0_, inject)

    assert grads["loss"] == pytest.approx(reference(), rel=1e-12)
    keys = [prefix(k) + key for k in range(1, layers + 1)
            for key in ("dHS_t", "dCS_t", "df_t", "di_t", "dc_t", "do_t")]
    check_per_step(grads, reference, keys, Bn)


@pytest.mark.parametrize("layers, B", [(1, 0), (2, 2)])
def test_rnn_per_step_gradients_match_injected_perturbations(layers, B):
    rng = np.random.default_rng(21 + layers)
    params = rnn_params(rng, layers)
    xs = rng.normal(size=(T, B, I) if B else (T, I))
    targets = rng.integers(0, O, (T, B) if B else T)
    h0 = rng.normal(0, 0.5, state_shape(layers, B))
    grads = rnn_gradients(params, xs, targets, h0=h0)

    Bn = B or 1
    Y, M = np.eye(O)[targets.reshape(T, Bn)], np.ones((T, Bn))

    def reference(inject=None):
        return reference_rnn_loss(params, xs.reshape(T, Bn, I), Y, M, h0.reshape(layers, Bn, H), inject)

    assert grads["loss"] == pytest.approx(reference(), rel=1e-12)
    keys = [prefix(k) + key for k in range(1, layers + 1) for key in ("dHS_t", "da_t")]
    check_per_step(grads, reference, keys, Bn)


def test_batched_is_the_mean_of_the_sequences():
    """E averages over the batch: every gradient is the mean of the per-sequence gradients,
    and per-step arrays are the per-sequence ones divided by B."""
    rng = np.random.default_rng(31)
    params = lstm_params(rng, layers=2, peep=True)
    B = 3
    xs, targets = rng.normal(size=(T, B, I)), rng.integers(0, O, (T, B))
    h0, c0 = rng.normal(size=(2, B, H)), rng.normal(size=(2, B, H))
    batch = lstm_gradients(params, xs, targets, h0=h0, c0=c0)
    single = [lstm_gradients(params, xs[:, b], targets[:, b], h0=h0[:, b], c0=c0[:, b])
              for b in range(B)]
    for name in params:
        np.testing.assert_allclose(batch[name], np.mean([s[name] for s in single], axis=0),
                                   rtol=1e-12, atol=1e-14)
    assert batch["loss"] == pytest.approx(np.mean([s["loss"] for s in single]), rel=1e-12)
    for b in range(B):
        np.testing.assert_allclose(batch["HS_0"][:, b], single[b]["HS_0"] / B, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(batch["layer2.dCS_t"][:, b], single[b]["layer2.dCS_t"] / B,
                                   rtol=1e-12, atol=1e-14)


def test_masked_out_steps_have_no_loss_whatever_their_target():
    rng = np.random.default_rng(32)
    params = lstm_params(rng)
    xs = rng.normal(size=(T, I))
    mask = np.arange(T) == T - 1
    targets = np.where(mask, 2, np.arange(T) % O)   # other classes where the mask says no loss
    only_last = lstm_gradients(params, xs, targets, mask=mask)
    real = lstm_gradients(params, xs, np.full(T, 2), mask=mask)
    for key in real:
        np.testing.assert_array_equal(only_last[key], real[key])
    full = lstm_gradients(params, xs, np.full(T, 2))
    assert 0 < only_last["loss"] < full["loss"]


def test_a_mask_of_shape_T_counts_for_every_sequence_of_a_batch():
    """The README's mask is (T,) or (T, B): a (T,) mask (bool or 0/1 integers) stands for
    the same steps of every sequence."""
    rng = np.random.default_rng(34)
    params, xs, targets = rnn_params(rng), rng.normal(size=(T, 3, I)), rng.integers(0, O, (T, 3))
    steps = np.arange(T) % 2 == 0
    expected = rnn_gradients(params, xs, targets, mask=np.repeat(steps[:, None], 3, axis=1))
    for mask in (steps, steps.astype(np.int8)):
        got = rnn_gradients(params, xs, targets, mask=mask)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key])


def test_one_hot_rows_equal_class_indices():
    rng = np.random.default_rng(33)
    params = rnn_params(rng)
    xs, targets = rng.normal(size=(T, 2, I)), rng.integers(0, O, (T, 2))
    by_index = rnn_gradients(params, xs, targets)
    by_row = rnn_gradients(params, xs, np.eye(O)[targets])
    for key in by_index:
        np.testing.assert_allclose(by_row[key], by_index[key], rtol=1e-13, atol=1e-15)


def test_saturated_units_and_huge_logits_raise_no_warnings():
    """setup.cfg turns RuntimeWarnings into errors: σ(±1000), tanh(±1000), softmax(±1e4)."""
    rng = np.random.default_rng(34)
    params = {name: 1000 * value for name, value in lstm_params(rng, peep=True).items()}
    grads = lstm_gradients(params, rng.normal(size=(T, I)), rng.integers(0, O, T))
    assert all(np.all(np.isfinite(value)) for value in grads.values())
    rnn = {name: 1000 * value for name, value in rnn_params(rng).items()}
    grads = rnn_gradients(rnn, rng.normal(size=(T, I)), rng.integers(0, O, T))
    assert all(np.all(np.isfinite(value)) for value in grads.values())


def test_integer_inputs_are_computed_in_float64():
    P = {"W_xh": np.ones((2, 1), dtype=np.int32), "W_hh": np.eye(2, dtype=np.int64),
         "W_hy": np.ones((2, 2), dtype=np.float32)}
    grads = rnn_gradients(P, [[1], [0]], [0, 1], h0=[0, 1])
    assert all(np.asarray(grads[name]).dtype == np.float64 for name in grads if name != "loss")


# --- the lecture's worked example (docs/math.md §4), exact to 6 decimals ----------------

EXAMPLE = {
    "W_f": [[0.813, -0.487, 0.020, -0.778, 0.418], [-0.708, 0.006, 0.856, -0.106, -0.872]],
    "W_i": [[-0.209, -0.140, 0.031, 0.226, 0.696], [0.101, -0.435, -0.406, -0.796, 0.324]],
    "W_c": [[-0.901, -0.877, -0.413, 0.160, -0.775], [-0.196, 0.077, 0.769, -0.567, -0.905]],
    "W_o": [[0.668, -0.605, -0.402, -0.691, -0.486], [0.613, 0.875, 0.549, -0.623, 0.262]],
    "W_y": [[0.320, -0.172], [0.449, 0.349], [0.914, 0.371]],
}
EXAMPLE_STEP = {          # §4.3: the pre-activation gradients at the single step
    "f": [0.011589, 0.000000], "i": [-0.004531, -0.013918],
    "c": [0.019941, -0.020892], "o": [0.009056, -0.008874],
}


def column_3(values):
    """A (2, 5) gradient that is zero except column 3 (X_t is one-hot there)."""
    out = np.zeros((2, 5))
    out[:, 2] = values
    return out


def run_example(**extra):
    params = {name: np.array(value) for name, value in EXAMPLE.items()}
    params.update(extra)
    return lstm_gradients(params, np.array([[1.0, 0.0, 0.0]]), np.array([1]),
                          h0=np.array([0.0, 0.0]), c0=np.array([1.0, 0.0]))


def assert_6dp(actual, printed):
    np.testing.assert_allclose(actual, printed, rtol=0, atol=5e-7 + 1e-12)


def test_worked_example_gradients_and_loss():
    grads = run_example()
    assert_6dp(grads["loss"], 1.087399)
    assert_6dp(grads["W_y"], [[0.036378, 0.048943], [-0.078974, -0.106253], [0.042596, 0.057309]])
    for g, values in EXAMPLE_STEP.items():
        assert_6dp(grads["W_" + g], column_3(values))
        assert_6dp(grads["d%s_t" % g], [values])
    assert_6dp(grads["CS_0"], [0.023413, -0.062977])          # dL/dCS_{t−1}
    assert_6dp(grads["HS_0"], [-0.004299, -0.031295])         # dL/dHS_{t−1}
    # T = 1 is §3.5's closed form: dHS_t = W_yᵀ dZ_t, dCS_t = dHS_t ⊗ O_t ⊗ (1 − tanh² CS_t)
    assert_6dp(grads["dHS_t"], [[0.126870, -0.151225]])
    assert_6dp(grads["dCS_t"], [[0.046361, -0.089733]])
    assert set(grads) == set(EXAMPLE) | {"loss", "HS_0", "CS_0", "dHS_t", "dCS_t",
                                         "df_t", "di_t", "dc_t", "do_t"}


def test_worked_example_with_zero_biases():
    zeros = {"b_" + g: np.zeros(2) for g in GATES}
    grads = run_example(b_y=np.zeros(3), **zeros)
    assert_6dp(grads["loss"], 1.087399)
    for g, values in EXAMPLE_STEP.items():
        assert_6dp(grads["b_" + g], values)                   # db_g = dg_t
    assert_6dp(grads["b_y"], [0.305357, -0.662908, 0.357551])  # db_y = dZ_t = ŷ_t − y
    assert_6dp(grads["W_f"], column_3(EXAMPLE_STEP["f"]))


# --- bad inputs -------------------------------------------------------------------------

def good_lstm():
    rng = np.random.default_rng(0)
    return lstm_params(rng), rng.normal(size=(T, I)), rng.integers(0, O, T)


def without(params, *names):
    return {k: v for k, v in params.items() if k not in names}


def with_(params, **changes):
    out = dict(params)
    out.update(changes)
    return out


P0, XS0, Y0 = good_lstm()
P_PEEP = lstm_params(np.random.default_rng(1), peep=True)
P_STACK = lstm_params(np.random.default_rng(2), layers=2)
R0 = rnn_params(np.random.default_rng(3))

BAD_INPUTS = [
    # (id, function, args, kwargs, exception, a piece of the message)
    ("params not a dict", lstm_gradients, ([("W_f", 1)], XS0, Y0), {}, TypeError, "expected a dict"),
    ("missing W_o", lstm_gradients, (without(P0, "W_o"), XS0, Y0), {}, ValueError,
     "missing LSTM parameter(s) 'W_o'"),
    ("missing W_y", lstm_gradients, (without(P0, "W_y"), XS0, Y0), {}, ValueError, "'W_y'"),
    ("W_i wrong shape", lstm_gradients, (with_(P0, W_i=np.ones((H, H + I - 1))), XS0, Y0), {},
     ValueError, "parameter 'W_i': expected shape (3, 7), received shape (3, 6)"),
    ("W_f with no input columns", lstm_gradients, (with_(P0, W_f=np.ones((H, H))), XS0, Y0), {},
     ValueError, "parameter 'W_f': expected shape (3, 7), received shape (3, 3)"),
    ("W_y wrong width", lstm_gradients, (with_(P0, W_y=np.ones((O, H + 1))), XS0, Y0), {},
     ValueError, "'W_y': expected shape (O, 3)"),
    ("b_y wrong shape", lstm_gradients, (with_(P0, b_y=np.ones(O + 1)), XS0, Y0), {},
     ValueError, "'b_y': expected shape (5,), received shape (6,)"),
    ("a bias missing", lstm_gradients, (without(P0, "b_c"), XS0, Y0), {}, ValueError,
     "biases must be all present or all absent"),
    ("only b_y missing", lstm_gradients, (without(P0, "b_y"), XS0, Y0), {}, ValueError, "missing b_y"),
    ("a peephole missing", lstm_gradients, (without(P_PEEP, "p_o"), XS0, Y0), {}, ValueError,
     "peepholes must be all present or all absent"),
    ("layer 2 partly missing", lstm_gradients, (without(P_STACK, "layer2.W_c"), XS0, Y0), {},
     ValueError, "'layer2.W_c'"),
    ("layer 2 wrong width", lstm_gradients,
     (with_(P_STACK, **{"layer2.W_o": np.ones((H, H + I))}), XS0, Y0), {},
     ValueError, "'layer2.W_o': expected shape (3, 6)"),
    ("unexpected name", lstm_gradients, (with_(P0, W_F=np.ones((H, H + I))), XS0, Y0), {},
     ValueError, "unexpected LSTM parameter(s) 'W_F'"),
    ("non-numeric parameter", lstm_gradients, (with_(P0, W_f=[["a"] * 7] * 3), XS0, Y0), {},
     TypeError, "parameter 'W_f': expected a numeric array"),
    ("xs 1-D", lstm_gradients, (P0, np.ones(I), Y0), {}, ValueError,
     "xs: expected shape (T, 4) or (T, B, 4)"),
    ("xs wrong width", lstm_gradients, (P0, np.ones((T, I + 1)), Y0), {}, ValueError,
     "received shape (5, 5)"),
    ("xs non-numeric", lstm_gradients, (P0, [["x"] * I] * T, Y0), {}, TypeError,
     "xs: expected a numeric array"),
    ("empty sequence", lstm_gradients, (P0, np.ones((0, I)), Y0[:0]), {}, ValueError,
     "empty sequence (T = 0)"),
    ("targets too short", lstm_gradients, (P0, XS0, Y0[:-1]), {}, ValueError,
     "targets: expected class indices of shape (5,) or one-hot rows of shape (5, 5)"),
    ("targets batched for unbatched xs", lstm_gradients, (P0, XS0, np.zeros((T, 2), int)), {}, ValueError,
     "received shape (5, 2)"),
    ("class index too large", lstm_gradients, (P0, XS0, np.full(T, O)), {}, ValueError,
     "class index 5 out of range [0, 5)"),
    ("negative class index", lstm_gradients, (P0, XS0, np.full(T, -1)), {}, ValueError, "out of range"),
    ("fractional class index", lstm_gradients, (P0, XS0, np.full(T, 0.5)), {}, ValueError,
     "class indices must be integers"),
    ("h0 wrong shape", lstm_gradients, (P0, XS0, Y0), dict(h0=np.zeros(H + 1)), ValueError,
     "h0: expected shape (3,)"),
    ("c0 unbatched for a batch", lstm_gradients, (P0, np.ones((T, 2, I)), np.zeros((T, 2), int)),
     dict(c0=np.zeros(H)), ValueError, "c0: expected shape (2, 3)"),
    ("h0 of one layer for two", lstm_gradients, (P_STACK, XS0, Y0), dict(h0=np.zeros(H)), ValueError,
     "h0: expected shape (2, 3)"),
    ("mask wrong length", lstm_gradients, (P0, XS0, Y0), dict(mask=np.ones(T + 1, bool)), ValueError,
     "mask: expected shape (5,)"),
    ("mask not boolean", lstm_gradients, (P0, XS0, Y0), dict(mask=np.full(T, 0.5)), ValueError,
     "mask: expected booleans"),
    ("mask of 0/1 floats", lstm_gradients, (P0, XS0, Y0), dict(mask=np.ones(T)), ValueError,
     "mask: expected booleans (or 0/1 integers), True where a step has a loss; received dtype float64"),
    ("batched mask of 0/1 floats", rnn_gradients, (R0, np.ones((T, 2, I)), np.zeros((T, 2), int)),
     dict(mask=np.ones((T, 2), np.float32)), ValueError, "mask: expected booleans (or 0/1 integers)"),
    ("mask of 0/1/2 integers", lstm_gradients, (P0, XS0, Y0), dict(mask=np.arange(T) % 3), ValueError,
     "mask: expected booleans (or 0/1); received values [0 1 2]"),
    ("placeholder -1 at a masked-out step", lstm_gradients, (P0, XS0, np.where(np.arange(T) < T - 1, -1, 2)),
     dict(mask=np.arange(T) == T - 1), ValueError,
     "targets: class index -1 out of range [0, 5) (O = 5 from the parameters; a step the mask leaves out "
     "needs a valid index too)"),
    ("class index too large at a masked-out step", rnn_gradients, (R0, XS0, np.full(T, O)),
     dict(mask=np.zeros(T, bool)), ValueError, "class index 5 out of range [0, 5)"),
    ("fractional index at a masked-out step", lstm_gradients, (P0, XS0, np.r_[0.5, np.zeros(T - 1)]),
     dict(mask=np.arange(T) > 0), ValueError,
     "targets: class indices must be integers; received dtype float64"),
    ("NaN class index", lstm_gradients, (P0, XS0, np.full(T, np.nan)), {}, ValueError,
     "class indices must be integers"),
    ("negative one-hot rows", lstm_gradients, (P0, XS0, -np.eye(O)[Y0]), {}, ValueError,
     "targets: one-hot (or probability) rows must be finite and non-negative; received -1.0"),
    ("NaN one-hot rows", rnn_gradients, (R0, XS0, np.full((T, O), np.nan)), {}, ValueError,
     "rows must be finite and non-negative; received nan"),
    ("infinite probability rows", lstm_gradients, (P0, np.ones((T, 2, I)), np.full((T, 2, O), np.inf)), {},
     ValueError, "rows must be finite and non-negative; received inf"),
    ("RNN params given LSTM ones", rnn_gradients, (P0, XS0, Y0), {}, ValueError,
     "missing RNN parameter(s) 'W_xh', 'W_hh', 'W_hy'"),
    ("RNN W_hh wrong shape", rnn_gradients, (with_(R0, W_hh=np.ones((H, H + 1))), XS0, Y0), {},
     ValueError, "parameter 'W_hh': expected shape (3, 3), received shape (3, 4)"),
    ("RNN layer 3 without layer 2", rnn_gradients,
     (with_(R0, **{"layer3.W_xh": np.ones((H, H)), "layer3.W_hh": np.ones((H, H)),
                   "layer3.b_h": np.ones(H)}), XS0, Y0), {}, ValueError, "'layer2.W_xh'"),
    ("RNN b_h missing", rnn_gradients, (without(R0, "b_h"), XS0, Y0), {}, ValueError, "missing b_h"),
    ("a layer beyond what the names can make", lstm_gradients,
     (with_(P0, **{"layer99999999.W_f": np.ones((H, 2 * H))}), XS0, Y0), {}, ValueError,
     "params: 'layer99999999.W_f' numbers a layer beyond what the 11 parameters given can make: each LSTM "
     "layer has its own W_f, W_i, W_c, W_o, and layers are numbered 2, 3, ... with none skipped"),
    ("a layer just beyond what the names can make", lstm_gradients,
     (with_(P0, **{"layer3.W_f": np.ones((H, 2 * H))}), XS0, Y0), {}, ValueError,
     "params: 'layer3.W_f' numbers a layer beyond what the 11 parameters given can make"),
    ("RNN layer of 5,000 digits", rnn_gradients,
     (with_(R0, **{"layer" + "9" * 5000 + ".W_hh": np.ones((H, H))}), XS0, Y0), {}, ValueError,
     "params: 'layer999999999999999999999999999999999999999999999999999999... numbers a layer beyond what"),
    ("a long list of unexpected names is cut short", rnn_gradients,
     (with_(R0, **{"x%d" % i: np.ones(1) for i in range(20)}), XS0, Y0), {}, ValueError,
     "unexpected RNN parameter(s) 'x0', 'x1', 'x10', 'x11', 'x12', 'x13', 'x14', 'x15', ... (20 in all) "
     "(layer 1"),
    ("a long list of missing names is cut short", lstm_gradients,
     ({"layer3.W_f": np.ones((H, 2 * H)), **{"x%d" % i: np.ones(1) for i in range(20)}}, XS0, Y0), {},
     ValueError,
     "missing LSTM parameter(s) 'W_f', 'W_i', 'W_c', 'W_o', 'layer2.W_f', 'layer2.W_i', 'layer2.W_c', "
     "'layer2.W_o', ... (12 in all); received 'layer3.W_f', 'x0', 'x1', 'x10', 'x11', 'x12', 'x13', 'x14', "
     "... (21 in all)"),
    ("RNN xs wrong width", rnn_gradients, (R0, np.ones((T, 2, I + 1)), np.zeros((T, 2), int)), {},
     ValueError, "xs: expected shape (T, 4) or (T, B, 4)"),
]


@pytest.mark.parametrize("fn, args, kwargs, error, message", [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_inputs_name_what_was_expected(fn, args, kwargs, error, message):
    with pytest.raises(error) as info:
        fn(*args, **kwargs)
    assert message in str(info.value)


# --- an independent witness that reads like the derivation ------------------------------

def test_imports_are_numpy_and_the_standard_library_only():
    """No engine import (not `from .tensor`, not `from . import ...`): the witness shares no
    code with what it checks."""
    imported = []
    for node in ast.walk(ast.parse(BPTT.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append((node.module or "", node.level))
    assert imported, "no imports found: is the path right?"
    for module, level in imported:
        top = module.split(".")[0]
        assert level == 0, "relative import from %r" % module
        assert top == "numpy" or _in_stdlib(top), "imports %r" % module


def _in_stdlib(name):
    """A module of Python's standard library (sys.stdlib_module_names on 3.10+; on 3.9,
    found in the standard library's own folder, or built into the interpreter)."""
    if hasattr(sys, "stdlib_module_names"):
        return name in sys.stdlib_module_names
    spec = importlib.util.find_spec(name)
    stdlib = sysconfig.get_paths()["stdlib"]
    origin = (spec.origin or "") if spec is not None else ""
    return origin in ("built-in", "frozen") or (
        origin.startswith(stdlib) and "site-packages" not in origin and "dist-packages" not in origin)


STANDALONE = """
import importlib.util, sys
import numpy as np

spec = importlib.util.spec_from_file_location("bptt_alone", sys.argv[1])
bptt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bptt)

rng = np.random.default_rng(0)
H, I, O, T = 3, 2, 4, 5
lstm = {"W_" + g: rng.normal(size=(H, H + I)) for g in "fico"}
lstm.update({"b_" + g: rng.normal(size=H) for g in "fico"})
lstm.update(W_y=rng.normal(size=(O, H)), b_y=rng.normal(size=O))
rnn = {"W_xh": rng.normal(size=(H, I)), "W_hh": rng.normal(size=(H, H)), "b_h": rng.normal(size=H),
       "W_hy": rng.normal(size=(O, H)), "b_y": rng.normal(size=O)}
xs, ys = rng.normal(size=(T, I)), rng.integers(0, O, T)
a = bptt.lstm_gradients(lstm, xs, ys)
b = bptt.rnn_gradients(rnn, xs, ys)
assert a["W_f"].shape == (H, H + I) and np.all(np.isfinite(a["W_f"])) and a["loss"] > 0
assert b["W_hh"].shape == (H, H) and np.all(np.isfinite(b["W_hh"])) and b["loss"] > 0
engine = sorted(name for name in sys.modules if name.split(".")[0] == "tinygrad_lstm")
assert not engine, engine
print("ok")
"""


def test_it_runs_loaded_on_its_own_from_its_file(tmp_path):
    """In a fresh interpreter, from a directory where the package is not importable: an LSTM
    and an RNN gradient, and no tinygrad_lstm module (nor tinygrad_lstm.tensor) loaded."""
    result = subprocess.run([sys.executable, "-I", "-c", STANDALONE, str(BPTT)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_nothing_is_computed_in_place():
    """One statement per formula on fresh arrays: no out= buffers and no augmented
    assignment (x += ...), which would overwrite a value the derivation still names."""
    tree = ast.parse(BPTT.read_text(encoding="utf-8"))
    outs = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.keyword) and node.arg == "out"]
    augmented = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.AugAssign)]
    # x[a:b] = … or x[..., k] = …: writing into part of an array that already exists
    written = [node.lineno for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AnnAssign))
               for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
               if isinstance(target, ast.Subscript)
               and any(isinstance(n, (ast.Slice, ast.Tuple)) for n in ast.walk(target.slice))]
    # in-place methods of numpy arrays
    methods = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
               and isinstance(node.func, ast.Attribute)
               and node.func.attr in ("fill", "put", "sort", "resize")]
    assert not outs, "out= at lines %s" % outs
    assert not augmented, "augmented assignment at lines %s" % augmented
    assert not written, "writes into part of an array at lines %s" % written
    assert not methods, "an in-place array method at lines %s" % methods
