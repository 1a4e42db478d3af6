"""Model-block kernels: the MACE layer of :mod:`tpbench.spec.model_block` built from registered kernels.

A block kernel is named ``block+CONV+SC+SH`` (``+`` separates the parts:
``[``, ``]`` and ``,`` mean other things to the CLI's kernel globs and
lists): the convolution from the conv kernel ``CONV`` (``conv-e3nn``,
``conv-unfused.<TP kernel>``, ``conv-cue-indexed.*`` …), the symmetric
contraction from ``SC`` (``torch-sc``, ``cue-sc.*``) and the edge harmonics
from ``SH`` (``sh-e3nn``, ``sh-cue.*``, ``sh-sphericart``). Each part is
called in its own layout and weight order; the conversions (layout
transposes, weight maps, the harmonics' normalisation factor) happen inside
the block and are part of what is timed, as they would be in a model.

A block computes the block's own math (operation ``model_block``) with a CG
conv kernel (operation ``conv``). Two other conv operations make other
blocks, each judged by its own float64 reference and labelled so in every
record (``describe()``):

* the channelwise Gaunt conv (``conv-gaunt-channelwise``,
  :mod:`tpbench_kernels.model.conv_variants`) makes ``model_block-gaunt``: it
  *changes the model* (``changes_model`` says what it drops), shown with a
  caveat wherever it is ranked;
* the stub conv makes ``model_block-stub-conv``, the block without its conv's
  cost (``stub_of: conv``): a measuring device for Amdahl's fraction, never ranked.

Any other conv operation (Gaunt or matrix products on ``conv-mimo``) is
refused. The linears (e3nn ``o3.Linear``) and the radial MLP are fixed.
"""

from __future__ import annotations

import math

import torch

from tpbench.kernel import Kernel, Native
from tpbench.kernel.base import build_module
from tpbench.oracle.references.sh import NORMALIZATIONS, degree_factor
from tpbench.spec.conv import graph_tensors
from tpbench.spec.layout import convert
from tpbench.spec.model_block import (POLY_P, block_params, mix_problem, part_problems, split_weights, tp_weight_numel,
                                      weight_sizes)
from tpbench.spec.problem import Problem
from tpbench.spec.gaunt_conv import expressivity
from tpbench_kernels.conv import convolution, harmonics
from tpbench_kernels.model import conv_variants
from tpbench_kernels.symmetric import contraction, mace

SEP = "+"
# conv operation -> the block operation it makes (the oracle the block is judged by)
BLOCK_OPERATIONS = {"conv": "model_block", "conv-gaunt-channelwise": "model_block-gaunt",
                    "conv-stub": "model_block-stub-conv"}


class Part(torch.nn.Module):
    """A kernel's module called on canonical (``mul_ir``, e3nn weight order) tensors."""

    def __init__(self, kernel: Kernel, problem: Problem, device: str, n_irreps_inputs: int):
        super().__init__()
        self.module = build_module(kernel, problem, device)
        native = kernel.native(problem)
        self.layout = kernel.layout
        self.irreps = list(native.input_irreps)[:n_irreps_inputs]
        self.out_irreps = native.irreps_out
        self.perm = kernel.weight_permutation(problem)

    def forward(self, *inputs: torch.Tensor, index: torch.Tensor | None = None,
                w: torch.Tensor | None = None) -> torch.Tensor:
        xs = [convert(t, irreps, "mul_ir", self.layout) for t, irreps in zip(inputs, self.irreps)]
        if index is not None:
            xs.append(index)
        if w is not None:
            if isinstance(self.perm, torch.Tensor):
                w = w[..., self.perm.to(w.device)]
            elif self.perm is not None:
                w = self.perm.forward(w)
            xs.append(w)
        return convert(self.module(*xs), self.out_irreps, self.layout, "mul_ir")


def radial(d: torch.Tensor, r_max: float, n_b: int, p: int = POLY_P) -> torch.Tensor:
    """The Bessel basis times the polynomial envelope (:mod:`tpbench.spec.model_block`), in the input's dtype."""
    n = torch.arange(1, n_b + 1, dtype=d.dtype, device=d.device) * (math.pi / r_max)
    x = (d / r_max).unsqueeze(-1)
    env = 1 + x ** p * (-(p + 1) * (p + 2) / 2 + x * (p * (p + 2) - x * p * (p + 1) / 2))
    return math.sqrt(2 / r_max) * torch.sin(n * d.unsqueeze(-1)) / d.unsqueeze(-1) * env * (x < 1)


