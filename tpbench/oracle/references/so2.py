"""The SO(2) convolution (eSCN, Passaro & Zitnick 2023) and its float64 oracle.

The problem
-----------
Per edge ``e``: sender features ``x`` (``mul x (0 + 1 + ... + L_in)``, one
block per degree, all of multiplicity ``mul``), the edge vector ``r`` (a
``1x1o`` input, e3nn's ``(x, y, z)``) and per-edge weights ``w``. In a frame
whose polar axis (e3nn's ``y``) is ``r̂`` the map is block diagonal in ``|m|``
and channelwise (channel ``u`` of the output reads only channel ``u``):

    y'_{lo, 0}  = α Σ_li a^{0}_{li lo u} x'_{li, 0}
    y'_{lo, +m} = α Σ_li ( a^{m}_{li lo u} x'_{li, +m} − b^{m}_{li lo u} x'_{li, −m} )
    y'_{lo, −m} = α Σ_li ( b^{m}_{li lo u} x'_{li, +m} + a^{m}_{li lo u} x'_{li, −m} )

for ``0 < m <= min(li, lo, m_max)``; components with ``|m| > m_max`` of the
output are zero in that frame. ``α = n_in^{-1/2}`` with ``n_in`` the number
of input degrees. ``x' = D(R_e)^T x``, ``y = D(R_e) y'`` for any rotation
``R_e`` with ``R_e ŷ = r̂`` (the result does not depend on which: the maps
above commute with rotations about ``y``).

Weights (the problem's canonical order, per edge): for ``m = 0..m_max``, for
the parts ``a`` (and ``b`` when ``m > 0``), for ``li >= m``, for ``lo >= m``,
then the ``mul`` channels.

The oracle (written from the equivalence, not from the rotation)
-----------------------------------------------------------------
A channelwise CG convolution

    y_{lo} = α Σ_{li, lf} W_{li lf lo u} C^{li lf lo}(x_{li}, Y_{lf}(r̂))

(``C`` e3nn's ``wigner_3j``, ``Y`` e3nn's spherical harmonics, integral
normalisation, every ``|li − lo| <= lf <= li + lo``, both parities of
``li + lf + lo``) *is* the SO(2) convolution above with weights ``G W``: at
``r̂ = ŷ`` only ``Y_{lf, 0}`` is nonzero, and ``C^{li lf lo}_{· 0 ·}`` couples
``m`` to ``±m`` only. ``G`` (:func:`weight_map`) is square and invertible
for every ``(li, lo)`` — ``2 min(li, lo) + 1`` couplings ``lf`` and as many
SO(2) coefficients — so the oracle is the CG convolution with
``W = G^{-1} w`` (``w`` zero above ``m_max``). Couplings with
``li + lf + lo`` odd are pseudo (they flip under the inversion): free SO(2)
weights reach them, so the operation is SO(3)-, not O(3)-equivariant.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import torch
from e3nn import o3

from tpbench.spec.errors import UserError
from tpbench.spec.native import Native
from tpbench.spec.problem import Problem


@dataclasses.dataclass(frozen=True)
class SO2Layout:
    """Degrees, multiplicity and the per-edge weight blocks ``(m, part, slice)`` of an SO(2) problem."""

    mul: int
    l_in: tuple[int, ...]
    l_out: tuple[int, ...]
    m_max: int

    def degrees(self, m: int) -> tuple[list[int], list[int]]:
        return [l for l in self.l_in if l >= m], [l for l in self.l_out if l >= m]

    @property
    def ms(self) -> list[int]:
        return [m for m in range(self.m_max + 1) if self.degrees(m)[0] and self.degrees(m)[1]]

    def blocks(self) -> list[tuple[int, str, int, int]]:
        """``(m, part, offset, numel)`` in the canonical weight order; each block is ``(n_in, n_out, mul)``."""
        out, offset = [], 0
        for m in self.ms:
            n_in, n_out = (len(d) for d in self.degrees(m))
            for part in ("a", "b") if m else ("a",):
                numel = n_in * n_out * self.mul
                out.append((m, part, offset, numel))
                offset += numel
        return out

    @property
    def weight_numel(self) -> int:
        return sum(b[3] for b in self.blocks())

    @property
    def alpha(self) -> float:
        return len(self.l_in) ** -0.5

    def path_labels(self) -> tuple[str, ...]:
        return tuple(f"{li}->{lo} |m|<={min(li, lo, self.m_max)}" for li in self.l_in for lo in self.l_out)


def so2_layout(problem: Problem) -> SO2Layout:
    """The layout of an ``so2_conv`` problem; :class:`UserError` when its irreps do not fit the operation."""
    if problem.op != "so2_conv":
        raise UserError(f"not an so2_conv problem: {problem.op!r}")
    ins, outs = problem.in1, problem.out
    muls = {mul for mul, _ in ins} | {mul for mul, _ in outs}
    l_in, l_out = [ir.l for _, ir in ins], [ir.l for _, ir in outs]
    if len(muls) != 1 or len(set(l_in)) != len(l_in) or len(set(l_out)) != len(l_out):
        raise UserError(f"so2_conv needs one block per degree and one multiplicity: {ins} -> {outs}")
    if str(problem.in2) != "1x1o":
        raise UserError(f"so2_conv's second input is the edge vector 1x1o, got {problem.in2}")
    m_max = dict(problem.params)["m_max"]
    if isinstance(m_max, bool) or not isinstance(m_max, int) or m_max < 0:
        raise UserError(f"m_max must be an integer >= 0, got {m_max!r}")
    return SO2Layout(muls.pop(), tuple(l_in), tuple(l_out), m_max)


def couplings(li: int, lo: int) -> list[int]:
    """The degrees ``lf`` of the edge harmonics that couple ``li`` to ``lo``."""
    return list(range(abs(li - lo), li + lo + 1))


@lru_cache(maxsize=None)
def weight_map(li: int, lo: int) -> torch.Tensor:
    """``G`` (float64, square): SO(2) coefficients ``(a_0, a_1, b_1, a_2, b_2, ...)`` from CG weights per ``lf``.

    Column ``lf`` holds ``Y_{lf}(ŷ)_0 C^{li lf lo}_{i, lf, k}`` read at ``(i, k) = (+m, +m)`` for ``a_m`` and
    ``(+m, −m)`` for ``b_m`` (e3nn's index of ``m`` in degree ``l`` is ``l + m``).
    """
    k = min(li, lo)
    G = torch.zeros(2 * k + 1, 2 * k + 1, dtype=torch.float64)
    y_axis = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    for j, lf in enumerate(couplings(li, lo)):
        y0 = o3.spherical_harmonics(lf, y_axis, normalize=False, normalization="integral")[lf]
        T = y0 * o3.wigner_3j(li, lf, lo, dtype=torch.float64)[:, lf, :]
        G[0, j] = T[li, lo]
        for m in range(1, k + 1):
            G[2 * m - 1, j] = T[li + m, lo + m]
            G[2 * m, j] = T[li + m, lo - m]
    return G


def cg_weights(layout: SO2Layout, w: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
    """Per ``(li, lo)`` the CG weights ``(..., mul, n_lf) = G^{-1} w`` of the equivalent CG convolution."""
    coeff: dict[tuple[int, int], list] = {}
    for m, part, offset, numel in layout.blocks():
        d_in, d_out = layout.degrees(m)
        block = w[..., offset:offset + numel].reshape(*w.shape[:-1], len(d_in), len(d_out), layout.mul)
        for i, li in enumerate(d_in):
            for j, lo in enumerate(d_out):
                row = 0 if m == 0 else 2 * m - 1 + (part == "b")
                coeff.setdefault((li, lo), []).append((row, block[..., i, j, :]))
    out = {}
    for (li, lo), rows in coeff.items():
        k = min(li, lo)
        S = w.new_zeros(*w.shape[:-1], layout.mul, 2 * k + 1)
        for row, value in rows:
            S[..., row] = value
        Ginv = torch.linalg.inv(weight_map(li, lo)).to(w)
        out[(li, lo)] = S @ Ginv.T
    return out


class ReferenceSO2(torch.nn.Module):
    """Float64 oracle: the channelwise CG convolution with the CG weights of :func:`cg_weights`."""

    def __init__(self, problem: Problem):
        super().__init__()
        self.layout = L = so2_layout(problem)
        self.native = Native(problem.in1, problem.out, problem.in2, "per-sample", L.weight_numel, L.path_labels())
        self.lf_max = max(L.l_in) + max(L.l_out)

    def forward(self, x: torch.Tensor, r: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        L = self.layout
        batch = x.shape[:-1]
        Y = o3.spherical_harmonics(list(range(self.lf_max + 1)), r, normalize=True, normalization="integral")
        W = cg_weights(L, w)
        xs = {l: x[..., sl].reshape(*batch, L.mul, 2 * l + 1) for l, sl in zip(L.l_in, self.native.irreps_in1.slices())}
        out = []
        for lo in L.l_out:
            acc = x.new_zeros(*batch, L.mul, 2 * lo + 1)
            for li in L.l_in:
                for j, lf in enumerate(couplings(li, lo)):
                    C = o3.wigner_3j(li, lf, lo, dtype=torch.float64).to(x)
                    y = Y[..., lf * lf:(lf + 1) ** 2]
                    acc = acc + torch.einsum("...u,ijk,...ui,...j->...uk", W[(li, lo)][..., j], C, xs[li], y)
            out.append(L.alpha * acc.reshape(*batch, -1))
        return torch.cat(out, dim=-1)


def so2_reach(L_in: int, L_out: int, m_max: int) -> dict[str, int]:
    """Independent couplings per channel (dimension of the span of maps ``x -> y`` linear in ``x``).

    ``reached``: the SO(2) convolution's (rank of ``G^{-1}`` restricted to ``|m| <= m_max``, computed);
    ``so3``: every SO(3)-equivariant coupling (``m_max = L``, pseudo included); ``o3``: the
    parity-respecting ones (``li + lf + lo`` even) an O(3) CG convolution reaches.
    """
    reached = so3 = o3_count = 0
    for li in range(L_in + 1):
        for lo in range(L_out + 1):
            k = min(li, lo, m_max)
            cols = 1 + 2 * k
            reached += int(torch.linalg.matrix_rank(torch.linalg.inv(weight_map(li, lo))[:, :cols]))
            so3 += len(couplings(li, lo))
            o3_count += sum(1 for lf in couplings(li, lo) if (li + lf + lo) % 2 == 0)
    return {"reached": reached, "so3": so3, "o3": o3_count, "lost": so3 - reached}


def so2_cg_flops(layout: SO2Layout) -> float:
    """Per-edge FLOPs of the equivalent CG convolution (dense CG, one multiply-add = 2)."""
    total = 0
    for li in layout.l_in:
        for lo in layout.l_out:
            for lf in couplings(li, lo):
                total += 2 * (2 * li + 1) * (2 * lf + 1) * (2 * lo + 1) * layout.mul
    return float(total)


def so2(problem: Problem, native: Native | None = None) -> torch.nn.Module:
    return ReferenceSO2(problem)
