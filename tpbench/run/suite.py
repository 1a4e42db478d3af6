"""Suites: TOML files that expand into cases (problem × kernel × pass × variant).

Format (``suites/quick.toml`` is a worked example)::

    [suite]
    description = "..."
    device = "cpu"                  # default device; --device overrides
    kernels = ["*"]                 # names, globs or family:NAME
    exclude = ["reference-cg"]      # removed from the selection
    passes = ["fwd", "fwd+bwd"]
    dtypes = ["float32"]
    variants = ["eager"]            # also compile-default, compile-reduce-overhead,
                                    # compile-max-autotune, compile-dynamic (tpbench.measure.variants)

    [suite.timing]                  # optional timer settings
    budget_s = 0.3                  # per case
    warmup_s = 0.05
    min_samples = 5
    target_rel_ci = 0.01
    timer = "auto"                  # auto, cpu, hot, cold, graph (tpbench.measure.timing); --timer overrides

    [[problems]]                    # one table per shape family sweep
    family = "mimo"
    L = [1, 2, 3]                   # a list is an axis: the cartesian product is taken
    batch = 1000
    kernels = ["torch-cg"]          # optional: overrides [suite] kernels for this table
    passes = ["fwd"]                # optional, likewise

Unknown keys are errors that name the file, the line and the key.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from tpbench.spec.errors import UserError
from tpbench.spec.passes import PASSES
from tpbench.spec.precision import DTYPES
from tpbench.spec.problem import Problem
from tpbench.spec.shapes import FAMILIES, make_problem
from tpbench.measure.variants import VARIANTS as _VARIANT_OPTIONS

SUITES_DIR = Path(__file__).resolve().parents[2] / "suites"
SUITE_KEYS = {"description", "device", "kernels", "exclude", "passes", "dtypes", "variants", "timing"}
TIMING_KEYS = {"repeat", "budget_s", "warmup_s", "min_warmup_calls", "min_samples", "max_samples", "target_rel_ci",
               "min_sample_s", "timer"}
TABLE_KEYS = {"family", "kernels", "exclude", "passes", "dtypes", "batch", "dtype"}
VARIANTS = tuple(_VARIANT_OPTIONS)  # eager, compile-default, -reduce-overhead, -max-autotune, -dynamic


@dataclasses.dataclass
class Suite:
    name: str
    path: Path
    description: str
    device: str
    timing: dict[str, Any]
    tables: list[dict[str, Any]]  # normalised [[problems]] tables
    text: str = ""

    def problems(self) -> list[tuple[Problem, dict[str, Any]]]:
        """Every problem with the table it came from, in file order."""
        out = []
        for table in self.tables:
            axes = {k: v for k, v in table["params"].items()}
            names = list(axes)
            for values in itertools.product(*(v if isinstance(v, list) else [v] for v in axes.values())):
                for dtype in table["dtypes"]:
                    try:
                        problem = make_problem(table["family"], **dict(zip(names, values)), dtype=dtype)
                    except UserError as exc:
                        # Point at the key the message names, else at the table.
                        named = [k for k in table["params"] if k in str(exc)]
                        line = _line_of(self.text, named[0], table["line"]) if named else table["line"]
                        raise UserError(f"{self.path}:{line}: {exc}") from None
                    out.append((problem, table))
        return out


def _line_of(text: str, key: str, after: int = 0) -> int:
    pattern = re.compile(rf"^[ \t]*\"?{re.escape(key)}\"?[ \t]*=", re.M)
    for m in pattern.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        if line >= after:
            return line
    return after or 1


def _reject_unknown(path: Path, text: str, table: dict, allowed, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise UserError(f"{path}:{_line_of(text, key)}: unknown key {key!r} in {where}; "
                            f"expected one of {', '.join(sorted(allowed))}")


def _table_lines(text: str, header: str) -> list[int]:
    return [text.count("\n", 0, m.start()) + 1 for m in re.finditer(rf"^[ \t]*{re.escape(header)}[ \t]*$", text, re.M)]


def _check_choice(path, text, key, values, allowed, after=0) -> list:
    values = values if isinstance(values, list) else [values]
    for v in values:
        if v not in allowed:
            raise UserError(f"{path}:{_line_of(text, key, after)}: {key}: unknown value {v!r}; "
                            f"expected one of {', '.join(allowed)}")
    return values


def suite_path(ref: str) -> Path:
    """A suite by name (``suites/NAME.toml``) or by file path."""
    candidate = Path(ref)
    if candidate.suffix == ".toml" or candidate.exists():
        if not candidate.is_file():
            raise UserError(f"suite file {ref!r} does not exist")
        return candidate
    named = SUITES_DIR / f"{ref}.toml"
    if not named.is_file():
        raise UserError(f"unknown suite {ref!r}; known: {', '.join(available_suites())}")
    return named


def available_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(ref: str) -> Suite:
    path = suite_path(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); a suite is a TOML file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    for key in data:
        if key not in ("suite", "problems"):
            raise UserError(f"{path}:{_line_of(text, key)}: unknown top-level key {key!r} "
                            "(expected [suite] and [[problems]])")
    head = _table(path, text, data.get("suite", {}), "suite", "[suite]")
    _reject_unknown(path, text, head, SUITE_KEYS, "[suite]")
    timing = _table(path, text, head.get("timing", {}), "timing", "[suite.timing]")
    _reject_unknown(path, text, timing, TIMING_KEYS, "[suite.timing]")
    _check_timing(path, text, timing)
    for key in ("description", "device"):
        if not isinstance(head.get(key, ""), str):
            raise UserError(f"{path}:{_line_of(text, key)}: {key} must be a string, got {head[key]!r}")
    problems = data.get("problems", [])
    if not isinstance(problems, list) or not all(isinstance(t, dict) for t in problems):
        raise UserError(f"{path}:{_line_of(text, 'problems')}: problems must be [[problems]] tables, "
                        f"got {problems!r}"[:300])
    for key in ("kernels", "exclude"):
        _check_names(path, text, key, head.get(key, []))
    defaults = {
        "kernels": head.get("kernels", ["*"]),
        "exclude": head.get("exclude", []),
        "passes": _check_choice(path, text, "passes", head.get("passes", ["fwd", "fwd+bwd"]), PASSES),
        "dtypes": _check_choice(path, text, "dtypes", head.get("dtypes", ["float32"]), DTYPES),
        "variants": _check_choice(path, text, "variants", head.get("variants", ["eager"]), VARIANTS),
    }
    lines = _table_lines(text, "[[problems]]")
    tables = []
    for n, raw in enumerate(problems):
        start = lines[n] if n < len(lines) else 1
        tables.append(_normalise_table(path, text, raw, defaults, start))
    if not tables:
        raise UserError(f"{path}: the suite has no [[problems]] table")
    return Suite(path.stem, path, head.get("description", ""), head.get("device", "cpu"), timing, tables, text)


def _normalise_table(path: Path, text: str, raw: dict, defaults: dict, line: int) -> dict[str, Any]:
    family = raw.get("family")
    if family not in FAMILIES:
        raise UserError(f"{path}:{_line_of(text, 'family', line)}: unknown or missing family {family!r}; "
                        f"known: {', '.join(FAMILIES)}")
    import inspect

    accepted = set(inspect.signature(FAMILIES[family]).parameters) - {"dtype"}
    params = {}
    for key, value in raw.items():
        if key in TABLE_KEYS - {"batch", "dtype"}:
            continue
        if key not in accepted and key not in ("batch", "dtype"):
            raise UserError(f"{path}:{_line_of(text, key, line)}: unknown key {key!r} for family {family!r}; "
                            f"expected {', '.join(sorted(accepted | TABLE_KEYS))}")
        if key != "dtype":
            params[key] = value
    for key in ("kernels", "exclude"):
        _check_names(path, text, key, raw.get(key, []), line)
    for value in params["batch"] if isinstance(params.get("batch"), list) else [params.get("batch", 1)]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{path}:{_line_of(text, 'batch', line)}: batch must be a positive whole number, "
                            f"got {value!r}")
    dtypes = raw.get("dtypes", [raw["dtype"]] if "dtype" in raw else defaults["dtypes"])
    return {
        "family": family,
        "params": params,
        "line": line,
        "kernels": raw.get("kernels", defaults["kernels"]),
        "exclude": raw.get("exclude", defaults["exclude"]),
        "passes": _check_choice(path, text, "passes", raw.get("passes", defaults["passes"]), PASSES, line),
        "dtypes": _check_choice(path, text, "dtypes", dtypes, DTYPES, line),
        "variants": defaults["variants"],
    }


def _table(path: Path, text: str, value: Any, key: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise UserError(f"{path}:{_line_of(text, key)}: {where} must be a table, got {value!r}"[:300])
    return value


def _check_names(path: Path, text: str, key: str, value: Any, after: int = 0) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"{path}:{_line_of(text, key, after)}: {key} must be a list of kernel names or globs, "
                        f"got {value!r}"[:300])


# [suite.timing] keys: counts are whole numbers >= 1 (warm-up calls >= 0); durations are numbers >= 0.
_COUNTS = {"repeat": 1, "min_samples": 1, "max_samples": 1, "min_warmup_calls": 0}
_DURATIONS = ("budget_s", "warmup_s", "min_sample_s", "target_rel_ci")


def _check_timing(path: Path, text: str, timing: dict) -> None:
    for key, value in timing.items():
        bad = None
        if key in _COUNTS and (isinstance(value, bool) or not isinstance(value, int) or value < _COUNTS[key]):
            bad = f"a whole number >= {_COUNTS[key]}"
        elif key in _DURATIONS and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            bad = "a number >= 0"
        if key == "budget_s" and bad is None and value <= 0:
            bad = "a number > 0"
        if bad:
            raise UserError(f"{path}:{_line_of(text, key)}: [suite.timing] {key} must be {bad}, got {value!r}")
