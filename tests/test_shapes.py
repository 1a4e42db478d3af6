import pytest
from e3nn import o3

from tpbench.spec import shapes
from tpbench.spec.errors import UserError
from tpbench.spec.paths import tp_paths
from tpbench.spec.problem import Problem


def test_pof_families_irreps():
    assert shapes.mimo(2).irreps_in1 == "1x0e+1x1o+1x2e"
    assert shapes.mimo(2).irreps_out == "1x0e+1x1o+1x2e+1x3o+1x4e"
    assert shapes.simo(3).irreps_in1 == "1x3o" and shapes.simo(3).out.lmax == 6
    assert shapes.siso(2).irreps_out == "1x2e"
    ap = shapes.mimo_ap(1).out
    assert {(ir.l, ir.p) for _, ir in ap} == {(l, p) for l in range(3) for p in (1, -1)}


@pytest.mark.parametrize("L,full,even", [(1, 6, 5), (2, 19, 14), (3, 44, 30), (4, 85, 55)])
def test_path_counts(L, full, even):
    assert len(tp_paths(shapes.mimo_ap(L)).paths) == full
    assert len(tp_paths(shapes.mimo(L)).paths) == even
    assert all((a.ir.l + b.ir.l + c.ir.l) % 2 == 0 for a, b, c in
               ((tp_paths(shapes.mimo(L)).irreps_in1[p.i1], tp_paths(shapes.mimo(L)).irreps_in2[p.i2],
                 tp_paths(shapes.mimo(L)).irreps_out[p.i_out]) for p in tp_paths(shapes.mimo(L)).paths))


def test_siso_odd_has_no_path_even_has_one():
    assert tp_paths(shapes.siso(3)).paths == ()
    assert len(tp_paths(shapes.siso(2)).paths) == 1


def test_channelwise_follows_mace_recipe():
    p = shapes.model("mace-large")
    paths = tp_paths(p)
    assert p.connection == "channelwise" and p.weights == "per-sample"
    assert p.out.dim == 9088  # the dimension the H100 anchors report for this shape
    assert paths.irreps_out == paths.irreps_out.sort().irreps  # sorted output
    assert all(p_.mode == "uvu" for p_ in paths.paths)
    e3nn = o3.TensorProduct(p.in1, p.in2, paths.irreps_out, paths.e3nn_instructions(),
                            shared_weights=False, internal_weights=False)
    assert e3nn.weight_numel == paths.weight_numel


def test_channelwise_family_reaches_sh_degree():
    p = shapes.channelwise(8, 1, 2)
    assert p.out.lmax == 2 and p.in1 == o3.Irreps("8x0e+8x1o")


def test_fully_connected_linear_gate():
    fc = shapes.fully_connected(4, 2)
    assert fc.weights == "shared" and fc.out == fc.in1
    assert shapes.linear(8, 1).weights == "shared"
    g = shapes.gate(4, 2)
    assert g.in1.dim == 4 + 8 + 4 * 3 + 4 * 5 and g.out.dim == 4 + 4 * 3 + 4 * 5


@pytest.mark.parametrize("name", list(shapes.MODEL_SHAPES))
def test_model_shapes_build(name):
    p = shapes.model(name, batch=10)
    assert len(tp_paths(p).paths) > 0


def test_problem_identity_is_stable_and_canonical():
    a = Problem("tp", "0e + 1o", "0e", "1o")
    b = Problem("tp", "1x0e+1x1o", "1x0e", "1x1o")
    assert a.id == b.id and a.irreps_in1 == "1x0e+1x1o"
    assert a.replace(batch=7).id != a.id
    assert Problem.from_dict(a.to_dict()) == a


@pytest.mark.parametrize("bad", ["1x9q", "2x", "banana"])
def test_malformed_irreps_named(bad):
    with pytest.raises(UserError, match="malformed irreps_in1"):
        Problem("tp", bad, "0e", "0e")


def test_bad_family_arguments():
    with pytest.raises(UserError, match="unknown shape family"):
        shapes.make_problem("mimoo", L=1)
    with pytest.raises(UserError, match="bad parameters"):
        shapes.make_problem("mimo", K=1)
    with pytest.raises(UserError, match="L must be"):
        shapes.make_problem("mimo", L=-1)


def test_mimo_all_covers_every_parity_combination():
    paths = tp_paths(shapes.mimo_all(1))
    combos = {(paths.irreps_in1[p.i1].ir.p, paths.irreps_in2[p.i2].ir.p) for p in paths.paths}
    assert combos == {(1, 1), (1, -1), (-1, 1), (-1, -1)}
    assert "0o x 0o -> 0e" in paths.path_labels()
