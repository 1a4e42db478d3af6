"""Edge spherical harmonics: the reference from its definition, normalisations, kernels and their gate."""

import math

import pytest
import torch
from e3nn import o3

from tpbench.oracle.correctness import run_gate
from tpbench.spec.errors import UserError
from tpbench.kernel import build_module
from tpbench.spec.shapes import make_problem
from tpbench.oracle.references.sh import ReferenceSH, degree_factor
from tpbench_kernels.conv import harmonics as sh_kernels

PASSES = ["fwd", "fwd+bwd", "fwd+bwd+bwd"]


def test_reference_is_orthonormal_and_rotates_with_its_vector():
    irreps = o3.Irreps("0e+1o+2e+3o+4e")
    ref = ReferenceSH(irreps)
    r = torch.randn(200, 3, dtype=torch.float64)
    y = ref(3.7 * r)  # the length does not matter
    assert torch.allclose(y, ref(r), atol=1e-14)
    u = r / r.norm(dim=1, keepdim=True)
    assert torch.allclose(y[:, 1:4], math.sqrt(3 / (4 * math.pi)) * u, atol=1e-14)  # Y_1 ∝ (x, y, z)
    for (mul, ir), sl in zip(irreps, irreps.slices()):  # addition theorem: |Y_l|² = (2l+1)/4π
        assert torch.allclose(y[:, sl].pow(2).sum(1), torch.full((200,), (2 * ir.l + 1) / (4 * math.pi),
                                                               dtype=torch.float64))
    R = o3.rand_matrix(dtype=torch.float64)
    D = _D(irreps, R)
    assert torch.allclose(ref(r @ R.T), y @ D.T, atol=1e-12)
    # A closed form: Y_2's middle component is sqrt(5/16π)(3y² − 1), y being e3nn's polar axis.
    assert torch.allclose(y[:, 6], math.sqrt(5 / (16 * math.pi)) * (3 * u[:, 1] ** 2 - 1), atol=1e-13)


def _D(irreps, R):
    from tpbench.kernel import default_dtype

    with default_dtype(torch.float64):
        return irreps.D_from_matrix(R)


@pytest.mark.parametrize("normalization, ratio", [("component", 4 * math.pi), ("norm", 4 * math.pi / 5)])
def test_normalisations_scale_each_degree(normalization, ratio):
    assert degree_factor(normalization, 2) ** 2 == pytest.approx(ratio)
    r = torch.randn(5, 3, dtype=torch.float64)
    a, b = ReferenceSH(o3.Irreps("0e+1o+2e"), normalization)(r), ReferenceSH(o3.Irreps("0e+1o+2e"))(r)
    assert torch.allclose(a[:, 4:], b[:, 4:] * degree_factor(normalization, 2))


@pytest.mark.parametrize("kernel", [k for k in sh_kernels.KERNELS if k.available() is None and "cpu" in k.devices],
                         ids=lambda k: k.name)
def test_every_cpu_sh_kernel_passes_its_gate(kernel):
    p = make_problem("sh", L=3, batch=64, dtype="float64")  # cuEquivariance builds L=4 in ~14 s
    gate = run_gate(kernel, p, build_module(kernel, p, "cpu"), "cpu", PASSES)
    assert not gate.failures and not gate.crashed, (gate.failures, gate.crashed)
    assert max(gate.errors.values()) < 1e-12


def test_a_kernel_in_another_normalisation_than_it_declares_fails():
    class Mislabelled(sh_kernels.E3nnSH):
        name = "sh-e3nn-integral-labelled-component"

        def build(self, problem, device, dtype):
            return o3.SphericalHarmonics(problem.out, normalize=True, normalization="integral").to(dtype=dtype)

    p = make_problem("sh", L=2, batch=16, dtype="float64")
    k = Mislabelled()
    gate = run_gate(k, p, build_module(k, p, "cpu"), "cpu", ["fwd"])
    assert "fwd" in gate.failures
    assert gate.output_variance[0] == pytest.approx(1 / (4 * math.pi))  # what it really computes shows


def test_sh_problems_and_kernels_refuse_what_they_cannot_do():
    with pytest.raises(UserError, match="L must be"):
        make_problem("sh", L=-1)
    tp = make_problem("mimo", L=1)
    assert all(k.supports(tp, "cpu") for k in sh_kernels.KERNELS)
    custom = make_problem("sh", L=2).replace(irreps_out="2x0e+1x1o")
    assert all("s2(L)" in k.supports(custom, "cpu") for k in sh_kernels.KERNELS)
