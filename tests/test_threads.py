"""BLAS threads (tinygrad_lstm/threads.py): training and the compiled replay run with one
thread for small products, the BLAS default for large ones, and exactly what threads=
(--threads) says when given; the previous limit comes back afterwards. Read through
threadpoolctl.threadpool_info(), as the libraries report it."""
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from tinygrad_lstm import threads as threads_module
from tinygrad_lstm.data import Recall
from tinygrad_lstm.nn import LSTM, RNN
from tinygrad_lstm.threads import MANY_THREADS_FROM, blas_threads, step_flops
from tinygrad_lstm.train import train


def blas_threads_now():
    counts = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
    assert len(counts) == 1, threadpool_info()
    return counts.pop()


@pytest.fixture(autouse=True)
def two_threads_to_start():
    """Start every test from a known default of 2 (this machine's cores), and restore it."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(2, "blas"):
        assert blas_threads_now() == 2
        yield


@pytest.mark.parametrize("threads, expected", [(None, 1), (1, 1), (2, 2), (np.int64(2), 2)])
def test_training_runs_with_the_threads_asked_for(threads, expected):
    seen = []
    task = Recall(delay=2)
    train(LSTM(task.input_size, 4, task.output_size), task, steps=2, batch_size=2, threads=threads,
          progress=lambda *_: seen.append(blas_threads_now()))
    assert seen == [expected, expected]
    assert blas_threads_now() == 2                         # restored


@pytest.mark.parametrize("threads, expected", [(None, 1), (2, 2), (1, 1)])
def test_the_compiled_replay_runs_with_the_threads_asked_for(threads, expected):
    model = RNN(3, 4, 2)
    compiled = model.compile(threads=threads)
    xs, ys = np.ones((5, 3)), np.zeros(5, dtype=int)
    replay = compiled.program(xs, ys)
    seen, run = [], replay.function
    replay.function = lambda: (seen.append(blas_threads_now()), run())[1]
    compiled.loss_and_grad(xs, ys)
    assert seen == [expected] and blas_threads_now() == 2


def test_large_products_keep_the_blas_default():
    model = LSTM(8, 512, 4)
    batch = -(-MANY_THREADS_FROM // step_flops(model, 1))  # the smallest batch past the line
    assert step_flops(model, batch) >= MANY_THREADS_FROM > step_flops(model, batch - 1)
    with blas_threads(None, step_flops(model, batch)):
        assert blas_threads_now() == 2
    with blas_threads(None, step_flops(model, batch - 1)):
        assert blas_threads_now() == 1


def test_step_flops_counts_every_layers_gate_products():
    assert step_flops(LSTM(3, 4, 2), 5) == 5 * 4 * 4 * (3 + 4)
    assert step_flops(LSTM(3, 4, 2, num_layers=3), 1) == 4 * 4 * ((3 + 4) + 2 * 8)
    assert step_flops(RNN(3, 4, 2, num_layers=2), 2) == 2 * 1 * 4 * ((3 + 4) + 8)


def test_the_limit_is_restored_after_an_error():
    with pytest.raises(ZeroDivisionError):
        with blas_threads(1, 0):
            assert blas_threads_now() == 1
            1 / 0
    assert blas_threads_now() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts_are_refused_before_any_work(bad):
    task = Recall(delay=2)
    with pytest.raises(ValueError,
                       match=f"train: threads must be a positive integer \\(or None\\); got {bad!r}"):
        train(LSTM(task.input_size, 4, task.output_size), task, steps=1, threads=bad)
    with pytest.raises(ValueError,
                       match=f"compile: threads must be a positive integer \\(or None\\); got {bad!r}"):
        LSTM(3, 4, 2).compile(threads=bad)


def test_the_controller_is_made_once():
    with blas_threads(1, 0):
        first = threads_module._controller
    with blas_threads(2, 0):
        assert threads_module._controller is first


def test_the_command_line_takes_threads():
    import subprocess
    import sys
    ok = subprocess.run([sys.executable, "-m", "tinygrad_lstm", "train", "--task", "recall", "--delay", "2",
                         "--steps", "2", "--threads", "2"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "accuracy" in ok.stdout, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "tinygrad_lstm", "train", "--task", "recall",
                          "--threads", "0"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--threads: expected a positive integer, got 0" in bad.stderr


def test_blocks_in_other_threads_leave_the_setting_alone():
    """OpenBLAS ignores changes from threads other than the one that first made one, so a
    limit set and restored from several threads could not be kept in order: two trainings
    in worker threads, overlapping, leave the main thread's setting as it was."""
    import threading
    inside, entered, leave = [], threading.Event(), threading.Event()

    def first():
        with blas_threads(1, 0):
            inside.append(blas_threads_now())
            entered.set()
            leave.wait(10)

    def second():
        entered.wait(10)
        with blas_threads(1, 0):
            leave.set()

    workers = [threading.Thread(target=first), threading.Thread(target=second)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(10)
    assert inside == [2] and blas_threads_now() == 2
