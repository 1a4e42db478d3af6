"""MACE's own symmetric contraction (mace-torch, optional) behind tpbench's gate, and its weight fit's guards."""

import sys

import pytest
import torch

from tpbench.kernel import build_module
from tpbench.oracle.correctness import run_gate
from tpbench.oracle.references.symmetric import sc_layout
from tpbench.spec.shapes import symmetric_contraction
from tpbench_kernels.symmetric import mace as mace_kernels
from tpbench_kernels.symmetric.mace import MaceSC, fit_weight_map

PASSES = ["fwd", "fwd+bwd", "fwd+bwd+bwd"]


def test_without_mace_torch_the_kernel_is_unavailable_with_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "mace.modules.symmetric_contraction", None)  # import now raises ImportError
    reason = MaceSC().available()
    assert reason and "mace-torch is not importable" in reason and "pip install --no-deps mace-torch" in reason
    assert MaceSC().supports(symmetric_contraction(2, 1, 1, 2, 3, batch=4), "cpu") == reason


def test_the_fit_refuses_a_basis_that_spans_less_or_leaves_the_span():
    gen = torch.Generator().manual_seed(0)
    P = torch.randn(200, 5, generator=gen, dtype=torch.float64)
    X = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    M, residual, rank = fit_weight_map(P @ X, P)  # a redundant basis (7 weights for 5 equivariants) is fine
    assert residual < 1e-12 and rank == 5 and torch.allclose(P @ X @ M, P, atol=1e-10)
    assert fit_weight_map(P[:, :4] @ X[:4], P)[2] == 4  # one equivariant never reached
    Q = P @ X
    Q[:, 0] += torch.randn(200, generator=gen, dtype=torch.float64)  # one polynomial outside the span
    assert fit_weight_map(Q, P)[1] > 1e-3


def test_weight_permutation_raises_when_the_fit_is_bad(monkeypatch):
    problem = symmetric_contraction(2, 1, 1, 2, 3, batch=4, dtype="float64")
    n = sc_layout(problem).n_basis
    good = torch.eye(n, dtype=torch.float64)
    monkeypatch.setattr(mace_kernels, "mace_weight_map", lambda L, reduced: (good, 2e-9, n))
    with pytest.raises(RuntimeError, match="misfit 2.0e-09"):
        MaceSC().weight_permutation(problem)
    monkeypatch.setattr(mace_kernels, "mace_weight_map", lambda L, reduced: (good, 0.0, n - 1))
    with pytest.raises(RuntimeError, match=f"rank {n - 1} of {n}"):
        MaceSC().weight_permutation(problem)


@pytest.mark.parametrize("kernel,args,dtype,basis", [
    (MaceSC(reduced=True), (3, 1, 1, 2, 4, False), "float64", "reduced-cg"),
    (MaceSC(reduced=True), (2, 1, 1, 3, 5, True), "float32", "reduced-cg"),
    (MaceSC(reduced=False), (2, 1, 0, 3, 3, False), "float64", "wigner-nj"),
], ids=lambda v: getattr(v, "name", str(v)))
def test_mace_passes_the_float64_gate_on_every_pass(kernel, args, dtype, basis):
    pytest.importorskip("mace")
    problem = symmetric_contraction(*args, batch=40, dtype=dtype)
    module = build_module(kernel, problem, "cpu")
    result = run_gate(kernel, problem, module, "cpu", PASSES)
    assert not result.failures and not result.crashed, (result.failures, result.crashed)
    assert {"rotation", "inversion", "fwd+bwd+bwd"} <= set(result.errors)
    assert kernel.effective_method(module) == basis


def test_a_wrong_weight_map_fails_the_gate(monkeypatch):
    pytest.importorskip("mace")
    problem = symmetric_contraction(3, 1, 1, 2, 4, batch=40, dtype="float64")
    kernel = MaceSC()
    M, residual, rank = mace_kernels.mace_weight_map(mace_kernels._key(sc_layout(problem)), True)
    wrong = M.clone()
    wrong[0, 0] *= 1.001
    monkeypatch.setattr(mace_kernels, "mace_weight_map", lambda L, reduced: (wrong, residual, rank))
    assert "fwd" in run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd"]).failures


def test_mace_reaches_every_equivariant_the_characters_count():
    pytest.importorskip("mace")
    from tpbench.metrics.reach import sc_measured

    rows = sc_measured(MaceSC(), symmetric_contraction(2, 1, 1, 3, 4))
    assert rows and all(r["reached"] == r["theory"] for r in rows)


def test_the_redundant_wigner_nj_basis_has_more_weights_than_equivariants():
    pytest.importorskip("mace")
    L = mace_kernels._key(sc_layout(symmetric_contraction(2, 1, 1, 3, 4)))
    M_reduced, _, _ = mace_kernels.mace_weight_map(L, True)
    M_nj, residual, rank = mace_kernels.mace_weight_map(L, False)
    assert M_reduced.shape == (L.n_basis, L.n_basis) and M_nj.shape[0] > L.n_basis
    assert residual < 1e-12 and rank == L.n_basis


def test_a_mace_layer_block_with_mace_torchs_contraction_passes_the_block_gate():
    pytest.importorskip("mace")
    from tpbench.spec.shapes import make_problem
    from tpbench_kernels.model import block

    kernel = next(k for k in block.KERNELS if k.name == "block+conv-e3nn+mace-sc+sh-e3nn")
    p = make_problem("model_block", config="tiny", atoms=8, dtype="float32")
    assert kernel.supports(p, "cpu") is None
    passes = ["fwd", "fwd+bwd"]  # energy and forces; the double backward is the SC gate's above
    result = run_gate(kernel, p, build_module(kernel, p, "cpu"), "cpu", passes)
    assert all(result.verdict(x) == ("ok", None) for x in passes), (result.errors, result.failures)
