"""HTML reports of benchmark runs: one self-contained file per report.

``build_report(refs, output)`` loads runs (``tpbench.views.report.data``), computes the
tables (``tables``) and figures (``figures``, ``roofline``, ``pareto``), and renders
them with Jinja2 (``html``, templates in ``templates/``).
"""

from tpbench.views.report.build import build_report, report_html
from tpbench.views.report.data import Runs, load

__all__ = ["Runs", "build_report", "load", "report_html"]
