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
    with pytest.raises(FloatingPointError,
                       match=r"forward of op 'log' in scope t=2 produced NaN from finite inputs"):
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
    assert ("first at: op 'affine' in scope t=1 received non-finite values from W_c (8, 30)"
            in result.stopped)           # C_t's pre-activation, affine(X_t, W_c, b_c), reads W_c first


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
    ("compare a non-model", lambda: gradcheck.compare("lstm", np.ones((2, 3)), [0, 1]),
     TypeError, ["compare", "LSTM or RNN", "str"]),
    ("compare bad width", lambda: gradcheck.compare(lstm, np.ones((2, 5)), [0, 1]),
     ValueError, ["input width 5", "input_size is 3"]),
    ("compare bad eps", lambda: gradcheck.compare(lstm, np.ones((2, 3)), [0, 1], eps=0),
     ValueError, ["eps", "positive"]),
    ("compare bad sample", lambda: gradcheck.compare(lstm, np.ones((2, 3)), [0, 1], max_fd_elements=-1),
     ValueError, ["max_fd_elements"]),
    ("bptt params not a dict", lambda: bptt.lstm_gradients([1, 2], np.ones((2, 3)), [0, 1]),
     TypeError, ["params", "dict", "list"]),
    ("bptt missing W_o",
     lambda: bptt.lstm_gradients({k: v for k, v in params.items() if k != "W_o"}, np.ones((2, 3)), [0, 1]),
     ValueError, ["W_o"]),
    ("bptt wrong width", lambda: bptt.lstm_gradients(params, np.ones((2, 4)), [0, 1]),
     ValueError, ["4", "3"]),
    ("bptt target range", lambda: bptt.lstm_gradients(params, np.ones((2, 3)), [0, 2]), ValueError, ["2"]),
    ("rnn bptt missing W_hh", lambda: bptt.rnn_gradients({"W_xh": np.ones((2, 3))}, np.ones((2, 3)), [0, 1]),
     ValueError, ["W_hh"]),
    ("cell wrong state", lambda: LSTMCell(3, 4)(Tensor(np.ones(3)), (Tensor(np.ones(5)), Tensor(np.ones(4)))),
     ValueError, ["LSTMCell", "HS must have shape (4,)", "(5,)"]),
    ("cell wrong input", lambda: LSTMCell(3, 4)(np.ones((2, 5)), (np.ones((2, 4)), np.ones((2, 4)))),
     ValueError, ["LSTMCell", "x_t must be (3,) or (B, 3)", "(2, 5)"]),
    ("cell state not a pair", lambda: LSTMCell(3, 4)(np.ones(3), np.ones(4)),
     ValueError, ["state must be a tuple (HS, CS)"]),
    ("linear wrong input", lambda: Linear(3, 2)(Tensor(np.ones(4))),
     ValueError, ["affine", "(4,)", "(2, 3)", "do not align"]),
    ("linear zero size", lambda: Linear(0, 2), ValueError, ["in_features", "positive"]),
    ("load into wrong dtype", lambda: LSTM(3, 4, 2, dtype="float16x"), TypeError, ["dtype", "float"]),
    ("numerical of non-scalar",
     lambda: gradcheck.numerical_gradients(lambda: Tensor(np.ones(2)), [Tensor([1.0])]),
     ValueError, ["one number", "(2,)"]),
]


@pytest.mark.parametrize("what, call, exc, pieces", BAD, ids=[b[0] for b in BAD])
def test_bad_input_across_the_surface(what, call, exc, pieces):
    assert_clear_error(call, exc, pieces)


def _tensor_rows():
    return Tensor(np.ones((3, 2)), requires_grad=True)


def _npy(tmp):
    path = tmp / "array.npy"
    np.save(path, np.ones(3))
    return path


def _bad_config(tmp):
    path = tmp / "bad.npz"
    np.savez(path, __config__=np.array('"LSTM"'))
    return path


