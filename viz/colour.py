"""The gradient colour scale: a norm -> a colour, on a logarithmic scale, and its legend."""
import math

from tinygrad_lstm.checks import is_finite, is_real


# ColorBrewer YlOrRd: light for small gradients, dark red for large ones.
PALETTE = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"]
LEGEND_TITLE = "gradient norm ‖∂L/∂node‖"


class LogScale:
    """Maps a gradient norm to a palette colour, linearly in log10 between lo and hi: the
    smallest positive norm of the graph is the palest, the largest the darkest, unless
    grad_range=(lo, hi) fixes the ends (to compare two pictures)."""

    def __init__(self, norms, grad_range=None):
        positive = [n for n in norms if n is not None and 0 < n < math.inf]   # the legend's range
        if grad_range is not None:
            self.lo, self.hi = (float(v) for v in grad_range)
        elif positive:
            self.lo, self.hi = min(positive), max(positive)
        else:
            self.lo = self.hi = 1.0

    def position(self, norm):
        """0 for the smallest norm (and for 0), 1 for the largest (and for inf or NaN: a
        gradient that is not finite is drawn as dark as the largest, not as the palest)."""
        if norm is not None and not math.isfinite(norm):
            return 1.0
        if not norm or norm <= 0:
            return 0.0
        if self.hi == self.lo:
            return 1.0
        x = (math.log10(norm) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return min(1.0, max(0.0, x))

    def colour(self, norm):
        return interpolate(self.position(norm))

    def font(self, norm):
        """Black on the light colours, white on the dark ones."""
        return "white" if self.position(norm) > 0.6 else "black"

    def legend_table(self, ticks=5):
        """An HTML-like table (for a Graphviz label): the title, then swatches lo..hi."""
        cells = []
        for k in range(ticks):
            x = k / (ticks - 1)
            value = 10 ** (math.log10(self.lo) + x * (math.log10(self.hi) - math.log10(self.lo)))
            font = "white" if x > 0.6 else "black"
            cells.append(f'<td bgcolor="{interpolate(x)}"><font color="{font}">{value:.1e}</font></td>')
        return (f'<table border="0" cellborder="1" cellspacing="0"><tr><td colspan="{ticks}">'
                f'{escape(LEGEND_TITLE)}: pale is small, dark red is large (log scale)</td></tr>'
                f'<tr>{"".join(cells)}</tr></table>')


def check_grad_range(grad_range, who):
    """(low, high), two finite numbers with 0 < low < high."""
    if not (isinstance(grad_range, (tuple, list)) and len(grad_range) == 2 and all(map(is_real, grad_range))):
        raise TypeError(f"{who}: grad_range must be (low, high), two numbers; got {grad_range!r}")
    if not (all(map(is_finite, grad_range)) and 0 < grad_range[0] < grad_range[1]):
        raise ValueError(f"{who}: grad_range must be (low, high), finite, with 0 < low < high; "
                         f"got {grad_range!r}")


def interpolate(x):
    """The palette colour at x in [0, 1], interpolated in RGB."""
    pos = x * (len(PALETTE) - 1)
    i = min(int(pos), len(PALETTE) - 2)
    a, b = _rgb(PALETTE[i]), _rgb(PALETTE[i + 1])
    frac = pos - i
    return "#" + "".join(f"{round(u + (v - u) * frac):02x}" for u, v in zip(a, b))


def _rgb(hex_colour):
    return tuple(int(hex_colour[k:k + 2], 16) for k in (1, 3, 5))


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
