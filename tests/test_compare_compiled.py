"""The fourth column of the gradient check: the compiled program against eager autodiff, and a
report that names a parameter whose compiled gradient is planted wrong."""
import json

import numpy as np
import pytest

from tinygrad_lstm.compiled import CompiledModel, Replay
from tinygrad_lstm.gradcheck import EXACT_TOL, compare
from tinygrad_lstm.nn import LSTM, RNN


def _model_and_data(make, T=4, B=2, seed=0, **options):
    model = make(3, 4, 3, seed=seed, **options)
    r = np.random.default_rng(seed)
    for _, p in model.named_parameters():             # random everywhere: no gradient is trivially 0
        p.data = r.uniform(-0.8, 0.8, size=p.shape)
    batch = () if B is None else (B,)
    layers = () if model.num_layers == 1 else (model.num_layers,)
    xs = r.standard_normal((T, *batch, 3))
    ys = r.integers(0, 3, size=(T, *batch))
    h0 = r.standard_normal((*layers, *batch, 4))
    c0 = r.standard_normal(h0.shape) if make is LSTM else None
    return model, xs, ys, h0, c0


@pytest.mark.parametrize("make, options, B", [(LSTM, {}, 2), (LSTM, {"num_layers": 2, "bias": False}, None),
                                              (RNN, {}, None), (RNN, {"num_layers": 2}, 3)],
                         ids=["lstm", "lstm-2-layers-no-bias-one-seq", "rnn-one-seq", "rnn-2-layers"])
def test_a_correct_model_agrees_four_ways(make, options, B):
    model, xs, ys, h0, c0 = _model_and_data(make, B=B, **options)
    mask = np.random.default_rng(1).random(ys.shape) < 0.7
    report = compare(model, xs, ys, h0, c0, mask=mask)
    assert report.ok, str(report)
    params = [n for n, _ in model.named_parameters()]
    for row in report.rows:
        if row.name in params:
            assert row.compiled_abs < 1e-13 and row.compiled_rel < 1e-10, row
        else:                                             # HS_0, CS_0: the compiled path has no such gradient
            assert row.compiled_abs is None and row.compiled_rel is None
    text = str(report)
    assert "|comp-ad|" in text and "compiled program = eager autodiff" in text and "OK: True" in text
    loaded = json.loads(report.to_json())
    assert {"compiled_abs", "compiled_rel"} <= set(loaded["parameters"][0])


def test_the_initial_states_flow_into_the_compiled_run(monkeypatch):
    seen = []
    for method in ("run", "loss_and_grad"):                 # whichever compare calls
        def spy(self, xs, targets, mask=None, h0=None, c0=None, real=getattr(CompiledModel, method)):
            seen.append((h0, c0))
            return real(self, xs, targets, mask, h0, c0)
        monkeypatch.setattr(CompiledModel, method, spy)
    model, xs, ys, h0, c0 = _model_and_data(LSTM)
    report = compare(model, xs, ys, 3 * h0, 3 * c0)      # large states: zeros would change every gradient
    assert report.ok, str(report)
    [(h, c)] = seen
    np.testing.assert_array_equal(h, 3 * h0)
    np.testing.assert_array_equal(c, 3 * c0)


def test_a_float32_model_is_checked_in_float64_and_left_as_it_was():
    model, xs, ys, h0, c0 = _model_and_data(LSTM)
    for p in model.parameters():
        p.data = p.data.astype(np.float32)
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    model.dtype = np.dtype(np.float32)
    report = compare(model, xs, ys, h0, c0)
    assert report.ok, str(report)
    assert max(r.compiled_abs for r in report.rows if r.compiled_abs is not None) < 1e-13
    assert model.dtype == np.float32
    for n, p in model.named_parameters():
        assert p.data.dtype == np.float32 and p.grad is None
        np.testing.assert_array_equal(p.data, before[n])


def test_a_planted_error_in_the_compiled_program_is_named(monkeypatch):
    """Perturb W_f's gradient as the compiled replay adds it: eager autodiff, the hand BPTT and
    finite differences still agree, so the report must blame the compiled program, for W_f only."""
    real = Replay.__call__

    def broken(self, batch, *args):
        out = real(self, batch, *args)
        W_f = dict(self.model.named_parameters())["W_f"]
        W_f.grad = W_f.grad + 1e-3
        return out
    monkeypatch.setattr(Replay, "__call__", broken)
    model, xs, ys, h0, c0 = _model_and_data(LSTM)
    report = compare(model, xs, ys, h0, c0)
    assert not report.ok
    rows = {r.name: r for r in report.rows}
    assert not rows["W_f"].ok and rows["W_f"].compiled_abs == pytest.approx(1e-3, rel=1e-6)
    assert rows["W_f"].bptt_abs < EXACT_TOL["atol"] and rows["W_f"].fd_abs < 1e-7
    assert all(r.ok for name, r in rows.items() if name != "W_f")
    assert report.diagnosis == ["W_f: the compiled program differs from eager autodiff by up to 1.0e-03; "
                                "eager autodiff agrees with the hand-derived BPTT and finite differences"]
    text = str(report)
    assert "OK: False" in text and "all three agree" not in text
    loaded = json.loads(report.to_json())
    assert loaded["ok"] is False and loaded["parameters"][0]["compiled_abs"] == pytest.approx(1e-3, rel=1e-6)


def test_a_planted_error_in_eager_autodiff_is_told_apart(monkeypatch):
    """If eager autodiff were the one that is wrong, the compiled program agrees with the hand
    BPTT: the report says so, besides the three-way note."""
    from tinygrad_lstm.tensor import Tensor

    real = Tensor.backward

    def broken(self, *args, **kwargs):
        real(self, *args, **kwargs)
        for t in broken.params:
            if t.name == "W_f" and t.grad is not None:
                t.grad = t.grad + 1e-3
    model, xs, ys, h0, c0 = _model_and_data(LSTM)
    broken.params = model.parameters()
    monkeypatch.setattr(Tensor, "backward", broken)
    report = compare(model, xs, ys, h0, c0)
    assert not report.ok
    text = "\n".join(report.diagnosis)
    assert "W_f: the compiled program differs from eager autodiff by up to 1.0e-03; the compiled program " \
           "agrees with the hand-derived BPTT: eager autodiff is the odd one out" in text
