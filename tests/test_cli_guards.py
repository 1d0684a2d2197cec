"""The CLI's guards: output paths checked before any work, a closed stdout pipe ends quietly,
and numpy's warnings do not surround the one-line error."""
import subprocess
import sys
import warnings

import pytest

from tinygrad_lstm import cli


def run(*args):
    return subprocess.run([sys.executable, "-m", "tinygrad_lstm", *args],
                          capture_output=True, text=True, timeout=120)


def one_line(stderr):
    return len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


@pytest.mark.parametrize("where, message", [
    ("folder", "is a folder; give a file name inside it"),
    ("folder/", "so it names a folder"),
    ("missing/w.npz", "does not exist"),
])
def test_train_save_to_a_bad_place_fails_before_training(tmp_path, where, message):
    (tmp_path / "folder").mkdir()
    target = str(tmp_path / where.rstrip("/")) + ("/" if where.endswith("/") else "")
    # 5,000 steps would take many seconds; the check must come first, so nothing trains
    result = run("train", "--task", "pos", "--steps", "5000", "--save", target)
    assert result.returncode == 1, result.stderr       # as render's -o into a missing folder
    assert message in result.stderr and one_line(result.stderr)
    assert result.stdout == "" and "accuracy" not in result.stderr


@pytest.mark.parametrize("args", [("render", "-o", "{folder}"), ("plot-gradients", "-o", "{folder}/"),
                                  ("render", "-o", "{missing}/g.svg")])
def test_render_and_plot_check_the_output_path_first(tmp_path, args):
    names = {"folder": str(tmp_path), "missing": str(tmp_path / "missing")}
    result = run(*(a.format(**names) for a in args))
    assert result.returncode == 1 and one_line(result.stderr) and result.stdout == ""


def test_demo_checks_its_output_files_before_training(tmp_path):
    (tmp_path / "lstm-graph.svg").mkdir()                  # a folder where a picture must go
    result = run("demo", "--steps", "5000", "--out", str(tmp_path))
    assert result.returncode == 1 and one_line(result.stderr), result.stderr
    assert "lstm-graph.svg" in result.stderr and "accuracy" not in result.stdout


@pytest.mark.parametrize("command", ["example", "check"])
@pytest.mark.parametrize("read_first", [True, False])
def test_a_closed_stdout_ends_quietly_with_exit_0(command, read_first):
    process = subprocess.Popen([sys.executable, "-m", "tinygrad_lstm", command],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if read_first:                       # `... | head -1`
            assert process.stdout.readline()
        process.stdout.close()               # the reader goes away before the command writes
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=120) == 0, stderr
        assert stderr == ""
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()


def test_an_overflow_s_warning_does_not_surround_the_error():
    """--lr 1e308 without clipping: numpy's overflow warning came before the one line."""
    result = run("train", "--task", "pos", "--steps", "5", "--lr", "1e308", "--clip", "0")
    assert result.returncode == 1
    assert "RuntimeWarning" not in result.stderr and one_line(result.stderr), result.stderr
    assert "the loss became inf" in result.stderr


@pytest.mark.parametrize("code, shown", [(0, True), (1, False)])
def test_warnings_are_kept_on_success_and_dropped_on_failure(monkeypatch, code, shown):
    def noisy(args, out=sys.stdout):
        warnings.warn("overflow encountered in exp", RuntimeWarning)
        return code
    monkeypatch.setitem(cli.COMMANDS, "example", noisy)
    with warnings.catch_warnings(record=True) as seen:   # what would reach stderr
        warnings.simplefilter("default")     # the suite turns RuntimeWarnings into errors
        assert cli.main(["example"]) == code
    assert any("overflow encountered in exp" in str(w.message) for w in seen) is shown


def test_a_broken_pipe_that_is_not_stdout_s_is_an_error(monkeypatch, capsys):
    def broken(args, out=sys.stdout):
        raise BrokenPipeError(32, "Broken pipe (a child program's)")
    monkeypatch.setitem(cli.COMMANDS, "example", broken)
    monkeypatch.setattr(cli, "_stdout_closed", lambda: False)
    assert cli.main(["example"]) == 1
    assert "Broken pipe" in capsys.readouterr().err


# --- sizes: refused before the graph or the data is built -----------------------------------

@pytest.mark.parametrize("args, words", [
    (("render", "--steps", "1000000000"), ["op-level picture of 16,000,000,018 tensors", "detail='cell'"]),
    (("render", "--steps", "300", "--model", "rnn", "--layers", "3"), ["op-level picture of", "past 4,000"]),
    (("render", "--steps", "1000000", "--detail", "cell"), ["cell-level picture of 1,000,000 steps",
                                                             "past 5,000", "draw fewer steps"]),
])
def test_render_refuses_a_picture_too_big_before_building_it(tmp_path, args, words):
    result = run(*args, "-o", str(tmp_path / "g.svg"))   # a billion steps would never finish
    assert result.returncode == 2 and one_line(result.stderr), result.stderr
    assert all(w in result.stderr for w in words), result.stderr
    assert not (tmp_path / "g.svg").exists()


