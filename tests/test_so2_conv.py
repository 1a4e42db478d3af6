"""The SO(2) convolution: the rotation construction, the eSCN equivalence with the CG convolution, the gate."""

import math

import pytest
import torch
from e3nn import o3

from tpbench.oracle.correctness import run_gate
from tpbench.oracle.equivariance import equivariance_errors
from tpbench.spec.errors import UserError
from tpbench.kernel import build_module
from tpbench.oracle.references.so2 import ReferenceSO2, couplings, so2_layout, so2_reach, weight_map
from tpbench.spec.shapes import make_problem, so2_conv
from tpbench_kernels.so2.convolution import SO2Conv, TorchSO2, _cos_sin_m

PASSES = ["fwd", "fwd+bwd", "fwd+bwd+bwd"]


def _Ry(t: float) -> torch.Tensor:
    c, s = math.cos(t), math.sin(t)
    return torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)


def test_y_rotation_and_edge_frame_match_e3nn_wigner_D():
    torch.set_default_dtype(torch.float64)
    try:
        module = SO2Conv(so2_layout(so2_conv(1, 3)))
        t = 0.83
        cm, sm = _cos_sin_m(torch.tensor([math.cos(t)]), torch.tensor([math.sin(t)]), 3)
        x = torch.randn(1, 1, 16)
        got = module._rotate_y(x, cm, sm, "in", inverse=False)
        want = x @ o3.Irreps("0e+1o+2e+3o").D_from_matrix(_Ry(t)).T
        assert torch.allclose(got, want, atol=1e-12)
        # The edge frame: D(R_e) = D_y(α) K D_y(β) K^T for R_e = R_y(α) R_x(β) with R_e ŷ = r̂.
        r = torch.randn(3)
        u = r / r.norm()
        rho = math.hypot(u[0].item(), u[2].item())
        beta, alpha = math.atan2(rho, u[1].item()), math.atan2(u[0].item(), u[2].item())
        Q = torch.tensor([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]])
        Re = _Ry(alpha) @ Q @ _Ry(beta) @ Q.T
        assert torch.allclose(Re @ torch.tensor([0.0, 1, 0]), u, atol=1e-12)
    finally:
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("li,lo", [(l1, l2) for l1 in range(4) for l2 in range(4)])
def test_cg_on_the_polar_axis_is_block_diagonal_in_m_and_the_weight_map_is_invertible(li, lo):
    """C^{li lf lo}(·, Y_lf(ŷ)) couples m to ±m only, as a I + b J: the premise of the equivalence."""
    for lf in couplings(li, lo):
        T = o3.wigner_3j(li, lf, lo, dtype=torch.float64)[:, lf, :]
        for i in range(2 * li + 1):
            for k in range(2 * lo + 1):
                if abs(i - li) != abs(k - lo):
                    assert abs(T[i, k]) < 1e-12
        for m in range(1, min(li, lo) + 1):
            assert torch.isclose(T[li + m, lo + m], T[li - m, lo - m], atol=1e-12)
            assert torch.isclose(T[li - m, lo + m], -T[li + m, lo - m], atol=1e-12)
    G = weight_map(li, lo)
    assert G.shape == (2 * min(li, lo) + 1,) * 2
    assert torch.linalg.matrix_rank(G) == G.shape[0]


