"""The results store: a run directory of plain JSON, append-only.

Layout of ``results/<run-id>/``::

    run.json      the manifest: schema version, suite, settings, environment
    cases.jsonl   one JSON object per finished case, appended and flushed
                  (and fsync'ed) as the case finishes

Loading never runs code (JSON only, never pickle). A line that is truncated
(a run killed mid-write) or written by a newer schema is reported with its
file and line number and skipped; the rest loads. Appending after a truncated
tail first cuts the partial line so the file stays one object per line.

The fields of a case line are documented in the README ("Results schema").
"""

from __future__ import annotations

import dataclasses

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable

from tpbench.spec.errors import UserError

SCHEMA_VERSION = 1
MANIFEST = "run.json"
CASES = "cases.jsonl"
SHARDS = "shards"  # shards/<i>-of-<n>.jsonl: one file per shard of a sharded run, merged on load or by `tpbench merge`


class ResultsWarning(UserWarning):
    """A line or file of a results directory that could not be used."""


CASE_FIELDS = ("kernel", "problem_id", "pass", "variant", "device")


def case_key(record: dict[str, Any]) -> str:
    """Identity of a case within a run: kernel × problem × pass × variant × device × repetition."""
    return "|".join([*(str(record.get(k)) for k in CASE_FIELDS), str(record.get("repetition") or 0)])


class RunStore:
    """A run directory opened for appending: to ``cases.jsonl``, or with ``shard`` to its own shard file."""

    def __init__(self, directory: str | os.PathLike, shard: str | None = None):
        self.dir = Path(directory)
        self.cases_path = self.dir / SHARDS / f"{shard}.jsonl" if shard else self.dir / CASES

    @property
    def run_id(self) -> str:
        return self.dir.name

    @classmethod
    def create(cls, directory: str | os.PathLike, manifest: dict[str, Any], shard: str | None = None) -> "RunStore":
        store = cls(directory, shard)
        store.dir.mkdir(parents=True, exist_ok=False)
        data = {"schema_version": SCHEMA_VERSION, "run_id": store.run_id, **manifest}
        (store.dir / MANIFEST).write_text(json.dumps(data, indent=2, default=str) + "\n")
        (store.dir / CASES).touch()
        return store

    def manifest(self) -> dict[str, Any]:
        return require_manifest(self.dir)

    def _repair_tail(self) -> None:
        """Drop a half-written last line (a run killed mid-write). Reads one byte when the file is
        whole: this runs before every append, and reading the whole file made a run quadratic."""
        path = self.cases_path
        try:
            with open(path, "rb") as f:
                if f.seek(0, os.SEEK_END) == 0:
                    return
                f.seek(-1, os.SEEK_END)
                if f.read(1) == b"\n":
                    return
        except FileNotFoundError:
            return
        data = path.read_bytes()
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(cut)
        warnings.warn(f"{path}: dropped a truncated last line (a run stopped mid-write)", ResultsWarning)

    def append(self, record: dict[str, Any]) -> None:
        """Write one finished case durably."""
        self.append_many([record])

    def append_many(self, records: list[dict[str, Any]]) -> None:
        """Write finished cases durably, with one ``fsync`` for all of them."""
        if not records:
            return
        text = "".join(json.dumps({"schema": SCHEMA_VERSION, **r}, default=_jsonable, allow_nan=True) + "\n"
                       for r in records)
        self._repair_tail()
        self.cases_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.cases_path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def records(self) -> list[dict[str, Any]]:
        """Every case of the run, shards included."""
        return read_run_cases(self.dir)

    def done_keys(self, retry: bool = False) -> set[str]:
        """Keys of the cases already recorded; with ``retry``, failed ones (:data:`RETRYABLE`) are not done."""
        return {case_key(r) for r in self.records() if not (retry and r.get("status") in RETRYABLE)}

    def failed_keys(self) -> set[str]:
        return {case_key(r) for r in self.records() if r.get("status") in RETRYABLE}


def shard_files(directory: str | os.PathLike) -> list[Path]:
    return sorted((Path(directory) / SHARDS).glob("*.jsonl"))


