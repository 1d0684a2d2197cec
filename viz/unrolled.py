"""The op-level picture of an unrolled graph: the places viz/layout.py computes, drawn as
nodes and straight edges, each step in a frame, with a legend of how to read it."""
from .colour import escape
from .layout import BUS, CHAR, LINE, ROW, base_name, is_parameter, label_width, lay_out, time_of
from .style import CELL_PATH, HIDDEN_PATH, PLAIN_EDGE, node_style, op_lines, path_kind, pin, pos, shape_text


def _width(t, lane, show_values, scale):
    if lane:
        return len(_lane_label(t)) * CHAR * 0.9 + 12
    extra = ["used in 100 steps"] if is_parameter(t) else []     # the panel's line
    return label_width(op_lines(t, show_values, scale) + extra)


def _lane_label(t):
    return (t.name or "constant").replace("\\", "\\\\")


def draw_unrolled(drawing, show_values, scale):
    graph, root = drawing.graph, drawing.tensors[-1]
    pin(graph)
    lines = max(len(op_lines(t, show_values, scale)) for t in drawing.tensors)
    layout = lay_out(root, lambda t, lane: _width(t, lane, show_values, scale),
                     row_height=ROW + max(0, lines - 3) * LINE)      # taller nodes, more room
    ids = {id(place): f"s{k}" for k, place in enumerate(layout.places)}
    in_frame = _unrolled_nodes(drawing, layout, ids, show_values, scale)
    edges, buses = _unrolled_edges(layout, ids)
    for sid, _, tensor in buses:                     # a bus point belongs to the output it carries
        drawing.shows[sid] = tensor
    # Graphviz writes the edges in the order their tails are first mentioned: the cell-state
    # nodes go last, so that the highway is drawn over every other edge.
    for last in (False, True):
        for sid, attrs, t in in_frame.get(None, []):
            if (id(t) in layout.highway) == last:
                graph.node(sid, **attrs)
        for name in layout.frames:
            if "/" not in name:
                _draw_frame(graph, name, layout, in_frame, last)
        if not last:
            for sid, x, _ in buses:
                graph.node(sid, shape="point", width="0.03", color=PLAIN_EDGE["color"], pos=pos(x, BUS))
    for tail, head, style in edges:
        graph.edge(tail, head, **style)
    left, _, _, bottom = layout.frames.get("parameters", (0, 0, 0, layout.step_height))
    _legend(graph, scale, x=left, y=bottom, tensors=drawing.tensors)


def _unrolled_nodes(drawing, layout, ids, show_values, scale):
    """{frame: [(svg id, attributes, tensor)]}: each place's node, in the frame it sits in."""
    steps_using = {}                    # parameter -> the steps with a stand-in for it
    for place in layout.places:
        if place.role == "lane" and place.frame is not None:
            steps_using.setdefault(id(place.tensor), set()).add(time_of(place.frame))
    in_frame = {}
    for place in layout.places:
        t, sid = place.tensor, ids[id(place)]
        drawing.shows[sid] = t
        attrs = node_style(t, scale, place.role)
        if place.role == "lane":                              # small: its name only
            attrs.update(label=_lane_label(t), fontsize="9", margin="0.03,0.01", height="0.2",
                         style=attrs["style"] + ("" if "dashed" in attrs["style"] else ",dashed"))
        else:
            lines = op_lines(t, show_values, scale)
            if place.role == "parameter":
                n = len(steps_using.get(id(t), ()))
                lines.insert(2, f"used in {n} step{'s' * (n != 1)}")
            attrs["label"] = "\\n".join(lines)
        attrs.update(id=sid, pos=pos(place.x, place.y))
        frame = "parameters" if place.role == "parameter" else place.frame
        in_frame.setdefault(frame, []).append((sid, attrs, t))
    return in_frame


