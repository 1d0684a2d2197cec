"""benchmarks/numpy_lstm.py, the fastest vectorised numpy we could write, against bptt.py,
the hand-derived witness written to be read: the speed lives in the one, the derivation in
the other, and timing them against each other (benchmarks/lstm.py) only means something if
the two compute the same gradients."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tinygrad_lstm.bptt import lstm_gradients

REFERENCE = Path(__file__).resolve().parents[1] / "benchmarks" / "numpy_lstm.py"
O = 5


def load_reference():
    """benchmarks/ is a folder of scripts, not a package: load the file as a module."""
    spec = importlib.util.spec_from_file_location("numpy_lstm", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


numpy_lstm = load_reference()


def problem(I, H, B, T, seed, scale=0.5):
    """Random parameters (every gate its own weights, so a swapped gate shows), inputs and
    class targets, as benchmarks/lstm.py passes them."""
    rng = np.random.default_rng(seed)
    params = {"W_" + g: rng.normal(0, scale, (H, H + I)) for g in "fico"}
    params.update({"b_" + g: rng.normal(0, scale, H) for g in "fico"})
    params["W_y"] = rng.normal(0, 0.8, (O, H))
    params["b_y"] = rng.normal(0, 0.5, O)
    return params, rng.normal(size=(T, B, I)), rng.integers(0, O, size=(T, B))


@pytest.mark.parametrize("I, H, B, T", [(3, 4, 1, 6), (5, 3, 4, 7)], ids=["B=1", "B=4"])
def test_float64_gradients_equal_bptts(I, H, B, T):
    params, xs, ys = problem(I, H, B, T, seed=B)
    ours = numpy_lstm.lstm_gradients(params, xs, ys)
    hand = lstm_gradients(params, xs, ys)
    assert set(ours) == set(params) | {"loss"}
    np.testing.assert_allclose(ours["loss"], hand["loss"], rtol=1e-12)
    for name in params:
        assert ours[name].shape == params[name].shape and ours[name].dtype == np.float64, name
        assert np.abs(hand[name]).max() > 1e-3, name      # big enough for the check to bite
        np.testing.assert_allclose(ours[name], hand[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_float32_is_computed_in_float32_and_agrees():
    params, xs, ys = problem(4, 5, 3, 8, seed=3)
    ours = numpy_lstm.lstm_gradients({n: p.astype(np.float32) for n, p in params.items()},
                                     xs.astype(np.float32), ys)
    hand = lstm_gradients(params, xs, ys)
    for name in params:
        assert ours[name].dtype == np.float32, name
        np.testing.assert_allclose(ours[name], hand[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_saturated_gates_give_no_overflow_warning():
    """Weights large enough that e^(−x) overflows in σ: the result is still exact (σ = 0)
    and nothing warns (RuntimeWarnings are errors in this suite)."""
    params, xs, ys = problem(3, 4, 2, 5, seed=5, scale=400.0)
    ours = numpy_lstm.lstm_gradients(params, xs, ys)
    hand = lstm_gradients(params, xs, ys)
    for name in params:
        np.testing.assert_allclose(ours[name], hand[name], rtol=1e-10, atol=1e-12, err_msg=name)
