"""viz.page's interactive HTML, checked in a real headless Chromium (tests/browser.py):
hover tooltips, click-to-highlight, the backward-pass stepper, and no network at all.

The browser tests skip, saying why, where Chromium isn't installed (`make test` installs it).
Most run on a small hand-made graph (a two-step RNN) whose every answer is known; one runs
the whole thing, an LSTM through viz.render.
"""
import json
import re

import graphviz
import numpy as np
import pytest

from tinygrad_lstm.viz.page import html_page

from .browser import Browser, find_chromium

# --- a small graph, drawn by Graphviz as viz.graph draws: h_t = tanh(W [h_{t-1}; x_t]) -----

NODES = {   # key: (label, op, scope, t, norm or None (no gradient), parents)
    "W": ("W", "", None, None, 0.5, []),
    "H0": ("HS_0", "", "t=1", 1, 0.02, []),
    "X1": ("X_t", "", "t=1", 1, None, []),
    "Z1": ("Z_t", "matmul", "t=1", 1, 0.03, ["W", "H0", "X1"]),
    "H1": ("HS_t", "tanh", "t=1", 1, 0.04, ["Z1"]),
    "X2": ("X_t", "", "t=2", 2, None, []),
    "Z2": ("Z_t", "matmul", "t=2", 2, 0.2, ["W", "H1", "X2"]),
    "H2": ("HS_t", "tanh", "t=2", 2, 0.3, ["Z2"]),
    "L": ("L", "sum", None, None, 1.0, ["H2"]),
}
ORDER = ["L", "H2", "Z2", "H1", "Z1", "W", "H0"]        # reverse topological: loss first
# SVG node id -> key; W is drawn once per step, as viz.graph draws parameters.
SVG_IDS = {"s0": "W", "s1": "W", "s2": "H0", "s3": "X1", "s4": "Z1", "s5": "H1",
           "s6": "X2", "s7": "Z2", "s8": "H2", "s9": "L"}
COLOURS = {0.02: "#ffffcc", 0.03: "#ffeda0", 0.04: "#fed976", 0.2: "#fd8d3c", 0.3: "#e31a1c",
           0.5: "#bd0026", 1.0: "#800026"}


def fixture_data(order=ORDER, title="RNN, T = 2, op level"):
    nodes = {}
    for key, (label, op, scope, t, norm, parents) in NODES.items():
        grad = None if norm is None else [norm, -norm / 2]
        nodes[key] = {"label": label, "name": label, "op": op, "scope": scope, "t": t, "shape": "8×1",
                      "value": [0.1, -0.25, 0.5, 1.0, 2.0, -3.0], "size": 8, "grad": grad, "norm": norm,
                      "colour": COLOURS.get(norm), "parents": parents,
                      "rule": f"∂L/∂in += ∂L/∂{label} ({op})" if op else ""}
    return {"title": title, "level": "op", "loss": "L", "nodes": nodes, "order": list(order),
            "svg": dict(SVG_IDS)}


def fixture_svg(data):
    """The SVG, drawn from `data` with the static picture's fills; plus a legend node that
    is in no data.svg, which the page must leave alone."""
    graph = graphviz.Digraph(graph_attr={"rankdir": "LR"}, node_attr={"shape": "box"})
    ids = {}
    for sid, key in SVG_IDS.items():
        ids.setdefault(key, []).append(sid)
    for scope in ("t=1", "t=2"):
        with graph.subgraph(name=f"cluster_{scope}") as sub:
            sub.attr(label=scope)
            for sid, key in SVG_IDS.items():
                n = data["nodes"][key]
                step = 1 + ids["W"].index(sid) if key == "W" else n["t"]
                if step != int(scope[2:]):
                    continue
                style = "filled,dashed" if n["norm"] is None else "rounded,filled"
                sub.node(sid, id=sid, label=n["label"], style=style, fillcolor=n["colour"] or "white")
    graph.node("s9", id="s9", label="L", style="filled", fillcolor=data["nodes"]["L"]["colour"])
    graph.node("legend", id="legend", label="legend", shape="plaintext")
    for sid, key in SVG_IDS.items():
        for parent in data["nodes"][key]["parents"]:
            tails = ids[parent]
            if parent == "W":                     # the stand-in of W in the same step
                tails = [tails[data["nodes"][key]["t"] - 1]]
            for tail in tails:
                graph.edge(tail, sid)
    return graph.pipe(format="svg").decode()


