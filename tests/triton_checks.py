"""Run by tests/test_gaunt_triton.py in a subprocess with TRITON_INTERPRET=1 (Triton's CPU interpreter).

Triton fixes interpreter-or-compiler when a kernel is decorated, so the variable is
set before anything imports Triton, in a process of its own: it cannot leak into
the other tests. Prints one JSON object of measured errors and verdicts.
"""

import json
import os
import sys
import time

os.environ["TRITON_INTERPRET"] = "1"

import torch  # noqa: E402
import torch.autograd.forward_ad as fwAD  # noqa: E402

from tpbench.oracle.correctness import run_gate  # noqa: E402
from tpbench.oracle.references import reference_for  # noqa: E402
from tpbench.kernel.base import build_module  # noqa: E402
from tpbench.spec.problem import Problem  # noqa: E402
from tpbench.spec.shapes import mimo, mimo_ap  # noqa: E402
from tpbench_kernels.gaunt.fused_triton import GauntGridTriton  # noqa: E402

torch.set_num_threads(1)
kernel = GauntGridTriton()
PROBLEMS = {
    "mimo1-f64": mimo(1, batch=37, dtype="float64"),  # 37: a partial batch tile
    "mimo5-f64": mimo(5, batch=16, dtype="float64"),  # two output tiles, the last one partial
    "mimo2-f32": mimo(2, batch=16, dtype="float32"),
    "mimo2-tf32": mimo(2, batch=16, dtype="tf32"),
    "mimo-ap2-f64": mimo_ap(2, batch=16, dtype="float64"),
    "pseudo-natural": Problem("tp", "0o+1e", "0e+0o+1e+1o+2e+2o+3e+3o", "1o+2e", batch=16, dtype="float64"),
}
out = {"available": kernel.available(), "gate": {}}
for name, problem in PROBLEMS.items():
    why = kernel.supports(problem, "cpu")
    if why:
        out["gate"][name] = {"unsupported": why}
        continue
    start = time.perf_counter()
    r = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd", "fwd+bwd", "fwd+bwd+bwd"])
    out["gate"][name] = {"errors": r.errors, "failures": r.failures, "crashed": r.crashed, "tolerances": r.tolerances,
                         "seconds": time.perf_counter() - start}

# forward mode (dual numbers; torch.func's wrapped tensors cannot reach a Triton launch) against the reference's
problem = mimo(2, batch=8, dtype="float64")
module = build_module(kernel, problem, "cpu")
ref = reference_for(kernel.operation, problem, kernel.native(problem)).double()
gen = torch.Generator().manual_seed(1)
x, y, dx, dy = (torch.randn(8, 9, generator=gen, dtype=torch.float64) for _ in range(4))
with fwAD.dual_level():
    got = fwAD.unpack_dual(module(fwAD.make_dual(x, dx), fwAD.make_dual(y, dy))).tangent
_, want = torch.func.jvp(ref, (x, y), (dx, dy))
out["jvp"] = ((got - want).norm() / want.norm()).item()
out["mixed"] = kernel.supports(Problem("tp", "0e+0o+1o", "0e+1o", "0e+1o", batch=4, dtype="float64"), "cpu")
out["empty_batch"] = list(module(torch.zeros(0, 9, dtype=torch.float64), torch.zeros(0, 9, dtype=torch.float64)).shape)
json.dump(out, sys.stdout)
