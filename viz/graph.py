"""The computation graph as a picture: tensors -> graphviz.Digraph -> SVG, PNG, PDF, DOT or an
interactive HTML page.

Only the Tensor's public attributes are read (`parents`, `op`, `name`, `scope`, `data`,
`grad`, `requires_grad`), so anything that builds its graph with the engine can be drawn.

Two levels of detail:
- "op": a node per tensor. An unrolled graph (scopes "t=1", "t=2", …) is laid out as
  colah's LSTM diagram (viz/layout.py): time left to right, the cell state CS_t on one thick
  straight line, the gates below it, the loss at the right, and each parameter as a small
  stand-in in every step, its one real node in a panel on the left. Graphviz only draws.
  A graph without steps is laid out by Graphviz's dot.
- "cell": a node per step (and layer), for long sequences; edges carry HS and CS.

After backward(), show_grads colours each node by its gradient norm ‖∂L/∂node‖ on a
logarithmic scale, with a legend: pale is small, dark red is large.
"""
import math
import sys
from dataclasses import dataclass, field

import graphviz
import numpy as np

from tinygrad_lstm.files import check_output_path, write_atomically
from tinygrad_lstm.tensor import topological_order

from .colour import LogScale, check_grad_range, escape
from .layout import BUS, CHAR, base_name, is_parameter, lay_out, label_width, time_of, unrolled

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".html": "html"}
DETAILS = ("op", "cell")
CELL_PATH = {"color": "#d62728", "penwidth": "4"}       # the cell-state highway
HIDDEN_PATH = {"color": "#1f77b4", "penwidth": "2"}     # the hidden state, step to step
PLAIN_EDGE = {"color": "#888888", "penwidth": "1"}
PARAMETER_FILL = "#dbe9f6"
KEPT = "CS_{t-1} ⊗ F_t"                                 # the node the highway runs through
MAX_OP_NODES = 4000      # an op-level picture this big takes about 4 s (benchmarks/render.py)
FEEDBACK_NODES = 1500    # and this big, about a second


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's `dot` program is needed for SVG, PNG, PDF and HTML, and is not installed."""


class TooBigError(ValueError):
    """The picture would take Graphviz long to draw; detail="cell" or force=True."""


@dataclass
class Drawing:
    """A Digraph, and what each of its nodes shows (for the HTML page)."""
    graph: graphviz.Digraph
    tensors: list                                   # every tensor of the graph, parents first
    shows: dict = field(default_factory=dict)       # SVG node id -> the tensor (or cell) it shows
    scale: LogScale = None


# --- reading the graph ---------------------------------------------------------------

def walk(root):
    """Every tensor that leads to `root` (and root), each after its parents."""
    return topological_order(root)


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


# --- checking what was asked ---------------------------------------------------------

def _check(tensor, detail, show_values, show_grads, grad_range, force):
    if not all(hasattr(tensor, a) for a in ("parents", "op", "scope", "data")):
        raise TypeError(f"draw_graph: expected a Tensor; got {type(tensor).__name__}")
    if detail not in DETAILS:
        raise ValueError(f"draw_graph: detail must be 'op' or 'cell'; got {detail!r}")
    for name, value in (("show_values", show_values), ("show_grads", show_grads), ("force", force)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"draw_graph: {name} must be True or False; got {value!r}")
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
    if detail == "op" and len(nodes) > MAX_OP_NODES and not force:
        steps = len({time_of(t.scope) for t in nodes} - {None})
        raise TooBigError(
            f"draw_graph: an op-level picture of {len(nodes)} tensors ({steps} steps) is past "
            f"{MAX_OP_NODES}, where Graphviz takes more than a few seconds; draw it with "
            f"detail='cell' (a node per step), or pass force=True (--force) to wait for it")
    if detail == "op" and len(nodes) > FEEDBACK_NODES:       # past about a second: say so
        print(f"drawing {len(nodes):,} tensors; Graphviz takes a few seconds for this many",
              file=sys.stderr, flush=True)
    scale = LogScale([grad_norm(t) for t in nodes], grad_range)
    plain = detail == "op" and not unrolled(nodes)
    kind = graphviz.Digraph if plain else Pinned
    drawing = Drawing(kind("computation", graph_attr={"fontname": "Helvetica", "fontsize": "10"},
                           node_attr={"fontname": "Helvetica", "fontsize": "10"}, edge_attr={"arrowsize": "0.6"}),
                      nodes, scale=scale)
    paint = scale if show_grads else None
    if detail == "cell":
        _draw_cells(drawing, paint)
    elif plain:
        _draw_plain(drawing, show_values, paint)
    else:
        _draw_unrolled(drawing, show_values, paint)
    return drawing


