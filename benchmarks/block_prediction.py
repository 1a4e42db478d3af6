"""Micro vs model: does a conv kernel's microbenchmark ratio predict its model-block ratio? (not a test)

For each conv kernel, the block ``block+CONV+torch-sc+sh-e3nn`` of ``--config`` on diamond
(``--atoms``, r_max 5 Å). First, in float64 on the real crystal (positions, periodic shifts; random
features and weights), every block's energy and forces are compared with the oracle
(:mod:`tpbench.oracle.references.block`) — on ``--check-atoms`` atoms, since the float64 oracle is
slow. Then, in float32, one interleaved round-robin run times, per kernel:

* micro: the conv alone at the block's shapes, ``fwd+bwd`` (gradients of node features, harmonics
  and per-edge weights, as the block's backward needs);
* block: energy + forces — ``E = sum_i e_i`` and its gradient with respect to positions and features
  (a layer after the first, whose features depend on the positions);
* stub: the baseline block with its conv replaced by a near-free stub of the same output shape
  (and, for where the rest goes, with its symmetric contraction stubbed instead);

and prints :func:`tpbench.metrics.block_prediction.predictions` (median times; the machine is
shared and drifts, so only ratios within this one run mean anything).

Usage: ``python benchmarks/block_prediction.py --config mace-mp-small --atoms 512 --rounds 5``.
"""

from __future__ import annotations

import argparse
import time

import torch

from tpbench.kernel import build_module
from tpbench.metrics.block_prediction import format_table, predictions
from tpbench.oracle.inputs import for_kernel, make_inputs
from tpbench.oracle.references import reference_for
from tpbench.spec.graphs import build_graph
from tpbench.spec.model_block import model_block, part_problems
from tpbench.spec.passes import pass_function
from tpbench_kernels.conv import convolution, harmonics
from tpbench_kernels.model import conv_variants
from tpbench_kernels.model.block import Block
from tpbench_kernels.symmetric import contraction
from interleave import interleaved_medians  # same folder

BASELINE = "conv-e3nn"
CONVS = ["conv-e3nn", "conv-unfused.e3nn-cg-channelwise", "conv-unfused.cg-sparse", "conv-unfused.torch-cg",
         "conv-cue-indexed.naive.mul_ir", "conv-unfused.cue-channelwise.naive.mul_ir"]


class StubConv(torch.nn.Module):
    """Same output shape as the conv, almost no work: one product per edge, scattered, broadcast."""

    def __init__(self, senders, receivers, n: int, d_out: int):
        super().__init__()
        self.senders, self.receivers, self.n, self.d_out = senders, receivers, n, d_out

    def forward(self, x, y, w=None):
        msg = x[self.senders, :1] * y[:, :1] * w[:, :1]
        return msg.new_zeros(self.n, 1).index_add(0, self.receivers, msg).expand(self.n, self.d_out)


class StubSC(torch.nn.Module):
    """Same output shape as the symmetric contraction, almost no work: the first column, broadcast."""

    def __init__(self, d_out: int):
        super().__init__()
        self.d_out = d_out

    def forward(self, A, index=None, w=None):
        return (A[:, :1] * w[:1]).expand(A.shape[0], self.d_out)


def crystal(problem):
    g = dict(problem.graph)
    graph = build_graph(g["structure"], int(g["reps"]), float(g["cutoff"]), g["order"])
    pos = torch.as_tensor(graph.positions)
    return pos, torch.as_tensor(graph.vectors) - (pos[graph.senders] - pos[graph.receivers])


def energy_forces(module, pos, h, shifts, w):
    nodes = torch.cat([pos, h], 1).requires_grad_(True)
    E = module(nodes, shifts, w).sum()
    return E.detach(), -torch.autograd.grad(E, nodes)[0]


def rel(a, b) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def kernels(names):
    sc = next(k for k in contraction.KERNELS if k.name == "torch-sc")
    sh = next(k for k in harmonics.KERNELS if k.name == "sh-e3nn")
    convs = [*convolution.KERNELS, *conv_variants.KERNELS]  # the Gaunt conv changes the model: say so
    return {n: Block(next(k for k in convs if k.name == n), sc, sh) for n in names}


