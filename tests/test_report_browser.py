"""The report in a real browser: headless Debian Chromium, driven over the DevTools protocol.

We use ``--remote-debugging-pipe`` (tests/cdp.py, stdlib only: no WebSocket
package, no TCP port) to load the report from file://, record every network
request and console message, check that every figure decoded, that hostile
text did not run, and that the sort script works; then save a 1400×3000
screenshot (to $TPBENCH_SCREENSHOT if set, else the test's tmp dir).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from cdp import CHROMIUM, Browser
from runfactory import case, manifest, problem, write_run
from tpbench.views.publish import publish
from tpbench.views.report import build_report

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} is missing (Debian: apt-get install -y chromium)")

DATA = Path(__file__).parent / "data" / "runs"
PAYLOADS = ('<img src=x onerror="window.__xss=1">', "<script>window.__xss=2</script>")


def hostile_run(directory: Path) -> Path:
    rng = np.random.default_rng(0)
    prob = problem("mimo", {"L": 1})
    cases = [case(PAYLOADS[0], "cg", prob, "fwd", rng=rng, device="cuda"),
             case("torch-cg", "cg", prob, "fwd", rng=rng, device="cuda", status="error", reason=PAYLOADS[1])]
    return write_run(directory, manifest("hostile", device="cuda", gpu="NVIDIA H100 80GB HBM3"), cases)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def open_page(browser: Browser, path: Path, **size) -> None:
    browser.events.clear()
    browser.open(path.resolve().as_uri(), **size)


def outside_requests(browser: Browser, page: Path) -> list[str]:
    allowed = page.resolve().as_uri()
    return [u for u in browser.requested_urls() if not (u.startswith("data:") or u == allowed)]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The golden runs plus one whose kernel name and reason are script payloads, in one report."""
    tmp = tmp_path_factory.mktemp("report")
    runs = [str(DATA / "cpu-quick"), str(DATA / "cuda-quick"), str(hostile_run(tmp / "hostile"))]
    return build_report(runs, tmp / "report.html")


def test_report_in_chromium(tmp_path, browser, report):
    open_page(browser, report)

    assert browser.console_errors() == []
    assert outside_requests(browser, report) == []
    images = len(re.findall(r"<img ", report.read_text()))
    assert images >= 12
    rendered = browser.evaluate(
        "Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length")
    assert rendered == images
    assert browser.evaluate("typeof window.__xss") == "undefined"
    assert browser.evaluate(f"document.body.textContent.includes({PAYLOADS[1]!r})")

    shot = Path(os.environ.get("TPBENCH_SCREENSHOT") or tmp_path / "report.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


SORT_CHECK = """
(() => {
  const table = document.querySelector("#failures ~ div table.sortable");  // the grouped failures table
  const th = table.tHead.rows[0].cells[1];
  const column = () => Array.from(table.tBodies[0].rows).map(r => r.cells[1].textContent);
  th.click();
  const up = column();
  th.click();
  const down = column();
  const sorted = [...up].sort((a, b) => a.localeCompare(b));
  const same = (x, y) => x.join("|") === y.join("|");
  return JSON.stringify({up: same(up, sorted), down: same(down, [...sorted].reverse()),
                         aria: th.getAttribute("aria-sort")});
})()
"""


def test_tables_sort_on_click(browser, report):
    open_page(browser, report)
    result = json.loads(browser.evaluate(SORT_CHECK))
    assert result == {"up": True, "down": True, "aria": "descending"}
    assert browser.console_errors() == []


def test_published_site_in_chromium(tmp_path, browser):
    results = tmp_path / "results"
    rng = np.random.default_rng(0)
    cases = [case("torch-cg", "cg", problem("mimo", {"L": L}), "fwd", rng=rng) for L in (1, 2, 3)]
    write_run(results / "a", manifest("a"), cases)
    write_run(results / "b", manifest("b"), [dict(c, median_ms=c["median_ms"] * 2) for c in cases])
    index = publish(["a", "b"], tmp_path / "site", compares=[("a", "b")], root=str(results))
    site = tmp_path / "site"
    for page in (index, site / "runs" / "a" / "index.html", site / "compare" / "a--b" / "index.html"):
        open_page(browser, page)
        assert browser.console_errors() == []
        assert outside_requests(browser, page) == []
    assert browser.evaluate("document.querySelectorAll('a').length") >= 1


FIRST_SCREEN = """
(() => {
  const top = id => document.getElementById(id).getBoundingClientRect().top;
  const firstTable = document.querySelector("#summary ~ div table");
  const boxes = Array.from(document.querySelectorAll("table")).map(t => {
    const box = t.parentElement;
    const scrolls = ["auto", "scroll"].includes(getComputedStyle(box).overflowX);
    return {right: Math.max(t.getBoundingClientRect().right, 0), boxRight: box.getBoundingClientRect().right,
            scrolls: scrolls, wider: t.scrollWidth > box.clientWidth};
  });
  return JSON.stringify({summary: top("summary"), environment: top("environment"),
                         firstRow: firstTable ? firstTable.tBodies[0].rows[0].getBoundingClientRect().top : -1,
                         height: window.innerHeight, width: document.documentElement.clientWidth,
                         clipped: boxes.filter(b => !b.scrolls && b.right > document.documentElement.clientWidth).length,
                         unscrolled: boxes.filter(b => b.wider && !b.scrolls).length});
})()
"""


def test_the_answer_is_on_the_first_screen_and_no_table_is_cut_off(tmp_path, browser, report):
    """Read at a glance: the fastest correct kernels come first, the environment last, every table fits or scrolls."""
    open_page(browser, report, width=1366, height=768)  # a laptop's first screen
    page = json.loads(browser.evaluate(FIRST_SCREEN))
    assert 0 < page["summary"] < page["height"] / 2, page  # the answer's heading in the top half of the first screen
    assert 0 < page["firstRow"] < page["height"], page     # and its first row visible without scrolling
    assert page["environment"] > page["summary"] + page["height"], page  # provenance at the end
    assert page["clipped"] == 0 and page["unscrolled"] == 0, page
    shot = Path(os.environ.get("TPBENCH_FIRST_SCREEN") or tmp_path / "first-screen.png")
    browser.screenshot(shot)
