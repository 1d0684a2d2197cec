"""Pictures, checked by parsing what Graphviz produces: clusters per step, one node per
tensor (op level) or per step (cell level), the lecture's names, each parameter drawn once,
the cell-state highway, and gradient colours in the order of the gradient norms."""
import os
import re
import xml.etree.ElementTree as ET

import graphviz
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.nn import LSTM, RNN
from tinygrad_lstm.viz import GraphvizNotFoundError, draw_graph, render
from tinygrad_lstm.viz.graph import walk

SVG = "{http://www.w3.org/2000/svg}"


def lstm_loss(T=3, backward=False, last_only=False, make=LSTM, **options):
    model = make(3, 4, 3, seed=0, **options)
    rng = np.random.default_rng(0)
    mask = None
    if last_only:
        mask = np.zeros(T, dtype=bool)
        mask[-1] = True
    loss = model.loss(rng.standard_normal((T, 3)), rng.integers(0, 3, T), mask=mask)
    if backward:
        loss.backward()
    return model, loss


def svg_groups(path):
    """{class: [title, ...]} for the SVG's node, edge and cluster groups; and all text."""
    root = ET.parse(path).getroot()
    groups = {"node": [], "edge": [], "cluster": []}
    for g in root.iter(f"{SVG}g"):
        kind = g.get("class")
        if kind in groups:
            groups[kind].append(g.find(f"{SVG}title").text)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    return groups, texts


def dot_nodes(source):
    """{node id: attribute text} from DOT source."""
    return dict(re.findall(r'^\s*((?:s|c)\d+) \[(.*)\]$', source, flags=re.M))


