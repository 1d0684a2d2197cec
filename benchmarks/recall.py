"""Does the LSTM learn recall where the RNN cannot? Five seeds each, the training defaults.

    python benchmarks/recall.py [--delay 20] [--seeds 5] [--first-seed 0] [--optimizer sgd|adam]

Prints the held-out accuracy per seed and the seconds per run (chance is 1/4).
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tinygrad_lstm.data import Recall  # noqa: E402
from tinygrad_lstm.nn import LSTM, RNN  # noqa: E402
from tinygrad_lstm.train import train  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--optimizer", default="sgd")
    args = parser.parse_args()
    task = Recall(delay=args.delay)
    print(f"{task.describe()}, optimizer {args.optimizer}, hidden 32")
    for make in (LSTM, RNN):
        accuracies, start = [], time.perf_counter()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            model = make(task.input_size, 32, task.output_size, seed=seed)
            accuracies.append(train(model, task, optimizer=args.optimizer, seed=seed).accuracy)
        solved = sum(a >= 0.9 for a in accuracies)
        print(f"{make.__name__:<5} accuracy by seed: {' '.join(f'{a:.2f}' for a in accuracies)}   "
              f"≥ 0.9 for {solved} of {args.seeds}   {(time.perf_counter() - start) / args.seeds:.1f} s/run")


if __name__ == "__main__":
    main()
