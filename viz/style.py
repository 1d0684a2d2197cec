"""What the pictures share: edge and node styles, a node's text, the gradient norm, and the
Digraphs we draw with (ours say clearly when Graphviz is missing; Pinned's nodes stay where
viz/layout.py put them)."""
from dataclasses import dataclass, field

import graphviz
import numpy as np

from .colour import LogScale
from .layout import base_name, is_parameter, time_of

CELL_PATH = {"color": "#d62728", "penwidth": "4"}       # the cell-state highway
HIDDEN_PATH = {"color": "#1f77b4", "penwidth": "2"}     # the hidden state, step to step
PLAIN_EDGE = {"color": "#888888", "penwidth": "1"}
PARAMETER_FILL = "#dbe9f6"
KEPT = "CS_{t-1} ⊗ F_t"                                 # the node the highway runs through


@dataclass
class Drawing:
    """A Digraph, and what each of its nodes shows (for the HTML page)."""
    graph: graphviz.Digraph
    tensors: list                                   # every tensor of the graph, parents first
    shows: dict = field(default_factory=dict)       # SVG node id -> the tensor (or cell) it shows
    scale: LogScale = None


def grad_norm(t):
    return None if t.grad is None else float(np.linalg.norm(t.grad))


def shape_text(shape):
    """The shape as the lecture writes it: a vector of n numbers is n×1."""
    if len(shape) == 0:
        return "scalar"
    return f"{shape[0]}×1" if len(shape) == 1 else "×".join(map(str, shape))


def path_kind(parent, child):
    """"cell" for an edge of the cell-state highway, "hidden" for the hidden state passed
    to the next step, None otherwise."""
    p, c = base_name(parent), base_name(child)
    if (p in ("CS_t", "CS_0") and c == KEPT) or (p == KEPT and c == "CS_t"):
        return "cell"
    if p in ("HS_t", "HS_0") and time_of(child.scope) == (time_of(parent.scope) or 0) + 1:
        return "hidden"
    return None


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's `dot` program is needed for SVG, PNG, PDF and HTML, and is not installed."""


NO_GRAPHVIZ = ("Graphviz is not installed: its 'dot' program, which lays out SVG, PNG, PDF and HTML, "
               "is not on PATH. Install it (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew "
               "install graphviz; or `make demo`, which installs it), or write a .dot file, which "
               "needs no dot.")


class Digraph(graphviz.Digraph):
    """graphviz's Digraph, whose drawing raises GraphvizNotFoundError with our advice when
    `dot` is missing, in a script and when Jupyter displays it (which calls pipe)."""

    def pipe(self, *args, **kwargs):
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound:
            raise GraphvizNotFoundError(NO_GRAPHVIZ) from None

    def render(self, *args, **kwargs):
        try:
            return super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound:
            raise GraphvizNotFoundError(NO_GRAPHVIZ) from None


class Pinned(Digraph):
    """A Digraph whose nodes all have their places: `neato -n2` draws it as it is, with
    straight edges, and lays nothing out (also when Jupyter shows it). For a .dot file:
    `neato -n2 -Tsvg graph.dot`."""

    def pipe(self, *args, **kwargs):
        kwargs.setdefault("neato_no_op", 2)
        return super().pipe(*args, **kwargs)

    def render(self, *args, **kwargs):
        kwargs.setdefault("neato_no_op", 2)
        return super().render(*args, **kwargs)


def pin(graph):
    """Our own coordinates, in points, pinned (the `!`); edges are straight lines. Left to
    neato without -n2, the same picture takes it 6x as long (it lays out, then pins)."""
    graph.engine = "neato"
    graph.attr(inputscale="72", splines="false", outputorder="edgesfirst", pad="0.2",
               comment="positions are pinned: draw with neato -n2")


def pos(x, y):
    return f"{x:.1f},{-y:.1f}!"            # Graphviz's y grows upwards, ours downwards (as SVG)


def op_lines(t, show_values, scale):
    shape = shape_text(t.data.shape)
    if t.op:
        lines = [t.name or t.op, f"{t.op} · {shape}" if t.name else shape]
    else:
        lines = [t.name or "constant", shape]
    if show_values and t.data.size <= 12:
        values = np.asarray(t.data).ravel()
        lines.append(np.array2string(values, precision=3, separator=", ", suppress_small=True))
    if scale is not None:
        norm = grad_norm(t)
        lines.append("no gradient" if norm is None else f"‖∇‖ {norm:.1e}")
    # One line each; a backslash is Graphviz's escape (\N is the node's name): doubled.
    return [line.replace("\n", " ").replace("\\", "\\\\") for line in lines]


def node_style(t, scale, role="node"):
    """Box style: parameters filled blue, data dashed, CS_t red, HS_t blue, gradient fills."""
    attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": "white", "color": "#555555",
             "margin": "0.06,0.03", "width": "0.3", "height": "0.3"}
    if is_parameter(t):
        attrs.update(style="filled", fillcolor=PARAMETER_FILL,
                     peripheries="2" if role == "parameter" else "1")      # the real node: doubled
    elif not t.op:
        attrs.update(style="dashed,filled", color="#999999")
    if base_name(t) in ("CS_t", "CS_0"):
        attrs.update(color=CELL_PATH["color"], penwidth="2.5")
    elif base_name(t) in ("HS_t", "HS_0"):
        attrs.update(color=HIDDEN_PATH["color"], penwidth="2")
    norm = grad_norm(t)
    if scale is not None and norm is not None:
        attrs.update(fillcolor=scale.colour(norm), fontcolor=scale.font(norm))
    return attrs
