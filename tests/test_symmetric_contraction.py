"""MACE's symmetric contraction: the basis against the character count, the oracle by hand, the kernels' gate."""

import itertools
import math

import pytest
import torch

from tpbench.oracle.correctness import run_gate
from tpbench.spec.errors import UserError
from tpbench.oracle.inputs import make_inputs
from tpbench.spec.passes import pass_function
from tpbench.kernel import build_module
from tpbench.oracle.references.symmetric import ReferenceSymmetricContraction, invariant_count, sc_layout, symmetric_basis
from tpbench.spec.shapes import make_problem, symmetric_contraction, symmetric_contraction_model
from tpbench_kernels.symmetric.contraction import CueSC, TorchSC, cue_weight_map

PASSES = ["fwd", "fwd+bwd", "fwd+bwd+bwd"]
E0, O1, E1, E2, O2, O3 = (0, 1), (1, -1), (1, 1), (2, 1), (2, -1), (3, -1)


@pytest.mark.parametrize("ins,out,nu", [((E0, O1), E0, 2), ((E0, O1), E0, 3), ((E0, O1), E0, 4), ((E0, O1), O1, 3),
                                        ((E0, O1, E2), E2, 3), ((E0, O1, E2), E1, 3), ((O1,), E2, 2),
                                        ((E0, O1, E2, O3), O1, 2)])
def test_basis_size_is_the_character_count_and_the_basis_is_orthonormal_and_symmetric(ins, out, nu):
    U = symmetric_basis(ins, out, nu)
    assert U.shape[0] == invariant_count(ins, out, nu)
    flat = U.reshape(U.shape[0], -1)
    assert torch.allclose(flat @ flat.T, torch.eye(U.shape[0], dtype=torch.float64), atol=1e-12)
    for p in itertools.permutations(range(nu)):
        assert torch.allclose(U.permute(0, *(i + 1 for i in p), nu + 1), U, atol=1e-12)


def test_character_count_by_hand():
    """Sym²(1o) = 0e + 2e (no 1e: that is the antisymmetric part); Sym³(1o) = 1o + 3o."""
    assert [invariant_count((O1,), ir, 2) for ir in (E0, E1, E2)] == [1, 0, 1]
    assert [invariant_count((O1,), ir, 3) for ir in (O1, (2, -1), O3, E0)] == [1, 0, 1, 0]


def test_reference_by_hand_the_square_of_a_vector():
    """1o features, correlation 2, output 0e: the one basis tensor is δ_ij/√3, so B = W |a|² / √3."""
    problem = symmetric_contraction(2, 1, 0, correlation=2, num_elements=3, batch=5, dtype="float64")
    problem = problem.replace(irreps_in1="2x1o")
    L = sc_layout(problem)
    assert L.n_basis == 1  # ν = 1 has no 1o -> 0e map
    A = torch.randn(5, 6, dtype=torch.float64)
    species = torch.tensor([0, 2, 1, 2, 0])
    w = torch.randn(L.weight_numel, dtype=torch.float64)
    got = ReferenceSymmetricContraction(problem)(A, species, w)
    U = symmetric_basis(L.ins, L.outs[0], 2)
    sign = torch.sign(U[0, 0, 0, 0])
    norms = A.reshape(5, 2, 3).pow(2).sum(-1)
    want = sign * w.reshape(3, 1, 2)[species, 0] * norms / math.sqrt(3)
    assert torch.allclose(got, want, atol=1e-12)


# cuEquivariance builds its descriptor in seconds per module on this CPU: fewer, smaller cases for it.
CASES = [(TorchSC(), args, dtype) for args in [(3, 1, 1, 2, 4, False), (2, 1, 1, 3, 5, True), (2, 1, 0, 4, 3, False)]
         for dtype in ("float64", "float32")]
CASES += [(CueSC("naive"), (3, 1, 1, 2, 4, False), "float64"), (CueSC("naive"), (2, 1, 1, 3, 5, True), "float32")]