RETRYABLE = ("error", "timeout", "oom")  # statuses `tpbench run --resume --retry` runs again


def read_run_cases(directory: str | os.PathLike) -> list[dict[str, Any]]:
    """``cases.jsonl`` and every shard file of a run, each case once.

    The first record of a key wins, except that a record marked ``retry`` (written by
    ``--resume --retry``) replaces an earlier failed one (:data:`RETRYABLE`).
    """
    directory = Path(directory)
    position: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    for path in [directory / CASES, *shard_files(directory)]:
        if not path.exists():
            continue
        for record in read_cases(path):
            key = case_key(record)
            if key not in position:
                position[key] = len(out)
                out.append(record)
            elif record.get("retry") and out[position[key]].get("status") in RETRYABLE:
                out[position[key]] = record
    return out


def machines_of(records: Iterable[dict[str, Any]]) -> set[str]:
    """The machine fingerprints the records were measured on (records from before fingerprints: none)."""
    return {str(r["machine"]) for r in records if r.get("machine")}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def read_cases(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every valid case line of a ``cases.jsonl``; bad lines are warned about with file and line."""
    records = []
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                warnings.warn(f"{path}:{number}: unreadable line skipped ({exc.msg})", ResultsWarning)
                continue
            if not isinstance(record, dict):
                warnings.warn(f"{path}:{number}: not a JSON object, skipped", ResultsWarning)
                continue
            schema = record.get("schema", 1)
            if not isinstance(schema, int):
                warnings.warn(f"{path}:{number}: schema {schema!r} is not a version number, skipped", ResultsWarning)
                continue
            if schema > SCHEMA_VERSION:
                warnings.warn(f"{path}:{number}: schema {record.get('schema')} is newer than this tpbench "
                              f"({SCHEMA_VERSION}), skipped", ResultsWarning)
                continue
            records.append(record)
    return records


def find_run(ref: str | os.PathLike, root: str | os.PathLike = "results") -> Path:
    """A run directory given its path, its id under ``root``, or ``latest``."""
    if str(ref) == "latest":
        runs = sorted((p for p in Path(root).glob(f"*/{CASES}")), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise UserError(f"no run under {root}/ yet: start one with `tpbench run`")
        return runs[-1].parent
    for candidate in (Path(ref), Path(root) / str(ref)):
        if (candidate / CASES).exists():
            return candidate
    raise UserError(f"no run {str(ref)!r}: expected a directory holding {CASES} (or a run id under {root}/)")


def load_runs(refs: Iterable[str | os.PathLike], root: str | os.PathLike = "results"):
    """Cases of one or more runs as a pandas DataFrame (one row per case, ``run_id`` column added)."""
    runs = []
    for ref in refs:
        runs.append(open_run(ref, root))
        for message in runs[-1].warnings:
            warnings.warn(message, ResultsWarning)
    return frame(runs)


def frame(runs: Iterable["OpenedRun"]):
    """The records of opened runs as one DataFrame, repetitions merged (:func:`collapse_repetitions`)."""
    import pandas as pd

    rows = [{**record, "run_id": record.get("run_id") or run.run_id} for run in runs for record in run.records]
    return pd.DataFrame(collapse_repetitions(rows))


def collapse_repetitions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per case: repetitions (rounds of a run) merged.

    ``median_ms`` becomes the median of the repetitions' medians,
    ``repeat_medians_ms`` lists them, ``samples_ms`` pools the raw samples and
    ``n_samples`` counts them; a case is ``ok`` only if every repetition was.
    Other fields come from the first repetition. (Plain dicts, not a pandas
    group-by: that took seconds on the quick suite's 7,000 records.)
    """
    import statistics

    if not any(r.get("repetition") for r in records):
        return records
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(tuple(str(record.get(k)) for k in ("run_id", *CASE_FIELDS)), []).append(record)
    out = []
    for group in groups.values():
        row = dict(group[0])
        failed = [r for r in group if r.get("status") != "ok"]
        if failed:
            row.update(status=failed[0].get("status"), reason=failed[0].get("reason"))
        elif all(r.get("median_ms") is not None for r in group):
            medians = [float(r["median_ms"]) for r in group]
            row.update(repeat_medians_ms=medians, median_ms=float(statistics.median(medians)))
            if any("samples_ms" in r for r in group):
                row["samples_ms"] = [x for r in group for x in (r.get("samples_ms") or [])]
                row["n_samples"] = len(row["samples_ms"])
        row["repetitions"] = len(group)
        out.append(row)
    return out


def require_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """A run directory's ``run.json`` as an object, or a one-line :class:`UserError` saying what is wrong.

    The commands that read a run call this first: a run directory without a
    readable manifest is not a run to show, compare, export or resume.
    """
    from tpbench.spec.errors import UserError

    path = Path(directory) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing; {Path(directory).name} is not a complete run directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: unreadable ({exc}); the run directory is damaged") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a JSON object (got {type(data).__name__}); the run directory is damaged")
    return data