def luminance(hex_colour):
    r, g, b = (int(hex_colour[k:k + 2], 16) for k in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _by_name(loss, scope="t=1"):
    """{name: node} for the nodes of one step (and the parameters, which have no scope)."""
    found = {}
    for t in walk(loss):
        if t.name and t.scope in (scope, None):
            assert t.name not in found or found[t.name] is t, f"two nodes named {t.name} in {scope}"
            found[t.name] = t
    return found


def _is_parent(parent, child):
    return any(p is parent for p in child.parents)


def test_one_lstm_step_is_the_lecture_s_graph_node_by_node():
    model, loss = lstm_loss(T=1)
    P, nodes = dict(model.named_parameters()), _by_name(loss)
    assert {"W_f", "F_t", "I_t", "C_t", "O_t", "CS_t", "HS_t"} <= set(nodes)
    for g, G, act in (("f", "F", "sigmoid"), ("i", "I", "sigmoid"), ("c", "C", "tanh"),
                      ("o", "O", "sigmoid")):
        pre, gate = nodes[f"{g}_t"], nodes[f"{G}_t"]
        assert nodes[f"W_{g}"] is P[f"W_{g}"] and nodes[f"W_{g}"].op == ""      # the parameter leaf
        assert pre.op == "affine" and pre.parents == (nodes["X_t"], P[f"W_{g}"], P[f"b_{g}"])
        assert gate.op == act and gate.parents == (pre,)                       # F_t = σ(f_t)
    assert (nodes["CS_t"].op == "add"
            and nodes["CS_t"].parents == (nodes["CS_{t-1} ⊗ F_t"], nodes["I_t ⊗ C_t"]))
    assert (_is_parent(nodes["F_t"], nodes["CS_{t-1} ⊗ F_t"])
            and _is_parent(nodes["CS_0"], nodes["CS_{t-1} ⊗ F_t"]))
    assert nodes["HS_t"].op == "mul" and nodes["HS_t"].parents == (nodes["O_t"], nodes["tanh(CS_t)"])
    assert nodes["tanh(CS_t)"].parents == (nodes["CS_t"],)
    assert nodes["Z_t"].op == "affine" and nodes["Z_t"].parents == (nodes["HS_t"], P["W_y"], P["b_y"])


def test_with_peepholes_f_t_adds_the_peephole_to_the_affine():
    model, loss = lstm_loss(T=1, peephole=True)
    P, nodes = dict(model.named_parameters()), _by_name(loss)
    assert {"W_f", "F_t", "I_t", "C_t", "O_t", "CS_t", "HS_t"} <= set(nodes)
    for g, G, peeps_at in (("f", "F", "CS_0"), ("i", "I", "CS_0"), ("o", "O", "CS_t")):
        affine = nodes[f"W_{g} X_t + b_{g}"]
        assert affine.op == "affine" and affine.parents == (nodes["X_t"], P[f"W_{g}"], P[f"b_{g}"])
        peephole = nodes[f"p_{g} ⊗ {'CS_{t-1}' if peeps_at == 'CS_0' else 'CS_t'}"]
        assert peephole.op == "mul" and peephole.parents == (P[f"p_{g}"], nodes[peeps_at])
        pre = nodes[f"{g}_t"]
        assert pre.op == "add" and pre.parents == (affine, peephole)
        assert nodes[f"{G}_t"].op == "sigmoid" and nodes[f"{G}_t"].parents == (pre,)
    assert nodes["c_t"].op == "affine" and _is_parent(P["W_c"], nodes["c_t"])   # no peephole on C_t
    assert nodes["C_t"].parents == (nodes["c_t"],)


def test_a_stacked_layer_s_weights_feed_that_layer_s_gates():
    model, loss = lstm_loss(T=1, num_layers=2)
    P, nodes = dict(model.named_parameters()), _by_name(loss, "t=1/layer2")
    for g in "fico":
        assert (nodes[f"{g}_t"].op == "affine"
                and nodes[f"{g}_t"].parents[1:] == (P[f"layer2.W_{g}"], P[f"layer2.b_{g}"]))
    assert nodes["F_t"].parents == (nodes["f_t"],) and nodes["F_t"].scope == "t=1/layer2"


def test_one_rnn_step_is_the_lecture_s_graph_node_by_node():
    model, loss = lstm_loss(T=1, make=RNN)
    P, nodes = dict(model.named_parameters()), _by_name(loss)
    from_x, from_h = nodes["W_xh x_t + b_h"], nodes["W_hh HS_{t-1}"]
    assert from_x.op == "affine" and from_x.parents == (nodes["x_t"], P["W_xh"], P["b_h"])
    assert from_h.op == "affine" and from_h.parents == (nodes["HS_0"], P["W_hh"])
    assert nodes["a_t"].op == "add" and nodes["a_t"].parents == (from_x, from_h)
    assert nodes["HS_t"].op == "tanh" and nodes["HS_t"].parents == (nodes["a_t"],)
    assert nodes["Z_t"].op == "affine" and nodes["Z_t"].parents == (nodes["HS_t"], P["W_hy"], P["b_y"])


@pytest.mark.parametrize("layers", [1, 2])
def test_cell_level_draws_one_node_per_step_in_time_order_and_the_loss(tmp_path, layers):
    _, loss = lstm_loss(T=12, num_layers=layers, backward=True)
    path = render(loss, tmp_path / "cells.svg", detail="cell", show_grads=True)
    groups, texts = svg_groups(path)
    cells = [title for title in groups["node"] if re.fullmatch(r"c\d+", title)]
    assert len(cells) == 12 * layers and "loss" in groups["node"]
    assert texts.count("CS") >= 11 * layers and texts.count("HS") >= 11 * layers   # labelled edges
    root = ET.parse(path).getroot()
    x_of = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "node":
            text = g.find(f"{SVG}text")
            if text is not None:
                x_of[g.find(f"{SVG}title").text] = (float(text.get("x")), text.text)
    firsts = [x_of[c] for c in cells if x_of[c][1].startswith("t=")]
    for (xa, a), (xb, b) in zip(firsts, firsts[1:]):
        assert (xa < xb) == (int(a.split()[0][2:]) < int(b.split()[0][2:])) or xa == xb
    assert x_of["loss"][0] > max(x for x, _ in x_of.values() if _ and _.startswith("t="))


def test_gradient_colours_are_ordered_as_the_gradient_norms():
    _, loss = lstm_loss(T=4, backward=True)
    source = draw_graph(loss, show_grads=True).source
    pairs = []
    for attrs in re.findall(r'^\s*s\d+ \[(.*)\]$', source, flags=re.M):
        norm = re.search(r"‖∇‖ ([0-9.e+-]+)", attrs)
        colour = re.search(r'fillcolor="(#[0-9a-f]{6})"', attrs)
        if norm and colour:
            pairs.append((float(norm.group(1)), luminance(colour.group(1))))
    assert len(pairs) > 40
    pairs.sort(key=lambda p: (p[0], -p[1]))     # norms print to 2 digits: break ties darker-first
    lums = [lum for _, lum in pairs]
    assert all(a >= b - 1e-9 for a, b in zip(lums, lums[1:]))   # larger gradient, darker colour
    assert lums[0] > lums[-1] + 100                              # and the scale spans a real range
    assert "gradient norm ‖∂L/∂node‖" in source                  # the legend


def _cell_fills(loss, grad_range):
    source = draw_graph(loss, detail="cell", show_grads=True, grad_range=grad_range).source
    nodes = dot_nodes(source)
    cells = sorted((k for k in nodes if re.fullmatch(r"c\d+", k)), key=lambda k: int(k[1:]))
    return [luminance(re.search(r'fillcolor="(#[0-9a-f]{6})"', nodes[k]).group(1)) for k in cells]


def test_an_rnn_fades_towards_t1_while_the_lstm_cell_state_keeps_its_gradient():
    scale = (1e-16, 1.0)                                  # one scale for both pictures
    _, rnn_loss = lstm_loss(T=50, backward=True, last_only=True, make=RNN)
    _, lstm_loss_ = lstm_loss(T=50, backward=True, last_only=True)
    rnn, lstm = _cell_fills(rnn_loss, scale), _cell_fills(lstm_loss_, scale)
    assert rnn[0] > rnn[-1] + 100                         # t = 1 is far paler than t = 50
    assert all(a >= b - 1e-9 for a, b in zip(rnn, rnn[1:]))
    assert lstm[0] < rnn[0] - 50                          # the LSTM's t = 1 is much darker


def test_values_can_be_shown():
    _, loss = lstm_loss(T=1)
    labels = re.findall(r'label="([^"]*)"', draw_graph(loss, show_values=True).source)
    assert any(re.search(r"\[-?\d\.\d+, -?\d\.\d+", label) for label in labels)
    assert not any("[" in label for label in re.findall(r'label="([^"]*)"', draw_graph(loss).source))


def test_a_graph_without_steps_is_laid_out_by_dot():
    from tinygrad_lstm.tensor import Tensor
    a, b = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="a"), Tensor(np.array([3.0, 4.0]), name="b")
    c = (a * b).sum()
    graph = draw_graph(c)
    assert graph.engine == "dot" and "rankdir=LR" in graph.source
    assert len(re.findall(r"^\s*s\d+ \[", graph.source, flags=re.M)) == 4


