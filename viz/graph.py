"""The computation graph as a picture: tensors -> graphviz.Digraph -> SVG, PNG, PDF or DOT.

Only the Tensor's public attributes are read (`parents`, `op`, `name`, `scope`, `data`,
`grad`, `requires_grad`), so anything that builds its graph with the engine can be drawn.

Two levels of detail:
- "op": one node per tensor, grouped into a cluster per scope ("t=1", "t=2", nested
  "t=3/layer2"). Parameters are drawn once, outside every step, so the edges from them
  into each step show the weights shared through time. The cell state's path from step
  to step (CS_{t−1} → CS_{t−1} ⊗ F_t → CS_t) is drawn thick and red: the highway.
- "cell": one node per step (and layer), for long sequences: edges carry HS and CS.

After backward(), show_grads colours each node by ‖dL/dt‖ on a logarithmic scale, with a
legend: pale is small, dark red is large. An RNN's picture fades towards t = 1.
"""
import math
import graphviz
import numpy as np

from tinygrad_lstm.files import check_output_path, write_atomically
from tinygrad_lstm.tensor import topological_order

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
DETAILS = ("op", "cell")

# ColorBrewer YlOrRd: light for small gradients, dark red for large ones.
PALETTE = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"]
CELL_PATH = {"color": "#d62728", "penwidth": "3.5"}     # the cell-state highway
HIDDEN_PATH = {"color": "#1f77b4", "penwidth": "2"}     # the hidden state, step to step
PLAIN_EDGE = {"color": "#777777", "penwidth": "1"}
KEPT = "CS_{t-1} ⊗ F_t"                                 # the node the highway runs through
SHARED = 4               # more uses than this: a shared node (a weight used at every step)
STRAIGHT_AFTER = 20      # steps; longer op-level pictures get straight edges


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's `dot` program is needed for SVG, PNG and PDF, and is not installed."""


# --- reading the graph ---------------------------------------------------------------

def walk(root):
    """Every tensor that leads to `root` (and root), each after its parents."""
    return topological_order(root)


def base_name(t):
    """The lecture's symbol without a layer prefix: "layer2.CS_0" -> "CS_0"."""
    return (t.name or "").rsplit(".", 1)[-1]


def time_of(scope):
    """The step number of a scope such as "t=3" or "t=3/layer2"; None outside the steps."""
    if scope and scope.startswith("t="):
        head = scope.split("/", 1)[0][2:]
        return int(head) if head.isdigit() else None
    return None


def path_kind(parent, child):
    """"cell" for an edge of the cell-state highway, "hidden" for the hidden state passed
    to the next step, None otherwise."""
    p, c = base_name(parent), base_name(child)
    if (p in ("CS_t", "CS_0") and c == KEPT) or (p == KEPT and c == "CS_t"):
        return "cell"
    if p in ("HS_t", "HS_0"):
        t_parent = time_of(parent.scope) or 0
        if time_of(child.scope) == t_parent + 1:
            return "hidden"
    return None


def grad_norm(t):
    return None if t.grad is None else float(np.linalg.norm(t.grad))


# --- the colour scale ----------------------------------------------------------------

