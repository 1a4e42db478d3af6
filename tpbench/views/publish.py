"""A static site of runs and comparisons, safe to re-publish into.

Layout of the site directory (paths depend only on run ids, so links stay valid
when more runs are published later)::

    index.html                      every run and comparison in the site, rebuilt on each publish
    runs/<run>/index.html           the run's report
    runs/<run>/meta.json            what the index shows about it (machine, device, date, commit, suite)
    compare/<A>--<B>/index.html     B against A
    compare/<A>--<B>/meta.json      the comparison's label counts

The index is rebuilt from the ``meta.json`` files found in the site, not from
this invocation's arguments, so earlier runs stay listed. A run id that is not
a plain file name (letters, digits, ``._-``) is turned into one plus a short hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable

from tpbench.views.compare import compare_runs
from tpbench.spec.errors import UserError
from tpbench.views.report.build import build_report
from tpbench.views.report.comparison import comparison_html
from tpbench.views.report.data import machine_name
from tpbench.views.report.html import render
from tpbench.results.store import find_run, load_manifest

SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


def slug(run_id: str) -> str:
    """A stable directory name for a run id."""
    if SAFE.match(run_id) and ".." not in run_id:
        return run_id
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip(".-")[:80] or "run"
    return f"{clean}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def parse_pair(text: str) -> tuple[str, str]:
    """'A:B' → (A, B)."""
    a, sep, b = text.partition(":")
    if not sep or not a or not b:
        raise UserError(f"--compare expects RUN_A:RUN_B, got {text!r}")
    return a, b


def publish(refs: Iterable[str], site: str | Path, compares: Iterable[tuple[str, str]] = (),
            root: str = "results", baseline: str | None = None) -> Path:
    """Add the runs' reports and the comparisons to ``site``; rebuild its index; return the index path."""
    site = Path(site)
    for ref in refs:
        publish_run(ref, site, root, baseline)
    for a, b in compares:
        publish_comparison(a, b, site, root)
    return write_index(site)


def publish_run(ref: str, site: Path, root: str, baseline: str | None) -> Path:
    directory = find_run(ref, root)
    target = site / "runs" / slug(directory.name)
    build_report([str(directory)], target / "index.html", baseline=baseline, root=root, home="../../index.html")
    manifest = load_manifest(directory, root)
    env = manifest.get("environment") if isinstance(manifest.get("environment"), dict) else {}
    git = env.get("git") if isinstance(env.get("git"), dict) else {}
    cases = sum(1 for line in (directory / "cases.jsonl").open(encoding="utf-8", errors="replace") if line.strip())
    meta = {"run_id": directory.name, "created": manifest.get("created"), "suite": manifest.get("suite"),
            "machine": machine_name(manifest), "device": manifest.get("device"), "hostname": env.get("hostname"),
            "commit": (str(git.get("commit"))[:12] + (" (dirty)" if git.get("dirty") else ""))
            if git.get("commit") else None, "cases": cases}
    (target / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return target


def publish_comparison(ref_a: str, ref_b: str, site: Path, root: str) -> Path:
    comparison = compare_runs(ref_a, ref_b, root)
    target = site / "compare" / f"{slug(comparison.run_a)}--{slug(comparison.run_b)}"
    target.mkdir(parents=True, exist_ok=True)
    (target / "index.html").write_text(comparison_html(comparison), encoding="utf-8")
    meta = {"run_a": comparison.run_a, "run_b": comparison.run_b, **comparison.counts()}
    (target / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return target


def write_index(site: Path) -> Path:
    runs = [dict(m, href=f"runs/{d.name}/index.html") for d, m in entries(site / "runs")]
    runs.sort(key=lambda r: str(r.get("created") or ""), reverse=True)
    comparisons = [dict(m, href=f"compare/{d.name}/index.html") for d, m in entries(site / "compare")]
    index = site / "index.html"
    site.mkdir(parents=True, exist_ok=True)
    index.write_text(render("index.html.j2", runs=runs, comparisons=comparisons,
                            generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
                     encoding="utf-8")
    return index


FIELDS = ("run_id", "created", "suite", "machine", "device", "hostname", "commit", "cases",
          "run_a", "run_b", "slower", "faster", "ambiguous", "same")


def entries(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(directory, meta) for each published item with a readable meta.json; only known fields, as plain values."""
    out = []
    for directory in sorted(folder.glob("*/")) if folder.is_dir() else []:
        try:
            meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and (directory / "index.html").is_file():
            out.append((directory, {k: meta.get(k) if isinstance(meta.get(k), (str, int, float)) else None
                                    for k in FIELDS}))
    return out
