"""Regenerate the golden runs under tests/data/runs (deterministic; run from the repo root).

    /work/venv/bin/python tests/data/make_golden.py

cpu-quick   a CPU run over several families, passes and every status; its last line is
            truncated (a run killed mid-write).
cuda-quick  a GPU run with measured peaks (roofline), a model shape, OOM and timeout cases,
            and one line written by a newer schema.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from runfactory import case, manifest, problem, write_run  # noqa: E402

HERE = Path(__file__).resolve().parent / "runs"

# kernel name -> (family, backend, symmetry, relative speed)
KERNELS = {
    "e3nn-cg-full": ("cg", "e3nn", "O(3)", 1.0),
    "torch-cg": ("cg", "torch", "O(3)", 0.7),
    "cueq-cg": ("cg-sparse", "cuequivariance", "O(3)", 0.35),
    "gaunt-grid": ("gaunt-grid", "torch", "O(3)", 0.5),
    "gaunt-fft": ("gaunt-fft", "torch", "O(3)", 0.8),
    "vector-gaunt-grid": ("vector-gaunt-grid", "torch", "O(3)", 0.9),
    "matrix-tp": ("matrix", "torch", "SO(3)", 0.6),
}


def l_sweeps(device: str, rng, passes, Ls, kernels, batch=1000):
    cases = []
    for fam in ("siso", "simo", "mimo", "mimo-ap"):
        for L in Ls:
            prob = problem(fam, {"L": L}, batch=batch)
            for name in kernels:
                family, backend, sym, speed = KERNELS[name]
                for p in passes:
                    kw = dict(rng=rng, device=device, backend=backend, symmetry=sym)
                    grow = (L + 1) ** (2.2 if "gaunt" in family else 3.5) * 0.01 * batch / 1000
                    if name == "cueq-cg" and device == "cpu":
                        cases.append(case(name, family, prob, p, status="unavailable",
                                          reason="cuequivariance_ops_torch is not installed", **kw))
                    elif name == "gaunt-fft" and p == "fwd+bwd+bwd":
                        cases.append(case(name, family, prob, p, status="skipped",
                                          reason="double backward not implemented", **kw))
                    elif name == "matrix-tp" and fam == "mimo-ap":
                        cases.append(case(name, family, prob, p, status="incorrect",
                                          reason="forward error 3.7e-01 > 1.0e-05 (odd-parity blocks)", **kw))
                    else:
                        cases.append(case(name, family, prob, p, base_ms=grow * speed, **kw))
    return cases


def batch_sweep(device, rng, kernels, batches):
    cases = []
    for batch in batches:
        prob = problem("mimo", {"L": 2}, batch=batch)
        for name in kernels:
            family, backend, sym, speed = KERNELS[name]
            # Same cost model as the L sweep, plus a fixed launch overhead that dominates small batches.
            base = 0.003 + 3 ** (2.2 if "gaunt" in family else 3.5) * 0.01 * batch / 1000 * speed
            cases.append(case(name, family, prob, "fwd", base_ms=base, rng=rng, device=device,
                              backend=backend, symmetry=sym))
    return cases


def channel_sweep(device, rng):
    cases = []
    for mul in (32, 64, 128):
        prob = problem("channelwise", {"mul": mul, "L_hidden": 2, "L_sh": 3}, batch=1000)
        prob["weights"] = "per-sample"
        for name, speed in (("e3nn-cg-channelwise", 1.0), ("torch-cg", 0.6)):
            for p in ("fwd", "fwd+bwd"):
                cases.append(case(name, "cg", prob, p, base_ms=0.01 * mul * speed, rng=rng, device=device,
                                  backend="e3nn" if name.startswith("e3nn") else "torch"))
        cases.append(case("gaunt-grid", "gaunt-grid", prob, "fwd", rng=rng, device=device, status="skipped",
                          reason="per-sample weights are not supported by the Gaunt grid kernel"))
    return cases


def cpu_cases(seed: int = 1) -> list[dict]:
    """The CPU run's cases; another seed gives the same cases with fresh timing noise."""
    rng = np.random.default_rng(seed)
    names = ["e3nn-cg-full", "torch-cg", "cueq-cg", "gaunt-grid", "gaunt-fft", "vector-gaunt-grid", "matrix-tp"]
    cases = l_sweeps("cpu", rng, ("fwd", "fwd+bwd"), (1, 2, 3, 4), names)
    cases += batch_sweep("cpu", rng, ["e3nn-cg-full", "torch-cg", "gaunt-grid"], (100, 10000, 100000))
    cases += channel_sweep("cpu", rng)
    lin = problem("linear", {"mul": 64, "L": 2})
    cases.append(case("e3nn-linear", "linear", lin, "fwd", rng=rng, backend="e3nn", base_ms=0.08))
    cases.append(case("torch-linear", "linear", lin, "fwd", rng=rng, status="error",
                      reason="RuntimeError: mat1 and mat2 shapes cannot be multiplied (1000x576 and 448x576)"))
    return cases


def cpu_run():
    cases = cpu_cases()
    manifest_data = manifest("cpu-quick")
    # The last line is cut mid-write, as when a run is killed.
    partial = json.dumps(cases[-1])[:57]
    write_run(HERE / "cpu-quick", manifest_data, cases, tail=partial)


def cuda_run():
    rng = np.random.default_rng(2)
    names = ["e3nn-cg-full", "torch-cg", "cueq-cg", "gaunt-grid", "vector-gaunt-grid"]
    cases = l_sweeps("cuda", rng, ("fwd", "fwd+bwd", "fwd+bwd+bwd"), (1, 2, 3, 4, 5, 6), names, batch=10000)
    cases += batch_sweep("cuda", rng, names, (100, 1000, 100000))
    model = problem("model", {"name": "mace-large"}, batch=5000)
    for name, status, reason in (("e3nn-cg-channelwise", "ok", None), ("cueq-cg", "ok", None),
                                 ("torch-cg", "oom", "CUDA out of memory: tried to allocate 12.50 GiB"),
                                 ("gaunt-fft", "timeout", "case exceeded 120 s")):
        cases.append(case(name, "cg", model, "fwd+bwd", rng=rng, device="cuda", status=status, reason=reason,
                          base_ms=1.7 if name == "cueq-cg" else 6.2))
    newer = dict(cases[3], schema=2, kernel="from-the-future")
    cases.insert(7, newer)
    write_run(HERE / "cuda-quick", manifest("cuda-quick", device="cuda", hostname="gpu-node-7",
                                            gpu="NVIDIA H100 80GB HBM3", peaks=True), cases)


if __name__ == "__main__":
    cpu_run()
    cuda_run()
