"""An autouse fixture for test modules that train or trace tiny networks.

Import ``one_torch_thread`` into a test module to run its tests on one torch
thread: networks this small only slow down with more, most of all on a
shared machine where the extra threads wait for cores.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Set one torch intra-op thread for the test, then restore the count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