# Found by an adversarial sweep of the public surface: each once gave a wrong result or an
# internal error; now a clear error of the right family.
SWEEP = [
    ("SGD given one Tensor",
     lambda t: __import__("tinygrad_lstm.optim", fromlist=["SGD"]).SGD(_tensor_rows(), 0.1),
     TypeError, ["single Tensor", "model.parameters()"]),
    ("numerical_gradients given one Tensor",
     lambda t: gradcheck.numerical_gradients(lambda: Tensor(1.0), _tensor_rows()),
     TypeError, ["single Tensor"]),
    ("concat given one Tensor", lambda t: __import__("tinygrad_lstm").concat(_tensor_rows()),
     TypeError, ["list or tuple"]),
    ("truth of a vector", lambda t: bool(Tensor([0.0, 1.0])),
     TypeError, ["truth value", "(2,)", "ambiguous"]),
    ("iterating a scalar", lambda t: list(Tensor(1.0)), TypeError, ["0-d", ".item()"]),
    ("item of a vector", lambda t: Tensor([1.0, 2.0]).item(), ValueError, ["item()", "(2,)"]),
    ("eps zero", lambda t: gradcheck.numerical_gradients(lambda: Tensor(1.0), [Tensor([1.0])], eps=0),
     ValueError, ["eps"]),
    ("check_gradients non-Tensor", lambda t: gradcheck.check_gradients(lambda: 3.0, [np.ones(2)]),
     TypeError, ["Tensors"]),
    ("check_gradients f returns a float",
     lambda t: gradcheck.check_gradients(lambda: 3.0, [Tensor([1.0], requires_grad=True)]),
     TypeError, ["f() must return a Tensor", "float"]),
    ("compare RNN with c0",
     lambda t: gradcheck.compare(RNN(3, 4, 3), np.ones((2, 3)), [0, 1], c0=np.zeros(4)),
     ValueError, ["RNN has no cell state"]),
    ("load an .npy", lambda t: LSTM.load(_npy(t)), ValueError, ["not a weights file"]),
    ("load a bad config", lambda t: LSTM.load(_bad_config(t)), ValueError, ["not a weights file"]),
    ("load a folder", lambda t: LSTM.load(t), FileNotFoundError, ["no file at"]),
    ("save into a folder", lambda t: LSTM(3, 4, 2).save(t), IsADirectoryError, ["is a folder"]),
    ("save under a file", lambda t: LSTM(3, 4, 2).save(_npy(t) / "w.npz"),
     NotADirectoryError, ["is a file, not a folder"]),
    ("save to None", lambda t: LSTM(3, 4, 2).save(None), TypeError, ["path"]),
    ("train a task name", lambda t: train(LSTM(3, 4, 2), "pos"), TypeError, ["task must be a Task"]),
    ("train a cell", lambda t: train(LSTMCell(3, 4), PartOfSpeech()), TypeError, ["LSTM or RNN", "LSTMCell"]),
    ("train seed -1", lambda t: train(RNN(26, 4, 7), PartOfSpeech(), seed=-1), ValueError, ["seed", "≥ 0"]),
    ("train clip inf", lambda t: train(RNN(26, 4, 7), PartOfSpeech(), clip=float("inf")),
     ValueError, ["clip", "finite"]),
    ("model seed -1", lambda t: LSTM(3, 4, 2, seed=-1), ValueError, ["seed", "≥ 0", "-1"]),
    ("bias as a string", lambda t: LSTM(3, 4, 2, bias="no"), TypeError, ["bias", "True or False", "'no'"]),
    ("forget bias NaN", lambda t: LSTM(3, 4, 2, forget_bias=float("nan")),
     ValueError, ["forget_bias", "finite"]),
    ("batch with a seed", lambda t: PartOfSpeech().batch(2, 5), TypeError, ["rng", "Generator", "int"]),
    ("batch size 0", lambda t: PartOfSpeech().batch(0, np.random.default_rng()),
     ValueError, ["size", "positive"]),
    ("next-char tiny text",
     lambda t: __import__("tinygrad_lstm.data", fromlist=["NextChar"]).NextChar(text="ab"),
     ValueError, ["at least steps + 2"]),
    ("pos no sentences", lambda t: PartOfSpeech([]), ValueError, ["non-empty"]),
    ("softmax over nothing", lambda t: Tensor(np.ones((2, 0))).softmax(), ValueError, ["softmax", "empty"]),
    ("keepdims a string", lambda t: Tensor(np.ones(3)).sum(keepdims="yes"),
     TypeError, ["keepdims", "True or False"]),
    ("concat axis None",
     lambda t: __import__("tinygrad_lstm").concat([Tensor([1.0]), Tensor([2.0])], axis=None),
     TypeError, ["concat", "axis must be an int"]),
    ("index with a float slice", lambda t: Tensor(np.ones(3))[slice("a", None)],
     TypeError, ["getitem", "(3,)"]),
    ("one-hot with negatives",
     lambda t: __import__("tinygrad_lstm").cross_entropy(Tensor(np.ones((1, 3))), [[2.0, -1.0, 0.0]]),
     ValueError, ["non-negative"]),
    ("a name that is not a string", lambda t: Tensor([1.0], name=5), TypeError, ["name", "string"]),
    ("assign is all or nothing", lambda t: _assign_half(), ValueError, ["b_f", "(3,)"]),
    ("interop missing key",
     lambda t: __import__("tinygrad_lstm.interop", fromlist=["x"]).from_torch_state_dict(
        {k: v for k, v in __import__("tinygrad_lstm.interop",
                                     fromlist=["x"]).to_torch_state_dict(LSTM(3, 4, 2)).items()
         if k != "out.bias"}), ValueError, ["missing 'out.bias'"]),
    ("a hand-set grad of the wrong shape", lambda t: _wrong_grad(),
     ValueError, [".grad was set to (1, 2)", "(3, 2)"]),
    ("an interior node's data swapped", lambda t: _swapped_data("h"), RuntimeError,
     ["gradient reaching h", "(2, 3)", "(4,)", ".data replaced"]),
    ("a leaf's data swapped", lambda t: _swapped_data("w"), RuntimeError,
     ["gradient reaching w", "(2, 3)", "(4,)", ".data replaced"]),
    ("data swapped between two uses", lambda t: _swapped_between_uses(), RuntimeError,
     ["gradients of shapes", "(1, 3)", "(2, 3)", "reach w", "replaced between two uses"]),
    ("item assignment", lambda t: Tensor(np.ones(3)).__setitem__(0, 1.0), TypeError, ["item assignment"]),
    ("loss_of without a run", lambda t: LSTM(3, 4, 2).loss_of(None, [0]), TypeError, ["loss_of", "unroll()"]),
    ("compare seed -1", lambda t: gradcheck.compare(lstm, np.ones((2, 3)), [0, 1], seed=-1),
     ValueError, ["seed", "≥ 0"]),
    ("save with a name too long", lambda t: LSTM(3, 4, 2).save(t / ("a" * 300 + ".npz")), OSError,
     ["cannot write", "too long"]),
    ("bptt names the misshapen gate",
     lambda t: bptt.lstm_gradients({**params, "W_f": np.ones((4, 6))}, np.ones((2, 3)), [0, 1]),
     ValueError, ["'W_f'", "(4, 7)", "(4, 6)"]),
    ("integer gradients to clip", lambda t: __import__("tinygrad_lstm.optim", fromlist=["x"]).clip_grad_norm(
        [_with_grad(np.full(3, 100))], 1.0), TypeError, ["float numpy array", "int64"]),
    ("integer gradients to SGD", lambda t: __import__("tinygrad_lstm.optim", fromlist=["x"]).SGD(
        [_with_grad(np.full(3, 100))], 0.1).step(), TypeError, ["not a float numpy array"]),
    ("save a misshapen matrix", lambda t: _save_misshapen(t, LSTM(3, 4, 2), W_f=np.ones((4, 9))), ValueError,
     ["LSTM.save: W_f has shape (4, 9), expected (4, 7) for this model's sizes", ".data replaced"]),
    ("save a misshapen layer-2 bias",
     lambda t: _save_misshapen(t, LSTM(3, 4, 2, num_layers=2),
                               **{"layer2.b_f": np.ones(5), "b_y": np.ones(1)}),
     ValueError, ["LSTM.save: layer2.b_f has shape (5,), expected (4,); b_y has shape (1,), expected (2,)"]),
    ("save an RNN's transposed output", lambda t: _save_misshapen(t, RNN(3, 4, 2), W_hy=np.ones((4, 2))),
     ValueError, ["RNN.save: W_hy has shape (4, 2), expected (2, 4)"]),
    ("save a scalar for a peephole",
     lambda t: _save_misshapen(t, LSTM(3, 4, 2, peephole=True), p_o=np.ones(())), ValueError,
     ["LSTM.save: p_o has shape (), expected (4,)"]),
    ("load a name ending in a slash", lambda t: LSTM.load(f"{LSTM(3, 4, 2).save(t / 'w.npz')}/"),
     IsADirectoryError, ["LSTM.load: ", "w.npz/' ends in '/', so it names a folder; give a file name"]),
    ("load an empty name", lambda t: RNN.load(""), ValueError,
     ["RNN.load: the path must be a non-empty file name"]),
    ("load a number", lambda t: LSTM.load(5), TypeError,
     ["LSTM.load: the path must be a file name", "got 5"]),
    ("a misspelt dtype", lambda t: Tensor([1.0], dtype="flot32"), TypeError,
     ["dtype must be a float type such as 'float32' or 'float64'; got 'flot32'"]),
    ("a model's misspelt dtype", lambda t: LSTM(3, 4, 2, dtype="foo"), TypeError,
     ["dtype must be a float", "got 'foo'"]),
    ("an integer dtype", lambda t: RNN(3, 4, 2, dtype="int32"), TypeError,
     ["dtype must be a float", "got 'int32'"]),
    ("a dtype that is a list", lambda t: Tensor([1.0], dtype=[1]), TypeError,
     ["dtype must be a float", "got [1]"]),
    ("h0 a string", lambda t: lstm.loss(np.ones((2, 3)), [0, 1], h0="zeros"), TypeError,
     ["LSTM: h0: Tensor data must be real numbers", "str"]),
    ("c0 a list of None", lambda t: lstm(np.ones((2, 3)), c0=[None] * 4), TypeError,
     ["LSTM: c0: Tensor data", "None"]),
    ("compiled h0 a string", lambda t: lstm.compile().loss_and_grad(np.ones((2, 3)), [0, 1], h0="zeros"),
     TypeError, ["LSTM: h0: Tensor data must be real numbers", "str"]),
    ("xs None", lambda t: lstm.loss(None, [0, 1]), TypeError,
     ["LSTM: xs: Tensor data must be numbers", "NoneType"]),
    ("compiled xs None", lambda t: lstm.compile().loss_and_grad(None, [0, 1]), TypeError,
     ["LSTM: xs: Tensor data must be numbers", "NoneType"]),
    ("a cell's state strings", lambda t: LSTMCell(3, 4)(np.ones(3), ("ab", "cd")), TypeError,
     ["LSTMCell: HS: Tensor data must be real numbers", "str"]),
    ("a cell's x_t None", lambda t: LSTMCell(3, 4)(None, (np.ones(4), np.ones(4))), TypeError,
     ["LSTMCell: x_t: Tensor data must be numbers", "NoneType"]),
]


