"""What a run ran on: versions, CPU, threads, GPU and driver, the project's git state."""

from __future__ import annotations

import functools
import hashlib
import json

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "e3nn", "cuequivariance", "cuequivariance-torch", "cuequivariance-ops-torch-cu12",
            "cuequivariance-ops-torch-cu13", "openequivariance", "numpy", "scipy", "tpbench")


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_state(cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the tpbench checkout (``None`` outside git)."""
    where = cwd or Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def gpu_info() -> list[dict[str, Any]]:
    """Name, driver, memory and clocks of each GPU via nvidia-ml-py; empty without one."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver / no GPU: NVML raises its own error types
        return []
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            gpus.append({
                "index": i,
                "name": pynvml.nvmlDeviceGetName(h),
                "driver": driver,
                "memory_total_mb": pynvml.nvmlDeviceGetMemoryInfo(h).total / 2**20,
                "max_sm_clock_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM),
                "max_mem_clock_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_MEM),
            })
        return gpus
    finally:
        pynvml.nvmlShutdown()


def environment(threads: int | None = None) -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads if threads is not None else torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "gpus": gpu_info(),
        "packages": {name: _version(name) for name in PACKAGES},
        "git": git_state(),
    }


def fingerprint(env: dict[str, Any]) -> str:
    """A short hash of what makes timings comparable: CPU, GPUs and driver, Python and package versions.

    Host names, thread settings and the git state are left out: two nodes of
    one cluster partition share a fingerprint, a node with another GPU or
    driver or torch does not.
    """
    facts = {
        "cpu": env.get("cpu"), "cpu_count": env.get("cpu_count"), "python": env.get("python"),
        "gpus": [(g.get("name"), g.get("driver")) for g in env.get("gpus") or [] if isinstance(g, dict)],
        "packages": env.get("packages"),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def machine() -> str:
    """This process's machine :func:`fingerprint` (computed once)."""
    return fingerprint(environment())


def contention(threads: int) -> dict[str, Any]:
    """The 1-minute load average when a case starts timing, and whether other work competed for the cores.

    With ``threads`` OpenMP threads on a machine whose other work leaves
    fewer than ``threads`` cores free, a thread waits at every barrier for a
    descheduled sibling: measured here, ``torch-cg`` on a channelwise problem
    took 55x longer with 2 threads on 2 busy cores than with 1. The load
    average lags by tens of seconds and counts this process too, so the flag
    is a warning, not a proof.
    """
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return {}
    cores = os.cpu_count() or 1
    return {"load_average": round(load, 2), "contended": bool(load > cores + 0.5 and threads > 1)}
