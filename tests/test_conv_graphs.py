"""Radius graphs of real structures: reproducible, of the known coordination, symmetric, hashed."""

import numpy as np
import pytest

from tpbench.spec.errors import UserError
from tpbench.spec.graphs import build_atoms, build_graph, neighbour_pairs, reps_for
from tpbench.spec.problem import Problem
from tpbench.spec.shapes import make_problem, mimo


def _fresh(*args):
    build_graph.cache_clear()
    return build_graph(*args)


def test_same_parameters_same_graph_and_hash():
    a, b = _fresh("water", 2, 4.0, "receiver"), _fresh("water", 2, 4.0, "receiver")
    assert a is not b and a.hash == b.hash
    assert np.array_equal(a.senders, b.senders) and np.array_equal(a.receivers, b.receivers)
    assert np.array_equal(a.vectors, b.vectors)
    assert _fresh("water", 2, 4.5, "receiver").hash != a.hash


@pytest.mark.parametrize("cutoff, degree", [(1.6, 4), (2.6, 16), (5.0, 86)])
def test_diamond_coordination_shells(cutoff, degree):
    # Diamond's shells: 4 at a√3/4 = 1.545 Å, 12 at a/√2 = 2.522 Å, then 12, 6, 12, 24, 16 up to 4.63 Å.
    g = build_graph("diamond", 2, cutoff)
    assert np.array_equal(np.bincount(g.receivers, minlength=g.num_nodes), np.full(g.num_nodes, degree))
    if degree == 4:
        assert np.allclose(np.linalg.norm(g.vectors, axis=1), 3.567 * np.sqrt(3) / 4)


def test_fcc_copper_has_twelve_nearest_neighbours():
    g = build_graph("fcc-cu", 2, 3.0)
    assert g.metadata()["avg_degree"] == 12
    assert np.allclose(np.linalg.norm(g.vectors, axis=1), 3.615 / np.sqrt(2))


def test_edges_are_symmetric_and_vectors_point_from_receiver_to_sender():
    g = build_graph("water-cluster", 3, 5.0)
    assert g.metadata()["atoms"] % 3 == 0 and len(g.senders) > 0
    pairs = set(zip(g.senders.tolist(), g.receivers.tolist()))
    assert pairs == set(zip(g.receivers.tolist(), g.senders.tolist()))
    # Not periodic: the vector is exactly r_sender - r_receiver, shorter than the cutoff.
    assert np.allclose(g.vectors, g.positions[g.senders] - g.positions[g.receivers])
    assert np.linalg.norm(g.vectors, axis=1).max() < 5.0
    assert not np.any(g.senders == g.receivers)


def test_water_box_is_water_at_liquid_density():
    atoms = build_atoms("water", 3)
    assert atoms.get_chemical_formula() == "H54O27"
    density = atoms.get_masses().sum() / 6.02214076e23 / (atoms.get_volume() * 1e-24)
    assert density == pytest.approx(1.0, rel=0.01)
    o, h1, h2 = atoms.positions.reshape(-1, 3, 3)[0]
    assert np.linalg.norm(h1 - o) == pytest.approx(0.97, abs=0.03)  # the O-H bond survives the rotation


def test_random_order_permutes_the_same_edges():
    a, b = build_graph("diamond", 1, 3.0, "receiver"), build_graph("diamond", 1, 3.0, "random")
    assert a.receivers_sorted and not b.receivers_sorted and a.hash != b.hash
    key = lambda g: sorted(zip(g.receivers.tolist(), g.senders.tolist(), np.round(g.vectors, 9).tolist()))
    assert key(a) == key(b)


def test_ase_and_matscipy_give_the_same_graph():
    pytest.importorskip("matscipy")
    atoms = build_atoms("fcc-cu", 2)

    def ordered(library):
        i, j, D = neighbour_pairs(atoms, 4.0, library)
        order = np.lexsort((D[:, 2], D[:, 1], D[:, 0], j, i))
        return i[order], j[order], D[order]

    (ia, ja, Da), (im, jm, Dm) = ordered("ase"), ordered("matscipy")
    assert np.array_equal(ia, im) and np.array_equal(ja, jm) and np.allclose(Da, Dm)


def test_reps_reach_the_requested_size():
    assert reps_for("diamond", 1000) == 5 and reps_for("fcc-cu", 100_000) == 29 and reps_for("water", 1) == 1


def test_conv_problem_records_its_graph_and_keys_by_it():
    p = make_problem("conv", structure="diamond", atoms=8, mul=4, L_hidden=1, L_sh=2, cutoff=3.0)
    graph = dict(p.graph)
    assert graph["atoms"] == 8 and graph["edges"] == p.batch == 8 * 28 and graph["receivers_sorted"]
    assert p.canonical()["graph"]["hash"] == build_graph("diamond", 1, 3.0).hash
    assert Problem.from_dict(p.to_dict()) == p
    q = make_problem("conv", structure="diamond", atoms=8, mul=4, L_hidden=1, L_sh=2, cutoff=3.0, order="random")
    assert q.id != p.id and q.batch == p.batch
    # Only conv problems carry a graph: every other problem's id is what it was before graphs existed.
    assert "graph" not in mimo(2).canonical()
    assert mimo(2, batch=1000).id == Problem.from_dict(mimo(2, batch=1000).to_dict()).id


@pytest.mark.parametrize("params, message", [
    (dict(structure="graphite"), "unknown structure"),
    (dict(atoms=0), "atoms must be"),
    (dict(cutoff=-1.0), "cutoff must be"),
    (dict(order="sideways"), "unknown edge order"),
    (dict(mul=0), "mul must be"),
])
def test_bad_conv_parameters_are_user_errors(params, message):
    base = dict(structure="diamond", atoms=8, mul=4, L_hidden=1, L_sh=2, cutoff=3.0)
    with pytest.raises(UserError, match=message):
        make_problem("conv", **{**base, **params})


def test_conv_model_refuses_a_fully_connected_layer_and_a_graphless_conv_is_refused():
    with pytest.raises(UserError, match="not a message-passing"):
        make_problem("conv-model", name="diffdock-l1", structure="diamond", atoms=8)
    with pytest.raises(UserError, match="needs a graph"):
        Problem("conv", "1x0e", "1x0e", "1x0e", connection="channelwise", weights="per-sample")
