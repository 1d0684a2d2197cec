"""Arguments across the API: numpy integer and floating scalars count like Python ones,
bool and strings never count as numbers, and every refusal quotes the value as given.
Also: Tensor masks, and a progress callback that fails."""
import re

import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.data import NextChar, PartOfSpeech, Recall, make_task
from tinygrad_lstm.gradcheck import compare
from tinygrad_lstm.interop import from_torch_state_dict, to_torch_state_dict
from tinygrad_lstm.nn import LSTM, RNN
from tinygrad_lstm.optim import SGD, Adam, clip_grad_norm
from tinygrad_lstm.train import train
from tinygrad_lstm.viz import draw_graph

i64, i32, f64, f32 = np.int64, np.int32, np.float64, np.float32

ACCEPTED = [
    ("LSTM sizes", lambda: LSTM(i64(3), i32(4), i64(2), num_layers=i64(2), seed=i64(1))),
    ("LSTM forget_bias", lambda: LSTM(3, 4, 2, forget_bias=f32(1.5))),
    ("LSTM forget_bias int", lambda: LSTM(3, 4, 2, forget_bias=i64(2))),
    ("RNN sizes", lambda: RNN(i32(3), i64(4), i64(2), num_layers=i32(2), seed=i32(0))),
    ("Recall", lambda: Recall(delay=i64(3), symbols=i32(3))),
    ("Recall delay 0", lambda: Recall(delay=i64(0))),
    ("make_task", lambda: make_task("recall", delay=i64(2))),
    ("NextChar", lambda: NextChar(steps=i64(5))),
    ("batch size", lambda: Recall(delay=2).batch(i64(3), np.random.default_rng(0))),
    ("train", lambda: train(LSTM(6, 4, 4), Recall(delay=2), steps=i64(2), batch_size=i32(2), lr=f64(0.1),
                            clip=f32(1.0), seed=i64(1), bptt_window=i64(2), diverge_factor=f64(100),
                            compiled=np.True_)),
    ("SGD", lambda: SGD(_params(), lr=f32(0.1), momentum=i64(0))),
    ("SGD int lr", lambda: SGD(_params(), lr=i64(1), momentum=f64(0.5))),
    ("Adam", lambda: Adam(_params(), lr=f32(0.01), betas=(f32(0.9), i64(0)), eps=f64(1e-8))),
    ("clip_grad_norm", lambda: clip_grad_norm(_params(), max_norm=i32(1))),
    ("compare", lambda: compare(RNN(2, 2, 2), np.ones((2, 2)), [0, 1], eps=f32(1e-5),
                                max_fd_elements=i64(0), seed=i32(0))),
    ("from_torch_state_dict", lambda: from_torch_state_dict(to_torch_state_dict(LSTM(2, 3, 2)),
                                                            strict=np.False_)),
]


