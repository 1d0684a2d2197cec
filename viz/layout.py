"""Where each node of an unrolled graph goes: colah's LSTM diagram, computed.

Graphviz's `dot` ranks a graph by its edges, so a recurrent graph comes out as a staircase and
the weights shared by every step pull it together. Here the positions are ours and Graphviz
only draws (neato -n2, every node pinned), which is also what keeps a 50-step picture fast:

    CS_0 ─ t=1 ─────────────────── t=2 ─── …  t=T ──── loss
           CS_{t-1}⊗F_t ── CS_t ── …      (the highway: one straight line per layer)
      X_t  f_t  F_t  I_t⊗C_t  tanh(CS_t)  HS_t    (the gates hang below it)
           W_f b_f                                (a parameter: a stand-in below its user)
    parameters: W_f  b_f  W_i  …                  (their one real node each, in a panel)

- Time runs left to right: step t's nodes are in the frame of scope "t=<t>", with the same
  geometry at every step. A stacked layer is a band of its own, layer 1 at the bottom.
- Inside a step, a node's column is its depth from the step's inputs; every step uses the
  same columns.
- Row 0 is the highway: CS_t and CS_{t-1} ⊗ F_t; for an RNN, which has no cell state, the
  recurrent path from HS_{t-1} to HS_t. A step's outputs to the loss (Z_t) sit above it;
  the other nodes take rows below, placed right to left so that each chain (f_t → F_t → …)
  stays on one row.
- A leaf used by one node (x_t, or a parameter) is drawn small, just below that node (above
  an output). A parameter gets such a stand-in beside every node that reads it; its one real
  node is in a panel below the steps, and no edge leaves that panel.
- Nodes outside the steps: the initial states sit left of t = 1 on their first user's row
  (on the highway when they feed it); the loss is a column right of the last step.

Everything is in points; y grows downwards, as in SVG. Reads tensors' public attributes only.
"""
from dataclasses import dataclass, field

from tinygrad_lstm.tensor import topological_order

HIGHWAY = {"CS_t", "CS_{t-1} ⊗ F_t"}       # the cell state's path through a step
ROW = 62                                   # points between rows: a node, and stand-ins below it
GAP = 16                                   # points between columns
STEP_GAP = 36                              # points between two steps' frames
MARGIN = 12                                # inside a frame
BUS = -14                                  # the y of the line the outputs Z_t take to the loss
CHAR = 5.2                                 # average width of a 10 pt Helvetica character
LINE = 12                                  # height of a line of 10 pt text


@dataclass
class Place:
    """One drawn node: a tensor, or a stand-in for a leaf beside the node that uses it."""
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
    highway: set = field(default_factory=set)       # id() of the nodes on a highway line
    step_x: dict = field(default_factory=dict)      # step -> x of its frame's left side
    step_width: float = 0.0
    step_height: float = 0.0


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
    """A leaf that learns, outside every step: a weight. An initial state (HS_0, CS_0) that
    learns is a state, not a parameter."""
    return not t.op and t.requires_grad and time_of(t.scope) is None and not base_name(t).endswith("_0")


def label_width(lines):
    return max(len(line) for line in lines) * CHAR + 12


def unrolled(nodes):
    """True when the graph has time steps to lay out."""
    return any(time_of(t.scope) is not None for t in nodes)


class _Graph:
    """The tensors of one graph, read once: who uses whom, which are inside a step."""

    def __init__(self, root):
        self.nodes = topological_order(root)
        self.order = {id(t): k for k, t in enumerate(self.nodes)}
        self.children = {id(t): [] for t in self.nodes}
        for t in self.nodes:
            for p in t.parents:
                self.children[id(p)].append(t)
        self.inside = [t for t in self.nodes if time_of(t.scope) is not None]
        self.in_step = {id(t) for t in self.inside}
        self.steps = sorted({time_of(t.scope) for t in self.inside})
        names = {band_of(t.scope) for t in self.inside}        # top to bottom: outputs, layerN … layer1
        self.bands = ([""] if "" in names else []) + sorted(names - {""}, reverse=True)

    def is_lane(self, t):
        """A leaf used once, by a node of its own step (x_t, the loss's targets)."""
        users = self.children[id(t)]
        return (not t.op and not is_parameter(t) and len(users) == 1
                and (t.scope == users[0].scope or time_of(t.scope) == time_of(users[0].scope) is not None))

    def lane_leaves(self, u):
        """What is drawn small beside u: its lane leaves, and a stand-in per parameter."""
        return list({id(p): p for p in u.parents if is_parameter(p) or self.is_lane(p)}.values())

    def is_output(self, t):
        """Feeds only the loss (Z_t): drawn above the highway."""
        users = self.children[id(t)]
        return bool(users) and all(id(u) not in self.in_step for u in users)

    def is_before(self, t):
        """An initial state: a leaf outside the steps that only steps read (CS_0, HS_0)."""
        users = self.children[id(t)]
        return (time_of(t.scope) is None and not t.op and not is_parameter(t) and bool(users)
                and all(id(u) in self.in_step for u in users))