def write_page(tmp_path, data=None, name="page.html"):
    data = data or fixture_data()
    path = tmp_path / name
    path.write_text(html_page(fixture_svg(data), data), encoding="utf-8")
    return path


# --- without a browser ---------------------------------------------------------------------

def test_data_cannot_close_its_script():
    data = fixture_data(title="</script><script>alert(1)</script> <!--<script>")
    data["nodes"]["L"]["name"] = "</SCRIPT>"
    page = html_page(fixture_svg(data), data)
    assert page.lower().count("</script") == 2                 # the data's and page.js's own ends
    assert "<!--<script" not in page
    start = page.index('id="graph-data">') + len('id="graph-data">')
    assert json.loads(page[start:page.index("</script>", start)]) == data   # and it reads back whole


def test_no_url_but_the_svg_namespaces():
    page = html_page(fixture_svg(fixture_data()), fixture_data())
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    urls = re.findall(r'(\S*)"(https?://[^"]*)"', page)
    assert urls and all(attr.startswith("xmlns") for attr, _ in urls), urls
    assert page.count("http://") + page.count("https://") == len(urls)


def test_numpy_numbers_and_nan_become_json():
    data = fixture_data()
    data["nodes"]["L"].update(value=np.array([np.float32(1.5), np.nan]), size=np.int64(2), norm=np.inf)
    page = html_page(fixture_svg(data), data)
    start = page.index('id="graph-data">') + len('id="graph-data">')
    node = json.loads(page[start:page.index("</script>", start)])["nodes"]["L"]
    assert node["value"] == [1.5, "nan"] and node["size"] == 2 and node["norm"] == "inf"


# --- in Chromium -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if find_chromium() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; `make test` does it)")
    with Browser() as b:
        yield b


@pytest.fixture
def page(browser, tmp_path):
    path = write_page(tmp_path)
    browser.open(path)
    assert browser.errors == []
    return browser


def centre(browser, selector):
    """The centre of an element in window coordinates, scrolled into view first."""
    return browser.evaluate(f"""(() => {{
        const el = document.querySelector({json.dumps(selector)});
        el.scrollIntoView({{block: "center", inline: "center"}});
        const r = el.getBoundingClientRect();
        return [r.x + r.width / 2, r.y + r.height / 2]; }})()""")


def click_on(browser, selector):
    browser.click(*centre(browser, selector))


def lit_node(browser):
    """The data of the node the stepper has lit (checking all its stand-ins are lit)."""
    return browser.evaluate("""(() => {
        const data = JSON.parse(document.getElementById("graph-data").textContent);
        const keys = [...document.querySelectorAll("g.lit")].map((g) => data.svg[g.id]);
        if (!keys.length || new Set(keys).size !== 1) return keys;
        return Object.assign({key: keys[0], count: keys.length}, data.nodes[keys[0]]); })()""")


def fill(browser, sid):
    """The fill of an SVG node's shape."""
    return browser.evaluate(f"document.querySelector('#{sid}').querySelector('polygon, path, ellipse')"
                            ".getAttribute('fill')")


def test_hover_shows_the_gradient(page):
    page.hover(*centre(page, "#s7"))                             # Z_t at t=2, ‖∂L/∂Z_t‖ = 0.2
    assert page.evaluate("document.getElementById('tooltip').hidden") is False
    text = page.evaluate("document.getElementById('tooltip').textContent")
    assert "Z_t" in text and "2.00e-01" in text and "matmul" in text and "…" in text
    page.hover(*centre(page, "#s3"))                             # X_t: no gradient
    assert "no gradient" in page.evaluate("document.getElementById('tooltip').textContent")
    page.hover(2, 2)                                             # the header: away from the nodes
    assert page.evaluate("document.getElementById('tooltip').hidden") is True


