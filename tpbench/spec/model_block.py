"""The ``model_block`` operation: one MACE-architecture layer on an atomic graph, energy out.

From microbenchmark to model: the block strings together the operations
tpbench times one by one, on one radius graph (:mod:`tpbench.spec.graphs`),
so that a kernel's micro speed-up can be held against its speed-up in a model.

Inputs (``N`` atoms, ``E`` directed edges ``e = (j -> i)``, ``j = senders[e]``,
``i = receivers[e]``):

* ``nodes (N, 3 + H.dim)``: irreps ``1x1o + H`` — each atom's position ``r``
  (Å) followed by its features ``h`` in the hidden irreps ``H``
  (``mul x s2(L_hidden)``; the input of a MACE layer after the first);
* ``shifts (E, 3)``: irreps ``1x1o`` — the periodic image offset of each edge;
* ``w``: one shared weight vector, the parts below in order (:func:`weight_sizes`).

Computation (``R`` = radial hidden width, ``n_b`` Bessel functions,
``p = 5``, ``r_max`` = the graph's cutoff, ``ν`` = correlation)::

    v_e   = r_j − r_i + shift_e,      d_e = |v_e|
    Y_e   = Y_0..L_sh(v_e / d_e)                     component normalisation (|Y_l|² = 2l+1)
    b_e,n = sqrt(2/r_max) sin(n π d_e / r_max) / d_e · u(d_e / r_max),   n = 1..n_b
    u(x)  = 1 − (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) − p(p+1)/2 x^(p+2)   (x < 1; 0 beyond)
    ρ_e   = silu(silu(b_e W1 / sqrt(n_b)) W2 / sqrt(R)) W3 / sqrt(R)     per-edge TP weights
    h'    = Linear_up(h)                                H -> H
    m_i   = 1/avg · sum_{e -> i} TP_channelwise(h'_j, Y_e, ρ_e)           the conv (``conv`` operation)
    A     = Linear(m)                                   conv irreps -> mul x s2(L_sh)
    B     = SC_ν(A)                                     -> H, one species (``symmetric_contraction``)
    e_i   = Linear_out(Linear(B))                       H -> H -> 1x0e

Output: ``(N, 1)`` per-atom energies ``e_i``; ``E = sum_i e_i``. ``avg`` is the
graph's mean degree (MACE's ``avg_num_neighbors``, from the data).

Passes (:mod:`tpbench.spec.passes`), honestly: ``fwd`` is the energy;
``fwd+bwd`` (a random cotangent on the per-atom energies; all ones is the
total energy) is energy + forces ``F = −∂E/∂r`` — the harness differentiates
every float input, so it also takes the features', the shifts' and the
weights' gradients, a little more than molecular dynamics needs;
``fwd+bwd+bwd`` is a training step through the forces (the weights'
gradient of a loss on the forces: double backward).

What a MACE model adds and this block leaves out: species embeddings (one
species), the residual skip TP, the non-linear readout MLP and the sum over
layers. The swappable operations are the edge harmonics (``sh``), the
convolution (``conv``) and the symmetric contraction; the linears and the
radial MLP are the problem's fixed definition.
"""

from __future__ import annotations

from typing import Any

from e3nn import o3

from tpbench.spec.errors import UserError
from tpbench.spec.graphs import build_graph, reps_for
from tpbench.spec.layers import linear_instructions
from tpbench.spec.paths import channelwise_paths
from tpbench.spec.problem import Problem

# name -> (mul, L_hidden, L_sh, correlation, radial hidden width, Bessel functions).
# MACE-MP foundation models: 128 channels, harmonics to l = 3, correlation 3, radial MLP [64, 64, 64], 8 Bessel.
BLOCK_CONFIGS: dict[str, tuple[int, int, int, int, int, int]] = {
    "tiny": (4, 1, 2, 2, 8, 4),
    "tiny-scalar": (4, 0, 2, 2, 8, 4),  # scalar hidden features, as MACE-MP-small: CG and Gaunt convs align
    "mace-mp-small": (128, 0, 3, 3, 64, 8),
    "mace-mp-medium": (128, 1, 3, 3, 64, 8),
    "mace-mp-large": (128, 2, 3, 3, 64, 8),
}
POLY_P = 5
PARAM_NAMES = ("config", "mul", "L_hidden", "L_sh", "correlation", "radial", "bessel", "avg_neighbors")


