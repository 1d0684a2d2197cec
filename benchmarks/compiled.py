"""Our compiled path, and how long compiling takes.

    compiled = model.compile()
    loss = compiled.loss_and_grad(xs, targets)   # a float; every gradient added into .grad

The first call for an input signature (shapes, dtype) traces and compiles; later calls
replay. Two times are reported, for fresh models at T = 50 and T = 2000 (the long
workload's sizes, I 8, H 16, B 1): trace and compile, `compiled.program(xs, ys)` (the
trace, the passes and the generated code, no replay); and the first call's overhead,
model.compile() + the first loss_and_grad minus one steady-state call (which also
allocates the buffers and lists their row views, in proportion to T), beside JAX's jit
when it is installed. The target is at most 20 ms, and the same for both lengths.

    python benchmarks/compiled.py [--repeats 5]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import peers_jax  # noqa: E402
from benchmarks.measure import median_time, show, spread, timed  # noqa: E402
from benchmarks.workloads import O, WORKLOADS, data  # noqa: E402
from tinygrad_lstm.nn import LSTM  # noqa: E402

TARGET = 0.020          # seconds
LENGTHS = (50, 2000)
SIZES = WORKLOADS["long"][:3]   # I, H, B
MISSING = "the compiled path is missing (model.compile does not exist yet)"


def available(model):
    return hasattr(model, "compile")


def path(model, xs, ys):
    """fn() -> loss: zero_grad, then the compiled loss_and_grad; model.compile() on the first call."""
    state = {}

    def compiled():
        if "compiled" not in state:
            state["compiled"] = model.compile()
        model.zero_grad()
        return state["compiled"].loss_and_grad(xs, ys)

    return compiled


def first_call_overhead(make_fn, repeats, budget=0.2):
    """(first call − steady-state median, steady-state median) in seconds, for each of
    `repeats` fresh fn = make_fn()."""
    measured = []
    for _ in range(repeats):
        fn = make_fn()
        first = timed(fn)[0]
        steady = median_time(fn, budget, warm_up=False)
        measured.append((first - steady, steady))
    return measured


def trace_and_compile(I, H, B, xs, ys, repeats):
    """Seconds of compiled.program(xs, ys) on fresh models: the trace and the compiler alone."""
    out = []
    for _ in range(repeats):
        compiled = LSTM(I, H, O, seed=0).compile()
        out.append(timed(lambda: compiled.program(xs, ys))[0])
    return out


def compile_times(repeats=5, jax=None):
    """{T: {"compiled": spread in seconds, "compiled steady": ..., "jax": ...}} and the lines to print."""
    I, H, B = SIZES
    if not available(LSTM(I, H, O)):
        return {}, [f"compile time: {MISSING}"]
    results, lines = {}, []
    for T in LENGTHS:
        xs, ys = data(I, B, T, "float64")
        ours = first_call_overhead(lambda: path(LSTM(I, H, O, seed=0), xs, ys), repeats)
        row = results[T] = {"trace and compile": spread(trace_and_compile(I, H, B, xs, ys, repeats)),
                            "compiled": spread([o for o, _ in ours]),
                            "compiled steady": spread([s for _, s in ours])}
        met = row["trace and compile"]["median"] <= TARGET
        text = (f"compile time T = {T:<4} (I {I}, H {H}, B {B}): trace and compile "
                f"{_ms(row['trace and compile'])} ms "
                + ("(met)" if met else f"(NOT met: target ≤ {TARGET * 1e3:.0f} ms)")
                + f"; first call − steady {_ms(row['compiled'])} ms, beside a steady call of "
                f"{_ms(row['compiled steady'])} ms")
        if jax is not None:
            params = {n: p.data for n, p in LSTM(I, H, O, seed=0).named_parameters()}
            theirs = first_call_overhead(lambda: peers_jax.build(jax, params, xs, ys), max(1, repeats // 2))
            row["jax"] = spread([o for o, _ in theirs])
            text += f"  | jax {_ms(row['jax'])} ms"
        lines.append(text)
    short, long = (results[T]["trace and compile"]["median"] for T in LENGTHS)
    lines.append(f"trace and compile, T = {LENGTHS[1]} minus T = {LENGTHS[0]}: "
                 f"{(long - short) * 1e3:+.1f} ms (target: the same, +0)")
    return results, lines


def _ms(s):
    return show({k: v * 1e3 for k, v in s.items()}, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh models per length")
    args = parser.parse_args()
    jax, _ = peers_jax.load()
    for line in compile_times(args.repeats, jax)[1]:
        print(line)


if __name__ == "__main__":
    main()
