"""The HTML report: built from the golden runs, safe with hostile text, robust to missing data."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from runfactory import case, manifest, problem, write_run
from tpbench.spec.errors import UserError
from tpbench.views.report import build_report, load, report_html

DATA = Path(__file__).parent / "data" / "runs"
GOLDEN = [str(DATA / "cpu-quick"), str(DATA / "cuda-quick")]


@pytest.fixture(scope="module")
def golden_html(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("report") / "report.html"
    build_report(GOLDEN, out)
    return out.read_text(encoding="utf-8")


def test_report_has_every_section(golden_html):
    for heading in ("Environment", "Fastest correct kernel per problem and pass", "Runtime",
                    "Speedup over the baseline", "Memory", "Roofline", "Expressivity, interactability and runtime",
                    "Correctness and equivariance", "Skipped, unavailable, incorrect and failed cases"):
        assert f">{heading}</h2>" in golden_html


def test_report_shows_environment_and_peaks(golden_html):
    for text in ("NVIDIA H100 80GB HBM3", "580.65.06", "1980", "measured peak bandwidth", "3010.0 GB/s",
                 "package torch", "2.13.0", "AMD EPYC 9654 96-Core Processor"):
        assert text in golden_html


def test_report_figures_are_inline(golden_html):
    images = re.findall(r'<img src="([^"]*)"', golden_html)
    assert len(images) >= 12
    assert all(src.startswith("data:image/svg+xml;base64,") for src in images)


def test_report_requests_no_other_host(golden_html):
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', golden_html)
    assert "@import" not in golden_html and "url(http" not in golden_html
    assert "default-src 'none'" in golden_html  # CSP: even a missed reference could not load


def test_report_lists_bad_lines_with_file_and_line(golden_html):
    assert re.search(r"cpu-quick/cases\.jsonl:\d+: unreadable line skipped", golden_html)
    assert re.search(r"cuda-quick/cases\.jsonl:8: schema 2 is newer", golden_html)
    assert "from-the-future" not in golden_html  # the newer-schema line itself is not used


def test_report_lists_every_untimed_case_with_reason(golden_html):
    runs = load(GOLDEN)
    untimed = runs.cases[runs.cases["status"] != "ok"]
    assert set(untimed["status"]) == {"skipped", "unavailable", "incorrect", "error", "timeout", "oom"}
    for reason in untimed["reason"].dropna().unique():
        assert _escaped(reason) in golden_html


def test_summary_names_the_fastest_correct_kernel(golden_html):
    runs = load(GOLDEN)
    ok = runs.ok
    fastest = ok[(ok["problem_label"] == "mimo L=3 batch=10000 float32") & (ok["pass"] == "fwd")]
    best = fastest.sort_values("median_ms").iloc[0]["kernel"]
    section = golden_html.split("<h3>On NVIDIA H100 80GB HBM3</h3>")[1]
    row = re.search(r"<tr><td>mimo L=3 batch=10000 float32</td>\s*<td>fwd</td>\s*<td>([^<]*)</td>", section)
    assert row and row.group(1) == best
    assert "differ: 14 vs 19" in golden_html  # a Gaunt winner over a CG runner-up says so


def test_incorrect_kernel_never_wins(golden_html):
    runs = load(GOLDEN)
    incorrect = runs.cases[runs.cases["status"] == "incorrect"]
    assert not incorrect.empty and incorrect["median_ms"].isna().all()


def test_sortable_tables_and_script_hash(golden_html):
    assert golden_html.count('class="sortable"') >= 4
    assert golden_html.count("<script") == 1
    assert "script-src 'sha256-" in golden_html


HOSTILE_KERNEL = "<script>alert(1)</script>"
HOSTILE_REASON = '<img src=x onerror="alert(2)"><b>bold</b>'


def hostile_run(directory: Path) -> Path:
    rng = np.random.default_rng(0)
    cases = []
    for L in (1, 2, 3):
        prob = problem("mimo", {"L": L})
        prob["label"] = f"mimo <i>L</i>={L} $x^$"
        cases.append(case(HOSTILE_KERNEL, "cg", prob, "fwd", rng=rng))
        cases.append(case("torch-cg", "cg", prob, "fwd", rng=rng, scale=0.5))
        cases.append(case("gaunt $\\alpha$ <u>", "gaunt-grid", prob, "fwd", rng=rng, status="error",
                          reason=HOSTILE_REASON))
    data = manifest("hostile", hostname="<marquee>host</marquee>")
    data["environment"]["packages"]["<svg onload=alert(3)>"] = "1.0"
    return write_run(directory, data, cases)


def test_hostile_text_is_escaped(tmp_path):
    run = hostile_run(tmp_path / "hostile")
    html = (build_report([str(run)], tmp_path / "r.html", baseline=HOSTILE_KERNEL)).read_text()
    assert HOSTILE_KERNEL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE_REASON not in html and "<b>bold</b>" not in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
    assert "<marquee>" not in html and "<svg onload" not in html and "<i>L</i>" not in html
    assert html.count("<script") == 1


def test_sections_without_data_say_so(tmp_path):
    rng = np.random.default_rng(0)
    prob = problem("siso", {"L": 1})
    cases = [case("gaunt-grid", "gaunt-grid", prob, "fwd", rng=rng, status="skipped", reason="not supported")]
    run = write_run(tmp_path / "empty", manifest("empty"), cases)
    html = build_report([str(run)], tmp_path / "r.html").read_text()
    assert "No correct, timed case." in html
    assert "No problem sweeps L." in html
    assert "No case records FLOP and byte counts." in html
    assert "not supported" in html


def test_minimal_and_odd_records_still_render(tmp_path):
    directory = tmp_path / "odd"
    directory.mkdir()
    (directory / "run.json").write_text("[1, 2]")  # a manifest that is not an object
    (directory / "cases.jsonl").write_text(
        '{"kernel": "k", "status": "ok", "median_ms": "fast", "params": [1]}\n'
        '{"status": "error"}\n'
        '"just a string"\n'
        '{"kernel": "k2", "status": "ok", "median_ms": 1.0, "samples_ms": [1.0, "x"], "paths": "nope"}\n')
    html = report_html(load([str(directory)]))
    assert "not a JSON object" in html


def test_empty_run_renders(tmp_path):
    run = write_run(tmp_path / "nothing", manifest("nothing"), [])
    assert "No cases." in build_report([str(run)], tmp_path / "r.html").read_text()


def test_unknown_baseline_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="baseline"):
        build_report([GOLDEN[0]], tmp_path / "r.html", baseline="no-such-kernel")


def test_report_command_writes_file(tmp_path):
    from click.testing import CliRunner

    from tpbench.cli.commands.report import command

    run = shutil.copytree(DATA / "cpu-quick", tmp_path / "results" / "cpu-quick")
    out = tmp_path / "out.html"
    result = CliRunner().invoke(command, ["cpu-quick", "-o", str(out), "--root", str(run.parent),
                                          "--baseline", "torch-cg"])
    assert result.exit_code == 0, result.output
    assert "Baseline: <code>torch-cg</code>" in out.read_text()


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
