"""Rendering: Jinja2 with autoescape always on, one self-contained HTML file.

Untrusted text from results is never marked safe. The page carries a Content
Security Policy that allows only ``data:`` images, inline style, and the one
inline script whose hash it names: even a string that slipped past escaping
could neither run nor fetch anything from another host.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

import jinja2

SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], i = th.cellIndex;
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    function key(row) {
      var c = row.cells[i];
      return c ? (c.dataset.v !== undefined ? c.dataset.v : c.textContent) : "";
    }
    function cmp(a, b) {
      var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return dir === "ascending" ? c : -c;
    }
    Array.prototype.slice.call(body.rows).sort(cmp).forEach(function (r) { body.appendChild(r); });
  });
});
""".strip()


def environment() -> jinja2.Environment:
    loader = jinja2.PackageLoader("tpbench.views.report", "templates")
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = number
    env.filters["sortkey"] = sort_key
    return env


def render(template: str, **context: Any) -> str:
    """Render a template of this package with the sort script and its CSP hash added."""
    digest = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()
    return environment().get_template(template).render(script=SORT_SCRIPT, script_hash=f"sha256-{digest}",
                                                       **context)


def number(value: Any, kind: str = "g") -> str:
    """A cell's text: ``g`` 3 significant digits, ``x`` a ratio, ``e`` scientific, ``i`` integer, ``%`` percent."""
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if not isinstance(value, (int, float)):
        return str(value)
    formats = {"g": f"{value:.3g}", "x": f"{value:.2f}×", "e": f"{value:.1e}", "i": f"{value:.0f}",
               "%": f"{value * 100:.0f}%"}
    return formats.get(kind, str(value))


def sort_key(value: Any) -> str:
    """The value the sort script compares: numbers in full precision, empty for missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(float(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