def lay_out(root, width_of, row_height=ROW):
    """Positions for every node of `root`'s graph; width_of(tensor, lane) is a node's width.
    row_height: points between rows (more when nodes carry more lines of text)."""
    g = _Graph(root)
    column = _columns(g)
    row, highway = _rows(g, column)
    layout = Layout(steps=g.steps, highway=highway)
    _place_steps(g, layout, column, row, width_of, row_height)
    _place_outside(g, layout, width_of, row_height)
    return layout


def _columns(g):
    """Depth from the step's inputs, over edges inside one step. A layer's input from the
    layer below sits above it; an output sits right above its input; a node with no input in
    its step (X_t at t = 1) goes just left of its first user."""
    column = {}
    for t in g.inside:
        if g.is_lane(t):
            continue
        same_step = [p for p in t.parents if id(p) in g.in_step and not g.is_lane(p)
                     and time_of(p.scope) == time_of(t.scope)]
        in_band = [p for p in same_step if p.scope == t.scope]
        if g.is_output(t) and same_step:
            column[id(t)] = max(column[id(p)] for p in same_step)
        elif in_band:
            column[id(t)] = 1 + max(column[id(p)] for p in in_band)
        elif same_step:
            column[id(t)] = max(column[id(p)] for p in same_step)
        else:
            column[id(t)] = 0
    for t in g.inside:
        if id(t) in column and not any(id(p) in column for p in t.parents):
            users = [column[id(u)] for u in g.children[id(t)] if id(u) in column and u.scope == t.scope]
            if users:
                column[id(t)] = max(0, min(users) - 1)
    return column


def _recurrent_path(g, band_nodes):
    """A band without a cell state: the nodes on a path from the step before (or an initial
    state) to HS_t: an RNN's W_hh HS_{t-1} -> a_t -> HS_t."""
    ids = {id(t) for t in band_nodes}
    fed = set()                                   # reached from the step before, in the band
    for t in band_nodes:                          # parents first
        if any(id(p) in fed or (id(p) not in ids and not is_parameter(p) and not g.is_lane(p)
                                and (p.op or g.is_before(p)) and time_of(p.scope) != time_of(t.scope))
               for p in t.parents):
            fed.add(id(t))
    feeds = {id(t) for t in band_nodes if base_name(t) == "HS_t"}
    for t in reversed(band_nodes):                # users first
        if id(t) in feeds:
            feeds.update(id(p) for p in t.parents if id(p) in ids)
    return [t for t in band_nodes if id(t) in fed and id(t) in feeds and not g.is_output(t)]


def _rows(g, column):
    """{id: row} per (step, band), and the highway's nodes. Row 0 is the highway, outputs are
    at -1, and the rest below, placed column by column from the right, each next to the row
    of its nearest user, so that chains stay straight."""
    row = {}
    by_scope = {}
    for t in g.inside:
        if id(t) in column:
            by_scope.setdefault(t.scope, []).append(t)
    for nodes in by_scope.values():
        cell = [t for t in nodes if base_name(t) in HIGHWAY]
        for t in cell or _recurrent_path(g, nodes):
            row[id(t)] = 0
    highway = set(row)
    for t in g.inside:
        if id(t) in column and id(t) not in row and g.is_output(t):
            row[id(t)] = -1
    taken = {}                                              # (scope, column) -> rows in use
    for t in g.inside:
        if id(t) in row:
            taken.setdefault((t.scope, column[id(t)]), set()).add(row[id(t)])
    rest = [t for t in g.inside if id(t) in column and id(t) not in row]

    def wish(t):
        """(the row of its nearest placed user, how far right that user is, engine order)."""
        placed = [u for u in g.children[id(t)] if id(u) in row and u.scope == t.scope]
        if not placed:
            return (1, 99, g.order[id(t)])
        nearest = min(placed, key=lambda u: (column[id(u)], row[id(u)]))
        return (row[id(nearest)], column[id(nearest)], g.order[id(t)])

    for c in sorted({column[id(t)] for t in rest}, reverse=True):
        for t in sorted((t for t in rest if column[id(t)] == c), key=wish):
            used = taken.setdefault((t.scope, c), set())
            r = max(1, wish(t)[0])
            while r in used:
                r += 1
            row[id(t)] = r
            used.add(r)
    return row, highway


def _lane_row(g, user, width_of, x, y, row_height, frame=None):
    """The small leaves of `user`: side by side under it, flush with its right side, away
    from the edges that come in from the left. An output's (Z_t's) stand in a column to its
    left instead: its input comes from below and its result leaves from the top."""
    leaves = g.lane_leaves(user)
    widths = [width_of(leaf, True) for leaf in leaves]
    places = []
    if g.is_output(user):
        for k, (leaf, w) in enumerate(zip(leaves, widths)):
            dy = (k - (len(leaves) - 1) / 2) * 22
            places.append(Place(leaf, x - width_of(user, False) / 2 - GAP / 2 - w / 2, y + dy, "lane",
                                frame=frame, user=user))
        return places
    right = x + max(width_of(user, False), sum(widths) + 6 * (len(widths) - 1)) / 2
    for leaf, w in reversed(list(zip(leaves, widths))):
        places.append(Place(leaf, right - w / 2, y + row_height / 2, "lane", frame=frame, user=user))
        right -= w + 6
    return places[::-1]