def test_stepper_walks_the_backward_order(page):
    first = lit_node(page)                                       # opens on the finished picture
    assert first["key"] == ORDER[-1] and page.evaluate("document.getElementById('slider').value") == "7"
    click_on(page, "#first")
    assert lit_node(page) == [] and "next" in page.evaluate("document.getElementById('rule').textContent")
    assert fill(page, "s9") == "#ffffff"
    click_on(page, "#next")
    assert lit_node(page)["key"] == "L"
    assert fill(page, "s9") == COLOURS[1.0]
    click_on(page, "#last")
    last = lit_node(page)
    assert last["t"] == 1
    rule = page.evaluate("document.getElementById('rule').textContent")
    assert rule.startswith("t=1  HS_0: ∂L/∂HS_0 = [0.02, -0.01, …]") and "2.00e-02" in rule
    page.press("ArrowLeft", 37)
    lit = lit_node(page)
    assert lit["key"] == "W" and lit["count"] == 2                # both of its stand-ins
    # nodes without a gradient keep their static fill through every step
    assert fill(page, "s3") == "white"


def test_play_starts_over_and_pauses(page):
    text = "document.getElementById('play').textContent"
    click_on(page, "#play")                                      # at the end: from the start
    assert page.evaluate("document.getElementById('slider').value") == "0" and "pause" in page.evaluate(text)
    click_on(page, "#play")
    assert "play" in page.evaluate(text)


def test_click_highlights_the_paths_to_the_loss(page):
    click_on(page, "#s5")                                        # HS_t at t=1
    on = page.evaluate("[...document.querySelectorAll('g.node.on-path')].map((g) => g.id).sort()")
    assert on == ["s5", "s7", "s8", "s9"]                        # HS_1 -> Z_2 -> HS_2 -> L
    edges = page.evaluate("[...document.querySelectorAll('g.edge.on-path')].length")
    assert edges == 3
    click_on(page, "#s5")                                        # again: cleared
    assert page.evaluate("document.querySelectorAll('.on-path').length") == 0
    click_on(page, "#s0")                                        # W, through its t=1 stand-in
    on = page.evaluate("[...document.querySelectorAll('g.node.on-path')].map((g) => g.id).sort()")
    assert on == ["s0", "s1", "s4", "s5", "s7", "s8", "s9"]
    page.click(5, 300)                                           # the background: cleared
    assert page.evaluate("document.querySelectorAll('.on-path').length") == 0


def test_no_network_request(page, tmp_path):
    page.hover(*centre(page, "#s7"))                             # used a little, too
    click_on(page, "#s5")
    click_on(page, "#play")
    page.evaluate("new Promise((done) => setTimeout(done, 100))")   # late requests: in by now
    own = (tmp_path / "page.html").resolve().as_uri()
    assert own in page.requests                                  # so the recording works
    assert all(url == own or url.startswith("data:") for url in page.requests), page.requests


def test_without_gradients_the_stepper_says_why(browser, tmp_path):
    browser.open(write_page(tmp_path, fixture_data(order=[])))
    assert browser.errors == []
    assert browser.evaluate("document.getElementById('rule').textContent") == \
        "no gradients: call loss.backward() before rendering (tinygrad-lstm render --grads)"
    assert browser.evaluate("['first', 'prev', 'play', 'next', 'last', 'slider']"
                            ".every((id) => document.getElementById(id).disabled)")
    assert lit_node(browser) == []


# --- the real thing -----------------------------------------------------------------------

