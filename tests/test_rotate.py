"""Feature rotation into the edge frame and back: the oracle by hand and against Wigner matrices, the gate."""

import pytest
import torch
from e3nn import o3

from tpbench.kernel import build_module, default_dtype
from tpbench.oracle.correctness import run_gate
from tpbench.oracle.references.rotate import ReferenceRotate, axis_projector, rotate_layout
from tpbench.oracle.references.so2 import so2_layout
from tpbench.spec.errors import UserError
from tpbench.spec.problem import Problem
from tpbench.spec.shapes import make_problem, rotate, so2_conv
from tpbench_kernels.so2.convolution import TorchSO2
from tpbench_kernels.so2.rotation import CueRotate, E3nnRotate, E3nnRotation, TorchSO2Rotate

PASSES = ["fwd", "fwd+bwd", "fwd+bwd+bwd"]


def _unit(n, seed=0):
    return torch.nn.functional.normalize(torch.randn(n, 3, generator=torch.Generator().manual_seed(seed),
                                                     dtype=torch.float64), dim=-1)


def test_a_vector_keeps_only_its_component_along_the_edge():
    """l = 1 (e3nn's 1o is (x, y, z)), m_max = 0: the m = 0 part about r̂ is (r̂·v) r̂; l = 0 passes unchanged."""
    problem = rotate(1, mul=2, m_max=0, batch=6, dtype="float64")
    r = torch.randn(6, 3, dtype=torch.float64) * 3.0  # not unit: only the direction counts
    x = torch.randn(6, 2 + 6, dtype=torch.float64)
    y = ReferenceRotate(problem)(x, r)
    u = r / r.norm(dim=-1, keepdim=True)
    v = x[:, 2:].reshape(6, 2, 3)
    assert torch.allclose(y[:, :2], x[:, :2], atol=1e-14)
    assert torch.allclose(y[:, 2:].reshape(6, 2, 3), (v * u[:, None]).sum(-1, keepdim=True) * u[:, None], atol=1e-13)


@pytest.mark.parametrize("l,m_max", [(2, 1), (4, 2), (6, 2), (5, 0)])
def test_projector_equals_the_round_trip_through_wigner_matrices_in_any_gauge(l, m_max):
    u = _unit(7)
    alpha, beta = o3.xyz_to_angles(u)
    keep = torch.diag(torch.tensor([float(abs(i - l) <= m_max) for i in range(2 * l + 1)], dtype=torch.float64))
    P = axis_projector(l, m_max, u)
    with default_dtype(torch.float64):
        for gamma in (torch.zeros(7, dtype=torch.float64), torch.rand(7, dtype=torch.float64) * 6.28):
            D = o3.wigner_D(l, alpha, beta, gamma)  # R_e ŷ = r̂ for every γ: the frame's free angle
            assert torch.allclose(D @ keep @ D.transpose(-1, -2), P, atol=1e-12)
    assert torch.allclose(P @ P, P, atol=1e-12) and torch.allclose(P, P.transpose(-1, -2), atol=1e-12)
    assert torch.allclose(torch.diagonal(P, dim1=-2, dim2=-1).sum(-1),
                          torch.full((7,), 2.0 * min(m_max, l) + 1, dtype=torch.float64), atol=1e-12)


def test_rotate_is_the_so2_convolution_with_identity_weights():
    """Cross-check with the so2_conv operation: a^m = δ(li, lo), b^m = 0 is α times the truncation in the frame."""
    L, mul, m_max, E = 3, 2, 1, 9
    conv = so2_conv(mul, L, m_max, batch=E, dtype="float64")
    layout = so2_layout(conv)
    w = torch.zeros(E, layout.weight_numel, dtype=torch.float64)
    for m, part, offset, numel in layout.blocks():
        if part == "a":
            d_in, d_out = layout.degrees(m)
            block = torch.tensor([[float(a == b) for b in d_out] for a in d_in], dtype=torch.float64)
            w[:, offset:offset + numel] = block[:, :, None].expand(-1, -1, mul).reshape(-1)
    x, r = torch.randn(E, conv.in1.dim, dtype=torch.float64), torch.randn(E, 3, dtype=torch.float64)
    got = build_module(TorchSO2(), conv, "cpu")(x, r, w)
    want = ReferenceRotate(rotate(L, mul, m_max, batch=E, dtype="float64"))(x, r) * layout.alpha
    assert torch.allclose(got, want, atol=1e-12)


KERNEL_CASES = [(k, (L, mul, m), dtype) for k in (TorchSO2Rotate(), E3nnRotate())
                for (L, mul, m) in [(2, 3, 1), (4, 2, 2)] for dtype in ("float64", "float32")]
