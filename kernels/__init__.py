"""Built-in kernels, imported as ``tpbench_kernels``.

Every module in this package that defines ``KERNELS`` (a list of
:class:`tpbench.Kernel` instances) contributes them; modules import their
optional dependencies lazily, inside the kernel, so importing this package
never fails for want of a GPU package.
"""

from __future__ import annotations

import importlib
import pkgutil

from tpbench.kernel import Kernel


def _discover() -> list[Kernel]:
    found: list[Kernel] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "KERNELS", []))
    return found


BUILTINS: list[Kernel] = _discover()
