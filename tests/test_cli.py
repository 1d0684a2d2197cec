"""The `tinygrad-lstm` command, run as a user runs it: a subprocess, exit codes, output."""
import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "tinygrad_lstm", *args],
                          capture_output=True, text=True, timeout=120)


def test_demo_shows_the_lecture_gate_and_a_passing_gradient_check():
    result = run("demo")
    assert result.returncode == 0, result.stderr
    assert "[0.505    0.701824]" in result.stdout          # F_t of lecture 004, exact
    error = float(result.stdout.rsplit("finite differences:", 1)[1])
    assert error < 1e-6


@pytest.mark.parametrize("args, message", [((), "required: COMMAND"),
                                           (("bogus",), "invalid choice: 'bogus'"),
                                           (("demo", "--nope"), "unrecognized arguments: --nope")])
def test_usage_errors_are_one_line_and_exit_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("tinygrad-lstm ")
