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
    # Figures use constrained layout, so no extra "tight" bounding-box pass (slow with log axes).
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


MARKERS = "osD^vP*X<>h"


class Palette:
    """One hue per kernel family, a shade and a marker per kernel within it, the same in every figure.

    With two dozen kernels, distinct colours run out and repeat; a family's
    kernels sharing a hue reads as a handful of families at a glance, and the
    marker tells the members apart.
    """

    def __init__(self, series, families=None):
        series = list(series)
        families = list(families) if families is not None else [""] * len(series)
        self.family_of: dict[str, str] = {}
        for s, f in zip(series, families):
            self.family_of.setdefault(s, f if isinstance(f, str) else "")
        colors = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors
        self.style = {}
        for i, family in enumerate(sorted(set(self.family_of.values()))):
            members = sorted(s for s, f in self.family_of.items() if f == family)
            base = colors[i % len(colors)]
            for j, s in enumerate(members):
                fade = 0.55 * j / (len(members) - 1) if len(members) > 1 else 0.0  # later members lighter
                self.style[s] = (tuple(c + (1 - c) * fade for c in base), MARKERS[j % len(MARKERS)])

    def __call__(self, series):
        return self.style.get(series, ("grey", "o"))


def grid(n: int, width: float = 4.2, height: float = 3.2):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows + 0.4), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def log_axis(axis) -> None:
    """Plain-number labels on a log axis: 1-2-5 steps over a short range, powers of ten over a long one."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = axis.get_view_interval()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 0
    axis.set_major_locator(LogLocator(base=10, subs=(1.0,) if decades > 2.5 else (1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def integer_ticks(ax, values) -> None:
    """Label a log x axis at the measured values themselves (batch 100, 1000, ...; 32, 64, 128 channels)."""
    ticks = sorted({float(v) for v in values})
    if len(ticks) <= 8:
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()


def legend(fig, axes) -> None:
    """One legend for the figure, below the panels, with every series that appears."""
    seen = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        # As many columns as fit the figure's width (about 1.9 inches per entry).
        ncol = max(1, min(len(seen), int(fig.get_figwidth() // 1.9)))
        fig.legend(seen.values(), seen.keys(), loc="outside lower center", ncol=ncol, frameon=False)
