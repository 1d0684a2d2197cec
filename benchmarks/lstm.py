"""Forward + backward of the LSTM loss (T steps, output layer, cross-entropy summed over
time, averaged over the batch), ours against numpy, PyTorch, JAX and autograd, in one run.

Our paths: "eager" (model.loss(...).backward(); called "autodiff" before the compiled path
existed, and so in older results), "compiled" (model.compile() once, then
compiled.loss_and_grad(...); benchmarks/compiled.py), "bptt" (our hand-derived BPTT,
bptt.lstm_gradients: docs/math.md transcribed step by step, written to be read, not tuned:
its time is what readability costs) and "numpy reference" (benchmarks/numpy_lstm.py, the
fastest vectorised numpy we could write for this loss). Peers, each only when importable:
"torch.nn.LSTM" and "torch LSTMCell loop" (peers_torch.py), "jax" (peers_jax.py) and
"autograd" (peers_autograd.py).

    python benchmarks/lstm.py [--workloads tiny,small,...] [--dtypes float64,float32]
                              [--json benchmarks/results/lstm.json] [--budget S] [--rounds N]
                              [--no-memory] [--no-linearity] [--no-compile-time]

Every path is timed in each of N rounds (the paths take turns), for budget/N seconds a round
(at least 3 runs), after one warm-up call. Times are medians over all rounds; a ratio is
taken per round and shown as its median (min–max over rounds). "first call − steady" is
the warm-up call's extra time: compile time for compiled and jax. Once per workload the
gradients of eager and compiled, and the losses of jax and autograd, are checked against
the numpy reference (a WARNING line if they differ). Peak memory: a separate run under
tracemalloc (numpy's allocations; torch's and jax's are not visible to it); compiled's
includes model.compile() and its first, allocating, call. A failure of one of our paths is
printed with its traceback and makes the exit status 1; a peer's failure is only printed.
"""
import argparse
import json
import os
import sys
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import compiled, numpy_lstm, peers_autograd, peers_jax, peers_torch  # noqa: E402
from benchmarks.measure import load_warning, median_time, peak_bytes, show, spread, timed  # noqa: E402
from benchmarks.workloads import O, WORKLOADS, data  # noqa: E402
from tinygrad_lstm import bptt  # noqa: E402
from tinygrad_lstm.nn import LSTM  # noqa: E402

BUDGET = 3.0                # seconds of timed runs per path, over all rounds
OURS = ("eager", "compiled", "bptt", "numpy reference")
RATIOS = (                  # label: numerator path, denominator path
    ("compiled/nn.LSTM", "compiled", "torch.nn.LSTM"),
    ("compiled/cells", "compiled", "torch LSTMCell loop"),
    ("compiled/reference", "compiled", "numpy reference"),
    ("eager/compiled", "eager", "compiled"),
    ("compiled/jax", "compiled", "jax"),
    ("compiled/autograd", "compiled", "autograd"),
    ("eager/nn.LSTM", "eager", "torch.nn.LSTM"),
    ("eager/cells", "eager", "torch LSTMCell loop"),
    ("eager/bptt", "eager", "bptt"),
    ("bptt/reference", "bptt", "numpy reference"),
    ("bptt/nn.LSTM", "bptt", "torch.nn.LSTM"),
)
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}      # relative, against the numpy reference
PEERS = {"torch": peers_torch, "jax": peers_jax, "autograd": peers_autograd}


def our_paths(model, xs, ys):
    params = {n: p.data for n, p in model.named_parameters()}

    def eager():
        model.zero_grad()
        loss = model.loss(xs, ys)
        loss.backward()
        return loss.item()

    paths = {"eager": eager}
    if compiled.available(model):
        paths["compiled"] = compiled.path(model, xs, ys)
    paths["bptt"] = lambda: bptt.lstm_gradients(params, xs, ys)["loss"]
    paths["numpy reference"] = lambda: numpy_lstm.lstm_gradients(params, xs, ys)["loss"]
    return paths


def peer_paths(libs, model, xs, ys, errors):
    """{path: fn} of the peers whose library is loaded (libs: {peer: module or None})."""
    params = {n: p.data for n, p in model.named_parameters()}
    paths = {}
    for name, module in PEERS.items():
        lib = libs[name]
        if lib is None:
            continue
        try:
            if name == "torch":
                paths.update(module.paths(lib, xs, ys, model.hidden_size, O))
            else:
                paths[name] = module.build(lib, params, xs, ys)
        except Exception:                       # a peer's failure is reported, not fatal
            errors[name] = traceback.format_exc()
            print(f"{name} FAILED to build\n{errors[name]}", file=sys.stderr, flush=True)
    return paths


