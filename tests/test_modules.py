"""Models feel like torch modules: parameters as attributes (model.W_f, model.layer2.W_f),
a repr that shows the sizes and the parameters, and Linear taking numpy input as LSTM does."""
import copy
import pickle

import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.nn import LSTM, RNN, Linear, LSTMCell, RNNCell

from .helpers import assert_clear_error
from .test_state_dict import CONFIGS, IDS


@pytest.mark.parametrize("x", [np.array([1.0, 2.0, -1.0]), [1.0, 2.0, -1.0], [1, 2, -1]],
                         ids=["numpy", "list", "ints"])
def test_linear_takes_numpy_arrays_and_lists(x):
    layer = Linear(3, 2, seed=0)
    W, b = layer.parameters()
    y = layer(x)
    np.testing.assert_allclose(y.data, W.data @ np.array([1.0, 2.0, -1.0]) + b.data, rtol=1e-15)
    np.testing.assert_array_equal(y.data, layer(Tensor(np.array([1.0, 2.0, -1.0]))).data)
    y.sum().backward()                           # dL/dW = 1 xᵀ: the numpy input is a constant leaf
    np.testing.assert_array_equal(W.grad, np.tile([1.0, 2.0, -1.0], (2, 1)))


def test_linear_converts_input_to_its_dtype_and_takes_batches():
    layer = Linear(3, 2, seed=0, dtype="float32")
    rows = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = layer(rows)
    assert y.shape == (4, 2) and y.dtype == np.float32
    W, b = layer.parameters()
    np.testing.assert_allclose(y.data, rows @ W.data.T + b.data, rtol=1e-6)


BAD = [
    ("text", lambda: Linear(3, 2)("abc"), TypeError, ["Linear: x:", "real numbers", "<U3"]),
    ("ragged", lambda: Linear(3, 2)([[1, 2, 3], [4]]), ValueError, ["Linear: x:", "ragged"]),
    ("None", lambda: Linear(3, 2)(None), TypeError, ["Linear: x:", "numbers"]),
    ("wrong width", lambda: Linear(3, 2)(np.ones(4)), ValueError, ["affine", "(4,)", "(2, 3)", "align"]),
    ("3-d", lambda: Linear(3, 2)(np.ones((2, 2, 3))), ValueError, ["affine", "(n,) or (B, n)", "(2, 2, 3)"]),
]


@pytest.mark.parametrize("what, call, exc, pieces", BAD, ids=[b[0] for b in BAD])
def test_bad_linear_input_is_named(what, call, exc, pieces):
    assert_clear_error(call, exc, pieces)


@pytest.mark.parametrize("make, options", CONFIGS, ids=IDS)
def test_every_parameter_is_an_attribute_under_its_name(make, options):
    model = make(3, 4, 2, seed=0, **options)
    for name, p in model.named_parameters():
        assert getattr(model, name) is p, name
        owner = model
        for part in name.split(".")[:-1]:        # "layer2.W_f" is model.layer2.W_f
            owner = getattr(owner, part)
        assert getattr(owner, name.split(".")[-1]) is p, name
    for k, cell in enumerate(model.cells, start=1):
        assert getattr(model, f"layer{k}") is cell
    assert model.output.W_y is model.W_y if make is LSTM else model.output.W_hy is model.W_hy


def test_cells_and_linear_answer_to_their_names():
    cell = LSTMCell(3, 2, prefix="layer2.")
    assert cell.W_f is getattr(cell, "layer2.W_f") is dict(cell.named_parameters())["layer2.W_f"]
    assert RNNCell(3, 2).W_hh.shape == (2, 2)
    layer = Linear(3, 2, names=("weight", "bias"))
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)
    assert "W_f" in dir(cell) and "layer2" in dir(LSTM(3, 4, 2, num_layers=2)) and "W_y" in dir(LSTM(3, 4, 2))


def test_changing_a_parameter_through_its_attribute_changes_the_model():
    model = LSTM(3, 4, 2, seed=0)
    model.W_y.data = np.zeros((2, 4))
    model.b_y.data = np.array([1.0, -1.0])
    np.testing.assert_array_equal(model(np.ones((5, 3)))[0].data, np.tile([1.0, -1.0], (5, 1)))


def test_copies_and_pickles_keep_their_attributes():
    model = LSTM(3, 4, 2, num_layers=2, seed=0)
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert twin.layer2.W_f is dict(twin.named_parameters())["layer2.W_f"]
        assert twin.W_f is not model.W_f
        np.testing.assert_array_equal(twin.W_f.data, model.W_f.data)


