"""Precision settings of a case: TF32 on for ``tf32`` problems, off for every other.

PyTorch's TF32 switches are process-global, so a case sets them explicitly
(not inheriting whatever the previous case or the user left) and restores
them after. They affect CUDA matmuls and convolutions only; on the CPU they
are recorded but change nothing.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator


def tf32_for(dtype: str) -> bool:
    return dtype == "tf32"


@contextlib.contextmanager
def precision(dtype: str) -> Iterator[dict[str, Any]]:
    """Set ``allow_tf32`` for matmul and cuDNN for ``dtype``; yield the record fields."""
    import torch

    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    on = tf32_for(dtype)
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    try:
        yield {"allow_tf32_matmul": on, "allow_tf32_cudnn": on}
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
