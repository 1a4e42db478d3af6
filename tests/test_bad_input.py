"""Bad input, written the way a careless or hostile user would: one line on stderr, exit 2, no traceback,
and nothing already on disk touched.

Suites run with ``--dry-run`` (validation must happen before the first case);
kernel files are passed with ``--kernel``; run directories are corrupted copies
of a finished run fed to ``show``, ``report``, ``compare`` and ``export``.
"""

import json
import shutil
from pathlib import Path

import pytest

from tpbench.cli import main

DATA = Path(__file__).parent / "data" / "runs"

GOOD_SUITE = '''
[suite]
kernels = ["torch-cg"]
passes = ["fwd"]

[suite.timing]
budget_s = 0.02

[[problems]]
family = "mimo"
L = 1
batch = 16
'''


def _suite(old=None, new=None, raw=None):
    """A suite file: the good one with ``old`` replaced by ``new``, or ``raw`` bytes."""
    def make(tmp):
        path = tmp / "suite.toml"
        if raw is not None:
            path.write_bytes(raw)
        else:
            assert old in GOOD_SUITE
            path.write_text(GOOD_SUITE.replace(old, new))
        return ["run", "--suite", str(path), "--dry-run", "--out", str(tmp / "results")]
    return make


def _option(*args):
    def make(tmp):
        path = tmp / "suite.toml"
        path.write_text(GOOD_SUITE)
        return ["run", "--suite", str(path), "--dry-run", "--out", str(tmp / "results"), *args]
    return make


def _kernel_file(body):
    def make(tmp):
        suite = tmp / "suite.toml"
        suite.write_text(GOOD_SUITE)
        path = tmp / "bad_kernel.py"
        path.write_text("import tpbench\nfrom tpbench_kernels.cg.dense import TorchCGKernel\n" + body)
        return ["run", "--suite", str(suite), "--kernel", str(path), "--dry-run", "--out", str(tmp / "results")]
    return make


def _parses(line):
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _run_dir(command, manifest):
    """A copy of a finished run whose run.json is replaced (``None``: removed)."""
    def make(tmp):
        root = tmp / "results"
        run = shutil.copytree(DATA / "cpu-quick", root / "bad")
        lines = (run / "cases.jsonl").read_text().splitlines()
        (run / "cases.jsonl").write_text("".join(line + "\n" for line in lines if _parses(line)))
        if manifest is None:
            (run / "run.json").unlink()
        else:
            (run / "run.json").write_bytes(manifest)
        args = {"show": ["show", "bad"], "report": ["report", "bad", "-o", str(tmp / "r.html")],
                "compare": ["compare", "bad", "bad"], "export": ["export", "bad", "--format", "csv",
                                                                 "-o", str(tmp / "x.csv")]}[command]
        return args + ["--root", str(root)]
    return make


