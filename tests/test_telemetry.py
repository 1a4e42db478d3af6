"""Telemetry (fake NVML), peaks tables, memory and precision helpers: what runs without a GPU."""

import time

import pytest
import torch

from tpbench.measure import peaks, telemetry
from tpbench.measure.memory import cpu_peak
from tpbench.spec.precision import precision


class FakeNVML:
    """Just the NVML calls tpbench makes, with scripted clock-event reasons."""

    def __init__(self, reasons, legacy=False):
        self._reasons = list(reasons)
        if not legacy:
            self.nvmlDeviceGetCurrentClocksEventReasons = self._next_reasons

    def _next_reasons(self, handle):
        return self._reasons.pop(0) if len(self._reasons) > 1 else self._reasons[0]

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle):  # the older name
        return self._next_reasons(handle)

    def nvmlDeviceGetClockInfo(self, handle, clock):
        return 1755 if clock == telemetry.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetMaxClockInfo(self, handle, clock):
        return 1980 if clock == telemetry.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 61

    def nvmlDeviceGetPowerUsage(self, handle):
        raise RuntimeError("NVMLError_NotSupported")  # a field a device does not report


def test_sampler_flags_thermal_and_power_but_not_idle_or_low_clocks():
    nvml = FakeNVML([0x1, 0x0, 0x20 | 0x4, 0x0])
    sampler = telemetry.Sampler(nvml, handle=None, interval_s=0.001)
    sampler.start()
    time.sleep(0.02)
    out = sampler.stop()
    assert out["throttled"] is True
    assert out["throttle_reasons"] == ["sw_power_cap", "sw_thermal_slowdown"]
    tel = out["telemetry"]
    assert tel["samples"] >= 3 and "gpu_idle" not in tel["reasons"]
    assert tel["sm_clock_mhz_median"] == 1755 and tel["max_sm_clock_mhz"] == 1980
    assert tel["sm_clock_fraction"] == pytest.approx(1755 / 1980)
    assert tel["temperature_c_max"] == 61 and "power_w_mean" not in tel


def test_clocks_below_boost_alone_are_recorded_not_flagged():
    out = telemetry.summarize_samples([{"sm_clock_mhz": 1400, "reasons": 0x1}, {"sm_clock_mhz": 1500}], 1980, None)
    assert out["throttled"] is False and out["throttle_reasons"] == []
    assert out["telemetry"]["sm_clock_mhz_min"] == 1400


def test_legacy_throttle_reason_name_is_used_when_the_new_one_is_missing():
    assert telemetry.read_sample(FakeNVML([0x8], legacy=True), None)["reasons"] == 0x8


def test_no_telemetry_on_cpu():
    sampler, why = telemetry.sampler_for("cpu")
    assert sampler is None and "CPU" in why


@pytest.mark.parametrize("name, model", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA H200", "H200 SXM"), ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM"),
    ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe"),
    ("NVIDIA GeForce RTX 4090", "RTX 4090"), ("Tesla T4", None)])
def test_datasheet_lookup_by_gpu_name(name, model):
    found = peaks.datasheet_for(name)
    assert (found[0] if found else None) == model


def test_peak_fractions_use_the_precision_of_the_case():
    measured = {"measured": {"bandwidth_gbs": 3000.0, "fp32_tflops": 50.0, "tf32_tflops": 400.0}}
    assert peaks.fractions("float32", 5000.0, 300.0, measured) == pytest.approx(
        {"peak_fraction_compute": 0.1, "peak_fraction_bandwidth": 0.1})
    assert peaks.fractions("tf32", 40000.0, None, measured) == pytest.approx({"peak_fraction_compute": 0.1})
    assert peaks.fractions("float32", 5000.0, 300.0, None) == {}


def test_cpu_peak_rss_sees_a_fresh_allocation():
    with cpu_peak() as mem:
        block = torch.ones(64 * 2**20, dtype=torch.uint8)  # 64 MiB, touched
        del block
    assert mem["peak_rss_method"] in ("VmHWM after clear_refs", "VmHWM since process start")
    if mem["peak_rss_delta_mb"] is not None:
        assert mem["peak_rss_delta_mb"] >= 60


def test_precision_sets_tf32_per_case_and_restores_it():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with precision("tf32") as flags:
        assert flags == {"allow_tf32_matmul": True, "allow_tf32_cudnn": True}
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    with precision("float32") as flags:
        assert not torch.backends.cuda.matmul.allow_tf32 and not flags["allow_tf32_matmul"]
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
