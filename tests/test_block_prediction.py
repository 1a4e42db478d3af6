"""From microbenchmark to model: one run holds the blocks, their convs alone and the stub block; the
prediction table and the report section come from its records; the stub and the Gaunt block are never
ranked as equals of the CG blocks."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tpbench.cli import main
from tpbench.kernel.base import build_module
from tpbench.oracle.correctness import run_gate
from tpbench.results.store import read_cases
from tpbench.kernel.registry import Registry
from tpbench.run.case import plan
from tpbench.run.suite import load_suite
from tpbench.spec.model_block import part_problems
from tpbench.spec.shapes import make_problem
from tpbench.views.report.build import report_html
from tpbench.views.report.data import load
from tpbench.views.summary import best_per_problem
from tpbench_kernels.model import block

BASE = "block+conv-e3nn+torch-sc+sh-e3nn"
GAUNT = "block+conv-gaunt-channelwise.gaunt-grid+torch-sc+sh-e3nn"
STUB = "block+conv-stub+torch-sc+sh-e3nn"
SUITE = f"""
[suite]
device = "cpu"
kernels = ["{BASE}", "{GAUNT}", "{STUB}"]
passes = ["fwd+bwd"]
dtypes = ["float32"]

[suite.timing]
budget_s = 0.02
warmup_s = 0.0
min_samples = 3

