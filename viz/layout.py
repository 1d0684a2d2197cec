"""Where each node of an unrolled graph goes: colah's LSTM diagram, computed.

Graphviz's `dot` ranks a graph by its edges, so a recurrent graph comes out as a staircase and
the weights shared by every step pull it together. Here the positions are ours and Graphviz
only draws (neato with every node pinned), which is also what keeps a 50-step picture fast:

    parameters | CS_0 ─ t=1 ───────── t=2 ───────── … t=T ───── loss
      W_f b_f  |      CS_{t-1}⊗F_t ─ CS_t ─ …  (the highway: one straight line per layer)
      …        | HS_0  X_t  f_t F_t  I_t⊗C_t  tanh(CS_t) HS_t   (the gates hang below it)

- Time runs left to right: step t's nodes are in the frame of scope "t=<t>", with the same
  geometry at every step. A stacked layer is a band of its own, layer 1 at the bottom.
- Inside a step, a node's column is its depth from the step's inputs; every step uses the
  same columns.
- Row 0 is the highway (CS_t and CS_{t-1} ⊗ F_t; HS_t for an RNN, which has no cell state).
  A step's outputs to the loss (Z_t) sit above it; the other nodes take rows below,
  placed right to left so that each chain (f_t → F_t → …) stays on one row.
- A leaf used once (x_t, or a parameter) is drawn small, just left of the node that uses it.
  A parameter gets one such stand-in in each step that uses it; its one real node is in a
  panel on the left, and no edge leaves that panel.
- Nodes outside the steps: the initial states sit left of t = 1 on their first user's row;
  the loss is to the right of the last step, a row above the outputs.

Everything is in points; y grows downwards, as in SVG. Reads tensors' public attributes only.
"""
from dataclasses import dataclass, field

from tinygrad_lstm.tensor import topological_order

HIGHWAY = {"CS_t", "CS_{t-1} ⊗ F_t"}       # the cell state's path through a step
ROW = 46                                   # points between rows
BUS = -14                                  # the y of the line the outputs Z_t take to the loss
PANEL_ROW = 70                             # points between rows of the parameters' panel
GAP = 14                                   # points between columns
STEP_GAP = 36                              # points between two steps' frames
MARGIN = 12                                # inside a frame
CHAR = 5.2                                 # average width of a 10 pt Helvetica character


@dataclass
class Place:
    """One drawn node: a tensor, or a stand-in for a parameter."""
    tensor: object
    x: float = 0.0
    y: float = 0.0
    role: str = "node"          # node | lane (a small leaf by its user) | parameter | state | loss
    frame: str = None           # the step's scope, for nodes inside a step
    user: object = None         # for a lane node: the tensor that uses it


@dataclass
class Layout:
    places: list = field(default_factory=list)      # in drawing order
    frames: dict = field(default_factory=dict)      # scope -> (x0, y0, x1, y1)
    steps: list = field(default_factory=list)       # the time steps, in order
    width: float = 0.0


def base_name(t):
    """The lecture's symbol without a layer prefix: "layer2.CS_0" -> "CS_0"."""
    return (t.name or "").rsplit(".", 1)[-1]


def time_of(scope):
    """The step number of a scope such as "t=3" or "t=3/layer2"; None outside the steps."""
    if scope and scope.startswith("t="):
        head = scope.split("/", 1)[0][2:]
        return int(head) if head.isdigit() else None
    return None


def band_of(scope):
    """The part of a scope below the step: "" for "t=3", "layer2" for "t=3/layer2"."""
    return scope.split("/", 1)[1] if "/" in scope else ""


def is_parameter(t):
    return not t.op and t.requires_grad and time_of(t.scope) is None


def label_width(lines):
    return max(len(line) for line in lines) * CHAR + 12


def unrolled(nodes):
    """True when the graph has time steps to lay out."""
    return any(time_of(t.scope) is not None for t in nodes)


