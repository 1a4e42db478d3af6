"""The pinned CPU heap: freed temporaries come back without page faults; memory deltas stay honest.

Each check runs in a fresh interpreter: pinning is process-wide and page-fault
counts only mean something in a process whose heap history is known.
"""

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc heap only")

# The runner pins the heap in a process that has imported everything (torch, e3nn, the kernels);
# the layout of the address space then decides whether the heap can grow in place, so the checks
# run in the same state.
PRELUDE = """
import json, resource, torch
import tpbench.run.runner
from tpbench.measure import heap
from tpbench.measure.memory import cpu_peak
MB = 1 << 20

def faults_per_call(calls=12, mb=64):
    out = []
    for _ in range(calls):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.empty(mb * MB // 4).fill_(1.0)  # touch every page, then free
        out.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return out

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
"""


def run(body: str, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", PRELUDE + body], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_pinned_heap_reuses_freed_blocks_without_faults():
    got = run("""
system = faults_per_call()
state = heap.pin()
pinned = faults_per_call()
print(json.dumps({"state": state, "system": system, "pinned": pinned}))
""")
    assert got["state"] == "glibc pinned: no mmap, no trim"
    # By default a 64 MiB block is mmapped and unmapped on every call: every call faults anew.
    assert min(got["system"][1:]) > 0
    # Pinned, the first calls grow the heap (two to four, measured: more when a mapping is in the heap's
    # way and glibc grows it elsewhere); from then on it is reused: the second half faults nothing.
    assert sum(got["pinned"][6:]) < 50, got["pinned"]


def test_release_gives_memory_back_and_peak_delta_sees_reused_memory():
    got = run("""
heap.pin()
torch.empty(256 * MB // 4).fill_(1.0)  # freed, but kept by the pinned heap
held = rss_mb()
with cpu_peak() as peak:  # releases first, so this case's 64 MiB shows in its delta
    torch.empty(64 * MB // 4).fill_(1.0)
print(json.dumps({"held": held, "after": rss_mb(), "delta": peak["peak_rss_delta_mb"]}))
""")
    assert got["held"] - got["after"] > 150, got  # the 256 MiB went back to the OS
    assert 60 < got["delta"] < 120, got


def test_opt_out_leaves_the_system_heap():
    got = run('print(json.dumps({"state": heap.pin()}))', TPBENCH_SYSTEM_HEAP="1")
    assert got["state"] == "system (TPBENCH_SYSTEM_HEAP set)"
