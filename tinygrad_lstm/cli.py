"""The `tinygrad-lstm` command (also `python -m tinygrad_lstm`)."""
import argparse
import os
import sys
import warnings

import numpy as np

from . import __version__
from .checks import TooLargeError, check_fits
from .data import TASKS
from .files import check_output_path
from .train import DEFAULT_LR, OPTIMIZERS, train
from .train import STEPS as TRAIN_STEPS

PROG = "tinygrad-lstm"


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit code 2, never a traceback."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def demo(args, out=sys.stdout):
    """The main job: an LSTM and an RNN learn recall (delay 20); the gradient check; pictures."""
    from pathlib import Path

    from .data import Recall
    from .gradcheck import compare
    from .nn import LSTM, RNN
    import shutil
    if shutil.which("dot") is None:      # before 15 seconds of training, not after
        raise RuntimeError("Graphviz is not installed: the demo draws with its 'dot' program. Install it "
                           "(Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz), "
                           "or run `make demo`, which installs it")
    from tinygrad_lstm.viz.plots import check_plotting
    try:                                 # matplotlib is an extra: without it, no plot (said first)
        check_plotting()
        plots = ("gradient-norms.svg",)
    except ImportError as e:
        print(f"{PROG}: note: {e}. The demo runs without its gradient plot.", file=sys.stderr)
        plots = ()
    if not args.out.strip():
        raise _UsageError("--out needs a folder name; got an empty one")
    folder = Path(args.out)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"demo: --out {str(folder)!r} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("lstm-graph.svg", "lstm-graph.html") + plots:   # before training
        check_output_path(folder / name, "demo")
    task = Recall(delay=20)
    print(f"1. Learning {task.describe()}: remember the marked first symbol through 20 look-alikes.",
          file=out)
    trained = {}
    for make in (LSTM, RNN):
        model = make(task.input_size, 32, task.output_size, seed=args.seed)
        result = train(model, task, steps=args.steps, seed=args.seed, compiled=not args.eager,
                       threads=args.threads, progress=_progress_bar(args.steps, make.__name__))
        trained[make.__name__] = model
        print(f"   {make.__name__:<4} accuracy {result.accuracy:.3f}  (final loss {result.final_loss:.3f}, "
              f"{result.seconds:.1f} s, {result.steps} SGD steps)", file=out)
    print("   The same optimizer, data and seed: the LSTM's cell state carries the symbol; the RNN's "
          "gradient fades before it reaches step 1.\n", file=out)

    print("2. Are the LSTM's gradients right? Autodiff vs hand-derived BPTT vs finite differences, and the "
          "compiled program vs eager autodiff:", file=out)
    rng = np.random.default_rng(args.seed)
    batch = Recall(delay=3).batch(2, rng)
    report = compare(trained["LSTM"], batch.xs, batch.targets, mask=batch.mask)
    print(report, file=out)

    print("\n3. Pictures:", file=out)
    from tinygrad_lstm.viz import render
    from tinygrad_lstm.viz.plots import plot_gradient_norms
    short = Recall(delay=3).batch(1, rng)
    loss = trained["LSTM"].loss(short.xs[:, 0], short.targets[:, 0], mask=short.mask[:, 0])
    loss.backward()
    graph = render(loss, folder / "lstm-graph.svg", show_grads=True)
    page = render(loss, folder / "lstm-graph.html", show_grads=True)
    print(f"   {graph}: the trained LSTM unrolled over {len(short.xs)} steps of recall, coloured by "
          f"gradient norm; the thick red line is the cell state", file=out)
    print(f"   {page}: the same graph as a page: hover a node, click one, step through backward()",
          file=out)
    if not plots:
        return 0 if report.ok else 1
    batch = task.batch(64, rng)
    plot = plot_gradient_norms({f"{name} (trained)": model for name, model in trained.items()}, batch.xs,
                               batch.targets, batch.mask, folder / "gradient-norms.svg",
                               title="Recall, delay 20: how much of the gradient at the query gets back",
                               relative=True)
    print(f"   {folder / 'gradient-norms.svg'}: the gradient reaching each step, relative to the "
          f"query's, trained LSTM vs trained RNN", file=out)
    del plot
    return 0 if report.ok else 1


