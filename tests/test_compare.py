"""The three-way check: autodiff = hand-derived BPTT = finite differences, and a report that
names the gate and the time step where they part ways."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_lstm import Tensor, bptt
from tinygrad_lstm.gradcheck import EXACT_TOL, FD_TOL, compare
from tinygrad_lstm.nn import LSTM, RNN

from .test_nn import CONFIGS, IDS, data, randomize


@pytest.mark.parametrize("make, options", CONFIGS, ids=IDS)
def test_all_three_agree(make, options):
    model = randomize(make(3, 4, 3, seed=0, **options))
    xs, ys, h0, c0 = data(model, T=4, B=2)
    report = compare(model, xs, ys, h0, c0)
    assert report.ok, str(report)
    names = [r.name for r in report.rows]
    assert names == ([n for n, _ in model.named_parameters()]
                     + (["HS_0", "CS_0"] if make is LSTM else ["HS_0"]))
    assert len(report.steps) == 4 * model.num_layers
    assert max(r.bptt_abs for r in report.rows) < 1e-12
    assert max(r.fd_abs for r in report.rows) < 1e-7


def test_tolerances_are_stricter_than_torch_gradcheck_defaults():
    # torch.autograd.gradcheck, float64: atol = 1e-5, rtol = 1e-3
    for tol in (EXACT_TOL, FD_TOL):
        assert tol["atol"] <= 1e-5 and tol["rtol"] <= 1e-3


def test_the_report_reads_as_a_table_and_serialises():
    model = LSTM(3, 4, 3, seed=0)
    xs, ys, h0, c0 = data(model, T=3)
    report = compare(model, xs, ys, h0, c0)
    text = str(report)
    assert "W_f" in text and "CS_0" in text and "OK: True" in text and "‖dCS_t‖" in text
    loaded = json.loads(report.to_json())
    assert loaded["ok"] is True and loaded["parameters"][0]["name"] == "W_f"
    assert [s["t"] for s in loaded["steps"]] == [1, 2, 3]


def test_the_model_is_left_as_it_was():
    model = LSTM(3, 4, 3, seed=0, dtype="float32")
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    xs, ys, h0, c0 = data(model, T=3)
    h0_tensor = np.array(h0)
    assert compare(model, xs, ys, h0_tensor, c0).ok      # checked in float64 all the same
    for n, p in model.named_parameters():
        assert p.data.dtype == np.float32 and p.grad is None
        np.testing.assert_array_equal(p.data, before[n])
    np.testing.assert_array_equal(h0_tensor, h0)


def _spoilt(array, value, at=0):
    """A copy of `array` with one element (flat index `at`) set to `value`."""
    array = np.array(array, dtype=float)
    array.flat[at] = value
    return array


NON_FINITE = [   # (what, model class and options, the change to the data or the model, the message's words)
    ("xs NaN", LSTM, {}, lambda m, d: {**d, "xs": _spoilt(d["xs"], np.nan)},
     "xs holds 1 non-finite value(s)"),
    ("xs all NaN", LSTM, {}, lambda m, d: {**d, "xs": np.full_like(d["xs"], np.nan)},
     "xs holds 24 non-finite"),
    ("xs inf", RNN, {}, lambda m, d: {**d, "xs": _spoilt(d["xs"], -np.inf, at=5)}, "xs holds 1 non-finite"),
    ("h0 inf", LSTM, {}, lambda m, d: {**d, "h0": np.full_like(d["h0"], np.inf)}, "h0 holds 8 non-finite"),
    ("stacked h0 NaN", RNN, {"num_layers": 2}, lambda m, d: {**d, "h0": _spoilt(d["h0"], np.nan, at=9)},
     "h0 holds 1 non-finite"),
    ("c0 NaN", LSTM, {"peephole": True}, lambda m, d: {**d, "c0": _spoilt(d["c0"], np.nan)},
     "c0 holds 1 non-finite"),
    ("a parameter NaN", LSTM, {}, lambda m, d: _spoil_parameter(m, "b_o", np.nan, d),
     "parameter b_o holds 1 non-finite"),
    ("a layer-2 parameter inf", RNN, {"num_layers": 2},
     lambda m, d: _spoil_parameter(m, "layer2.W_hh", np.inf, d), "parameter layer2.W_hh holds 1 non-finite"),
]


def _spoil_parameter(model, name, value, data):
    parameter = dict(model.named_parameters())[name]
    parameter.data = _spoilt(parameter.data, value)
    return data


@pytest.mark.parametrize("what, make, options, spoil, words", NON_FINITE, ids=[n[0] for n in NON_FINITE])
def test_non_finite_inputs_are_refused_before_any_method_is_blamed(what, make, options, spoil, words):
    """A NaN loss made every method 'differ by up to nan', blaming the hand-derived BPTT."""
    model = randomize(make(3, 4, 3, seed=0, **options))
    xs, ys, h0, c0 = data(model, T=4, B=2)
    given = spoil(model, {"xs": xs, "h0": h0, "c0": c0})
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    with pytest.raises(ValueError) as caught:
        compare(model, given["xs"], ys, given["h0"], given["c0"])
    assert str(caught.value).startswith(f"compare: {words}")
    assert str(caught.value).endswith("(NaN or infinity), so the loss and every gradient would be NaN or "
                                      "infinite, and none could be checked")
    for n, p in model.named_parameters():                 # left as it was
        np.testing.assert_array_equal(p.data, before[n])
        assert p.grad is None


def test_the_json_of_a_report_holding_non_finite_numbers_is_still_json():
    model = LSTM(3, 4, 3, seed=0)
    xs, ys, h0, c0 = data(model, T=3)
    report = compare(model, xs, ys, h0, c0)
    report.loss, report.rows[0].bptt_abs, report.steps[0].dCS_norm = float("nan"), float("inf"), -float("inf")

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")
    loaded = json.loads(report.to_json(indent=1), parse_constant=refuse)
    assert loaded["loss"] is None and loaded["parameters"][0]["bptt_abs"] is None
    assert loaded["steps"][0]["dCS_norm"] is None and loaded["steps"][0]["t"] == 1
    assert loaded["parameters"][0]["shape"] == [4, 7] and loaded["parameters"][1]["bptt_abs"] >= 0


MASK = np.array([[True, False], [False, False], [True, True], [False, True]])     # T = 4, B = 2


@pytest.mark.parametrize("make", [LSTM, RNN])
def test_tensor_targets_and_masks_are_taken_as_the_model_takes_them(make):
    model = randomize(make(3, 4, 3, seed=0))
    xs, ys, h0, c0 = data(model, T=4, B=2)
    mask = MASK
    expected = compare(model, xs, ys, h0, c0, mask=mask)
    for targets, given_mask in ((Tensor(ys), mask), (ys, Tensor(mask)), (Tensor(ys), Tensor(mask)),
                                (ys.tolist(), mask.tolist())):
        report = compare(model, xs, targets, h0, c0, mask=given_mask)
        assert report.ok and report.loss == expected.loss
        assert [r.bptt_abs for r in report.rows] == [r.bptt_abs for r in expected.rows]
    with pytest.raises(ValueError, match=r"mask must be bool of shape \(4, 2\).*got bool of shape \(2, 4\)"):
        compare(model, xs, ys, h0, c0, mask=Tensor(mask.T))
    with pytest.raises(ValueError, match="a Tensor mask must hold only 1.0/0.0"):
        compare(model, xs, ys, h0, c0, mask=Tensor(mask * 0.5))
    with pytest.raises(ValueError, match=r"targets must be class indices of shape \(4, 2\).*shape \(4,\)"):
        compare(model, xs, Tensor(ys[:, 0]), h0, c0)


ENGINE_REFUSES = [   # (what, targets and mask from the class indices ys, the argument bptt names)
    ("a placeholder -1 at a masked-out step", lambda ys: (np.where(MASK, ys, -1), MASK), "targets"),
    ("a class index too large at a masked-out step", lambda ys: (np.where(MASK, ys, 3), MASK), "targets"),
    ("a fractional class index", lambda ys: (ys + 0.5, None), "targets"),
    ("bool class indices", lambda ys: (ys > 0, None), "targets"),
    ("a mask of 0/1 floats", lambda ys: (ys, MASK.astype(float)), "mask"),
    ("negative one-hot rows", lambda ys: (-np.eye(3)[ys], None), "targets"),
    ("NaN one-hot rows", lambda ys: (np.full(ys.shape + (3,), np.nan), None), "targets"),
]


@pytest.mark.parametrize("make", [LSTM, RNN])
@pytest.mark.parametrize("what, spoil, argument", ENGINE_REFUSES, ids=[e[0] for e in ENGINE_REFUSES])
def test_what_the_engine_refuses_the_witness_refuses(make, what, spoil, argument):
    """Else the two would check different things: bptt took these, the engine never did."""
    model = randomize(make(3, 4, 3, seed=0))
    xs, ys, _, _ = data(model, T=4, B=2)
    targets, mask = spoil(ys)
    with pytest.raises((TypeError, ValueError)):
        model.loss(xs, targets, mask=mask)
    gradients = bptt.lstm_gradients if make is LSTM else bptt.rnn_gradients
    with pytest.raises(ValueError, match=f"^{argument}: "):
        gradients({n: p.data for n, p in model.named_parameters()}, xs, targets, mask=mask)


def test_finite_differences_can_sample_large_gradients():
    model = LSTM(3, 8, 3, seed=0)
    xs, ys, _, _ = data(model, T=3)
    report = compare(model, xs, ys, max_fd_elements=10)
    assert report.ok
    assert {r.name: r.fd_checked for r in report.rows}["W_f"] == 10


def test_a_wrong_gate_gradient_is_named_with_its_time_step(monkeypatch):
    """Plant an error in the witness's forget gate at t = 3 of 5: the report must say that the
    BPTT is the odd one out, in the forget gate, first at t = 3."""
    real = bptt.lstm_gradients

    def broken(params, xs, targets, h0=None, c0=None, mask=None):
        grads = real(params, xs, targets, h0, c0, mask)
        grads["df_t"] = grads["df_t"].copy()
        grads["df_t"][2] += 1e-3
        grads["W_f"] = grads["W_f"] + 1e-3
        return grads

    monkeypatch.setattr(bptt, "lstm_gradients", broken)
    model = LSTM(3, 4, 3, seed=0)
    xs, ys, h0, c0 = data(model, T=5)
    report = compare(model, xs, ys, h0, c0)
    assert not report.ok
    text = "\n".join(report.diagnosis)
    assert "W_f: autodiff agrees with finite differences; the hand-derived BPTT differs" in text
    assert "first disagree at t=3, in the forget gate f (df_t)" in text


def test_a_wrong_cell_state_gradient_is_found_where_it_starts(monkeypatch):
    real = bptt.rnn_gradients

    def broken(params, xs, targets, h0=None, mask=None):
        grads = real(params, xs, targets, h0, mask)
        grads["dHS_t"] = grads["dHS_t"].copy()
        grads["dHS_t"][:4] *= 1.01          # as if the carried dHS were wrong from t = 4 down
        return grads

    monkeypatch.setattr(bptt, "rnn_gradients", broken)
    model = RNN(3, 4, 3, seed=0)
    xs, ys, h0, _ = data(model, T=6)
    report = compare(model, xs, ys, h0)
    assert not report.ok
    assert "first disagree at t=4, in the hidden state HS (dHS_t)" in "\n".join(report.diagnosis)
    assert [s.ok for s in report.steps] == [False] * 4 + [True] * 2


def _autodiff_vs_bptt(model, xs, ys, h0, c0, mask=None):
    from tinygrad_lstm import Tensor
    h = Tensor(h0, requires_grad=True)
    c = None if c0 is None else Tensor(c0, requires_grad=True)
    model.zero_grad()
    model.loss(xs, ys, h, c, mask).backward()
    params = {n: p.data for n, p in model.named_parameters()}
    if isinstance(model, LSTM):
        hand = bptt.lstm_gradients(params, xs, ys, h0, c0, mask)
    else:
        hand = bptt.rnn_gradients(params, xs, ys, h0, mask)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, hand[n], rtol=1e-10, atol=1e-12, err_msg=n)
    np.testing.assert_allclose(h.grad, hand["HS_0"], rtol=1e-10, atol=1e-12)
    if c is not None:
        np.testing.assert_allclose(c.grad, hand["CS_0"], rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(lstm=st.booleans(), I=st.integers(1, 5), H=st.integers(1, 5), O=st.integers(1, 4),
       T=st.integers(1, 6), B=st.sampled_from([None, 1, 3]), L=st.integers(1, 3),
       bias=st.booleans(), peephole=st.booleans(), masked=st.booleans(), seed=st.integers(0, 1000))
def test_hand_bptt_equals_autodiff_on_random_sizes(lstm, I, H, O, T, B, L, bias, peephole, masked, seed):
    options = {"peephole": peephole} if lstm else {}
    model = randomize((LSTM if lstm else RNN)(I, H, O, num_layers=L, bias=bias, seed=seed, **options), seed)
    xs, ys, h0, c0 = data(model, T=T, B=B, seed=seed)
    mask = np.random.default_rng(seed).random(ys.shape) < 0.6 if masked else None
    _autodiff_vs_bptt(model, xs, ys, h0, c0, mask)
