"""Anomaly mode, determinism, atomic writes under failure, and one table of bad input
across the whole public surface (each module's own tests have more)."""
import io
import os

import numpy as np
import pytest

from tinygrad_lstm import Tensor, bptt, detect_anomaly, gradcheck
from tinygrad_lstm.data import PartOfSpeech
from tinygrad_lstm.files import write_atomically
from tinygrad_lstm.nn import LSTM, RNN, Linear, LSTMCell
from tinygrad_lstm.train import train

from .helpers import assert_clear_error


def test_anomaly_mode_names_the_first_op_that_makes_a_nan_forward():
    x = Tensor([1.0, -1.0], requires_grad=True)
    with pytest.raises(FloatingPointError, match=r"forward of op 'log' in scope t=2 produced NaN from finite inputs"):
        with detect_anomaly():
            from tinygrad_lstm import scope
            with scope("t=2"):
                (x * 2.0).log().exp()
    with np.errstate(all="ignore"):
        assert (x.log().exp()).data.shape == (2,)   # outside the block: no check, no error


def test_anomaly_mode_names_the_op_whose_backward_makes_an_inf():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(all="ignore"):
        y = x.log().named("L")                       # log(0) = -inf forward: fine outside the block
    with pytest.raises(FloatingPointError, match=r"backward of op 'log' making L produced (inf|NaN).*#0"):
        with detect_anomaly():
            y.backward(np.ones(2))                   # d log(x)/dx = 1/x = inf at 0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")       # numpy warns about the inf; we explain it
def test_training_says_where_a_nan_came_from():
    task = PartOfSpeech()
    model = LSTM(task.input_size, 8, task.output_size, seed=0)

    def poison(step, loss, accuracy):
        if step == 3:
            dict(model.named_parameters())["W_c"].data[:] = np.inf

    result = train(model, task, steps=10, progress=poison)
    assert "stopped at step 4" in result.stopped
    assert "first at: op 'concat' received non-finite values from W_c (8, 30)" in result.stopped


def test_the_same_seed_gives_bit_identical_weights_losses_and_gradients():
    def run():
        task = PartOfSpeech()
        model = RNN(task.input_size, 8, task.output_size, seed=3)
        result = train(model, task, steps=20, seed=5)
        batch = task.batch(4, np.random.default_rng(9))
        model.zero_grad()
        model.loss(batch.xs, batch.targets, mask=batch.mask).backward()
        return result.losses, [(p.data.copy(), p.grad.copy()) for p in model.parameters()]
    (losses_a, params_a), (losses_b, params_b) = run(), run()
    assert losses_a == losses_b
    for (data_a, grad_a), (data_b, grad_b) in zip(params_a, params_b):
        assert np.array_equal(data_a, data_b) and np.array_equal(grad_a, grad_b)


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    target = tmp_path / "weights.npz"
    target.write_bytes(b"the old weights")
    real_fdopen = os.fdopen

    class HalfWriter(io.RawIOBase):
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:len(data) // 2])
            raise OSError("No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, b"x" * 10_000)
    assert target.read_bytes() == b"the old weights"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.npz"]


lstm = LSTM(3, 4, 2, seed=0)
params = {n: p.data for n, p in lstm.named_parameters()}
BAD = [
    ("compare a non-model", lambda: gradcheck.compare("lstm", np.ones((2, 3)), [0, 1]), TypeError, ["compare", "LSTM or RNN", "str"]),
    ("compare bad width", lambda: gradcheck.compare(lstm, np.ones((2, 5)), [0, 1]), ValueError, ["input width 5", "input_size is 3"]),
    ("compare bad eps", lambda: gradcheck.compare(lstm, np.ones((2, 3)), [0, 1], eps=0), ValueError, ["eps", "positive"]),
    ("compare bad sample", lambda: gradcheck.compare(lstm, np.ones((2, 3)), [0, 1], max_fd_elements=-1), ValueError, ["max_fd_elements"]),
    ("bptt params not a dict", lambda: bptt.lstm_gradients([1, 2], np.ones((2, 3)), [0, 1]), TypeError, ["params", "dict", "list"]),
    ("bptt missing W_o", lambda: bptt.lstm_gradients({k: v for k, v in params.items() if k != "W_o"}, np.ones((2, 3)), [0, 1]),
     ValueError, ["W_o"]),
    ("bptt wrong width", lambda: bptt.lstm_gradients(params, np.ones((2, 4)), [0, 1]), ValueError, ["4", "3"]),
    ("bptt target range", lambda: bptt.lstm_gradients(params, np.ones((2, 3)), [0, 2]), ValueError, ["2"]),
    ("rnn bptt missing W_hh", lambda: bptt.rnn_gradients({"W_xh": np.ones((2, 3))}, np.ones((2, 3)), [0, 1]),
     ValueError, ["W_hh"]),
    ("cell wrong state", lambda: LSTMCell(3, 4)(Tensor(np.ones(3)), (Tensor(np.ones(5)), Tensor(np.ones(4)))),
     ValueError, ["LSTMCell", "HS must have shape (4,)", "(5,)"]),
    ("cell wrong input", lambda: LSTMCell(3, 4)(np.ones((2, 5)), (np.ones((2, 4)), np.ones((2, 4)))),
     ValueError, ["LSTMCell", "x_t must be (3,) or (B, 3)", "(2, 5)"]),
    ("cell state not a pair", lambda: LSTMCell(3, 4)(np.ones(3), np.ones(4)), ValueError, ["state must be a tuple (HS, CS)"]),
    ("linear wrong input", lambda: Linear(3, 2)(Tensor(np.ones(4))), ValueError, ["matmul", "(4,)", "(3, 2)"]),
    ("linear zero size", lambda: Linear(0, 2), ValueError, ["in_features", "positive"]),
    ("load into wrong dtype", lambda: LSTM(3, 4, 2, dtype="float16x"), TypeError, ["dtype", "float"]),
    ("numerical of non-scalar", lambda: gradcheck.numerical_gradients(lambda: Tensor(np.ones(2)), [Tensor([1.0])]),
     ValueError, ["one number", "(2,)"]),
]


@pytest.mark.parametrize("what, call, exc, pieces", BAD, ids=[b[0] for b in BAD])
def test_bad_input_across_the_surface(what, call, exc, pieces):
    assert_clear_error(call, exc, pieces)
