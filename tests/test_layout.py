"""The op-level picture's layout, checked as numbers from the SVG that Graphviz writes: time
left to right, the cell state on one straight line with the gates below it, the loss at the
right end, parameters as one stand-in per step with their real node in a panel no edge
leaves, and the sizes the README relies on."""
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tinygrad_lstm.nn import LSTM, RNN
from tinygrad_lstm.viz import render

SVG = "{http://www.w3.org/2000/svg}"
MODELS = {"lstm": (LSTM, {}), "rnn": (RNN, {}), "peephole": (LSTM, {"peephole": True}),
          "stacked": (LSTM, {"num_layers": 2})}


def picture(tmp_path, kind="lstm", T=3, hidden=2):
    make, options = MODELS[kind]
    model = make(3, hidden, 3, seed=0, **options)
    rng = np.random.default_rng(0)
    loss = model.loss(rng.standard_normal((T, 3)), rng.integers(0, 3, T))
    loss.backward()
    return model, Picture(render(loss, tmp_path / f"{kind}.svg", show_grads=True))


def _points(g):
    """Every coordinate of a group's outline (polygon points, path numbers)."""
    found = []
    for el in g:
        if el.tag == f"{SVG}polygon":
            found += [tuple(map(float, p.split(","))) for p in el.get("points").split()]
        elif el.tag == f"{SVG}path":
            numbers = list(map(float, re.findall(r"-?\d+(?:\.\d+)?", el.get("d"))))
            found += list(zip(numbers[::2], numbers[1::2]))
    return found


class Picture:
    """The SVG's nodes (id -> centre, box, texts), clusters (name -> box) and edges."""

    def __init__(self, path):
        root = ET.parse(path).getroot()
        self.width = float(root.get("width").removesuffix("pt"))
        self.nodes, self.clusters, self.edges = {}, {}, []
        for g in root.iter(f"{SVG}g"):
            title = g.find(f"{SVG}title").text if g.find(f"{SVG}title") is not None else None
            kind = g.get("class")
            if kind == "node":
                points = _points(g)
                texts = [t.text for t in g.iter(f"{SVG}text")]
                if not points or not texts:
                    continue                       # invisible corner and bus points
                xs, ys = zip(*points)
                box = (min(xs), min(ys), max(xs), max(ys))
                self.nodes[title] = {"x": (box[0] + box[2]) / 2, "y": (box[1] + box[3]) / 2,
                                     "box": box, "text": texts}
            elif kind == "cluster":
                xs, ys = zip(*_points(g))
                self.clusters[title.removeprefix("cluster_")] = (min(xs), min(ys), max(xs), max(ys))
            elif kind == "edge":
                self.edges.append(tuple(end.split(":")[0] for end in title.split("->")))   # no ports

    def named(self, name):
        return [n for n in self.nodes.values() if n["text"][0] == name]

    def inside(self, node, cluster):
        x0, y0, x1, y1 = self.clusters[cluster]
        return x0 <= node["x"] <= x1 and y0 <= node["y"] <= y1

    def steps(self):
        return sorted((c for c in self.clusters if re.fullmatch(r"t=\d+", c)), key=lambda c: int(c[2:]))


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_time_runs_left_to_right_and_the_loss_is_at_the_right_end(tmp_path, kind):
    _, pic = picture(tmp_path, kind, T=4)
    steps = pic.steps()
    assert steps == ["t=1", "t=2", "t=3", "t=4"]
    lefts = [pic.clusters[s][0] for s in steps]
    assert all(a + 100 < b for a, b in zip(lefts, lefts[1:]))          # in order, apart
    for a, b in zip(steps, steps[1:]):                                   # frames don't overlap
        assert pic.clusters[a][2] < pic.clusters[b][0]
    [loss] = pic.named("E")
    assert loss["x"] >= max(n["x"] for n in pic.nodes.values()) - 1     # rightmost
    assert loss["x"] > pic.clusters[steps[-1]][2]                        # past the last step
    for s in steps:                                  # each step's own nodes are in its frame
        assert sum(pic.inside(n, s) for n in pic.named("HS_t")) == (2 if kind == "stacked" else 1)


