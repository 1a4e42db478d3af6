"""Real spherical harmonics of any degree and exact quadrature grids on the sphere.

Convention (e3nn's, checked against ``o3.spherical_harmonics`` up to l = 12):
the polar axis is ``y``; a unit vector is

    (x, y, z) = (sin β sin α, cos β, sin β cos α),

and the real harmonic of degree ``l`` and order ``m`` (index ``l² + l + m`` in a
``0..lmax`` stack, ``m`` from ``-l`` to ``l``) is

    Y_lm(β, α) = Q_l^|m|(cos β) · { cos(m α)  m > 0;  1  m = 0;  sin(|m| α)  m < 0 }

with ``Q_l^m = c_m N_lm P_l^m`` the associated Legendre function *without* the
Condon–Shortley phase, ``N_lm = sqrt((2l+1)/(4π) (l-m)!/(l+m)!)`` and
``c_m = sqrt(2)`` for ``m > 0`` (1 for ``m = 0``): orthonormal on the sphere
(e3nn's ``"integral"`` normalisation), ``∫ Y_lm Y_l'm' dΩ = δ δ``.

``Q`` comes from the standard stable three-term recurrence in float64
(diagonal ``Q_m^m = sqrt((2m+1)/(2m)) sin β Q_{m-1}^{m-1}``, first off-diagonal
``Q_{m+1}^m = sqrt(2m+3) cos β Q_m^m``, then
``Q_l^m = a_lm (cos β Q_{l-1}^m − b_lm Q_{l-2}^m)``); no factorials appear, so it
stays accurate to degree ~1000.

Grids: ``n_β`` Gauss–Legendre nodes in ``t = cos β`` times ``n_α`` uniform
``α_k = 2πk/n_α``. The pair integrates exactly every band-limited function of
degree ``< min(2 n_β, n_α)`` — the product of three harmonics of degrees
``L1, L2, L3`` needs ``n_β = ⌈(L1+L2+L3+1)/2⌉`` and ``n_α = L1+L2+L3+1``.
All constants are computed once in float64 (``lru_cache``) and cast by callers.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def sh_index(l: int, m: int) -> int:
    """Position of ``Y_lm`` in a ``0..lmax`` stack (e3nn order)."""
    return l * l + l + m


def legendre_q(lmax: int, t: np.ndarray) -> np.ndarray:
    """``Q[l, m, ...] = Q_l^m(t)`` for ``0 <= m <= l <= lmax`` (zero for ``m > l``), float64."""
    t = np.asarray(t, dtype=np.float64)
    s = np.sqrt(np.clip(1.0 - t * t, 0.0, None))
    Q = np.zeros((lmax + 1, lmax + 1) + t.shape)
    Q[0, 0] = 1.0 / math.sqrt(4 * math.pi)
    for m in range(1, lmax + 1):
        # sqrt(2) for m = 1 folds in the cos/sin normalisation c_m of the real basis.
        scale = math.sqrt((2 * m + 1) / (2 * m)) * (math.sqrt(2) if m == 1 else 1.0)
        Q[m, m] = scale * s * Q[m - 1, m - 1]
    for m in range(0, lmax):
        Q[m + 1, m] = math.sqrt(2 * m + 3) * t * Q[m, m]
        for l in range(m + 2, lmax + 1):
            a = math.sqrt((4 * l * l - 1) / (l * l - m * m))
            b = math.sqrt(((l - 1) ** 2 - m * m) / (4 * (l - 1) ** 2 - 1))
            Q[l, m] = a * (t * Q[l - 1, m] - b * Q[l - 2, m])
    return Q


def legendre_q_dbeta(lmax: int, t: np.ndarray) -> np.ndarray:
    """``dQ_l^m(cos β)/dβ`` from the ladder relation, same shape as :func:`legendre_q`.

    With ``P̄ = Q / c_m`` (``c_0 = 1``, ``c_m = sqrt 2``):
    ``dP̄_l^m/dβ = (sqrt((l+m)(l−m+1)) P̄_l^{m−1} − sqrt((l−m)(l+m+1)) P̄_l^{m+1}) / 2`` for ``m >= 1``
    and ``dP̄_l^0/dβ = −sqrt(l(l+1)) P̄_l^1``.
    """
    Q = legendre_q(lmax + 1, t)[: lmax + 1]  # m up to lmax + 1 is needed (zero for m > l)
    c = np.array([1.0] + [math.sqrt(2)] * (lmax + 1))
    P = Q / c.reshape((1, -1) + (1,) * np.ndim(t))
    D = np.zeros((lmax + 1, lmax + 1) + np.shape(t))
    for l in range(lmax + 1):
        D[l, 0] = -math.sqrt(l * (l + 1)) * P[l, 1]
        for m in range(1, l + 1):
            D[l, m] = 0.5 * (math.sqrt((l + m) * (l - m + 1)) * P[l, m - 1]
                             - math.sqrt((l - m) * (l + m + 1)) * P[l, m + 1]) * c[m]
    return D


def trig(lmax: int, alpha: np.ndarray) -> np.ndarray:
    """``T[lmax + m, ...]``: ``cos(m α)`` for ``m >= 0``, ``sin(|m| α)`` for ``m < 0``."""
    alpha = np.asarray(alpha, dtype=np.float64)
    m = np.arange(-lmax, lmax + 1).reshape((-1,) + (1,) * alpha.ndim)
    return np.where(m >= 0, np.cos(m * alpha), np.sin(-m * alpha))


def real_sh(lmax: int, beta: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """All ``Y_lm(β, α)`` for ``l <= lmax``: shape ``(..., (lmax+1)²)`` (broadcast β with α)."""
    beta, alpha = np.broadcast_arrays(np.asarray(beta, np.float64), np.asarray(alpha, np.float64))
    Q, T = legendre_q(lmax, np.cos(beta)), trig(lmax, alpha)
    out = np.empty(beta.shape + ((lmax + 1) ** 2,))
    for l in range(lmax + 1):
        for m in range(-l, l + 1):
            out[..., sh_index(l, m)] = Q[l, abs(m)] * T[lmax + m]
    return out


def real_sh_xyz(lmax: int, vectors: np.ndarray) -> np.ndarray:
    """``Y_lm`` of unit vectors ``(..., 3)`` given as e3nn's ``(x, y, z)`` (polar axis ``y``)."""
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    beta = np.arccos(np.clip(v[..., 1], -1.0, 1.0))
    alpha = np.arctan2(v[..., 0], v[..., 2])
    return real_sh(lmax, beta, alpha)