class Pinned(graphviz.Digraph):
    """A Digraph whose nodes all have their places: `neato -n2` draws it as it is, with
    straight edges, and lays nothing out (also when Jupyter shows it). For a .dot file:
    `neato -n2 -Tsvg graph.dot`."""

    def pipe(self, *args, **kwargs):
        kwargs.setdefault("neato_no_op", 2)
        return super().pipe(*args, **kwargs)

    def render(self, *args, **kwargs):
        kwargs.setdefault("neato_no_op", 2)
        return super().render(*args, **kwargs)


def _pinned(graph):
    """Our own coordinates, in points, pinned (the `!`); edges are straight lines. Left to
    neato without -n2, the same picture takes it 6x as long (it lays out, then pins)."""
    graph.engine = "neato"
    graph.attr(inputscale="72", splines="false", outputorder="edgesfirst", pad="0.2",
               comment="positions are pinned: draw with neato -n2")


def _pos(x, y):
    return f"{x:.1f},{-y:.1f}!"            # Graphviz's y grows upwards, ours downwards (as SVG)


def _op_lines(t, show_values, scale):
    shape = shape_text(t.data.shape)
    if t.op:
        lines = [t.name or t.op, f"{t.op} · {shape}" if t.name else shape]
    else:
        lines = [t.name or "constant", shape]
    if show_values and t.data.size <= 12:
        lines.append(np.array2string(np.asarray(t.data).ravel(), precision=3, separator=", ", suppress_small=True))
    if scale is not None:
        norm = grad_norm(t)
        lines.append("no gradient" if norm is None else f"‖∇‖ {norm:.1e}")
    return [line.replace("\n", " ") for line in lines]


def _style(t, scale, role="node"):
    """Box style: parameters filled blue, data dashed, CS_t red, HS_t blue, gradient fills."""
    attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": "white", "color": "#555555",
             "margin": "0.06,0.03", "width": "0.3", "height": "0.3"}
    if is_parameter(t):
        attrs.update(style="filled", fillcolor=PARAMETER_FILL, peripheries="2" if role == "parameter" else "1")
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


def _width(t, lane, show_values, scale):
    if lane:
        return len(t.name or "c") * CHAR * 0.9 + 12
    extra = ["used in 100 steps"] if is_parameter(t) else []     # the panel's line
    return label_width(_op_lines(t, show_values, scale) + extra)


def _draw_unrolled(drawing, show_values, scale):
    graph, root = drawing.graph, drawing.tensors[-1]
    _pinned(graph)
    layout = lay_out(root, lambda t, lane: _width(t, lane, show_values, scale))
    ids = {id(place): f"s{k}" for k, place in enumerate(layout.places)}
    in_frame = _unrolled_nodes(drawing, layout, ids, show_values, scale)
    edges, buses = _unrolled_edges(layout, ids)
    # Graphviz writes the edges in the order their tails are first mentioned: the cell-state
    # nodes go last, so that the highway is drawn over every other edge.
    for last in (False, True):
        for sid, attrs, t in in_frame.get(None, []):
            if _on_highway(t) == last:
                graph.node(sid, **attrs)
        for name in layout.frames:
            if "/" not in name:
                _draw_frame(graph, name, layout.frames, in_frame, last)
        if not last:
            for sid, x in buses:
                graph.node(sid, shape="point", width="0.03", color=PLAIN_EDGE["color"], pos=_pos(x, BUS))
    for tail, head, style in edges:
        graph.edge(tail, head, **style)
    x0, y0, x1, y1 = layout.frames["parameters"]
    _legend(graph, scale, x=x0, y=y1, tensors=drawing.tensors)


