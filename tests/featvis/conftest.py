"""Fixtures for the featvis tests.

The CI machine has 2 cores shared with other jobs; intra-op threads spinning against each
other made small renders 5-30x slower in measurements, so these tests run torch on one
thread (restored afterwards). Results do not depend on the thread count.
"""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