[[problems]]
family = "model_block"
config = "tiny"
atoms = 8
cutoff = 3.0
"""


def by_name(name):
    return next(k for k in block.KERNELS if k.name == name)


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    assert exc.value.code == 0, err
    return out


@pytest.fixture(scope="module")
def block_run(tmp_path_factory):
    """One real run of the tiny block suite (energy + forces), in this process."""
    root = tmp_path_factory.mktemp("runs")
    suite = root / "block.toml"
    suite.write_text(SUITE)
    with pytest.raises(SystemExit) as exc:
        main(["run", "--suite", str(suite), "--out", str(root), "--no-progress", "--no-isolate"])
    assert exc.value.code == 0
    [run_dir] = [p for p in root.iterdir() if p.is_dir() and (p / "run.json").exists()]
    return run_dir


def test_suite_plans_each_blocks_conv_at_its_shapes(tmp_path):
    path = tmp_path / "block.toml"
    path.write_text(SUITE)
    planned = plan(load_suite(str(path)), Registry.default(), "cpu")
    block_p = next(c.problem for c in planned if c.problem.op == "model_block")
    conv_p = part_problems(block_p)["conv"]
    micro = {c.kernel.name for c in planned if c.problem.id == conv_p.id}
    assert micro == {"conv-e3nn", "conv-gaunt-channelwise.gaunt-grid"}  # none for the stub
    assert {c.kernel.name for c in planned if c.problem.op == "model_block"} == {BASE, GAUNT, STUB}


def test_run_records_give_the_prediction_table(block_run, capsys):
    records = read_cases(block_run / "cases.jsonl")
    assert {r["status"] for r in records} == {"ok"}, [(r["kernel"], r.get("reason")) for r in records]
    stub = next(r for r in records if r["kernel"] == STUB)
    gaunt = next(r for r in records if r["kernel"] == GAUNT)
    assert stub["stub_of"] == "conv" and "changes_model" not in stub
    assert "odd couplings" in gaunt["changes_model"] and gaunt["operation"] == "model_block-gaunt"

    from tpbench.metrics.block_records import prediction_rows
    from tpbench.results.store import load_runs

    rows = {r["conv"]: r for r in prediction_rows(load_runs([block_run]))}
    assert set(rows) == {"conv-e3nn", "conv-gaunt-channelwise.gaunt-grid"}
    base = rows["conv-e3nn"]
    assert base["micro_ratio"] == 1.0 and base["measured"] == 1.0 and base["predicted"] == 1.0
    assert 0 <= base["fraction"] <= 1  # every piece present (a noisy stub may only clamp the fraction)
    assert "micro case" not in base["missing"] and "block+" not in base["missing"]
    g = rows["conv-gaunt-channelwise.gaunt-grid"]
    assert g["changes_model"] and g["predicted"] == pytest.approx(1 - g["fraction"] + g["fraction"] * g["micro_ratio"])

    out = run_cli(capsys, "show", str(block_run), "--width", "200")
    assert "from microbenchmark to model" in out and "conv-gaunt-channelwise.gaunt-grid" in out
    html = report_html(load([str(block_run)]))
    assert 'id="micro-to-model"' in html and "Predicted against measured block time ratio" in html


def test_report_says_what_is_missing_and_is_absent_without_blocks(block_run, tmp_path):
    manifest = json.loads((block_run / "run.json").read_text())
    records = read_cases(block_run / "cases.jsonl")

    def write(name, keep):
        d = tmp_path / name
        d.mkdir()
        (d / "run.json").write_text(json.dumps({**manifest, "run_id": name}))
        (d / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records if keep(r)))
        return str(d)

    no_stub = report_html(load([write("no-stub", lambda r: r["kernel"] != STUB)]))
    assert 'id="micro-to-model"' in no_stub and "missing: the stub block" in no_stub
    no_blocks = report_html(load([write("no-blocks", lambda r: r["problem_family"] != "model_block")]))
    assert "micro-to-model" not in no_blocks


def _record(kernel, ms, **extra):
    return {"kernel": kernel, "problem_label": "model_block tiny", "problem_id": "b", "pass": "fwd+bwd",
            "status": "ok", "median_ms": ms, "machine": "m", "paths": ["0e x 0e -> 0e"], **extra}


def test_stub_and_gaunt_blocks_are_never_crowned_as_equals():
    df = pd.DataFrame([_record(BASE, 10.0), _record(STUB, 1.0, stub_of="conv"),
                       _record(GAUNT, 5.0, changes_model="Gaunt conv: odd couplings dropped")])
    [row] = best_per_problem(df).to_dict("records")
    assert row["best"] == GAUNT and row["runner_up"] == BASE  # the stub is not ranked at all
    assert "changes the model" in row["caveat"]
    from tpbench.views.report import tables
    from tpbench.views.report.data import Runs, tidy

    runs = Runs(tidy(df), {})
    assert STUB not in set(runs.ok["kernel"])
    [win] = tables.winners(runs)
    assert win["winner"] == GAUNT and "changes the model" in win["work"]
    # Without the Gaunt block the CG block is best, with no caveat; the stub, fastest of all, is never best.
    [row] = best_per_problem(df[df["kernel"] != GAUNT]).to_dict("records")
    assert row["best"] == BASE and not row["caveat"]


def test_gaunt_block_passes_its_own_gate_and_fails_the_cg_blocks():
    p = make_problem("model_block", config="tiny-scalar", atoms=8, cutoff=3.0, dtype="float64")
    gaunt = by_name(GAUNT)
    result = run_gate(gaunt, p, build_module(gaunt, p, "cpu"), "cpu", ["fwd", "fwd+bwd"])
    assert result.verdict("fwd") == ("ok", None) and result.verdict("fwd+bwd") == ("ok", None)
    assert result.errors["fwd"] < 1e-12

    class Masquerade(block.Block):  # the Gaunt block claiming to compute the CG block
        operation = "model_block"

    # With scalar hidden features the two blocks take the same inputs and weights, so the claim can be judged.
    liar = Masquerade(gaunt.conv, gaunt.sc, gaunt.sh)
    assert liar.native(p).weight_numel == by_name(BASE).native(p).weight_numel
    status, why = run_gate(liar, p, build_module(liar, p, "cpu"), "cpu", ["fwd"]).verdict("fwd")
    assert status == "incorrect" and "fwd error" in why
    # With vector features the Gaunt block has other weights (one per output degree, not per path).
    q = make_problem("model_block", config="tiny", atoms=8, cutoff=3.0)
    assert gaunt.native(q).weight_numel < by_name(BASE).native(q).weight_numel


def test_a_stub_asked_for_by_name_says_it_is_not_ranked():
    from tpbench.views.summary import kernel_ranks

    df = pd.DataFrame([_record(BASE, 10.0), _record(STUB, 1.0, stub_of="conv")])
    [row] = kernel_ranks(df, STUB).to_dict("records")
    assert row["rank"].startswith("not ranked: a stub")
    assert kernel_ranks(df, BASE).to_dict("records")[0]["rank"] == "1 of 1"


def test_block_cpu_suite_plans_blocks_micro_cases_and_the_stub():
    planned = plan(load_suite("block-cpu"), Registry.default(), "cpu")
    blocks = [c for c in planned if c.problem.op == "model_block"]
    assert {c.problem.params for c in blocks} and len({c.problem.id for c in blocks}) == 2
    assert sum(c.kernel.name == STUB for c in blocks) == 2
    for p in {c.problem.id: c.problem for c in blocks}.values():
        conv_id = part_problems(p)["conv"].id
        assert {c.kernel.name for c in planned if c.problem.id == conv_id} == {
            "conv-e3nn", "conv-unfused.cg-sparse", "conv-cue-indexed.naive.ir_mul",
            "conv-gaunt-channelwise.gaunt-grid"}