def _unrolled_nodes(drawing, layout, ids, show_values, scale):
    """{frame: [(svg id, attributes, tensor)]}: each place's node, in the frame it sits in."""
    stand_ins = {}                      # parameter -> how many stand-ins it has
    for place in layout.places:
        if place.role == "lane":
            stand_ins[id(place.tensor)] = stand_ins.get(id(place.tensor), 0) + 1
    in_frame = {}
    for place in layout.places:
        t, sid = place.tensor, ids[id(place)]
        drawing.shows[sid] = t
        attrs = _style(t, scale, place.role)
        if place.role == "lane":                              # small: its name only
            attrs.update(label=t.name or "constant", fontsize="9", margin="0.03,0.01", height="0.2",
                         style=attrs["style"] + ("" if "dashed" in attrs["style"] else ",dashed"))
        else:
            lines = _op_lines(t, show_values, scale)
            if place.role == "parameter":
                n = stand_ins.get(id(t), 0)
                lines.insert(2, f"used in {n} step{'s' * (n != 1)}")
            attrs["label"] = "\\n".join(lines)
        attrs.update(id=sid, pos=_pos(place.x, place.y))
        frame = "parameters" if place.role == "parameter" else place.frame
        in_frame.setdefault(frame, []).append((sid, attrs, t))
    return in_frame


def _unrolled_edges(layout, ids):
    """[(tail, head, style)], the highway's last; and the bus points [(svg id, x)]. An edge
    from a parameter or a lane leaf starts at its stand-in beside the node that reads it."""
    main, beside = {}, {}               # svg id per tensor, and per (lane leaf, its user)
    for place in layout.places:
        if place.role == "lane":
            beside[(id(place.tensor), id(place.user))] = ids[id(place)]
        else:
            main[id(place.tensor)] = ids[id(place)]
    position = {id(place.tensor): place for place in layout.places if place.role != "lane"}
    edges, highway, buses = [], [], []
    for place in layout.places:
        if place.role in ("lane", "parameter"):
            continue
        child, head = place.tensor, ids[id(place)]
        for parent in child.parents:
            tail = beside.get((id(parent), id(child))) or main.get(id(parent))
            kind = path_kind(parent, child)
            if kind == "cell":
                highway.append((tail, head, CELL_PATH))
            elif place.role == "loss" and getattr(position.get(id(parent)), "frame", None):
                # Each step's output goes up to a bus along the top, and along it to the loss:
                # straight lines from every Z_t would cut through the later steps' Z_t.
                buses.append((f"{tail}^", position[id(parent)].x))
                edges += [(tail, f"{tail}^", dict(arrowhead="none", **PLAIN_EDGE)),
                          (f"{tail}^", head, PLAIN_EDGE)]
            elif tail is not None:
                edges.append((tail, head, HIDDEN_PATH if kind == "hidden" else PLAIN_EDGE))
    return edges + highway, buses


def _on_highway(t):
    return base_name(t) in ("CS_t", "CS_0", KEPT)


def _draw_frame(graph, name, frames, in_frame, last):
    """A step's frame (a cluster, its box given, as neato -n2 wants), its nodes and its layers'
    frames inside it. last: only the highway's nodes, in a second mention of the same cluster
    (Graphviz merges the two)."""
    with graph.subgraph(name=f"cluster_{name}") as sub:
        if not last:
            title = "parameters: one node each, shared by every step" if name == "parameters" else name.split("/")[-1]
            x0, y0, x1, y1 = frames[name]
            sub.attr(label=title, style="rounded", color="#aaaaaa", fontcolor="#555555", labeljust="l",
                     bb=f"{x0:.1f},{-y1:.1f},{x1:.1f},{-y0:.1f}")
        for sid, attrs, t in in_frame.get(name, []):
            if _on_highway(t) == last:
                sub.node(sid, **attrs)
        for inner in frames:
            if inner.startswith(name + "/") and "/" not in inner[len(name) + 1:]:
                _draw_frame(sub, inner, frames, in_frame, last)