class LogScale:
    """Maps a gradient norm to a palette colour, linearly in log10 between lo and hi."""

    def __init__(self, norms, grad_range=None):
        positive = [n for n in norms if n is not None and n > 0]
        if grad_range is not None:
            self.lo, self.hi = (float(v) for v in grad_range)
            if not 0 < self.lo < self.hi:
                raise ValueError(f"grad_range must be (low, high) with 0 < low < high; got {grad_range!r}")
        elif positive:
            self.lo, self.hi = min(positive), max(positive)
        else:
            self.lo = self.hi = 1.0

    def position(self, norm):
        """0 for the smallest norm (and for 0), 1 for the largest."""
        if not norm or norm <= 0:
            return 0.0
        if self.hi == self.lo:
            return 1.0
        x = (math.log10(norm) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return min(1.0, max(0.0, x))

    def colour(self, norm):
        return _interpolate(self.position(norm))

    def legend(self, title="‖dL/dt‖ (gradient norm)"):
        """An HTML-like label: swatches from lo to hi, so the legend adds no nodes."""
        ticks = 5
        cells = []
        for k in range(ticks):
            x = k / (ticks - 1)
            value = 10 ** (math.log10(self.lo) + x * (math.log10(self.hi) - math.log10(self.lo)))
            font = "white" if x > 0.6 else "black"
            cells.append(f'<td bgcolor="{_interpolate(x)}"><font color="{font}">{value:.1e}</font></td>')
        return (f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="4">'
                f'<tr><td colspan="{ticks}">{_escape(title)}</td></tr><tr>{"".join(cells)}</tr></table>>')


def _interpolate(x):
    """The palette colour at x in [0, 1], interpolated in RGB."""
    pos = x * (len(PALETTE) - 1)
    i = min(int(pos), len(PALETTE) - 2)
    a, b = _rgb(PALETTE[i]), _rgb(PALETTE[i + 1])
    frac = pos - i
    return "#" + "".join(f"{round(u + (v - u) * frac):02x}" for u, v in zip(a, b))


def _rgb(hex_colour):
    return tuple(int(hex_colour[k:k + 2], 16) for k in (1, 3, 5))


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- drawing -------------------------------------------------------------------------

def draw_graph(tensor, detail="op", show_values=False, show_grads=False, grad_range=None):
    """The graph that computed `tensor`, as a graphviz.Digraph (shown inline in Jupyter).

    detail: "op" (a node per tensor) or "cell" (a node per step and layer).
    show_values: print small tensors' values on their nodes.
    show_grads: colour nodes by gradient norm after backward(), with a legend;
    grad_range=(low, high) fixes the scale, to compare two pictures.
    """
    if grad_range is not None and not (isinstance(grad_range, (tuple, list)) and len(grad_range) == 2
                                       and all(isinstance(v, (int, float)) for v in grad_range)):
        raise ValueError(f"draw_graph: grad_range must be (low, high), two numbers; got {grad_range!r}")
    if not all(hasattr(tensor, a) for a in ("parents", "op", "scope", "data")):
        raise TypeError(f"draw_graph: expected a Tensor; got {type(tensor).__name__}")
    if detail not in DETAILS:
        raise ValueError(f"draw_graph: detail must be 'op' or 'cell'; got {detail!r}")
    nodes = walk(tensor)
    graph = graphviz.Digraph("computation", graph_attr={
        "rankdir": "LR", "fontname": "Helvetica", "labelloc": "t", "newrank": "true", "compound": "true"},
        node_attr={"fontname": "Helvetica", "fontsize": "10"}, edge_attr={"arrowsize": "0.6"})
    scale = LogScale([grad_norm(t) for t in nodes], grad_range) if show_grads else None
    if detail == "op":
        _draw_ops(graph, nodes, show_values, scale)
    else:
        _draw_cells(graph, nodes, scale)
    if scale is not None:
        graph.attr(label=scale.legend())
    return graph


def _draw_ops(graph, nodes, show_values, scale):
    ids = {id(t): f"n{k}" for k, t in enumerate(nodes)}
    tree = {}                                     # scope path -> nested dict with "" -> nodes
    for t in nodes:
        branch = tree
        for part in (t.scope.split("/") if t.scope else []):
            branch = branch.setdefault(part, {})
        branch.setdefault("", []).append(t)
    _draw_cluster(graph, tree, ids, show_values, scale, path="")
    fan_out, fan_in = {}, {}
    for child in nodes:
        fan_in[id(child)] = len(child.parents)
        for parent in child.parents:
            fan_out[id(parent)] = fan_out.get(id(parent), 0) + 1
    for child in nodes:
        for parent in child.parents:
            kind = path_kind(parent, child)
            style = dict(CELL_PATH if kind == "cell" else HIDDEN_PATH if kind == "hidden" else PLAIN_EDGE)
            if fan_out[id(parent)] > SHARED or fan_in[id(child)] > SHARED:
                # A shared weight feeding every step, or the stack of every step's Z_t: such
                # edges span the whole sequence. Letting them set the ranks makes dot's layout
                # grow far faster than the graph (minutes at 50 steps instead of seconds).
                style["constraint"] = "false"
            graph.edge(ids[id(parent)], ids[id(child)], **style)
    steps = {time_of(t.scope) for t in nodes} - {None}
    if len(steps) > STRAIGHT_AFTER:
        graph.attr(splines="line")     # curved routing of the long edges dominates beyond this


def _draw_cluster(graph, branch, ids, show_values, scale, path):
    for t in branch.get("", []):
        graph.node(ids[id(t)], **_op_node(t, show_values, scale))
    for part in sorted((k for k in branch if k), key=_scope_order):
        sub_path = f"{path}/{part}" if path else part
        with graph.subgraph(name=f"cluster_{sub_path}") as sub:
            sub.attr(label=part, style="rounded", color="#999999", fontcolor="#555555")
            _draw_cluster(sub, branch[part], ids, show_values, scale, sub_path)


def _scope_order(part):
    """t=2 before t=10; other names alphabetically after."""
    t = time_of(part)
    return (0, t, "") if t is not None else (1, 0, part)


def _op_node(t, show_values, scale):
    shape = "×".join(map(str, t.data.shape)) or "scalar"
    if t.op:
        title = t.name or t.op
        lines = [title, f"{t.op} · {shape}" if t.name else shape]
    else:
        lines = [t.name or "constant", shape]
    if show_values and t.data.size <= 12:
        lines.append(np.array2string(np.asarray(t.data), precision=3, separator=", ", suppress_small=True))
    lines = [line.replace("\n", " ") for line in lines]
    attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": "white", "color": "#555555"}
    if not t.op and t.requires_grad:               # a parameter: drawn once, shared by every step
        attrs.update(style="filled", fillcolor="#dbe9f6", peripheries="2")
    elif not t.op:                                 # data or a constant
        attrs.update(style="dashed", color="#999999")
    base = base_name(t)
    if base in ("CS_t", "CS_0"):
        attrs.update(color=CELL_PATH["color"], penwidth="2.5")
    elif base in ("HS_t", "HS_0"):
        attrs.update(color=HIDDEN_PATH["color"], penwidth="2")
    if scale is not None:
        norm = grad_norm(t)
        lines.append("no gradient" if norm is None else f"‖∇‖ = {norm:.2e}")
        if norm is not None:
            if "filled" not in attrs["style"]:
                attrs["style"] += ",filled"
            attrs.update(fillcolor=scale.colour(norm), fontcolor="white" if scale.position(norm) > 0.6 else "black")
    attrs["label"] = "\\n".join(lines)      # DOT's own line break: one source line per node
    return attrs


def _draw_cells(graph, nodes, scale):
    """A node per cell, the scope of a step (and layer) that holds a hidden state HS_t; edges
    where tensors cross from one cell to another."""
    cells = {}                                    # scope -> {"HS_t": tensor, "CS_t": tensor}
    for t in nodes:
        if time_of(t.scope) is not None and base_name(t) in ("HS_t", "CS_t"):
            cells.setdefault(t.scope, {})[base_name(t)] = t
    order = sorted(cells, key=lambda s: (time_of(s), s))
    ids = {scope: f"c{k}" for k, scope in enumerate(order)}
    for scope in order:
        states = cells[scope]
        lines = [scope.replace("/", "  ")]
        attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": "white", "color": "#555555"}
        if scale is not None:
            norms = {k: grad_norm(v) for k, v in states.items()}
            for key in ("HS_t", "CS_t"):
                if key in norms:
                    norm = norms[key]
                    lines.append(f"‖dL/d{key[:2]}‖ = {norm:.1e}" if norm is not None else f"{key}: no gradient")
            main = norms.get("CS_t", norms.get("HS_t"))   # the cell state if there is one
            if main is not None:
                attrs.update(fillcolor=scale.colour(main),
                             fontcolor="white" if scale.position(main) > 0.6 else "black")
        attrs["label"] = "\\n".join(lines)
        graph.node(ids[scope], **attrs)
    edges = {}
    for child in nodes:
        if child.scope not in ids:
            continue
        for parent in child.parents:
            if parent.scope in ids and parent.scope != child.scope:
                kind = "cell" if base_name(parent) == "CS_t" else "hidden" if base_name(parent) == "HS_t" else "plain"
                edges.setdefault((parent.scope, child.scope), set()).add(kind)
    for (src, dst), kinds in edges.items():
        for kind in sorted(kinds):
            style = {"cell": CELL_PATH, "hidden": HIDDEN_PATH, "plain": PLAIN_EDGE}[kind]
            label = {"cell": "CS", "hidden": "HS", "plain": ""}[kind]
            graph.edge(ids[src], ids[dst], label=label, fontcolor=style["color"], fontsize="9", **style)


# --- writing files -------------------------------------------------------------------

def render(tensor, path, **options):
    """Draw `tensor`'s graph into `path`; the format comes from the suffix (.svg, .png, .pdf,
    .dot). The file is written whole or not at all. Returns the path."""
    path = check_output_path(path, "render")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"render: cannot write {path.name!r}: the suffix must be one of "
                         f"{', '.join(sorted(FORMATS))}")
    graph = draw_graph(tensor, **options)
    if fmt == "dot":
        data = graph.source.encode("utf-8")
    else:
        try:
            data = graph.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            raise GraphvizNotFoundError(
                "Graphviz is not installed: its 'dot' program, which lays out SVG, PNG and PDF, is "
                "not on PATH. Install it (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew "
                "install graphviz; or `make demo`, which installs it), or write a .dot file, which "
                "needs no dot.") from None
        except graphviz.CalledProcessError as e:
            raise RuntimeError(f"render: Graphviz's dot failed: {e.stderr.decode(errors='replace').strip()}") from None
    write_atomically(path, data)
    return path
