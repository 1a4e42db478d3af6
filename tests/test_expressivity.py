"""Expressivity and interactability (tpbench.metrics.expressivity) against the values DESIGN.md pins."""

import json
import textwrap

import pandas as pd
import pytest
from click.testing import CliRunner

from tpbench.kernel.registry import Registry
from tpbench.cli.commands.metrics import command
from tpbench.metrics.expressivity import add_normalised_runtime, expressivity, expressivity_record, hom_basis, upper_bound
from tpbench.spec.paths import tp_paths
from tpbench.kernel.registry import load_kernel_file
from tpbench.spec.shapes import channelwise, mimo, mimo_ap

KERNELS = {k.name: k for k in Registry.default().kernels.values()}
LS = [1, 2, 3, 4]
MIMO_AP_ALL = {1: 6, 2: 19, 3: 44, 4: 85}
MIMO_AP_EVEN = {1: 5, 2: 14, 3: 30, 4: 55}
GAUNT = [pytest.param(n, marks=pytest.mark.skipif(n not in KERNELS, reason=f"{n} not built in yet"))
         for n in ("gaunt-grid", "gaunt-fft")]


def _l(label: str) -> tuple[int, int, int]:
    """``'1o x 2e -> 3o'`` -> ``(1, 2, 3)``."""
    a, rest = label.split(" x ")
    b, c = rest.split(" -> ")
    return int(a[:-1]), int(b[:-1]), int(c[:-1])


def _check(r, full_cg_interactability: int):
    assert r.status == "ok" and r.reason == "", r.reason  # reason is empty when the second draw agrees
    assert r.expressivity <= r.interactability <= r.upper_bound == full_cg_interactability
    assert len(r.paths_reached) + len(r.paths_missed) == r.upper_bound


@pytest.mark.parametrize("L", LS)
def test_full_cg_on_mimo_reaches_every_path(L):
    r = expressivity(KERNELS["torch-cg"], mimo(L))
    n = len(tp_paths(mimo(L)).paths)
    assert r.expressivity == r.interactability == r.upper_bound == n and not r.paths_missed
    _check(r, n)


@pytest.mark.parametrize("L", LS)
def test_full_cg_on_mimo_ap_reaches_odd_paths_too(L):
    r = expressivity(KERNELS["e3nn-cg-full" if L == 1 else "torch-cg"], mimo_ap(L))
    assert r.expressivity == r.interactability == r.upper_bound == MIMO_AP_ALL[L] and not r.paths_missed
    _check(r, MIMO_AP_ALL[L])


@pytest.mark.parametrize("name", GAUNT)
@pytest.mark.parametrize("L", LS)
def test_gaunt_expressivity_is_linear_in_L(name, L):
    r = expressivity(KERNELS[name], mimo(L))
    n = len(tp_paths(mimo(L)).paths)
    assert (r.expressivity, r.interactability) == (4 * L + 1, n) and not r.paths_missed
    _check(r, n)


@pytest.mark.parametrize("name", GAUNT)
@pytest.mark.parametrize("L", LS)
def test_gaunt_misses_the_odd_paths(name, L):
    r = expressivity(KERNELS[name], mimo_ap(L))
    assert (r.expressivity, r.interactability) == (4 * L + 1, MIMO_AP_EVEN[L])
    assert all(sum(_l(p)) % 2 == 1 for p in r.paths_missed)
    assert all(sum(_l(p)) % 2 == 0 for p in r.paths_reached)
    _check(r, MIMO_AP_ALL[L])


# A user's kernel: only the "stretched" paths l3 = l1 + l2, one output block each.
STRETCHED = textwrap.dedent('''
    import torch
    from e3nn import o3
    from tpbench import Kernel, Native


    def _paths(problem):
        wanted, found = {ir for _, ir in problem.out}, []
        for i, (_, ir1) in enumerate(problem.in1):
            for j, (_, ir2) in enumerate(problem.in2):
                ir = o3.Irrep(ir1.l + ir2.l, ir1.p * ir2.p)
                if ir in wanted:
                    found.append((i, j, ir))
        return found


    class Stretched(torch.nn.Module):
        def __init__(self, problem):
            super().__init__()
            self.problem, self.paths = problem, _paths(problem)
            self.cg = [o3.wigner_3j(problem.in1[i].ir.l, problem.in2[j].ir.l, ir.l, dtype=torch.float64)
                       for i, j, ir in self.paths]

        def forward(self, x, y):
            s1, s2 = self.problem.in1.slices(), self.problem.in2.slices()
            return torch.cat([torch.einsum("ijk,bi,bj->bk", C.to(x.dtype), x[:, s1[i]], y[:, s2[j]])
                              for C, (i, j, _) in zip(self.cg, self.paths)], dim=-1)


    class StretchedKernel(Kernel):
        name = "stretched"
        family = "cg"

        def supports(self, problem, device):
            return None if problem.op == "tp" else "tensor products only"

        def native(self, problem):
            out = o3.Irreps([(1, ir) for _, _, ir in _paths(problem)])
            return Native(problem.in1, out, problem.in2)

        def build(self, problem, device, dtype):
            return Stretched(problem)
''')


def test_user_kernel_file_gets_its_own_paths(tmp_path):
    path = tmp_path / "stretched.py"
    path.write_text(STRETCHED)
    (kernel,) = load_kernel_file(path)
    r = expressivity(kernel, mimo_ap(2))
    reached = {_l(p) for p in r.paths_reached}
    assert reached == {(a, b, a + b) for a in range(3) for b in range(3)}
    assert r.expressivity == r.interactability == 9
    _check(r, MIMO_AP_ALL[2])


