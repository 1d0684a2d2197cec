"""Forward + backward of the LSTM loss (T steps, output layer, cross-entropy summed over
time, averaged over the batch), ours against PyTorch's, measured in the same run.

Paths: "autodiff" (our engine: model.loss(...).backward()), "bptt" (our hand-derived BPTT,
bptt.lstm_gradients), "numpy reference" (benchmarks/numpy_lstm.py, the fastest vectorised
numpy we could write for this loss: the yardstick for bptt), and when torch is installed
"torch.nn.LSTM" and "torch LSTMCell loop" (a Python loop over nn.LSTMCell, then the output
layer), with torch using as many threads as numpy's BLAS may (the machine's cores).

    python benchmarks/lstm.py [--workloads tiny,small,...] [--dtypes float64,float32]
                              [--json benchmarks/results/lstm.json] [--budget S] [--no-memory]
                              [--no-linearity] [--system-malloc]

Medians over repeats after one warm-up run; peak memory is measured in a separate run with
tracemalloc (numpy allocations; torch's are not visible to it, so none is given for torch).
"""
import argparse
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import numpy_lstm  # noqa: E402
from tinygrad_lstm import bptt  # noqa: E402
from tinygrad_lstm.memory import reuse_freed_memory  # noqa: E402
from tinygrad_lstm.nn import LSTM  # noqa: E402

WORKLOADS = {               # name: (I, H, B, T)
    "tiny": (3, 2, 1, 1),
    "small": (10, 32, 1, 50),
    "medium": (64, 128, 32, 50),
    "large": (256, 512, 64, 100),
    "long": (8, 16, 1, 2000),
}
O = 10                      # classes of the output layer
BUDGET = 3.0                # seconds of timed runs per path, at most (and at least 3 runs)


def data(I, B, T, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, B, I)).astype(dtype), rng.integers(0, O, size=(T, B))


def our_paths(I, H, B, T, dtype):
    model = LSTM(I, H, O, seed=0, dtype=dtype)
    xs, ys = data(I, B, T, dtype)
    params = {n: p.data for n, p in model.named_parameters()}

    def autodiff():
        model.zero_grad()
        model.loss(xs, ys).backward()

    def hand():
        bptt.lstm_gradients(params, xs, ys)

    def reference():
        numpy_lstm.lstm_gradients(params, xs, ys)

    return {"autodiff": autodiff, "bptt": hand, "numpy reference": reference}


def torch_paths(torch, I, H, B, T, dtype):
    tdtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(I, H).to(tdtype)
    cell = torch.nn.LSTMCell(I, H).to(tdtype)
    out = torch.nn.Linear(H, O).to(tdtype)
    xs_np, ys_np = data(I, B, T, dtype)
    xs, ys = torch.tensor(xs_np), torch.tensor(ys_np).reshape(-1)

    def loss_of(hidden):
        return torch.nn.functional.cross_entropy(out(hidden).reshape(-1, O), ys, reduction="sum") / B

    def nn_lstm():
        for p in (*lstm.parameters(), *out.parameters()):
            p.grad = None
        hidden, _ = lstm(xs)
        loss_of(hidden).backward()

    def cell_loop():
        for p in (*cell.parameters(), *out.parameters()):
            p.grad = None
        h = torch.zeros(B, H, dtype=tdtype)
        c = torch.zeros(B, H, dtype=tdtype)
        outputs = []
        for t in range(T):
            h, c = cell(xs[t], (h, c))
            outputs.append(h)
        loss_of(torch.stack(outputs)).backward()

    return {"torch.nn.LSTM": nn_lstm, "torch LSTMCell loop": cell_loop}


def median_time(fn, budget):
    fn()                                    # warm-up
    times, spent = [], 0.0
    while len(times) < 3 or (spent < budget and len(times) < 200):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return statistics.median(times)