@pytest.mark.parametrize("kind", ["lstm", "peephole", "stacked"])
def test_the_cell_state_is_one_straight_line_with_the_gates_below_it(tmp_path, kind):
    _, pic = picture(tmp_path, kind, T=5)
    layers = 2 if kind == "stacked" else 1
    highway = pic.named("CS_t")
    assert len(highway) == 5 * layers
    ys = sorted({round(n["y"], 1) for n in highway})
    assert len(ys) == layers                                   # one line per layer…
    for y in ys:                                               # …straight to within a point
        on_line = [n for n in highway if abs(n["y"] - y) < 1]
        assert len(on_line) == 5 and max(n["y"] for n in on_line) - min(n["y"] for n in on_line) < 1
        kept = [n for n in pic.named("CS_{t-1} ⊗ F_t") if abs(n["y"] - y) < 1]
        assert len(kept) == 5                                  # CS_{t-1} ⊗ F_t is on it too
    top_line = ys[-1] if layers == 1 else ys[0]
    for gate in ("F_t", "I_t", "C_t", "O_t"):                  # SVG's y grows downwards
        for node in pic.named(gate):
            assert node["y"] > min(ys) + 20, gate
    bottom_band = [n for n in pic.named("F_t") if n["y"] > ys[-1]]
    assert len(bottom_band) == 5                               # layer 1's gates below its line
    assert top_line in ys


def test_the_highway_is_drawn_thick_and_on_top(tmp_path):
    _, pic = picture(tmp_path, "lstm", T=3)
    text = (tmp_path / "lstm.svg").read_text()
    edges = re.findall(r'<g id="edge\d+" class="edge">\s*<title>([^<]*)</title>\s*<path fill="none" '
                       r'stroke="(#[0-9a-f]+)"(?: stroke-width="([0-9.]+)")?', text)
    red = [k for k, (_, colour, width) in enumerate(edges) if colour == "#d62728"]
    assert len(red) == 2 * 3 and all(float(edges[k][2]) >= 4 for k in red)    # thick
    cell_state = {sid for sid, n in pic.nodes.items() if n["text"][0] in ("CS_0", "CS_t", "CS_{t-1} ⊗ F_t")}
    others = [k for k, (title, _, _) in enumerate(edges)
              if title.split("&#45;&gt;")[0].split(":")[0] not in cell_state]
    assert len(others) > 50 and min(red) > max(others)     # drawn after the other edges: on top


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_parameters_have_a_stand_in_per_step_and_no_edge_leaves_their_node(tmp_path, kind):
    model, pic = picture(tmp_path, kind, T=3)
    names = [name for name, _ in model.named_parameters()]
    panel = [sid for sid, n in pic.nodes.items() if pic.inside(n, "parameters")]
    assert sorted(pic.nodes[sid]["text"][0] for sid in panel) == sorted(names)   # one real node each
    for sid in panel:
        assert "used in 3 steps" in pic.nodes[sid]["text"]
    assert not [e for e in pic.edges if e[0] in panel or e[1] in panel]          # no edge at all
    for step in pic.steps():
        for name in names:
            stand_ins = [n for n in pic.named(name) if pic.inside(n, step)]
            assert len(stand_ins) == 1, (step, name)
            assert stand_ins[0]["box"][3] - stand_ins[0]["box"][1] < 20        # small: one line


def test_no_edge_from_outside_enters_a_step_but_the_recurrent_state(tmp_path):
    _, pic = picture(tmp_path, "lstm", T=3)
    steps = pic.steps()

    def where(sid):
        node = pic.nodes.get(sid)
        return None if node is None else next((s for s in steps if pic.inside(node, s)), "outside")

    crossing = [(pic.nodes[a]["text"][0], pic.nodes[b]["text"][0]) for a, b in pic.edges
                if a in pic.nodes and b in pic.nodes and where(a) != where(b) and where(b) != "outside"]
    assert sorted(set(crossing)) == [("CS_0", "CS_{t-1} ⊗ F_t"), ("CS_t", "CS_{t-1} ⊗ F_t"),
                                     ("HS_t", "X_t")]


