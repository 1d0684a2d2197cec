"""Training with the compiled path against the eager one: the LSTM of `make demo`.

The demo's task and model (recall at delay 20, an LSTM with hidden size 32, seed 0,
train()'s defaults otherwise), trained for --steps updates with compiled=True and with
compiled=False, from the same seed, taking turns (the order alternates) --repeats times.
Times are train()'s own (the training loop, the compiled path's compiling included);
medians, and the eager/compiled ratio per repeat as its median (min–max).

    python benchmarks/train.py [--steps 400] [--repeats 5] [--seed 0]
"""
import argparse
import inspect
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.measure import load_warning, show, spread  # noqa: E402
from tinygrad_lstm.data import Recall  # noqa: E402
from tinygrad_lstm.nn import LSTM  # noqa: E402
from tinygrad_lstm.train import train  # noqa: E402

HIDDEN, DELAY = 32, 20          # as in tinygrad_lstm/cli.py's demo


def run(task, steps, seed, compiled):
    model = LSTM(task.input_size, HIDDEN, task.output_size, seed=seed)
    return train(model, task, steps=steps, seed=seed, compiled=compiled)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=400, help="updates per training run")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each, taking turns")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if "compiled" not in inspect.signature(train).parameters:
        print("train() has no `compiled` argument yet: nothing to compare")
        return
    task = Recall(delay=DELAY)
    print(f"{task.describe()}, LSTM hidden {HIDDEN}, {args.steps} steps, seed {args.seed}, "
          f"{args.repeats} repeats")
    if load_warning():
        print(load_warning())
    seconds, first_loss = {False: [], True: []}, {}
    for r in range(args.repeats):
        for compiled in (False, True) if r % 2 == 0 else (True, False):
            result = run(task, args.steps, args.seed, compiled)
            seconds[compiled].append(result.seconds)
            if r == 0:
                first_loss[compiled] = result.losses[0]
                print(f"  {'compiled' if compiled else 'eager':<8} first loss {result.losses[0]:.12g}, "
                      f"final loss {result.final_loss:.6g}, accuracy {result.accuracy:.3f}"
                      + (f", {result.stopped}" if result.stopped else ""))
    if abs(first_loss[True] - first_loss[False]) > 1e-9 * abs(first_loss[False]):
        print("WARNING: the first step's loss differs between compiled and eager")
    eager, compiled = statistics.median(seconds[False]), statistics.median(seconds[True])
    ratios = spread([e / c for e, c in zip(seconds[False], seconds[True])])
    print(f"eager {eager:.2f} s ({eager / args.steps * 1e3:.2f} ms/step)  "
          f"compiled {compiled:.2f} s ({compiled / args.steps * 1e3:.2f} ms/step)  "
          f"eager/compiled {show(ratios)}")


if __name__ == "__main__":
    main()
