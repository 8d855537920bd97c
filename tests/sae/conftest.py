"""SAE tests run single-threaded: their tensors are small, and on a shared 2-core machine
OpenMP threads spin against other jobs, making tiny ops 10-20x slower."""
import pytest

from visioncircuits.device import torch_threads


@pytest.fixture(autouse=True)
def _single_thread():
    with torch_threads(1):
        yield
