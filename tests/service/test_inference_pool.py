"""The inference pool runs each forward pass on the configured torch threads."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

# Counts the process's OS threads around one LSTM forward on a pool thread.
# A forward with more than one OpenMP thread starts OpenMP worker threads,
# which show up as new entries in /proc/self/task.
SCRIPT = """
import os
import torch
from service.inference import make_executor

pool = make_executor(workers=1, torch_threads=1)
pool.submit(lambda: None).result()
model = torch.nn.LSTM(1, 64, 2, batch_first=True)
x = torch.randn(64, 60, 1)

def forward():
    with torch.inference_mode():
        model(x)

before = len(os.listdir("/proc/self/task"))
pool.submit(forward).result()
print(before, len(os.listdir("/proc/self/task")))
"""


def test_pool_threads_start_no_openmp_workers() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    before, after = (int(n) for n in result.stdout.split())
    assert after == before