def _s2(L: int, mul: int = 1) -> str:
    return "+".join(f"{mul}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(L + 1))


def model_block(config: str, structure: str = "diamond", atoms: int = 512, cutoff: float = 5.0,
                order: str = "receiver", dtype: str = "float32") -> Problem:
    """The block of ``config`` (:data:`BLOCK_CONFIGS`) on ``structure``'s radius graph at ``cutoff`` (= r_max)."""
    if config not in BLOCK_CONFIGS:
        raise UserError(f"unknown model block config {config!r}; known: {', '.join(BLOCK_CONFIGS)}")
    if isinstance(atoms, bool) or not isinstance(atoms, int) or atoms < 1:
        raise UserError(f"atoms must be a positive integer, got {atoms!r}")
    mul, L_hidden, L_sh, nu, radial, bessel = BLOCK_CONFIGS[config]
    graph = build_graph(structure, reps_for(structure, atoms), cutoff, order)
    meta = graph.metadata()
    hidden = _s2(L_hidden, mul)
    params = (("config", config), ("structure", structure), ("atoms", meta["atoms"]), ("cutoff", float(cutoff)),
              ("order", order), ("mul", mul), ("L_hidden", L_hidden), ("L_sh", L_sh), ("correlation", nu),
              ("radial", radial), ("bessel", bessel), ("avg_neighbors", meta["avg_degree"]))
    p = Problem("model_block", f"1x1o+{hidden}", "1x0e", "1x1o", weights="shared", batch=meta["atoms"],
                dtype=dtype, family="model_block", params=params, graph=tuple(meta.items()))
    return p


def block_params(problem: Problem) -> dict[str, Any]:
    if problem.op != "model_block":
        raise UserError(f"not a model block: operation {problem.op!r}")
    return dict(problem.params)


def part_problems(problem: Problem) -> dict[str, Problem]:
    """The block's parts as tpbench problems on its graph: ``sh``, ``conv``, ``sc`` and the four linears."""
    from tpbench.spec.conv import conv_problem
    from tpbench.spec.shapes import channelwise, symmetric_contraction

    q = block_params(problem)
    mul, Lh, Ls, dt = q["mul"], q["L_hidden"], q["L_sh"], problem.dtype
    g = dict(problem.graph)
    tp = channelwise(mul, Lh, Ls, batch=1, dtype=dt)
    conv = conv_problem(tp, g["structure"], int(g["atoms"]), float(g["cutoff"]), g["order"], "conv", tp.params)
    if dict(conv.graph)["hash"] != g["hash"]:
        raise UserError(f"model block {problem.id}: its conv graph differs from the block's")
    hidden, a_irreps = _s2(Lh, mul), _s2(Ls, mul)

    def lin(i, o):
        return Problem("linear", i, o, weights="shared", batch=problem.batch, dtype=dt, family="linear")

    return {
        "sh": Problem("sh", "1x1o", _s2(Ls), batch=conv.batch, dtype=dt, family="sh", params=(("L", Ls),)),
        "conv": conv,
        "sc": symmetric_contraction(mul, Ls, Lh, q["correlation"], 1, False, problem.batch, dt),
        "up": lin(hidden, hidden),
        "mix": lin(conv.irreps_out, a_irreps),
        "post": lin(hidden, hidden),
        "readout": lin(hidden, "1x0e"),
    }


def linear_numel(p: Problem) -> int:
    return sum(p.in1[i].mul * p.out[j].mul for i, j, _ in linear_instructions(p.in1, p.out))


def tp_weight_numel(problem: Problem) -> int:
    conv = part_problems(problem)["conv"]
    return channelwise_paths(conv.in1, conv.in2, conv.out).weight_numel


def weight_sizes(problem: Problem, sc_numel: int, conv_numel: int | None = None,
                 conv_out: o3.Irreps | None = None) -> list[tuple[str, int]]:
    """The parts of the shared weight vector, in order; ``sc_numel``: the contraction's weight count.

    ``conv_numel`` / ``conv_out``: a conv of another operation (the Gaunt conv) has its own per-edge
    weight count and output irreps, hence its own radial output and ``mix`` linear.
    """
    q, parts = block_params(problem), part_problems(problem)
    R, nb = q["radial"], q["bessel"]
    mix = parts["mix"] if conv_out is None else mix_problem(problem, conv_out)
    return [("up", linear_numel(parts["up"])), ("radial1", nb * R), ("radial2", R * R),
            ("radial3", R * (conv_numel or tp_weight_numel(problem))), ("mix", linear_numel(mix)),
            ("sc", int(sc_numel)),
            ("post", linear_numel(parts["post"])), ("readout", linear_numel(parts["readout"]))]


def mix_problem(problem: Problem, conv_out) -> Problem:
    """The linear after a conv whose output irreps are ``conv_out``, to ``mul x s2(L_sh)``."""
    mix = part_problems(problem)["mix"]
    return Problem("linear", str(o3.Irreps(conv_out)), mix.irreps_out, weights="shared", batch=problem.batch,
                   dtype=problem.dtype, family="linear")


def split_weights(w, sizes: list[tuple[str, int]]) -> dict:
    """``w`` cut into the named parts of :func:`weight_sizes`."""
    out, offset = {}, 0
    for name, n in sizes:
        out[name] = w[offset:offset + n]
        offset += n
    if offset != w.shape[-1]:
        raise ValueError(f"model block weights: {w.shape[-1]} given, {offset} expected")
    return out


def hidden_irreps(problem: Problem) -> o3.Irreps:
    q = block_params(problem)
    return o3.Irreps(_s2(q["L_hidden"], q["mul"]))