def _progress_bar(total, label):
    """tqdm's bar on stderr when tqdm is installed and stderr is a terminal; else None."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    bar = tqdm(total=total, desc=label, unit="step", disable=None, leave=False, file=sys.stderr)
    if bar.disable:
        return None

    def update(step, loss, accuracy):
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", acc=f"{accuracy:.2f}", refresh=False)
        if step == total:
            bar.close()
    return update


def train_command(args, out=sys.stdout):
    """Train a model on a built-in task; print the result (the last line is JSON with --json)."""
    import json

    from .data import make_task
    from .nn import LSTM, RNN, WrongModelError
    for flag, value in (("--save", args.save), ("--load", args.load)):
        if value is not None and not value.strip():
            raise _UsageError(f"{flag} needs a file name; got an empty one")
    if args.save:                                 # a bad place to save fails now, not after training
        check_output_path(args.save, "save")
    task = make_task(args.task, delay=args.delay)
    make = LSTM if args.model == "lstm" else RNN
    if args.load:
        try:
            model = make.load(args.load)
        except WrongModelError as e:
            raise _UsageError(f"--load: {args.load} holds {e.kind} weights: add --model "
                              f"{e.kind.lower()}") from None
        except (OSError, ValueError) as e:        # the file is an argument: a usage error
            raise _UsageError(f"--load: {e}") from None
        if (model.input_size, model.output_size) != (task.input_size, task.output_size):
            raise _UsageError(f"--load: {args.load} has input size {model.input_size} and "
                              f"{model.output_size} classes; the task {task.name} needs "
                              f"{task.input_size} and {task.output_size}")
    else:
        model = make(task.input_size, args.hidden, task.output_size, seed=args.seed)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    result = train(model, task, steps=args.steps, batch_size=args.batch, lr=lr, optimizer=args.optimizer,
                   clip=args.clip or None, bptt_window=args.bptt_window, seed=args.seed,
                   compiled=not args.eager, threads=args.threads,
                   progress=_progress_bar(args.steps, f"{make.__name__} on {task.name}"))
    if args.save and result.stopped is None:
        model.save(args.save)
    if args.json:
        print(json.dumps({**result.to_dict(), "optimizer": args.optimizer, "lr": lr,
                          "hidden": model.hidden_size,
                          "saved": args.save if args.save and result.stopped is None else None}), file=out)
    else:
        print(f"{make.__name__} on {task.describe()}: accuracy {result.accuracy:.3f}, final loss "
              f"{result.final_loss:.4f}, {result.steps} steps in {result.seconds:.1f} s", file=out)
        if args.save and result.stopped is None:
            print(f"saved the weights to {args.save}", file=out)
    if result.stopped:
        print(f"{PROG}: {result.stopped}", file=sys.stderr)
        return 1
    return 0


def example(args, out=sys.stdout):
    """Lecture 004's worked example, value by value against what the lecture printed."""
    from .worked_example import worked_example
    result = worked_example()
    print(result.to_json(indent=2) if args.json else result, file=out)
    return 0


def check(args, out=sys.stdout):
    """Autodiff vs hand-derived BPTT vs finite differences (and the compiled program vs eager
    autodiff) on a random model and data."""
    from .gradcheck import compare
    model, xs, targets, rng = _model_and_data(args)
    if args.steps > CHECK_NOTICE_STEPS:        # 200 default-sized steps take ~12 s: say so first
        print(f"{PROG}: checking {args.steps:,} steps: finite differences run them twice for each number "
              f"they check, so this takes a while (in proportion to --steps)", file=sys.stderr, flush=True)
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
    _check_data_fits(args)
    xs = rng.standard_normal((args.steps, *batch, args.input))
    targets = rng.integers(0, args.output, size=(args.steps, *batch))
    return model, xs, targets, rng


def _check_data_fits(args):
    check_fits(args.command, f"the data (--steps {args.steps} × --batch {args.batch} × --input {args.input})",
               8 * args.steps * args.batch * args.input)