@pytest.mark.parametrize("command", ["check", "render"])
def test_data_too_big_for_memory_names_the_flags(tmp_path, command):
    extra = ("-o", str(tmp_path / "g.svg"), "--detail", "cell") if command == "render" else ()
    result = run(command, "--steps", "5", "--batch", "100000000000", *extra)
    assert result.returncode == 2 and one_line(result.stderr), result.stderr      # a usage error
    assert "--debug shows where" not in result.stderr
    assert "the data (--steps 5 × --batch 100000000000 × --input 3) needs 12,000,000,000,000 bytes" \
        in result.stderr and "bytes available" in result.stderr


@pytest.mark.parametrize("flags", [(), ("--model", "rnn"), ("--layers", "2", "--peephole"),
                                   ("--loss", "all", "--batch", "3"), ("--no-bias", "--model", "rnn")])
def test_the_tensor_count_foreseen_is_the_count_built(flags):
    from tinygrad_lstm.tensor import topological_order
    args = cli.build_parser().parse_args(["render", *flags, "--steps", "7", "-o", "g.svg"])
    assert cli._tensors_in(args) == len(topological_order(cli._loss_to_draw(args)))


def test_the_gradient_plot_names_its_sizes_when_the_inputs_cannot_fit(tmp_path):
    from tinygrad_lstm.viz.plots import vanishing_gradient_demo
    with pytest.raises(MemoryError, match=r"vanishing_gradient_demo: the inputs \(steps=1000000 × "
                                          r"batch=1000000 × input_size=4\) needs 32,000,000,000,000 bytes"):
        vanishing_gradient_demo(tmp_path / "p.png", steps=1_000_000, batch=1_000_000)
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("args", [("train", "--task", "recall", "--hidden", "100000000"),
                                  ("check", "--hidden", "10000000")])
def test_a_model_too_big_is_a_usage_error(args):
    result = run(*args)
    assert result.returncode == 2 and one_line(result.stderr), result.stderr
    assert "more than the" in result.stderr and "bytes available" in result.stderr


@pytest.mark.parametrize("args", [("render", "-o", ""), ("plot-gradients", "-o", ""), ("demo", "--out", " ")])
def test_an_empty_output_name_is_a_usage_error(args):
    result = run(*args)
    assert result.returncode == 2 and one_line(result.stderr), result.stderr
    assert "non-empty" in result.stderr or "needs a folder name" in result.stderr


@pytest.mark.parametrize("command", [("example",), ("check", "--steps", "0"), ("--version",)])
def test_a_closed_stdout_at_start_is_not_a_crash(command):
    """Started with stdout closed (`>&-`), Python gives sys.stdout = None."""
    result = subprocess.run(f"{sys.executable} -m tinygrad_lstm {' '.join(command)} >&-", shell=True,
                            capture_output=False, stderr=subprocess.PIPE, text=True, timeout=60)
    assert "Traceback" not in result.stderr and "AttributeError" not in result.stderr, result.stderr
    assert result.returncode == (2 if "0" in command else 0)


def test_train_json_reports_the_loaded_model_s_hidden_size(tmp_path):
    import json
    weights = tmp_path / "w.npz"
    assert run("train", "--task", "recall", "--delay", "2", "--hidden", "8", "--steps", "2",
               "--save", str(weights)).returncode == 0
    result = run("train", "--task", "recall", "--delay", "2", "--steps", "1", "--load", str(weights),
                 "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["hidden"] == 8


def test_loading_the_other_model_s_weights_names_the_flag(tmp_path):
    weights = tmp_path / "rnn.npz"
    assert run("train", "--task", "recall", "--delay", "2", "--model", "rnn", "--steps", "1",
               "--save", str(weights)).returncode == 0
    result = run("train", "--task", "recall", "--delay", "2", "--steps", "1", "--load", str(weights))
    assert result.returncode == 2 and one_line(result.stderr), result.stderr
    assert f"--load: {weights} holds RNN weights: add --model rnn" in result.stderr


@pytest.mark.parametrize("steps, said", [("101", True), ("3", False)])
def test_a_long_check_says_first_that_it_takes_a_while(steps, said):
    result = run("check", "--steps", steps, "--hidden", "2", "--input", "2", "--output", "2")
    assert result.returncode == 0, result.stderr
    notice = f"tinygrad-lstm: checking {steps} steps: finite differences run them twice"
    assert (notice in result.stderr) == said