def _save_misshapen(folder, model, **data):
    """Save `model` after replacing some parameters' .data: refused, and nothing written."""
    parameters = dict(model.named_parameters())
    for name, value in data.items():
        parameters[name].data = value
    try:
        model.save(folder / "w.npz")
    finally:
        assert list(folder.iterdir()) == []


def _assign_half():
    model = LSTM(3, 4, 2, seed=0)
    before = model.parameters()[0].data.copy()
    weights = {n: p.data + 1 for n, p in model.named_parameters()}
    weights["b_f"] = np.ones(3)
    try:
        model.assign(weights)
    finally:
        assert np.array_equal(model.parameters()[0].data, before)     # nothing changed
    return model


def _with_grad(grad):
    w = Tensor(np.ones(3), requires_grad=True)
    w.grad = grad
    return w


def _swapped_data(which):
    w = Tensor(np.ones((2, 3)), requires_grad=True, name="w")
    h = (w * 2.0).named("h")
    loss = (h * h).sum()
    {"w": w, "h": h}[which].data = np.ones(4)      # after the graph was built
    loss.backward()


def _swapped_between_uses():
    w = Tensor(np.ones((1, 3)), requires_grad=True, name="w")
    first = w * 2.0
    w.data = np.ones((2, 3))
    (first.sum() + (w * 3.0).sum()).backward()


