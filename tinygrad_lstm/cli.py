"""The `tinygrad-lstm` command (also `python -m tinygrad_lstm`)."""
import argparse
import sys

import numpy as np

from . import __version__
from .gradcheck import check_gradients, rel_error
from .tensor import Tensor


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit code 2, never a traceback."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def demo(out=sys.stdout):
    """The engine on one gate of the lecture's LSTM, then the whole model checked three ways."""
    from .gradcheck import compare
    from .nn import LSTM

    print("1. One forget gate, F_t = σ(W_f X_t), with lecture 004's W_f and X_t = [HS_0; x_1]", file=out)
    W_f = Tensor([[0.813, -0.487, 0.020, -0.778, 0.418],
                  [-0.708, 0.006, 0.856, -0.106, -0.872]], requires_grad=True, name="W_f")
    X_t = Tensor([0.0, 0.0, 1.0, 0.0, 0.0], name="X_t")
    R = np.array([0.3, -0.7])    # a random-looking weight: L = Σ F_t ⊗ R

    def loss():
        return ((W_f @ X_t).sigmoid().named("F_t") * R).sum()

    L = loss()
    F_t = L.parents[0].parents[0]
    print(f"   F_t = {np.round(F_t.data, 6)}   (the lecture prints [0.505, 0.702])", file=out)
    print(f"   graph: {' <- '.join(t.name or t.op for t in (L, L.parents[0], F_t, F_t.parents[0]))}"
          f" <- (W_f, X_t)", file=out)
    [(autodiff, numeric)] = check_gradients(loss, [W_f])
    error = rel_error(autodiff, numeric)
    print(f"   dL/dW_f by autodiff:\n{np.round(autodiff, 6)}", file=out)
    print(f"   largest relative error against finite differences: {error:.1e}\n", file=out)

    print("2. An LSTM (I=3, H=4, O=3) unrolled over 6 steps, batch of 2, non-zero initial states:",
          file=out)
    model = LSTM(3, 4, 3, seed=0)
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((6, 2, 3)), rng.integers(0, 3, size=(6, 2))
    h0, c0 = 0.5 * rng.standard_normal((2, 4)), 0.5 * rng.standard_normal((2, 4))
    report = compare(model, xs, ys, h0, c0)
    print(report, file=out)
    return 0 if error < 1e-6 and report.ok else 1


def example(args, out=sys.stdout):
    """Lecture 004's worked example, value by value against what the lecture printed."""
    from .worked_example import worked_example
    result = worked_example()
    print(result.to_json(indent=2) if args.json else result, file=out)
    return 0


def check(args, out=sys.stdout):
    """Autodiff vs hand-derived BPTT vs finite differences on a random model and data."""
    from .gradcheck import compare
    model, xs, targets, rng = _model_and_data(args)
    batch = () if args.batch == 1 else (args.batch,)
    layers = () if args.layers == 1 else (args.layers,)
    h0 = 0.5 * rng.standard_normal((*layers, *batch, args.hidden))   # non-zero initial states
    c0 = 0.5 * rng.standard_normal(h0.shape) if args.model == "lstm" else None
    report = compare(model, xs, targets, h0, c0, seed=args.seed)
    print(report.to_json(indent=2) if args.json else report, file=out)
    return 0 if report.ok else 1


def _model_and_data(args):
    """The model the flags describe, and seeded random data of its sizes."""
    from .nn import LSTM, RNN
    if args.model == "lstm":
        model = LSTM(args.input, args.hidden, args.output, num_layers=args.layers, bias=not args.no_bias,
                     peephole=args.peephole, seed=args.seed)
    else:
        if args.peephole:
            raise _UsageError("--peephole applies to --model lstm only")
        model = RNN(args.input, args.hidden, args.output, num_layers=args.layers, bias=not args.no_bias,
                    seed=args.seed)
    rng = np.random.default_rng(args.seed)
    batch = () if args.batch == 1 else (args.batch,)
    xs = rng.standard_normal((args.steps, *batch, args.input))
    targets = rng.integers(0, args.output, size=(args.steps, *batch))
    return model, xs, targets, rng


def render_graph(args, out=sys.stdout):
    """The unrolled graph of the model's loss, drawn to a file."""
    from viz import render
    model, xs, targets, _ = _model_and_data(args)
    mask = None
    if args.loss == "last":                    # many-to-one: watch one loss's gradient go back
        mask = np.zeros(targets.shape, dtype=bool)
        mask[-1] = True
    loss = model.loss(xs, targets, mask=mask)
    if args.grads:
        loss.backward()
    path = render(loss, args.o, detail=args.detail, show_grads=args.grads, show_values=args.values)
    print(f"wrote {path}", file=out)
    return 0


