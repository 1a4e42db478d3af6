"""A comparison of two runs (``tpbench.views.compare``) as a self-contained HTML page."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

from tpbench.views.compare import Comparison
from tpbench.views.compare_format import summary
from tpbench.views.report.html import render

COLUMNS = [("kernel", "kernel", "text"), ("problem_label", "problem", "text"), ("pass", "pass", "text"),
           ("label", "label", "label"), ("ratio", "B/A", "x"), ("median_a", "A (ms)", "g"),
           ("median_b", "B (ms)", "g"), ("p_value", "p", "e"), ("threshold", "threshold", "%"),
           ("method", "test", "text"), ("variant", "variant", "text"), ("device", "device", "text")]
CHANGE_COLUMNS = [("kernel", "kernel", "text"), ("problem_label", "problem", "text"), ("pass", "pass", "text"),
                  ("status_a", "status in A", "text"), ("status_b", "status in B", "text")]


def comparison_html(comparison: Comparison, home: str = "../../index.html") -> str:
    rows = [{**row.key, **{k: v for k, v in asdict(row).items() if k != "key"}} for row in comparison.rows]
    return render("compare.html.j2", c=comparison, rows=rows, columns=COLUMNS, changes=comparison.status_changes,
                  change_columns=CHANGE_COLUMNS, summary=summary(comparison), home=home,
                  generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
