"""The `tinygrad-lstm` command, run as a user runs it: a subprocess, exit codes, output."""
import importlib.util
import os
import subprocess
import sys

import pytest

# matplotlib is an optional extra (make test installs it): without it these tests skip
needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="matplotlib is not installed (pip install -e '.[plots]')")


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tinygrad_lstm", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def without_matplotlib(tmp_path):
    """An environment in which `import matplotlib` fails, as where it was never installed."""
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    return {**os.environ, "PYTHONPATH": str(blocker.parent)}


def test_demo_without_matplotlib_says_so_first_and_skips_only_the_plot(tmp_path):
    out = tmp_path / "out"
    result = run("demo", "--steps", "2", "--out", str(out), env=without_matplotlib(tmp_path))
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert ("note: the plots need matplotlib, which is not installed: "
            "pip install 'tinygrad-lstm[plots]'" in first)
    assert "The demo runs without its gradient plot." in first
    assert "LSTM accuracy" in result.stdout and "all three agree" in result.stdout
    assert (out / "lstm-graph.svg").stat().st_size > 10_000 and (out / "lstm-graph.html").exists()
    assert not (out / "gradient-norms.svg").exists()


def test_plot_gradients_without_matplotlib_is_one_line_before_any_work(tmp_path):
    result = run("plot-gradients", "--steps", "100000", "-o", str(tmp_path / "p.png"),
                 env=without_matplotlib(tmp_path))        # 100,000 steps would take minutes
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "pip install 'tinygrad-lstm[plots]'" in result.stderr and not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("args, message", [((), "required: COMMAND"),
                                           (("bogus",), "invalid choice: 'bogus'"),
                                           (("demo", "--nope"), "unrecognized arguments: --nope"),
                                           (("demo", "--steps", "0"), "expected a positive integer, got 0")])
def test_usage_errors_are_one_line_and_exit_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("tinygrad-lstm ")


def test_example_prints_the_lecture_s_step_with_its_typos_flagged():
    result = run("example")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("TYPO") == 4
    assert "dL/dCS_{t-1}" in result.stdout and "[0.023413, -0.062977]" in result.stdout
    assert "[-0.004299, -0.031295]" in result.stdout          # dL/dHS_{t-1}, never evaluated


def test_example_json():
    import json
    result = run("example", "--json")
    lines = json.loads(result.stdout)["lines"]
    assert {line["quantity"]: line["agrees"] for line in lines}["i_t = W_i X_t"] is False


@pytest.mark.parametrize("args", [(), ("--model", "rnn", "--batch", "3", "--layers", "2"),
                                  ("--peephole", "--no-bias", "--steps", "3", "--hidden", "2")])
def test_check_exits_0_when_all_three_agree(args):
    result = run("check", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all three agree" in result.stdout and "OK: True" in result.stdout


def test_check_json_is_one_object():
    import json
    result = run("check", "--json", "--steps", "2")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"] is True and report["model"] == "LSTM"


def test_check_exits_1_when_they_disagree(tmp_path):
    """A sitecustomize that breaks the witness's forget gate: the command must notice."""
    (tmp_path / "sitecustomize.py").write_text(
        "import tinygrad_lstm.bptt as b\n"
        "real = b.lstm_gradients\n"
        "def broken(*a, **k):\n"
        "    g = real(*a, **k)\n"
        "    g['W_f'] = g['W_f'] * 1.5\n"
        "    return g\n"
        "b.lstm_gradients = broken\n")
    import os
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-m", "tinygrad_lstm", "check"], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 1
    assert "W_f: autodiff agrees with finite differences; the hand-derived BPTT differs" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("check", "--model", "gru"), "invalid choice: 'gru'"),
    (("check", "--hidden", "0"), "expected a positive integer, got 0"),
    (("check", "--steps", "x"), "expected a positive integer, got 'x'"),
    (("check", "--model", "rnn", "--peephole"), "--peephole applies to --model lstm only"),
    (("example", "--bogus"), "unrecognized arguments: --bogus"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, message):
    result = run(*args)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_render_writes_the_picture(tmp_path):
    out = tmp_path / "g.svg"
    result = run("render", "--model", "rnn", "--steps", "4", "--grads", "-o", str(out))
    assert result.returncode == 0 and "<svg" in out.read_text()[:1000]
    cells = tmp_path / "cells.svg"
    assert run("render", "--steps", "40", "--detail", "cell", "-o", str(cells)).returncode == 0
    assert cells.read_text().count('class="node"') == 40 + 1          # a cell per step, and the loss


def test_render_writes_the_interactive_page(tmp_path):
    out = tmp_path / "graph.html"
    result = run("render", "--steps", "3", "--grads", "-o", str(out))
    assert result.returncode == 0 and f"wrote {out}" in result.stdout
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and 'id="graph-data"' in page
    assert "<script src" not in page and "<link" not in page                 # self-contained


def test_render_refuses_a_huge_op_level_picture_unless_forced(tmp_path):
    result = run("render", "--steps", "300", "-o", str(tmp_path / "g.svg"))
    assert result.returncode == 2 and "detail='cell'" in result.stderr and "--force" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "g.svg").exists()


@needs_matplotlib
def test_plot_gradients_writes_the_plot(tmp_path):
    out = tmp_path / "p.png"
    result = run("plot-gradients", "--steps", "12", "-o", str(out))
    assert result.returncode == 0 and out.stat().st_size > 10_000


