"""The kernel layer: the interface every implementation follows, and where kernels come from."""

from tpbench.kernel.base import Kernel, Native, build_module, default_dtype, torch_dtype

__all__ = ["Kernel", "Native", "build_module", "default_dtype", "torch_dtype"]
