"""The computation graph as a picture: tensors -> graphviz.Digraph -> SVG, PNG, PDF, DOT or an
interactive HTML page.

Only the Tensor's public attributes are read (`parents`, `op`, `name`, `scope`, `data`,
`grad`, `requires_grad`), so anything that builds its graph with the engine can be drawn.

Two levels of detail:
- "op": a node per tensor. An unrolled graph (scopes "t=1", "t=2", …) is laid out as
  colah's LSTM diagram (viz/layout.py): time left to right, the cell state CS_t on one thick
  straight line, the gates below it, the loss at the right, and each parameter as a small
  stand-in in every step, its one real node in a panel below. Graphviz only draws.
  A graph without steps is laid out by Graphviz's dot.
- "cell": a node per step (and layer), for long sequences; edges carry HS and CS.

After backward(), show_grads colours each node by its gradient norm ‖∂L/∂node‖ on a
logarithmic scale, with a legend: pale is small, dark red is large.
"""
import sys

import graphviz

from tinygrad_lstm.checks import flag
from tinygrad_lstm.files import check_output_path, write_atomically
from tinygrad_lstm.tensor import topological_order

from .cells import draw_cells
from .colour import LogScale, check_grad_range
from .layout import time_of, unrolled
from .style import PLAIN_EDGE, Digraph, Drawing, Pinned, grad_norm, node_style, op_lines
from .unrolled import draw_unrolled

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".html": "html"}
DETAILS = ("op", "cell")
MAX_OP_NODES = 4000      # tensors: an op-level picture this big takes about 3 s (benchmarks/render.py)
MAX_CELL_STEPS = 5000    # steps: a cell-level picture this long takes about 3 s too
FEEDBACK_NODES = 1500    # and this big, about a second (and as many steps at cell level)


class TooBigError(ValueError):
    """The picture would take Graphviz long to draw; detail="cell" or force=True."""


def check_size(tensors, steps, detail, force):
    """TooBigError, unless force, for a picture past the limits: with `tensors` tensors
    and `steps` time steps. The command line asks this before it builds the graph."""
    if force:
        return
    if detail == "op" and tensors > MAX_OP_NODES:
        raise TooBigError(
            f"draw_graph: an op-level picture of {tensors:,} tensors ({steps:,} steps) is past "
            f"{MAX_OP_NODES:,}, where Graphviz takes more than a few seconds; draw it with "
            f"detail='cell' (a node per step), or pass force=True (--force) to wait for it")
    if detail == "cell" and steps > MAX_CELL_STEPS:
        raise TooBigError(
            f"draw_graph: a cell-level picture of {steps:,} steps is past {MAX_CELL_STEPS:,}, where "
            f"Graphviz takes more than a few seconds and the file tens of megabytes; draw fewer "
            f"steps, or pass force=True (--force) to wait for it")


# --- reading the graph ---------------------------------------------------------------

def walk(root):
    """Every tensor that leads to `root` (and root), each after its parents."""
    return topological_order(root)


# --- checking what was asked ---------------------------------------------------------

def _check(tensor, detail, show_values, show_grads, grad_range, force):
    if not all(hasattr(tensor, a) for a in ("parents", "op", "scope", "data")):
        raise TypeError(f"draw_graph: expected a Tensor; got {type(tensor).__name__}")
    if detail not in DETAILS:
        raise ValueError(f"draw_graph: detail must be 'op' or 'cell'; got {detail!r}")
    for name, value in (("show_values", show_values), ("show_grads", show_grads), ("force", force)):
        flag(f"draw_graph: {name}", value)
    if grad_range is not None:
        check_grad_range(grad_range, "draw_graph")
        if not show_grads:
            raise ValueError("draw_graph: grad_range sets the colour scale of show_grads=True; "
                             "it was given without show_grads")


# --- drawing -------------------------------------------------------------------------

