"""A size that cannot fit in memory is refused before anything is allocated, with a
MemoryError naming the arguments, the bytes needed and the bytes available (not numpy's
bare "Unable to allocate ... for an array with shape ..."). checks.available_bytes is
patched to a small number so these tests are deterministic and fast."""
import tracemalloc

import numpy as np
import pytest

from tinygrad_lstm import checks
from tinygrad_lstm.data import NextChar, PartOfSpeech, Recall
from tinygrad_lstm.nn import LSTM, RNN, Linear, LSTMCell, RNNCell

AVAILABLE = 10_000_000      # 10 MB


@pytest.fixture
def small_memory(monkeypatch):
    monkeypatch.setattr(checks, "available_bytes", lambda: AVAILABLE)


def refused_with_peak(build):
    """The MemoryError `build()` raises, and the peak traced memory while it ran."""
    tracemalloc.start()
    try:
        with pytest.raises(MemoryError) as info:
            build()
        return str(info.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_available_bytes_is_a_positive_int_here():
    available = checks.available_bytes()
    assert isinstance(available, int) and available > 0


def test_human_bytes():
    assert checks.human_bytes(512) == "512 bytes"
    assert checks.human_bytes(1536) == "1.5 KiB"
    assert checks.human_bytes(10 ** 40) == "8.9e+24 PiB"          # not 28 digits of PiB
    assert checks.human_bytes(32_000_320_000) == "29.8 GiB"


@pytest.mark.parametrize("make, pieces", [
    (lambda: LSTM(10, 1000, 5), ["input_size=10", "hidden_size=1000", "output_size=5", "num_layers=1"]),
    (lambda: LSTM(10, 300, 5, num_layers=10, peephole=True), ["hidden_size=300", "num_layers=10"]),
    (lambda: LSTM(10**9, 4, 5), ["input_size=1000000000"]),
    (lambda: LSTM(3, 4, 10**9), ["output_size=1000000000"]),
    (lambda: LSTM(3, 4, 5, num_layers=10**12), ["num_layers=1000000000000"]),
    (lambda: RNN(10, 2000, 5, dtype="float32"), ["hidden_size=2000", "float32"]),
    (lambda: Linear(1000, 2000), ["in_features=1000", "out_features=2000"]),
    (lambda: LSTMCell(10, 1000), ["input_size=10", "hidden_size=1000"]),
    (lambda: RNNCell(10, 2000), ["input_size=10", "hidden_size=2000"]),
])
def test_a_model_too_big_is_refused_before_anything_is_allocated(small_memory, make, pieces):
    message, peak = refused_with_peak(make)
    assert peak < 1_000_000, peak
    for piece in pieces + [f"{AVAILABLE:,} bytes available", "bytes ("]:
        assert piece in message, message


def test_the_bytes_needed_are_the_parameters_bytes(small_memory):
    """LSTM(10, 1000, 5): 4·1000·1010 weights + 4·1000 biases + 5·1000 + 5 output, float64."""
    count = 4 * 1000 * 1010 + 4 * 1000 + 5 * 1000 + 5
    message, _ = refused_with_peak(lambda: LSTM(10, 1000, 5))
    assert f"{count:,} float64 parameters" in message and f"needs {8 * count:,} bytes" in message, message


@pytest.mark.parametrize("model, kwargs", [
    (LSTM, {}), (LSTM, {"peephole": True}), (LSTM, {"bias": False}), (LSTM, {"num_layers": 3}),
    (LSTM, {"num_layers": 2, "peephole": True, "bias": False}), (RNN, {}), (RNN, {"num_layers": 3}),
    (RNN, {"bias": False, "num_layers": 2}),
])
def test_the_count_agrees_with_the_built_model(model, kwargs):
    built = model(3, 7, 5, **kwargs)
    expected = sum(p.data.size for p in built.parameters())
    assert model._parameter_count(3, 7, 5, kwargs.get("num_layers", 1), kwargs.get("bias", True),
                                  kwargs.get("peephole", False)) == expected


def test_a_model_that_fits_still_builds(small_memory):
    model = LSTM(10, 100, 5, num_layers=2, peephole=True)      # ~1 MB of parameters
    assert model.hidden_size == 100 and len(model.parameters()) > 0
    assert RNN(10, 100, 5).hidden_size == 100


@pytest.mark.parametrize("task, size", [(Recall(delay=20), 20_000), (NextChar(), 2_000),
                                        (PartOfSpeech(), 20_000)])
def test_a_batch_too_big_is_refused_before_anything_is_allocated(small_memory, task, size):
    message, peak = refused_with_peak(lambda: task.batch(size, np.random.default_rng(0)))
    assert peak < 1_000_000, peak
    for piece in (f"{task.name}.batch", f"size={size}", f"{task.steps} steps", f"{task.input_size} inputs",
                  f"{AVAILABLE:,} bytes available", "bytes ("):
        assert piece in message, message


def test_a_batch_that_fits_is_made(small_memory):
    batch = Recall(delay=20).batch(100, np.random.default_rng(0))
    assert batch.xs.shape == (22, 100, 6)


def test_no_check_when_the_memory_available_is_unknown(monkeypatch):
    monkeypatch.setattr(checks, "available_bytes", lambda: None)
    assert LSTM(10, 1000, 5).hidden_size == 1000                # 32 MB: refused above, built here
    assert Recall(delay=20).batch(20_000, np.random.default_rng(0)).xs.shape == (22, 20_000, 6)


def test_available_bytes_falls_back_to_sysconf(monkeypatch):
    def no_meminfo(*args, **kwargs):
        raise OSError("no /proc")
    monkeypatch.setattr("builtins.open", no_meminfo)
    monkeypatch.setattr(checks.os, "sysconf",
                        lambda name: {"SC_AVPHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}[name])
    assert checks.available_bytes() == 4_096_000
    monkeypatch.setattr(checks.os, "sysconf", lambda name: -1)
    assert checks.available_bytes() is None


# --- the unrolled graph: eager and compiled ------------------------------------------------

MODELS = {"lstm": lambda H, L: LSTM(3, H, 5, num_layers=L, seed=0),
          "peephole": lambda H, L: LSTM(3, H, 5, num_layers=L, peephole=True, seed=0),
          "rnn": lambda H, L: RNN(3, H, 5, num_layers=L, seed=0)}


def _sequences(T, B):
    rng = np.random.default_rng(0)
    return rng.standard_normal((T, B, 3)), rng.integers(0, 5, size=(T, B))


def _peak(model, T, B, path):
    xs, ys = _sequences(T, B)
    program = model.compile() if path == "compiled" else None
    tracemalloc.start()
    try:
        if program is not None:
            program.loss_and_grad(xs, ys)
        else:
            model.loss(xs, ys).backward()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("path", ["eager", "compiled"])
@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("B, H, L", [(8, 64, 1), (1, 2, 1), (4, 16, 2)])
def test_the_memory_foreseen_per_step_is_what_a_step_takes(kind, path, B, H, L):
    """STEP_MEMORY against tracemalloc: what 40 more steps add is never more than 1.6 times
    the estimate (the refusal below lets through no run that cannot fit), and where the
    arrays dominate, not less than the estimate / 1.6 (nor refuses runs that fit). A tiny
    compiled step takes a few hundred bytes, within tracemalloc's noise."""
    model = MODELS[kind](H, L)
    measured = (_peak(model, 60, B, path) - _peak(model, 20, B, path)) / 40
    table = model.PEEPHOLE_STEP_MEMORY if kind == "peephole" else model.STEP_MEMORY
    arrays, objects = table[path]
    foreseen = L * (arrays * B * H * 8 + objects)
    assert measured < foreseen * 1.6, (measured, foreseen)
    if B * H >= 64 or path == "eager":
        assert measured > foreseen / 1.6, (measured, foreseen)


@pytest.mark.parametrize("path", ["eager", "compiled"])
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_sequence_too_long_is_refused_before_unrolling(small_memory, kind, path):
    model = MODELS[kind](64, 1)
    T = 1_000
    xs, ys = np.broadcast_to(0.0, (T, 8, 3)), np.broadcast_to(0, (T, 8))    # no memory of their own
    run = model.compile().loss_and_grad if path == "compiled" else model.loss
    message, peak = refused_with_peak(lambda: run(xs, ys))
    name = type(model).__name__ + (" (compiled)" if path == "compiled" else "")
    assert message.startswith(f"{name}: the {path} graph of 1,000 steps × batch 8 × hidden_size 64 × 1 layer "
                              f"(with its gradients) needs ")
    assert f"more than the {AVAILABLE:,} bytes available" in message and "bptt_window" in message
    assert ("compiled path" in message) == (path == "eager")
    assert peak < 1_000_000


def test_a_sequence_that_fits_still_runs(small_memory):
    xs, ys = _sequences(20, 2)
    assert np.isfinite(LSTM(3, 8, 5).loss(xs, ys).item())
    assert np.isfinite(LSTM(3, 8, 5).compile().loss_and_grad(xs, ys))