def test_formats_by_suffix(tmp_path):
    _, loss = lstm_loss(T=2)
    assert render(loss, tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert render(loss, tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"
    assert render(loss, tmp_path / "g.dot").read_text().startswith("digraph computation {")
    assert isinstance(draw_graph(loss), graphviz.Digraph)


def test_without_dot_svg_says_how_to_install_and_dot_still_works(tmp_path, monkeypatch):
    _, loss = lstm_loss(T=2)
    monkeypatch.setenv("PATH", str(tmp_path))             # no Graphviz here
    with pytest.raises(GraphvizNotFoundError,
                       match=r"Graphviz is not installed.*apt-get install graphviz.*\.dot"):
        render(loss, tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
    assert render(loss, tmp_path / "g.dot").stat().st_size > 1000


@pytest.mark.parametrize("scalar", [False, True])
def test_without_dot_jupyter_s_display_and_graphviz_s_render_give_our_error(tmp_path, monkeypatch, scalar):
    """Jupyter shows a Digraph through _repr_mimebundle_ (which pipes through dot), and a user
    may call the Digraph's own render: both say how to install Graphviz, not graphviz's
    ExecutableNotFound. The plain (dot) and the pinned (neato -n2) graphs alike."""
    loss = (Tensor([2.0], requires_grad=True) * 3).sum() if scalar else lstm_loss(T=2)[1]
    graph = draw_graph(loss)
    monkeypatch.setenv("PATH", str(tmp_path))
    for show in (lambda: graph._repr_mimebundle_(), lambda: graph.pipe(format="svg"),
                 lambda: graph.render(tmp_path / "g", format="svg")):
        with pytest.raises(GraphvizNotFoundError,
                           match=r"Graphviz is not installed.*apt-get install graphviz"):
            show()


BAD = [
    ({"path": "g.txt"}, ValueError,
     r"'g\.txt'.*the suffix must be one of \.dot, \.gv, \.html, \.pdf, \.png, \.svg"),
    ({"path": "missing/g.svg"}, FileNotFoundError, r"the folder '.*missing' does not exist"),
    ({"path": "missing/g.html"}, FileNotFoundError, r"the folder '.*missing' does not exist"),
    ({"path": "a_folder"}, IsADirectoryError, r"'.*a_folder' is a folder; give a file name inside it"),
    ({"detail": "layer"}, ValueError, "detail must be 'op' or 'cell'; got 'layer'"),
    ({"show_grads": True, "grad_range": (1.0, 0.1)}, ValueError, r"0 < low < high; got \(1\.0, 0\.1\)"),
    ({"show_grads": True, "grad_range": (0.0, 1.0)}, ValueError, r"0 < low < high"),
    ({"show_grads": True, "grad_range": (1e-9, float("inf"))}, ValueError, r"finite.*got \(1e-09, inf\)"),
    ({"show_grads": True, "grad_range": (float("nan"), 1.0)}, ValueError, r"finite.*got \(nan, 1\.0\)"),
    ({"show_grads": True, "grad_range": (1e-9,)}, TypeError,
     r"must be \(low, high\), two numbers; got \(1e-09,\)"),
    ({"show_grads": True, "grad_range": ("1e-9", 1)}, TypeError, r"two numbers; got \('1e-9', 1\)"),
    ({"grad_range": (1e-9, 1.0)}, ValueError, r"grad_range .* was given without show_grads"),
    ({"show_grads": "yes"}, TypeError, r"show_grads must be True or False; got 'yes'"),
    ({"show_grads": 1}, TypeError, r"show_grads must be True or False; got 1"),
    ({"show_values": None}, TypeError, r"show_values must be True or False; got None"),
    ({"force": "no"}, TypeError, r"force must be True or False; got 'no'"),
]


@pytest.mark.parametrize("options,error,message", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_input_is_refused_with_a_clear_error_and_nothing_written(tmp_path, options, error, message):
    _, loss = lstm_loss(T=2, backward=True)
    (tmp_path / "a_folder").mkdir()
    options = dict(options)
    path = tmp_path / options.pop("path", "g.svg")
    with pytest.raises(error, match=message):
        render(loss, path, **options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_folder"]     # nothing written, no debris
    assert list((tmp_path / "a_folder").iterdir()) == []


def test_not_a_tensor_is_refused():
    with pytest.raises(TypeError, match="expected a Tensor; got ndarray"):
        draw_graph(np.ones(3))


def test_a_picture_too_big_to_draw_fast_says_so_unless_forced(tmp_path, monkeypatch):
    import tinygrad_lstm.viz.graph
    _, loss = lstm_loss(T=3, backward=True)
    monkeypatch.setattr(tinygrad_lstm.viz.graph, "MAX_OP_NODES", 50)
    with pytest.raises(tinygrad_lstm.viz.graph.TooBigError,
                       match=r"op-level picture of \d+ tensors \(3 steps\).*"
                             r"detail='cell'.*force=True"):
        render(loss, tmp_path / "g.svg")
    assert list(tmp_path.iterdir()) == []
    assert render(loss, tmp_path / "g.svg", force=True).stat().st_size > 10_000
    assert render(loss, tmp_path / "c.svg", detail="cell").stat().st_size > 1_000   # cells: never too big


def test_a_failure_mid_write_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    _, loss = lstm_loss(T=2)
    target = tmp_path / "g.svg"
    target.write_text("the old picture")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        render(loss, target)
    assert target.read_text() == "the old picture"
    assert [p.name for p in tmp_path.iterdir()] == ["g.svg"]


def test_the_gradient_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    from tinygrad_lstm.viz.plots import state_gradient_norms, vanishing_gradient_demo
    path = tmp_path / "norms.png"
    vanishing_gradient_demo(path, steps=20, hidden_size=8)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    svg = tmp_path / "norms.svg"
    vanishing_gradient_demo(svg, steps=10)
    assert "<svg" in svg.read_text()[:500]
    model = RNN(3, 4, 2, seed=0)
    rng = np.random.default_rng(0)
    norms = state_gradient_norms(model, rng.standard_normal((6, 3)), rng.integers(0, 2, 6))
    assert set(norms) == {"HS"} and norms["HS"].shape == (6,) and np.all(norms["HS"] > 0)
    with pytest.raises(ValueError, match=r"\.pdf, \.png, \.svg"):
        vanishing_gradient_demo(tmp_path / "x.jpg")


def test_a_big_picture_says_what_it_is_doing_first(tmp_path, monkeypatch, capsys):
    import tinygrad_lstm.viz.graph
    _, loss = lstm_loss(T=3)
    monkeypatch.setattr(tinygrad_lstm.viz.graph, "FEEDBACK_NODES", 20)
    render(loss, tmp_path / "g.dot")
    assert re.fullmatch(r"drawing \d+ tensors: a second or more\n", capsys.readouterr().err)
    monkeypatch.setattr(tinygrad_lstm.viz.graph, "FEEDBACK_NODES", 10_000)
    render(loss, tmp_path / "g.dot")
    assert capsys.readouterr().err == ""


def test_jupyter_shows_the_pinned_layout_with_its_frames():
    _, loss = lstm_loss(T=2)
    svg = draw_graph(loss)._repr_image_svg_xml()         # what a notebook displays
    assert svg.count('class="cluster"') == 2 + 1           # t=1, t=2 and the parameters' panel
    assert "positions are pinned: draw with neato -n2" in draw_graph(loss).source


@pytest.mark.parametrize("suffix", ["svg", "html"])
def test_names_with_markup_or_backslashes_are_drawn_as_written(tmp_path, suffix):
    from tinygrad_lstm.tensor import Tensor, scope
    W = Tensor(np.ones((2, 2)), requires_grad=True, name='W<&">')
    with scope("t=1"):
        x = Tensor(np.ones(2), name="x\\N")
        h = (W @ x).tanh()
        h.name = "F<t> & \\sigma"
    loss = h.sum()
    loss.backward()
    path = render(loss, tmp_path / f"g.{suffix}", show_grads=True)
    text = path.read_text()
    for name in ("F&lt;t&gt; &amp; \\sigma", "x\\N", "W&lt;&amp;&quot;&gt;"):
        assert name in text or name.replace("&quot;", '"') in text, name


def test_grad_range_takes_numpy_numbers():
    _, loss = lstm_loss(T=2, backward=True)
    source = draw_graph(loss, show_grads=True, grad_range=(np.float32(1e-8), np.float64(1))).source
    assert "1.0e-08" in source


def test_cell_level_needs_time_steps():
    loss = (Tensor([2.0], requires_grad=True) * 3).sum()
    with pytest.raises(ValueError, match=r"detail='cell' draws a box per time step, and this graph has no "
                                         r"steps .*draw it with detail='op'"):
        draw_graph(loss, detail="cell")
    assert draw_graph(loss, detail="op").source.count("->") >= 2


def test_an_infinite_or_nan_gradient_is_dark_and_the_legend_stays_finite():
    from tinygrad_lstm.viz.colour import PALETTE, LogScale
    scale = LogScale([1e-3, 2.0, float("inf"), float("nan"), None])
    assert (scale.lo, scale.hi) == (1e-3, 2.0)
    assert scale.colour(float("inf")) == scale.colour(float("nan")) == PALETTE[-1]
    assert "nan" not in scale.legend_table() and "inf" not in scale.legend_table()
