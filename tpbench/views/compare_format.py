"""A comparison as terminal text or Markdown: warnings, a summary line, one row per case."""

from __future__ import annotations

import math

from tpbench.views.compare import CaseResult, Comparison

HEADERS = ("kernel", "problem", "pass", "variant", "A (ms)", "B (ms)", "B/A", "p", "threshold", "label", "noise from")


def cells(row: CaseResult) -> list[str]:
    k = row.key
    p = "—" if math.isnan(row.p_value) else f"{row.p_value:.2g}"
    return [k["kernel"], k["problem_label"], k["pass"], k["variant"], f"{row.median_a:.4g}", f"{row.median_b:.4g}",
            f"{row.ratio:.3f}", p, f"±{row.threshold:.0%}", row.label, row.method]


LEGEND = ("threshold: the smallest change labelled faster/slower for that case, from the runs' own noise "
          "(repetition spread, spread of ratios across cases); ambiguous: beyond the threshold but not "
          "significant (no samples or too little evidence): rerun with more --repeat")


def summary(comparison: Comparison) -> str:
    counts = ", ".join(f"{n} {label}" for label, n in comparison.counts().items())
    one_sided = sum("missing" in (u["status_a"], u["status_b"]) for u in comparison.unmatched)
    untimed = len(comparison.unmatched) - one_sided - len(comparison.status_changes)
    return (f"{comparison.run_b} against {comparison.run_a}: {len(comparison.rows)} cases compared ({counts}); "
            f"{len(comparison.status_changes)} changed status; {untimed} timed in neither; "
            f"{one_sided} in only one run")


def as_text(comparison: Comparison, show_same: bool = True) -> str:
    lines = [f"warning: {w}" for w in comparison.machine_warnings + comparison.load_warnings]
    lines.append(summary(comparison))
    lines.append(LEGEND)
    rows = [cells(r) for r in comparison.rows if show_same or r.label != "same"]
    if rows:
        widths = [max(len(str(c)) for c in col) for col in zip(HEADERS, *rows)]
        for line in [HEADERS, *rows]:
            lines.append("  ".join(_clean(c).ljust(w) for c, w in zip(line, widths)).rstrip())
    for u in comparison.status_changes:
        lines.append(f"status changed: {_clean(u['kernel'])} · {_clean(u['problem_label'])} · {_clean(u['pass'])}: "
                     f"A {_clean(u['status_a'])}, B {_clean(u['status_b'])}")
    return "\n".join(lines)


def as_markdown(comparison: Comparison, show_same: bool = True) -> str:
    lines = [f"> **Warning:** {_md(w)}" for w in comparison.machine_warnings + comparison.load_warnings]
    lines += ["", f"**{_md(summary(comparison))}**", ""]
    rows = [cells(r) for r in comparison.rows if show_same or r.label != "same"]
    if rows:
        lines.append("| " + " | ".join(HEADERS) + " |")
        lines.append("|" + "|".join("---:" if h in ("A (ms)", "B (ms)", "B/A", "p", "threshold") else "---" for h in HEADERS) + "|")
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    if comparison.status_changes:
        lines += ["", "Status changed:", ""]
        lines += [f"- {_md(u['kernel'])} · {_md(u['problem_label'])} · {_md(u['pass'])}: A {_md(u['status_a'])}, "
                  f"B {_md(u['status_b'])}" for u in comparison.status_changes]
    return "\n".join(lines).strip() + "\n"


def _clean(text: object) -> str:
    """Untrusted text for a terminal: control characters (escape sequences) shown as '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def _md(text: object) -> str:
    """Untrusted text for a Markdown cell: HTML and table syntax neutralised."""
    s = _clean(text)
    for ch in "\\`*_[]<>|#!":
        s = s.replace(ch, "\\" + ch)
    return s
