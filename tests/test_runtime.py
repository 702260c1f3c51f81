import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from paperkit import runtime


def test_auto_device_is_cpu_here_or_cuda():
    dev = runtime.resolve_device("auto")
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert runtime.resolve_device("cpu") == torch.device("cpu")


def test_unknown_or_absent_device_is_named():
    with pytest.raises(ValueError, match="toaster"):
        runtime.resolve_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            runtime.resolve_device("cuda")


def test_seed_everything_repeats_all_three_rngs():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()
    runtime.seed_everything(5)
    a = draw()
    runtime.seed_everything(5)
    assert draw() == a
    runtime.seed_everything(6)
    assert draw() != a


def test_derive_seed_is_stable_and_distinct():
    assert runtime.derive_seed(0, 1, 2) == runtime.derive_seed(0, 1, 2)
    assert runtime.derive_seed(0, 1, 2) != runtime.derive_seed(0, 2, 1)
    assert 0 <= runtime.derive_seed("x") < 2**32


class _NumpyNoise(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return np.random.rand()


def test_workers_get_distinct_repeatable_numpy_seeds():
    def epoch(seed):
        loader = DataLoader(_NumpyNoise(), batch_size=1, num_workers=2, worker_init_fn=runtime.seed_worker,
                            generator=runtime.loader_generator(seed))
        return [float(x) for x in loader]
    a, b = epoch(1), epoch(1)
    assert a == b                       # repeatable
    assert len(set(a)) == len(a)        # the two workers do not repeat each other's draws
    assert epoch(2) != a


def test_deterministic_mode_toggles():
    runtime.set_deterministic(True)
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    runtime.set_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_environment_capture_has_versions_device_and_git():
    env = runtime.capture_environment("cpu")
    assert env["packages"]["torch"] == torch.__version__.split("+")[0] or env["packages"]["torch"].startswith("2.")
    assert env["device"] == "cpu" and env["python"].startswith("3.")
    assert set(env["git"]) == {"commit", "dirty"}
    assert runtime.package_versions(("no-such-package-xyz",)) == {"no-such-package-xyz": None}


def test_default_num_workers_by_device_and_environment(monkeypatch):
    monkeypatch.delenv("PAPERKIT_NUM_WORKERS", raising=False)
    assert runtime.default_num_workers("cpu") == 0  # the CPU's cores already run the model
    monkeypatch.setattr(runtime, "resolve_device", lambda device: torch.device("cuda"))
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: 16)
    assert runtime.default_num_workers("cuda") == 8
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: 2)
    assert runtime.default_num_workers("cuda") == 1
    monkeypatch.setenv("PAPERKIT_NUM_WORKERS", "3")
    assert runtime.default_num_workers("cpu") == 3
    monkeypatch.setenv("PAPERKIT_NUM_WORKERS", "many")
    with pytest.raises(ValueError, match="PAPERKIT_NUM_WORKERS='many'"):
        runtime.default_num_workers("cpu")
