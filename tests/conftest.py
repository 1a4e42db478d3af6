import os
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# A user kernel file as the README shows it: a correct full CG built on the reference.
USER_KERNEL = textwrap.dedent('''
    import torch
    from tpbench import Kernel
    from tpbench.spec.paths import tp_paths
    from tpbench.oracle.references.cg import ReferenceCG


    class MyTP(Kernel):
        name = "my-tp"
        family = "cg"
        backend = "torch"

        def supports(self, problem, device):
            if problem.op != "tp" or problem.connection != "full":
                return "full tensor products only"
            return super().supports(problem, device)

        def build(self, problem, device, dtype):
            return ReferenceCG(tp_paths(problem), problem.weights).to(device=device, dtype=dtype)
''')


@pytest.fixture
def user_kernel_file(tmp_path) -> Path:
    path = tmp_path / "my_tp.py"
    path.write_text(USER_KERNEL)
    return path


@pytest.fixture
def tiny_suite(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(textwrap.dedent('''
        [suite]
        description = "tiny"
        kernels = ["torch-cg", "e3nn-cg-full"]
        passes = ["fwd", "fwd+bwd"]

        [suite.timing]
        budget_s = 0.02
        warmup_s = 0.0
        min_samples = 3

        [[problems]]
        family = "mimo"
        L = [1, 2]
        batch = 64
    '''))
    return path


@pytest.fixture(autouse=True)
def _quiet_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