def test_nodes_say_symbol_op_and_shape_and_the_legend_says_what_they_mean(tmp_path):
    _, pic = picture(tmp_path, "lstm", T=2)
    [f_t] = pic.named("F_t")[:1]
    assert f_t["text"][1] == "sigmoid · 2×1"
    assert pic.named("W_f") and any(n["text"][1:2] == ["2×5"] for n in pic.named("W_f"))
    text = (tmp_path / "lstm.svg").read_text()
    assert "gradient norm ‖∂L/∂node‖" in text
    assert "a vector of n numbers is n×1" in text and "‖dL/dt‖" not in text


def test_sizes_a_step_fits_800_points_and_one_step_fits_the_readme(tmp_path):
    _, pic = picture(tmp_path, "lstm", T=6)
    lefts = [pic.clusters[s][0] for s in pic.steps()]
    pitches = [b - a for a, b in zip(lefts, lefts[1:])]
    assert max(pitches) - min(pitches) < 1 and max(pitches) <= 800     # every step alike, ≤ 800 pt
    _, one = picture(tmp_path, "lstm", T=1)
    assert one.width <= 1200                                   # the README's first picture
    for a, b in [(a, b) for a in one.nodes.values() for b in one.nodes.values() if a is not b]:
        (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a["box"], b["box"]
        assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, (a["text"], b["text"])


def test_an_rnn_s_recurrent_path_is_its_straight_line(tmp_path):
    _, pic = picture(tmp_path, "rnn", T=4)
    path = pic.named("HS_0") + pic.named("W_hh HS_{t-1}") + pic.named("a_t") + pic.named("HS_t")
    assert len(path) == 1 + 3 * 4
    assert max(n["y"] for n in path) - min(n["y"] for n in path) < 1   # HS_{t-1} -> … -> HS_t, straight
    assert all(n["y"] > path[0]["y"] + 20 for n in pic.named("W_xh x_t + b_h"))   # the input below


@pytest.mark.parametrize("kind", ["lstm", "peephole", "stacked"])
def test_the_initial_cell_state_starts_the_highway(tmp_path, kind):
    _, pic = picture(tmp_path, kind, T=2)
    for name in ("CS_0", "layer2.CS_0") if kind == "stacked" else ("CS_0",):
        [start] = pic.named(name)
        line = {round(n["y"]) for n in pic.named("CS_t") if abs(n["y"] - start["y"]) < 1}
        assert line, name                                   # a CS_t at CS_0's height: one line


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_no_two_nodes_overlap_even_with_values_shown(tmp_path, kind):
    make, options = MODELS[kind]
    model = make(3, 2, 3, seed=0, **options)
    rng = np.random.default_rng(0)
    loss = model.loss(rng.standard_normal((2, 3)), rng.integers(0, 3, 2))
    loss.backward()
    pic = Picture(render(loss, tmp_path / "v.svg", show_grads=True, show_values=True))
    boxes = [n["box"] for n in pic.nodes.values()]
    for k, (ax0, ay0, ax1, ay1) in enumerate(boxes):
        for bx0, by0, bx1, by1 in boxes[k + 1:]:
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0


def test_learned_initial_states_are_states_not_parameters(tmp_path):
    from tinygrad_lstm.tensor import Tensor
    model = LSTM(3, 2, 3, seed=0)
    rng = np.random.default_rng(0)
    h0 = Tensor(np.zeros(2), requires_grad=True, name="HS_0")
    c0 = Tensor(np.zeros(2), requires_grad=True, name="CS_0")
    loss = model.loss(rng.standard_normal((2, 3)), rng.integers(0, 3, 2), h0=h0, c0=c0)
    loss.backward()
    pic = Picture(render(loss, tmp_path / "h0.svg", show_grads=True))
    panel = {n["text"][0] for n in pic.nodes.values() if pic.inside(n, "parameters")}
    assert "CS_0" not in panel and "HS_0" not in panel and "W_f" in panel
    [start] = pic.named("CS_0")
    assert start["box"][3] - start["box"][1] > 30                  # a full node, on the left
    assert start["x"] < pic.clusters["t=1"][0]
