"""BLAS threads: one against the BLAS default, on an idle machine and with a CPU-bound
process competing, for the compiled replay at each workload and for the demo's training.

For each workload and condition the two settings take turns (the order alternates) for
--rounds rounds; a round times each setting's median call. Reported: the median time with
one thread, and default/one per round as a median (min–max): above 1, one thread is
faster. "busy" starts one CPU-bound process per core but one, as a browser or a build
would, and stops it after. tinygrad_lstm/threads.py takes its rule from these numbers:
one thread unless a step's products reach MANY_THREADS_FROM multiply-adds.

    python benchmarks/threads.py [--rounds 5] [--workloads small,medium,long,large,train]
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.measure import load_warning, median_time, show, spread  # noqa: E402
from benchmarks.workloads import O, WORKLOADS, data  # noqa: E402
from tinygrad_lstm.data import Recall  # noqa: E402
from tinygrad_lstm.nn import LSTM  # noqa: E402
from tinygrad_lstm.threads import MANY_THREADS_FROM, step_flops  # noqa: E402
from tinygrad_lstm.train import train  # noqa: E402

CORES = os.cpu_count() or 1
TRAIN_STEPS = 60                # of the demo's LSTM (recall at delay 20, hidden 32)


def replay(name, threads):
    """fn() running one compiled loss_and_grad of workload `name` with `threads` threads."""
    I, H, B, T = WORKLOADS[name]
    model = LSTM(I, H, O, seed=0)
    xs, ys = data(I, B, T, "float64")
    compiled = model.compile(threads=threads)

    def fn():
        model.zero_grad()
        compiled.loss_and_grad(xs, ys)
    return fn, step_flops(model, B)


def training(threads):
    task = Recall(delay=20)

    def fn():
        train(LSTM(task.input_size, 32, task.output_size, seed=0), task, steps=TRAIN_STEPS, threads=threads)
    return fn, step_flops(LSTM(task.input_size, 32, task.output_size), 32)


def make(name, threads):
    return training(threads) if name == "train" else replay(name, threads)


class Competitor:
    """CPU-bound processes, one per core but one, for the length of a with block."""

    def __enter__(self):
        spin = "while True: pass"
        self.procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(max(1, CORES - 1))]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


def measure(name, rounds, budget):
    fns = {t: make(name, t)[0] for t in (1, CORES)}
    for fn in fns.values():
        fn()                                         # trace and warm up
    times, ratios = {1: [], CORES: []}, []
    for r in range(rounds):
        order = (1, CORES) if r % 2 == 0 else (CORES, 1)
        now = {t: median_time(fns[t], budget, warm_up=False, max_runs=50) for t in order}
        for t in order:
            times[t].append(now[t])
        ratios.append(now[CORES] / now[1])
    return spread(times[1]), spread(ratios)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per median")
    parser.add_argument("--workloads", default="small,medium,long,large,train")
    args = parser.parse_args()
    print(f"{CORES} cores; default/one > 1 means one thread is faster; "
          f"MANY_THREADS_FROM = {MANY_THREADS_FROM:,} multiply-adds per step")
    if load_warning():
        print(load_warning())
    for name in args.workloads.split(","):
        flops = make(name, 1)[1]
        rule = "one" if flops < MANY_THREADS_FROM else "default"
        for condition in ("idle", "busy"):
            if condition == "busy":
                with Competitor():
                    one, ratio = measure(name, args.rounds, args.budget)
            else:
                one, ratio = measure(name, args.rounds, args.budget)
            print(f"{name:>7} ({flops:>12,} per step; rule: {rule:>7}) {condition}: one thread "
                  f"{show(one, 4)} s, default/one {show(ratio)}", flush=True)


if __name__ == "__main__":
    main()