def load_manifest(ref: str | os.PathLike, root: str | os.PathLike = "results") -> dict[str, Any]:
    directory = find_run(ref, root)
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        warnings.warn(f"{directory / MANIFEST}: unreadable manifest ({exc})", ResultsWarning)
        return {"run_id": directory.name}


def as_dict(value: Any) -> dict[str, Any]:
    """A manifest field that should hold an object; ``{}`` where a corrupt ``run.json`` says otherwise."""
    return value if isinstance(value, dict) else {}


@dataclasses.dataclass
class OpenedRun:
    """A run directory read once: its manifest (always a dict), its case records and the load warnings."""

    directory: Path
    manifest: dict[str, Any]
    records: list[dict[str, Any]]
    warnings: list[str]

    @property
    def run_id(self) -> str:
        return self.directory.name


def open_run(ref: str | os.PathLike, root: str | os.PathLike = "results") -> OpenedRun:
    """Read a run, collecting the store's :class:`ResultsWarning` s (bad lines skipped) instead of emitting them."""
    directory = find_run(ref, root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResultsWarning)
        manifest = load_manifest(directory, root)
        records = read_run_cases(directory)
    messages = [str(w.message) for w in caught if issubclass(w.category, ResultsWarning)]
    manifest = as_dict(manifest)
    machines = machines_of(records)
    if len(machines) > 1 and not manifest.get("mixed_machines"):
        raise UserError(f"run {directory.name!r} holds cases measured on {len(machines)} different machines "
                        f"({', '.join(sorted(machines))}); they are never ranked together. To keep them as one "
                        f"run grouped by machine: tpbench merge {directory} --allow-mixed")
    return OpenedRun(directory, manifest, records, list(dict.fromkeys(messages)))


def merge(ref: str | os.PathLike, root: str | os.PathLike = "results", allow_mixed: bool = False) -> dict[str, int]:
    """Fold the shard files of a run into ``cases.jsonl`` (shard files move to ``shards/merged/``).

    Cases already in ``cases.jsonl`` are kept; a case present in several
    shards is taken once. Records from different machines (fingerprints) are
    refused unless ``allow_mixed``, which marks the run ``mixed_machines`` so
    that views group by machine.
    """
    directory = find_run(ref, root)
    files = shard_files(directory)
    existing = read_cases(directory / CASES) if (directory / CASES).exists() else []
    incoming = [r for path in files for r in read_cases(path)]
    machines = machines_of(existing + incoming)
    if len(machines) > 1 and not allow_mixed:
        raise UserError(f"run {directory.name!r}: shards come from {len(machines)} different machines "
                        f"({', '.join(sorted(machines))}); merging them would rank across machines. "
                        "Pass --allow-mixed to keep them, grouped by machine")
    store, seen, added = RunStore(directory), {case_key(r) for r in existing}, 0
    for record in incoming:
        if case_key(record) not in seen:
            seen.add(case_key(record))
            store.append({k: v for k, v in record.items() if k != "schema"})
            added += 1
    if len(machines) > 1:
        manifest = load_manifest(directory, root)
        manifest["mixed_machines"] = True
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    done = directory / SHARDS / "merged"
    done.mkdir(parents=True, exist_ok=True)
    for path in files:
        path.rename(done / path.name)
    return {"shards": len(files), "added": added, "machines": len(machines)}
