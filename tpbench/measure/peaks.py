"""The device's peaks, measured once per run, with datasheet values beside them.

Measured (CUDA events, median of ``reps`` after warm-up):

* ``bandwidth_gbs``: a device-to-device copy of ``copy_bytes``; it reads and
  writes every byte, so ``GB/s = 2 · copy_bytes / t``.
* ``fp64_tflops``, ``fp32_tflops``, ``tf32_tflops``, ``bf16_tflops``: an
  ``n × n`` matmul (``n/2`` for float64), ``2 n³ / t`` (TF32 switched on only
  for its own matmul).

The fraction of peak of a case (:func:`fractions`) divides its achieved rate
by the measured peak of its precision (float16 uses the bf16 figure), so a
fraction near 1 means the kernel runs as fast as cuBLAS / a copy can here.

Datasheet values are NVIDIA's published dense (no sparsity) figures, in
GB/s and TFLOP/s; they are context, never used for fractions.
"""

from __future__ import annotations

from typing import Any, Callable

# (words that must all appear in the lower-cased device name, label, figures); first match wins,
# so the more specific names come first.
DATASHEET: list[tuple[tuple[str, ...], str, dict[str, float]]] = [
    (("h100", "nvl"), "H100 NVL", dict(bandwidth_gbs=3900, fp64_tflops=60, fp32_tflops=60,
                                        tf32_tflops=417.5, bf16_tflops=835)),
    (("h100", "pcie"), "H100 PCIe", dict(bandwidth_gbs=2000, fp64_tflops=51, fp32_tflops=51,
                                         tf32_tflops=378, bf16_tflops=756)),
    (("h100",), "H100 SXM", dict(bandwidth_gbs=3350, fp64_tflops=67, fp32_tflops=67,
                                 tf32_tflops=494.7, bf16_tflops=989.4)),
    (("h200", "nvl"), "H200 NVL", dict(bandwidth_gbs=4800, fp64_tflops=60, fp32_tflops=60,
                                       tf32_tflops=417.5, bf16_tflops=835)),
    (("h200",), "H200 SXM", dict(bandwidth_gbs=4800, fp64_tflops=67, fp32_tflops=67,
                                 tf32_tflops=494.7, bf16_tflops=989.4)),
    (("a100", "80gb", "pcie"), "A100 80GB PCIe", dict(bandwidth_gbs=1935, fp64_tflops=19.5, fp32_tflops=19.5,
                                                      tf32_tflops=156, bf16_tflops=312)),
    (("a100", "80gb"), "A100 80GB SXM", dict(bandwidth_gbs=2039, fp64_tflops=19.5, fp32_tflops=19.5,
                                             tf32_tflops=156, bf16_tflops=312)),
    (("a100",), "A100 40GB", dict(bandwidth_gbs=1555, fp64_tflops=19.5, fp32_tflops=19.5,
                                  tf32_tflops=156, bf16_tflops=312)),
    (("l40s",), "L40S", dict(bandwidth_gbs=864, fp64_tflops=1.4, fp32_tflops=91.6, tf32_tflops=183,
                             bf16_tflops=362)),
    (("rtx 4090",), "RTX 4090", dict(bandwidth_gbs=1008, fp64_tflops=1.3, fp32_tflops=82.6,
                                     tf32_tflops=82.6, bf16_tflops=165.2)),
]

# Which measured peak a problem's precision is compared with.
COMPUTE_KEY = {"float64": "fp64_tflops", "float32": "fp32_tflops", "tf32": "tf32_tflops",
               "bfloat16": "bf16_tflops", "float16": "bf16_tflops"}


def datasheet_for(gpu_name: str) -> tuple[str, dict[str, float]] | None:
    name = gpu_name.lower()
    for words, label, figures in DATASHEET:
        if all(w in name for w in words):
            return label, dict(figures)
    return None


def _median_seconds(fn: Callable[[], Any], reps: int, warmup: int = 2) -> float:
    import torch

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    times.sort()
    return times[len(times) // 2]


def measure_bandwidth(device: str, copy_bytes: int, reps: int) -> float:
    import torch

    src = torch.empty(copy_bytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    t = _median_seconds(lambda: dst.copy_(src), reps)
    return 2 * src.numel() * 4 / t / 1e9


def measure_matmul(device: str, dtype_name: str, n: int, reps: int) -> float:
    import torch

    from tpbench.spec.precision import torch_dtype
    from tpbench.spec.precision import precision

    dtype = torch_dtype(dtype_name)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    with precision(dtype_name):
        t = _median_seconds(lambda: torch.mm(a, b), reps)
    return 2 * n**3 / t / 1e12


def measure_peaks(device: str, copy_bytes: int = 2**30, n: int = 8192, reps: int = 10) -> dict[str, Any]:
    """Measured and datasheet peaks of a CUDA device (see the module docstring); ~2 s on an H100."""
    import torch

    name = torch.cuda.get_device_name(device)
    free, _ = torch.cuda.mem_get_info(device)
    copy_bytes = min(copy_bytes, free // 4)  # two buffers, with room to spare
    measured = {"bandwidth_gbs": measure_bandwidth(device, copy_bytes, reps)}
    for dtype_name in ("float64", "float32", "tf32", "bfloat16"):
        try:
            # float64 runs at 1/64 rate on consumer GPUs: a smaller matmul keeps it under a second.
            size = n // 2 if dtype_name == "float64" else n
            measured[COMPUTE_KEY[dtype_name]] = measure_matmul(device, dtype_name, size, reps)
        except RuntimeError as exc:  # e.g. bf16 on a GPU without it
            measured[COMPUTE_KEY[dtype_name]] = None
            measured.setdefault("errors", {})[dtype_name] = str(exc)[:300]
    torch.cuda.empty_cache()
    sheet = datasheet_for(name)
    return {
        "gpu": name,
        "measured": measured,
        "datasheet": sheet[1] if sheet else None,
        "datasheet_model": sheet[0] if sheet else None,
        "method": {"copy_bytes": copy_bytes, "matmul_n": n, "reps": reps, "statistic": "median"},
    }


def fractions(dtype: str, gflops_per_s: float | None, gbytes_per_s: float | None,
              peaks: dict[str, Any] | None) -> dict[str, float]:
    """Achieved rates as fractions of the measured peaks (empty without peaks)."""
    measured = (peaks or {}).get("measured") or {}
    out: dict[str, float] = {}
    compute = measured.get(COMPUTE_KEY.get(dtype, ""))
    if gflops_per_s and compute:
        out["peak_fraction_compute"] = gflops_per_s / 1e3 / compute
    if gbytes_per_s and measured.get("bandwidth_gbs"):
        out["peak_fraction_bandwidth"] = gbytes_per_s / measured["bandwidth_gbs"]
    return out
