"""Gaunt tensor product in the 2D Fourier basis (Luo et al., ICLR 2024): ``gaunt-fft``, ``gaunt-fft-direct``.

Same math as :mod:`tpbench_kernels.gaunt.grid` (every ``l1+l2+l3``-even path,
all four parity-kind products), computed on the torus. With polar angle ``θ``
(from e3nn's ``y`` axis) and azimuth ``φ``, each harmonic extends to the torus
``θ ∈ [0, 2π)`` with a *signed* ``sin θ`` — the pullback of the sphere under
``(θ, φ) ↦ (2π − θ, φ + π)`` — and is a finite 2D Fourier series

    Y_lm(θ, φ) = Σ_{|u|, |v| <= l} a^{l|m|}_u b^m_v e^{i(uθ + vφ)},

with ``a^{lk}_u`` the Fourier coefficients of ``Q_l^k(cos θ)`` (a trigonometric
polynomial of degree ``l``: its DFT on ``2l + 2`` points is exact, no aliasing)
and ``b^m_v`` those of ``cos mφ`` / ``sin |m|φ`` (``±1/2``, ``±i/2``, 1).

1. SH → Fourier: ``F = x C`` (``C`` of shape ``(d, (2L+1)(L+1))``, the ``v >= 0`` half).
2. Product: ``H = F₁ * F₂`` (2D linear convolution): ``gaunt-fft`` by real 2D FFTs of
   size ``N_u × N_v`` with ``N_u >= 2(L1+L2)+1`` (every ``u`` of the product is needed)
   and ``N_v > L1+L2+L3`` (no alias reaches ``|v| <= L3``), FFT-friendly sizes;
   ``gaunt-fft-direct`` by direct convolution (one grouped ``conv2d``, a group per
   sample), ``(2L1+1)² (2L2+1)²`` complex multiply-adds per sample (what the
   Price-of-Freedom benchmark timed).
3. Fourier → SH, exact: ``z_lm = Re Σ_{u, v>=0} c_v H_uv ∫_0^π ∫_0^{2π} e^{i(uθ+vφ)} Y_lm sin θ dφ dθ``
   (``c_0 = 1``, ``c_v = 2``), the θ integral in closed form from
   ``I(k) = ∫_0^π e^{ikθ} sin θ dθ = −2/(k²−1)`` (``k`` even), ``±iπ/2`` (``k = ±1``), 0 otherwise.

Cost per sample: conversions ``O(L^3)``, FFT ``O(L^2 log L)``, direct convolution
``O(L^4)``, projection ``O(L^3)``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from tpbench.spec.problem import Problem
from tpbench_kernels.gaunt.common import (GauntKernel, GauntPlan, chunk_rows, chunked, combine, kinds_of, products,
                                           v_sign)
from tpbench.math.sphere import fft_size, legendre_q


@lru_cache(maxsize=64)
def theta_series(lmax: int) -> np.ndarray:
    """``a[l, k, u + lmax]``: Fourier coefficients in θ of ``Q_l^k(cos θ)`` with signed ``sin θ``."""
    n = 2 * lmax + 2
    theta = 2 * math.pi * np.arange(n) / n
    Q = legendre_q(lmax, np.cos(theta))  # uses |sin θ|; restore the sign below
    sign = np.where(np.sin(theta) < 0, -1.0, 1.0)
    Q = Q * sign[None, None, :] ** np.arange(lmax + 1)[None, :, None]
    u = np.arange(-lmax, lmax + 1)
    a = Q @ np.exp(-1j * np.outer(theta, u)) / n
    a.setflags(write=False)
    return a


def phi_series(m: int) -> dict[int, complex]:
    """``b^m_v``: ``cos mφ``, 1 or ``sin |m|φ`` as ``Σ_v b_v e^{ivφ}``."""
    if m == 0:
        return {0: 1.0}
    if m > 0:
        return {m: 0.5, -m: 0.5}
    return {-m: -0.5j, m: 0.5j}


def sin_integral(k: np.ndarray) -> np.ndarray:
    """``I(k) = ∫_0^π e^{ikθ} sin θ dθ`` in closed form (module docstring)."""
    k = np.asarray(k)
    denom = np.where(k % 2 == 0, k.astype(float) ** 2 - 1, 1.0)  # odd k: no division (value 0 or ±iπ/2)
    even = np.where(k % 2 == 0, -2.0 / denom, 0.0)
    return even + np.where(k == 1, 0.5j * math.pi, 0) + np.where(k == -1, -0.5j * math.pi, 0)


def to_fourier(blocks, L: int, sign_pseudo: bool) -> np.ndarray:
    """Real matrix ``(d, (2L+1), L+1, 2)``: coefficients → ``v >= 0`` half spectrum ``F[u + L, v]`` (re, im)."""
    a = theta_series(L)
    d = sum(2 * b.l + 1 for b in blocks)
    C = np.zeros((d, 2 * L + 1, L + 1), dtype=complex)
    for b in blocks:
        s = b.kind if sign_pseudo else 1
        for m in range(-b.l, b.l + 1):
            for v, bv in phi_series(m).items():
                if v >= 0:
                    C[b.offset + b.l + m, :, v] = s * bv * a[b.l, abs(m)]
    return np.stack([C.real, C.imag], axis=-1)


def from_fourier(plan: GauntPlan, us: np.ndarray, kind: int) -> np.ndarray:
    """Real matrix ``(len(us), L3+1, 2, d_out)``: ``[Re H, Im H]`` over ``v >= 0`` → outputs of ``kind``."""
    L3 = plan.lmax_out
    a = theta_series(L3)  # a[l, k, w + L3]
    w = np.arange(-L3, L3 + 1)
    I = sin_integral(us[:, None] + w[None, :])  # (U, W)
    Theta = np.einsum("uw,lkw->ulk", I, a)  # ∫_0^π e^{iuθ} Q_l^k sin θ dθ
    d = sum(2 * b.l + 1 for b in plan.out)
    P = np.zeros((len(us), L3 + 1, d), dtype=complex)
    for b in plan.out:
        if b.kind != kind:
            continue
        for m in range(-b.l, b.l + 1):
            for v, bv in phi_series(m).items():
                if v >= 0:  # ∫_0^{2π} e^{ivφ} Σ_v' b_v' e^{iv'φ} dφ = 2π b_{−v}
                    P[:, v, b.offset + b.l + m] = (1 if v == 0 else 2) * 2 * math.pi * phi_series(m)[-v] \
                        * Theta[:, b.l, abs(m)]
    return np.stack([P.real, -P.imag], axis=2)


class FourierGaunt(torch.nn.Module):
    """``gaunt-fft`` (``direct=False``) and ``gaunt-fft-direct`` (``direct=True``)."""

    def __init__(self, plan: GauntPlan, dtype: torch.dtype, direct: bool):
        super().__init__()
        self.direct = direct
        self.L1, self.L2, self.L3 = plan.lmax1, plan.lmax2, plan.lmax_out
        self.Nu = fft_size(2 * (self.L1 + self.L2) + 1)
        self.Nv = fft_size(self.L1 + self.L2 + self.L3 + 1)
        self.k1, self.k2 = kinds_of(plan.in1), kinds_of(plan.in2)
        self.v1, self.v2, self.out_kinds = products(self.k1, self.k2)
        n_sig = 3 * (2 if self.v1 or self.v2 else 1)
        self.rows = chunk_rows(n_sig * self.Nu * self.Nv, dtype.itemsize)
        for n, blocks, L, need_v in ((1, plan.in1, self.L1, self.v1), (2, plan.in2, self.L2, self.v2)):
            mats = [to_fourier(blocks, L, False)] + ([to_fourier(blocks, L, True)] if need_v else [])
            self.register_buffer(f"C{n}", torch.tensor(np.concatenate([c.reshape(len(c), -1) for c in mats], 1),
                                                       dtype=dtype))
        Ltot = self.L1 + self.L2
        us = np.arange(-Ltot, Ltot + 1) if direct else (np.arange(self.Nu) + self.Nu // 2) % self.Nu - self.Nu // 2
        for kind in self.out_kinds:
            P = from_fourier(plan, us, kind)
            P = torch.tensor(P.reshape(-1, P.shape[-1]), dtype=dtype).contiguous()
            self.register_buffer(f"P{'p' if kind == 1 else 'm'}", P)

    def _spectra(self, x: torch.Tensor, n: int, L: int) -> list[torch.Tensor]:
        """Complex half spectra ``(B, 2L+1, L+1)`` (``u`` from ``−L``) of ``u`` (and ``v``)."""
        F = (x @ getattr(self, f"C{n}")).view(x.shape[0], -1, 2 * L + 1, L + 1, 2)
        return [torch.view_as_complex(F[:, i]) for i in range(F.shape[1])]

    def _fft_product(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self._grid(f, self.L1) * self._grid(g, self.L2)

    def _grid(self, F: torch.Tensor, L: int) -> torch.Tensor:
        """Torus samples ``(B, N_u, N_v)``: ``u >= 0`` first, negative ``u`` wrapped to the end."""
        zeros = F.new_zeros(F.shape[0], self.Nu - (2 * L + 1), L + 1)
        F = torch.cat([F[:, L:], zeros, F[:, :L]], dim=1)
        return torch.fft.irfft2(F, s=(self.Nu, self.Nv), norm="forward")

    def _direct_product(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``H[u, v]`` for ``|u| <= L1+L2``, ``0 <= v <= L3`` by direct convolution of full spectra.

        One grouped ``conv2d`` (group = sample) on real and imaginary parts as two channels:
        out ``(re, im) = (f_r * g_r − f_i * g_i, f_r * g_i + f_i * g_r)``; the kernel is flipped
        because ``conv2d`` correlates.
        """
        f, g = self._full(f, self.L1), self._full(g, self.L2)
        if f.shape[1] < g.shape[1]:  # convolution commutes; a 1×1 input trips slow_conv2d's backward
            f, g = g, f
        B, U2, V2 = g.shape
        x = torch.view_as_real(f).permute(0, 3, 1, 2).reshape(1, 2 * B, *f.shape[1:])  # channels (b, re|im)
        gr, gi = g.real.flip(1, 2), g.imag.flip(1, 2)
        w = torch.stack([torch.stack([gr, -gi], 1), torch.stack([gi, gr], 1)], 1)  # (B, out re|im, in re|im, U2, V2)
        w = w.reshape(2 * B, 2, U2, V2).contiguous()  # slow_conv2d backward wants contiguous operands
        H = torch.nn.functional.conv2d(x.contiguous(), w, padding=(U2 - 1, V2 - 1), groups=B)
        v0 = self.L1 + self.L2  # index of v = 0
        H = H.view(B, 2, H.shape[-2], H.shape[-1])[..., v0:v0 + self.L3 + 1]
        return torch.complex(H[:, 0], H[:, 1])

    @staticmethod
    def _full(F: torch.Tensor, L: int) -> torch.Tensor:
        """Complete the ``v < 0`` half: ``F[−u, −v] = conj F[u, v]`` (real signals)."""
        neg = F[:, :, 1:].flip(1, 2).conj()
        return torch.cat([neg, F], dim=2)

    def _project(self, H: torch.Tensor, kind: int) -> torch.Tensor:
        if not self.direct:
            H = torch.fft.rfft2(H, norm="forward")[:, :, :self.L3 + 1]
        R = torch.view_as_real(H).reshape(H.shape[0], -1)
        return R @ getattr(self, f"P{'p' if kind == 1 else 'm'}")

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return chunked(self._forward, x1, x2, self.rows)

    def _forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        f, g = self._spectra(x1, 1, self.L1), self._spectra(x2, 2, self.L2)
        product = self._direct_product if self.direct else self._fft_product
        P = product(f[0], g[0])
        M = product(f[-1], g[-1]) if self.v1 or self.v2 else None
        fields = combine(P, M, v_sign(self.v1, self.v2, self.k1, self.k2), self.out_kinds)
        return sum(self._project(fields[k], k) for k in self.out_kinds)


