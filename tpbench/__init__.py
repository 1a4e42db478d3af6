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

import importlib

from tpbench import _moved

_moved.install()

# Imported on first use: `tpbench --help` and the worker's early start should not wait for torch.
_EXPORTS = {"Kernel": "tpbench.kernel.base", "build_module": "tpbench.kernel.base", "shapes": None,
            "UserError": "tpbench.spec.errors", "Native": "tpbench.spec.native",
            "torch_dtype": "tpbench.spec.precision", "Problem": "tpbench.spec.problem"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tpbench' has no attribute {name!r}")
    if name == "shapes":
        return importlib.import_module("tpbench.spec.shapes")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
