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
    """One forget gate of the lecture's LSTM step, built from engine ops and checked.

    F_t = σ(W_f X_t) with lecture 004's W_f and X_t = [HS_{t−1}; x_t] = [0, 0, 1, 0, 0];
    then a loss L = Σ F_t ⊗ R with a fixed R, backward(), and autodiff against finite
    differences for W_f.
    """
    W_f = Tensor([[0.813, -0.487, 0.020, -0.778, 0.418],
                  [-0.708, 0.006, 0.856, -0.106, -0.872]], requires_grad=True, name="W_f")
    X_t = Tensor([0.0, 0.0, 1.0, 0.0, 0.0], name="X_t")
    R = np.array([0.3, -0.7])

    def loss():
        return ((W_f @ X_t).sigmoid().named("F_t") * R).sum()

    L = loss()
    F_t = L.parents[0].parents[0]
    print(f"F_t = σ(W_f X_t) = {np.round(F_t.data, 6)}   (lecture 004: [0.505, 0.702])", file=out)
    print(f"graph: {' <- '.join(f'{t.name or t.op}' for t in (L, L.parents[0], F_t, F_t.parents[0]))}"
          f" <- (W_f, X_t)", file=out)
    [(autodiff, numeric)] = check_gradients(loss, [W_f])
    print(f"dL/dW_f by autodiff:\n{np.round(autodiff, 6)}", file=out)
    print(f"largest relative error against finite differences: {rel_error(autodiff, numeric):.1e}",
          file=out)
    return rel_error(autodiff, numeric)


def build_parser():
    parser = _Parser(prog="tinygrad-lstm", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    commands.add_parser("demo", help="a small engine example: one gate, backward, gradient check")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return 0 if demo() < 1e-6 else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
