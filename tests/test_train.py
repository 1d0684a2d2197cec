"""Training: tasks, truncated BPTT exactly as defined, the NaN guard, save/load, interop."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.data import NextChar, PartOfSpeech, Recall, make_task
from tinygrad_lstm.interop import from_torch_state_dict, to_torch_state_dict
from tinygrad_lstm.nn import LSTM, RNN
from tinygrad_lstm.train import backprop, train

from .helpers import assert_clear_error
from .test_nn import randomize


def test_recall_batches():
    task = Recall(delay=5, symbols=3)
    batch = task.batch(8, np.random.default_rng(0))
    assert batch.xs.shape == (7, 8, 5) and batch.targets.shape == batch.mask.shape == (7, 8)
    assert batch.mask[-1].all() and not batch.mask[:-1].any()
    first = batch.xs[0, :, :3].argmax(axis=1)
    np.testing.assert_array_equal(batch.targets[-1], first)          # the target is the marked symbol
    assert (batch.xs[0, :, 3] == 1).all() and (batch.xs[1:, :, 3] == 0).all()     # the marker
    assert (batch.xs[-1, :, 4] == 1).all() and (batch.xs[-1, :, :3] == 0).all()   # the query
    assert set(batch.xs[1:-1, :, :3].argmax(axis=2).ravel()) <= {0, 1, 2}          # look-alike distractors


def test_next_char_targets_are_the_next_characters():
    task = NextChar(text="abcabcabcabc", steps=4)
    batch = task.batch(3, np.random.default_rng(0))
    np.testing.assert_array_equal(batch.targets[:-1], batch.xs[1:].argmax(axis=2))
    assert batch.mask.all()


def test_pos_tags_the_same_word_by_context():
    task = PartOfSpeech()
    apple = task.words.index("apple")
    tags = set()
    for b in range(60):
        batch = task.batch(1, np.random.default_rng(b))
        for t in np.flatnonzero(batch.xs[:, 0, apple] == 1):
            tags.add(task.tags[batch.targets[t, 0]])
    assert tags == {"NOUN", "PROPN"}
    batch = task.batch(16, np.random.default_rng(1))
    assert (batch.xs[~batch.mask, :][:, 0] == 1).all()               # padding is the <pad> word


def test_truncated_bptt_is_exactly_the_gradient_of_the_cut_graph():
    """Windows of 3 over 7 steps: the gradient equals the sum over windows of each window's
    gradient with the incoming state as a constant, and no gradient reaches across."""
    model = randomize(LSTM(3, 4, 2, seed=0))
    rng = np.random.default_rng(0)
    xs = Tensor(rng.standard_normal((7, 2, 3)), requires_grad=True)
    targets, mask = rng.integers(0, 2, (7, 2)), np.ones((7, 2), dtype=bool)
    batch = type("B", (), {"xs": xs, "targets": targets, "mask": mask})
    model.zero_grad()
    backprop(model, batch, window=3)
    truncated = {n: p.grad.copy() for n, p in model.named_parameters()}

    model.zero_grad()
    expected = {n: 0 for n in truncated}
    h = c = None
    for start in (0, 3, 6):
        part = slice(start, start + 3)
        run = model.unroll(xs.data[part], h, c)
        model.loss_of(run, targets[part], mask[part]).backward()
        for n, p in model.named_parameters():
            expected[n] = expected[n] + p.grad
        model.zero_grad()
        h, c = run.final["HS"].data, run.final["CS"].data        # constants: nothing flows back
    for n in truncated:
        np.testing.assert_allclose(truncated[n], expected[n], rtol=1e-12, atol=1e-15)

    xs.grad = None                      # a loss in the last window only reaches the last window
    only_last = mask & (np.arange(7)[:, None] >= 6)
    batch.mask = only_last
    backprop(model, batch, window=3)
    assert np.all(xs.grad[:6] == 0) and np.any(xs.grad[6] != 0)
    model.zero_grad()
    xs.grad = None
    backprop(model, batch, window=None)                          # full BPTT reaches every step
    assert np.all(np.abs(xs.grad[:6]).sum(axis=(1, 2)) > 0)


class Unmasked(Recall):
    """Recall with every step carrying a loss: its batches' mask is None (which data.Batch
    allows) or, with `spelt_out`, all True."""

    def __init__(self, spelt_out):
        super().__init__(delay=3)
        self.spelt_out = spelt_out

    def _batch(self, size, rng):
        batch = super()._batch(size, rng)
        batch.mask = np.ones(batch.targets.shape, dtype=bool) if self.spelt_out else None
        return batch


@pytest.mark.parametrize("compiled", [True, False])
def test_a_mask_of_none_means_every_step_counts(compiled):
    results = [train(LSTM(6, 4, 4, seed=0), Unmasked(spelt_out), steps=3, batch_size=2, compiled=compiled)
               for spelt_out in (False, True)]
    assert results[0].losses == results[1].losses and results[0].accuracy == results[1].accuracy
    batch = Unmasked(False).batch(2, np.random.default_rng(0))
    assert backprop(LSTM(6, 4, 4), batch, window=2)[2] == batch.targets.size


def test_a_short_deterministic_run_lowers_the_loss_tenfold():
    task = PartOfSpeech()
    results = [train(LSTM(task.input_size, 16, task.output_size, seed=1), task, steps=150, seed=1)
               for _ in range(2)]
    first, again = results
    assert first.losses == again.losses                          # the same seed, the same run
    assert np.mean(first.losses[:10]) > 10 * np.mean(first.losses[-10:])
    assert first.accuracy > 0.9 and first.stopped is None


def test_truncated_training_runs_and_learns_pos():
    task = PartOfSpeech()
    result = train(RNN(task.input_size, 16, task.output_size, seed=0), task, steps=150, bptt_window=3)
    assert result.accuracy > 0.8


def test_a_nan_stops_training_naming_the_step_and_keeps_the_good_weights():
    task = PartOfSpeech()
    model = LSTM(task.input_size, 8, task.output_size, seed=0)
    seen = []

    def poison(step, loss, accuracy):
        seen.append([p.data.copy() for p in model.parameters()])
        if step == 5:
            model.parameters()[0].data[0, 0] = np.nan            # as if step 5's update blew up

    result = train(model, task, steps=50, progress=poison)
    assert result.steps == 5 and "stopped at step 6" in result.stopped and "nan" in result.stopped
    for kept, before in zip(model.parameters(), seen[-2]):     # the weights step 5 started from
        np.testing.assert_array_equal(kept.data, before)


@pytest.mark.parametrize("make, options", [(LSTM, {"num_layers": 2, "peephole": True}),
                                           (RNN, {"bias": False}), (LSTM, {"dtype": "float32"})])
def test_save_and_load_are_bit_exact(tmp_path, make, options):
    model = randomize(make(3, 5, 4, seed=0, **options))
    if options.get("dtype"):
        for p in model.parameters():
            p.data = p.data.astype(np.float32)
    path = model.save(tmp_path / "w.npz")
    loaded = make.load(path)
    assert loaded.config() == model.config()
    for (n, p), (m, q) in zip(model.named_parameters(), loaded.named_parameters()):
        assert n == m and q.data.dtype == p.data.dtype
        np.testing.assert_array_equal(q.data, p.data)
    xs = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_array_equal(model(xs)[0].data, loaded(xs)[0].data)


def test_bad_weight_files(tmp_path):
    LSTM(3, 4, 2).save(tmp_path / "lstm.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    other = np.savez(tmp_path / "other.npz", W_f=np.ones(3))
    del other
    assert_clear_error(lambda: LSTM.load(tmp_path / "missing.npz"), FileNotFoundError,
                       ["no file", "missing.npz"])
    assert_clear_error(lambda: LSTM.load(tmp_path / "junk.npz"), ValueError,
                       ["not a weights file", "junk.npz"])
    assert_clear_error(lambda: LSTM.load(tmp_path / "other.npz"), ValueError, ["not a weights file"])
    assert_clear_error(lambda: RNN.load(tmp_path / "lstm.npz"), ValueError,
                       ["LSTM weights", "not RNN", "LSTM.load"])
    model = LSTM(3, 4, 2)
    weights = {n: p.data for n, p in model.named_parameters()}
    assert_clear_error(lambda: LSTM(3, 5, 2).assign(weights), ValueError, ["W_f", "(4, 7)", "(5, 8)"])
    assert_clear_error(lambda: RNN(3, 4, 2).assign(weights), ValueError,
                       ["cannot load", "into this RNN", "missing 'W_xh', 'W_hh', 'b_h', 'W_hy';",
                        "unexpected 'W_f', 'W_i', 'W_c'"])


@pytest.mark.parametrize("make, options", [(LSTM, {"num_layers": 2}), (RNN, {}), (LSTM, {"bias": False})])
def test_a_torch_state_dict_round_trip_without_torch(make, options):
    model = randomize(make(3, 5, 4, seed=0, **options))
    sd = to_torch_state_dict(model)
    H = model.hidden_size
    if make is LSTM:
        assert sd["lstm.weight_ih_l0"].shape == (4 * H, 3) and sd["lstm.weight_hh_l0"].shape == (4 * H, H)
        np.testing.assert_array_equal(sd["lstm.weight_ih_l0"][H:2 * H],
                                      dict(model.named_parameters())["W_f"].data[:, H:])
    back = from_torch_state_dict(sd)
    assert type(back) is make and back.config() == model.config()
    for (n, p), (_, q) in zip(model.named_parameters(), back.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)


def test_interop_refusals():
    assert_clear_error(lambda: to_torch_state_dict(LSTM(3, 4, 2, peephole=True)), ValueError, ["peephole"])
    assert_clear_error(lambda: from_torch_state_dict({"out.weight": np.ones((2, 4))}), ValueError,
                       ["missing 'lstm.weight_ih_l0'", "nn.LSTM"])
    bad = to_torch_state_dict(RNN(3, 4, 2))
    bad["lstm.weight_hh_l0"] = np.ones((5, 4))
    assert_clear_error(lambda: from_torch_state_dict(bad), ValueError, ["weight_hh_l0", "(5, 4)", "(4H, H)"])


@pytest.mark.parametrize("call, exc, pieces", [
    (lambda: make_task("parity"), ValueError, ["unknown task 'parity'", "next-char, recall, pos"]),
    (lambda: Recall(delay=-1), ValueError, ["delay", "≥ 0", "-1"]),
    (lambda: train(LSTM(6, 4, 4), Recall(), optimizer="rmsprop"), ValueError,
     ["unknown optimizer 'rmsprop'", "sgd, adam"]),
    (lambda: train(LSTM(6, 4, 4), Recall(), optimizer=["sgd"]), ValueError,
     ["train: unknown optimizer ['sgd']; the optimizers are sgd, adam"]),
    (lambda: train(LSTM(6, 4, 4), Recall(), optimizer=None), ValueError, ["train: unknown optimizer None"]),
    (lambda: train(LSTM(6, 4, 4), Recall(), optimizer="SGD"), ValueError, ["train: unknown optimizer 'SGD'"]),
    (lambda: train(LSTM(6, 4, 4), Recall(), progress=5), TypeError,
     ["train: progress must be a callable(step, loss, accuracy) or None; got 5"]),
    (lambda: train(LSTM(6, 4, 4), Recall(), progress="bar"), TypeError,
     ["progress must be a callable", "'bar'"]),
    (lambda: backprop(LSTM(6, 4, 4), _recall_batch(), window=0), ValueError,
     ["backprop: window must be a positive integer (or None); got 0"]),
    (lambda: backprop(LSTM(6, 4, 4), _recall_batch(), window=-1), ValueError, ["window must be", "got -1"]),
    (lambda: backprop(LSTM(6, 4, 4), _recall_batch(), window=1.5), ValueError, ["window must be", "got 1.5"]),
    (lambda: backprop(LSTM(6, 4, 4), _recall_batch(), window=True), ValueError,
     ["window must be", "got True"]),
    (lambda: backprop(LSTM(6, 4, 4), _recall_batch(), compiled=True), TypeError,
     ["backprop: compiled must be what model.compile() returns, or None; got True"]),
    (lambda: train(LSTM(6, 4, 4), Recall(), lr=0), ValueError, ["lr", "positive", "0"]),
    (lambda: train(LSTM(6, 4, 4), Recall(), lr=-0.5), ValueError, ["lr", "-0.5"]),
    (lambda: train(LSTM(5, 4, 4), Recall()), ValueError, ["input size 6", "the model has 5"]),
    (lambda: train(LSTM(6, 4, 4), Recall(), steps=0), ValueError, ["steps", "positive"]),
    (lambda: train(LSTM(6, 4, 4), Recall(), bptt_window=0), ValueError, ["bptt_window"]),
])
def test_bad_training_settings(call, exc, pieces):
    assert_clear_error(call, exc, pieces)


def _recall_batch():
    return Recall(delay=2).batch(2, np.random.default_rng(0))
