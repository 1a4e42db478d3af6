"""Native PyTorch equivariant linear layer and gate, written for speed.

``torch-linear`` (operation ``linear``, e3nn ``o3.Linear``)
    For each irrep type ``ir`` the input blocks of that type are stacked along
    the channel axis, ``X_ir[b, k, u]`` (``u`` over all their channels), and

        Z_ir = X_ir W_ir,   W_ir[(i, u), (j, w)] = alpha_j W^{(i, j)}_{u w}

    with ``alpha_j = fan_in(j)^{-1/2}`` (e3nn's element normalisation) —
    one matrix product per irrep type on a ``(batch · dim, mul_in)`` view.
    Sizes: ``linear(mul, L)``: ``L + 1`` products of ``(B (2l+1)) × mul`` by
    ``mul × mul``. Cost: ``2 B sum_ir dim(ir) mul_in(ir) mul_out(ir)`` FLOPs —
    ``2 B mul^2 (L + 1)^2`` for ``linear(mul, L)``; that is the FLOP rule.
    Paths: every pair of input and output blocks of the same irrep.

``torch-gate`` (operation ``gate``, e3nn ``nn.Gate``)
    ``scalars -> c_f f(scalars)`` (``f = silu`` for even, ``tanh`` for odd
    scalars), ``gated_{u k} -> c_s sigmoid(g_u) gated_{u k}``, the constants
    ``c`` being e3nn's second-moment normalisation. The gates are expanded to
    one per gated component by a single index, so the gating is one multiply.
    Sizes: ``gate(mul, L)``: ``mul`` scalars, ``L mul`` gates,
    ``mul ((L+1)^2 - 1)`` gated components. FLOP rule: 4 per activated scalar
    or gate (the activation and its scale), 1 per gated component.
    No paths (not bilinear).
"""

from __future__ import annotations

import torch
from e3nn import o3

from tpbench.kernel.base import Kernel
from tpbench.spec.problem import Problem
from tpbench.oracle.references.layers import gate_constants
from tpbench.spec.layers import gate_split, gate_unsupported, linear_instructions
from tpbench.spec.work import linear_flops


class TorchLinear(torch.nn.Module):
    """``module(x, w)``, ``w`` flattened in e3nn's order (instruction by instruction, ``(mul_in, mul_out)``)."""

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps):
        super().__init__()
        self.irreps_in, self.irreps_out = irreps_in, irreps_out
        instructions = linear_instructions(irreps_in, irreps_out)
        offsets, off = [], 0
        for i, j, _ in instructions:
            offsets.append(off)
            off += irreps_in[i].mul * irreps_out[j].mul
        self.groups = []  # per irrep type: input blocks, output blocks, (i, j, alpha, offset)
        for ir in sorted({ir for _, ir in irreps_out}):
            ins = [i for i, (_, a) in enumerate(irreps_in) if a == ir]
            outs = [j for j, (_, b) in enumerate(irreps_out) if b == ir]
            weights = [(i, j, a, o) for (i, j, a), o in zip(instructions, offsets) if irreps_out[j].ir == ir]
            self.groups.append((ir, ins, outs, weights))
        self.in_slices, self.out_slices = list(irreps_in.slices()), list(irreps_out.slices())

    def weight_matrix(self, w: torch.Tensor, ins: list[int], outs: list[int], weights) -> torch.Tensor:
        """``W_ir``: blocks ``alpha_j W^{(i, j)}`` at (input rows of ``i``, output columns of ``j``)."""
        lookup = {(i, j): (a, o) for i, j, a, o in weights}
        rows = []
        for i in ins:
            cols = []
            for j in outs:
                mi, mo = self.irreps_in[i].mul, self.irreps_out[j].mul
                a, o = lookup[(i, j)]
                cols.append(a * w[o:o + mi * mo].view(mi, mo))
            rows.append(torch.cat(cols, dim=1) if len(cols) > 1 else cols[0])
        return torch.cat(rows, dim=0) if len(rows) > 1 else rows[0]

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        pieces: dict[int, torch.Tensor] = {}
        for ir, ins, outs, weights in self.groups:
            if not ins:
                for j in outs:
                    pieces[j] = x.new_zeros(B, self.irreps_out[j].dim)
                continue
            blocks = [x[:, self.in_slices[i]].view(B, -1, ir.dim) for i in ins]
            X = torch.cat(blocks, dim=1) if len(blocks) > 1 else blocks[0]
            W = self.weight_matrix(w, ins, outs, weights)
            if ir.dim == 1:  # scalars: already a (B, mul) matrix
                Z = (X.view(B, -1) @ W).view(B, -1, 1)
            else:  # (B, mul, d) -> (B, d, mul): channels last so batch and components fold into GEMM rows
                Z = (X.transpose(1, 2).reshape(B * ir.dim, -1) @ W).view(B, ir.dim, -1).transpose(1, 2)
            start = 0
            for j in outs:
                mo = self.irreps_out[j].mul
                pieces[j] = Z[:, start:start + mo].reshape(B, -1)
                start += mo
        return torch.cat([pieces[j] for j in range(len(self.irreps_out))], dim=1)