def _legend(graph, scale, x, y, tensors):
    """How to read the picture: one HTML-like label on a node of its own, its top left near (x, y).
    Its examples are the graph's own: F_t if there is one, and one of its parameters."""
    ops = [t for t in tensors if t.op and t.name and time_of(t.scope)]
    named = next((t for t in ops if base_name(t) == "F_t"), ops[0] if ops else None)
    example = f"{base_name(named)} · {named.op} · {shape_text(named.data.shape)}" if named is not None \
        else "name · op · shape"
    parameter = next((escape(t.name) for t in tensors if is_parameter(t) and t.name), None)
    highway = any(base_name(t) == "CS_t" for t in tensors)
    rows = [
        "<b>How to read this picture</b>",
        f"{example} on a node: a tensor&#39;s name in the lecture, the op that<br/>"
        "made it, and its shape (rows × columns; a vector of n numbers is n×1)",
        f'<font color="{CELL_PATH["color"]}">━━ thick red</font>: the cell state CS_t, step to step '
        "(the highway)" if highway else "",
        f'<font color="{HIDDEN_PATH["color"]}">━━ blue</font>: the hidden state HS_t, into the next step',
        f"a small dashed {parameter} in a step stands for the parameter&#39;s one node in<br/>"
        f"the panel: every step uses that same {parameter}" if parameter else "",
    ]
    rows = [r for r in rows if r]
    if scale is not None:
        rows.append("‖∇‖ on a node: its gradient norm ‖∂L/∂node‖")
    cells = "".join(f'<tr><td align="left" balign="left">{row}</td></tr>' for row in rows)
    if scale is not None:
        cells += (f'<tr><td><table border="0" cellborder="1" cellspacing="0">{scale.legend_rows()}'
                  f"</table></td></tr>")
    graph.node("legend", label=f'<<table border="0" cellborder="0" cellspacing="2">{cells}</table>>',
               shape="plaintext", pos=_pos(x + 210, y + 20 + (75 if scale is None else 100)))


def _draw_plain(drawing, show_values, scale):
    """A graph without time steps: Graphviz's dot lays it out, left to right."""
    graph = drawing.graph
    graph.attr(rankdir="LR")
    for k, t in enumerate(drawing.tensors):
        sid = f"s{k}"
        drawing.shows[sid] = t
        attrs = _style(t, scale)
        attrs.update(id=sid, label="\\n".join(_op_lines(t, show_values, scale)))
        graph.node(sid, **attrs)
    index = {id(t): f"s{k}" for k, t in enumerate(drawing.tensors)}
    for child in drawing.tensors:
        for parent in child.parents:
            graph.edge(index[id(parent)], index[id(child)], **PLAIN_EDGE)
    if scale is not None:
        graph.attr(label=f"<<table border='0' cellborder='1' cellspacing='0'>{scale.legend_rows()}</table>>"
                   .replace("'", '"'))


def _draw_cells(drawing, scale):
    """A node per cell: the scope of a step (and layer) that holds a hidden state HS_t, laid
    out on a grid (time to the right, layer 1 at the bottom); edges where tensors cross from
    one cell to the next; and the loss at the right."""
    graph, nodes = drawing.graph, drawing.tensors
    _pinned(graph)
    cells = {}                                    # scope -> {"HS_t": tensor, "CS_t": tensor}
    for t in nodes:
        if time_of(t.scope) is not None and base_name(t) in ("HS_t", "CS_t"):
            cells.setdefault(t.scope, {})[base_name(t)] = t
    layers = sorted({s.split("/", 1)[1] if "/" in s else "" for s in cells}, reverse=True)
    order = sorted(cells, key=lambda s: (time_of(s), s))
    ids = {scope: f"c{k}" for k, scope in enumerate(order)}
    for scope in order:
        states = cells[scope]
        layer = scope.split("/", 1)[1] if "/" in scope else ""
        lines = [scope.replace("/", "  ")]
        attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": "white", "color": "#555555"}
        norms = {k: grad_norm(v) for k, v in states.items()}
        if scale is not None:
            for key in ("HS_t", "CS_t"):
                if key in norms:
                    lines.append(f"‖∂L/∂{key}‖ {norms[key]:.1e}" if norms[key] is not None else f"{key}: no gradient")
            main = norms.get("CS_t", norms.get("HS_t"))   # the cell state if there is one
            if main is not None:
                attrs.update(fillcolor=scale.colour(main), fontcolor=scale.font(main))
        attrs.update(id=ids[scope], label="\\n".join(lines), pos=_pos(130 * time_of(scope), 90 * layers.index(layer)))
        graph.node(ids[scope], **attrs)
        drawing.shows[ids[scope]] = states.get("CS_t", states.get("HS_t"))
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
    root = nodes[-1]
    last = max((time_of(s) for s in order), default=0)
    attrs = _style(root, scale)
    attrs.update(id="loss", label="\\n".join(["loss " + (root.name or ""), *(
        [f"‖∇‖ {grad_norm(root):.1e}"] if scale is not None and root.grad is not None else [])]),
        pos=_pos(130 * (last + 1), -60))
    graph.node("loss", **attrs)
    drawing.shows["loss"] = root
    read = {time_of(t.scope) for t in nodes if base_name(t) == "Z_t"}
    for scope in order:                           # the top cell of each step whose Z_t the loss reads
        layer = scope.split("/", 1)[1] if "/" in scope else ""
        if time_of(scope) in read and layer == layers[0]:
            graph.edge(ids[scope], "loss", color="#cccccc", penwidth="0.6", arrowsize="0.4")
    if scale is not None:
        _legend_cells(graph, scale, x=130 * (last + 1) / 2, y=90 * len(layers) + 20)


