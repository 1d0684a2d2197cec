"""from_torch_state_dict is strict like torch's load_state_dict: a bad state dict is refused
with a message naming the key, the shape found and the shape expected, before any numpy
broadcast or concatenation error can occur. strict=False allows extra keys only."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.interop import from_torch_state_dict, to_torch_state_dict
from tinygrad_lstm.nn import LSTM, RNN

from .helpers import assert_clear_error
from .test_nn import randomize

I, H, O = 3, 4, 5
MODELS = [(make, layers, bias) for make in (LSTM, RNN) for layers in (1, 2) for bias in (True, False)]


def model_of(make, layers, bias):
    return randomize(make(I, H, O, num_layers=layers, bias=bias, seed=0))


def valid(make=LSTM, layers=2, bias=True):
    return to_torch_state_dict(model_of(make, layers, bias))


def without(sd, *names):
    return {k: v for k, v in sd.items() if k not in names}


def replaced(sd, **values):
    """sd with some values replaced; keyword names use __ for dots (lstm__bias_ih_l0)."""
    return {**sd, **{k.replace("__", "."): v for k, v in values.items()}}


def three_layers_without_l1():
    sd = valid(layers=3)
    return without(sd, "lstm.weight_ih_l1", "lstm.weight_hh_l1", "lstm.bias_ih_l1", "lstm.bias_hh_l1")


G = 4 * H     # an LSTM's stacked gate rows


class TorchLike:
    """Has .detach() and .cpu(), as a torch tensor does, and .numpy() if one is given."""

    def __init__(self, numpy=None):
        if numpy is not None:
            self.numpy = numpy

    def detach(self):
        return self

    def cpu(self):
        return self


def boom():
    raise ValueError("boom")


def huge_but_consistent(hidden):
    """An LSTM's state dict of hidden size `hidden`, every shape right, in broadcast views."""
    shapes = {"lstm.weight_ih_l0": (4 * hidden, I), "lstm.weight_hh_l0": (4 * hidden, hidden),
              "out.weight": (O, hidden)}
    return {name: np.broadcast_to(1.0, shape) for name, shape in shapes.items()}


