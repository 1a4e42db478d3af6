"""mace-torch next to the tpbench model block: energy + forces on the same crystal (not a test).

Needs mace-torch (optional; see the README: installed with ``--no-deps`` over tpbench's e3nn).
Builds ``mace.modules.MACE`` with the block's config (hidden irreps, harmonics to l = 3,
correlation 3, r_max = the graph's cutoff, 8 Bessel functions, radial MLP [64, 64, 64],
one element, random weights) and times, interleaved in one run, energy + forces of:

* MACE with one interaction (its first layer: a scalar ``128x0e`` node input, then the
  product basis to the hidden irreps), and with two (the second layer takes the hidden irreps);
* the tpbench block ``block+conv-e3nn+torch-sc+sh-e3nn`` (a layer with hidden-irreps input).

First, in float64 on the crystal (``--check-atoms``), MACE's second interaction + product + linear
readout (of a 3-interaction model with the block's radial depth; its residual skip TP left out) is
written as the block's weights (:mod:`tpbench_kernels.model.mace_map`) and the per-atom energies and
forces are compared: they agree to ~1e-15. The timed MACE models are the MACE-MP recipe (radial MLP
[64, 64, 64], first layer without residual): what a user runs, not the block.

Usage: ``python benchmarks/mace_crosscheck.py --config mace-mp-small --atoms 512 --rounds 5``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from tpbench.kernel import build_module
from tpbench.spec.graphs import build_atoms, reps_for
from tpbench.spec.model_block import BLOCK_CONFIGS, model_block

from block_prediction import crystal, energy_forces, kernels  # noqa: E402  (same folder)
from interleave import interleaved_medians  # same folder


def mace_model(config: str, r_max: float, interactions: int, cueq: bool = False):
    from e3nn import o3
    from mace import modules

    mul, L_hidden, L_sh, nu, radial, bessel = BLOCK_CONFIGS[config]
    hidden = "+".join(f"{mul}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(L_hidden + 1))
    return modules.MACE(
        r_max=r_max, num_bessel=bessel, num_polynomial_cutoff=5, max_ell=L_sh,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticInteractionBlock"],
        num_interactions=interactions, num_elements=1, hidden_irreps=o3.Irreps(hidden),
        MLP_irreps=o3.Irreps("16x0e"), atomic_energies=np.zeros(1), avg_num_neighbors=86.0,
        atomic_numbers=[6], correlation=nu, gate=torch.nn.functional.silu,
        radial_MLP=[radial] * 3, **({"cueq_config": cueq_config()} if cueq else {}))


def cueq_config():
    from mace.modules.wrapper_ops import CuEquivarianceConfig

    return CuEquivarianceConfig(enabled=True, layout="ir_mul", group="O3_e3nn", optimize_all=True)


def check_float64(config: str, atoms: int) -> None:
    """MACE's layer and the block on the same weights, float64: relative errors of energies and forces."""
    from tpbench.oracle.references import reference_for
    from tpbench.spec.precision import default_dtype
    from tpbench_kernels.model import mace_map

    p = model_block(config, "diamond", atoms, dtype="float64")
    with default_dtype(torch.float64):
        torch.manual_seed(0)
        model = mace_map.mace_model(p)
    w, residual = mace_map.block_weights(model, p)
    pos, shifts = crystal(p)
    g = dict(p.graph)
    from tpbench.spec.graphs import build_graph

    graph = build_graph(g["structure"], int(g["reps"]), float(g["cutoff"]), g["order"])
    snd, rcv = torch.as_tensor(graph.senders), torch.as_tensor(graph.receivers)
    h = torch.randn(len(pos), p.in1.dim - 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def ef(f):
        x = pos.clone().requires_grad_(True)
        e = f(x)
        return e.detach(), -torch.autograd.grad(e.sum(), x)[0]

    e0, F0 = ef(lambda x: mace_map.mace_layer_energy(model, x, h, snd, rcv, shifts))
    e1, F1 = ef(lambda x: reference_for("model_block", p)(torch.cat([x, h], 1), shifts, w))
    rel = lambda a, b: ((a - b).norm() / b.norm()).item()  # noqa: E731
    print(f"float64, {config}, {p.batch} atoms, {len(snd)} edges: MACE layer vs tpbench block (reference) — "
          f"energies {rel(e1, e0):.1e}, forces {rel(F1, F0):.1e} (SC basis fit residual {residual:.1e})")


def cueq_model(model):
    """The same MACE with mace-torch's cuEquivariance backend (``mace.cli.convert_e3nn_cueq``), or None."""
    try:
        from mace.cli.convert_e3nn_cueq import run

        return run(model, device="cpu", return_model=True)
    except Exception as exc:  # optional: cuequivariance-torch missing or the converter failing
        print(f"mace-torch cuEquivariance backend not timed: {type(exc).__name__}: {exc}")
        return None


def mace_batch(structure: str, atoms: int, r_max: float):
    from mace import data, tools
    from torch_geometric.batch import Batch  # mace vendors torch_geometric as mace.tools.torch_geometric

    config = data.config_from_atoms(build_atoms(structure, reps_for(structure, atoms)))
    item = data.AtomicData.from_config(config, z_table=tools.AtomicNumberTable([6]), cutoff=r_max)
    return Batch.from_data_list([item])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="mace-mp-small")
    ap.add_argument("--atoms", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check-atoms", type=int, default=64)
    ap.add_argument("--cueq", action="store_true", help="also time MACE with its cuEquivariance backend")
    args = ap.parse_args()
    try:
        import mace  # noqa: F401
    except ImportError:
        raise SystemExit("mace-torch is not installed (optional; see the README)")
    torch.set_num_threads(args.threads)
    check_float64(args.config, args.check_atoms)
    p = model_block(args.config, "diamond", args.atoms)
    r_max = float(dict(p.graph)["cutoff"])
    try:
        batch = mace_batch("diamond", args.atoms, r_max)
    except ImportError:
        from mace.tools.torch_geometric.batch import Batch
        from mace import data, tools

        config = data.config_from_atoms(build_atoms("diamond", reps_for("diamond", args.atoms)))
        batch = Batch.from_data_list([data.AtomicData.from_config(
            config, z_table=tools.AtomicNumberTable([6]), cutoff=r_max)])
    print(f"{args.config}: {p.batch} atoms; MACE graph {batch.edge_index.shape[1]} edges, "
          f"tpbench graph {dict(p.graph)['edges']} edges; {torch.get_num_threads()} threads")

    fns = {}
    for n in (1, 2):
        model = mace_model(args.config, r_max, n).float()
        d = batch.to_dict()

        def run(model=model, d=d):
            out = model(dict(d), training=False, compute_force=True)
            return out["energy"], out["forces"]
        fns[f"mace-torch, {n} interaction{'s' * (n > 1)}"] = run
        if n == 2 and args.cueq:
            cueq = cueq_model(model)
            if cueq is not None:
                E0, E1 = run()[0], cueq(dict(d), training=False, compute_force=True)["energy"]
                print(f"mace-torch cuEquivariance backend (CPU: its naive path) vs e3nn backend, same weights, "
                      f"float32: energy rel. difference {((E1 - E0).abs() / E0.abs()).max().item():.1e}")
            else:  # the converter failed: the same recipe built with the backend, its own random weights
                cueq = mace_model(args.config, r_max, n, cueq=True).float()
                print("mace-torch cuEquivariance backend: built directly (other random weights; timed only)")
                fns["mace-torch, 2 interactions, cuEquivariance"] = (
                    lambda m=cueq, d=d: tuple(m(dict(d), training=False, compute_force=True)[k]
                                              for k in ("energy", "forces")))
    block = kernels(["conv-e3nn"])["conv-e3nn"]
    module = build_module(block, p, "cpu")
    pos, shifts = crystal(p)
    gen = torch.Generator().manual_seed(1)
    native = block.native(p)
    h = torch.randn(len(pos), native.irreps_in1.dim - 3, generator=gen).float()
    w = torch.randn(native.weight_numel, generator=gen).float()
    fns[block.name] = lambda: energy_forces(module, pos.float(), h, shifts.float(), w)
    med = interleaved_medians(fns, args.rounds, warmup=2)
    print(f"energy + forces, median of {args.rounds} interleaved rounds (shared CPU):")
    for k, s in med.items():
        print(f"  {k:<45} {s * 1e3:9.1f} ms  {s / med[block.name]:5.2f}x the block")


if __name__ == "__main__":
    main()
