"""Drawing helpers shared by the report's figures: SVG encoding, safe labels, colours, layout.

An SVG inside ``<img>`` is its own document: its ids cannot clash with the
page's and it cannot run script, whatever text from the results it holds.
Text is drawn as paths, so no font is fetched when the report is opened.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from itertools import cycle

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MAX_PANELS = 12
STYLE = {"svg.fonttype": "path", "svg.hashsalt": "tpbench", "font.size": 9, "axes.grid": True,
         "grid.alpha": 0.3, "axes.titlesize": 9, "legend.fontsize": 8}


@dataclass
class Figure:
    title: str
    uri: str
    alt: str


def plain(label: object, limit: int = 40) -> str:
    """Untrusted text made safe for matplotlib: no mathtext (``$``), bounded length."""
    s = str(label).replace("$", r"\$")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def encode(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class Palette:
    """One colour and marker per series, the same in every figure of a report."""

    def __init__(self, series):
        colors = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors
        markers = cycle("osD^vP*X<>h")
        self.style = {s: (colors[i % len(colors)], next(markers)) for i, s in enumerate(sorted(set(series)))}

    def __call__(self, series):
        return self.style.get(series, ("grey", "o"))


def grid(n: int, width: float = 4.2, height: float = 3.2):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def legend(fig, axes) -> None:
    """One legend for the figure, below the panels, with every series that appears."""
    seen = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        fig.tight_layout()
        fig.legend(seen.values(), seen.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(len(seen), 5), frameon=False)