@pytest.mark.parametrize("kernel,args,dtype", CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_kernels_pass_the_gate(kernel, args, dtype):
    problem = symmetric_contraction(*args, batch=40, dtype=dtype)
    result = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", PASSES)
    assert not result.failures and not result.crashed, (result.failures, result.crashed)
    assert {"rotation", "inversion", "fwd+bwd+bwd"} <= set(result.errors)


def test_a_wrong_kernel_fails_the_gate():
    problem = symmetric_contraction(3, 1, 1, 2, 4, batch=40, dtype="float64")
    kernel = TorchSC()
    module = build_module(kernel, problem, "cpu")
    module.U2[3] *= 1.001  # one basis entry off by 0.1%
    assert "fwd" in run_gate(kernel, problem, module, "cpu", ["fwd"]).failures


def test_species_are_integers_sorted_on_request_and_get_no_gradient():
    for sorted_ in (False, True):
        problem = symmetric_contraction(2, 1, 1, 2, 7, sorted=sorted_, batch=50, dtype="float64")
        native = TorchSC().native(problem)
        A, species, w = make_inputs(native, 50, torch.Generator().manual_seed(0))
        assert species.dtype == torch.int64 and species.min() >= 0 and species.max() < 7
        assert bool((species.diff() >= 0).all()) == sorted_ or not sorted_
        module = build_module(TorchSC(), problem, "cpu")
        grads = pass_function(module, "fwd+bwd+bwd", [A, species, w])()
        assert grads[1] is None and grads[0].shape == A.shape and grads[2].shape == w.shape
    assert bool((make_inputs(TorchSC().native(symmetric_contraction(2, 1, 1, 2, 7, sorted=True, batch=50)), 50,
                             torch.Generator().manual_seed(1))[1].diff() >= 0).all())


def test_cue_basis_spans_the_same_space():
    L = sc_layout(symmetric_contraction(3, 1, 1, 2, 1))
    M, residual = cue_weight_map(L)
    assert residual < 1e-10
    assert M.shape[1] == L.n_basis and torch.linalg.matrix_rank(M) == L.n_basis


def test_mace_mp_models():
    p = symmetric_contraction_model("mace-mp-medium")
    assert (p.irreps_in1, p.irreps_out) == ("128x0e+128x1o+128x2e+128x3o", "128x0e+128x1o")
    assert dict(p.params)["correlation"] == 3 and dict(p.params)["num_elements"] == 89
    assert symmetric_contraction_model("mace-mp-large").irreps_out == "128x0e+128x1o+128x2e"
    assert p.id != symmetric_contraction_model("mace-mp-medium", sorted=True).id


@pytest.mark.parametrize("params", [dict(mul=2, L_in=1, L_out=0, correlation=5), dict(mul=2, L_in=1, L_out=0,
                                    num_elements=0), dict(mul=2, L_in=1, L_out=0, sorted="yes"),
                                    dict(mul=0, L_in=1, L_out=0), dict(mul=2, L_in=1)])
def test_bad_parameters_are_user_errors(params):
    with pytest.raises(UserError):
        make_problem("symmetric_contraction", **params)
    with pytest.raises(UserError):
        make_problem("symmetric_contraction_model", name="mace-mp-huge")


def test_measured_reach_per_correlation_order_matches_the_character_count():
    from tpbench.metrics.reach import sc_measured

    rows = sc_measured(TorchSC(), symmetric_contraction(2, 1, 1, 3, 4))
    assert [(r["out"], r["nu"]) for r in rows] == [("0e", 1), ("0e", 2), ("0e", 3), ("1o", 1), ("1o", 2), ("1o", 3)]
    assert all(r["reached"] == r["theory"] for r in rows) and sum(r["theory"] for r in rows) > 6


def test_measured_reach_sees_a_kernel_that_drops_a_basis_element():
    from tpbench.metrics.reach import sc_measured

    class Lossy(TorchSC):
        def build(self, problem, device, dtype):
            module = super().build(problem, device, dtype)
            module.U3[:, 0] = 0  # the first ν = 3 equivariant never reaches the output
            return module

    rows = sc_measured(Lossy(), symmetric_contraction(1, 1, 0, 3, 1))
    nu3 = next(r for r in rows if r["nu"] == 3)
    assert nu3["reached"] == nu3["theory"] - 1


def test_cue_reaches_every_equivariant_through_its_weight_map():
    from tpbench.metrics.reach import sc_measured

    rows = sc_measured(CueSC("naive"), symmetric_contraction(3, 1, 1, 2, 4))
    assert rows and all(r["reached"] == r["theory"] for r in rows)
