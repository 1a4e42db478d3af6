"""tpbench: a benchmark suite for E(3)-equivariant tensor products.

The public API for writing and checking kernels::

    from tpbench import Kernel, Native, Problem, shapes
    from tpbench.oracle.correctness import run_gate
    from tpbench.oracle.equivariance import assert_equivariant

The layers, each importing only the ones below it (checked in CI by
import-linter, ``.importlinter``)::

    cli       the command line, one module per command
    views     show, compare, export, publish, the HTML report
    metrics   expressivity and interactability
    run       suites, cases, the runner, the worker, the sweep
    results   the run directory: append-only JSON lines, loading
    measure   timers, heap, memory, telemetry, peaks, compile variants, statistics, environment
    oracle    float64 references, inputs, equivariance, the correctness gate
    kernel    the kernel interface and the registry (entry points, files)
    spec      problems, shape families, paths, passes, precision, work
    math      sphere quadrature, cached Clebsch–Gordan coefficients
"""

from tpbench import _moved
from tpbench.kernel.base import Kernel, build_module
from tpbench.spec import shapes
from tpbench.spec.errors import UserError
from tpbench.spec.native import Native
from tpbench.spec.precision import torch_dtype
from tpbench.spec.problem import Problem

_moved.install()

__all__ = ["Kernel", "Native", "Problem", "UserError", "build_module", "shapes", "torch_dtype"]