class BlockModule(torch.nn.Module):
    """``module(nodes (N, 3 + H.dim), shifts (E, 3), w) -> (N, 1)`` per-atom energies."""

    def __init__(self, kernel: "Block", problem: Problem, device: str, dtype: torch.dtype):
        from e3nn import o3

        super().__init__()
        q, parts = block_params(problem), part_problems(problem)
        self.sh = Part(kernel.sh, parts["sh"], device, 1)
        self.sh_factor = [degree_factor("component", l) / degree_factor(NORMALIZATIONS[kernel.sh.operation], l)
                          for l in range(q["L_sh"] + 1)]
        self.conv = Part(kernel.conv, parts["conv"], device, 2)
        self.sc = Part(kernel.sc, parts["sc"], device, 1)
        conv_native = kernel.conv.native(parts["conv"])
        parts["mix"] = mix_problem(problem, conv_native.irreps_out)
        self.lin = torch.nn.ModuleDict({
            k: o3.Linear(parts[k].in1, parts[k].out, internal_weights=False, shared_weights=True).to(device, dtype)
            for k in ("up", "mix", "post", "readout")})
        self.sizes = weight_sizes(problem, kernel.sc.native(parts["sc"]).weight_numel, conv_native.weight_numel,
                                  conv_native.irreps_out)
        senders, receivers, n = graph_tensors(problem, device)
        self.register_buffer("senders", senders)
        self.register_buffer("receivers", receivers)
        self.register_buffer("species", torch.zeros(n, dtype=torch.long, device=device))
        self.r_max, self.n_b, self.R = float(dict(problem.graph)["cutoff"]), q["bessel"], q["radial"]
        self.inv_avg = 1.0 / float(q["avg_neighbors"])
        self.L_sh = q["L_sh"]

    def harmonics(self, v: torch.Tensor) -> torch.Tensor:
        Y = self.sh(v)
        if all(f == 1.0 for f in self.sh_factor):
            return Y
        scale = torch.cat([torch.full((2 * l + 1,), f) for l, f in enumerate(self.sh_factor)]).to(Y)
        return Y * scale

    def forward(self, nodes: torch.Tensor, shifts: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        W = split_weights(w, self.sizes)
        pos, h = nodes[:, :3], nodes[:, 3:]
        v = pos.index_select(0, self.senders) - pos.index_select(0, self.receivers) + shifts
        Y = self.harmonics(v)
        silu = torch.nn.functional.silu
        r = silu(radial(v.norm(dim=-1), self.r_max, self.n_b) @ W["radial1"].view(self.n_b, self.R)
                 * (1 / math.sqrt(self.n_b)))
        r = silu(r @ W["radial2"].view(self.R, self.R) * (1 / math.sqrt(self.R)))
        rho = r @ W["radial3"].view(self.R, -1) * (1 / math.sqrt(self.R))
        m = self.conv(self.lin["up"](h, W["up"]), Y, w=rho) * self.inv_avg
        B = self.sc(self.lin["mix"](m, W["mix"]), index=self.species, w=W["sc"])
        return self.lin["readout"](self.lin["post"](B, W["post"]), W["readout"])


class Block(Kernel):
    """The model block with the given conv, symmetric-contraction and harmonics kernels."""

    family = "model_block"
    bilinear = False

    def __init__(self, conv: Kernel, sc: Kernel, sh: Kernel):
        self.conv, self.sc, self.sh = conv, sc, sh

    @property
    def operation(self) -> str:  # type: ignore[override]
        return BLOCK_OPERATIONS.get(self.conv.operation, f"model_block with {self.conv.operation}")

    @property
    def stub(self) -> bool:
        return self.conv.operation == "conv-stub"

    def micro(self, problem: Problem) -> list[tuple[Problem, Kernel]]:
        """The microbenchmark of the swapped operation at this block's shapes: its conv on the block's graph."""
        if self.stub or problem.op != "model_block":
            return []
        return [(part_problems(problem)["conv"], self.conv)]

    @property
    def name(self) -> str:  # type: ignore[override]
        return SEP.join(("block", self.conv.name, self.sc.name, self.sh.name))

    @property
    def backend(self) -> str:  # type: ignore[override]
        return "+".join(dict.fromkeys(k.backend for k in (self.conv, self.sc, self.sh)))

    @property
    def devices(self):  # type: ignore[override]
        return tuple(d for d in ("cpu", "cuda") if all(d in k.devices for k in (self.conv, self.sc, self.sh)))

    @property
    def dtypes(self):  # type: ignore[override]
        return tuple(d for d in self.conv.dtypes if d in self.sc.dtypes and d in self.sh.dtypes)

    @property
    def passes(self):  # type: ignore[override]
        return tuple(p for p in self.conv.passes if p in self.sc.passes and p in self.sh.passes)

    def available(self) -> str | None:
        for k in (self.conv, self.sc, self.sh):
            why = k.available()
            if why:
                return f"{k.name}: {why}"
        return None

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "model_block":
            return "model blocks only"
        why = super().supports(problem, device)
        if why:
            return why
        if self.conv.operation not in BLOCK_OPERATIONS:
            return (f"{self.conv.name} computes {self.conv.operation!r} per edge: it changes the model and no "
                    f"block reference composes it (only {', '.join(BLOCK_OPERATIONS)})")
        if self.sh.operation not in NORMALIZATIONS:
            return f"{self.sh.name}: unknown harmonics normalisation {self.sh.operation!r}"
        parts = part_problems(problem)
        for key, k in (("conv", self.conv), ("sc", self.sc), ("sh", self.sh)):
            why = k.supports(parts[key], device)
            if why:
                return f"{k.name}: {why}"
        native = self.conv.native(parts["conv"])
        if self.conv.operation == "conv" and (native.irreps_out != parts["conv"].out
                                              or native.weight_numel != tp_weight_numel(problem)):
            return f"{self.conv.name}: output irreps or weights differ from the channelwise product's"
        return None

    def native(self, problem: Problem) -> Native:
        parts = part_problems(problem)
        n, e = problem.batch, parts["conv"].batch
        conv = self.conv.native(parts["conv"])
        numel = sum(s for _, s in weight_sizes(problem, self.sc.native(parts["sc"]).weight_numel, conv.weight_numel,
                                               conv.irreps_out))
        # the conv's paths: what "paths computed" compares between blocks
        return Native(problem.in1, problem.out, problem.in2, "shared", numel, conv.path_labels, rows=(n, e, n))

    def flops(self, problem: Problem) -> float | None:
        """The swappable parts' forward FLOPs (linears and radial MLP not counted)."""
        parts = part_problems(problem)
        counts = [self.conv.flops(parts["conv"]), self.sc.flops(parts["sc"]), self.sh.flops(parts["sh"])]
        return None if any(c is None for c in counts) else float(sum(counts))

    def bytes(self, problem: Problem) -> float | None:
        return None

    def describe(self) -> dict:
        out = {**super().describe(), "parts": {"conv": self.conv.name, "sc": self.sc.name, "sh": self.sh.name}}
        if self.stub:
            out["stub_of"] = "conv"
        elif self.conv.operation != "conv":
            out["changes_model"] = self.changes_model
        return out

    @property
    def changes_model(self) -> str:
        """What a block with another conv operation computes differently (its problem-independent summary)."""
        return ("Gaunt conv: l1+l2+l3-odd couplings and outputs above L_sh dropped; the paths into one output "
                "degree share one per-edge weight per channel (L_sh+1 weights instead of one per path)")

    def expressivity(self, problem: Problem) -> str | None:
        """The Gaunt block's expressivity on ``problem`` against the CG block's, in words."""
        if self.conv.operation != "conv-gaunt-channelwise":
            return None
        return expressivity(part_problems(problem)["conv"])

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return BlockModule(self, problem, device, dtype)


def _by_name(kernels, name: str) -> Kernel:
    return next(k for k in kernels if k.name == name)


def _channelwise_convs() -> list[Kernel]:
    """Conv kernels of the CG channelwise product (the block's math); Gaunt/matrix ones are left out."""
    return [k for k in convolution.KERNELS if k.operation == "conv" and not k.name.startswith("conv-oeq")
            and "segment" not in k.name and "-full" not in k.name]


def _kernels() -> list[Kernel]:
    sc0, sh0 = _by_name(contraction.KERNELS, "torch-sc"), _by_name(harmonics.KERNELS, "sh-e3nn")
    conv0 = _by_name(convolution.KERNELS, "conv-e3nn")
    found = [Block(c, sc0, sh0) for c in _channelwise_convs()]
    found += [Block(conv0, s, sh0) for s in contraction.KERNELS + mace.KERNELS[:1] if s is not sc0]
    found += [Block(conv0, sc0, s) for s in harmonics.KERNELS if s is not sh0]
    found += [Block(c, sc0, sh0) for c in conv_variants.KERNELS]  # Gaunt: changes the model
    found.append(Block(conv_variants.StubConv(), sc0, sh0))  # the stub: for Amdahl's fraction only
    return found


KERNELS = _kernels() + conv_variants.KERNELS  # the Gaunt convs also run as convs (their micro cases)
