"""Hand-made kernels, checked against scipy's own filters and window functions."""

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch

from conftest import DEVICES
from mednotes import kernels
from mednotes.conv import correlate

IMAGE = np.random.default_rng(5).random((20, 23))
INTERIOR = (slice(1, -1), slice(1, -1))  # away from the border, where padding rules differ


@pytest.mark.parametrize("direction, axis", [("x", 1), ("y", 0)])
def test_sobel_matches_scipy_ndimage(direction, axis):
    ours = correlate(IMAGE, kernels.sobel(direction).double().numpy(), mode="same")
    reference = scipy.ndimage.sobel(IMAGE, axis=axis)
    np.testing.assert_allclose(ours[INTERIOR], reference[INTERIOR], atol=1e-12)


def test_laplacian_matches_scipy_ndimage():
    ours = correlate(IMAGE, kernels.laplacian().double().numpy(), mode="same")
    np.testing.assert_allclose(ours[INTERIOR], scipy.ndimage.laplace(IMAGE)[INTERIOR], atol=1e-12)


@pytest.mark.parametrize("size, sigma, dims", [(5, 1.0, 2), (7, 2.5, 2), (3, 0.7, 3), (9, 1.5, 1)])
def test_gaussian_is_the_normalised_product_of_scipy_windows(size, sigma, dims):
    window = scipy.signal.windows.gaussian(size, sigma)
    reference = window
    for _ in range(dims - 1):
        reference = np.multiply.outer(reference, window)
    reference /= reference.sum()
    np.testing.assert_allclose(kernels.gaussian(size, sigma, dims).numpy(), reference, atol=1e-7)


def test_sharpen_and_box():
    flat = np.full((6, 6), 0.3)
    assert np.allclose(correlate(flat, kernels.sharpen(2.0).double().numpy()), 0.3)
    assert np.allclose(correlate(flat, kernels.box(3).double().numpy()), 0.3)


def test_named_kernels_and_errors():
    assert all(kernels.named(name).shape == (3, 3) for name in kernels.NAMES)
    with pytest.raises(ValueError, match="unknown kernel 'emboss'; names: edge"):
        kernels.named("emboss")
    with pytest.raises(ValueError, match="size must be a positive odd number, got 4"):
        kernels.gaussian(4)
    with pytest.raises(TypeError, match="size must be an int"):
        kernels.box(3.0)
    with pytest.raises(ValueError, match="sigma must be > 0.0, got 0.0"):
        kernels.gaussian(3, 0.0)
    with pytest.raises(ValueError, match="dims must be one of 1, 2, 3"):
        kernels.gaussian(3, 1.0, dims=4)
    with pytest.raises(ValueError, match="direction must be one of 'x', 'y'"):
        kernels.sobel("z")
    assert kernels.sobel("y").is_contiguous() and torch.equal(kernels.sobel("y"), kernels.sobel("x").T)


@pytest.mark.parametrize("call,error,match", [
    (lambda: kernels.gaussian(3, float("nan")), ValueError, "sigma must be finite, got nan"),
    (lambda: kernels.gaussian(3, float("inf")), ValueError, "sigma must be finite"),
    (lambda: kernels.gaussian(3, "1.0"), TypeError, "sigma must be a real number, got str"),
    (lambda: kernels.gaussian(3, 1.0, dims=2.0), TypeError, "dims must be an int, one of 1, 2, 3"),
    (lambda: kernels.sharpen(float("nan")), ValueError, "amount must be finite"),
    (lambda: kernels.box(True), TypeError, "size must be an int, got bool"),
    (lambda: kernels.box(-3), ValueError, "size must be a positive int, got -3"),
    (lambda: kernels.box(3, dtype=torch.int64), TypeError, "dtype=torch.int64 is not a floating"),
    (lambda: kernels.box(3, dtype="float32"), TypeError, "dtype must be a torch.dtype"),
    (lambda: kernels.laplacian(device="gpu"), ValueError, "device='gpu' is not a device"),
    (lambda: kernels.named(3), ValueError, "unknown kernel 3"),
])
def test_kernel_builders_refuse_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_kernels_are_made_on_the_asked_device_and_dtype(device, dtype):
    reference = {name: kernels.named(name, dtype=torch.float64) for name in kernels.NAMES}
    for name in kernels.NAMES:
        kernel = kernels.named(name, device=device, dtype=dtype)
        assert kernel.device.type == device and kernel.dtype == dtype, name
        # The same numbers as the float64 kernel, rounded once to the asked dtype.
        expected = reference[name].to(dtype).double()
        assert torch.equal(kernel.cpu().double(), expected), name
    made = kernels.gaussian(5, 1.3, dims=3, device=device, dtype=dtype)
    assert made.device.type == device and made.dtype == dtype
    assert abs(made.double().sum().item() - 1.0) < 10 * torch.finfo(dtype).eps * 125
