"""The report's convolution figures: runtime and memory against edges, one panel per graph and layer."""

import pandas as pd

from tpbench.views.report.conv import conv_cases, conv_vs_edges
from tpbench.views.report.plotting import Palette


def _cases():
    rows = []
    for kernel, scale in (("conv-e3nn", 1.0), ("conv-cue-indexed.naive.ir_mul", 0.5)):
        for atoms, edges in ((8, 688), (64, 5504)):
            params = {"structure": "diamond", "atoms": atoms, "name": "mace-large", "cutoff": 5.0,
                      "order": "receiver"}
            rows.append(dict(problem_family="conv-model", params=params, batch=edges, median_ms=scale * edges / 100,
                             peak_memory_mb=None, peak_rss_mb=100 + edges / 10, series=kernel, machine="cpu box",
                             dtype="float32", **{"pass": "fwd"}))
    rows.append(dict(problem_family="mimo", params={"L": 2}, batch=1000, median_ms=1.0, peak_memory_mb=None,
                     peak_rss_mb=50.0, series="torch-cg", machine="cpu box", dtype="float32", **{"pass": "fwd"}))
    return pd.DataFrame(rows)


def test_conv_cases_keep_conv_problems_and_fall_back_to_cpu_memory():
    data = conv_cases(_cases())
    assert set(data["problem_family"]) == {"conv-model"} and len(data) == 4
    assert data["conv_panel"].nunique() == 1 and data["conv_panel"].iloc[0].startswith("diamond · name=mace-large")
    assert list(data["conv_memory_mb"]) == [100 + e / 10 for e in (688, 5504, 688, 5504)]


def test_runtime_and_memory_figures_against_edges():
    cases = _cases()
    figures = conv_vs_edges(cases, Palette(cases["series"]))
    assert [f.title.split(" on ")[0] for f in figures] == ["Convolution runtime against edges",
                                                           "Convolution peak memory against edges"]
    assert conv_vs_edges(cases[cases["problem_family"] == "mimo"], Palette(cases["series"])) == []
