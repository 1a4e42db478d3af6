"""What a run was made from, so that ``--resume`` never runs code or a suite it was not given.

A new run records in ``run.json`` each ``--kernel`` file's path and SHA-256
and the suite file's path and SHA-256. A results directory is data: anyone
who can write one (a shared file system, a downloaded run) could otherwise
make ``--resume`` import a file of their choosing. So on resume:

* a kernel file is imported only if the user passes it again with
  ``--kernel`` and its content hash equals the recorded one;
* the suite (``--suite`` if given, else the recorded file) must have the
  recorded hash, or the resumed run would mix problems of two suites.

Each mismatch is a :class:`~tpbench.spec.errors.UserError` saying what differs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable

from tpbench.kernel.registry import is_kernel_file
from tpbench.spec.errors import UserError


def sha256_of(path: str | Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise UserError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None


def kernel_files(refs: Iterable[str]) -> list[dict[str, str]]:
    """``[{"path", "sha256"}]`` of the ``--kernel`` refs that are files, for ``run.json``."""
    return [{"path": str(Path(r).resolve()), "sha256": sha256_of(r)} for r in refs if is_kernel_file(r)]


def resume_kernels(manifest: dict[str, Any], run: str, passed: Iterable[str]) -> list[str]:
    """The ``--kernel`` refs a resumed run uses: its recorded names, or the user's, and the files the
    user passed again, each checked against its recorded hash."""
    passed = list(passed)
    passed_files = [r for r in passed if is_kernel_file(r)]
    recorded_refs = list(manifest.get("kernels") or [])
    recorded = manifest.get("kernel_files")
    if recorded is None:  # a run from before hashes were recorded: its files are named, not hashed
        recorded = [{"path": r, "sha256": None} for r in recorded_refs if is_kernel_file(r)]
    hashes = {str(Path(f).resolve()): sha256_of(f) for f in passed_files}
    for entry in recorded:
        want, name = entry.get("sha256"), Path(str(entry.get("path"))).name
        if want is not None and want in hashes.values():
            continue
        same_name = [p for p in hashes if Path(p).name == name]
        if want is None and same_name:
            continue
        if same_name:
            raise UserError(f"--resume {run}: kernel file {same_name[0]} differs from the one the run used "
                            f"(sha256 {hashes[same_name[0]][:12]}…, recorded {want[:12]}…); start a new run")
        raise UserError(f"--resume {run}: the run used kernel file {entry.get('path')}; a results directory "
                        f"never makes tpbench import code, so pass it again with --kernel FILE")
    known = {e.get("sha256") for e in recorded} | {Path(str(e.get("path"))).name for e in recorded}
    for path, digest in hashes.items():
        if digest not in known and Path(path).name not in known:
            raise UserError(f"--resume {run}: kernel file {path} was not part of this run; start a new run")
    names = [r for r in passed if not is_kernel_file(r)] or [r for r in recorded_refs if not is_kernel_file(r)]
    return names + passed_files


def check_resume_suite(manifest: dict[str, Any], run: str, suite_path: Path, given: bool) -> None:
    """Refuse a resumed run whose suite is another file, or the same file changed since."""
    want = manifest.get("suite_sha256")
    if want is None:
        return  # a run from before suite hashes were recorded
    have = sha256_of(suite_path)
    if have == want:
        return
    recorded = manifest.get("suite_path") or manifest.get("suite")
    if given and str(Path(suite_path).resolve()) != str(recorded):
        raise UserError(f"--resume {run}: --suite {suite_path} is not this run's suite {recorded} "
                        f"(sha256 {have[:12]}… vs {want[:12]}…); drop --suite or start a new run")
    raise UserError(f"--resume {run}: suite file {suite_path} changed since the run started "
                    f"(sha256 {have[:12]}…, recorded {want[:12]}…); restore it or start a new run")