BAD = {
    # malformed suites
    "suite-not-utf8": _suite(raw=b"[suite]\ndescription = \"\xff\xfe\"\n"),
    "suite-invalid-toml": _suite(raw=b"[suite\n"),
    "suite-missing": lambda tmp: ["run", "--suite", str(tmp / "nope.toml"), "--dry-run"],
    "suite-is-a-directory": lambda tmp: ["run", "--suite", str(tmp), "--dry-run"],
    "suite-table-is-a-string": _suite(raw=b'suite = "x"\n[[problems]]\nfamily = "mimo"\nL = 1\n'),
    "problems-is-a-table": _suite(raw=b'[problems]\nfamily = "mimo"\nL = 1\n'),
    "problems-holds-numbers": _suite(raw=b'problems = [1, 2]\n'),
    "no-problems": _suite(raw=b'[suite]\nkernels = ["torch-cg"]\n'),
    "timing-is-a-string": _suite("[suite.timing]\nbudget_s = 0.02", 'timing = "fast"'),
    "kernels-is-a-string": _suite('kernels = ["torch-cg"]', 'kernels = "torch-cg"'),
    "kernels-holds-a-number": _suite('kernels = ["torch-cg"]', "kernels = [1]"),
    "passes-holds-a-number": _suite('passes = ["fwd"]', "passes = [3]"),
    "unknown-pass": _suite('passes = ["fwd"]', 'passes = ["bwd"]'),
    "description-is-a-number": _suite("[suite]\n", "[suite]\ndescription = 5\n"),
    "device-unknown": _suite("[suite]\n", '[suite]\ndevice = "tpu"\n'),
    "unknown-suite-key": _suite("[suite]\n", "[suite]\ncolour = 1\n"),
    "unknown-timing-key": _suite("budget_s = 0.02", "budget = 0.02"),
    "unknown-problem-key": _suite("batch = 16", "batch = 16\nsize = 3"),
    "family-missing": _suite('family = "mimo"\n', ""),
    "family-unknown": _suite('family = "mimo"', 'family = "mambo"'),
    "dtype-unknown": _suite("batch = 16", 'batch = 16\ndtypes = ["float33"]'),
    "batch-fractional": _suite("batch = 16", "batch = 1.5"),
    "batch-string": _suite("batch = 16", 'batch = "16"'),
    "batch-zero": _suite("batch = 16", "batch = 0"),
    "batch-negative": _suite("batch = 16", "batch = -4"),
    "L-string": _suite("L = 1", 'L = "one"'),
    "L-fractional": _suite("L = 1", "L = 1.5"),
    "L-negative": _suite("L = 1", "L = -1"),
    "budget-negative": _suite("budget_s = 0.02", "budget_s = -1"),
    "budget-string": _suite("budget_s = 0.02", 'budget_s = "fast"'),
    "warmup-negative": _suite("budget_s = 0.02", "budget_s = 0.02\nwarmup_s = -0.1"),
    "min-samples-zero": _suite("budget_s = 0.02", "budget_s = 0.02\nmin_samples = 0"),
    "min-samples-fractional": _suite("budget_s = 0.02", "budget_s = 0.02\nmin_samples = 2.5"),
    "suite-repeat-zero": _suite("budget_s = 0.02", "budget_s = 0.02\nrepeat = 0"),
    "suite-repeat-string": _suite("budget_s = 0.02", 'budget_s = 0.02\nrepeat = "3"'),
    "timer-unknown": _suite("budget_s = 0.02", 'budget_s = 0.02\ntimer = "sundial"'),
    # options
    "repeat-zero": _option("--repeat", "0"),
    "repeat-negative": _option("--repeat", "-2"),
    "threads-zero": _option("--threads", "0"),
    "threads-negative": _option("--threads", "-1"),
    "timeout-negative": _option("--timeout", "-1"),
    "timeout-zero": _option("--timeout", "0"),
    "device-option-unknown": _option("--device", "tpu"),
    "filter-unknown-field": _option("--filter", "colour=red"),
    "kernel-unknown": _option("--kernel", "no-such-kernel"),
    "repeat-not-a-number": _option("--repeat", "many"),
    # kernel files
    "kernel-name-is-a-number": _kernel_file("class K(TorchCGKernel):\n    name = 5\n"),
    "kernel-passes-is-a-string": _kernel_file("class K(TorchCGKernel):\n    name = 'k'\n    passes = 'fwd'\n"),
    "kernel-file-calls-sys-exit": _kernel_file("import sys\nsys.exit(3)\n"),
    "kernels-list-holds-non-kernels": _kernel_file("KERNELS = [1, 'x']\n"),
    "kernels-is-not-a-list": _kernel_file("KERNELS = 5\n"),
    "kernel-file-syntax-error": _kernel_file("def (:\n"),
    "kernel-init-needs-arguments": _kernel_file(
        "class K(TorchCGKernel):\n    name = 'k'\n    def __init__(self, x):\n        super().__init__()\n"),
    "kernel-file-raises-keyboard-interrupt-free": _kernel_file("raise RuntimeError('nope')\n"),
    # corrupt run directories
    **{f"{cmd}-run-json-{what}": _run_dir(cmd, data)
       for cmd in ("show", "report", "compare", "export")
       for what, data in (("missing", None), ("garbage", b"{not json"), ("not-an-object", b"[1, 2]"))},
}


def _snapshot(tmp):
    return {str(p): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_one_line_and_exit_2(name, tmp_path, capsys):
    argv = BAD[name](tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    _, err = capsys.readouterr()
    assert exc.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tpbench: error: "), err
    assert "Traceback" not in err
    assert _snapshot(tmp_path) == before


def test_there_are_at_least_forty_distinct_bad_inputs():
    assert len(BAD) >= 40