def _unrolled_edges(layout, ids):
    """[(tail, head, style)], the highway's last; the bus points [(svg id, x, output)]. An edge
    from a parameter or a lane leaf starts at its stand-in beside the node that reads it."""
    main, beside = {}, {}               # svg id per tensor, and per (lane leaf, its user)
    for place in layout.places:
        if place.role == "lane":
            beside[(id(place.tensor), id(place.user))] = ids[id(place)]
        else:
            main[id(place.tensor)] = ids[id(place)]
    position = {id(place.tensor): place for place in layout.places if place.role != "lane"}
    at = {ids[id(place)]: place for place in layout.places}
    edges, highway, buses = [], [], []
    for place in layout.places:
        if place.role in ("lane", "parameter"):
            continue
        child, head = place.tensor, ids[id(place)]
        for parent in child.parents:
            tail = beside.get((id(parent), id(child))) or main.get(id(parent))
            kind = path_kind(parent, child)
            if kind == "cell":
                highway.append((tail, head, dict(CELL_PATH, **_ports(at[tail], place))))
            elif place.role == "loss" and getattr(position.get(id(parent)), "frame", None):
                # Each step's output goes up to a bus along the top, and along it to the loss:
                # straight lines from every Z_t would cut through the later steps' Z_t.
                buses.append((f"{tail}^", position[id(parent)].x, parent))
                edges += [(tail, f"{tail}^", dict(arrowhead="none", tailport="n", **PLAIN_EDGE)),
                          (f"{tail}^", head, dict(headport="w", **PLAIN_EDGE))]
            elif tail is not None:
                style = HIDDEN_PATH if kind == "hidden" else PLAIN_EDGE
                edges.append((tail, head, dict(style, **_ports(at[tail], place))))
    return edges + highway, buses


def _ports(tail, head):
    """Which sides an edge leaves and enters by: east to west when the head is to the right,
    else top and bottom. An edge then ends at its node's side, not on a line to its centre,
    which would cut through the node above or below (X_t -> o_t past c_t)."""
    dx, dy = head.x - tail.x, head.y - tail.y
    if abs(dx) > 20:
        return {"tailport": "e", "headport": "w"} if dx > 0 else {"tailport": "w", "headport": "e"}
    return {"tailport": "s", "headport": "n"} if dy > 0 else {"tailport": "n", "headport": "s"}


def _draw_frame(graph, name, layout, in_frame, last):
    """A step's frame (a cluster, its box given, as neato -n2 wants), its nodes and its layers'
    frames inside it. last: only the highway's nodes, in a second mention of the same cluster
    (Graphviz merges the two)."""
    with graph.subgraph(name=f"cluster_{name}") as sub:
        if not last:
            title = name.split("/")[-1]
            if name == "parameters":
                title = "parameters: one node each, shared by every step"
            x0, y0, x1, y1 = layout.frames[name]
            sub.attr(label=title, style="rounded", color="#aaaaaa", fontcolor="#555555", labeljust="l",
                     bb=f"{x0:.1f},{-y1:.1f},{x1:.1f},{-y0:.1f}")
        for sid, attrs, t in in_frame.get(name, []):
            if (id(t) in layout.highway) == last:
                sub.node(sid, **attrs)
        for inner in layout.frames:
            if inner.startswith(name + "/") and "/" not in inner[len(name) + 1:]:
                _draw_frame(sub, inner, layout, in_frame, last)


def _legend(graph, scale, x, y, tensors):
    """How to read the picture: one HTML-like label on a node of its own, its top left near (x, y).
    Its examples are the graph's own: F_t if there is one, and one of its parameters."""
    ops = [t for t in tensors if t.op and t.name and time_of(t.scope)]
    named = next((t for t in ops if base_name(t) == "F_t"), ops[0] if ops else None)
    example = "name · op · shape"
    if named is not None:
        example = escape(f"{base_name(named)} · {named.op} · {shape_text(named.data.shape)}")
    parameter = next((escape(t.name) for t in tensors if is_parameter(t) and t.name), None)
    cell_state = any(base_name(t) == "CS_t" for t in tensors)
    hidden = any(base_name(t) == "HS_t" for t in tensors)
    rows = [
        "<b>How to read this picture</b>",
        (f"{example} on a node: a tensor&#39;s name in the lecture, the op that<br/>"
         "made it, and its shape (rows × columns; a vector of n numbers is n×1)"),
        (f'<font color="{CELL_PATH["color"]}">━━ thick red</font>: the cell state CS_t, step to step '
         "(the highway)") if cell_state else "",
        (f'<font color="{HIDDEN_PATH["color"]}">━━ blue</font>: the hidden state HS_t, into the next step')
        if hidden else "",
        (f"a small dashed {parameter} in a step stands for the parameter&#39;s one node in<br/>"
         f"the panel: every step uses that same {parameter}") if parameter else "",
    ]
    rows = [r for r in rows if r]
    if scale is not None:
        rows.append("‖∇‖ on a node: its gradient norm ‖∂L/∂node‖")
    cells = "".join(f'<tr><td align="left" balign="left">{row}</td></tr>' for row in rows)
    if scale is not None:
        cells += f"<tr><td>{scale.legend_table()}</td></tr>"
    graph.node("legend", label=f'<<table border="0" cellborder="0" cellspacing="2">{cells}</table>>',
               shape="plaintext", pos=pos(x + 210, y + 20 + (75 if scale is None else 100)))
