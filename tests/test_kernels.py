"""Hand-made kernels, checked against scipy's own filters and window functions."""

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch

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
    with pytest.raises(ValueError, match="sigma must be positive"):
        kernels.gaussian(3, 0.0)
    with pytest.raises(ValueError, match="dims must be 1, 2 or 3"):
        kernels.gaussian(3, 1.0, dims=4)
    with pytest.raises(ValueError, match="direction must be 'x' or 'y'"):
        kernels.sobel("z")
    assert kernels.sobel("y").is_contiguous() and torch.equal(kernels.sobel("y"), kernels.sobel("x").T)