@pytest.mark.parametrize("args, code, message", [
    (("render", "-o", "x.txt"), 2, "the suffix must be one of .dot, .gv, .html, .pdf, .png, .svg"),
    (("render", "-o", "/no/such/folder/x.svg"), 1, "the folder '/no/such/folder' does not exist"),
    (("render",), 2, "the following arguments are required: -o"),
    (("render", "--detail", "layer", "-o", "x.svg"), 2, "invalid choice: 'layer'"),
    (("plot-gradients", "-o", "x.gif"), 2, "the suffix must be one of .pdf, .png, .svg"),
])
def test_render_errors_are_one_line(args, code, message):
    result = run(*args)
    assert result.returncode == code and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_render_without_graphviz_says_so_and_exits_1(tmp_path):
    import os
    env = {**os.environ, "PATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "tinygrad_lstm", "render", "-o", str(tmp_path / "g.svg")],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1 and "Graphviz is not installed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_train_json_is_the_last_line(tmp_path):
    import json
    weights = tmp_path / "pos.npz"
    result = run("train", "--task", "pos", "--steps", "60", "--hidden", "8", "--save", str(weights), "--json")
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"task", "model", "accuracy", "final_loss", "seconds"} <= set(last)
    assert last["task"] == "pos" and last["model"] == "LSTM" and 0 <= last["accuracy"] <= 1
    assert weights.stat().st_size > 1000 and last["saved"] == str(weights)
    again = run("train", "--task", "pos", "--steps", "5", "--load", str(weights), "--json")
    assert again.returncode == 0 and json.loads(again.stdout.splitlines()[-1])["accuracy"] >= 0.0


def test_train_prints_a_readable_line():
    result = run("train", "--task", "recall", "--delay", "2", "--model", "rnn", "--steps", "30",
                 "--optimizer", "adam", "--bptt-window", "2")
    assert result.returncode == 0
    assert result.stdout.startswith("RNN on recall (K=4 symbols, delay 2, chance 0.25): accuracy ")


@pytest.mark.parametrize("args, message", [
    (("train", "--task", "parity"), "invalid choice: 'parity'"),
    (("train", "--task", "pos", "--optimizer", "rmsprop"), "invalid choice: 'rmsprop'"),
    (("train", "--task", "pos", "--lr", "0"), "expected a positive number, got 0"),
    (("train", "--task", "pos", "--lr", "-1"), "expected a positive number, got -1"),
    (("train", "--task", "recall", "--delay", "-3"), "expected a whole number ≥ 0, got -3"),
    (("train", "--task", "pos", "--clip", "-1"),
     "expected a finite number ≥ 0 (0 turns clipping off), got -1"),
    (("train", "--task", "pos", "--clip", "inf"), "expected a finite number ≥ 0"),
    (("train", "--task", "pos", "--seed", "-1"), "argument --seed: expected a whole number ≥ 0, got -1"),
    (("train", "--task", "pos", "--save", ""), "--save needs a file name"),
    (("train", "--task", "pos", "--load", "/no/such.npz"), "--load: LSTM.load: no file at '/no/such.npz'"),
])
def test_train_usage_errors(args, message):
    result = run(*args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_train_refuses_corrupt_or_misfitting_weights(tmp_path):
    (tmp_path / "junk.npz").write_text("junk")
    result = run("train", "--task", "pos", "--load", str(tmp_path / "junk.npz"))
    assert result.returncode == 2 and "not a weights file" in result.stderr
    small = tmp_path / "recall.npz"
    assert run("train", "--task", "recall", "--steps", "2", "--save", str(small)).returncode == 0
    result = run("train", "--task", "pos", "--load", str(small))
    assert result.returncode == 2 and "the task pos needs" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@needs_matplotlib
def test_demo_trains_checks_and_draws(tmp_path):
    result = run("demo", "--steps", "40", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "LSTM accuracy" in result.stdout and "RNN  accuracy" in result.stdout
    assert "all three agree" in result.stdout
    assert (tmp_path / "lstm-graph.svg").stat().st_size > 10_000
    assert (tmp_path / "gradient-norms.svg").stat().st_size > 10_000


def test_debug_shows_the_traceback_that_is_otherwise_hidden(tmp_path):
    args = ("render", "-o", "/no/such/folder/x.svg")
    quiet = run(*args)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    loud = run("--debug", *args)
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "FileNotFoundError" in loud.stderr


def test_an_unwritable_target_is_one_line_and_exit_1(tmp_path):
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a folder")
    for args in (("render", "-o", str(a_file / "g.svg")),
                 ("plot-gradients", "--steps", "3", "-o", str(a_file / "p.png")),
                 ("train", "--task", "pos", "--steps", "2", "--save", str(a_file / "w.npz")),
                 ("demo", "--steps", "2", "--out", str(a_file / "out"))):
        result = run(*args)
        assert result.returncode == 1, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_debug_is_accepted_after_the_subcommand_too():
    result = run("render", "--debug", "-o", "/no/such/folder/x.svg")
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_demo_without_graphviz_fails_before_training(tmp_path):
    import os
    env = {**os.environ, "PATH": str(tmp_path)}
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "tinygrad_lstm", "demo", "--out", str(out)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1 and "Graphviz is not installed" in result.stderr
    assert not out.exists() and "accuracy" not in result.stdout
