"""Fixtures for the featvis tests.

The CI machine has 2 cores shared with other jobs; intra-op threads spinning against each
other made small renders 5-30x slower in measurements, so these tests run torch on one
thread (restored afterwards). Results do not depend on the thread count.
"""
from __future__ import annotations

import pytest

from visioncircuits.device import torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield
