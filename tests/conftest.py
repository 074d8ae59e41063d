"""Shared test set-up: the gpu marker, and devices to parametrize numerical tests over."""

from __future__ import annotations

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
