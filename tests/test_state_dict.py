"""state_dict() and load_state_dict() as a torch user expects them, and the checks behind
them (state_dict.py): weights by name go into a model whole or not at all, every key and
every value checked first, one error naming every problem."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.interop import from_torch_state_dict, to_torch_state_dict
from tinygrad_lstm.nn import LSTM, RNN, Linear, LSTMCell

from .helpers import assert_clear_error
from .test_nn import data, randomize

CONFIGS = [
    (LSTM, {}), (LSTM, {"bias": False}), (LSTM, {"peephole": True}), (LSTM, {"num_layers": 2}),
    (LSTM, {"num_layers": 3, "peephole": True, "bias": False}), (LSTM, {"dtype": "float32"}),
    (RNN, {}), (RNN, {"bias": False}), (RNN, {"num_layers": 2}),
]
IDS = [f"{m.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for m, kw in CONFIGS]


def arrays_of(model):
    return {name: p.data.copy() for name, p in model.named_parameters()}


def test_assign_names_every_bad_value_and_changes_nothing():
    model = randomize(LSTM(3, 4, 2, seed=0))
    before = arrays_of(model)
    weights = {**arrays_of(LSTM(3, 4, 2, seed=1)), "W_f": np.ones((4, 6)), "b_i": np.full(4, np.nan),
               "b_o": np.zeros(4, dtype=complex), "W_y": [[0.0] * 4] * 2}
    assert_clear_error(lambda: model.assign(weights), ValueError,
                       ["cannot load the given weights into this LSTM:",
                        "'W_f' has shape (4, 6), expected (4, 7)", "'b_i' holds 4 non-finite value(s)",
                        "'b_o' must be an array of real numbers", "complex",
                        "'W_y' must be a numpy array or a tensor; got list"])
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name], err_msg=name)


def test_only_type_problems_are_a_type_error():
    model = LSTM(3, 4, 2, seed=0)
    weights = {**arrays_of(model), "b_f": np.zeros(4, dtype=bool), "b_y": "0.5"}
    assert_clear_error(lambda: model.assign(weights), TypeError,
                       ["'b_f' must be an array of real numbers; got ndarray of dtype bool",
                        "'b_y' must be a numpy array or a tensor; got str"])


def test_a_value_too_large_for_float32_is_named_as_such():
    model = LSTM(3, 4, 2, seed=0, dtype="float32")
    weights = {**arrays_of(model), "W_c": np.full((4, 7), 1e39)}
    assert_clear_error(lambda: model.assign(weights), ValueError,
                       ["'W_c' holds 28 non-finite value(s)", "once converted to float32 (beyond its range)"])


def test_assigned_arrays_are_new_and_in_the_model_s_dtype():
    model = LSTM(3, 4, 2, seed=0, dtype="float32")
    weights = arrays_of(randomize(LSTM(3, 4, 2, seed=1)))          # float64
    model.assign(weights)
    for name, p in model.named_parameters():
        assert p.data.dtype == np.float32 and p.data is not weights[name]
        np.testing.assert_array_equal(p.data, weights[name].astype(np.float32))
    weights["W_f"][:] = 7.0                                         # the caller's arrays stay the caller's
    assert not np.any(dict(model.named_parameters())["W_f"].data == 7.0)


def test_from_torch_state_dict_names_every_bad_value_at_once():
    sd = to_torch_state_dict(randomize(LSTM(3, 4, 2, seed=0)))
    sd.update({"lstm.bias_ih_l0": np.full(16, np.inf), "out.weight": np.zeros((2, 4), dtype=complex)})
    assert_clear_error(lambda: from_torch_state_dict(sd), ValueError,
                       ["from_torch_state_dict: ", "'lstm.bias_ih_l0' holds 16 non-finite value(s)",
                        "'out.weight' must be an array of real numbers"])


@pytest.mark.parametrize("bad", [np.nan, -np.inf], ids=["nan", "inf"])
def test_load_refuses_a_file_of_non_finite_weights(tmp_path, bad, monkeypatch):
    model = LSTM(3, 4, 2, seed=0)
    dict(model.named_parameters())["b_y"].data = np.array([bad, 0.0])
    assert_clear_error(lambda: model.save(tmp_path / "refused.npz"), ValueError,
                       ["LSTM.save: parameters hold NaN or infinite values: b_y (1 of 2)",
                        "nothing was written"])
    assert not (tmp_path / "refused.npz").exists()
    monkeypatch.setattr(LSTM, "_check_parameters_finite", lambda self, who: None)   # a file from elsewhere
    path = model.save(tmp_path / "diverged.npz")
    assert_clear_error(lambda: LSTM.load(path), ValueError,
                       ["cannot load", "diverged.npz", "'b_y' holds 1 non-finite value(s) (NaN or infinity)"])


@pytest.mark.parametrize("make, options", CONFIGS, ids=IDS)
def test_a_state_dict_round_trips_into_a_fresh_model(make, options):
    model = randomize(make(3, 4, 2, seed=0, **options))
    for _, p in model.named_parameters():                  # randomize() gives float64
        p.data = p.data.astype(model.dtype)
    state = model.state_dict()
    assert list(state) == [name for name, _ in model.named_parameters()]     # the same names, in order
    for name, p in model.named_parameters():
        assert state[name].dtype == p.dtype and not np.shares_memory(state[name], p.data), name
        np.testing.assert_array_equal(state[name], p.data, err_msg=name)
    other = make(3, 4, 2, seed=1, **options)
    assert other.load_state_dict(state) == ([], [])
    for (name, p), (_, q) in zip(model.named_parameters(), other.named_parameters()):
        assert q.dtype == p.dtype and not np.shares_memory(q.data, state[name]), name
        np.testing.assert_array_equal(q.data, p.data, err_msg=name)
    xs, _, h0, c0 = data(model, T=5, B=2)
    np.testing.assert_array_equal(other(xs, h0, c0)[0].data, model(xs, h0, c0)[0].data)
    assert other.load_state_dict(state, strict=False) == ([], [])


def test_a_state_dict_is_a_snapshot_not_a_view():
    model = randomize(LSTM(3, 4, 2, seed=0))
    best = model.state_dict()
    W_f = dict(model.named_parameters())["W_f"]
    kept = W_f.data.copy()
    W_f.data -= 0.5                                   # an optimizer step, in place
    np.testing.assert_array_equal(best["W_f"], kept)  # the state taken before does not move
    best["W_f"][:] = 0.0                              # and writing into it leaves the model alone
    np.testing.assert_array_equal(W_f.data, kept - 0.5)


def test_loading_replaces_arrays_so_a_graph_built_before_still_backpropagates():
    """load_state_dict gives each parameter a new array (no in-place write), so backward() on a
    graph built before it runs, at the values that graph saw (versions.py)."""
    model, twin = randomize(LSTM(3, 4, 2, seed=0)), randomize(LSTM(3, 4, 2, seed=0))
    xs, ys, _, _ = data(model, T=3)
    loss = model.loss(xs, ys)
    model.load_state_dict(LSTM(3, 4, 2, seed=5).state_dict())
    loss.backward()
    twin.loss(xs, ys).backward()
    for (name, p), (_, q) in zip(model.named_parameters(), twin.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-13, atol=1e-15, err_msg=name)


def test_strict_names_every_missing_and_unexpected_key_and_changes_nothing():
    model = randomize(LSTM(3, 4, 2, num_layers=2, seed=0))
    before = model.state_dict()
    state = {k: v for k, v in LSTM(3, 4, 2, num_layers=2, seed=1).state_dict().items()
             if k not in ("b_y", "layer2.W_c")}
    state.update({"W_z": np.ones(2), 7: np.ones(1), "b_f": np.ones(5)})
    assert_clear_error(lambda: model.load_state_dict(state), ValueError,
                       ["LSTM.load_state_dict: missing 'layer2.W_c', 'b_y'; unexpected 'W_z', 7",
                        "strict=False", "'b_f' has shape (5,), expected (4,)"])
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name], err_msg=name)


def test_strict_false_loads_what_matches_and_returns_the_rest():
    model = randomize(LSTM(3, 4, 2, seed=0))
    before, source = model.state_dict(), LSTM(3, 4, 2, seed=1).state_dict()
    partial = {"W_f": source["W_f"], "b_f": Tensor(source["b_f"]), "head.weight": np.ones((2, 2))}
    result = model.load_state_dict(partial, strict=False)
    assert result.unexpected_keys == ["head.weight"]
    assert result.missing_keys == [n for n in before if n not in ("W_f", "b_f")]
    P = dict(model.named_parameters())
    np.testing.assert_array_equal(P["W_f"].data, source["W_f"])
    np.testing.assert_array_equal(P["b_f"].data, source["b_f"])
    for name in result.missing_keys:                     # kept their values
        np.testing.assert_array_equal(P[name].data, before[name], err_msg=name)
    bad = {"W_f": np.ones((4, 6)), "W_i": np.full((4, 7), np.nan)}    # strict=False is about keys only
    assert_clear_error(lambda: model.load_state_dict(bad, strict=False), ValueError,
                       ["'W_f' has shape (4, 6), expected (4, 7)", "'W_i' holds 28 non-finite"])
    np.testing.assert_array_equal(P["W_f"].data, source["W_f"])


def test_values_are_converted_to_the_model_s_dtype():
    model = LSTM(3, 4, 2, seed=0, dtype="float32")
    state = {name: value.astype(np.float64) for name, value in randomize(LSTM(3, 4, 2)).state_dict().items()}
    state["b_y"] = np.array([1, -2])                       # integers are numbers too
    model.load_state_dict(state)
    for name, p in model.named_parameters():
        assert p.dtype == np.float32, name
        np.testing.assert_array_equal(p.data, state[name].astype(np.float32), err_msg=name)


def test_every_module_has_a_state_dict():
    layer = Linear(3, 2, seed=0)
    assert list(layer.state_dict()) == ["W", "b"]
    layer.load_state_dict({"W": np.ones((2, 3)), "b": np.zeros(2)})
    np.testing.assert_array_equal(layer(np.ones(3)).data, [3.0, 3.0])
    cell = LSTMCell(3, 2, prefix="layer2.")
    assert list(cell.state_dict())[:2] == ["layer2.W_f", "layer2.W_i"]
    model = LSTM(3, 4, 2)                                  # a sub-module shares its model's parameters
    model.output.load_state_dict({"W_y": np.zeros((2, 4)), "b_y": np.ones(2)})
    np.testing.assert_array_equal(model(np.ones((2, 3)))[0].data, np.ones((2, 2)))


def load_replacing(model, **values):
    """Load the model's own state with some values replaced."""
    return model.load_state_dict({**model.state_dict(), **values})