@pytest.mark.parametrize("detail", ["op", "cell"])
def test_lstm_page(browser, tmp_path, detail):
    from tinygrad_lstm.nn import LSTM
    from tinygrad_lstm.viz import render
    model = LSTM(3, 2, 3, seed=0)
    rng = np.random.default_rng(0)
    loss = model.loss(rng.standard_normal((3, 3)), rng.integers(0, 3, 3))
    loss.backward()
    path = render(loss, tmp_path / "graph.html", show_grads=True, detail=detail)
    browser.open(path)
    assert browser.errors == []
    assert all(url == path.resolve().as_uri() or url.startswith("data:") for url in browser.requests)
    data = browser.evaluate("JSON.parse(document.getElementById('graph-data').textContent)")
    click_on(browser, "#first")
    click_on(browser, "#next")
    assert lit_node(browser)["key"] == data["loss"]
    click_on(browser, "#last")
    assert lit_node(browser)["t"] == 1
    if detail == "op":          # a parameter is coloured once the last op reading it has run
        [w_f] = [key for key, n in data["nodes"].items() if n["label"] == "W_f"]
        stand_ins = [sid for sid, key in data["svg"].items() if key == w_f]
        fills = "(ids) => ids.map((id) => document.getElementById(id).querySelector('polygon, path')" \
                ".getAttribute('fill'))"
        assert len(stand_ins) == 3 + 1                               # a stand-in per step, and its node
        assert set(browser.evaluate(f"({fills})({stand_ins})")) == {data["nodes"][w_f]["colour"]}
        click_on(browser, "#first")
        assert set(browser.evaluate(f"({fills})({stand_ins})")) == {"#ffffff"}
    some = next(sid for sid, key in data["svg"].items() if data["nodes"][key]["norm"])
    browser.hover(*centre(browser, f"#{some}"))
    norm = data["nodes"][data["svg"][some]]["norm"]
    assert f"{norm:.2e}" in browser.evaluate("document.getElementById('tooltip').textContent")


def _on_path(browser):
    """The keys of the nodes lit as on a path, and how many edges are."""
    return browser.evaluate("""(() => {
        const data = JSON.parse(document.getElementById("graph-data").textContent);
        const keys = [...document.querySelectorAll("g.node.on-path")].map((g) => data.svg[g.id]);
        return [[...new Set(keys)], document.querySelectorAll("g.edge.on-path").length]; })()""")


def test_clicking_an_output_lights_its_way_to_the_loss_through_the_bus(browser, tmp_path):
    from tinygrad_lstm.nn import LSTM
    from tinygrad_lstm.viz import render
    rng = np.random.default_rng(0)
    loss = LSTM(3, 2, 3, seed=0).loss(rng.standard_normal((3, 3)), rng.integers(0, 3, 3))
    loss.backward()
    browser.open(render(loss, tmp_path / "graph.html", show_grads=True))
    data = browser.evaluate("JSON.parse(document.getElementById('graph-data').textContent)")
    [z_1] = [sid for sid, key in data["svg"].items() if not sid.endswith("^")      # not its bus point
             and data["nodes"][key]["label"] == "Z_t" and data["nodes"][key]["t"] == 1]
    click_on(browser, f"#{z_1}")
    keys, edges = _on_path(browser)
    assert sorted(data["nodes"][k]["label"] for k in keys) == ["E", "E_t", "Z", "Z_t", "sum"]
    assert edges == 5            # Z_t -> the bus -> Z (stack) -> E_t -> sum -> E


def test_at_cell_level_a_stacked_model_s_cells_lead_to_the_loss(browser, tmp_path):
    from tinygrad_lstm.nn import LSTM
    from tinygrad_lstm.viz import render
    rng = np.random.default_rng(0)
    loss = LSTM(3, 2, 3, seed=0, num_layers=2).loss(rng.standard_normal((3, 3)), rng.integers(0, 3, 3))
    loss.backward()
    browser.open(render(loss, tmp_path / "cells.html", show_grads=True, detail="cell"))
    data = browser.evaluate("JSON.parse(document.getElementById('graph-data').textContent)")
    [first] = [sid for sid, key in data["svg"].items() if data["nodes"][key]["scope"] == "t=1/layer1"]
    click_on(browser, f"#{first}")
    keys, _ = _on_path(browser)
    assert data["loss"] in keys and len(keys) == 2 * 3 + 1      # every cell downstream, and the loss