def check(path, loss, model, reference, dtype):
    """WARNING lines where `path` disagrees with the numpy reference (gradients for ours)."""
    tol, warnings = TOLERANCE[dtype], []
    got = {"loss": loss}
    if path in ("eager", "compiled"):
        got.update((n, p.grad) for n, p in model.named_parameters())
    for name, value in got.items():
        if value is None:
            warnings.append(f"WARNING: {path} left no gradient in {name}")
            continue
        want = np.asarray(reference[name], dtype=np.float64)
        error = np.max(np.abs(np.asarray(value, dtype=np.float64) - want)) / max(np.max(np.abs(want)), 1e-300)
        if not error <= tol:
            warnings.append(f"WARNING: {path}'s {name} differs from the numpy reference's by {error:.1e} "
                            f"relative (tolerance {tol:.0e})")
    return warnings


def run_workload(name, dtype, libs, args):
    I, H, B, T = WORKLOADS[name]
    model = LSTM(I, H, O, seed=0, dtype=dtype)
    xs, ys = data(I, B, T, dtype)
    reference = numpy_lstm.lstm_gradients({n: p.data for n, p in model.named_parameters()}, xs, ys)
    row = {"workload": name, "dtype": dtype, "I": I, "H": H, "B": B, "T": T, "seconds_by_round": {},
           "first_call_seconds": {}, "errors": {}, "warnings": [], "wrong": []}
    paths = {**our_paths(model, xs, ys), **peer_paths(libs, model, xs, ys, row["errors"])}
    for r in range(args.rounds):
        for path, fn in list(paths.items()):
            try:
                if r == 0:
                    row["first_call_seconds"][path], loss = timed(fn)
                    if path in ("eager", "compiled", "jax", "autograd"):
                        found = check(path, loss, model, reference, dtype)
                        row["warnings"] += found
                        row["wrong"] += [path] if found and path in OURS else []
                seconds = median_time(fn, args.budget / args.rounds, warm_up=False)
            except Exception:
                row["errors"][path] = traceback.format_exc()
                print(f"{name} {dtype}: {path} FAILED\n{row['errors'][path]}", file=sys.stderr, flush=True)
                del paths[path]
                continue
            row["seconds_by_round"].setdefault(path, []).append(seconds)
    times = row["seconds_by_round"]
    row["seconds"] = {path: float(np.median(t)) for path, t in times.items()}
    row["ratios"] = {label: spread([a / b for a, b in zip(times[top], times[bottom])])
                     for label, top, bottom in RATIOS if top in times and bottom in times}
    row["peak_MB"] = {} if args.no_memory else peaks(model, xs, ys, paths, row["errors"])
    return row


def peaks(model, xs, ys, paths, errors):
    """Peak MB of our paths; compiled's from a fresh model.compile(), first call included."""
    result = {}
    for path in (p for p in OURS if p in paths):
        fn = paths[path]
        if path == "compiled":
            fresh = LSTM(model.input_size, model.hidden_size, O, seed=0, dtype=model.dtype)
            run = compiled.path(fresh, xs, ys)
            fn = lambda: (run(), run())          # noqa: E731 (compile, first and second call)
        try:
            result[path] = peak_bytes(fn) / 2**20
        except Exception:
            errors[path] = traceback.format_exc()
            print(f"{path} FAILED under tracemalloc\n{errors[path]}", file=sys.stderr, flush=True)
    return result