def lay_out(root, width_of):
    """Positions for every node of `root`'s graph; width_of(tensor, lane) is a node's width."""
    nodes = topological_order(root)
    order = {id(t): k for k, t in enumerate(nodes)}
    children = {id(t): [] for t in nodes}
    for t in nodes:
        for p in t.parents:
            children[id(p)].append(t)
    inside = [t for t in nodes if time_of(t.scope) is not None]
    steps = sorted({time_of(t.scope) for t in inside})
    names = {band_of(t.scope) for t in inside}                 # top to bottom: outputs, layerN … layer1
    bands = sorted(names - {""}, reverse=True)
    bands = [""] + bands if "" in names else bands
    in_step = {id(t) for t in inside}

    def is_lane(t):
        """A leaf used once, by a node of its own scope (x_t, the loss's targets): drawn small
        beside its user."""
        users = children[id(t)]
        return (not t.op and not is_parameter(t) and len(users) == 1
                and (t.scope == users[0].scope or time_of(t.scope) == time_of(users[0].scope) is not None))

    def lane_leaves(u):
        """What is drawn small just left of u: its lane leaves, and a stand-in per parameter."""
        found = {id(p): p for p in u.parents if is_parameter(p) or is_lane(p)}
        return list(found.values())

    def is_output(t):
        """Feeds only the loss (Z_t): drawn above the highway."""
        users = children[id(t)]
        return bool(users) and all(id(u) not in in_step for u in users)

    # Columns: depth from the step's inputs, over edges inside one step (all of its bands).
    column = {}
    for t in inside:
        if is_lane(t):
            continue
        same_step = [p for p in t.parents if id(p) in in_step and time_of(p.scope) == time_of(t.scope)
                     and not is_lane(p)]
        in_band = [p for p in same_step if p.scope == t.scope]
        if is_output(t) and same_step:
            column[id(t)] = max(column[id(p)] for p in same_step)      # right above its input
        elif in_band:
            column[id(t)] = 1 + max(column[id(p)] for p in in_band)
        elif same_step:                                                # a layer's input from below
            column[id(t)] = max(column[id(p)] for p in same_step)
        else:
            column[id(t)] = 0
    # A node without parents in its step (X_t at t = 1) goes just left of its first user.
    for t in inside:
        if id(t) in column and not any(id(p) in column for p in t.parents):
            users = [column[id(u)] for u in children[id(t)] if id(u) in column and u.scope == t.scope]
            if users:
                column[id(t)] = max(0, min(users) - 1)

    # Rows, per (step, band): highway 0, outputs above, the rest below, right to left.
    row = {}
    for t in inside:
        if id(t) in column and base_name(t) in HIGHWAY:
            row[id(t)] = 0
    has_highway = {band_of(t.scope) for t in inside if id(t) in row}
    for t in inside:                                        # an RNN's highway is its hidden state
        if id(t) in column and band_of(t.scope) not in has_highway and base_name(t) == "HS_t":
            row[id(t)] = 0
    for t in inside:
        if id(t) in column and id(t) not in row and is_output(t):
            row[id(t)] = -1
    taken = {}                                              # (scope, column) -> rows in use
    for t in inside:
        if id(t) in row:
            taken.setdefault((t.scope, column[id(t)]), set()).add(row[id(t)])
    rest = [t for t in inside if id(t) in column and id(t) not in row]

    def wish(t):
        """(the row of its nearest placed user, whether it reads the step before (the
        recurrent path goes first, nearest the highway), how far right that user is, engine
        order)."""
        placed = [u for u in children[id(t)] if id(u) in row and u.scope == t.scope]
        recurrent = any(time_of(p.scope) == time_of(t.scope) - 1 or base_name(p) in ("HS_0", "CS_0")
                        for p in t.parents)
        if not placed:
            return (1, not recurrent, 99, order[id(t)])
        nearest = min(placed, key=lambda u: (column[id(u)], row[id(u)]))
        return (row[id(nearest)], not recurrent, column[id(nearest)], order[id(t)])

    for c in sorted({column[id(t)] for t in rest}, reverse=True):
        in_column = [t for t in rest if column[id(t)] == c]
        for t in sorted(in_column, key=wish):
            used = taken.setdefault((t.scope, c), set())
            r = max(1, wish(t)[0])
            while r in used:
                r += 1
            row[id(t)] = r
            used.add(r)

    # One geometry for every step: column widths and each band's rows, over all steps.
    lanes = {id(u): lane_leaves(u) for u in nodes}          # id(user) -> what stands beside it
    n_columns = 1 + max(column.values(), default=0)
    col_width, lane_width = [40.0] * n_columns, [0.0] * n_columns
    for t in inside:
        if id(t) in column:
            c = column[id(t)]
            col_width[c] = max(col_width[c], width_of(t, False))
            for leaf in lanes.get(id(t), []):
                lane_width[c] = max(lane_width[c], width_of(leaf, True))
    col_x, lane_x, x = [], [], MARGIN
    for c in range(n_columns):
        lane_x.append(x + lane_width[c] / 2)
        x += lane_width[c] + (GAP if lane_width[c] else 0)
        col_x.append(x + col_width[c] / 2)
        x += col_width[c] + GAP
    step_width = x - GAP + MARGIN
    rows_of = {b: [row[id(t)] for t in inside if id(t) in row and band_of(t.scope) == b] for b in bands}
    band_top, y = {}, 24.0                                   # room for the step's title
    for b in bands:
        lo, hi = min(rows_of[b]), max(rows_of[b])
        band_top[b] = y + MARGIN + (16 if b else 0) - lo * ROW     # y of row 0
        y = band_top[b] + hi * ROW + ROW / 2 + MARGIN
    step_height = y

    layout = Layout(steps=steps)
    before = [t for t in nodes if time_of(t.scope) is None and not t.op and not is_parameter(t)
              and children[id(t)] and all(id(u) in in_step for u in children[id(t)])]
    before_width = max([width_of(t, False) for t in before] + [0])
    first_x = before_width + STEP_GAP if before else 0
    step_x = {s: first_x + k * (step_width + STEP_GAP) for k, s in enumerate(steps)}

    def position(t):
        s, b = time_of(t.scope), band_of(t.scope)
        return step_x[s] + col_x[column[id(t)]], band_top[b] + row[id(t)] * ROW

    # The steps, then the initial states on the left, the loss on the right, the panel below.
    for s in steps:
        layout.frames[f"t={s}"] = (step_x[s], 0, step_x[s] + step_width, step_height)
        for b in bands:
            if b:
                top = band_top[b] + min(rows_of[b]) * ROW - ROW / 2 - 16
                layout.frames[f"t={s}/{b}"] = (step_x[s] + 4, top, step_x[s] + step_width - 4,
                                               band_top[b] + max(rows_of[b]) * ROW + ROW / 2)
    for t in inside:
        if id(t) not in column:
            continue
        x, y = position(t)
        layout.places.append(Place(t, x, y, frame=t.scope))
        leaves = lanes.get(id(t), [])
        # Stacked and centred on the user's row; off the row itself when an edge comes in
        # along it from the left (HS_{t-1} -> X_t), so the edge doesn't run through them.
        spacing = min(ROW / max(len(leaves), 1), 22)
        shift = spacing / 2 if len(leaves) % 2 and len(leaves) < len(t.parents) else 0
        for k, leaf in enumerate(leaves):
            offset = (k - (len(leaves) - 1) / 2) * spacing + shift
            lx = step_x[time_of(t.scope)] + lane_x[column[id(t)]]
            layout.places.append(Place(leaf, lx, y + offset, "lane", frame=t.scope, user=t))
    placed = {id(p.tensor): p for p in layout.places if p.role == "node"}
    for t in before:
        first = min(children[id(t)], key=lambda u: order[id(u)])
        layout.places.append(Place(t, before_width / 2, placed[id(first)].y, "state"))
    # The loss: a column right of the last step, from the level of the bus down.
    after = [t for t in nodes if time_of(t.scope) is None and not is_parameter(t)
             and not is_lane(t) and all(t is not b for b in before)]
    right = step_x[steps[-1]] + step_width + STEP_GAP if steps else 0
    lane_w = max([width_of(leaf, True) for t in after for leaf in lanes[id(t)]] + [0])
    loss_x = right + (lane_w + GAP if lane_w else 0) + max([width_of(t, False) for t in after] + [0]) / 2
    for k, t in enumerate(after):
        y = BUS + k * ROW * 1.2
        layout.places.append(Place(t, loss_x, y, "loss"))
        leaves = lanes[id(t)]
        for j, leaf in enumerate(leaves):
            layout.places.append(Place(leaf, right + lane_w / 2, y + (j - (len(leaves) - 1) / 2) * 22,
                                       "lane", user=t))
    x = loss_x + max([width_of(t, False) for t in after] + [0]) / 2
    # The parameters' panel below the steps: their one real node each, in rows.
    params = [t for t in nodes if is_parameter(t)]
    param_width = max([width_of(t, False) for t in params] + [60]) + GAP
    per_row = max(2, min(len(params), int((x - 2 * MARGIN) // param_width)))
    top = max([step_height] + [p.y + ROW for p in layout.places]) + STEP_GAP
    for k, t in enumerate(params):
        layout.places.append(Place(t, MARGIN + param_width * (k % per_row + 0.5),
                                   top + 50 + (k // per_row) * PANEL_ROW, "parameter"))
    rows = (len(params) + per_row - 1) // per_row
    layout.frames["parameters"] = (0, top, 2 * MARGIN + per_row * param_width, top + 26 + rows * PANEL_ROW)
    layout.width = x
    return layout