class GauntFFT(GauntKernel):
    """Gaunt TP via 2D Fourier coefficients and FFT convolution (module docstring); all even paths.

    Fourier coefficients ``(2L+1) × (2L+1)`` per input, FFT size ``N_u × N_v`` with
    ``N_u = fft_size(2(L1+L2)+1)``, ``N_v = fft_size(L1+L2+L3+1)`` (``45 × 45`` for ``mimo(10)``);
    ``O(L^3)`` per sample (conversions), ``O(L^2 log L)`` for the product.

    Flops per sample (multiply-add = 2, a real 2D FFT of ``n`` points ``2.5 n log2 n``):
    ``4 d (2L+1)(L+1)`` per input signal, three FFTs of ``N_u N_v`` points per product,
    ``N_u N_v`` per product, ``4 N_u (L3+1) d_out`` per output kind.
    """

    name = "gaunt-fft"
    family = "gaunt-fft"
    direct = False

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return FourierGaunt(self.plan(problem), dtype, self.direct).to(device=device)

    def flops(self, problem: Problem) -> float:
        plan = self.plan(problem)
        L1, L2, L3 = plan.lmax1, plan.lmax2, plan.lmax_out
        v1, v2, kinds = products(kinds_of(plan.in1), kinds_of(plan.in2))
        d1, d2, dout = (sum(2 * b.l + 1 for b in bl) for bl in (plan.in1, plan.in2, plan.out))
        n_prod = 2 if (v1 or v2) else 1
        conv = 4 * d1 * (2 * L1 + 1) * (L1 + 1) * (1 + v1) + 4 * d2 * (2 * L2 + 1) * (L2 + 1) * (1 + v2)
        U = 2 * (L1 + L2) + 1
        if self.direct:
            work = 8 * (2 * L1 + 1) ** 2 * (2 * L2 + 1) ** 2 * n_prod
        else:
            Nu, Nv = fft_size(U), fft_size(L1 + L2 + L3 + 1)
            U = Nu
            work = (3 * 2.5 * Nu * Nv * math.log2(Nu * Nv) + Nu * Nv) * n_prod
        return float(problem.batch * (conv + work + 4 * U * (L3 + 1) * dout * len(kinds)))


class GauntFFTDirect(GauntFFT):
    """As ``gaunt-fft`` with the product by direct 2D convolution, ``O(L^4)`` per sample (PoF's timing).

    Flops: the direct convolution counts ``8 (2L1+1)² (2L2+1)²`` per product (complex multiply-add).
    """

    name = "gaunt-fft-direct"
    direct = True


KERNELS = [GauntFFT(), GauntFFTDirect()]
