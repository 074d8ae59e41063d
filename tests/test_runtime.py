"""mednotes.device() and mednotes.seed_everything()."""

import random

import numpy as np
import pytest
import torch

import mednotes


def test_version_is_a_release_string():
    major, minor, patch = mednotes.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))


def test_default_device_is_the_best_available(monkeypatch):
    monkeypatch.delenv("MEDNOTES_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else mednotes.available_devices()[0]
    assert mednotes.device().type == expected
    assert mednotes.available_devices()[-1] == "cpu"


def test_environment_variable_overrides(monkeypatch):
    monkeypatch.setenv("MEDNOTES_DEVICE", "cpu")
    assert mednotes.device() == torch.device("cpu")


def test_unknown_device_in_environment_lists_what_is_available(monkeypatch):
    monkeypatch.setenv("MEDNOTES_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"MEDNOTES_DEVICE='tpu'.*Available here: .*cpu"):
        mednotes.device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match=r"asks for cuda, which this machine does not have.*cpu"):
        mednotes.device("cuda")


@pytest.mark.gpu
def test_cuda_index_beyond_device_count():
    with pytest.raises(ValueError, match="CUDA device"):
        mednotes.device(f"cuda:{torch.cuda.device_count()}")


def test_bad_device_arguments():
    with pytest.raises(TypeError, match="device name must be a str"):
        mednotes.device(0)
    with pytest.raises(ValueError, match="index must be a number"):
        mednotes.device("cpu:x")


def test_seed_everything_repeats_all_three_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    mednotes.seed_everything(7)
    first = draw()
    mednotes.seed_everything(7)
    assert draw() == first
    mednotes.seed_everything(8)
    assert draw() != first


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**32, ValueError),
                                         (1.5, TypeError), (True, TypeError)])
def test_seed_everything_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match="seed"):
        mednotes.seed_everything(seed)
