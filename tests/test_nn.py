"""The models on the engine: gradients by finite differences, names and scopes as in the
lecture, batched equal to one-by-one, float32, masks, determinism, bad input."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.gradcheck import check_gradients
from tinygrad_lstm.nn import FORGET_BIAS, LSTM, RNN, Linear, LSTMCell, RNNCell

from .helpers import assert_clear_error

rng = np.random.default_rng(42)
CONFIGS = [
    (LSTM, {}), (LSTM, {"bias": False}), (LSTM, {"peephole": True}), (LSTM, {"num_layers": 2}),
    (RNN, {}), (RNN, {"bias": False}), (RNN, {"num_layers": 2}),
]
IDS = [f"{m.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for m, kw in CONFIGS]


def randomize(model, seed=0):
    """Random values everywhere (peepholes and biases too), so no gradient is trivially 0."""
    r = np.random.default_rng(seed)
    for _, p in model.named_parameters():
        p.data = r.uniform(-0.8, 0.8, size=p.shape)
    return model


def data(model, T=4, B=None, seed=1):
    r = np.random.default_rng(seed)
    batch = () if B is None else (B,)
    layers = () if model.num_layers == 1 else (model.num_layers,)
    xs = r.standard_normal((T, *batch, model.input_size))
    ys = r.integers(0, model.output_size, size=(T, *batch))
    h0 = r.standard_normal((*layers, *batch, model.hidden_size))
    c0 = r.standard_normal(h0.shape) if isinstance(model, LSTM) else None
    return xs, ys, h0, c0


@pytest.mark.parametrize("make, options", CONFIGS, ids=IDS)
@pytest.mark.parametrize("batch", [None, 3])
def test_gradients_match_finite_differences_with_nonzero_initial_states(make, options, batch):
    model = randomize(make(3, 4, 3, seed=0, **options))
    xs, ys, h0, c0 = data(model, B=batch)
    h0 = Tensor(h0, requires_grad=True)
    c0 = None if c0 is None else Tensor(c0, requires_grad=True)
    leaves = model.parameters() + [h0] + ([c0] if c0 is not None else [])
    for t, (autodiff, numeric) in zip(leaves, check_gradients(lambda: model.loss(xs, ys, h0, c0), leaves)):
        np.testing.assert_allclose(autodiff, numeric, rtol=1e-5, atol=1e-8, err_msg=t.name)


def test_parameter_names_and_shapes_are_the_lecture_s():
    lstm = LSTM(input_size=3, hidden_size=2, output_size=3, seed=0)
    assert [(n, p.shape) for n, p in lstm.named_parameters()] == [
        ("W_f", (2, 5)), ("W_i", (2, 5)), ("W_c", (2, 5)), ("W_o", (2, 5)),
        ("b_f", (2,)), ("b_i", (2,)), ("b_c", (2,)), ("b_o", (2,)), ("W_y", (3, 2)), ("b_y", (3,))]
    assert [n for n, _ in LSTM(3, 2, 3, bias=False).named_parameters()] == ["W_f", "W_i", "W_c", "W_o", "W_y"]
    names = dict(LSTM(3, 2, 4, num_layers=2, peephole=True).named_parameters())
    assert names["layer2.W_f"].shape == (2, 4) and names["layer2.p_o"].shape == (2,)
    assert set(names) >= {"p_f", "p_i", "p_o", "layer2.b_c"} and "p_c" not in names
    rnn = RNN(input_size=3, hidden_size=4, output_size=2)
    assert [(n, p.shape) for n, p in rnn.named_parameters()] == [
        ("W_xh", (4, 3)), ("W_hh", (4, 4)), ("b_h", (4,)), ("W_hy", (2, 4)), ("b_y", (2,))]
    assert all(p.name == n and p.requires_grad for n, p in lstm.named_parameters())


def test_initialisation_is_seeded_with_the_forget_bias():
    a, b, c = LSTM(3, 4, 2, seed=7), LSTM(3, 4, 2, seed=7), LSTM(3, 4, 2, seed=8)
    for (_, p), (_, q), (_, r) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert not np.array_equal(a.parameters()[0].data, c.parameters()[0].data)
    P = dict(a.named_parameters())
    np.testing.assert_array_equal(P["b_f"].data, np.full(4, FORGET_BIAS))
    np.testing.assert_array_equal(P["b_i"].data, np.zeros(4))
    assert np.all(np.abs(P["W_f"].data) <= 1 / np.sqrt(4))


def test_every_step_carries_the_lecture_s_names_and_its_time_scope():
    model = LSTM(3, 2, 3, seed=0)
    run = model.unroll(np.eye(3))
    for t, step in enumerate(run.steps, start=1):
        for name in ("X_t", "f_t", "F_t", "I_t", "C_t", "O_t", "CS_t", "HS_t", "Z_t"):
            assert step[name].name == name and step[name].scope == f"t={t}"
    stacked = RNN(3, 2, 3, num_layers=2).unroll(np.eye(3))
    assert stacked.steps[1]["layer2.HS_t"].scope == "t=2/layer2"
    assert stacked.steps[1]["HS_t"].scope == "t=2/layer1"


@pytest.mark.parametrize("make, options", CONFIGS, ids=IDS)
def test_every_node_inside_a_step_has_a_name(make, options):
    model = make(3, 2, 3, seed=0, **options)
    loss = model.loss(np.ones((3, 2, 3)), np.zeros((3, 2), dtype=int))
    seen, stack, in_steps = set(), [loss], []
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(node.parents)
            if node.scope and node.scope.startswith("t="):
                in_steps.append(node)
    assert len(in_steps) >= 3 * 5             # at least a handful of nodes in each of 3 steps
    assert [n.op for n in in_steps if not n.name] == []


def test_an_rnn_returns_its_final_hidden_state_alone():
    logits, HS = RNN(3, 4, 2, seed=0)(np.ones((5, 3)))
    assert logits.shape == (5, 2) and HS.shape == (4,) and HS.name == "HS_t"


def test_parameters_are_shared_leaves_that_feed_every_step():
    model = LSTM(3, 2, 3, seed=0)
    params = dict(model.named_parameters())
    run = model.unroll(np.eye(3))
    for step in run.steps:                       # t = 1, 2, 3: the very same leaves, no copies
        for g in "fico":
            pre = step[f"{g}_t"]                 # g_t = affine(X_t, W_g, b_g), one node per gate
            assert pre.op == "affine" and pre.parents[0] is step["X_t"]
            assert pre.parents[1] is params[f"W_{g}"] and pre.parents[2] is params[f"b_{g}"]
    for p in params.values():
        assert p.op == "" and p.parents == () and p.requires_grad


@pytest.mark.parametrize("make, options", CONFIGS, ids=IDS)
def test_a_batch_equals_its_sequences_run_one_by_one(make, options):
    model = randomize(make(3, 4, 3, seed=0, **options))
    xs, ys, h0, c0 = data(model, T=5, B=3)
    batch_loss = model.loss(xs, ys, h0, c0)
    batch_loss.backward()
    batched = {n: p.grad.copy() for n, p in model.named_parameters()}
    logits, _ = model(xs, h0, c0)
    model.zero_grad()
    losses = []
    for b in range(3):
        pick = (slice(None), b) if model.num_layers > 1 else (b,)
        loss = model.loss(xs[:, b], ys[:, b], h0[pick], None if c0 is None else c0[pick])
        loss.backward()
        losses.append(loss.item())
        np.testing.assert_allclose(model(xs[:, b], h0[pick], None if c0 is None else c0[pick])[0].data,
                                   logits.data[:, b], rtol=1e-12, atol=1e-12)
    assert batch_loss.item() == pytest.approx(np.mean(losses), rel=1e-12)   # averaged over the batch
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad / 3, batched[n], rtol=1e-10, atol=1e-13)


def test_the_loss_is_cross_entropy_summed_over_time():
    model = randomize(LSTM(3, 4, 3, seed=0))
    xs, ys, _, _ = data(model, T=4)
    logits = model(xs)[0].data
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert model.loss(xs, ys).item() == pytest.approx(-log_probs[np.arange(4), ys].sum(), rel=1e-12)
    one_hot = np.eye(3)[ys]
    assert model.loss(xs, one_hot).item() == pytest.approx(model.loss(xs, ys).item(), rel=1e-12)


def test_a_mask_keeps_only_the_steps_with_a_loss():
    model = randomize(LSTM(3, 4, 3, seed=0))
    xs, ys, _, _ = data(model, T=5, B=2)
    mask = np.zeros((5, 2), dtype=bool)
    mask[-1] = True                                  # many-to-one: only the last step counts
    logits = model(xs)[0].data[-1]
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -log_probs[np.arange(2), ys[-1]].mean()
    assert model.loss(xs, ys, mask=mask).item() == pytest.approx(expected, rel=1e-12)


def test_final_states_and_predictions():
    model = randomize(LSTM(3, 4, 3, num_layers=2, seed=0))
    xs, _, h0, c0 = data(model, T=3, B=2)
    logits, (HS, CS) = model(xs, h0, c0)
    run = model.unroll(xs, h0, c0)
    assert logits.shape == (3, 2, 3) and HS.shape == CS.shape == (2, 2, 4)
    np.testing.assert_array_equal(HS.data[1], run.steps[-1]["layer2.HS_t"].data)
    np.testing.assert_array_equal(model.predict(xs, h0, c0), logits.data.argmax(-1))


def test_a_cell_alone_is_one_step_of_the_model():
    model = randomize(LSTM(3, 4, 2, peephole=True, seed=0))
    xs, _, h0, c0 = data(model, T=1)
    cell = LSTMCell(3, 4, peephole=True)
    for name, p in cell.named_parameters():
        p.data = dict(model.named_parameters())[name].data
    HS, CS = cell(Tensor(xs[0]), (Tensor(h0), Tensor(c0)))
    _, (HS_model, CS_model) = model(xs, h0, c0)
    np.testing.assert_allclose(HS.data, HS_model.data, rtol=1e-14)
    np.testing.assert_allclose(CS.data, CS_model.data, rtol=1e-14)
    (h,) = RNNCell(3, 4, seed=0)(Tensor(xs[0]), (Tensor(h0),))
    assert h.shape == (4,) and h.name == "HS_t"
    y = Linear(4, 2, seed=0)(h)
    assert y.shape == (2,)


@pytest.mark.parametrize("make", [LSTM, RNN])
def test_float32_end_to_end_agrees_with_float64(make):
    m64, m32 = make(3, 4, 3, seed=0), make(3, 4, 3, seed=0, dtype="float32")
    xs, ys, h0, c0 = data(m64, T=6, B=2)
    l64, l32 = m64.loss(xs, ys, h0, c0), m32.loss(xs, ys, h0, c0)
    l64.backward()
    l32.backward()
    assert l32.dtype == np.float32
    assert l32.item() == pytest.approx(l64.item(), rel=1e-5)
    for (n, p64), (_, p32) in zip(m64.named_parameters(), m32.named_parameters()):
        assert p32.data.dtype == p32.grad.dtype == np.float32, n
        np.testing.assert_allclose(p32.grad, p64.grad, rtol=1e-3, atol=1e-5, err_msg=n)


def test_zero_grad_clears_every_parameter():
    model = LSTM(3, 2, 3)
    model.loss(np.eye(3), [0, 1, 2]).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


lstm = LSTM(3, 4, 3, seed=0)
rnn = RNN(3, 4, 3, seed=0)
stacked = LSTM(3, 4, 3, num_layers=2, seed=0)
BAD = [
    ("wrong input width", lambda: lstm(np.ones((5, 2))), ValueError, ["input width 2", "input_size is 3"]),
    ("wrong ndim", lambda: lstm(np.ones(3)), ValueError, ["(T, I)", "(T, B, I)", "(3,)"]),
    ("4-d input", lambda: lstm(np.ones((2, 2, 2, 3))), ValueError, ["(2, 2, 2, 3)"]),
    ("empty sequence", lambda: lstm(np.ones((0, 3))), ValueError, ["empty", "(0, 3)"]),
    ("empty batch", lambda: lstm(np.ones((4, 0, 3))), ValueError, ["empty", "(4, 0, 3)"]),
    ("h0 shape", lambda: lstm(np.ones((5, 3)), h0=np.zeros(3)), ValueError, ["h0", "(4,)", "(3,)"]),
    ("c0 shape batched", lambda: lstm(np.ones((5, 2, 3)), c0=np.zeros(4)), ValueError,
     ["c0", "(2, 4)", "(4,)"]),
    ("stacked h0 shape", lambda: stacked(np.ones((5, 3)), h0=np.zeros(4)), ValueError,
     ["h0", "(2, 4)", "2 layer"]),
    ("c0 for an RNN", lambda: rnn(np.ones((5, 3)), c0=np.zeros(4)), ValueError, ["RNN", "no cell state"]),
    ("targets out of range", lambda: lstm.loss(np.ones((2, 3)), [0, 3]), ValueError,
     ["class index 3", "3 classes"]),
    ("negative target", lambda: lstm.loss(np.ones((2, 3)), [-1, 0]), ValueError, ["class index -1"]),
    ("targets too short", lambda: lstm.loss(np.ones((3, 3)), [0, 1]), ValueError,
     ["targets", "(3,)", "(3, 3)", "(2,)"]),
    ("float targets", lambda: lstm.loss(np.ones((2, 3)), [0.5, 1]), TypeError, ["integers"]),
    ("mask shape", lambda: lstm.loss(np.ones((2, 3)), [0, 1], mask=[True]), ValueError,
     ["mask", "(2,)", "(1,)"]),
    ("zero hidden size", lambda: LSTM(3, 0, 3), ValueError, ["hidden_size", "positive integer", "0"]),
    ("negative input size", lambda: RNN(-1, 4, 3), ValueError, ["input_size", "-1"]),
    ("float output size", lambda: LSTM(3, 4, 2.5), ValueError, ["output_size", "2.5"]),
    ("zero layers", lambda: LSTM(3, 4, 3, num_layers=0), ValueError, ["num_layers"]),
    ("int dtype", lambda: LSTM(3, 4, 3, dtype="int64"), TypeError, ["dtype", "float"]),
]


@pytest.mark.parametrize("what, call, exc, pieces", BAD, ids=[b[0] for b in BAD])
def test_bad_input_says_what_was_expected(what, call, exc, pieces):
    assert_clear_error(call, exc, pieces)
