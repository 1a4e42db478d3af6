"""Where kernels come from: built-ins, installed plugins, and files.

* Built-ins and plugins alike: the entry-point group ``tpbench.kernels``. The
  built-in kernels (``kernels/``, installed as ``tpbench_kernels``) are
  registered there by tpbench's own ``pyproject.toml``, so the harness never
  imports them by name and they load the way a user's package does. An entry
  point may name a :class:`Kernel` subclass, a kernel instance, or a callable
  or list of kernels::

      [project.entry-points."tpbench.kernels"]
      my-tp = "my_package.tpbench_plugin:MyKernel"

* Files: ``--kernel path/to/my_tp.py`` imports the file and takes every
  :class:`Kernel` instance at module level, every ``Kernel`` subclass defined
  in the file (instantiated without arguments), and a ``KERNELS`` list.

A plugin or file that fails to import makes an *unavailable* placeholder
kernel carrying the error, not a crash.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.metadata
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Iterable

from tpbench.spec.errors import UserError
from tpbench.kernel.base import Kernel

ENTRY_POINT_GROUP = "tpbench.kernels"


class BrokenKernel(Kernel):
    """Stands in for a plugin that could not be loaded, so the failure shows in ``list kernels``."""

    family = "unknown"
    backend = "plugin"

    def __init__(self, name: str, reason: str):
        self._name, self._reason = name, reason

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._name

    def available(self) -> str | None:
        return self._reason


def _kernels_from(obj: object, origin: str) -> list[Kernel]:
    if isinstance(obj, Kernel):
        return [obj]
    if inspect.isclass(obj) and issubclass(obj, Kernel):
        return [obj()]
    if callable(obj):
        obj = obj()
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        items = list(obj)
        if all(isinstance(k, Kernel) for k in items):
            return items
    raise TypeError(f"{origin} is not a Kernel, a Kernel subclass, or a callable returning kernels")


def plugin_kernels() -> list[Kernel]:
    found: list[Kernel] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            found.extend(_kernels_from(ep.load(), f"entry point {ep.name!r}"))
        except Exception as exc:  # a broken plugin must not take the suite down
            found.append(BrokenKernel(ep.name, f"plugin failed to load: {type(exc).__name__}: {exc}"))
    return found


def load_kernel_file(path: str | Path) -> list[Kernel]:
    """Import a user's kernel file and return the kernels it defines."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"kernel file {str(path)!r} does not exist")
    # A stable name (not hash(), which is salted per process) so caches keyed by it survive restarts.
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"tpbench_user_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"kernel file {str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # nothing written beside the user's file
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:  # a file's sys.exit() must not end tpbench
        raise UserError(f"kernel file {str(path)!r} called sys.exit({exc.code!r}) while being imported") from None
    except Exception as exc:
        raise UserError(f"kernel file {str(path)!r} failed to import: {type(exc).__name__}: {exc}") from None
    finally:
        sys.dont_write_bytecode = dont_write
    listed = getattr(module, "KERNELS", [])
    if not isinstance(listed, (list, tuple)) or not all(isinstance(k, Kernel) for k in listed):
        raise UserError(f"kernel file {str(path)!r}: KERNELS must be a list of tpbench.Kernel instances, "
                        f"got {listed!r}"[:300])
    kernels: list[Kernel] = list(listed)
    for value in vars(module).values():
        if isinstance(value, Kernel) and value not in kernels:
            kernels.append(value)
        elif inspect.isclass(value) and issubclass(value, Kernel) and value.__module__ == module_name \
                and getattr(value, "name", "") and not any(type(k) is value for k in kernels):
            try:
                kernels.append(value())
            except Exception as exc:
                raise UserError(f"kernel file {str(path)!r}: kernel class {value.__name__} cannot be made "
                                f"without arguments: {type(exc).__name__}: {exc}") from None
    if not kernels:
        raise UserError(f"kernel file {str(path)!r} defines no kernel "
                        "(a tpbench.Kernel subclass with a name, an instance, or a KERNELS list)")
    seen: dict[str, Kernel] = {}
    for k in kernels:
        _check_attributes(path, k)
        if not k.name:
            raise UserError(f"kernel file {str(path)!r}: kernel class {type(k).__name__} has no name")
        if k.name in seen:  # one would silently replace the other
            raise UserError(f"kernel file {str(path)!r}: {type(seen[k.name]).__name__} and {type(k).__name__} "
                            f"are both named {k.name!r}; give each kernel its own name")
        seen[k.name] = k
    return kernels


def _check_attributes(path: Path, kernel: Kernel) -> None:
    """A kernel's declared attributes have the types the harness relies on, checked before any case."""
    from tpbench.spec.passes import PASSES

    where = f"kernel file {str(path)!r}: kernel class {type(kernel).__name__}"
    for attr in ("name", "family", "backend", "operation", "symmetry", "layout"):
        value = getattr(kernel, attr, "")
        if not isinstance(value, str):
            raise UserError(f"{where}: {attr} must be a string, got {value!r}")
    passes = getattr(kernel, "passes", ())
    if not isinstance(passes, (list, tuple)) or not all(p in PASSES for p in passes):
        raise UserError(f"{where}: passes must be a tuple of {', '.join(PASSES)}, got {passes!r}")


def origin_of(kernel: Kernel) -> str:
    """Where a kernel was defined, for messages: its file, else its module and class."""
    cls = type(kernel)
    module = sys.modules.get(cls.__module__)
    where = getattr(module, "__file__", None) if cls.__module__.startswith("tpbench_user_") else None
    return f"{where} ({cls.__name__})" if where else f"{cls.__module__}.{cls.__qualname__}"


def is_kernel_file(ref: str) -> bool:
    return ref.endswith(".py") or Path(ref).is_file()


class Registry:
    """All known kernels by name."""

    def __init__(self, kernels: Iterable[Kernel] = ()):
        self.kernels: dict[str, Kernel] = {}
        for k in kernels:
            self.add(k)

    @classmethod
    def default(cls) -> "Registry":
        return cls(plugin_kernels())

    def add(self, kernel: Kernel) -> None:
        self.kernels[kernel.name] = kernel

    def get(self, name: str) -> Kernel:
        if name not in self.kernels:
            close = [n for n in self.kernels if name.lower() in n.lower()][:5]
            hint = f"; did you mean {', '.join(close)}?" if close else "; see `tpbench list kernels`"
            raise UserError(f"unknown kernel {name!r}{hint}")
        return self.kernels[name]

    def select(self, patterns: Iterable[str]) -> list[Kernel]:
        """Kernels matching any pattern: a name, a glob (``cue-*``), or ``family:NAME``."""
        chosen: dict[str, Kernel] = {}
        for pattern in patterns:
            if pattern.startswith("family:"):
                hits = [k for k in self.kernels.values() if k.family == pattern[7:]]
            else:
                hits = [k for n, k in self.kernels.items() if fnmatch.fnmatchcase(n, pattern)]
            if not hits:
                if not pattern.startswith("family:") and not any(c in pattern for c in "*?["):
                    self.get(pattern)  # raises with "did you mean" hints
                raise UserError(f"no kernel matches {pattern!r}; see `tpbench list kernels`")
            chosen.update((k.name, k) for k in hits)
        return list(chosen.values())

    def resolve(self, refs: Iterable[str]) -> list[Kernel]:
        """``--kernel`` arguments: files are loaded and registered; names and globs are looked up."""
        out: dict[str, Kernel] = {}
        for ref in refs:
            if is_kernel_file(ref):
                for k in load_kernel_file(ref):
                    old = self.kernels.get(k.name)
                    if old is not None and origin_of(old) != origin_of(k):  # never a silent replacement
                        raise UserError(f"kernel {k.name!r} from {origin_of(k)} has the name of the kernel "
                                        f"from {origin_of(old)}; rename it")
                    self.add(k)
                    out[k.name] = k
            else:
                out.update((k.name, k) for k in self.select([ref]))
        return list(out.values())
