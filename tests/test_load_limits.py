"""load() checks a weights file's config and every member's header before it allocates or
decompresses anything: a small crafted file cannot make it take much memory, and a corrupt
or misshapen one is a ValueError naming the file (and the member), never a zlib.error."""
import io
import json
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from tinygrad_lstm import weights_file
from tinygrad_lstm.nn import LSTM, RNN

from .helpers import assert_clear_error
from .test_nn import randomize


def npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def npy_header(shape, descr="<f8", body=b"\0" * 64):
    """A .npy whose header claims `shape`, followed by only `body`."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + body


def config(model="LSTM", input_size=3, hidden_size=4, output_size=2, num_layers=1, **more):
    return npy(np.array(json.dumps({"model": model, "input_size": input_size, "hidden_size": hidden_size,
                                    "output_size": output_size, "num_layers": num_layers, "bias": True,
                                    "dtype": "float64", "peephole": False, **more})))


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    """A .npz by hand: {name: .npy bytes}, members named "<name>.npy" as np.savez names them."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return path


def members_of(model):
    """The members save() writes for `model`, as {name: .npy bytes}."""
    return {"__config__": npy(np.array(json.dumps(model.config()))),
            **{name: npy(p.data) for name, p in model.named_parameters()}}


def peak_bytes(call):
    """(exception raised by call(), peak bytes traced while it ran)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            call()
        return info.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_refused_cheaply(path, pieces):
    """LSTM.load(path) raises ValueError naming every piece, having traced under 2 MB."""
    error, peak = peak_bytes(lambda: LSTM.load(path))
    assert peak < 2 * 10**6
    for piece in pieces:
        assert piece in str(error), str(error)


# --- (1) a small file cannot make load() allocate much -----------------------------------------
def test_tracemalloc_sees_numpy_allocations():
    """The control for the peaks below: numpy's buffers are traced."""
    tracemalloc.start()
    try:
        np.ones(10**6)
        assert tracemalloc.get_traced_memory()[1] >= 8 * 10**6
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("sizes", [{"hidden_size": 10**6}, {"num_layers": 10**12}, {"input_size": 10**15},
                                   {"output_size": 10**9}])
def test_a_config_claiming_huge_sizes_is_refused_before_anything_is_built(tmp_path, sizes):
    path = write_zip(tmp_path / "huge.npz", {"__config__": config(**sizes)})
    assert path.stat().st_size < 1000
    assert_refused_cheaply(path, ("huge.npz", "not a weights file", "parameters", "MAX_PARAMETERS"))


def test_a_member_header_claiming_a_billion_floats_is_refused_unread(tmp_path):
    members = members_of(LSTM(3, 4, 2))
    members["W_f"] = npy_header((10**9,))
    path = write_zip(tmp_path / "claims.npz", members)
    assert_refused_cheaply(path, ("claims.npz", "W_f", "(1000000000,)", "(4, 7)"))


def test_a_member_whose_body_is_shorter_than_its_header_says_is_refused(tmp_path):
    members = members_of(LSTM(3, 4, 2))
    members["W_c"] = npy_header((4, 7), body=b"\0" * 8)          # 8 of the 224 bytes
    path = write_zip(tmp_path / "short.npz", members)
    assert_clear_error(lambda: LSTM.load(path), ValueError, ["short.npz", "W_c", "declares"])


def test_a_deflated_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    """A 70 KB file whose members inflate to 72 MB of correctly shaped zeros (np.load would
    allocate all of it): save() never compresses, so load() refuses compressed members."""
    model = LSTM(3, 1500, 2)
    members = {"__config__": npy(np.array(json.dumps(model.config())))}
    members.update({name: npy_header(p.shape, body=b"") + bytes(8 * p.size)
                    for name, p in model.named_parameters()})
    del model
    path = write_zip(tmp_path / "bomb.npz", members, zipfile.ZIP_DEFLATED)
    del members
    assert path.stat().st_size < 200_000
    assert_refused_cheaply(path, ("bomb.npz", "compressed"))


def test_max_parameters_is_a_setting(tmp_path, monkeypatch):
    path = LSTM(3, 4, 2).save(tmp_path / "w.npz")
    monkeypatch.setattr(weights_file, "MAX_PARAMETERS", 100)
    assert_clear_error(lambda: LSTM.load(path), ValueError,
                       ["w.npz", "138 parameters", "MAX_PARAMETERS = 100"])
    monkeypatch.setattr(weights_file, "MAX_PARAMETERS", 138)
    assert LSTM.load(path).config() == LSTM(3, 4, 2).config()


