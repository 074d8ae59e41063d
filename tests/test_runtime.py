"""mednotes.device() and mednotes.seed_everything()."""

import os
import random

import numpy as np
import pytest
import torch

from conftest import determinism
import mednotes
from mednotes import _runtime


def test_version_is_a_release_string():
    major, minor, patch = mednotes.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))


def fake_machine(monkeypatch, cuda=False, mps=False, cuda_count=1):
    """Pretend this machine has (or lacks) CUDA and MPS."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda_count if cuda else 0)
    monkeypatch.setattr(_runtime, "_mps_available", lambda: mps)
    monkeypatch.delenv("MEDNOTES_DEVICE", raising=False)


@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, ["cuda", "mps", "cpu"]),
    (True, False, ["cuda", "cpu"]),
    (False, True, ["mps", "cpu"]),
    (False, False, ["cpu"]),
])
def test_devices_are_ordered_cuda_mps_cpu_and_the_best_is_the_default(monkeypatch, cuda, mps,
                                                                       expected):
    fake_machine(monkeypatch, cuda=cuda, mps=mps)
    assert mednotes.available_devices() == expected
    assert mednotes.device() == torch.device(expected[0])


def test_environment_variable_picks_a_device_that_is_not_the_best(monkeypatch):
    fake_machine(monkeypatch, cuda=True, mps=True, cuda_count=2)
    monkeypatch.setenv("MEDNOTES_DEVICE", "mps")
    assert mednotes.device() == torch.device("mps")
    monkeypatch.setenv("MEDNOTES_DEVICE", "cuda:1")
    assert mednotes.device() == torch.device("cuda", 1)
    monkeypatch.setenv("MEDNOTES_DEVICE", "cuda:2")
    with pytest.raises(ValueError, match=r"MEDNOTES_DEVICE='cuda:2': only 2 CUDA device"):
        mednotes.device()
    assert mednotes.device("cpu") == torch.device("cpu")  # an argument beats the variable


@pytest.mark.parametrize("value, message", [
    ("gpu", r"MEDNOTES_DEVICE='gpu' is not a device type; expected one of cuda, mps, cpu\. "
            r"Available here: cpu"),
    ("mps", r"MEDNOTES_DEVICE='mps' asks for mps, which this machine does not have"),
    ("cpu:x", r"MEDNOTES_DEVICE='cpu:x': the device index must be a number"),
])
def test_a_bad_environment_variable_is_named_in_the_error(monkeypatch, value, message):
    fake_machine(monkeypatch)
    monkeypatch.setenv("MEDNOTES_DEVICE", value)
    with pytest.raises(ValueError, match=message):
        mednotes.device()


def test_an_empty_environment_variable_means_not_set(monkeypatch):
    fake_machine(monkeypatch, mps=True)
    monkeypatch.setenv("MEDNOTES_DEVICE", "")
    assert mednotes.device() == torch.device("mps")


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


@pytest.mark.parametrize("name, error, message", [
    (0, TypeError, "device name must be a str such as 'cpu', got int"),
    (1.5, TypeError, "device name must be a str such as 'cpu', got float"),
    (True, TypeError, "device name must be a str such as 'cpu', got bool"),
    ("gpu", ValueError, "name='gpu' is not a device type"),
    ("", ValueError, "name='' is not a device type"),
    ("cpu:x", ValueError, "name='cpu:x': the device index must be a number"),
    ("cuda:-1", ValueError, "name='cuda:-1'"),
])
def test_bad_device_arguments(monkeypatch, name, error, message):
    fake_machine(monkeypatch, cuda=True)
    with pytest.raises(error, match=message):
        mednotes.device(name)


def test_seed_everything_repeats_all_three_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    mednotes.seed_everything(7)
    first = draw()
    mednotes.seed_everything(7)
    assert draw() == first
    mednotes.seed_everything(8)
    assert draw() != first


@pytest.mark.parametrize("state", [(False, False, True, False), (True, False, False, True)],
                         ids=["off-with-benchmark", "on-strict"])
def test_seed_everything_by_default_only_seeds(restore_determinism, monkeypatch, state):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.use_deterministic_algorithms(state[0], warn_only=state[1])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = state[2:]
    before = determinism()
    mednotes.seed_everything(0)
    assert determinism() == before


def test_seed_everything_deterministic_switches_every_setting_on(restore_determinism,
                                                                  monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
    mednotes.seed_everything(0, deterministic=True)
    assert determinism() == (True, True, False, True, ":4096:8")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")  # the user's own choice stays
    mednotes.seed_everything(0, deterministic=True)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_deterministic_kernels_restore_the_settings_even_after_an_error(restore_determinism,
                                                                         monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = True
    before = determinism()
    with pytest.raises(KeyError):
        with _runtime.deterministic_kernels():
            assert determinism() == (True, True, False, True, ":4096:8")
            raise KeyError("boom")
    assert determinism() == before
    with _runtime.deterministic_kernels(False):
        assert determinism() == before
    with pytest.raises(TypeError, match="enabled must be True or False, got str 'yes'"):
        with _runtime.deterministic_kernels("yes"):
            pass
    assert determinism() == before


@pytest.mark.parametrize("kwargs, error, message", [
    ({"seed": -1}, ValueError, "seed must be an int between 0 and 4294967295, got -1"),
    ({"seed": 2**32}, ValueError, "seed must be an int between 0 and 4294967295"),
    ({"seed": 1.5}, TypeError, "seed must be an int, got float 1.5"),
    ({"seed": float("nan")}, TypeError, "seed must be an int, got float nan"),
    ({"seed": float("inf")}, TypeError, "seed must be an int, got float inf"),
    ({"seed": "3"}, TypeError, "seed must be an int, got str '3'"),
    ({"seed": True}, TypeError, "seed must be an int, got bool True"),
    ({"seed": 0, "deterministic": "yes"}, TypeError,
     "deterministic must be True or False, got str 'yes'"),
    ({"seed": 0, "deterministic": 1}, TypeError, "deterministic must be True or False, got int 1"),
])
def test_seed_everything_rejects_bad_arguments(restore_determinism, kwargs, error, message):
    before = determinism()
    with pytest.raises(error, match=message):
        mednotes.seed_everything(**kwargs)
    assert determinism() == before
