"""Weights by name go into a model whole or not at all (state_dict.py): every key and every
value is checked first, one error names every problem, and nothing changes when it fails."""
import numpy as np
import pytest

from tinygrad_lstm.interop import from_torch_state_dict, to_torch_state_dict
from tinygrad_lstm.nn import LSTM

from .helpers import assert_clear_error
from .test_nn import randomize


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
def test_load_refuses_a_file_of_non_finite_weights(tmp_path, bad):
    model = LSTM(3, 4, 2, seed=0)
    dict(model.named_parameters())["b_y"].data = np.array([bad, 0.0])
    path = model.save(tmp_path / "diverged.npz")
    assert_clear_error(lambda: LSTM.load(path), ValueError,
                       ["cannot load", "diverged.npz", "'b_y' holds 1 non-finite value(s) (NaN or infinity)"])
