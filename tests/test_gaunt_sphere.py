"""Spherical-harmonic math of the Gaunt kernels: e3nn convention, orthonormality, rotation."""

import numpy as np
import pytest
import torch
from e3nn import o3

from tpbench.oracle.equivariance import group_elements
from tpbench.kernel.base import default_dtype
from tpbench.math.sphere import (exact_sizes, fft_size, gl_grid, grid_sh, legendre_q, legendre_q_dbeta,
                                     real_sh_xyz)


@pytest.fixture(scope="module")
def vectors():
    return np.random.default_rng(0).normal(size=(64, 3))


@pytest.mark.parametrize("l", range(13))
def test_matches_e3nn(vectors, l):
    want = o3.spherical_harmonics(l, torch.tensor(vectors), normalize=True, normalization="integral").numpy()
    got = real_sh_xyz(l, vectors)[:, l * l:]
    assert np.abs(got - want).max() < 1e-13


def test_orthonormal_to_degree_20():
    lmax = 20
    nb, na = exact_sizes(lmax, lmax, 0)
    _, w, _ = gl_grid(nb, na)
    Y = grid_sh(lmax, nb, na).reshape(nb * na, -1)
    gram = Y.T @ (Y * np.repeat(w * 2 * np.pi / na, na)[:, None])
    assert np.abs(gram - np.eye(len(gram))).max() < 1e-12


@pytest.mark.parametrize("l", [13, 20])
def test_rotates_with_e3nn_wigner_d(vectors, l):
    """Y(R v) = D_l(R) Y(v) beyond e3nn's own harmonics: our basis is e3nn's at every degree."""
    with default_dtype(torch.float64):
        R = group_elements("SO(3)", torch.Generator().manual_seed(l))[0][1]
        D = o3.Irrep(l, 1).D_from_matrix(R).numpy()
    Y = real_sh_xyz(l, vectors)[:, l * l:]
    Y_rot = real_sh_xyz(l, vectors @ R.numpy().T)[:, l * l:]
    assert np.abs(Y_rot - Y @ D.T).max() < 1e-9


def test_beta_derivative_matches_finite_differences():
    beta, h = np.linspace(0.1, 3.0, 11), 1e-6
    numeric = (legendre_q(10, np.cos(beta + h)) - legendre_q(10, np.cos(beta - h))) / (2 * h)
    assert np.abs(numeric - legendre_q_dbeta(10, np.cos(beta))).max() < 1e-7


def test_sizes():
    assert exact_sizes(10, 10, 20) == (21, 41)
    assert exact_sizes(1, 1, 2) == (3, 5)
    assert fft_size(41) == 45 and fft_size(64) == 64 and fft_size(7) == 8


def test_torus_fourier_series_of_harmonics():
    """gaunt-fft's SH -> 2D Fourier conversion reproduces Y_lm, on the far half of the torus too."""
    from tpbench_kernels.gaunt.fft import phi_series, sin_integral, theta_series
    from tpbench.math.sphere import real_sh

    L = 6
    a = theta_series(L)
    rng = np.random.default_rng(1)
    theta, phi = rng.uniform(0, 2 * np.pi, 20), rng.uniform(0, 2 * np.pi, 20)
    # (θ, φ) with θ > π is the sphere point (2π − θ, φ + π)
    beta = np.where(theta > np.pi, 2 * np.pi - theta, theta)
    alpha = np.where(theta > np.pi, phi + np.pi, phi)
    want = real_sh(L, beta, alpha)
    u = np.arange(-L, L + 1)
    for l in range(L + 1):
        for m in range(-l, l + 1):
            series = sum(bv * np.exp(1j * v * phi) for v, bv in phi_series(m).items())
            got = (a[l, abs(m)] @ np.exp(1j * np.outer(u, theta))) * series
            assert np.abs(got - want[:, l * l + l + m]).max() < 1e-12
    assert np.isclose(sin_integral(np.array([0]))[0], 2.0) and np.isclose(sin_integral(np.array([1]))[0], 0.5j * np.pi)
