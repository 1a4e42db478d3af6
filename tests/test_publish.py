"""tpbench publish: a static site whose links survive re-publishing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from runfactory import case, manifest, problem, write_run
from tpbench.cli.commands.publish import command
from tpbench.views.publish import publish, slug

DATA = Path(__file__).parent / "data" / "runs"


def small_run(root: Path, run_id: str, factor: float = 1.0, **kw) -> Path:
    rng = np.random.default_rng(0)
    cases = [case(k, "cg", problem("mimo", {"L": L}), "fwd", rng=rng, scale=factor * s)
             for L in (1, 2) for k, s in (("e3nn-cg-full", 1.0), ("torch-cg", 0.7))]
    return write_run(root / run_id, manifest(run_id, **kw), cases)


def links(index: Path) -> list[str]:
    return re.findall(r'href="([^"#]+)"', index.read_text())


def test_publish_twice_keeps_earlier_links(tmp_path):
    results, site = tmp_path / "results", tmp_path / "site"
    small_run(results, "run-1")
    small_run(results, "run-2", factor=1.5, hostname="other-host")
    index = publish(["run-1"], site, root=str(results))
    first = links(index)
    assert "runs/run-1/index.html" in first

    publish(["run-2"], site, compares=[("run-1", "run-2")], root=str(results))
    second = links(index)
    assert set(first) <= set(second)
    assert {"runs/run-2/index.html", "compare/run-1--run-2/index.html"} <= set(second)
    for href in second:
        assert (site / href).is_file(), href
    html = index.read_text()
    assert "other-host" in html and "0123456789ab" in html and "quick" in html


def test_comparison_page_and_back_links(tmp_path):
    results, site = tmp_path / "results", tmp_path / "site"
    small_run(results, "a")
    small_run(results, "b", factor=1.5)
    publish(["a", "b"], site, compares=[("a", "b")], root=str(results))
    page = (site / "compare" / "a--b" / "index.html").read_text()
    assert "slower" in page and 'href="../../index.html"' in page
    assert 'href="../../index.html"' in (site / "runs" / "a" / "index.html").read_text()
    meta = json.loads((site / "compare" / "a--b" / "meta.json").read_text())
    assert meta["slower"] == 4


def test_republishing_a_run_replaces_it_in_place(tmp_path):
    results, site = tmp_path / "results", tmp_path / "site"
    small_run(results, "a")
    publish(["a"], site, root=str(results))
    publish(["a"], site, root=str(results))
    assert links(site / "index.html").count("runs/a/index.html") == 1


def test_odd_run_ids_get_safe_stable_paths():
    assert slug("2026-11-20_cpu") == "2026-11-20_cpu"
    odd = slug("../<x>")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", odd) and ".." not in odd and odd == slug("../<x>")


def test_hostile_meta_is_escaped(tmp_path):
    results, site = tmp_path / "results", tmp_path / "site"
    small_run(results, "a", hostname="<script>alert(1)</script>")
    publish(["a"], site, root=str(results))
    html = (site / "index.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_index_ignores_broken_entries(tmp_path):
    site = tmp_path / "site"
    (site / "runs" / "junk").mkdir(parents=True)
    (site / "runs" / "junk" / "meta.json").write_text("{not json")
    (site / "runs" / "junk" / "index.html").write_text("x")
    publish([], site)
    assert "No run published yet." in (site / "index.html").read_text()


def test_publish_command(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(DATA / "cpu-quick", results / "cpu-quick")
    result = CliRunner().invoke(command, ["cpu-quick", "--site", str(tmp_path / "site"), "--root", str(results),
                                          "--compare", "cpu-quick:cpu-quick"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "site" / "compare" / "cpu-quick--cpu-quick" / "index.html").is_file()
    bad = CliRunner().invoke(command, ["--site", str(tmp_path / "site"), "--compare", "nocolon"])
    assert bad.exit_code != 0