BAD = [
    ("missing key", lambda: without(valid(), "lstm.weight_hh_l1"), ValueError,
     ["from_torch_state_dict:", "missing 'lstm.weight_hh_l1'", "2 layers"]),
    ("missing middle layer", three_layers_without_l1, ValueError,
     ["missing 'lstm.weight_ih_l1', 'lstm.weight_hh_l1', 'lstm.bias_ih_l1', 'lstm.bias_hh_l1'", "3 layers"]),
    ("missing the first layer", lambda: without(valid(), "lstm.weight_ih_l0"), ValueError,
     ["missing 'lstm.weight_ih_l0'", "nn.LSTM or nn.RNN"]),
    ("extra key, strict", lambda: {**valid(), "head.weight": np.ones((2, 2))}, ValueError,
     ["unexpected 'head.weight'", "strict=False"]),
    ("reverse keys", lambda: {**valid(), "lstm.weight_ih_l0_reverse": np.ones((G, I))}, ValueError,
     ["'lstm.weight_ih_l0_reverse'", "bidirectional", "not supported"]),
    ("projection keys", lambda: {**valid(), "lstm.weight_hr_l0": np.ones((2, H))}, ValueError,
     ["'lstm.weight_hr_l0'", "proj_size", "not supported"]),
    ("scalar bias", lambda: replaced(valid(), lstm__bias_ih_l0=np.float64(0.5)), ValueError,
     ["lstm.bias_ih_l0 has shape ()", f"expected ({G},)"]),
    ("0-d array bias", lambda: replaced(valid(), lstm__bias_hh_l1=np.array(0.5)), ValueError,
     ["lstm.bias_hh_l1 has shape ()", f"expected ({G},)"]),
    ("wrong hidden size in layer 1",
     lambda: replaced(valid(), lstm__weight_hh_l1=np.ones((4 * 5, 5))), ValueError,
     [f"lstm.weight_hh_l1 has shape (20, 5), expected ({G}, {H})", f"hidden size {H}"]),
    ("weight_hh not (4H, H)", lambda: replaced(valid(), lstm__weight_hh_l0=np.ones((G, H + 1))), ValueError,
     ["lstm.weight_hh_l0", f"({G}, {H + 1})", "(4H, H)"]),
    ("weight_ih wrong input size",
     lambda: replaced(valid(), lstm__weight_ih_l1=np.ones((G, H + 1))), ValueError,
     [f"lstm.weight_ih_l1 has shape ({G}, {H + 1}), expected ({G}, {H})"]),
    ("weight_ih wrong rows", lambda: replaced(valid(), lstm__weight_ih_l0=np.ones((G - 1, I))), ValueError,
     [f"lstm.weight_ih_l0 has shape ({G - 1}, {I}), expected ({G}, {I})"]),
    ("out.weight wrong width", lambda: replaced(valid(), out__weight=np.ones((O, H + 1))), ValueError,
     [f"out.weight has shape ({O}, {H + 1}), expected ({O}, {H})"]),
    ("out.bias wrong length", lambda: replaced(valid(), out__bias=np.ones(O + 1)), ValueError,
     [f"out.bias has shape ({O + 1},), expected ({O},)"]),
    ("out.bias dropped", lambda: without(valid(), "out.bias"), ValueError,
     ["missing 'out.bias'", "biases everywhere", "or nowhere"]),
    ("out.bias on a bias-free lstm", lambda: {**valid(bias=False), "out.bias": np.zeros(O)}, ValueError,
     ["missing 'lstm.bias_ih_l0'", "biases everywhere"]),
    ("a list value", lambda: replaced(valid(), out__bias=[0.0] * O), TypeError,
     ["'out.bias'", "numpy array or a tensor", "list"]),
    ("a NaN value", lambda: replaced(valid(), lstm__weight_hh_l0=np.full((G, H), np.nan)), ValueError,
     ["'lstm.weight_hh_l0'", "non-finite", "NaN"]),
    ("an infinite value", lambda: replaced(valid(), out__weight=np.full((O, H), np.inf)), ValueError,
     ["'out.weight'", "non-finite"]),
    ("complex values", lambda: replaced(valid(), out__bias=np.zeros(O, dtype=complex)), TypeError,
     ["'out.bias'", "real numbers", "complex"]),
    ("bool values", lambda: replaced(valid(), out__bias=np.zeros(O, dtype=bool)), TypeError,
     ["'out.bias'", "real numbers", "bool"]),
    ("RNN weight_ih with LSTM rows",
     lambda: replaced(valid(RNN), lstm__weight_ih_l0=np.ones((G, I))), ValueError,
     [f"lstm.weight_ih_l0 has shape ({G}, {I}), expected ({H}, {I})", "an RNN"]),
    # shapes are checked before anything is copied: a broadcast view of a few bytes stood for 298 GiB
    ("a huge broadcast view",
     lambda: replaced(valid(), lstm__weight_ih_l1=np.broadcast_to(1.0, (4 * 10**5, 10**5))), ValueError,
     [f"lstm.weight_ih_l1 has shape (400000, 100000), expected ({G}, {H})", f"hidden size {H}"]),
    ("a huge broadcast bias",
     lambda: replaced(valid(RNN), lstm__bias_hh_l0=np.broadcast_to(1.0, (10**6, 10**6))), ValueError,
     [f"lstm.bias_hh_l0 has shape (1000000, 1000000), expected ({H},)", "an RNN"]),
    ("sizes that make a model too large to copy", lambda: huge_but_consistent(10**6), MemoryError,
     ["a float64 copy of the state dict's 4,000,017,000,000 values needs 32,000,136,000,000 bytes",
      "bytes available"]),
    ("a torch-like value whose .numpy() fails",
     lambda: replaced(valid(), out__bias=TorchLike(boom)), TypeError,
     ["'out.bias' cannot be read as a numpy array (ValueError: boom)"]),
    ("a torch-like value without .numpy()", lambda: replaced(valid(), out__weight=TorchLike()), TypeError,
     ["'out.weight' cannot be read as a numpy array (AttributeError:", "numpy"]),
    ("a torch-like value that gives a list",
     lambda: replaced(valid(), out__bias=TorchLike(lambda: [0.0] * O)), TypeError,
     ["'out.bias' must be a numpy array or a tensor; got list"]),
    # a layer index the dict cannot hold is refused at once, not listed key by key (it hung)
    ("layer index far beyond the keys", lambda: {**valid(), "lstm.weight_ih_l99999999": np.ones((G, H))},
     ValueError, ["'lstm.weight_ih_l99999999' numbers a layer beyond what the dict can hold: it has 11 keys",
                  "each layer has a weight_ih and a weight_hh", "none skipped"]),
    ("layer index of 5,000 digits", lambda: {**valid(), "lstm.bias_hh_l" + "9" * 5000: np.ones(G)},
     ValueError, ["'lstm.bias_hh_l99999", "(5016 characters) numbers a layer beyond what the dict can hold"]),
    ("layer index just beyond the keys",
     lambda: {**valid(RNN, layers=1), "lstm.weight_hh_l3": np.ones((H, H))}, ValueError,
     ["'lstm.weight_hh_l3' numbers a layer beyond what the dict can hold: it has 7 keys"]),
    ("a long list of missing keys is cut short",
     lambda: {**valid(), **{f"junk{i}": np.ones(1) for i in range(30)}, "lstm.weight_ih_l9": np.ones((G, H))},
     ValueError, ["missing 'lstm.weight_ih_l2', 'lstm.weight_hh_l2'", "'lstm.bias_hh_l3', … (31 in all);",
                  "the keys name 10 layers"]),
]


