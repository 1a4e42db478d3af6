"""Clebsch–Gordan (Wigner 3j) coefficients in float64, cached.

e3nn's :func:`e3nn.o3.wigner_3j` recomputes the tensor on every call; kernels,
references and metrics ask for the same few ``(l1, l2, l3)`` many times.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from e3nn import o3


@lru_cache(maxsize=None)
def wigner_3j(l1: int, l2: int, l3: int) -> torch.Tensor:
    """e3nn's ``o3.wigner_3j`` in float64 (unit Frobenius norm), cached. Do not mutate."""
    return o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