def peak_bytes(fn):
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--json", default="benchmarks/results/lstm.json")
    parser.add_argument("--budget", type=float, default=BUDGET, help="seconds of timed runs per path")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--no-linearity", action="store_true", help="skip the T = 2000 vs 4000 check")
    parser.add_argument("--system-malloc", action="store_true",
                        help="leave glibc's malloc at its defaults (by default every path, torch's too, "
                             "runs with tinygrad_lstm.memory.reuse_freed_memory(), as train() does)")
    args = parser.parse_args()
    tuned = False if args.system_malloc else reuse_freed_memory()
    print(f"malloc: {'freed memory reused (memory.reuse_freed_memory)' if tuned else 'system defaults'}")
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
    except ImportError:
        torch = None
        print("torch is not installed (make bench TORCH=1): our paths only\n")

    results = []
    for dtype in args.dtypes.split(","):
        for name in args.workloads.split(","):
            I, H, B, T = WORKLOADS[name]
            paths = our_paths(I, H, B, T, dtype)
            if torch is not None:
                paths.update(torch_paths(torch, I, H, B, T, dtype))
            row = {"workload": name, "dtype": dtype, "I": I, "H": H, "B": B, "T": T, "seconds": {}, "peak_MB": {}}
            for path, fn in paths.items():
                row["seconds"][path] = median_time(fn, args.budget)
                if not args.no_memory and not path.startswith("torch"):
                    row["peak_MB"][path] = peak_bytes(fn) / 2**20
            row["bptt / numpy reference"] = row["seconds"]["bptt"] / row["seconds"]["numpy reference"]
            results.append(row)
            print(_line(row), flush=True)
    print("\nratios: ours / theirs, under 1 means ours is faster")
    if not args.no_linearity:
        print(linearity(args.budget))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"numpy": np.__version__, "torch": torch.__version__ if torch else None,
                               "cores": os.cpu_count(), "reuse_freed_memory": tuned, "results": results},
                              indent=2))
    print(f"wrote {out}")


def linearity(budget):
    """Autodiff time and peak memory at T = 4000 against T = 2000 (the long workload's sizes)."""
    measured = {}
    for T in (2000, 4000):
        fn = our_paths(8, 16, 1, T, "float64")["autodiff"]
        measured[T] = (median_time(fn, budget), peak_bytes(fn))
    time_ratio = measured[4000][0] / measured[2000][0]
    memory_ratio = measured[4000][1] / measured[2000][1]
    return (f"linear in T? autodiff at T = 4000 against T = 2000: time x{time_ratio:.2f}, "
            f"peak memory x{memory_ratio:.2f} (linear is x2)")


def _line(row):
    s = row["seconds"]
    text = (f"{row['workload']:<7} {row['dtype']:<8} autodiff {s['autodiff'] * 1e3:9.2f} ms  "
            f"bptt {s['bptt'] * 1e3:9.2f} ms  autodiff/bptt {s['autodiff'] / s['bptt']:5.2f}"
            f"  | numpy reference {s['numpy reference'] * 1e3:9.2f} ms"
            f"  bptt/reference {row['bptt / numpy reference']:5.2f}")
    if "torch.nn.LSTM" in s:
        text += (f"  | nn.LSTM {s['torch.nn.LSTM'] * 1e3:9.2f} ms  cell loop {s['torch LSTMCell loop'] * 1e3:9.2f} ms"
                 f"  | autodiff/nn.LSTM {s['autodiff'] / s['torch.nn.LSTM']:5.2f}"
                 f"  autodiff/cells {s['autodiff'] / s['torch LSTMCell loop']:5.2f}"
                 f"  bptt/nn.LSTM {s['bptt'] / s['torch.nn.LSTM']:5.2f}")
    if row["peak_MB"]:
        text += f"  | peak MB autodiff {row['peak_MB']['autodiff']:.1f} bptt {row['peak_MB']['bptt']:.1f}"
    return text


if __name__ == "__main__":
    main()