def show_row(row):
    s, first = row["seconds"], row["first_call_seconds"]
    lines = [f"{row['workload']} {row['dtype']} (I {row['I']}, H {row['H']}, B {row['B']}, T {row['T']})",
             "  ms      " + " | ".join(f"{path} {t * 1e3:.3g}" for path, t in s.items())]
    for involves_compiled in (True, False):
        ratios = [f"{label} {show(r)}" for label, r in row["ratios"].items()
                  if ("compiled" in label) == involves_compiled]
        if ratios:
            lines.append("  ratios  " + "  ".join(ratios))
    compile_paths = [p for p in ("compiled", "jax") if p in s]
    if compile_paths:
        lines.append("  first call − steady (compile): "
                     + "  ".join(f"{p} {(first[p] - s[p]) * 1e3:.1f} ms" for p in compile_paths))
    mb = row["peak_MB"]
    if mb:
        text = "  peak MB " + "  ".join(f"{path} {mb[path]:.3g}" for path in OURS if path in mb)
        if "compiled" in mb and "numpy reference" in mb:
            text += f"  | compiled/reference {mb['compiled'] / mb['numpy reference']:.2f}"
        lines.append(text)
    lines += [f"  {w}" for w in row["warnings"]]
    lines += [f"  {path}: FAILED: {error.strip().splitlines()[-1]} (traceback on stderr)"
              for path, error in row["errors"].items()]
    return "\n".join(lines)


def linearity(budget):
    """Time and peak memory at T = 4000 against T = 2000 (the long workload's sizes)."""
    I, H, B, _ = WORKLOADS["long"]
    result, lines = {}, []
    for path in ("eager", "compiled"):
        measured = {}
        for T in (2000, 4000):
            fns = our_paths(LSTM(I, H, O, seed=0), *data(I, B, T, "float64"))
            if path not in fns:
                return result, lines
            measured[T] = (median_time(fns[path], budget), peak_bytes(fns[path]))
        result[path] = {"time": measured[4000][0] / measured[2000][0],
                        "memory": measured[4000][1] / measured[2000][1]}
        lines.append(f"linear in T? {path} at T = 4000 against T = 2000: time x{result[path]['time']:.2f}, "
                     f"peak memory x{result[path]['memory']:.2f} (linear is x2)")
    return result, lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--json", default="benchmarks/results/lstm.json")
    parser.add_argument("--budget", type=float, default=BUDGET, help="seconds of timed runs per path")
    parser.add_argument("--rounds", type=int, default=3, help="rounds in which the paths take turns")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--no-linearity", action="store_true", help="skip the T = 2000 vs 4000 check")
    parser.add_argument("--no-compile-time", action="store_true", help="skip the compile-time lines")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help="the peers to load when installed (JAX and torch each start threads of their "
                             "own: load one at a time to see whether the other slows it)")
    args = parser.parse_args()
    wanted = set(filter(None, args.peers.split(",")))
    if wanted - set(PEERS):
        parser.error(f"--peers: unknown {', '.join(sorted(wanted - set(PEERS)))}; "
                     f"the peers are {', '.join(PEERS)}")
    loaded = {name: module.load() if name in wanted else (None, None)        # name: (library, version)
              for name, module in PEERS.items()}
    libs = {name: lib for name, (lib, _) in loaded.items()}
    versions = {"numpy": np.__version__, **{name: version for name, (_, version) in loaded.items()}}
    print("versions: " + ", ".join(f"{k} {v or 'not installed'}" for k, v in versions.items()))
    has_compiled = compiled.available(LSTM(1, 1, 1))
    if not has_compiled:
        print(f"NOTE: {compiled.MISSING}: eager, bptt, the reference and the peers only")
    print("ratios: ours / theirs, under 1 means ours is faster; median (min–max over rounds)")
    if load_warning():
        print(load_warning())

    results = []
    for dtype in args.dtypes.split(","):
        for name in args.workloads.split(","):
            results.append(run_workload(name, dtype, libs, args))
            print(show_row(results[-1]), flush=True)
    extra, failed = {}, []
    extras = (("compile_time", args.no_compile_time, lambda: compiled.compile_times(jax=libs["jax"])),
              ("linearity", args.no_linearity, lambda: linearity(args.budget)))
    for key, skip, measure in extras:
        if skip:
            continue
        try:
            extra[key], lines = measure()
            print("\n".join(lines), flush=True)
        except Exception:
            print(f"{key}: FAILED\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            failed.append(key)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**versions, "cores": os.cpu_count(), "rounds": args.rounds,
                               "compiled_path": has_compiled, "results": results, **extra}, indent=2))
    print(f"wrote {out}")
    failed += [f"{r['workload']} {r['dtype']} {path}" for r in results for path in (*r["errors"], *r["wrong"])
              if path in OURS]
    if failed:
        print(f"FAILED (our engine raised, or gave a wrong result): {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
