"""Precisions: the names a problem's ``dtype`` takes, the tensors they store, and TF32.

=============  ==================  ===========================================
name           tensor dtype        notes
=============  ==================  ===========================================
``float64``    ``torch.float64``   the oracle's precision
``float32``    ``torch.float32``   TF32 off
``tf32``       ``torch.float32``   TF32 on for CUDA matmuls and convolutions
``bfloat16``   ``torch.bfloat16``
``float16``    ``torch.float16``
=============  ==================  ===========================================

PyTorch's TF32 switches are process-global, so a case sets them explicitly
(not inheriting whatever the previous case or the user left) and restores
them after. They affect CUDA matmuls and convolutions only; on the CPU they
are recorded but change nothing.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

DTYPES = ("float64", "float32", "tf32", "bfloat16", "float16")
_TENSOR_DTYPE = {"float64": torch.float64, "float32": torch.float32, "tf32": torch.float32,
                 "bfloat16": torch.bfloat16, "float16": torch.float16}


def torch_dtype(name: str) -> torch.dtype:
    """The tensor dtype of a precision name (``tf32`` computes in float32 storage)."""
    return _TENSOR_DTYPE[name]


def itemsize(name: str) -> int:
    """Bytes per stored element of a precision."""
    return torch.empty((), dtype=torch_dtype(name)).element_size()


def tf32_for(dtype: str) -> bool:
    return dtype == "tf32"


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Temporarily set torch's default dtype.

    e3nn computes its constants (Wigner D generators, CG buffers) in the default
    dtype at construction: a module built under float32 and cast to float64
    keeps float32-accurate coefficients (~1e-7 relative). Building under the
    target dtype avoids that.
    """
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype if dtype in (torch.float32, torch.float64) else torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


@contextlib.contextmanager
def precision(dtype: str) -> Iterator[dict[str, Any]]:
    """Set ``allow_tf32`` for matmul and cuDNN for ``dtype``; yield the record fields."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    on = tf32_for(dtype)
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    try:
        yield {"allow_tf32_matmul": on, "allow_tf32_cudnn": on}
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