# --- (2) a corrupt archive ------------------------------------------------------------------
def corrupt_files(tmp_path):
    good = LSTM(3, 4, 2).save(tmp_path / "good.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(good[: len(good) // 2])
    (tmp_path / "tail-cut.npz").write_bytes(good[:-10])
    (tmp_path / "garbage.npz").write_bytes(np.random.default_rng(0).bytes(3000))
    (tmp_path / "empty.npz").write_bytes(b"")
    flipped = bytearray(good)                  # a byte inside W_f's body: the CRC check fails
    at = bytes(flipped).index(npy(LSTM(3, 4, 2).parameters()[0].data)) + 200
    flipped[at] ^= 0xFF
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    members = members_of(LSTM(3, 4, 2))       # deflated, then a stretch of its data overwritten
    write_zip(tmp_path / "bad-deflate.npz", members, zipfile.ZIP_DEFLATED)
    data = bytearray((tmp_path / "bad-deflate.npz").read_bytes())
    data[200:260] = b"\xff" * 60
    (tmp_path / "bad-deflate.npz").write_bytes(bytes(data))
    return ["truncated.npz", "tail-cut.npz", "garbage.npz", "empty.npz", "flipped.npz", "bad-deflate.npz"]


def test_a_corrupt_archive_is_a_value_error_naming_the_file(tmp_path):
    for name in corrupt_files(tmp_path):
        assert_clear_error(lambda name=name: LSTM.load(tmp_path / name), ValueError,
                           [name, "not a weights file"])


def test_a_flipped_byte_names_the_member(tmp_path):
    corrupt_files(tmp_path)
    assert_clear_error(lambda: LSTM.load(tmp_path / "flipped.npz"), ValueError, ["flipped.npz", "W_f", "CRC"])


def test_the_cli_exits_2_for_a_corrupt_weights_file(tmp_path):
    corrupt_files(tmp_path)
    result = subprocess.run([sys.executable, "-m", "tinygrad_lstm", "train", "--task", "pos", "--load",
                             str(tmp_path / "truncated.npz")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert "truncated.npz" in result.stderr and "not a weights file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


# --- (3) wrong member name, shape, dtype -----------------------------------------------------
def test_a_wrong_member_name_is_named(tmp_path):
    members = members_of(LSTM(3, 4, 2))
    members["W_q"] = members.pop("W_f")
    path = write_zip(tmp_path / "renamed.npz", members)
    assert_clear_error(lambda: LSTM.load(path), ValueError,
                       ["renamed.npz", "missing W_f", "unexpected 'W_q.npy'"])
    members = members_of(LSTM(3, 4, 2))
    members["extra"] = npy(np.ones(3))
    path = write_zip(tmp_path / "extra.npz", members)
    assert_clear_error(lambda: LSTM.load(path), ValueError, ["extra.npz", "unexpected 'extra.npy'"])


def test_a_wrong_shape_is_named(tmp_path):
    members = members_of(LSTM(3, 4, 2))
    members["b_o"] = npy(np.zeros(5))
    path = write_zip(tmp_path / "shape.npz", members)
    assert_clear_error(lambda: LSTM.load(path), ValueError, ["shape.npz", "b_o", "(5,)", "(4,)"])


@pytest.mark.parametrize("value, dtype", [(np.zeros((2, 4), dtype=np.int64), "int64"),
                                          (np.zeros((2, 4), dtype=np.complex128), "complex128"),
                                          (np.zeros((2, 4), dtype=[("a", "<f8")]), "[('a', '<f8')]")])
def test_a_wrong_dtype_is_named(tmp_path, value, dtype):
    members = members_of(LSTM(3, 4, 2))
    members["W_y"] = npy(value)
    path = write_zip(tmp_path / "dtype.npz", members)
    assert_clear_error(lambda: LSTM.load(path), ValueError,
                       ["dtype.npz", "W_y", dtype, "floats of shape (2, 4)"])


def test_an_object_array_header_is_refused_without_unpickling(tmp_path):
    members = members_of(LSTM(3, 4, 2))
    members["W_y"] = npy_header((2, 4), descr="|O", body=b"")
    path = write_zip(tmp_path / "object.npz", members)
    assert_clear_error(lambda: LSTM.load(path), ValueError, ["object.npz", "W_y", "object"])


def test_a_bad_config_member(tmp_path):
    cases = {"no-config.npz": {"W_f": npy(np.ones(3))},
             "not-json.npz": {"__config__": npy(np.array("{nope"))},
             "not-a-string.npz": {"__config__": npy(np.ones(3))},
             "deep.npz": {"__config__": npy(np.array("[" * 5000))},
             "big-config.npz": {"__config__": npy(np.array("x" * 20000))}}
    for name, members in cases.items():
        write_zip(tmp_path / name, members)
        assert_clear_error(lambda name=name: LSTM.load(tmp_path / name), ValueError,
                           [name, "not a weights file", "__config__"])
    write_zip(tmp_path / "zero.npz", {"__config__": config(hidden_size=0)})
    assert_clear_error(lambda: LSTM.load(tmp_path / "zero.npz"), ValueError,
                       ["zero.npz", "cannot be built", "hidden_size must be a positive integer"])
    write_zip(tmp_path / "rnn.npz", {"__config__": config(model="RNN")})
    assert_clear_error(lambda: LSTM.load(tmp_path / "rnn.npz"), ValueError, ["RNN weights", "use RNN.load"])


# --- (4) valid files still load, bit for bit ---------------------------------------------------
MODELS = [(LSTM, {}), (LSTM, {"num_layers": 3}), (LSTM, {"peephole": True, "num_layers": 2}),
          (LSTM, {"bias": False, "peephole": True}), (LSTM, {"dtype": "float32", "num_layers": 2}),
          (RNN, {}), (RNN, {"num_layers": 3}), (RNN, {"bias": False, "num_layers": 2}),
          (RNN, {"dtype": "float32"})]


@pytest.mark.parametrize("make, options", MODELS)
def test_round_trip_is_bit_exact(tmp_path, make, options):
    model = randomize(make(3, 5, 4, seed=0, **options))
    for p in model.parameters():
        p.data = p.data.astype(model.dtype)
    loaded = make.load(model.save(tmp_path / "w.npz"))
    assert loaded.config() == model.config()
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]
    for (_, p), (_, q) in zip(model.named_parameters(), loaded.named_parameters()):
        assert q.data.dtype == p.data.dtype and q.data.flags.writeable
        np.testing.assert_array_equal(q.data, p.data)


@pytest.mark.parametrize("make, options", MODELS)
def test_the_shapes_load_expects_are_the_models(make, options):
    model = make(3, 5, 4, **options)
    config = model.config()
    assert make._shapes_from_config(config, "here") == {n: p.shape for n, p in model.named_parameters()}
