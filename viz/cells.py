"""The cell-level picture: a node per step (and layer) on a grid, time to the right and
layer 1 at the bottom, edges carrying HS and CS from cell to cell, and the loss at the
right. For sequences too long to draw op by op."""
from .layout import base_name, time_of
from .style import CELL_PATH, HIDDEN_PATH, PLAIN_EDGE, grad_norm, node_style, pin, pos


def draw_cells(drawing, scale):
    """A node per cell: the scope of a step (and layer) that holds a hidden state HS_t, laid
    out on a grid (time to the right, layer 1 at the bottom); edges where tensors cross from
    one cell to the next; and the loss at the right."""
    graph, nodes = drawing.graph, drawing.tensors
    pin(graph)
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
                    norm = norms[key]
                    lines.append(f"‖∂L/∂{key}‖ {norm:.1e}" if norm is not None else f"{key}: no gradient")
            main = norms.get("CS_t", norms.get("HS_t"))   # the cell state if there is one
            if main is not None:
                attrs.update(fillcolor=scale.colour(main), fontcolor=scale.font(main))
        attrs.update(id=ids[scope], label="\\n".join(lines),
                     pos=pos(130 * time_of(scope), 90 * layers.index(layer)))
        graph.node(ids[scope], **attrs)
        drawing.shows[ids[scope]] = states.get("CS_t", states.get("HS_t"))
    edges = {}
    for child in nodes:
        if child.scope not in ids:
            continue
        for parent in child.parents:
            if parent.scope in ids and parent.scope != child.scope:
                kind = {"CS_t": "cell", "HS_t": "hidden"}.get(base_name(parent), "plain")
                edges.setdefault((parent.scope, child.scope), set()).add(kind)
    for (src, dst), kinds in edges.items():
        for kind in sorted(kinds):
            style = {"cell": CELL_PATH, "hidden": HIDDEN_PATH, "plain": PLAIN_EDGE}[kind]
            label = {"cell": "CS", "hidden": "HS", "plain": ""}[kind]
            ports = {"cell": ("ne", "nw"), "hidden": ("se", "sw")}.get(kind, ("s", "n"))
            if time_of(src) == time_of(dst):                       # up a layer, within a step
                ports = ("n", "s")
            graph.edge(ids[src], ids[dst], label=label, fontcolor=style["color"], fontsize="9",
                       fontname="Helvetica", tailport=ports[0], headport=ports[1], **style)
    root = nodes[-1]
    last = max((time_of(s) for s in order), default=0)
    attrs = node_style(root, scale)
    attrs.update(id="loss", label="\\n".join(["loss " + (root.name or ""), *(
        [f"‖∇‖ {grad_norm(root):.1e}"] if scale is not None and root.grad is not None else [])]),
        pos=pos(130 * (last + 1), -60))
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
    graph.node("legend", label=f"<{scale.legend_table()}>", shape="plaintext", pos=pos(x, y))