def _legend_cells(graph, scale, x, y):
    label = f"<<table border='0' cellborder='1' cellspacing='0'>{scale.legend_rows()}</table>>".replace("'", '"')
    graph.node("legend", label=label, shape="plaintext", pos=_pos(x, y))


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
            from .page import html_page
            data = html_page(data.decode("utf-8"), page_data(drawing, options.get("detail", "op")))
    write_atomically(path, data)
    return path


def _pipe(graph, fmt):
    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFoundError(
            "Graphviz is not installed: its 'dot' program, which lays out SVG, PNG, PDF and HTML, "
            "is not on PATH. Install it (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew "
            "install graphviz; or `make demo`, which installs it), or write a .dot file, which "
            "needs no dot.") from None
    except graphviz.CalledProcessError as e:
        raise RuntimeError(f"render: Graphviz failed: {e.stderr.decode(errors='replace').strip()}") from None


def page_data(drawing, level="op"):
    """What the HTML page needs to know of each node (see viz/page.py for the contract)."""
    from .rules import rule
    tensors, scale = drawing.tensors, drawing.scale
    key = {id(t): f"n{k}" for k, t in enumerate(tensors)}
    shown = {id(t) for t in drawing.shows.values()}

    def numbers(a):
        return None if a is None else [float(v) for v in np.asarray(a, dtype=float).ravel()[:6]]

    children = {}
    for t in tensors:
        for p in t.parents:
            children.setdefault(id(p), []).append(t)
    nodes = {}
    for t in tensors:
        if id(t) not in shown:
            continue
        norm = grad_norm(t)
        nodes[key[id(t)]] = {
            "label": t.name or t.op or "constant", "name": t.name, "op": t.op, "scope": t.scope,
            "t": time_of(t.scope), "shape": shape_text(t.data.shape), "value": numbers(t.data),
            "size": int(t.data.size), "grad": numbers(t.grad),
            "norm": norm if norm is None or math.isfinite(norm) else None,
            "colour": scale.colour(norm) if norm is not None else None, "rule": rule(t),
            "parents": [key[id(p)] for p in t.parents if id(p) in shown]}
    if level == "cell":
        _cell_parents(drawing, nodes, key)
    # The stepper replays reverse mode as the engine runs it: each op's rule, in reverse
    # topological order. A leaf (a parameter, x_t) has no rule to run: its gradient is
    # complete once the last op that reads it has run, so it is coloured then ("done").
    order = [key[id(t)] for t in reversed(tensors)
             if key[id(t)] in nodes and t.grad is not None and (t.op or level == "cell")]
    rank = {k: i for i, k in enumerate(order)}
    done = {}
    for t in tensors:
        users = [rank[key[id(u)]] for u in children.get(id(t), []) if key[id(u)] in rank]
        if not t.op and t.grad is not None and users and key[id(t)] in nodes and level == "op":
            done.setdefault(order[max(users)], []).append(key[id(t)])
    root = tensors[-1]
    steps = len({time_of(t.scope) for t in tensors} - {None})
    return {"title": f"The graph of the loss {root.name or ''}: {steps} steps, {level} level", "level": level,
            "loss": key[id(root)], "nodes": nodes, "order": order, "done": done,
            "svg": {sid: key[id(t)] for sid, t in drawing.shows.items()}}


def _cell_parents(drawing, nodes, key):
    """At cell level a cell's parents are the cells (and the loss's) its tensors read."""
    cell_of = {}                                  # scope -> the key shown for that cell
    for sid, t in drawing.shows.items():
        if sid != "loss":
            cell_of[t.scope] = key[id(t)]
    root_key = key[id(drawing.tensors[-1])]
    for k in nodes:
        nodes[k]["parents"] = []
    for t in drawing.tensors:
        mine = cell_of.get(t.scope) if time_of(t.scope) is not None else root_key
        for p in t.parents:
            theirs = cell_of.get(p.scope)
            if mine and theirs and theirs != mine and theirs not in nodes[mine]["parents"]:
                nodes[mine]["parents"].append(theirs)
