"""Training stops when the loss grows far past its first value, with advice about lr."""
import math
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_lstm.data import PartOfSpeech
from tinygrad_lstm.nn import LSTM
from tinygrad_lstm.train import DIVERGE_FACTOR, train

from .helpers import assert_clear_error


def small():
    task = PartOfSpeech()
    return LSTM(task.input_size, 8, task.output_size, seed=0), task


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("lr, optimizer", [(1e300, "sgd"), (1e6, "sgd"), (1e300, "adam")])
def test_a_huge_lr_stops_early_with_advice_and_keeps_the_weights_from_before(compiled, lr, optimizer):
    model, task = small()
    seen = []

    def record(step, loss, accuracy):
        seen.append([p.data.copy() for p in model.parameters()])
    initial = [p.data.copy() for p in model.parameters()]
    result = train(model, task, steps=20, batch_size=4, lr=lr, optimizer=optimizer, compiled=compiled,
                   progress=record)
    assert result.steps == 1 and len(result.losses) == 1            # step 2's loss is already ~lr × the first
    assert result.stopped.startswith("diverged at step 2: the loss ")
    assert f"is over 10000 times the first ({result.losses[0]:.3g})" in result.stopped
    assert "kept the weights from before step 1's update" in result.stopped
    assert f"Lower lr (it was {lr:g};" in result.stopped
    for kept, before in zip(model.parameters(), initial):          # the weights step 1 started from
        np.testing.assert_array_equal(kept.data, before)
        assert np.isfinite(kept.data).all()
    assert not np.array_equal(seen[0][0], initial[0])              # step 1's update did change them
    assert math.isfinite(result.accuracy)


def test_both_paths_give_the_same_message():
    messages = set()
    for compiled in (True, False):
        model, task = small()
        messages.add(train(model, task, steps=10, batch_size=4, lr=1e6, compiled=compiled).stopped)
    assert len(messages) == 1


def test_a_later_divergence_keeps_the_weights_of_the_step_before():
    model, task = small()
    seen = []

    def blow_up(step, loss, accuracy):
        seen.append([p.data.copy() for p in model.parameters()])
        if step == 4:
            for p in model.parameters():
                p.data *= 1e6                                     # as if step 4's update overshot
    result = train(model, task, steps=20, batch_size=4, progress=blow_up)
    assert result.steps == 4 and result.stopped.startswith("diverged at step 5")
    assert "kept the weights from before step 4's update" in result.stopped
    for kept, before in zip(model.parameters(), seen[-2]):          # the weights step 4 started from
        np.testing.assert_array_equal(kept.data, before)


def test_the_default_does_not_trip_on_a_normal_run():
    task = PartOfSpeech()
    for compiled in (True, False):
        result = train(LSTM(task.input_size, 16, task.output_size, seed=1), task, steps=60, seed=1,
                       compiled=compiled)
        assert result.stopped is None and result.steps == 60
    assert DIVERGE_FACTOR == 1e4
    assert max(result.losses) < 10 * result.losses[0]           # far from 10⁴ × the first


def scripted(monkeypatch, losses):
    """Make every batch's loss the next of `losses` (no gradients: the weights stay put)."""
    from tinygrad_lstm import train as train_module
    script = iter(losses)
    monkeypatch.setattr(train_module, "backprop", lambda *args: (next(script), 0, 1))


def test_a_tiny_first_loss_is_measured_against_a_floor_of_1(monkeypatch):
    """A first loss near 0 does not make an ordinary loss of 0.5 look like 10⁴-fold growth."""
    from tinygrad_lstm import train as train_module
    assert train_module.DIVERGE_FLOOR == 1.0
    scripted(monkeypatch, [1e-6, 0.5, 9999.0, 10001.0, 1.0])
    model, task = small()
    result = train(model, task, steps=5, batch_size=2)
    assert result.losses == [1e-6, 0.5, 9999.0]                # 10⁴ × max(1e-6, 1.0) is the limit
    assert result.stopped.startswith("diverged at step 4: the loss 1e+04 is over 10000 times the first "
                                     "(1e-06)")


def test_the_limit_is_the_factor_times_the_first_loss_when_that_is_over_1(monkeypatch):
    scripted(monkeypatch, [4.0, 39.9, 40.0, 40.1, 1.0])
    model, task = small()
    result = train(model, task, steps=5, batch_size=2, diverge_factor=10)
    assert result.losses == [4.0, 39.9, 40.0] and "diverged at step 4" in result.stopped


def test_a_non_finite_loss_is_still_the_nan_guard_s_message(monkeypatch):
    scripted(monkeypatch, [4.0, 5.0, math.inf, 4.0])     # the last: _origin's rerun
    model, task = small()
    with np.errstate(all="ignore"):
        result = train(model, task, steps=5, batch_size=2)
    assert result.stopped.startswith("stopped at step 3: the loss became inf")


def test_none_turns_the_check_off():
    model, task = small()
    result = train(model, task, steps=6, batch_size=4, lr=1e6, diverge_factor=None)
    assert result.stopped is None and result.steps == 6
    assert max(result.losses) > 1e4 * result.losses[0]           # it did diverge; nobody stopped it
    assert all(math.isfinite(loss) for loss in result.losses)


def test_a_smaller_factor_stops_sooner():
    model, task = small()
    result = train(model, task, steps=10, batch_size=4, lr=1e3, diverge_factor=100)
    assert result.stopped is not None and "is over 100 times the first" in result.stopped


@pytest.mark.parametrize("value", [0, 1, -3, 1.0, math.inf, math.nan, "10", True, [10]])
def test_diverge_factor_is_checked_before_any_work(value):
    model, task = small()
    before = [p.data.copy() for p in model.parameters()]
    assert_clear_error(lambda: train(model, task, steps=3, diverge_factor=value), ValueError,
                       ["train: diverge_factor", "finite number greater than 1", "None", repr(value)])
    for p, data in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, data)


@pytest.mark.parametrize("value", [1.0001, 2, np.float64(50.0), np.int64(10), 1e300])
def test_diverge_factor_accepts_numbers_over_1(value):
    model, task = small()
    assert train(model, task, steps=2, batch_size=4, diverge_factor=value).steps in (1, 2)


def test_the_cli_prints_the_advice_and_exits_1():
    result = subprocess.run([sys.executable, "-m", "tinygrad_lstm", "train", "--task", "pos", "--steps", "20",
                             "--hidden", "8", "--lr", "1e300"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "diverged at step 2" in result.stderr and "Lower lr (it was 1e+300;" in result.stderr
    assert "1 steps" in result.stdout