def test_so3_bound_ignores_parity():
    # 1o x 1o -> 1o breaks parity (O(3)) but not rotations (SO(3)).
    assert upper_bound(mimo(1), "O(3)") == 5 and upper_bound(mimo(1), "SO(3)") == 6
    assert hom_basis(mimo(1).in1, mimo(1).in2, mimo(1).out, "SO(3)").dim == 6
    if "matrix-tp" in KERNELS:
        r = expressivity(KERNELS["matrix-tp"], mimo(2))
        assert r.symmetry == "SO(3)" and r.expressivity <= r.interactability <= r.upper_bound == 19


def test_record_is_plain_json_cached_and_na_where_undefined(tmp_path):
    record = expressivity_record(KERNELS["torch-cg"], mimo(2), cache_dir=tmp_path)
    keys = {"expressivity", "interactability", "upper_bound", "paths_reached", "paths_missed", "seconds",
            "status", "reason"}
    assert keys <= set(record) and json.loads(json.dumps(record)) == record
    assert record["status"] == "ok" and record["interactability"] == 14
    assert len(list(tmp_path.glob("*.json"))) == 1
    again = expressivity_record(KERNELS["torch-cg"], mimo(2).replace(batch=7), cache_dir=tmp_path)
    assert again == record  # computed once: batch and dtype do not change the math

    gate = expressivity_record(KERNELS["e3nn-gate"], mimo(1))
    assert gate["status"] == "n/a" and "bilinear" in gate["reason"] and gate["expressivity"] is None
    heavy = expressivity_record(KERNELS["torch-cg"], channelwise(2, 1, 1))
    assert heavy["status"] == "n/a" and "multiplicity" in heavy["reason"]


def test_normalised_runtime_columns():
    df = pd.DataFrame({"median_ms": [2.0, 3.0, 1.0], "expressivity": [4, None, 0], "interactability": [8, 3, 2]})
    out = add_normalised_runtime(df)
    assert "ms_per_expressivity" not in df  # pure: the input is left alone
    assert out["ms_per_expressivity"].iloc[0] == 0.5 and out["ms_per_expressivity"].iloc[1:].isna().all()
    assert list(out["ms_per_interactability"]) == [0.25, 1.0, 0.5]


def test_cli_prints_metrics_and_json():
    result = CliRunner().invoke(command, ["--kernel", "torch-cg", "--problem", "mimo:L=1"])
    assert result.exit_code == 0 and "expressivity     5" in result.output
    result = CliRunner().invoke(command, ["--kernel", "torch-cg", "--problem", "mimo-ap:L=1", "--json"])
    data = json.loads(result.output)
    assert result.exit_code == 0 and data["interactability"] == data["upper_bound"] == 6
    # Two --kernel options: both are reported, not only the last.
    result = CliRunner().invoke(command, ["--kernel", "torch-cg", "--kernel", "gaunt-grid", "--problem", "mimo:L=1",
                                          "--json"])
    assert result.exit_code == 0
    assert [json.loads(line)["kernel"] for line in result.output.splitlines()] == ["torch-cg", "gaunt-grid"]


@pytest.mark.parametrize("args, words", [
    (["--kernel", "no-such-kernel", "--problem", "mimo:L=1"], "unknown kernel"),
    (["--kernel", "torch-cg", "--problem", "mimo:L"], "malformed problem"),
    (["--kernel", "torch-cg", "--problem", "mimo:L=x"], "bad problem"),
    (["--kernel", "torch-cg", "--problem", "nosuch:L=1"], "unknown shape family"),
    (["--kernel", "torch-cg", "--problem", "linear:mul=2,L=1"], "does not run this problem"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, words):
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_kernels_verified_equal_share_one_measurement(tmp_path):
    problem = mimo_ap(1)
    shared = [expressivity_record(KERNELS[n], problem, cache_dir=tmp_path, verified=True)
              for n in ("torch-cg", "e3nn-cg-full")]
    own = expressivity_record(KERNELS["e3nn-cg-full"], problem)  # measured on the kernel itself
    assert shared[0] == shared[1] and shared[1]["measured_on"] == "torch-cg"
    assert own["measured_on"] == "e3nn-cg-full"
    assert {k: own[k] for k in ("expressivity", "interactability", "paths_missed")} == {
        k: shared[1][k] for k in ("expressivity", "interactability", "paths_missed")}
    assert len(list(tmp_path.glob("op-cg-*.json"))) == 1
    # Another operation (Gaunt: fewer couplings) is never handed the CG kernels' ranks.
    if "gaunt-grid" in KERNELS:
        gaunt = expressivity_record(KERNELS["gaunt-grid"], problem, cache_dir=tmp_path, verified=True)
        assert gaunt["measured_on"] == "gaunt-grid" and gaunt["expressivity"] < shared[0]["expressivity"]


def test_a_damaged_cache_file_is_measured_again_and_replaced(tmp_path):
    from tpbench.metrics import expressivity as ex

    good = expressivity_record(KERNELS["torch-cg"], mimo(1), cache_dir=tmp_path)
    [path] = tmp_path.glob("*.json")
    path.write_text('{"expressivity": 5, "interac')  # a writer killed halfway (before writes were atomic)
    ex._MEMORY.clear()
    again = expressivity_record(KERNELS["torch-cg"], mimo(1), cache_dir=tmp_path)
    assert {**again, "seconds": None} == {**good, "seconds": None}  # measured again (its time differs)
    assert json.loads(path.read_text())["interactability"] == good["interactability"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left behind
