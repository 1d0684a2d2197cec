"""How many BLAS threads numpy's matrix products may use while training or replaying.

An LSTM step multiplies a batch (B, I + H) by the gate weights (I + H, 4H). At the sizes
this library trains on a laptop that takes microseconds, and OpenBLAS's threads cost more
to wake and to wait for than they save; when another process keeps a core busy, every
product waits for the thread that runs there (benchmarks/threads.py measured a compiled
replay 4-5 times slower on a loaded 2-core machine). So training and the compiled replay
use one thread unless one step's products are large, and `threads=` (`--threads`) says how
many to use instead. threadpoolctl sets the limit for the region and restores it after.
"""
import threading
from contextlib import contextmanager

from .checks import whole

# Multiply-adds of one step's products (B × (I + H) × 4H for an LSTM) from which the BLAS
# default is kept: benchmarks/threads.py's "large" (64 × 768 × 2048 ≈ 10⁸) gains from
# threads on an idle machine, "medium" (32 × 192 × 512 ≈ 3·10⁶) and smaller do not.
MANY_THREADS_FROM = 20_000_000

_controller = None


def step_flops(model, batch):
    """Multiply-adds of one time step's products for `batch` sequences: each layer's gates
    (four for an LSTM, one for an RNN) times its input and hidden widths."""
    gates = 4 if "CS" in model.state_names else 1
    I, H, L = model.input_size, model.hidden_size, model.num_layers
    return batch * gates * H * ((I + H) + (L - 1) * 2 * H)


@contextmanager
def blas_threads(threads, step_flops):
    """A block in which BLAS uses `threads` threads (an int ≥ 1); for threads=None, one
    thread when a step's products (`step_flops` multiply-adds) are small, else its default.
    The limit is set on entering and the previous one restored on leaving.

    Only in the main thread. BLAS's thread count is one setting for the whole process, and
    OpenBLAS ignores a change made from any thread but the one that first changed it (seen
    with numpy 2.4's OpenBLAS 0.3.31), so limits set and restored from several threads
    could not be kept in order; blocks in other threads leave the setting as it is."""
    threads = whole("threads", threads, or_none=True)
    if (threads is None and step_flops >= MANY_THREADS_FROM) or \
            threading.current_thread() is not threading.main_thread():
        yield
        return
    global _controller
    if _controller is None:             # finding the BLAS libraries takes ~0.5 ms: once
        from threadpoolctl import ThreadpoolController
        _controller = ThreadpoolController()
    with _controller.limit(limits=threads or 1, user_api="blas"):
        yield
