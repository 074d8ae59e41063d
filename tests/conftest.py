"""Shared test set-up: the gpu marker, and devices to parametrize numerical tests over."""

from __future__ import annotations

import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")  # tests draw figures without a screen

HAS_CUDA = torch.cuda.is_available()

#: Parametrize a test over these to run it on the CPU and, when present, on CUDA.
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.gpu,
                                pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device here")]),
]


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="no CUDA device here")
    for item in items:
        if "gpu" in item.keywords and not HAS_CUDA:
            item.add_marker(skip)


def determinism():
    """torch's global determinism settings, to compare before and after a call."""
    return (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
            os.environ.get("CUBLAS_WORKSPACE_CONFIG"))


@pytest.fixture
def restore_determinism():
    """Whatever a test does to the determinism settings is undone after it."""
    saved = determinism()
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[2:4]
    if saved[4] is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[4]


@pytest.fixture(scope="module")
def one_cpu_thread():
    """One torch thread for a module of tiny tensors: threads only add synchronisation there."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