BAD = [
    ("strict not a bool", lambda m: m.load_state_dict(m.state_dict(), strict="yes"), TypeError,
     ["LSTM.load_state_dict: strict", "True or False", "'yes'"]),
    ("a list of pairs", lambda m: m.load_state_dict(list(m.state_dict().items())), TypeError,
     ["LSTM.load_state_dict:", "mapping of arrays by name", "list"]),
    ("a list value", lambda m: load_replacing(m, b_y=[0.0, 0.0]), TypeError,
     ["'b_y' must be a numpy array or a tensor; got list"]),
    ("strings", lambda m: load_replacing(m, b_y=np.array(["a", "b"])), TypeError,
     ["'b_y' must be an array of real numbers", "<U1"]),
    ("a scalar for a vector", lambda m: load_replacing(m, b_f=np.float64(3)), ValueError,
     ["'b_f' has shape (), expected (4,)"]),
    ("a transposed matrix", lambda m: load_replacing(m, W_y=np.ones((4, 2))), ValueError,
     ["'W_y' has shape (4, 2), expected (2, 4)"]),
    ("an RNN's state", lambda m: m.load_state_dict(RNN(3, 4, 2).state_dict()), ValueError,
     ["missing 'W_f', 'W_i', 'W_c', 'W_o', 'b_f'", "unexpected 'W_xh', 'W_hh', 'b_h', 'W_hy'"]),
    ("many unexpected keys",
     lambda m: m.load_state_dict({**m.state_dict(), **{f"x{i}": 0 for i in range(500)}}), ValueError,
     ["unexpected 'x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', … (500 in all) (load_state_dict("]),
    ("many missing keys", lambda m: m.load_state_dict({}), ValueError,
     ["missing 'W_f', 'W_i', 'W_c', 'W_o', 'b_f', 'b_i', 'b_c', 'b_o', … (10 in all) (load_state_dict("]),
]


