"""Old module paths, kept working after the layout moved to layers (``tpbench.spec``, ``tpbench.oracle``, …).

A user's kernel file may say ``from tpbench.paths import tp_paths`` or
``from tpbench.correctness import run_gate`` (the README once did); such an
import resolves to the module's new home, the very same module object.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys

MOVED = {
    "tpbench.errors": "tpbench.spec.errors",
    "tpbench.problem": "tpbench.spec.problem",
    "tpbench.shapes": "tpbench.spec.shapes",
    "tpbench.paths": "tpbench.spec.paths",
    "tpbench.layout": "tpbench.spec.layout",
    "tpbench.precision": "tpbench.spec.precision",
    "tpbench.registry": "tpbench.kernel.registry",
    "tpbench.references": "tpbench.oracle.references",
    "tpbench.correctness": "tpbench.oracle.correctness",
    "tpbench.equivariance": "tpbench.oracle.equivariance",
    "tpbench.inputs": "tpbench.oracle.inputs",
    "tpbench.timing": "tpbench.measure.timing",
    "tpbench.heap": "tpbench.measure.heap",
    "tpbench.memory": "tpbench.measure.memory",
    "tpbench.telemetry": "tpbench.measure.telemetry",
    "tpbench.peaks": "tpbench.measure.peaks",
    "tpbench.variants": "tpbench.measure.variants",
    "tpbench.stats": "tpbench.measure.stats",
    "tpbench.environment": "tpbench.measure.environment",
    "tpbench.store": "tpbench.results.store",
    "tpbench.suite": "tpbench.run.suite",
    "tpbench.runner": "tpbench.run.runner",
    "tpbench.isolation": "tpbench.run.worker",
    "tpbench.expressivity": "tpbench.metrics.expressivity",
    "tpbench.summary": "tpbench.views.summary",
    "tpbench.compare": "tpbench.views.compare",
    "tpbench.compare_format": "tpbench.views.compare_format",
    "tpbench.export": "tpbench.views.export",
    "tpbench.publish": "tpbench.views.publish",
    "tpbench.report": "tpbench.views.report",
    "tpbench.commands": "tpbench.cli.commands",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name in MOVED:
            return importlib.machinery.ModuleSpec(name, self, is_package=False)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        pass  # already executed under its new name


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
