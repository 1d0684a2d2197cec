"""Training on two paths: the compiled program (the default) and the eager graph give the same
run, full or truncated BPTT, LSTM or RNN; and the CLI's --eager flag picks the eager one."""
import json
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_lstm import cli
from tinygrad_lstm import train as train_module
from tinygrad_lstm.compiled import CompiledModel
from tinygrad_lstm.data import PartOfSpeech, Recall
from tinygrad_lstm.nn import LSTM, RNN
from tinygrad_lstm.train import TrainResult, train

from .helpers import assert_clear_error


def _run(make, task, compiled, window, steps=4):
    model = make(task.input_size, 6, task.output_size, seed=0)
    seen = []
    result = train(model, task, steps=steps, batch_size=4, bptt_window=window, compiled=compiled,
                   progress=lambda step, loss, accuracy: seen.append(accuracy))
    return result, seen, {n: p.data.copy() for n, p in model.named_parameters()}


@pytest.mark.parametrize("window", [None, 2], ids=["full", "window=2"])
@pytest.mark.parametrize("make", [LSTM, RNN])
@pytest.mark.parametrize("task", [Recall(delay=3), PartOfSpeech()], ids=["recall", "pos"])
def test_compiled_and_eager_train_the_same(make, task, window):
    (fast, fast_acc, fast_w), (slow, slow_acc, slow_w) = (_run(make, task, c, window) for c in (True, False))
    assert fast.steps == slow.steps == 4 and fast.stopped is slow.stopped is None
    np.testing.assert_allclose(fast.losses, slow.losses, rtol=1e-9, atol=0)
    assert fast_acc == slow_acc                          # the same correct predictions, step by step
    assert fast.accuracy == slow.accuracy
    for name in fast_w:                                  # the same updates
        np.testing.assert_allclose(fast_w[name], slow_w[name], rtol=1e-9, atol=1e-12, err_msg=name)


def _count_calls(monkeypatch):
    calls = {"compile": 0, "run": 0}
    real_init, real_run = CompiledModel.__init__, CompiledModel.run

    def init(self, model, *args):
        calls["compile"] += 1
        real_init(self, model, *args)

    def run(self, *args, **kwargs):
        calls["run"] += 1
        return real_run(self, *args, **kwargs)
    monkeypatch.setattr(CompiledModel, "__init__", init)
    monkeypatch.setattr(CompiledModel, "run", run)
    return calls


def test_compiled_is_the_default_with_one_compiled_model_per_call(monkeypatch):
    calls = _count_calls(monkeypatch)
    task = Recall(delay=3)                               # 5 steps: windows of 2 are 3 runs a batch
    train(LSTM(task.input_size, 4, task.output_size), task, steps=3, batch_size=2, bptt_window=2)
    assert calls == {"compile": 1, "run": 9}
    train(RNN(task.input_size, 4, task.output_size), task, steps=2, batch_size=2)
    assert calls == {"compile": 2, "run": 11}
    train(RNN(task.input_size, 4, task.output_size), task, steps=2, batch_size=2, compiled=False)
    assert calls == {"compile": 2, "run": 11}            # eager: no program at all


def test_truncated_windows_carry_the_final_states_into_the_next(monkeypatch):
    """Window k + 1 starts from window k's final states, as numpy arrays; the first from zero."""
    starts, real_run = [], CompiledModel.run

    def run(self, xs, targets, mask=None, h0=None, c0=None):
        out = real_run(self, xs, targets, mask, h0, c0)
        starts.append((h0, c0, out[2]))
        return out
    monkeypatch.setattr(CompiledModel, "run", run)
    task = Recall(delay=3)
    train(LSTM(task.input_size, 4, task.output_size), task, steps=1, batch_size=2, bptt_window=2)
    assert len(starts) == 3 and starts[0][:2] == (None, None)
    for (_, _, final), (h0, c0, _) in zip(starts, starts[1:]):
        assert isinstance(h0, np.ndarray) and isinstance(c0, np.ndarray)
        np.testing.assert_array_equal(h0, final["HS"])
        np.testing.assert_array_equal(c0, final["CS"])


