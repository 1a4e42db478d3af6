"""What each run ran on, as label/value rows for the report's environment section."""

from __future__ import annotations

from typing import Any

from tpbench.results.store import as_dict


def env_rows(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """Device, machine, versions, clocks, timer settings and measured peaks of one run."""
    env = as_dict(manifest.get("environment"))
    git = as_dict(env.get("git"))
    settings = as_dict(manifest.get("settings"))
    timing = as_dict(settings.get("timing"))
    rows = [
        ("suite", manifest.get("suite")), ("description", manifest.get("description")),
        ("created", manifest.get("created")), ("device", manifest.get("device")),
        ("hostname", env.get("hostname")), ("CPU", env.get("cpu")), ("CPU count", env.get("cpu_count")),
        ("torch threads", env.get("torch_threads")), ("python", env.get("python")),
        ("platform", env.get("platform")), ("CUDA", env.get("cuda_version")),
        ("git commit", _commit(git)),
        ("timer", settings.get("timer")), ("budget per case (s)", settings.get("budget_s", timing.get("budget_s"))),
        ("noise target (rel. CI)", timing.get("target_rel_ci")), ("cases isolated", settings.get("isolate")),
        ("seed", manifest.get("seed")),
    ]
    rows += gpu_rows(env.get("gpus"))
    packages = as_dict(env.get("packages"))
    rows += [(f"package {name}", version) for name, version in packages.items() if version]
    rows += peak_rows(as_dict(manifest.get("peaks")))
    return [(label, str(value)) for label, value in rows if value not in (None, "", [], {})]


def gpu_rows(gpus: Any) -> list[tuple[str, Any]]:
    rows = []
    for i, gpu in enumerate(gpus if isinstance(gpus, list) else []):
        gpu = as_dict(gpu)
        rows += [(f"GPU {i}", gpu.get("name")), (f"GPU {i} driver", gpu.get("driver")),
                 (f"GPU {i} memory (MB)", _round(gpu.get("memory_total_mb"))),
                 (f"GPU {i} max SM clock (MHz)", gpu.get("max_sm_clock_mhz")),
                 (f"GPU {i} max memory clock (MHz)", gpu.get("max_mem_clock_mhz"))]
    return rows


def peak_rows(peaks: dict[str, Any]) -> list[tuple[str, Any]]:
    units = {"bandwidth_gbs": "GB/s", "fp32_tflops": "TFLOP/s", "tf32_tflops": "TFLOP/s"}
    rows = []
    for kind in ("measured", "datasheet"):
        for key, value in as_dict(peaks.get(kind)).items():
            name = key.rsplit("_", 1)[0] if key in units else key
            rows.append((f"{kind} peak {name}", f"{value} {units.get(key, '')}".strip()))
    return rows


def _commit(git: dict[str, Any]) -> str | None:
    commit = git.get("commit")
    if not commit:
        return None
    return f"{str(commit)[:12]}{' (dirty)' if git.get('dirty') else ''}"


def _round(value: Any) -> Any:
    return round(value) if isinstance(value, (int, float)) else value




def env_table(manifests: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Rows of label → one value per run (blank where a run lacks it), labels in first-seen order."""
    per_run = [dict(env_rows(m)) for m in manifests.values()]
    labels: dict[str, None] = {}
    for rows in per_run:
        labels.update(dict.fromkeys(rows))
    return [(label, [rows.get(label, "") for rows in per_run]) for label in labels]
