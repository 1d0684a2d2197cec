"""Training: W ← W − η ∂E/∂W, over and over, with ∂E/∂W from backpropagation through time.

Two paths give the same gradients: the compiled one (the default; model.compile() traces
the model once and replays a flat numpy program, compiled.py) and the eager one (the graph
of Tensors, built and backpropagated anew for every batch).

Full BPTT differentiates the whole sequence at once. Truncated BPTT with a window of k
steps runs the sequence in windows: the state is carried from one window into the next,
but detached, so no gradient flows across a window boundary (docs/math.md §3.3: dHS_next and
dCS_next restart at 0). The gradients of all windows add up before one update.
"""
import math
import time
from dataclasses import asdict, dataclass, field
from typing import List, Optional

import numpy as np

from .checks import flag, quote, real, whole
from .compiled import CompiledModel
from .data import Task
from .nn import LSTM, RNN
from .optim import SGD, Adam, clip_grad_norm
from .tensor import detect_anomaly, no_grad
from .threads import blas_threads, step_flops

OPTIMIZERS = ("sgd", "adam")
DEFAULT_LR = {"sgd": 0.1, "adam": 0.01}
STEPS = 2000            # recall at delay 20: an LSTM has learned it after about 1000
DIVERGE_FACTOR = 1e4    # a loss this many times the first one means training diverged
DIVERGE_FLOOR = 1.0     # ... the first one, or this if it was smaller (a near-0 first loss)


@dataclass
class TrainResult:
    task: str
    model: str
    accuracy: float            # on a held-out batch, over the steps that carry a loss
    final_loss: float          # mean loss of the last 20 updates
    seconds: float
    steps: int                 # updates made
    losses: List[float] = field(default_factory=list)
    stopped: Optional[str] = None   # why training stopped early, if it did

    def to_dict(self, history=False):
        d = asdict(self)
        if not history:
            d.pop("losses")
        return d


def backprop(model, batch, window=None, compiled=None):
    """Accumulate the gradient of the batch's loss into the parameters; return (loss, number
    of correct predictions, number of predictions) over the steps that carry a loss.

    compiled: the model's CompiledModel (model.compile()) to run the batch with; None runs
    the eager graph (which also gives batch.xs a gradient when it is a Tensor that asks)."""
    xs, targets, mask = batch.xs, batch.targets, _mask(batch)
    T = len(xs)
    window = whole("backprop: window", window, or_none=True) or T
    if compiled is not None and not isinstance(compiled, CompiledModel):
        raise TypeError(f"backprop: compiled must be what model.compile() returns, or None; "
                        f"got {quote(compiled)}")
    if compiled is not None:
        return _backprop_compiled(compiled, xs, targets, mask, window)
    total, correct, h, c = 0.0, 0, None, None
    for start in range(0, T, window):
        part = slice(start, start + window)
        run = model.unroll(xs[part], h, c)
        loss = model.loss_of(run, targets[part], mask[part])
        loss.backward()
        total += loss.item()
        hits = run.logits.data.argmax(axis=-1) == targets[part]
        correct += int(np.sum(hits & mask[part]))
        h = run.final["HS"].detach()                 # carry the state, cut the graph
        c = run.final["CS"].detach() if "CS" in run.final else None
    return total, correct, int(np.sum(mask))


def _mask(batch):
    """The batch's mask; None (which data.Batch allows) means every step carries a loss."""
    return np.ones(np.shape(batch.targets), dtype=bool) if batch.mask is None else batch.mask


def _backprop_compiled(compiled, xs, targets, mask, window):
    """backprop on the compiled path: the final states come back as numpy arrays, constants
    to the next window as the detached states are to the eager graph."""
    total, correct, h, c = 0.0, 0, None, None
    for start in range(0, len(xs), window):
        part = slice(start, start + window)
        loss, logits, final = compiled.run(xs[part], targets[part], mask[part], h, c)
        total += loss
        hits = logits.argmax(axis=-1) == targets[part]
        correct += int(np.sum(hits & mask[part]))
        h, c = final["HS"], final.get("CS")
    return total, correct, int(np.sum(mask))


def _origin(model, batch, window):
    """Where a NaN or inf first appears: the batch again, under detect_anomaly."""
    model.zero_grad()
    try:
        with detect_anomaly():
            backprop(model, batch, window)
    except FloatingPointError as e:
        return f" (first at: {str(e).removeprefix('detect_anomaly: ')})"
    return ""


def accuracy(model, batch):
    """The fraction of correct predictions over the steps that carry a loss."""
    with no_grad():
        predicted = model(batch.xs)[0].data.argmax(axis=-1)
    mask = _mask(batch)
    return float(np.sum((predicted == batch.targets) & mask) / max(1, np.sum(mask)))


def make_optimizer(name, params, lr):
    if _optimizer_name(name, "make_optimizer") == "adam":
        return Adam(params, lr=lr)
    return SGD(params, lr=lr, momentum=0.9)


def _optimizer_name(name, who):
    """`name` if it is one of OPTIMIZERS; a ValueError quoting it if not (a list too, which
    would otherwise fail as unhashable)."""
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"{who}: unknown optimizer {quote(name)}; the optimizers are "
                         f"{', '.join(OPTIMIZERS)}")
    return name