def render_graph(args, out=sys.stdout):
    """The unrolled graph of the model's loss, drawn to a file."""
    from tinygrad_lstm.viz import render
    from tinygrad_lstm.viz.graph import check_size
    check_output_path(args.o, "render")
    check_size(_tensors_in(args), args.steps, args.detail, args.force)   # before building T steps
    loss = _loss_to_draw(args)
    if args.grads:
        loss.backward()
    path = render(loss, args.o, detail=args.detail, show_grads=args.grads, show_values=args.values,
                  force=args.force)
    print(f"wrote {path}", file=out)
    return 0


def _loss_to_draw(args):
    model, xs, targets, _ = _model_and_data(args)
    mask = None
    if args.loss == "last":                    # many-to-one: watch one loss's gradient go back
        mask = np.zeros(targets.shape, dtype=bool)
        mask[-1] = True
    return model.loss(xs, targets, mask=mask)


def _tensors_in(args):
    """How many tensors the graph of --steps steps will have: every step adds as many as
    the second did, so two tiny graphs (of one sequence: the batch is an axis) tell, without
    building the big one."""
    from .tensor import topological_order
    one, two = (len(topological_order(_loss_to_draw(argparse.Namespace(**{**vars(args), "steps": T,
                                                                          "batch": 1}))))
                for T in (1, 2))
    return one + (args.steps - 1) * (two - one)


def plot_gradients(args, out=sys.stdout):
    """‖dL/dHS_t‖ and ‖dL/dCS_t‖ against t, LSTM next to RNN, loss at the last step."""
    from tinygrad_lstm.viz.plots import vanishing_gradient_demo
    check_output_path(args.o, "plot")
    vanishing_gradient_demo(args.o, steps=args.steps, input_size=args.input, hidden_size=args.hidden,
                            output_size=args.output, batch=args.batch, seed=args.seed)
    print(f"wrote {args.o}", file=out)
    return 0


class _UsageError(Exception):
    """A combination of arguments that argparse cannot reject by itself."""