def draw_graph(tensor, detail="op", show_values=False, show_grads=False, grad_range=None, force=False):
    """The graph that computed `tensor`, as a graphviz.Digraph (shown inline in Jupyter).

    detail: "op" (a node per tensor) or "cell" (a node per step and layer).
    show_values: print small tensors' values on their nodes.
    show_grads: colour nodes by gradient norm after backward(), with a legend;
    grad_range=(low, high) fixes the scale, to compare two pictures.
    force: draw an op-level picture even past MAX_OP_NODES nodes (slow).
    """
    return _drawing(tensor, detail, show_values, show_grads, grad_range, force).graph


def _drawing(tensor, detail="op", show_values=False, show_grads=False, grad_range=None, force=False):
    _check(tensor, detail, show_values, show_grads, grad_range, force)
    nodes = walk(tensor)
    steps = len({time_of(t.scope) for t in nodes} - {None})
    if detail == "cell" and steps == 0:
        raise ValueError("draw_graph: detail='cell' draws a box per time step, and this graph has no "
                         "steps (no tensor made in a scope('t=...')); draw it with detail='op'")
    check_size(len(nodes), steps, detail, force)
    if (len(nodes) if detail == "op" else steps) > FEEDBACK_NODES:      # about a second: say so
        what = f"{len(nodes):,} tensors" if detail == "op" else f"{steps:,} steps"
        print(f"drawing {what}: a second or more", file=sys.stderr, flush=True)
    scale = LogScale([grad_norm(t) for t in nodes], grad_range)
    plain = detail == "op" and not unrolled(nodes)
    kind = Digraph if plain else Pinned
    font = {"fontname": "Helvetica", "fontsize": "10"}
    graph = kind("computation", graph_attr=font, node_attr=font, edge_attr={"arrowsize": "0.6"})
    drawing = Drawing(graph, nodes, scale=scale)
    paint = scale if show_grads else None
    if detail == "cell":
        draw_cells(drawing, paint)
    elif plain:
        _draw_plain(drawing, show_values, paint)
    else:
        draw_unrolled(drawing, show_values, paint)
    return drawing


def _draw_plain(drawing, show_values, scale):
    """A graph without time steps: Graphviz's dot lays it out, left to right."""
    graph = drawing.graph
    graph.attr(rankdir="LR")
    for k, t in enumerate(drawing.tensors):
        sid = f"s{k}"
        drawing.shows[sid] = t
        attrs = node_style(t, scale)
        attrs.update(id=sid, label="\\n".join(op_lines(t, show_values, scale)))
        graph.node(sid, **attrs)
    index = {id(t): f"s{k}" for k, t in enumerate(drawing.tensors)}
    for child in drawing.tensors:
        for parent in child.parents:
            graph.edge(index[id(parent)], index[id(child)], **PLAIN_EDGE)
    if scale is not None:
        graph.attr(label=f"<{scale.legend_table()}>")


# --- writing files -------------------------------------------------------------------

def render(tensor, path, **options):
    """Draw `tensor`'s graph into `path`; the format comes from the suffix (.svg, .png, .pdf,
    .dot, or .html: an interactive page). The file is written whole or not at all. Returns
    the path."""
    path = check_output_path(path, "render")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"render: cannot write {path.name!r}: the suffix must be one of "
                         f"{', '.join(sorted(FORMATS))}")
    drawing = _drawing(tensor, **options)
    graph = drawing.graph
    if fmt == "dot":
        data = graph.source.encode("utf-8")
    else:
        data = _pipe(graph, "svg" if fmt == "html" else fmt)
        if fmt == "html":
            from .page import html_page, page_data
            data = html_page(data.decode("utf-8"), page_data(drawing, options.get("detail", "op")))
    write_atomically(path, data)
    return path


def _pipe(graph, fmt):
    try:
        return graph.pipe(format=fmt)       # GraphvizNotFoundError without dot (style.Digraph)
    except graphviz.CalledProcessError as e:
        raise RuntimeError(f"render: Graphviz failed: {e.stderr.decode(errors='replace').strip()}") from None
