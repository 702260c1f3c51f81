"""Fixtures shared by several test files."""
import pytest
import torch


@pytest.fixture(scope="module")
def native_convolutions():
    """Skip oneDNN in a module: it compiles kernels for every new conv shape (ResNets and DenseNets
    have dozens), which costs seconds on tiny test inputs; results and shapes do not depend on it."""
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = enabled
