"""Solver tests run small tensors: one intra-op thread avoids OpenMP hand-off costs that dominate (and, on a loaded
2-core machine, turn a 2 µs log_softmax into milliseconds). Restored after each test."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