class TorchLinearKernel(Kernel):
    """e3nn ``o3.Linear`` as one GEMM per irrep type."""

    name = "torch-linear"
    family = "linear"
    backend = "torch"
    operation = "linear"

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "linear" or problem.weights != "shared":
            return "linear layers with shared weights only"
        return super().supports(problem, device)

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return TorchLinear(problem.in1, problem.out).to(device=device, dtype=dtype)

    def flops(self, problem: Problem) -> float:
        return linear_flops(problem)


class TorchGate(torch.nn.Module):
    """``module(x)``: activated scalars, then gated irreps times their (activated) gates."""

    def __init__(self, problem: Problem):
        super().__init__()
        scalars, gates, gated = gate_split(problem)
        cst = gate_constants()
        # Runs of scalars with one activation, so each run is one call.
        self.runs = []
        for (mul, ir), sl in zip(scalars, scalars.slices()):
            fn, c = (torch.nn.functional.silu, cst["silu"]) if ir.p == 1 else (torch.tanh, cst["tanh"])
            if self.runs and self.runs[-1][0] is fn and self.runs[-1][2] == sl.start:
                self.runs[-1][2] = sl.stop
            else:
                self.runs.append([fn, sl.start, sl.stop, c])
        self.n_scalars, self.n_gates = scalars.dim, gates.dim
        self.c_gate = cst["sigmoid"]
        # Gate index of every gated component (mul_ir: channel u of a block repeats over its dim).
        index, g = [], 0
        for mul, ir in gated:
            index.append((torch.arange(mul) + g).repeat_interleave(ir.dim))
            g += mul
        self.register_buffer("gate_index", torch.cat(index) if index else torch.zeros(0, dtype=torch.long),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [c * fn(x[:, a:b]) for fn, a, b, c in self.runs]
        start = self.n_scalars + self.n_gates
        if self.gate_index.numel():
            gates = torch.sigmoid(x[:, self.n_scalars:start]) * self.c_gate
            parts.append(x[:, start:] * gates.index_select(1, self.gate_index))
        return torch.cat(parts, dim=1)


class TorchGateKernel(Kernel):
    """e3nn ``nn.Gate`` with one activation call per run of scalars and one gating multiply."""

    name = "torch-gate"
    family = "gate"
    backend = "torch"
    operation = "gate"
    bilinear = False

    def supports(self, problem: Problem, device: str) -> str | None:
        return gate_unsupported(problem) or super().supports(problem, device)

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return TorchGate(problem).to(device=device, dtype=dtype)

    def flops(self, problem: Problem) -> float:
        scalars, gates, gated = gate_split(problem)
        return float(problem.batch * (4 * (scalars.dim + gates.dim) + gated.dim))


KERNELS = [TorchLinearKernel(), TorchGateKernel()]
