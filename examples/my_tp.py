"""A user's kernel: the full CG tensor product as one dense einsum.

Run it against every built-in:  tpbench run --suite quick --kernel examples/my_tp.py
"""

import torch
from e3nn import o3

import tpbench
from tpbench.spec.paths import tp_paths


class DenseEinsumTP(torch.nn.Module):
    """z_k = sum_ij T_ijk x_i y_j with all paths stacked into one dense tensor T."""

    def __init__(self, problem: tpbench.Problem):
        super().__init__()
        paths = tp_paths(problem)  # e3nn's paths and normalisation for this problem
        T = torch.zeros(paths.irreps_in1.dim, paths.irreps_in2.dim, paths.irreps_out.dim, dtype=torch.float64)
        s1, s2, so = paths.irreps_in1.slices(), paths.irreps_in2.slices(), paths.irreps_out.slices()
        for p in paths.paths:
            l1, l2, l3 = (paths.irreps_in1[p.i1].ir.l, paths.irreps_in2[p.i2].ir.l, paths.irreps_out[p.i_out].ir.l)
            T[s1[p.i1], s2[p.i2], so[p.i_out]] = p.weight * o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
        self.register_buffer("T", T)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bi,bj,ijk->bk", x1, x2, self.T)


class DenseEinsumKernel(tpbench.Kernel):
    name = "my-dense-einsum"
    family = "cg"          # what it is compared with
    backend = "torch"
    operation = "cg"       # checked against the float64 Clebsch-Gordan reference
    symmetry = "O(3)"

    def supports(self, problem, device):
        if problem.op != "tp" or problem.connection != "full":
            return "full tensor products only"
        if any(mul != 1 for mul, _ in problem.in1 + problem.in2):
            return "multiplicity-1 inputs only"
        return super().supports(problem, device)  # device and dtype checks

    def build(self, problem, device, dtype):
        return DenseEinsumTP(problem).to(device=device, dtype=dtype)

    def flops(self, problem):
        return 2.0 * problem.batch * problem.in1.dim * problem.in2.dim * self.native(problem).irreps_out.dim