def test_an_unknown_attribute_is_an_attribute_error_that_helps():
    model = LSTM(3, 4, 2, num_layers=2)
    assert not hasattr(model, "W_z") and not hasattr(RNN(3, 4, 2), "W_f")
    assert RNN(3, 4, 2).peephole is False          # a class default, read on every unroll
    assert getattr(model, "weight_ih_l0", None) is None
    assert_clear_error(lambda: model.W_ff, AttributeError,
                       ["LSTM has no attribute 'W_ff' (did you mean 'W_f'",
                        "its parameters are W_f, W_i, W_c, W_o, b_f, b_i, b_c, b_o, W_y, b_y",
                        "the same under layer2. (as model.layer2.W_f)"])
    assert_clear_error(lambda: model.hidden, AttributeError, ["'hidden'", "did you mean 'hidden_size'?"])
    assert_clear_error(lambda: model.layer3, AttributeError, ["'layer3'", "did you mean", "'layer2'"])
    assert_clear_error(lambda: RNN(3, 4, 2).W_f, AttributeError,
                       ["RNN has no attribute 'W_f'", "its parameters are W_xh, W_hh, b_h, W_hy, b_y"])
    assert_clear_error(lambda: Linear(3, 2).w, AttributeError, ["Linear has no attribute 'w'", "W, b"])


def test_assigning_to_a_parameter_s_name_is_refused():
    model = LSTM(3, 4, 2, num_layers=2)
    W_f, layer2 = model.W_f, model.layer2
    assert_clear_error(lambda: setattr(model, "W_f", np.zeros((4, 7))), AttributeError,
                       ["LSTM.W_f is a parameter", "never reads", "model.W_f.data = array",
                        "load_state_dict({'W_f': array})"])
    assert_clear_error(lambda: setattr(model.layer2, "W_f", None), AttributeError,
                       ["LSTMCell.W_f is a parameter", "load_state_dict({'layer2.W_f': array})"])
    assert_clear_error(lambda: setattr(model, "layer2", None), AttributeError,
                       ["LSTM.layer2 is one of its layers", "cannot be replaced"])
    assert model.W_f is W_f and model.layer2 is layer2 and "W_f" not in vars(model)
    model.note = "other attributes are free"
    assert model.note == "other attributes are free"


def test_repr_shows_the_sizes_and_the_parameters():
    assert repr(LSTM(3, 4, 3)) == (
        "LSTM(input_size=3, hidden_size=4, output_size=3, num_layers=1, bias=True, peephole=False, "
        "dtype='float64')\n"
        "  W_f, W_i, W_c, W_o: (4, 7)\n"
        "  b_f, b_i, b_c, b_o: (4,)\n"
        "  W_y: (3, 4)\n"
        "  b_y: (3,)")
    assert str(LSTM(3, 4, 2, num_layers=2, peephole=True, bias=False, dtype="float32")) == (
        "LSTM(input_size=3, hidden_size=4, output_size=2, num_layers=2, bias=False, peephole=True, "
        "dtype='float32')\n"
        "  W_f, W_i, W_c, W_o: (4, 7)\n"
        "  p_f, p_i, p_o: (4,)\n"
        "  layer2.W_f, layer2.W_i, layer2.W_c, layer2.W_o: (4, 8)\n"
        "  layer2.p_f, layer2.p_i, layer2.p_o: (4,)\n"
        "  W_y: (2, 4)")
    assert repr(RNN(3, 5, 2)) == (
        "RNN(input_size=3, hidden_size=5, output_size=2, num_layers=1, bias=True, dtype='float64')\n"
        "  W_xh: (5, 3)\n  W_hh: (5, 5)\n  b_h: (5,)\n  W_hy: (2, 5)\n  b_y: (2,)")


def test_the_parts_have_a_repr_too():
    assert repr(Linear(3, 2, bias=False)) == (
        "Linear(in_features=3, out_features=2, bias=False, dtype='float64')\n  W: (2, 3)")
    assert repr(LSTM(3, 4, 2).output) == (
        "Linear(in_features=4, out_features=2, bias=True, dtype='float64', names=('W_y', 'b_y'))\n"
        "  W_y: (2, 4)\n  b_y: (2,)")
    assert repr(LSTM(3, 4, 2, num_layers=2).layer2).splitlines() == [
        "LSTMCell(input_size=4, hidden_size=4, bias=True, peephole=False, dtype='float64', prefix='layer2.')",
        "  layer2.W_f, layer2.W_i, layer2.W_c, layer2.W_o: (4, 8)",
        "  layer2.b_f, layer2.b_i, layer2.b_c, layer2.b_o: (4,)"]
    assert repr(RNNCell(3, 2)).splitlines()[0] == (
        "RNNCell(input_size=3, hidden_size=2, bias=True, dtype='float64')")
