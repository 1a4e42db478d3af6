"""Build realistic tpbench result records for tests (and for the golden files in tests/data).

The numbers follow simple cost models (runtime grows like L^k × batch) with
log-normal noise from a seeded generator, so files are reproducible and plots
look like real sweeps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

PASS_COST = {"fwd": 1.0, "fwd+bwd": 2.8, "fwd+bwd+bwd": 6.5}


def manifest(run_id: str, *, device: str = "cpu", hostname: str = "bench-01", gpu: str | None = None,
             commit: str = "0123456789abcdef0123456789abcdef01234567", peaks: bool = False) -> dict[str, Any]:
    """A run.json as `tpbench run` writes it."""
    gpus = [] if gpu is None else [{"index": 0, "name": gpu, "driver": "580.65.06", "memory_total_mb": 81559.0,
                                    "max_sm_clock_mhz": 1980, "max_mem_clock_mhz": 2619}]
    data = {
        "schema_version": 1, "run_id": run_id, "suite": "quick", "created": "2026-11-20T10:15:00+00:00",
        "argv": ["tpbench", "run", "--suite", "quick", "--device", device], "device": device,
        "settings": {"timer": "cuda-events" if device == "cuda" else "perf_counter", "budget_s": 2.0,
                     "threads": 2},
        "environment": {
            "python": "3.11.7", "platform": "Linux-6.8-x86_64-with-glibc2.36", "hostname": hostname,
            "cpu": "AMD EPYC 9654 96-Core Processor", "cpu_count": 2, "torch_threads": 2,
            "cuda_available": device == "cuda", "cuda_version": "12.8" if device == "cuda" else None,
            "gpus": gpus,
            "packages": {"torch": "2.13.0", "e3nn": "0.5.8", "cuequivariance": "0.7.0",
                         "cuequivariance-torch": "0.7.0", "numpy": "2.4.6", "scipy": "1.17.1",
                         "tpbench": "0.1.0"},
            "git": {"commit": commit, "dirty": False},
        },
    }
    if peaks:
        data["peaks"] = {"measured": {"bandwidth_gbs": 3010.0, "fp32_tflops": 51.0, "tf32_tflops": 378.0},
                         "datasheet": {"bandwidth_gbs": 3350.0, "fp32_tflops": 67.0, "tf32_tflops": 494.7}}
    return data


def problem(family: str, params: dict[str, Any], batch: int = 1000, dtype: str = "float32") -> dict[str, Any]:
    words = " ".join(f"{k}={v}" for k, v in params.items())
    label = f"{family} {words} batch={batch} {dtype}"
    pid = f"{family}-" + "-".join(f"{k}{v}" for k, v in params.items()) + f"-b{batch}-{dtype}"
    L = int(params.get("L", params.get("L_hidden", 1)))
    return {"op": "tp", "irreps_in1": f"{params.get('mul', 1)}x0e+{params.get('mul', 1)}x1o",
            "irreps_in2": " + ".join(f"1x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(L + 1)),
            "irreps_out": f"0e+1o+2e", "connection": "full", "weights": "none", "batch": batch, "dtype": dtype,
            "family": family, "params": params, "id": pid, "label": label}


def paths(L: int, gaunt: bool) -> list[str]:
    """Paths l1 x l2 -> l3 with |l1-l2| <= l3 <= l1+l2; Gaunt keeps only the even ones."""
    out = []
    for l1 in range(L + 1):
        for l2 in range(L + 1):
            for l3 in range(abs(l1 - l2), l1 + l2 + 1):
                if not gaunt or (l1 + l2 + l3) % 2 == 0:
                    out.append(f"{l1} x {l2} -> {l3}")
    return out


def case(kernel: str, family: str, prob: dict[str, Any], pass_: str, *, rng: np.random.Generator,
         base_ms: float | None = None, status: str = "ok", reason: str | None = None, device: str = "cpu",
         backend: str = "torch", symmetry: str = "O(3)", n: int = 21, scale: float = 1.0,
         variant: str = "eager", peak_memory_mb: float | None = None) -> dict[str, Any]:
    """One case line; timing fields only when ``status == "ok"``."""
    params = prob["params"]
    L = int(params.get("L", params.get("L_hidden", 1)))
    gaunt = "gaunt" in family
    rec: dict[str, Any] = {
        "schema": 1, "kernel": kernel, "backend": backend, "family": family, "operation": "tp",
        "symmetry": symmetry, "layout": "mul_ir", "effective_method": None if backend != "cuequivariance"
        else "uniform_1d", "problem": prob, "problem_id": prob["id"], "problem_label": prob["label"],
        "problem_family": prob["family"], "params": params, "batch": prob["batch"], "dtype": prob["dtype"],
        "device": device, "pass": pass_, "variant": variant, "status": status, "reason": reason,
        "timer": "cuda-events" if device == "cuda" else "perf_counter", "threads": 2,
        "started_at": "2026-11-20T10:16:00+00:00", "finished_at": "2026-11-20T10:16:03+00:00",
        "build_s": 0.12, "gate_s": 0.4,
    }
    if status in ("skipped", "unavailable"):
        return rec
    rel = float(10 ** rng.uniform(-7.5, -6)) if status != "incorrect" else 0.37
    rec.update({
        "rel_error": rel, "equivariance_error": float(10 ** rng.uniform(-7.5, -6)),
        "errors": {"fwd": rel, "full_batch": rel, "rotation": rel * 1.3, "inversion": rel * 0.7},
        "tolerances": {"fwd": 1e-5, "fwd+bwd": 3e-4},
        "output_variance": [1.0, 0.98, 1.02], "native_irreps_out": prob["irreps_out"],
        "paths": paths(L, gaunt), "expressivity": 4 * L + 1 if gaunt else len(paths(L, True)),
        "interactability": len(paths(L, True)), "upper_bound": len(paths(L, False)),
        "paths_missed": [p for p in paths(L, False) if p not in paths(L, True)] if gaunt else [],
    })
    if status != "ok":
        return rec
    base = base_ms if base_ms is not None else 0.05 * (L + 1) ** 3 * prob["batch"] / 1000
    median = base * PASS_COST[pass_] * scale
    samples = median * np.exp(rng.normal(0.0, 0.03, n))
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    flops = 2.0e3 * (L + 1) ** 4 * prob["batch"] * PASS_COST[pass_]
    nbytes = 4.0 * 30 * (L + 1) ** 2 * prob["batch"]
    rec.update({
        "median_ms": float(med), "iqr_ms": float(q3 - q1), "min_ms": float(samples.min()),
        "mean_ms": float(samples.mean()), "ci_low_ms": float(np.percentile(samples, 30)),
        "ci_high_ms": float(np.percentile(samples, 70)), "rel_ci": 0.02, "n_samples": n,
        "noisy": bool((q3 - q1) / med > 0.1), "samples_ms": [float(s) for s in samples], "inner_loops": 4,
        "flops": flops, "bytes": nbytes, "gflops_per_s": flops / (med * 1e6),
        "gbytes_per_s": nbytes / (med * 1e6), "arithmetic_intensity": flops / nbytes,
        "peak_memory_mb": peak_memory_mb if peak_memory_mb is not None else
        round(nbytes / 2**20 * (2.5 if "bwd" in pass_ else 1.0) * (1.6 if gaunt else 1.0)
              * (1 + 0.15 * (len(kernel) % 5)), 3),
    })
    if math.isnan(rec["median_ms"]):
        raise ValueError("bad sample model")
    return rec


def write_run(directory: Path, manifest_data: dict[str, Any], cases: list[dict[str, Any]],
              tail: str = "") -> Path:
    """Write run.json and cases.jsonl (``tail`` is appended raw, e.g. a truncated line)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.json").write_text(json.dumps(manifest_data, indent=2) + "\n")
    lines = "".join(json.dumps(c) + "\n" for c in cases)
    (directory / "cases.jsonl").write_text(lines + tail)
    return directory


def scaled(cases: list[dict[str, Any]], factor: float) -> list[dict[str, Any]]:
    """Copies of ``cases`` whose samples (and so statistics) are ``factor`` times slower."""
    out = []
    for c in cases:
        c = json.loads(json.dumps(c))
        if c.get("status") == "ok":
            c["samples_ms"] = [s * factor for s in c["samples_ms"]]
            for key in ("median_ms", "iqr_ms", "min_ms", "mean_ms", "ci_low_ms", "ci_high_ms"):
                c[key] *= factor
        out.append(c)
    return out