@lru_cache(maxsize=64)
def gl_grid(n_beta: int, n_alpha: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, w, alpha)``: Gauss–Legendre nodes/weights in ``cos β`` (ascending) and uniform ``α``.

    ``Σ_i Σ_k w_i (2π/n_α) h(t_i, α_k) = ∫ h dΩ`` exactly for band-limited ``h`` (module docstring).
    """
    t, w = np.polynomial.legendre.leggauss(n_beta)
    alpha = 2 * math.pi * np.arange(n_alpha) / n_alpha
    for arr in (t, w, alpha):
        arr.setflags(write=False)
    return t, w, alpha


def exact_sizes(L1: int, L2: int, L3: int) -> tuple[int, int]:
    """Fewest ``(n_β, n_α)`` that integrate a product of degrees ``L1 · L2 · L3`` exactly."""
    total = L1 + L2 + L3
    return (total + 2) // 2, total + 1


def fft_size(n: int) -> int:
    """Smallest ``N >= n`` whose prime factors are 2, 3 and 5 (fast for pocketfft / MKL)."""
    while True:
        k = n
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return n
        n += 1


@lru_cache(maxsize=64)
def grid_sh(lmax: int, n_beta: int, n_alpha: int) -> np.ndarray:
    """``Y[i, k, lm]`` on the Gauss–Legendre × uniform grid, float64 (read-only, cached)."""
    t, _, alpha = gl_grid(n_beta, n_alpha)
    Y = real_sh(lmax, np.arccos(t)[:, None], alpha[None, :])
    Y.setflags(write=False)
    return Y


@lru_cache(maxsize=64)
def gl_legendre(lmax: int, n_beta: int) -> np.ndarray:
    """``Q[l, m, i] = Q_l^m(t_i)`` at the Gauss–Legendre nodes (read-only, cached)."""
    t, _, _ = gl_grid(n_beta, 1)
    Q = legendre_q(lmax, t)
    Q.setflags(write=False)
    return Q
