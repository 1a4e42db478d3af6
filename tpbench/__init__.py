"""tpbench: a benchmark suite for E(3)-equivariant tensor products.

The public API for writing and checking kernels::

    from tpbench import Kernel, Native, Problem, shapes
    from tpbench.equivariance import assert_equivariant
"""

from tpbench import shapes
from tpbench.errors import UserError
from tpbench.kernel import Kernel, Native, build_module, torch_dtype
from tpbench.problem import Problem

__all__ = ["Kernel", "Native", "Problem", "UserError", "build_module", "shapes", "torch_dtype"]
