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
