"""Per-op cost on tiny tensors: ours against PyTorch's eager autograd, in the same run.

For each op we time
  forward:      N applications to the same leaf, with the graph recorded (µs per op);
  fwd+bwd:      a chain y ← op(y) of N ops and one backward() from its end (µs per op),
                so each op pays its own share of the backward pass, as in an unrolled LSTM.
Ops whose chain would overflow or change shape are paired with a partner op (exp with tanh,
log with sigmoid, concat with getitem) and the partner's cost is subtracted.

    python benchmarks/ops.py [--n 2000] [--repeats 7] [--json FILE]
"""
import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tinygrad_lstm import Tensor, concat  # noqa: E402


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_ops(lib):
    """{name: (forward op f(x, w), chain step s(y, w), partner op or None)} for one library.

    `lib` is "ours" or the torch module; the ops are written once, for both.
    """
    cat = concat if lib == "ours" else (lambda xs, axis: lib.cat(xs, dim=axis))
    return {
        "add": (lambda x, w: x + w, lambda y, w: y + w, None),
        "mul": (lambda x, w: x * w, lambda y, w: y * w, None),
        "sub": (lambda x, w: x - w, lambda y, w: y - w, None),
        "div": (lambda x, w: x / w, lambda y, w: y / w, None),
        "neg": (lambda x, w: -x, lambda y, w: -y, None),
        "matmul": (lambda x, w: x @ w, lambda y, w: y @ w, None),
        "sigmoid": (lambda x, w: x.sigmoid(), lambda y, w: y.sigmoid(), None),
        "tanh": (lambda x, w: x.tanh(), lambda y, w: y.tanh(), None),
        "exp": (lambda x, w: x.exp(), lambda y, w: y.exp().tanh(), "tanh"),
        "log": (lambda x, w: (x * x).log(), lambda y, w: y.sigmoid().log(), "sigmoid"),
        "sum": (lambda x, w: x.sum(-1, keepdims=True) if lib == "ours" else x.sum(-1, keepdim=True),
                lambda y, w: y.sum(-1, keepdims=True) if lib == "ours" else y.sum(-1, keepdim=True), None),
        "reshape": (lambda x, w: x.reshape(2, 8), lambda y, w: y.reshape(y.shape[::-1]), None),
        "transpose": (lambda x, w: x.T, lambda y, w: y.T, None),
        "getitem": (lambda x, w: x[:2], lambda y, w: y[:4], None),
        "concat": (lambda x, w: cat([x, w], axis=0), lambda y, w: cat([y, w], axis=0)[::2], "getitem"),
        "softmax": (lambda x, w: x.softmax(-1), lambda y, w: y.softmax(-1), None),
        "log_softmax": (lambda x, w: x.log_softmax(-1), lambda y, w: y.log_softmax(-1), None),
    }


def measure(lib, n, repeats):
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((4, 4))
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))   # orthogonal: a matmul chain keeps its scale
    w0 = {"matmul": q, "div": 1 + 0.01 * rng.standard_normal((4, 4)),
          "mul": 1 + 0.01 * rng.standard_normal((4, 4))}
    if lib == "ours":
        leaf = lambda a: Tensor(a, requires_grad=True)        # noqa: E731
        backward = lambda y: y.sum().backward()               # noqa: E731
    else:
        leaf = lambda a: lib.tensor(a, requires_grad=True)    # noqa: E731
        backward = lambda y: y.sum().backward()               # noqa: E731
    results = {}
    for name, (op, step, partner) in make_ops(lib).items():
        x, w = leaf(x0), leaf(w0.get(name, 0.01 * rng.standard_normal((4, 4))))

        def forward():
            for _ in range(n):
                op(x, w)

        def chain():
            y = x
            for _ in range(n):
                y = step(y, w)
            backward(y)

        results[name] = {"forward_us": median_seconds(forward, repeats) / n * 1e6,
                         "fwd_bwd_us": median_seconds(chain, repeats) / n * 1e6}
    for name, (_, _, partner) in make_ops(lib).items():
        if partner:
            results[name]["fwd_bwd_us"] -= results[partner]["fwd_bwd_us"]
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="ops per timed run")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", default="benchmarks/results/ops.json", help="where to write the numbers")
    args = parser.parse_args()

    table = {"ours": measure("ours", args.n, args.repeats)}
    try:
        import torch
        table["torch"] = measure(torch, args.n, args.repeats)
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
        print("torch is not installed (make bench TORCH=1): showing our numbers only\n")

    head = f"{'op':<12} {'fwd µs':>8} {'fwd+bwd µs':>11}"
    if torch_version:
        head += f" {'torch fwd':>10} {'torch f+b':>10} {'fwd ratio':>10} {'f+b ratio':>10}"
    print(f"per-op cost on 4x4 float64 tensors, median of {args.repeats} runs of {args.n} ops")
    print(head)
    for name, ours in table["ours"].items():
        row = f"{name:<12} {ours['forward_us']:>8.2f} {ours['fwd_bwd_us']:>11.2f}"
        if torch_version:
            theirs = table["torch"][name]
            row += (f" {theirs['forward_us']:>10.2f} {theirs['fwd_bwd_us']:>10.2f}"
                    f" {ours['forward_us'] / theirs['forward_us']:>10.2f}"
                    f" {ours['fwd_bwd_us'] / theirs['fwd_bwd_us']:>10.2f}")
        print(row)
    if torch_version:
        print("ratio = ours / torch (below 1: we are faster)")

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"n": args.n, "repeats": args.repeats, "numpy": np.__version__, "torch": torch_version,
               "results": table}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