@pytest.mark.parametrize("L,m_max", [(1, 1), (2, 2), (3, 3), (3, 1), (2, 0)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_so2_passes_the_gate_against_the_cg_convolution(L, m_max, dtype):
    """The eSCN equivalence: the rotation-based kernel equals the float64 CG convolution with W = G^-1 w."""
    problem = so2_conv(3, L, m_max, batch=40, dtype=dtype)
    kernel = TorchSO2()
    result = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", PASSES)
    assert not result.failures and not result.crashed, (result.failures, result.crashed)
    assert set(result.errors) >= {"fwd", "full_batch", "rotation", "fwd+bwd", "fwd+bwd+bwd"}


def test_reference_on_the_polar_axis_is_the_so2_map_written_out():
    """Brute force at r̂ = ŷ: y_{lo,±m} from the a/b coefficients by the formula, no CG, no rotation."""
    problem = so2_conv(2, 2, batch=1, dtype="float64")
    L = so2_layout(problem)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, problem.in1.dim, generator=gen, dtype=torch.float64)
    w = torch.randn(1, L.weight_numel, generator=gen, dtype=torch.float64)
    got = ReferenceSO2(problem)(x, torch.tensor([[0.0, 2.5, 0.0]], dtype=torch.float64), w)
    xs = {l: x[0, sl].reshape(L.mul, 2 * l + 1) for l, sl in zip(L.l_in, problem.in1.slices())}
    want = {lo: torch.zeros(L.mul, 2 * lo + 1, dtype=torch.float64) for lo in L.l_out}
    coeff = {}
    for m, part, offset, numel in L.blocks():
        d_in, d_out = L.degrees(m)
        block = w[0, offset:offset + numel].reshape(len(d_in), len(d_out), L.mul)
        for i, li in enumerate(d_in):
            for j, lo in enumerate(d_out):
                coeff[(li, lo, m, part)] = block[i, j]
    for li in L.l_in:
        for lo in L.l_out:
            want[lo][:, lo] += coeff[(li, lo, 0, "a")] * xs[li][:, li]
            for m in range(1, min(li, lo) + 1):
                a, b = coeff[(li, lo, m, "a")], coeff[(li, lo, m, "b")]
                want[lo][:, lo + m] += a * xs[li][:, li + m] - b * xs[li][:, li - m]
                want[lo][:, lo - m] += b * xs[li][:, li + m] + a * xs[li][:, li - m]
    want = torch.cat([L.alpha * want[lo].reshape(-1) for lo in L.l_out])
    assert torch.allclose(got[0], want, atol=1e-12)


def test_truncation_zeroes_the_high_m_components_in_the_edge_frame():
    problem = so2_conv(2, 3, m_max=1, batch=4, dtype="float64")
    L = so2_layout(problem)
    module = build_module(TorchSO2(), problem, "cpu")
    x = torch.randn(4, problem.in1.dim, dtype=torch.float64)
    r = torch.tensor([[1e-3, 1.0, 2e-3]], dtype=torch.float64).expand(4, 3)
    y = module(x, r, torch.randn(4, L.weight_numel, dtype=torch.float64))
    for lo, sl in zip(L.l_out, problem.out.slices()):
        block = y[:, sl].reshape(4, L.mul, 2 * lo + 1)
        high = [lo + m for m in range(-lo, lo + 1) if abs(m) > 1]
        if high:
            assert block[..., high].abs().max() < 1e-2 * block.abs().max()


def test_free_so2_weights_reach_pseudo_couplings_so_the_kernel_is_so3_not_o3():
    problem = so2_conv(2, 2, batch=8, dtype="float64")
    module = build_module(TorchSO2(), problem, "cpu")
    L = so2_layout(problem)
    gen = torch.Generator().manual_seed(1)
    inputs = [torch.randn(8, d, generator=gen, dtype=torch.float64) for d in (problem.in1.dim, 3, L.weight_numel)]
    errors = equivariance_errors(module, [problem.in1, problem.in2, None], problem.out, inputs, "O(3)", gen)
    assert errors["rotation"] < 1e-10 and errors["inversion"] > 1e-2
    assert TorchSO2.symmetry == "SO(3)"


def test_reach_counts_what_truncation_loses():
    assert so2_reach(3, 3, 3) == {"reached": 44, "so3": 44, "o3": 30, "lost": 0}
    assert so2_reach(3, 3, 1)["reached"] == sum(1 + 2 * min(a, b, 1) for a in range(4) for b in range(4))
    assert so2_reach(3, 3, 0)["reached"] == 16


def test_a_wrong_so2_kernel_fails_the_gate():
    problem = so2_conv(2, 2, batch=16, dtype="float64")
    kernel = TorchSO2()
    module = build_module(kernel, problem, "cpu")
    module.sign_out.mul_(-1)  # rotates back by -θ about y: a wrong frame
    result = run_gate(kernel, problem, module, "cpu", ["fwd"])
    assert "fwd" in result.failures


@pytest.mark.parametrize("params", [dict(mul=2, L=2, m_max=3), dict(mul=2, L=2, m_max=-1), dict(mul=0, L=2),
                                    dict(mul=2, L=2, m_max=1.5), dict(mul=2, L=2, colour=1)])
def test_bad_so2_parameters_are_user_errors(params):
    with pytest.raises(UserError):
        make_problem("so2_conv", **params)


def test_so2_problem_ids_depend_on_m_max_and_old_ids_are_unchanged():
    assert so2_conv(4, 3, 3).id != so2_conv(4, 3, 1).id
    assert "params" not in make_problem("mimo", L=2).canonical()


def test_measured_reach_of_the_kernel_matches_theory_and_drops_with_m_max():
    from tpbench.metrics.reach import so2_measured

    full = so2_measured(TorchSO2(), so2_conv(1, 2, 2))
    cut = so2_measured(TorchSO2(), so2_conv(1, 2, 1))
    assert full == {"reached": 19, "so3": 19, "o3": 14, "lost": 0}  # Σ_{li,lo<=2} (2 min(li,lo) + 1); 5 pseudo
    assert cut["reached"] == so2_reach(2, 2, 1)["reached"] == 17 and cut["lost"] == 2


def test_new_problems_round_trip_through_json_with_their_ids():
    import json

    from tpbench.spec.problem import Problem
    from tpbench.spec.shapes import symmetric_contraction_model

    for p in (so2_conv(4, 3, 1), symmetric_contraction_model("mace-mp-small", sorted=True)):
        back = Problem.from_dict(json.loads(json.dumps(p.to_dict())))
        assert back.id == p.id and back.params == p.params