KERNEL_CASES += [(CueRotate("naive"), (2, 2, 1), "float64")]  # cuEquivariance's naive path: slow on a CPU


@pytest.mark.parametrize("kernel,args,dtype", KERNEL_CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_kernels_pass_the_gate(kernel, args, dtype):
    problem = rotate(*args, batch=30, dtype=dtype)
    result = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", PASSES)
    assert not result.failures and not result.crashed, (result.failures, result.crashed)
    assert {"rotation", "inversion", "fwd+bwd+bwd"} <= set(result.errors)


class _AnyGauge(E3nnRotation):
    """The e3nn route with the frame's free angle γ random per edge (as a random perpendicular vector picks it)."""

    def __init__(self, layout, gamma_out=None):
        super().__init__(layout)
        self.gamma_out = gamma_out

    def _rotate(self, x, r):
        L = self.layout
        alpha, beta = o3.xyz_to_angles(r)
        g_in = torch.rand(alpha.shape, generator=torch.Generator().manual_seed(1), dtype=alpha.dtype) * 6.28
        g_out = g_in if self.gamma_out is None else g_in + self.gamma_out
        out, start = [], 0
        for l in L.degrees:
            size = L.mul * (2 * l + 1)
            xl = x[:, start:start + size].reshape(-1, L.mul, 2 * l + 1)
            keep = getattr(self, f"keep{l}")
            D_in = o3.wigner_D(l, alpha, beta, g_in)[..., keep]
            D_out = o3.wigner_D(l, alpha, beta, g_out)[..., keep]
            out.append(torch.einsum("eik,euk->eui", D_out, torch.einsum("eik,eui->euk", D_in, xl)).reshape(-1, size))
            start += size
        return torch.cat(out, -1)


class _GaugeKernel(E3nnRotate):
    def __init__(self, gamma_out=None):
        self.gamma_out = gamma_out

    def build(self, problem, device, dtype):
        return _AnyGauge(rotate_layout(problem), self.gamma_out).to(device=device, dtype=dtype)


def test_any_frame_about_the_edge_passes_and_a_mismatched_one_fails():
    problem = rotate(3, mul=2, m_max=1, batch=30, dtype="float64")
    ok = run_gate(_GaugeKernel(), problem, build_module(_GaugeKernel(), problem, "cpu"), "cpu", ["fwd"])
    assert not ok.failures, ok.failures
    bad = run_gate(_GaugeKernel(0.3), problem, build_module(_GaugeKernel(0.3), problem, "cpu"), "cpu", ["fwd"])
    assert "fwd" in bad.failures and bad.errors["fwd"] > 1e-3


def test_a_kernel_that_keeps_one_m_too_many_fails_the_gate():
    problem = rotate(3, mul=2, m_max=1, batch=30, dtype="float64")
    kernel = TorchSO2Rotate()
    module = build_module(kernel, problem, "cpu")
    module.kept = rotate_layout(problem.replace(params=(("L", 3), ("mul", 2), ("m_max", 2)))).kept().double()
    assert "fwd" in run_gate(kernel, problem, module, "cpu", ["fwd"]).failures


@pytest.mark.parametrize("params", [dict(L=2, m_max=2), dict(L=0), dict(L=3, m_max=-1), dict(L=2, mul=0),
                                    dict(L=2, m_max=True)])
def test_bad_parameters_are_user_errors(params):
    with pytest.raises(UserError):
        make_problem("rotate", **params)


def test_kernels_refuse_problems_they_do_not_compute():
    odd = Problem("rotate", "2x0e+2x1o+2x2o", "2x0e+2x1o+2x2o", "1x1o", batch=4, params=(("m_max", 1),))
    assert "s2(L)" in TorchSO2Rotate().supports(odd, "cpu")
    assert "rotate" in E3nnRotate().supports(so2_conv(2, 2, 1, batch=4), "cpu")
    assert rotate(6, mul=4).id != rotate(6, mul=4, m_max=1).id and dict(rotate(6).params)["m_max"] == 2


def test_the_judges_wigner_matrices_are_exact_where_one_matrix_exp_is_not(monkeypatch):
    """torch.matrix_exp on a single matrix is off by ~1e-10 in float64 near norm 0.05 (pytorch#196592)."""
    import tpbench.oracle.equivariance as eq

    R = o3.matrix_x(torch.tensor(0.049, dtype=torch.float64))
    monkeypatch.setattr(eq, "group_elements", lambda symmetry, generator=None: [("rotation", R)])
    r = torch.randn(8, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    errors = eq.equivariance_errors(lambda v: o3.spherical_harmonics(1, v, normalize=False), [o3.Irreps("1o")],
                                    o3.Irreps("1o"), [r], "SO(3)")
    assert errors["rotation"] < 1e-13
