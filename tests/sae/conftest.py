"""SAE tests run single-threaded: their tensors are small, and on a shared 2-core machine
OpenMP threads spin against other jobs, making tiny ops 10-20x slower."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
