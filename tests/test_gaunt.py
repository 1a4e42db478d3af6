"""Gaunt-family kernels: correctness gate, mutual agreement, parity coverage, supports()."""

import numpy as np
import pytest
import torch

from tpbench.kernel.registry import Registry
from tpbench.oracle.correctness import run_gate
from tpbench.kernel.base import build_module
from tpbench.spec.problem import Problem
from tpbench.oracle.references import reference_for
from tpbench.spec.shapes import channelwise, linear, mimo, mimo_ap
from tpbench.math.sphere import exact_sizes, gl_grid, grid_sh
from tpbench_kernels.gaunt.tune import MARGIN
from tpbench_kernels.gaunt.grid import METHODS, DenseGrid

GAUNT = ["gaunt-grid", "gaunt-grid-sep", "gaunt-grid-sep-dft", "gaunt-fft", "gaunt-fft-direct"]
ALL = GAUNT + ["vector-gaunt-grid"]
KERNELS = {k.name: k for k in Registry.default().kernels.values() if k.name in ALL}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread avoids waiting on a second, often descheduled, worker."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tp(in1: str, in2: str, out: str) -> Problem:
    return Problem("tp", in1, out, in2, batch=16, dtype="float64")


def pair(problem: Problem, batch: int, seed: int, requires_grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Float64 inputs for both operands of ``problem``."""
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, irreps.dim, generator=gen, dtype=torch.float64, requires_grad=requires_grad)
                 for irreps in (problem.in1, problem.in2))


PROBLEMS = {
    **{f"mimo{L}": mimo(L, batch=16, dtype="float64") for L in (1, 2, 3, 4)},
    **{f"mimo-ap{L}": mimo_ap(L, batch=16, dtype="float64") for L in (1, 2, 4)},
    # both kinds in both inputs: all four parity combinations, 0o x 0o -> 0e included
    "mixed": tp("0e+0o+1o+1e+2e", "0o+1e+1o+2o", "0e+0o+1e+1o+2e+2o+3o+3e"),
    "odd-odd": tp("0o", "0o+1e", "0e+1o"),
    "scalars": tp("0o", "0o", "0e"),
    "pseudo-natural": tp("0o+1e", "1o+2e", "0e+0o+1e+1o+2e+2o+3e+3o"),
}


@pytest.mark.parametrize("problem", PROBLEMS.values(), ids=PROBLEMS.keys())
@pytest.mark.parametrize("name", ALL)
def test_gate(name, problem):
    kernel = KERNELS[name]
    assert kernel.supports(problem, "cpu") is None
    result = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd", "fwd+bwd"])
    assert not result.failures and not result.crashed, (result.errors, result.failures, result.crashed)
    assert max(result.errors.values()) < 1e-10


@pytest.mark.parametrize("problem", ["mixed", "mimo2"])
@pytest.mark.parametrize("name", ALL)
def test_double_backward(name, problem):
    """Mixed kinds (E/O split, autograd) and mimo(2) (the autotuned single-kind method)."""
    problem = PROBLEMS[problem]
    kernel = KERNELS[name]
    result = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd+bwd+bwd"])
    assert not result.failures and not result.crashed
    assert result.errors["fwd+bwd+bwd"] < 1e-10


@pytest.mark.parametrize("problem", [PROBLEMS[k] for k in ("mimo4", "mimo-ap4", "mixed")], ids=str)
def test_gaunt_kernels_agree(problem):
    x, y = pair(problem, 8, seed=1)
    with torch.no_grad():
        want = reference_for("gaunt", problem)(x, y)
        for name in GAUNT:
            got = build_module(KERNELS[name], problem, "cpu")(x, y)
            assert ((got - want).norm() / want.norm()).item() < 1e-10, name


def dense(problem: Problem, method: str) -> torch.nn.Module:
    """gaunt-grid's module for ``problem`` with ``method`` in both modes (no autotune)."""
    return DenseGrid(KERNELS["gaunt-grid"].plan(problem), torch.float64, method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("problem", ["mimo1", "mimo3", "mimo-ap2", "scalars", "pseudo-natural"])
def test_every_dense_method_passes_the_gate(method, problem):
    """Each candidate the autotune may pick, forced in both modes, passes fwd, fwd+bwd and the double backward."""
    problem = PROBLEMS[problem]
    result = run_gate(KERNELS["gaunt-grid"], problem, dense(problem, method), "cpu", ["fwd", "fwd+bwd", "fwd+bwd+bwd"])
    assert not result.failures and not result.crashed, (result.errors, result.failures, result.crashed)
    assert max(result.errors.values()) < 1e-10


@pytest.mark.parametrize("method", ["full", "split"])
def test_feature_major_inference_and_repeated_backward(method):
    """The in-place inference forward equals the autograd one, and a retained graph gives the same
    gradients twice (the backward works in place on its own buffers only)."""
    problem = PROBLEMS["mimo2"]
    module = dense(problem, method)
    x, y = pair(problem, 20, seed=4, requires_grad=True)
    with torch.no_grad():
        inference = module(x, y)
    out = module(x, y)
    assert torch.allclose(inference, out.detach(), rtol=0, atol=1e-14)
    cotangent = torch.randn(out.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    first = torch.autograd.grad(out, (x, y), cotangent, retain_graph=True)
    second = torch.autograd.grad(out, (x, y), cotangent)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert torch.allclose(first[0], torch.func.vjp(lambda a: module(a, y.detach()), x.detach())[1](cotangent)[0])


@pytest.mark.parametrize("method", ["full", "split"])
@pytest.mark.parametrize("problem", ["mimo1", "mimo-ap1"])
def test_feature_major_derivatives_pass_gradcheck(method, problem):
    """The hand-written backward, double backward (recomputed under create_graph), forward mode
    (``jvp``, as the expressivity metrics use it under ``vmap``) and undefined output gradients."""
    problem = PROBLEMS[problem]
    module = dense(problem, method)
    x, y = pair(problem, 6, seed=5, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x, y), check_forward_ad=True, check_batched_forward_grad=True)
    assert torch.autograd.gradgradcheck(module, (x, y))


def test_autotune_picks_a_candidate_per_mode_and_reports_it():
    """The build times every candidate in both modes, keeps the fastest (the default unless another is
    clearly faster) and says which ran."""
    problem = mimo(3, batch=300, dtype="float64")
    kernel = KERNELS["gaunt-grid"]
    module = build_module(kernel, problem, "cpu")
    assert module.tuned["rows"] == 300
    for mode in ("fwd", "grad"):
        times = module.tuned[mode]
        assert set(times) == set(METHODS) and all(0 < t < float("inf") for t in times.values())
        fastest = min(times, key=times.get)
        default = METHODS[0]
        assert module.method[mode] == (fastest if times[fastest] < (1 - MARGIN) * times[default] else default)
    assert kernel.effective_method(module) == (f"fwd={module.method['fwd']} grad={module.method['grad']} "
                                               "(autotuned at batch 300)")
    mixed = build_module(kernel, PROBLEMS["mixed"], "cpu")
    assert mixed.methods == ("mixed",) and kernel.effective_method(mixed) == "fwd=mixed grad=mixed"


def test_unknown_dense_method_is_refused():
    with pytest.raises(ValueError, match="not among"):
        dense(PROBLEMS["mixed"], "split")


@pytest.mark.parametrize("name", GAUNT)
@pytest.mark.parametrize("problem", [PROBLEMS[k] for k in ("mimo1", "mimo3", "mixed")], ids=str)
def test_batch_chunks_change_nothing(name, problem):
    """The cache-sized batch chunks give the unchunked result (a no-op for gaunt-grid's unchunked single-kind methods)."""
    module = build_module(KERNELS[name], problem, "cpu")
    x, y = pair(problem, 50, seed=3)
    with torch.no_grad():
        whole = module(x, y)
        module.rows = 7
        parts = module(x, y)
    assert (whole - parts).abs().max() < 1e-13


def test_zero_scalar_pair_is_computed():
    """0o x 0o -> 0e: the pseudo x pseudo product that three-combination schemes miss."""
    problem = tp("0o", "0o", "0e")
    x, y = torch.tensor([[2.0]], dtype=torch.float64), torch.tensor([[3.0]], dtype=torch.float64)
    for name in ALL:
        out = build_module(KERNELS[name], problem, "cpu")(x, y)
        assert torch.allclose(out, torch.tensor([[6.0 / np.sqrt(4 * np.pi)]], dtype=torch.float64)), name


def test_vector_gaunt_recovers_cross_product():
    """1o x 1o -> 1e: Gaunt has no such path; the vector kernel gives c (x × y) with one constant c."""
    problem = tp("1o", "1o", "1e")
    for name in GAUNT:
        assert "reachable" in KERNELS[name].supports(problem, "cpu")
    gen = torch.Generator().manual_seed(2)
    x, y = (torch.randn(6, 3, generator=gen, dtype=torch.float64) for _ in range(2))
    out = build_module(KERNELS["vector-gaunt-grid"], problem, "cpu")(x, y)
    ratio = out / torch.linalg.cross(x, y)
    assert out.abs().min() > 1e-3 and (ratio - ratio[0, 0]).abs().max() < 1e-10


def test_gaunt_coupling_vanishes_on_odd_paths():
    """∫ Y_l1 Y_l2 Y_l3 = 0 when l1+l2+l3 is odd (here 1 ⊗ 1 → 1 and 2 ⊗ 1 → 2), exactly on the grid."""
    nb, na = exact_sizes(2, 2, 2)
    _, w, _ = gl_grid(nb, na)
    Y = grid_sh(2, nb, na).reshape(nb * na, -1) * np.repeat(w * 2 * np.pi / na, na)[:, None] ** (1 / 3)
    for (a, b, c) in [((1, 4), (1, 4), (1, 4)), ((4, 9), (1, 4), (4, 9))]:
        G = np.einsum("ni,nj,nk->ijk", Y[:, slice(*a)], Y[:, slice(*b)], Y[:, slice(*c)])
        assert np.abs(G).max() < 1e-15


def test_mimo_ap_coverage():
    """Gaunt kernels reach the even-sum outputs only; the vector kernel adds the other parity."""
    problem = PROBLEMS["mimo-ap2"]
    gaunt, vector = KERNELS["gaunt-grid"].native(problem), KERNELS["vector-gaunt-grid"].native(problem)
    assert str(gaunt.irreps_out) == "1x0e+1x1o+1x2e+1x3o+1x4e"
    assert str(vector.irreps_out) == "1x0e+1x1e+1x1o+1x2e+1x2o+1x3e+1x3o+1x4e"
    assert "1o x 1o -> 1e" in vector.path_labels and "1o x 1o -> 1e" not in gaunt.path_labels


@pytest.mark.parametrize("name", ALL)
def test_unsupported_problems_give_reasons(name):
    kernel = KERNELS[name]
    for problem in (linear(2, 2), channelwise(4, 1, 2), tp("2x0e+1o", "0e", "0e"),
                    tp("0e+0e", "0e", "0e"), mimo(70)):
        reason = kernel.supports(problem, "cpu")
        assert isinstance(reason, str) and reason


@pytest.mark.parametrize("name", ALL)
def test_flops_positive_and_native_labels(name):
    problem = mimo(3)
    kernel = KERNELS[name]
    assert kernel.flops(problem) > 0
    native = kernel.native(problem)
    assert len(native.path_labels) == 2 * 0 + len(set(native.path_labels)) > 0
    assert native.irreps_out.dim == 49