def train(model, task, steps=STEPS, batch_size=32, lr=None, optimizer="sgd", clip=1.0, bptt_window=None,
          seed=0, progress=None, compiled=True, diverge_factor=DIVERGE_FACTOR, threads=None):
    """Train `model` on `task` for `steps` updates of `batch_size` sequences.

    The defaults are SGD with momentum 0.9 at lr 0.1 (Adam: lr 0.01) and clipping at 1.0:
    measured on recall at delay 20, they teach an LSTM for 9 of 10 seeds and an RNN for none
    (Adam, which rescales even a vanishing gradient to full size, lets the RNN learn it too).
    clip: the largest gradient norm (None: no clipping). bptt_window: truncated BPTT with
    windows of that many steps (None: full BPTT). progress: a callable(step, loss, accuracy)
    called after every update (a progress bar, say); if it raises (even KeyboardInterrupt),
    the weights are put back to what they were before that step's update (those its previous
    call saw, or the initial ones if its first call fails) and the exception propagates.
    A NaN or infinite loss stops training with a message naming the step, and the weights
    from before the update that led to it are kept (and the eager graph, under
    detect_anomaly, names the op where it began).
    diverge_factor: a finite loss that grows past diverge_factor times the first batch's loss
    (or times 1.0, if the first was smaller) stops training the same way, keeping the weights
    from before the update that led to it, with advice to lower lr: with the default 1e4 a
    normal run never comes close, while a far too large lr (1e6, say) trips it within a few
    steps instead of training on with an astronomic loss. None turns the check off.
    compiled: True (the default) runs every batch through one program traced by
    model.compile() for this call; False builds and backpropagates the eager graph instead.
    Both give the same updates, to rounding.
    threads: how many BLAS threads numpy's products may use; None (the default) uses one
    unless the model's products are large (threads.py says why and where).
    """
    if not isinstance(model, (LSTM, RNN)):
        raise TypeError(f"train: model must be an LSTM or RNN; got {type(model).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"train: task must be a Task (tinygrad_lstm.data.make_task(name)); got {task!r:.40}")
    steps, batch_size = whole("train: steps", steps), whole("train: batch_size", batch_size)
    bptt_window = whole("train: bptt_window", bptt_window, or_none=True)
    clip = real("train: clip", clip, above=0, or_none=True)
    seed = whole("train: seed", seed, minimum=0)
    if (model.input_size, model.output_size) != (task.input_size, task.output_size):
        raise ValueError(f"train: the task {task.name} has input size {task.input_size} and "
                         f"{task.output_size} classes; the model has {model.input_size} and "
                         f"{model.output_size}")
    compiled = flag("train: compiled", compiled)
    diverge_factor = real("train: diverge_factor", diverge_factor, above=1, or_none=True,
                          expected="a finite number greater than 1 (how many times the first loss counts "
                                   "as diverging), or None to turn the check off")
    threads = whole("train: threads", threads, or_none=True)
    optimizer = _optimizer_name(optimizer, "train")
    if progress is not None and not callable(progress):      # else it would fail after step 1's update
        raise TypeError(f"train: progress must be a callable(step, loss, accuracy) or None; "
                        f"got {quote(progress)}")
    program = model.compile(threads=threads) if compiled else None
    params = model.parameters()
    opt = make_optimizer(optimizer, params, DEFAULT_LR.get(optimizer) if lr is None else lr)
    first = None                                     # the first batch's loss, the yardstick for diverging
    rng = np.random.default_rng(seed)
    held_out = task.batch(512, np.random.default_rng(seed + 1_000_003))
    losses, stopped, good = [], None, None
    start = time.perf_counter()
    with blas_threads(threads, step_flops(model, batch_size)):   # one thread for small products
        for step in range(1, steps + 1):
            model.zero_grad()
            batch = task.batch(batch_size, rng)
            loss, correct, count = backprop(model, batch, bptt_window, program)
            norm = clip_grad_norm(params, clip) if clip is not None else 0.0
            if not (math.isfinite(loss) and math.isfinite(norm)):
                what = "loss" if not math.isfinite(loss) else "gradient norm"
                value = loss if not math.isfinite(loss) else norm
                kept = ("the initial weights" if step == 1
                        else f"the weights from before step {step - 1}'s update")
                stopped = (f"stopped at step {step}: the {what} became {value}"
                           f"{_origin(model, batch, bptt_window)}; kept {kept}")
                if good is not None:
                    for p, data in zip(params, good):
                        p.data = data
                break
            if first is None:
                first = loss
            elif diverge_factor is not None and loss > diverge_factor * max(first, DIVERGE_FLOOR):
                stopped = (f"diverged at step {step}: the loss {loss:.3g} is over {diverge_factor:g} times "
                           f"the first ({first:.3g}); kept the weights from before step {step - 1}'s "
                           f"update. Lower lr (it was {opt.lr:g}; the default for {optimizer} is "
                           f"{DEFAULT_LR[optimizer]:g})")
                for p, data in zip(params, good):
                    p.data = data
                break
            good = [p.data.copy() for p in params]       # the last weights that gave a finite loss
            opt.step()
            losses.append(loss)
            if progress is not None:
                try:
                    progress(step, loss, correct / max(1, count))
                except BaseException:                    # the caller never saw this update: undo it
                    for p, data in zip(params, good):
                        p.data = data
                    raise
    seconds = time.perf_counter() - start
    recent = losses[-20:] or [float("nan")]
    return TrainResult(task.name, type(model).__name__, accuracy(model, held_out), float(np.mean(recent)),
                       seconds, len(losses), losses, stopped)
