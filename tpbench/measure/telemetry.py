"""GPU telemetry through NVML (nvidia-ml-py): clocks, temperature, power, throttling.

While a GPU case is timed, a background thread samples every ``interval_s``
(and once at start and stop, so even a short case has two samples): the SM
and memory clocks, the temperature, the power draw, and the clock-event
reasons (``nvmlDeviceGetCurrentClocksEventReasons``; older bindings call it
``...ThrottleReasons``).

A case is *throttled* when any sample had a thermal, power or hardware-slowdown
reason active (:data:`FLAGGED`); the record names them. Clocks below the
maximum boost without such a reason are recorded (``sm_clock_fraction``), not
flagged: that is how a GPU normally runs. The idle reason is ignored.
tpbench only reads clocks, it never changes them; :func:`clock_state`
records in ``run.json`` whether someone locked them.

The sampler costs a few NVML calls (tens of µs) every ``interval_s`` on a CPU
thread; it does not touch the GPU's work.
"""

from __future__ import annotations

import statistics
import threading
from typing import Any

# NVML clock-event reason bits (nvml.h, stable since the "throttle reasons" API).
REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
FLAGGED = 0x4 | 0x8 | 0x20 | 0x40 | 0x80
IDLE = 0x1
NVML_CLOCK_SM, NVML_CLOCK_MEM = 1, 2  # nvmlClockType_t: graphics 0, SM 1, memory 2
NVML_TEMPERATURE_GPU = 0


def reason_names(mask: int, exclude: int = IDLE) -> list[str]:
    return [name for bit, name in REASONS.items() if mask & bit and not exclude & bit]


def _reasons_getter(nvml):
    return getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
        nvml.nvmlDeviceGetCurrentClocksThrottleReasons


def read_sample(nvml, handle) -> dict[str, float]:
    """One reading; a field the device does not report is left out."""
    out: dict[str, float] = {}
    probes = {
        "sm_clock_mhz": lambda: nvml.nvmlDeviceGetClockInfo(handle, NVML_CLOCK_SM),
        "mem_clock_mhz": lambda: nvml.nvmlDeviceGetClockInfo(handle, NVML_CLOCK_MEM),
        "temperature_c": lambda: nvml.nvmlDeviceGetTemperature(handle, NVML_TEMPERATURE_GPU),
        "power_w": lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1e3,
        "reasons": lambda: _reasons_getter(nvml)(handle),
    }
    for key, probe in probes.items():
        try:
            out[key] = probe()
        except Exception:  # NVML raises NVMLError_NotSupported and kin per field
            pass
    return out


def summarize_samples(samples: list[dict[str, float]], max_sm: float | None,
                      max_mem: float | None) -> dict[str, Any]:
    """Record fields from telemetry samples (see the module docstring)."""
    def col(key):
        return [s[key] for s in samples if key in s]

    mask = 0
    for r in col("reasons"):
        mask |= int(r)
    sm, mem, temp, power = col("sm_clock_mhz"), col("mem_clock_mhz"), col("temperature_c"), col("power_w")
    tel: dict[str, Any] = {"samples": len(samples), "max_sm_clock_mhz": max_sm, "max_mem_clock_mhz": max_mem,
                           "reasons": reason_names(mask)}
    if sm:
        tel.update(sm_clock_mhz_min=min(sm), sm_clock_mhz_median=statistics.median(sm))
        tel["sm_clock_fraction"] = statistics.median(sm) / max_sm if max_sm else None
    if mem:
        tel.update(mem_clock_mhz_median=statistics.median(mem))
    if temp:
        tel.update(temperature_c_max=max(temp))
    if power:
        tel.update(power_w_mean=statistics.fmean(power), power_w_max=max(power))
    flagged = reason_names(mask & FLAGGED)
    return {"telemetry": tel, "throttled": bool(flagged), "throttle_reasons": flagged}


class Sampler:
    """Samples one device in a background thread between :meth:`start` and :meth:`stop`."""

    def __init__(self, nvml, handle, interval_s: float = 0.05):
        self.nvml, self.handle, self.interval_s = nvml, handle, interval_s
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples.append(read_sample(self.nvml, self.handle))

    def start(self) -> None:
        self.samples = [read_sample(self.nvml, self.handle)]
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tpbench-telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.samples.append(read_sample(self.nvml, self.handle))
        return summarize_samples(self.samples, *max_clocks(self.nvml, self.handle))


def max_clocks(nvml, handle) -> tuple[float | None, float | None]:
    out = []
    for clock in (NVML_CLOCK_SM, NVML_CLOCK_MEM):
        try:
            out.append(nvml.nvmlDeviceGetMaxClockInfo(handle, clock))
        except Exception:
            out.append(None)
    return out[0], out[1]


def _nvml():
    import pynvml

    pynvml.nvmlInit()  # reference counted by NVML: repeated init is cheap and harmless
    return pynvml


def device_handle(device: str):
    """``(nvml, handle)`` of a torch CUDA device, matched by UUID (CUDA and NVML orders can differ)."""
    import torch

    nvml = _nvml()
    index = torch.device(device).index
    index = torch.cuda.current_device() if index is None else index
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    if uuid is not None:
        try:
            text = str(uuid)
            return nvml, nvml.nvmlDeviceGetHandleByUUID(text if text.startswith("GPU-") else f"GPU-{text}")
        except Exception:  # MIG or an odd UUID form: fall back to the index
            pass
    return nvml, nvml.nvmlDeviceGetHandleByIndex(index)


def sampler_for(device: str, interval_s: float = 0.05) -> tuple[Sampler | None, str | None]:
    """A sampler for a CUDA device, or ``None`` and why not."""
    if not device.startswith("cuda"):
        return None, "no telemetry on the CPU"
    try:
        return Sampler(*device_handle(device), interval_s=interval_s), None
    except Exception as exc:  # no pynvml, no driver, no permission: record and go on
        return None, f"telemetry unavailable: {type(exc).__name__}: {exc}"


def clock_state(device: str) -> dict[str, Any]:
    """Whether clocks were locked or set, for ``run.json``. Read-only.

    Application clocks differing from their defaults mean someone set them
    (``nvidia-smi -ac``); NVML cannot read a ``nvidia-smi -lgc`` lock
    directly, so an active ``applications_clocks_setting`` reason on an idle
    GPU is taken as its sign.
    """
    try:
        nvml, h = device_handle(device)
    except Exception as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    out: dict[str, Any] = {"available": True}
    for key, fn in (("applications_sm_mhz", lambda: nvml.nvmlDeviceGetApplicationsClock(h, NVML_CLOCK_SM)),
                    ("default_applications_sm_mhz",
                     lambda: nvml.nvmlDeviceGetDefaultApplicationsClock(h, NVML_CLOCK_SM)),
                    ("max_sm_mhz", lambda: nvml.nvmlDeviceGetMaxClockInfo(h, NVML_CLOCK_SM)),
                    ("max_mem_mhz", lambda: nvml.nvmlDeviceGetMaxClockInfo(h, NVML_CLOCK_MEM)),
                    ("reasons_at_start", lambda: reason_names(_reasons_getter(nvml)(h), exclude=0))):
        try:
            out[key] = fn()
        except Exception:
            out[key] = None
    app, default = out.get("applications_sm_mhz"), out.get("default_applications_sm_mhz")
    out["applications_clocks_set"] = app is not None and default is not None and app != default
    out["locked"] = bool(out["applications_clocks_set"]
                         or "applications_clocks_setting" in (out.get("reasons_at_start") or []))
    return out
