"""Pictures of tinygrad_lstm's graphs. Reads tensors through their public attributes only;
the engine never imports graphviz or matplotlib, only these pictures do. The repository
keeps them in viz/; they install as tinygrad_lstm.viz (setup.cfg), the name to import.

    from tinygrad_lstm.viz import draw_graph, render
    draw_graph(loss)                 # a graphviz.Digraph: shows inline in Jupyter
    render(loss, "lstm.svg")         # .svg .png .pdf .dot
    render(loss, "lstm.html")        # a page: hover, click, step through backward()

An unrolled graph is laid out as colah's LSTM diagram (viz/layout.py). Plots (matplotlib,
an optional extra) are in tinygrad_lstm.viz.plots.
"""
from .graph import TooBigError, draw_graph, render
from .style import GraphvizNotFoundError

__all__ = ["GraphvizNotFoundError", "TooBigError", "draw_graph", "render"]