@pytest.mark.parametrize("compiled", [True, False])
def test_a_nan_stops_either_path_with_the_same_message(compiled):
    task = PartOfSpeech()
    model = LSTM(task.input_size, 6, task.output_size, seed=0)

    def poison(step, loss, accuracy):
        if step == 3:
            model.parameters()[0].data[0, 0] = np.nan
    result = train(model, task, steps=20, batch_size=4, progress=poison, compiled=compiled)
    assert result.steps == 3
    assert result.stopped.startswith("stopped at step 4: the loss became nan (first at: op 'affine'")
    assert "W_f" in result.stopped and result.stopped.endswith("kept the weights from before step 3's update")
    assert np.isfinite(model.parameters()[0].data).all()


def test_a_float32_model_trains_the_same_on_both_paths():
    task = Recall(delay=3)
    runs = [train(LSTM(task.input_size, 6, task.output_size, seed=0, dtype="float32"), task, steps=3,
                  batch_size=4, bptt_window=2, compiled=c) for c in (True, False)]
    np.testing.assert_allclose(runs[0].losses, runs[1].losses, rtol=1e-5)


def test_compiled_must_be_a_bool():
    task = Recall(delay=3)
    assert_clear_error(lambda: train(LSTM(task.input_size, 4, task.output_size), task, compiled="yes"),
                       TypeError, ["compiled", "True or False", "'yes'"])


def test_train_no_longer_reuses_freed_memory():
    assert not hasattr(train_module, "reuse_freed_memory")


# --- the command line --------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tinygrad_lstm", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_train_eager_gives_the_compiled_result():
    args = ("train", "--task", "recall", "--delay", "2", "--steps", "3", "--hidden", "4", "--batch", "4",
            "--bptt-window", "2", "--json")
    results = [_cli(*args, *extra) for extra in ((), ("--eager",))]
    for r in results:
        assert r.returncode == 0, r.stderr
    fast, slow = (json.loads(r.stdout.strip().splitlines()[-1]) for r in results)
    assert fast["steps"] == slow["steps"] == 3 and fast["accuracy"] == slow["accuracy"]
    assert fast["final_loss"] == pytest.approx(slow["final_loss"], rel=1e-9)


def test_cli_eager_takes_no_value():
    result = _cli("train", "--task", "pos", "--eager=yes")
    assert result.returncode == 2 and "--eager: ignored explicit argument 'yes'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


class _Stop(BaseException):
    """Ends the demo after its first train() call (BaseException: main() lets it through)."""


@pytest.mark.parametrize("flags, compiled", [((), True), (("--eager",), False)])
def test_cli_demo_passes_eager_to_train(monkeypatch, tmp_path, flags, compiled):
    seen = []

    def fake_train(model, task, **kwargs):
        seen.append(kwargs)
        raise _Stop
    monkeypatch.setattr(cli, "train", fake_train)
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/dot")    # no need for Graphviz here
    with pytest.raises(_Stop):
        cli.main(["demo", "--steps", "1", "--out", str(tmp_path / "out"), *flags])
    assert seen[0]["compiled"] is compiled


@pytest.mark.parametrize("flags, compiled", [((), True), (("--eager",), False)])
def test_cli_train_passes_eager_to_train(monkeypatch, flags, compiled):
    seen = []

    def fake_train(model, task, **kwargs):
        seen.append(kwargs)
        return TrainResult(task.name, type(model).__name__, 0.5, 1.0, 0.0, 1, [1.0])
    monkeypatch.setattr(cli, "train", fake_train)
    assert cli.main(["train", "--task", "pos", "--steps", "1", *flags]) == 0
    assert seen[0]["compiled"] is compiled


def test_peephole_gradients_compiled_match_eager():
    """Regression: the compiled program's peephole gradients (p_f, p_i, p_o, added into .grad
    step by step inside the backward loop) must equal eager backward()'s."""
    model = LSTM(2, 3, 2, peephole=True, seed=0)
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((3, 2, 2)), rng.integers(0, 2, (3, 2))
    model.zero_grad()
    model.loss(xs, ys).backward()
    eager = {n: p.grad.copy() for n, p in model.named_parameters()}
    model.zero_grad()
    model.compile().loss_and_grad(xs, ys)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, eager[n], rtol=1e-10, atol=1e-14, err_msg=n)