@pytest.mark.parametrize("what, call", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_numpy_scalars_are_accepted(what, call):
    call()


def test_numpy_scalars_are_stored_as_python_numbers():
    task = Recall(delay=i64(3), symbols=i32(3))
    assert (type(task.delay), type(task.symbols), type(task.steps), type(task.input_size)) == (int,) * 4
    assert type(NextChar(steps=i64(5)).steps) is int
    model = LSTM(i64(3), i64(4), i64(2), seed=i64(7))
    assert type(model.seed) is int and model.seed == 7
    assert all(type(v) is int
               for v in (model.input_size, model.hidden_size, model.output_size, model.num_layers))


def test_numpy_and_python_seeds_give_the_same_weights():
    a, b = LSTM(3, 4, 2, seed=5), LSTM(i64(3), i64(4), i64(2), seed=i64(5))
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


REFUSED = [
    # (what, callable, the message: exactly as quoted)
    ("LSTM seed -1", lambda: LSTM(3, 4, 2, seed=-1), "seed must be a whole number ≥ 0 (or None); got -1"),
    ("LSTM seed np -1", lambda: LSTM(3, 4, 2, seed=i64(-1)),
     "seed must be a whole number ≥ 0 (or None); got np.int64(-1)"),
    ("LSTM seed bool", lambda: LSTM(3, 4, 2, seed=True),
     "seed must be a whole number ≥ 0 (or None); got True"),
    ("LSTM seed str", lambda: LSTM(3, 4, 2, seed="1"), "seed must be a whole number ≥ 0 (or None); got '1'"),
    ("LSTM hidden bool", lambda: LSTM(3, True, 2), "hidden_size must be a positive integer; got True"),
    ("LSTM hidden np bool", lambda: LSTM(3, np.True_, 2),
     "hidden_size must be a positive integer; got np.True_"),
    ("LSTM input 0", lambda: LSTM(0, 4, 2), "input_size must be a positive integer; got 0"),
    ("LSTM layers -2", lambda: LSTM(3, 4, 2, num_layers=i64(-2)),
     "num_layers must be a positive integer; got np.int64(-2)"),
    ("LSTM output float", lambda: LSTM(3, 4, 2.0), "output_size must be a positive integer; got 2.0"),
    ("LSTM forget_bias bool", lambda: LSTM(3, 4, 2, forget_bias=True),
     "forget_bias must be a finite number; got True"),
    ("LSTM forget_bias inf", lambda: LSTM(3, 4, 2, forget_bias=f64(np.inf)),
     "forget_bias must be a finite number; got np.float64(inf)"),
    ("LSTM forget_bias str", lambda: LSTM(3, 4, 2, forget_bias="3"),
     "forget_bias must be a finite number; got '3'"),
    ("RNN hidden -4", lambda: RNN(3, -4, 2), "hidden_size must be a positive integer; got -4"),
    ("RNN seed -1", lambda: RNN(3, 4, 2, seed=-1), "seed must be a whole number ≥ 0 (or None); got -1"),
    ("Recall delay -1", lambda: Recall(delay=-1), "recall: delay must be a whole number ≥ 0; got -1"),
    ("Recall delay bool", lambda: Recall(delay=False), "recall: delay must be a whole number ≥ 0; got False"),
    ("Recall delay str", lambda: make_task("recall", delay="3"),
     "recall: delay must be a whole number ≥ 0; got '3'"),
    ("Recall symbols bool", lambda: Recall(symbols=np.True_),
     "recall: needs at least 2 symbols; got np.True_"),
    ("Recall symbols 1", lambda: Recall(symbols=i64(1)), "recall: needs at least 2 symbols; got np.int64(1)"),
    ("NextChar steps 0", lambda: NextChar(steps=i64(0)),
     "next-char: steps must be a positive integer; got np.int64(0)"),
    ("batch size bool", lambda: PartOfSpeech().batch(True, np.random.default_rng(0)),
     "pos.batch: size must be a positive integer; got True"),
    ("train steps -1", lambda: train(LSTM(6, 4, 4), Recall(delay=2), steps=-1),
     "train: steps must be a positive integer; got -1"),
    ("train batch bool", lambda: train(LSTM(6, 4, 4), Recall(delay=2), batch_size=True),
     "train: batch_size must be a positive integer; got True"),
    ("train seed -1", lambda: train(LSTM(6, 4, 4), Recall(delay=2), seed=i64(-1)),
     "train: seed must be a whole number ≥ 0; got np.int64(-1)"),
    ("train seed str", lambda: train(LSTM(6, 4, 4), Recall(delay=2), seed="0"),
     "train: seed must be a whole number ≥ 0; got '0'"),
    ("train clip 0", lambda: train(LSTM(6, 4, 4), Recall(delay=2), clip=0),
     "train: clip must be a positive finite number (or None); got 0"),
    ("train clip inf", lambda: train(LSTM(6, 4, 4), Recall(delay=2), clip=f64(np.inf)),
     "train: clip must be a positive finite number (or None); got np.float64(inf)"),
    ("train clip bool", lambda: train(LSTM(6, 4, 4), Recall(delay=2), clip=True),
     "train: clip must be a positive finite number (or None); got True"),
    ("train bptt_window 0", lambda: train(LSTM(6, 4, 4), Recall(delay=2), bptt_window=i64(0)),
     "train: bptt_window must be a positive integer (or None); got np.int64(0)"),
    ("train bptt_window float", lambda: train(LSTM(6, 4, 4), Recall(delay=2), bptt_window=2.0),
     "train: bptt_window must be a positive integer (or None); got 2.0"),
    ("SGD lr 0", lambda: SGD(_params(), lr=0), "SGD: lr must be a positive finite number; got 0"),
    ("SGD lr nan", lambda: SGD(_params(), lr=f32(np.nan)),
     "SGD: lr must be a positive finite number; got np.float32(nan)"),
    ("SGD lr str", lambda: SGD(_params(), lr="0.1"), "SGD: lr must be a positive finite number; got '0.1'"),
    ("SGD momentum 1", lambda: SGD(_params(), lr=0.1, momentum=1),
     "SGD: momentum must be a number in [0, 1); got 1"),
    ("SGD momentum bool", lambda: SGD(_params(), lr=0.1, momentum=True),
     "SGD: momentum must be a number in [0, 1); got True"),
    ("Adam lr inf", lambda: Adam(_params(), lr=np.inf), "Adam: lr must be a positive finite number; got inf"),
    ("Adam beta 1", lambda: Adam(_params(), betas=(0.9, 1.0)),
     "Adam: betas[1] must be a number in [0, 1); got 1.0"),
    ("Adam beta bool", lambda: Adam(_params(), betas=(True, 0.9)),
     "Adam: betas[0] must be a number in [0, 1); got True"),
    ("Adam betas one", lambda: Adam(_params(), betas=0.9),
     "Adam: betas must be two numbers in [0, 1); got 0.9"),
    ("Adam eps 0", lambda: Adam(_params(), eps=i64(0)),
     "Adam: eps must be a positive finite number; got np.int64(0)"),
    ("clip_grad_norm -1", lambda: clip_grad_norm(_params(), max_norm=-1),
     "clip_grad_norm: max_norm must be a positive finite number; got -1"),
    ("compare eps 0", lambda: compare(RNN(2, 2, 2), np.ones((2, 2)), [0, 1], eps=0),
     "compare: eps must be a small positive number such as 1e-6; got 0"),
    ("compare eps inf", lambda: compare(RNN(2, 2, 2), np.ones((2, 2)), [0, 1], eps=f64(np.inf)),
     "compare: eps must be a small positive number such as 1e-6; got np.float64(inf)"),
    ("compare max_fd_elements -1", lambda: compare(RNN(2, 2, 2), np.ones((2, 2)), [0, 1], max_fd_elements=-1),
     "compare: max_fd_elements must be a whole number ≥ 0 (or None); got -1"),
    ("SGD lr huge int", lambda: SGD(_params(), lr=10 ** 400),
     f"SGD: lr must be a positive finite number; got {'1' + '0' * 59}… (401 characters)"),
    ("clip_grad_norm huge int", lambda: clip_grad_norm(_params(), max_norm=-10 ** 400),
     f"clip_grad_norm: max_norm must be a positive finite number; got -{'1' + '0' * 58}… (402 characters)"),
    ("LSTM forget_bias huge", lambda: LSTM(3, 4, 2, forget_bias=10 ** 309),
     f"forget_bias must be a finite number; got {'1' + '0' * 59}… (310 characters)"),
    ("train diverge_factor 1", lambda: train(LSTM(6, 4, 4), Recall(delay=2), diverge_factor=1),
     "train: diverge_factor must be a finite number greater than 1 (how many times the first loss counts as "
     "diverging), or None to turn the check off; got 1"),
    ("compare max_fd_elements float", lambda: compare(RNN(2, 2, 2), np.ones((2, 2)), [0, 1],
                                                      max_fd_elements=5.0),
     "compare: max_fd_elements must be a whole number ≥ 0 (or None); got 5.0"),
]


def _params():
    return [Tensor(np.ones(3), requires_grad=True)]


FLAGS = [   # flags take True or False (numpy's too), never a truthy string or a number
    ("train compiled", lambda v: train(LSTM(6, 4, 4), Recall(delay=2), steps=1, compiled=v),
     "train: compiled"),
    ("interop strict", lambda v: from_torch_state_dict(to_torch_state_dict(LSTM(2, 3, 2)), strict=v),
     "from_torch_state_dict: strict"),
    ("draw_graph show_values", lambda v: draw_graph(Tensor([1.0]), show_values=v), "draw_graph: show_values"),
    ("draw_graph force", lambda v: draw_graph(Tensor([1.0]), force=v), "draw_graph: force"),
    ("Tensor requires_grad", lambda v: Tensor([1.0], requires_grad=v), "Tensor: requires_grad"),
]


@pytest.mark.parametrize("value", ["no", "False", 0, 1, None, 1.0])
@pytest.mark.parametrize("what, call, named", FLAGS, ids=[f[0] for f in FLAGS])
def test_flags_refuse_anything_but_true_or_false(what, call, named, value):
    with pytest.raises(TypeError) as caught:
        call(value)
    assert str(caught.value) == f"{named} must be True or False; got {value!r}"


@pytest.mark.parametrize("what, call, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_arguments_are_refused_quoting_the_value_given(what, call, message):
    with pytest.raises(ValueError) as caught:
        call()
    assert str(caught.value) == message


# --- masks ---------------------------------------------------------------------------------

def _loss_inputs():
    model = LSTM(3, 4, 2, seed=0)
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((3, 2, 3)), rng.integers(0, 2, size=(3, 2))
    mask = np.array([[True, False], [False, True], [True, True]])
    return model, xs, ys, mask


@pytest.mark.parametrize("compiled", [False, True])
def test_a_tensor_mask_of_true_false_is_accepted_like_the_bool_array(compiled):
    model, xs, ys, mask = _loss_inputs()
    if compiled:
        program = model.compile()
        expected, got = (program.loss_and_grad(xs, ys, mask=m) for m in (mask, Tensor(mask)))
    else:
        expected, got = (model.loss(xs, ys, mask=m).item() for m in (mask, Tensor(mask)))
    assert got == expected


def test_a_tensor_mask_of_other_values_is_refused_with_advice():
    model, xs, ys, mask = _loss_inputs()
    with pytest.raises(ValueError, match="Tensor mask must hold only 1.0/0.0.*pass a numpy bool array"):
        model.loss(xs, ys, mask=Tensor(mask * 0.5))


def test_a_float_array_mask_is_still_refused():
    model, xs, ys, mask = _loss_inputs()
    with pytest.raises(ValueError, match=r"mask must be bool of shape \(3, 2\).*got float64"):
        model.loss(xs, ys, mask=mask.astype(float))


def test_a_tensor_mask_of_the_wrong_shape_says_so():
    model, xs, ys, mask = _loss_inputs()
    with pytest.raises(ValueError, match=r"mask must be bool of shape \(3, 2\).*shape \(2, 3\)"):
        model.loss(xs, ys, mask=Tensor(mask.T))


# --- a failing progress callback -----------------------------------------------------------

class Broken(Exception):
    pass


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("fail_at", [1, 3])
def test_a_failing_progress_callback_leaves_the_weights_it_last_saw(compiled, fail_at):
    model = LSTM(6, 4, 4, seed=0)
    initial = [p.data.copy() for p in model.parameters()]
    seen = []

    def progress(step, loss, accuracy):
        if step == fail_at:
            raise Broken("the progress bar broke")
        seen.append([p.data.copy() for p in model.parameters()])

    with pytest.raises(Broken):
        train(model, Recall(delay=2), steps=10, batch_size=4, progress=progress, compiled=compiled)
    expected = initial if fail_at == 1 else seen[-1]
    for p, before in zip(model.parameters(), expected):
        np.testing.assert_array_equal(p.data, before)
    if fail_at > 1:
        assert not np.array_equal(seen[-1][0], initial[0])        # updates before the failure are kept


@pytest.mark.parametrize("seed", [-1, np.int64(-1), True, "0"])
def test_the_gradient_plot_quotes_the_seed_it_was_given(tmp_path, seed):
    from tinygrad_lstm.viz.plots import vanishing_gradient_demo
    with pytest.raises(ValueError, match=rf"seed must be a whole number ≥ 0; got {re.escape(repr(seed))}$"):
        vanishing_gradient_demo(tmp_path / "p.svg", steps=3, seed=seed)


def test_train_takes_a_numpy_integer_clip():
    task = make_task("next-char")
    model = LSTM(task.input_size, 4, task.output_size, seed=0)
    result = train(model, task, steps=2, clip=np.int64(1), seed=0)
    assert result.steps == 2