def _place_steps(g, layout, column, row, width_of, row_height):
    """One geometry for every step (the widest of each column, each band's rows, over all
    steps), then each step's nodes and their stand-ins, in their frames."""
    n_columns = 1 + max(column.values(), default=0)
    col_width = [40.0] * n_columns
    for t in g.inside:
        if id(t) in column:
            lanes = [width_of(leaf, True) + 6 for leaf in g.lane_leaves(t)]
            col_width[column[id(t)]] = max(col_width[column[id(t)]], width_of(t, False), sum(lanes))
    col_x, x = [], MARGIN
    for c in range(n_columns):
        col_x.append(x + col_width[c] / 2)
        x += col_width[c] + GAP
    step_width = x - GAP + MARGIN
    rows_of = {b: [row[id(t)] for t in g.inside if id(t) in row and band_of(t.scope) == b] for b in g.bands}
    band_top, y = {}, 24.0                                   # room for the step's title
    for b in g.bands:
        lo, hi = min(rows_of[b]), max(rows_of[b])
        band_top[b] = y + MARGIN + (16 if b else 0) + (0.5 - lo) * row_height    # y of row 0
        y = band_top[b] + (hi + 0.5) * row_height + MARGIN
    step_height = y
    before = [t for t in g.nodes if g.is_before(t)]
    before_width = max([width_of(t, False) for t in before] + [0])
    first_x = before_width + STEP_GAP if before else 0
    layout.step_x = {s: first_x + k * (step_width + STEP_GAP) for k, s in enumerate(g.steps)}
    layout.step_width, layout.step_height = step_width, step_height
    for s, left in layout.step_x.items():
        layout.frames[f"t={s}"] = (left, 0, left + step_width, step_height)
        for b in g.bands:
            if b:
                top = band_top[b] + (min(rows_of[b]) - 0.5) * row_height - 16
                layout.frames[f"t={s}/{b}"] = (left + 4, top, left + step_width - 4,
                                               band_top[b] + (max(rows_of[b]) + 0.5) * row_height)
    for t in g.inside:
        if id(t) in column:
            x = layout.step_x[time_of(t.scope)] + col_x[column[id(t)]]
            y = band_top[band_of(t.scope)] + row[id(t)] * row_height
            layout.places.append(Place(t, x, y, frame=t.scope))
            layout.places += _lane_row(g, t, width_of, x, y, row_height, frame=t.scope)
    placed = {id(p.tensor): p for p in layout.places if p.role == "node"}
    for t in before:                        # on the row of its first user, the highway's if it feeds it
        users = sorted(g.children[id(t)], key=lambda u: (id(u) not in layout.highway, g.order[id(u)]))
        layout.places.append(Place(t, before_width / 2, placed[id(users[0])].y, "state"))
        if id(users[0]) in layout.highway:
            layout.highway.add(id(t))


def _place_outside(g, layout, width_of, row_height):
    """The loss: a column right of the last step, from the level of the bus down, its own
    leaves (targets, a count) to its left. Then the parameters' panel below the steps."""
    after = [t for t in g.nodes if time_of(t.scope) is None and not is_parameter(t)
             and not g.is_lane(t) and not g.is_before(t)]
    right = (layout.step_x[g.steps[-1]] + layout.step_width + STEP_GAP) if g.steps else 0
    lane_w = max([width_of(leaf, True) for t in after for leaf in g.lane_leaves(t)] + [0])
    node_w = max([width_of(t, False) for t in after] + [0])
    loss_x = right + (lane_w + GAP if lane_w else 0) + node_w / 2
    for k, t in enumerate(after):
        y = BUS + k * row_height
        layout.places.append(Place(t, loss_x, y, "loss"))
        leaves = g.lane_leaves(t)
        for j, leaf in enumerate(leaves):
            layout.places.append(Place(leaf, right + lane_w / 2, y + (j - (len(leaves) - 1) / 2) * 22,
                                       "lane", user=t))
    width = loss_x + node_w / 2
    params = [t for t in g.nodes if is_parameter(t)]
    if not params:
        return
    param_width = max(width_of(t, False) for t in params) + GAP
    per_row = max(2, min(len(params), int((width - 2 * MARGIN) // param_width)))
    panel_row = row_height + LINE
    top = max([layout.step_height] + [p.y + row_height for p in layout.places]) + STEP_GAP
    for k, t in enumerate(params):
        layout.places.append(Place(t, MARGIN + param_width * (k % per_row + 0.5),
                                   top + 50 + (k // per_row) * panel_row, "parameter"))
    rows = (len(params) + per_row - 1) // per_row
    layout.frames["parameters"] = (0, top, 2 * MARGIN + per_row * param_width, top + 26 + rows * panel_row)
