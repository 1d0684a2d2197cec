"""One self-contained HTML page of a computation graph: Graphviz's SVG inlined, with hover
tooltips, click-to-highlight the paths to the loss, and a stepper through the backward pass.

    html = html_page(svg, data)      # data: see viz.graph.page_data for the contract

Everything is inlined (the SVG, the data as JSON, page.css, page.js), so the file opens
from disk, offline, and makes no network request: nothing here names a URL to fetch.
"""
import html
import json
import math
from pathlib import Path

import numpy as np

from .layout import time_of
from .rules import rule
from .style import grad_norm, shape_text

HERE = Path(__file__).parent                 # page.js and page.css ship beside this file
KEYS = ("title", "level", "loss", "nodes", "order", "svg")


def html_page(svg: str, data: dict) -> str:
    """The page as one HTML document (a str, to be written as UTF-8)."""
    missing = [k for k in KEYS if k not in data]
    if missing:
        raise ValueError(f"html_page: data lacks {', '.join(missing)}")
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("html_page: svg holds no <svg> element")
    # Drop Graphviz's XML declaration and DOCTYPE: meaningless inside HTML, and the DOCTYPE
    # names a DTD by http:// URL (never fetched, but a page with no URLs is easier to trust).
    svg = svg[start:]
    js = (HERE / "page.js").read_text(encoding="utf-8")
    css = (HERE / "page.css").read_text(encoding="utf-8")
    # Inlined code must not end its own element early (a guard for whoever edits them).
    assert "</script" not in js.lower() and "</style" not in css.lower()
    title = html.escape(str(data["title"]))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{css}</style>
</head>
<body>
<header>
  <h1>{title}</h1>
  <p>Hover over a node for its value and gradient. Click a node to show every path from it
  to the loss (click the background to clear). Step through the backward pass with the
  buttons, the slider or the ← → keys.</p>
  <div id="controls">
    <button id="first" title="before backward: no gradients">« first</button>
    <button id="prev" title="one step back (←)">◀ prev</button>
    <button id="play" title="play the backward pass">▶ play</button>
    <button id="next" title="one step on (→)">next ▶</button>
    <button id="last" title="after backward: every gradient">last »</button>
    <input id="slider" type="range" min="0" max="0" value="0" aria-label="backward step">
    <span id="step"></span>
  </div>
  <div id="rule"></div>
</header>
<main id="picture">
{svg}
</main>
<div id="tooltip" hidden></div>
<script type="application/json" id="graph-data">{_json(data)}</script>
<script>
{js}</script>
</body>
</html>
"""


def _json(data):
    """The data as JSON that is safe inside <script>: "</" can't close the element and "<!--"
    can't switch the HTML parser into its script-escape states."""
    text = json.dumps(_plain(data), ensure_ascii=False, allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def _plain(x):
    """Only what JSON can say: numpy scalars and arrays become numbers and lists, and a
    nan or inf (a diverged model) becomes the string "nan", "inf" or "-inf" for the page to
    print, since JSON has no such numbers."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_plain(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else str(x)
    return x


def page_data(drawing, level="op"):
    """What the HTML page needs to know of each node (see viz/page.py for the contract)."""
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
    top = {}                                      # step -> its top layer's cell (Z_t reads it)
    for scope in sorted(cell_of):
        top[time_of(scope)] = cell_of[scope]
    for t in drawing.tensors:
        # A tensor of the step but of no one cell (a stacked model's Z_t) belongs to the top
        # layer's cell, which it reads; one outside the steps belongs to the loss.
        step = time_of(t.scope)
        mine = root_key if step is None else cell_of.get(t.scope, top.get(step))
        for p in t.parents:
            theirs = cell_of.get(p.scope, top.get(time_of(p.scope)))
            if mine and theirs and theirs != mine and theirs not in nodes[mine]["parents"]:
                nodes[mine]["parents"].append(theirs)
