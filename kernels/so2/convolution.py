"""The SO(2) convolution (eSCN) in plain PyTorch: rotate to the edge frame, mix per ``|m|``, rotate back.

The math and weight order are :mod:`tpbench.oracle.references.so2`'s; this module is
the fast route that the oracle does not take.

Rotation construction
---------------------
``R_e = R_y(α) R_x(β)`` maps e3nn's polar axis ``ŷ`` to ``r̂``:
``cos β = r̂_y``, ``sin β = sqrt(r̂_x² + r̂_z²)``, ``(cos α, sin α) = (r̂_z, r̂_x) / sin β`` — no
trigonometric calls, and ``cos mθ, sin mθ`` by the recurrence of ``(cos θ + i sin θ)^m``.
A rotation about ``y`` is sparse in e3nn's real basis (``m`` mixes with ``−m`` only,
:func:`rotate_y`); a rotation about ``x`` is one about ``y`` conjugated by the fixed
``K_l = D_l(Q)``, ``Q = R_z(−90°)`` (``Q ŷ = x̂``)::

    D(R_e) = D_y(α) K D_y(β) K^T

Cost per edge and channel: four dense products with the fixed ``K_l`` (as GEMMs over
all edges, ``2 Σ_l (2l+1)²`` FLOPs each) and six sparse ``y``-rotations (``~3 Σ_l (2l+1)`` each)
for rotating in and back, against ``~2 Σ (2l+1)^2`` per channel of an e3nn ``wigner_D``
built by matrix exponentials per edge — this never forms a per-edge matrix.
"""

from __future__ import annotations


import torch
from e3nn import o3

from tpbench.kernel import Kernel, Native, default_dtype
from tpbench.spec.problem import Problem
from tpbench.oracle.references.so2 import SO2Layout, so2_layout