def plot_gradients(args, out=sys.stdout):
    """‖dL/dHS_t‖ and ‖dL/dCS_t‖ against t, LSTM next to RNN, loss at the last step."""
    from viz.plots import vanishing_gradient_demo
    vanishing_gradient_demo(args.o, steps=args.steps, input_size=args.input, hidden_size=args.hidden,
                            output_size=args.output, batch=args.batch, seed=args.seed)
    print(f"wrote {args.o}", file=out)
    return 0


class _UsageError(Exception):
    """A combination of arguments that argparse cannot reject by itself."""


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser():
    parser = _Parser(prog="tinygrad-lstm", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    commands.add_parser("demo", help="the engine on one gate, then an LSTM checked three ways")

    sub = commands.add_parser("example", help="lecture 004's worked example, value by value")
    sub.add_argument("--json", action="store_true", help="print JSON for programs")

    sub = commands.add_parser("check", help="autodiff vs hand-derived BPTT vs finite differences",
                              description="Exit 0 when all three agree, 1 when they do not.")
    _model_flags(sub, steps=5)
    sub.add_argument("--json", action="store_true", help="print JSON for programs")

    sub = commands.add_parser("render", help="draw the unrolled graph to SVG, PNG, PDF or DOT",
                              description="The graph of the model's loss on random data, drawn with "
                                          "Graphviz; the format comes from the suffix of -o.")
    _model_flags(sub, steps=3)
    sub.add_argument("--detail", choices=("op", "cell"), default="op",
                     help="a node per op (default), or per cell and step for long sequences")
    sub.add_argument("--grads", action="store_true", help="backward() first; colour by gradient norm")
    sub.add_argument("--values", action="store_true", help="print small tensors' values")
    sub.add_argument("--loss", choices=("last", "all"), default="last",
                     help="the loss at the last step only (default), or at every step")
    sub.add_argument("-o", required=True, metavar="FILE", help="where to write (.svg .png .pdf .dot)")

    sub = commands.add_parser("plot-gradients", help="‖dL/dHS_t‖, ‖dL/dCS_t‖ against t: LSTM vs RNN",
                              description="An LSTM and an RNN with the same sizes and data, a loss at "
                                          "the last step: how much gradient reaches each step.")
    sub.add_argument("--steps", type=_positive, default=50, metavar="T", help="time steps (default 50)")
    sub.add_argument("--input", type=_positive, default=4, metavar="I", help="input size (default 4)")
    sub.add_argument("--hidden", type=_positive, default=16, metavar="H", help="hidden size (default 16)")
    sub.add_argument("--output", type=_positive, default=4, metavar="O", help="classes (default 4)")
    sub.add_argument("--batch", type=_positive, default=8, metavar="B", help="batch size (default 8)")
    sub.add_argument("--seed", type=int, default=0, help="weights and data (default 0)")
    sub.add_argument("-o", required=True, metavar="FILE", help="where to write (.png .svg .pdf)")
    return parser


def _model_flags(sub, steps):
    sub.add_argument("--model", choices=("lstm", "rnn"), default="lstm")
    sub.add_argument("--input", type=_positive, default=3, metavar="I", help="input size (default 3)")
    sub.add_argument("--hidden", type=_positive, default=4, metavar="H", help="hidden size (default 4)")
    sub.add_argument("--output", type=_positive, default=3, metavar="O", help="classes (default 3)")
    sub.add_argument("--steps", type=_positive, default=steps, metavar="T", help=f"time steps (default {steps})")
    sub.add_argument("--batch", type=_positive, default=1, metavar="B", help="batch size (default 1)")
    sub.add_argument("--layers", type=_positive, default=1, metavar="L", help="stacked layers (default 1)")
    sub.add_argument("--no-bias", action="store_true", help="the lecture's bias-free model")
    sub.add_argument("--peephole", action="store_true", help="peephole connections (LSTM)")
    sub.add_argument("--seed", type=int, default=0, help="weights and data (default 0)")


COMMANDS = {"demo": lambda args: demo(), "example": example, "check": check, "render": render_graph,
            "plot-gradients": plot_gradients}


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (_UsageError, ValueError) as e:          # a flag's value the command cannot use
        parser.error(str(e))
    except (OSError, RuntimeError, ImportError) as e:   # a missing folder, no dot, no matplotlib
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