@pytest.mark.parametrize("build, exc, pieces", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_a_bad_state_dict_is_named(build, exc, pieces):
    sd = build()
    assert_clear_error(lambda: from_torch_state_dict(sd), exc, ["from_torch_state_dict:"] + pieces)
    if "unexpected" not in " ".join(pieces):          # strict=False allows extra keys, nothing else
        assert_clear_error(lambda: from_torch_state_dict(sd, strict=False), exc, pieces)


def test_strict_false_ignores_extra_keys_only():
    model = model_of(LSTM, 2, True)
    sd = {**to_torch_state_dict(model), "head.weight": [1, 2], "lstm.flat_weights": "x", 7: None}
    back = from_torch_state_dict(sd, strict=False)
    for (n, p), (_, q) in zip(model.named_parameters(), back.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)
    assert_clear_error(lambda: from_torch_state_dict(sd), ValueError,
                       ["unexpected 'head.weight', 'lstm.flat_weights', 7"])
    assert_clear_error(lambda: from_torch_state_dict(sd, strict="no"), TypeError, ["strict", "True or False"])


def test_a_long_list_of_unexpected_keys_is_cut_short():
    sd = {**valid(), **{f"junk{i}": np.ones(1) for i in range(30)}}
    assert_clear_error(lambda: from_torch_state_dict(sd), ValueError,
                       ["unexpected 'junk0', 'junk1', 'junk2', 'junk3', 'junk4', 'junk5', 'junk6', 'junk7', "
                        "… (30 in all) (strict=False ignores"])
    assert from_torch_state_dict(sd, strict=False).num_layers == 2


@pytest.mark.parametrize("make, options, name, data, expected", [
    (LSTM, {}, "W_f", np.ones((H, H + I + 1)), f"W_f has shape ({H}, {H + I + 1}), expected ({H}, {H + I})"),
    (LSTM, {"num_layers": 2}, "layer2.b_o", np.ones(H + 1),
     f"layer2.b_o has shape ({H + 1},), expected ({H},)"),
    (RNN, {}, "W_hh", np.ones((H, H + 1)), f"W_hh has shape ({H}, {H + 1}), expected ({H}, {H})"),
    (RNN, {}, "b_y", np.ones(()), f"b_y has shape (), expected ({O},)"),
])
def test_to_torch_state_dict_names_a_misshapen_parameter(make, options, name, data, expected):
    model = make(I, H, O, seed=0, **options)
    dict(model.named_parameters())[name].data = data          # .data takes any shape
    assert_clear_error(lambda: to_torch_state_dict(model), ValueError,
                       [f"to_torch_state_dict: {expected} for this model's sizes", ".data replaced"])


@pytest.mark.parametrize("make, layers, bias", MODELS)
def test_valid_dicts_round_trip_unchanged(make, layers, bias):
    model = model_of(make, layers, bias)
    sd = to_torch_state_dict(model)
    for strict in (True, False):
        back = from_torch_state_dict(sd, strict=strict)
        assert type(back) is make and back.config() == model.config()
        for (n, p), (_, q) in zip(model.named_parameters(), back.named_parameters()):
            np.testing.assert_array_equal(p.data, q.data, err_msg=n)
    ours = from_torch_state_dict({k: Tensor(v) for k, v in sd.items()})      # our Tensors are accepted too
    assert ours.config() == model.config()


@pytest.mark.parametrize("make, layers, bias", MODELS)
def test_every_single_missing_key_is_named(make, layers, bias):
    sd = to_torch_state_dict(model_of(make, layers, bias))
    for name in sd:
        if (name == "out.bias" or (not bias and name == "out.weight")
                or (bias and name.startswith("lstm.bias"))):
            pieces = [f"missing {name!r}"]
        else:
            pieces = [repr(name), "missing"]
        assert_clear_error(lambda name=name: from_torch_state_dict(without(sd, name)), ValueError, pieces)


def test_torch_state_dicts_with_torch():
    torch = pytest.importorskip("torch")
    module = torch.nn.Module()
    module.lstm = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True).double()
    module.out = torch.nn.Linear(2 * H, O).double()
    assert_clear_error(lambda: from_torch_state_dict(module.state_dict()), ValueError,
                       ["bidirectional", "_reverse"])
    module.lstm = torch.nn.LSTM(I, H, num_layers=1, proj_size=2).double()
    assert_clear_error(lambda: from_torch_state_dict(module.state_dict()), ValueError, ["proj_size"])
    module.lstm = torch.nn.LSTM(I, H, num_layers=1).double()
    module.out = torch.nn.Linear(H, O).double()
    sd = module.state_dict()
    sd["lstm.bias_ih_l0"] = torch.zeros(G, dtype=torch.bfloat16)
    assert_clear_error(lambda: from_torch_state_dict(sd), TypeError, ["'lstm.bias_ih_l0'", ".double()"])
    sd["lstm.bias_ih_l0"] = torch.tensor(0.5, dtype=torch.float64)
    assert_clear_error(lambda: from_torch_state_dict(sd), ValueError,
                       ["lstm.bias_ih_l0 has shape ()", f"({G},)"])