def check_float64(blocks, config: str, atoms: int) -> None:
    p = model_block(config, "diamond", atoms, dtype="float64")
    ref = reference_for("model_block", p)
    pos, shifts = crystal(p)
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(len(pos), ref.native.irreps_in1.dim - 3, generator=gen, dtype=torch.float64)
    w = torch.randn(ref.native.weight_numel, generator=gen, dtype=torch.float64)
    E0, F0 = energy_forces(ref, pos, h, shifts, w)
    for name, k in blocks.items():
        if k.operation != "model_block":
            print(f"{name}: computes {k.operation} (changes the model): gated by `tpbench run`, not here")
            continue
        E, F = energy_forces(build_module(k, p, "cpu"), pos, h, shifts, w)
        print(f"float64 ({p.batch} atoms, {len(shifts)} edges) {name}: energy rel. error {rel(E, E0):.1e}, "
              f"forces+feature grads {rel(F, F0):.1e}")
        assert rel(E, E0) < 1e-10 and rel(F, F0) < 1e-10, name


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="mace-mp-small")
    ap.add_argument("--atoms", type=int, default=512)
    ap.add_argument("--check-atoms", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2, help="calls of each before timing (e3nn's TorchScript profiles)")
    ap.add_argument("--conv", action="append", help=f"conv kernels (default: {', '.join(CONVS)})")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.conv or CONVS
    blocks = {n: k for n, k in kernels(names).items() if not (k.available() or k.supports(
        model_block(args.config, "diamond", 8), "cpu"))}
    check_float64(blocks, args.config, args.check_atoms)

    p = model_block(args.config, "diamond", args.atoms)
    conv_p = part_problems(p)["conv"]
    print(f"{args.config} on diamond: {p.batch} atoms, {conv_p.batch} edges, avg degree "
          f"{dict(p.graph)['avg_degree']}; {torch.get_num_threads()} threads")
    pos, shifts = crystal(p)
    gen = torch.Generator().manual_seed(1)
    native = next(iter(blocks.values())).native(p)
    h = torch.randn(len(pos), native.irreps_in1.dim - 3, generator=gen).float()
    w = torch.randn(native.weight_numel, generator=gen).float()
    pos, shifts = pos.float(), shifts.float()

    fns = {}
    for name, k in blocks.items():
        t0 = time.perf_counter()
        conv_module = build_module(k.conv, conv_p, "cpu")
        x_conv = make_inputs(k.conv.native(conv_p), conv_p.batch, torch.Generator().manual_seed(2))  # its own shapes
        xs = for_kernel(x_conv, k.conv.native(conv_p), k.conv, torch.float32, "cpu", k.conv.weight_permutation(conv_p))
        fns[("micro", name)] = pass_function(conv_module, "fwd+bwd", xs)
        module = build_module(k, p, "cpu")
        wk = w if k.native(p).weight_numel == len(w) else torch.randn(  # the Gaunt block has its own weights
            k.native(p).weight_numel, generator=torch.Generator().manual_seed(3)).float()
        fns[("block", name)] = (lambda m, wk=wk: lambda: energy_forces(m, pos, h, shifts, wk))(module)
        if name == BASELINE:
            stubbed = build_module(k, p, "cpu")
            stubbed.conv = StubConv(stubbed.senders, stubbed.receivers, p.batch, conv_p.out.dim)
            fns[("stub", name)] = (lambda m: lambda: energy_forces(m, pos, h, shifts, w))(stubbed)
            no_sc = build_module(k, p, "cpu")
            no_sc.sc = StubSC(part_problems(p)["sc"].out.dim)
            fns[("stub-sc", name)] = (lambda m: lambda: energy_forces(m, pos, h, shifts, w))(no_sc)
        print(f"built {name} in {time.perf_counter() - t0:.1f} s")
    med = {key: s * 1e3 for key, s in interleaved_medians(fns, args.rounds, args.warmup).items()}
    micro = {n: med[("micro", n)] for n in blocks}
    block = {n: med[("block", n)] for n in blocks}
    print(f"median of {args.rounds} interleaved rounds; baseline {BASELINE}: block {block[BASELINE]:.1f} ms, "
          f"conv stubbed {med[('stub', BASELINE)]:.1f} ms, symmetric contraction stubbed "
          f"{med[('stub-sc', BASELINE)]:.1f} ms (fraction in the SC: {1 - med[('stub-sc', BASELINE)] / block[BASELINE]:.2f})")
    print(format_table(predictions(micro, block, med[("stub", BASELINE)], BASELINE)))
    print("changes the model: " + ", ".join(n for n, k in blocks.items() if k.operation != "model_block"))


if __name__ == "__main__":
    main()