@pytest.mark.parametrize("what, call, exc, pieces", BAD, ids=[b[0] for b in BAD])
def test_a_bad_state_is_named(what, call, exc, pieces):
    model = LSTM(3, 4, 2, seed=0)
    before = model.state_dict()
    assert_clear_error(lambda: call(model), exc, pieces)
    assert all(np.array_equal(p.data, before[n]) for n, p in model.named_parameters())


def test_the_keys_reported_are_those_torch_reports():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Linear(3, 2).double()
    ours = Linear(3, 2, names=("weight", "bias"))
    state = {"weight": np.ones((2, 3)), "extra": np.ones(1)}
    expected = theirs.load_state_dict({k: torch.tensor(v) for k, v in state.items()}, strict=False)
    assert ours.load_state_dict(state, strict=False) == (expected.missing_keys, expected.unexpected_keys)
    assert (expected.missing_keys, expected.unexpected_keys) == (["bias"], ["extra"])
    ours.load_state_dict({k: v.detach().clone() for k, v in theirs.state_dict().items()})   # torch tensors
    np.testing.assert_array_equal(ours(np.ones(3)).data, theirs(torch.ones(3, dtype=torch.float64)).detach())


def test_a_compiled_model_sees_the_loaded_weights():
    """The compiled program reads the parameters on every call, and loading replaces them."""
    model = LSTM(3, 4, 2, num_layers=2, seed=0)
    xs, ys, _, _ = data(model, T=5, B=2)
    compiled = model.compile()
    before = compiled.loss_and_grad(xs, ys)
    model.load_state_dict(LSTM(3, 4, 2, num_layers=2, seed=9).state_dict())
    after = compiled.loss_and_grad(xs, ys)
    assert after != before
    assert after == pytest.approx(LSTM(3, 4, 2, num_layers=2, seed=9).loss(xs, ys).item(), rel=1e-12)