def _number(convert, acceptable, expected):
    """An argparse type: `convert` the text, then insist that `acceptable(value)`; either way
    a failure says what was expected and what came."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not acceptable(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value
    parse.__name__ = expected
    return parse


_positive = _number(int, lambda v: v >= 1, "a positive integer")
_whole = _number(int, lambda v: v >= 0, "a whole number ≥ 0")
_positive_number = _number(float, lambda v: 0 < v < float("inf"), "a positive number")
_clip = _number(float, lambda v: 0 <= v < float("inf"), "a finite number ≥ 0 (0 turns clipping off)")


EAGER_HELP = ("train on the eager graph, built and backpropagated for every batch (default: the "
              "compiled program, traced once; the same gradients, faster)")
CHECK_NOTICE_STEPS = 100
THREADS_HELP = ("BLAS threads for the matrix products (default: 1, where threads cost more than "
                "they give, unless the products are large)")


EPILOG = ("Exit codes: 0 done; 1 a runtime failure (one line on stderr), or `check` found gradients "
          "that disagree; 2 a usage error (one line on stderr); 130 interrupted. Output paths are "
          "checked before any work. A closed stdout (`tinygrad-lstm check | head -1`) ends quietly "
          "with the command's own exit code, or 0 if it had none yet.")


def build_parser():
    parser = _Parser(prog=PROG, description=__doc__.split("\n")[0], epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    sub = commands.add_parser("demo",
                              help="the main job: LSTM vs RNN on recall, the gradient check, pictures")
    sub.add_argument("--steps", type=_positive, default=TRAIN_STEPS,
                     help=f"training steps (default {TRAIN_STEPS})")
    sub.add_argument("--seed", type=_whole, default=0, help="weights and data (default 0)")
    sub.add_argument("--out", default="out", metavar="DIR", help="where the pictures go (default out/)")
    sub.add_argument("--eager", action="store_true", help=EAGER_HELP)
    sub.add_argument("--threads", type=_positive, default=None, metavar="N", help=THREADS_HELP)

    sub = commands.add_parser("train", help="train a model on a built-in task",
                              description="SGD with momentum 0.9 (or Adam), gradient clipping, full or "
                                          "truncated BPTT, on next-char, recall or pos.")
    sub.add_argument("--task", choices=TASKS, required=True)
    sub.add_argument("--delay", type=_whole, default=20, metavar="N",
                     help="recall: distractor steps (default 20)")
    sub.add_argument("--model", choices=("lstm", "rnn"), default="lstm")
    sub.add_argument("--hidden", type=_positive, default=32, metavar="H", help="hidden size (default 32)")
    sub.add_argument("--steps", type=_positive, default=TRAIN_STEPS, metavar="S",
                     help=f"updates (default {TRAIN_STEPS})")
    sub.add_argument("--batch", type=_positive, default=32, metavar="B",
                     help="sequences per update (default 32)")
    sub.add_argument("--lr", type=_positive_number, default=None,
                     help="learning rate (default 0.1 for sgd, 0.01 for adam)")
    sub.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    sub.add_argument("--clip", type=_clip, default=1.0, metavar="C",
                     help="largest gradient norm (default 1.0; 0 turns clipping off)")
    sub.add_argument("--bptt-window", type=_positive, default=None, metavar="K",
                     help="truncated BPTT with windows of K steps (default: full BPTT)")
    sub.add_argument("--seed", type=_whole, default=0, help="weights and data (default 0)")
    sub.add_argument("--save", metavar="FILE", help="write the trained weights (.npz)")
    sub.add_argument("--load", metavar="FILE", help="start from weights saved by --save")
    sub.add_argument("--eager", action="store_true", help=EAGER_HELP)
    sub.add_argument("--threads", type=_positive, default=None, metavar="N", help=THREADS_HELP)
    sub.add_argument("--json", action="store_true", help="the last line of stdout is one JSON object")

    sub = commands.add_parser("example", help="lecture 004's worked example, value by value")
    sub.add_argument("--json", action="store_true", help="print JSON for programs")

    sub = commands.add_parser("check", help="autodiff vs hand BPTT vs finite differences; compiled vs eager",
                              description="Autodiff vs hand-derived BPTT vs finite differences, and the "
                                          "compiled program vs eager autodiff. Exit 0 when all agree, 1 "
                                          "when they do not.")
    _model_flags(sub, steps=5)
    sub.add_argument("--json", action="store_true", help="print JSON for programs")

    sub = commands.add_parser("render", help="draw the unrolled graph to SVG, PNG, PDF, DOT or an HTML page",
                              description="The graph of the model's loss on random data, drawn with "
                                          "Graphviz; the format comes from the suffix of -o. A .html "
                                          "page lets you hover nodes and step through the backward pass.")
    _model_flags(sub, steps=3)
    sub.add_argument("--detail", choices=("op", "cell"), default="op",
                     help="a node per op (default), or per cell and step for long sequences")
    sub.add_argument("--grads", action="store_true", help="backward() first; colour by gradient norm")
    sub.add_argument("--values", action="store_true", help="print small tensors' values")
    sub.add_argument("--loss", choices=("last", "all"), default="last",
                     help="the loss at the last step only (default), or at every step")
    sub.add_argument("--force", action="store_true",
                     help="draw an op-level picture past 4,000 tensors (about 250 LSTM steps), slowly")
    sub.add_argument("-o", required=True, metavar="FILE", help="where to write (.svg .png .pdf .dot .html)")

    sub = commands.add_parser("plot-gradients", help="‖dL/dHS_t‖, ‖dL/dCS_t‖ against t: LSTM vs RNN",
                              description="An LSTM and an RNN with the same sizes and data, a loss at "
                                          "the last step: how much gradient reaches each step.")
    sub.add_argument("--steps", type=_positive, default=50, metavar="T", help="time steps (default 50)")
    sub.add_argument("--input", type=_positive, default=4, metavar="I", help="input size (default 4)")
    sub.add_argument("--hidden", type=_positive, default=16, metavar="H", help="hidden size (default 16)")
    sub.add_argument("--output", type=_positive, default=4, metavar="O", help="classes (default 4)")
    sub.add_argument("--batch", type=_positive, default=8, metavar="B", help="batch size (default 8)")
    sub.add_argument("--seed", type=_whole, default=0, help="weights and data (default 0)")
    sub.add_argument("-o", required=True, metavar="FILE", help="where to write (.png .svg .pdf)")
    return parser


def _model_flags(sub, steps):
    sub.add_argument("--model", choices=("lstm", "rnn"), default="lstm")
    sub.add_argument("--input", type=_positive, default=3, metavar="I", help="input size (default 3)")
    sub.add_argument("--hidden", type=_positive, default=4, metavar="H", help="hidden size (default 4)")
    sub.add_argument("--output", type=_positive, default=3, metavar="O", help="classes (default 3)")
    sub.add_argument("--steps", type=_positive, default=steps, metavar="T",
                     help=f"time steps (default {steps})")
    sub.add_argument("--batch", type=_positive, default=1, metavar="B", help="batch size (default 1)")
    sub.add_argument("--layers", type=_positive, default=1, metavar="L", help="stacked layers (default 1)")
    sub.add_argument("--no-bias", action="store_true", help="the lecture's bias-free model")
    sub.add_argument("--peephole", action="store_true", help="peephole connections (LSTM)")
    sub.add_argument("--seed", type=_whole, default=0, help="weights and data (default 0)")


COMMANDS = {"demo": demo, "train": train_command, "example": example, "check": check,
            "render": render_graph, "plot-gradients": plot_gradients}


def main(argv=None):
    """Run the command in `argv`; return its exit code. Exit codes: see EPILOG. A reader that
    closes our stdout early (`tinygrad-lstm example | head -1`) is not an error: the command
    ends quietly, exit 0 (or its own code, if it had finished), nothing on stderr."""
    code = 0
    if sys.stdout is None:                   # started with stdout closed (`tinygrad-lstm ... >&-`)
        sys.stdout = open(os.devnull, "w")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")
    try:
        try:
            code = _run(argv)
            return code
        finally:
            sys.stdout.flush()               # a closed pipe shows here, not as noise at exit
    except BrokenPipeError:                  # only stdout's: _run reports any other as an error
        _stdout_to_devnull()
        return code


def _run(argv):
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv              # accepted anywhere: before or after the subcommand
    argv = [a for a in argv if a != "--debug"]
    args = parser.parse_args(argv)
    args.debug = debug
    # numpy's RuntimeWarnings (overflow, invalid value) come just before the failure they
    # cause, which our one line on stderr then explains better ("the loss became inf at step
    # 2 ..."). So warnings are held back while the command runs, and shown only if it ends
    # with exit 0, or with --debug: a success keeps its warnings; a failure is one line.
    code = 1
    with warnings.catch_warnings(record=True) as held:
        try:
            code = _command(parser, args)
        finally:
            shown = code == 0 or args.debug
    for w in held if shown else ():
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
    return code


def _command(parser, args):
    try:
        return COMMANDS[args.command](args)
    except (_UsageError, ValueError, TooLargeError) as e:     # a flag's value the command cannot use
        if args.debug:
            raise
        parser.error(str(e))
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:                          # a missing folder, no dot, anything else
        if isinstance(e, BrokenPipeError) and _stdout_closed():
            raise                                   # main() ends quietly
        if args.debug:
            raise
        print(f"{parser.prog}: error: {' '.join(str(e).split()) or type(e).__name__}"
              f"{'' if isinstance(e, (OSError, RuntimeError, ImportError)) else ' (--debug shows where)'}",
              file=sys.stderr)
        return 1


def _stdout_closed():
    """Whether stdout is a pipe whose reader has gone (so a BrokenPipeError was stdout's)."""
    try:
        import select
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):       # no poll (Windows), or no real stdout
        return True


def _stdout_to_devnull():
    """Point stdout's file descriptor at /dev/null, so that the flush at exit cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):       # stdout is no real file (e.g. under a test)
        pass


if __name__ == "__main__":
    sys.exit(main())