def _wrong_grad():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    w.grad = np.ones((1, 2))
    (w * 2.0).sum().backward()


@pytest.mark.parametrize("what, call, exc, pieces", SWEEP, ids=[s[0] for s in SWEEP])
def test_sweep_findings_stay_fixed(tmp_path, what, call, exc, pieces):
    assert_clear_error(lambda: call(tmp_path), exc, pieces)


def test_anomaly_mode_sees_an_inf_made_inside_a_matmul_gradient():
    W = Tensor(np.full((2, 2), 1e-200), requires_grad=True)
    x = Tensor(np.full((1, 2), 1e200))            # forward is finite (2.0); xᵀ g = 1e200 · 1e300 = inf
    with pytest.raises(FloatingPointError, match=r"backward of op 'matmul' making matmul produced inf in "
                                                 r"the gradient of its input #1"):
        with detect_anomaly():
            (x @ W).sum().backward(np.float64(1e300))


def test_a_backward_pass_that_stops_half_way_leaves_nothing_behind():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(all="ignore"):
        y = (x * 3.0).log()
    with pytest.raises(FloatingPointError):
        with detect_anomaly():
            y.sum().backward()
    x.grad = None
    with np.errstate(all="ignore"):
        (x * 3.0).sum().backward()               # a fresh pass through x: only its own gradient
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