def _flip_and_sign(ls: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Over the concatenated components of degrees ``ls``: index of ``−m``, ``|m|``, and the sign of ``sin``.

    ``D_y(θ)`` acts as ``y_{+m} = cos(mθ) x_{+m} − sin(mθ) x_{−m}``, ``y_{−m} = cos(mθ) x_{−m} + sin(mθ) x_{+m}``.
    """
    flip, absm, sign, start = [], [], [], 0
    for l in ls:
        for i in range(2 * l + 1):
            m = i - l
            flip.append(start + l - m)
            absm.append(abs(m))
            sign.append(-1.0 if m > 0 else (1.0 if m < 0 else 0.0))
        start += 2 * l + 1
    return torch.tensor(flip), torch.tensor(absm), torch.tensor(sign)


def _cos_sin_m(c: torch.Tensor, s: torch.Tensor, m_top: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos(mθ), sin(mθ)`` for ``m = 0..m_top`` (last dim) from ``cos θ, sin θ``."""
    cs, ss = [torch.ones_like(c)], [torch.zeros_like(s)]
    for _ in range(m_top):
        cs.append(cs[-1] * c - ss[-1] * s)
        ss.append(ss[-1] * c + cs[-2] * s)
    return torch.stack(cs, -1), torch.stack(ss, -1)


class SO2Conv(torch.nn.Module):
    """``module(x, r, w)``: ``x (E, mul x s2(L_in))``, ``r (E, 3)``, ``w (E, weight_numel)``, ``mul_ir``."""

    def __init__(self, layout: SO2Layout):
        super().__init__()
        self.layout = L = layout
        self.m_top = max(max(L.l_in), max(L.l_out))
        for name, ls in (("in", L.l_in), ("out", L.l_out)):
            flip, absm, sign = _flip_and_sign(ls)
            self.register_buffer(f"flip_{name}", flip, persistent=False)
            self.register_buffer(f"absm_{name}", absm, persistent=False)
            self.register_buffer(f"sign_{name}", sign.to(torch.get_default_dtype()), persistent=False)
        Q = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
        with default_dtype(torch.float64):
            for l in sorted(set(L.l_in) | set(L.l_out)):
                K = o3.Irrep(l, 1).D_from_matrix(Q)
                self.register_buffer(f"K{l}", K.to(torch.get_default_dtype()), persistent=False)
        # Positions of the +m / -m components of each degree >= m, per m, in the concatenated layout.
        self.gathers = []
        for m in L.ms:
            d_in, d_out = L.degrees(m)
            self.gathers.append((m, self._positions(L.l_in, d_in, m), self._positions(L.l_out, d_out, m)))
        self.scatter_out = self._scatter_index()

    @staticmethod
    def _positions(ls, chosen, m) -> tuple[torch.Tensor, torch.Tensor]:
        starts = dict(zip(ls, [sum(2 * k + 1 for k in ls[:i]) for i in range(len(ls))]))
        return (torch.tensor([starts[l] + l + m for l in chosen]), torch.tensor([starts[l] + l - m for l in chosen]))

    def _scatter_index(self) -> torch.Tensor:
        """Where each output component sits in ``cat(Y_{+m}, Y_{−m} for m) + [0]`` (the zero for ``|m| > m_max``)."""
        dim = sum(2 * l + 1 for l in self.layout.l_out)
        index, pos = torch.full((dim,), -1, dtype=torch.long), 0
        for m, _, (plus, minus) in self.gathers:
            for part in ((plus,) if m == 0 else (plus, minus)):
                index[part] = torch.arange(pos, pos + len(part))
                pos += len(part)
        index[index < 0] = pos
        return index

    def _rotate_y(self, x: torch.Tensor, cm: torch.Tensor, sm: torch.Tensor, side: str, inverse: bool) -> torch.Tensor:
        absm, flip, sign = (getattr(self, f"{k}_{side}") for k in ("absm", "flip", "sign"))
        c, s = cm[:, absm], sm[:, absm] * (-sign if inverse else sign)
        return c[:, None, :] * x + s[:, None, :] * x[..., flip]

    def _apply_K(self, x: torch.Tensor, ls, transpose: bool) -> torch.Tensor:
        parts, start = [], 0
        for l in ls:
            K = getattr(self, f"K{l}")
            d = 2 * l + 1
            parts.append(x[..., start:start + d] @ (K if transpose else K.T))  # rows: x @ K^T = (K x)
            start += d
        return torch.cat(parts, -1)

    def frame(self, r: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``cos mα, sin mα, cos mβ, sin mβ`` (``m = 0..m_top``) of ``R_e = R_y(α) R_x(β)``, ``R_e ŷ = r̂``."""
        u = r / r.norm(dim=-1, keepdim=True)
        rho = torch.sqrt(u[:, 0] ** 2 + u[:, 2] ** 2)
        ca, sa = _cos_sin_m(u[:, 2] / rho, u[:, 0] / rho, self.m_top)
        cb, sb = _cos_sin_m(u[:, 1], rho, self.m_top)
        return ca, sa, cb, sb

    def into_frame(self, xs: torch.Tensor, frame: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``x' = D(R_e)^T x = K D_y(−β) K^T D_y(−α) x`` on ``(E, mul, Σ 2l+1)`` over ``l_in``."""
        ca, sa, cb, sb = frame
        xs = self._rotate_y(xs, ca, sa, "in", inverse=True)
        xs = self._apply_K(xs, self.layout.l_in, transpose=True)
        xs = self._rotate_y(xs, cb, sb, "in", inverse=True)
        return self._apply_K(xs, self.layout.l_in, transpose=False)

    def out_of_frame(self, y: torch.Tensor, frame: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``y = D(R_e) y' = D_y(α) K D_y(β) K^T y'`` on ``(E, mul, Σ 2l+1)`` over ``l_out``."""
        ca, sa, cb, sb = frame
        y = self._apply_K(y, self.layout.l_out, transpose=True)
        y = self._rotate_y(y, cb, sb, "out", inverse=False)
        y = self._apply_K(y, self.layout.l_out, transpose=False)
        return self._rotate_y(y, ca, sa, "out", inverse=False)

    def forward(self, x: torch.Tensor, r: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        L = self.layout
        E = x.shape[0]
        frame = self.frame(r)
        # mul_ir (E, mul * 2l+1 per degree) -> (E, mul, sum_l 2l+1)
        xs = torch.cat([x[:, sl].reshape(E, L.mul, -1) for sl in o3.Irreps([(L.mul, (l, 1)) for l in L.l_in]).slices()], -1)
        xs = self.into_frame(xs, frame)
        ys = []
        for (m, (pi, ni), _), blocks in zip(self.gathers, self._weight_blocks(w, E)):
            xp = xs[..., pi]
            if m == 0:
                ys.append(torch.einsum("eui,eiou->euo", xp, blocks[0]))
                continue
            xn = xs[..., ni]
            a, b = blocks
            ys.append(torch.einsum("eui,eiou->euo", xp, a) - torch.einsum("eui,eiou->euo", xn, b))
            ys.append(torch.einsum("eui,eiou->euo", xp, b) + torch.einsum("eui,eiou->euo", xn, a))
        ys.append(xs.new_zeros(E, L.mul, 1))
        y = self.out_of_frame(torch.cat(ys, -1)[..., self.scatter_out] * L.alpha, frame)
        out, start = [], 0
        for l in L.l_out:
            out.append(y[..., start:start + 2 * l + 1].reshape(E, -1))
            start += 2 * l + 1
        return torch.cat(out, -1)

    def _weight_blocks(self, w: torch.Tensor, E: int) -> list[list[torch.Tensor]]:
        L, grouped = self.layout, {}
        for m, part, offset, numel in L.blocks():
            d_in, d_out = L.degrees(m)
            grouped.setdefault(m, []).append(w[:, offset:offset + numel].reshape(E, len(d_in), len(d_out), L.mul))
        return [grouped[m] for m in L.ms]


def so2_flops(layout: SO2Layout) -> float:
    """Per-edge forward FLOPs: four ``K`` products, six ``y``-rotations (3 per component) and the ``|m|`` mixing."""
    mul = layout.mul
    rot = 0
    for ls in (layout.l_in, layout.l_out):
        rot += 2 * sum(2 * mul * (2 * l + 1) ** 2 for l in ls) + 2 * 3 * mul * sum(2 * l + 1 for l in ls)
    mix = 0
    for m in layout.ms:
        n_in, n_out = (len(d) for d in layout.degrees(m))
        mix += (2 if m == 0 else 8) * n_in * n_out * mul
    return float(rot + mix)


class TorchSO2(Kernel):
    """Native eSCN-style SO(2) convolution; free weights reach the pseudo couplings: SO(3) only."""

    name, family, backend = "torch-so2", "so2", "torch"
    operation = "so2_conv"
    symmetry = "SO(3)"
    bilinear = False  # nonlinear in the edge vector

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "so2_conv":
            return "SO(2) convolutions only"
        return super().supports(problem, device)

    def native(self, problem: Problem) -> Native:
        L = so2_layout(problem)
        return Native(problem.in1, problem.out, problem.in2, "per-sample", L.weight_numel, L.path_labels())

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return SO2Conv(so2_layout(problem)).to(device=device, dtype=dtype)

    def flops(self, problem: Problem) -> float:
        return so2_flops(so2_layout(problem)) * problem.batch


KERNELS = [TorchSO2()]

