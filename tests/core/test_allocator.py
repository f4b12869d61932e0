"""tune_cpu_allocator: freed large blocks are reused (no fresh page faults), off by environment."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc only",
)

# 20 times: allocates and fills three 12 MiB arrays, then frees them (the pattern of a training or
# optimization step); prints the minor page faults of the loop. With glibc's defaults the freed
# 36 MiB at the top of the heap exceed its (dynamic) trim threshold and go back to the kernel.
PROBE = r"""
import json, resource, sys
import numpy as np
from emotionkit._allocator import is_tuned, tune_cpu_allocator
applied = tune_cpu_allocator() if sys.argv[1] == "tune" else False
def step():
    arrays = [np.ones(3 * 1024 * 1024, dtype=np.float32) for _ in range(3)]
    del arrays
step()  # first use faults in any case
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
again = tune_cpu_allocator() if applied else None
print(json.dumps({"applied": applied, "tuned": is_tuned(), "again": again, "faults": faults}))
"""


def probe(mode: str, **env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def test_tuned_allocator_reuses_freed_blocks():
    pages = 3 * 12 * 1024 * 1024 // 4096  # per step, when every page faults
    default = probe("default")
    tuned = probe("tune")
    assert default["tuned"] is False
    assert default["faults"] > pages  # glibc's defaults: memory goes back and faults again
    assert tuned["applied"] is True and tuned["tuned"] is True and tuned["again"] is True
    assert tuned["faults"] < pages // 10  # the freed blocks are reused


def test_environment_turns_it_off():
    result = probe("tune", EMOTIONKIT_MALLOC="default")
    assert result["applied"] is False and result["tuned"] is False


def test_cli_tunes_the_allocator():
    code = (
        "from emotionkit.cli.main import cli; from emotionkit._allocator import is_tuned\n"
        "cli(['math', 'conv', '--help'], standalone_mode=False); print(is_tuned())"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip().splitlines()[-1] == "True"
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "EMOTIONKIT_MALLOC": "default"})
    assert off.stdout.strip().splitlines()[-1] == "False"
