"""The downsampling explorer: its numbers against independent computations, its refusals."""

import numpy as np
import pytest
import scipy.ndimage
import torch

from mednotes import widgets
from mednotes.data import ct_slice, window
from mednotes.widgets.downsampling import (
    _downsampling_figure,
    downsample,
    shift_difference,
)


def _numpy_downsample(image: np.ndarray, factor: int, prefilter: str) -> np.ndarray:
    """Written from the definitions with numpy only: no mednotes pooling involved."""
    if prefilter == "none":
        return image[::factor, ::factor]
    if prefilter == "average":
        h, w = image.shape[0] // factor, image.shape[1] // factor
        return image[:h * factor, :w * factor].reshape(h, factor, w, factor).mean(axis=(1, 3))
    k = 2 * factor - 1
    from math import comb
    row = np.array([comb(k - 1, i) for i in range(k)], dtype=np.float64)
    row /= row.sum()
    blurred = np.zeros_like(image)
    before = (k - 1) // 2
    for u in range(k):           # circular padding: np.roll brings in the other side
        for v in range(k):
            blurred += row[u] * row[v] * np.roll(image, (before - u, before - v), (0, 1))
    return blurred[::factor, ::factor]


@pytest.mark.parametrize("prefilter", ["none", "average", "blur"])
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_downsample_matches_numpy(prefilter, factor):
    image = np.random.default_rng(factor).random((24, 24))
    got = downsample(torch.from_numpy(image)[None, None], factor, prefilter)[0, 0].numpy()
    np.testing.assert_allclose(got, _numpy_downsample(image, factor, prefilter), atol=1e-12)


def _scipy_subpixel_roll(image: np.ndarray, shift: float) -> np.ndarray:
    """Roll both axes by a possibly fractional shift with scipy.ndimage.fourier_shift, one axis
    at a time (the real part after each, as the explorer documents): no mednotes involved."""
    out = image
    for axis in (0, 1):
        shifts = [0.0, 0.0]
        shifts[axis] = shift
        spectrum = scipy.ndimage.fourier_shift(np.fft.fft(out, axis=axis), shifts)
        out = np.fft.ifft(spectrum, axis=axis).real
    return out


@pytest.mark.parametrize("prefilter", ["none", "blur"])
def test_shown_difference_and_error_match_an_independent_computation(prefilter):
    # Everything the explorer shows, rebuilt from the image alone with numpy and scipy: roll
    # the input, downsample it (numpy), and compare with the unshifted output moved by
    # shift / factor (scipy's Fourier shift). Nothing is taken from shift_difference's outputs.
    image = window(ct_slice()[0])[:96, :96].double().numpy()
    errors = {}
    for factor in (2, 4):
        reference = _numpy_downsample(image, factor, prefilter)
        for shift in (0, 1, 3, factor):
            out, _, diff, error = shift_difference(torch.from_numpy(image), factor, prefilter,
                                                   shift)
            moved = _numpy_downsample(np.roll(image, (shift, shift), (0, 1)), factor, prefilter)
            expected = _scipy_subpixel_roll(reference, shift / factor)
            np.testing.assert_allclose(out.numpy(), moved, atol=1e-12)
            np.testing.assert_allclose(diff.numpy(), moved - expected, atol=1e-10)
            want = np.linalg.norm(moved - expected) / np.linalg.norm(expected)
            assert error == pytest.approx(want, rel=1e-9, abs=1e-12), (factor, shift)
            errors[factor, shift] = error
    # known facts that the numbers must also obey: a shift by a multiple of the factor is an
    # exact shift of the output (circular padding throughout), an odd one is not
    assert errors[2, 0] == errors[2, 2] == errors[4, 4] == 0.0
    assert min(errors[2, 1], errors[4, 1], errors[4, 3]) > 0.02


def test_blurring_first_reduces_the_shown_error_on_ct():
    # Zhang's point on a real image: the same odd shift, smaller error after the binomial blur
    image = window(ct_slice()[0])[:96, :96].double()
    for factor in (2, 4):
        plain = shift_difference(image, factor, "none", 1)[3]
        blurred = shift_difference(image, factor, "blur", 1)[3]
        assert blurred < 0.5 * plain, (factor, plain, blurred)


def test_figure_titles_report_the_errors():
    image = torch.rand(48, 48, generator=torch.Generator().manual_seed(0))
    fig, update = _downsampling_figure(image.double(), ("none", "blur"))
    errors = update(2, 1)
    assert errors[1] < errors[0]  # blurring first aliases less on white noise
    assert fig.axes[2].get_title() == f"difference, error {errors[0]:.3f}"


def test_explorer_refuses_bad_input():
    with pytest.raises(ValueError, match="2D grey image"):
        widgets.downsampling_explorer(torch.rand(3, 48, 48))
    with pytest.raises(ValueError, match="at least 24×24"):
        widgets.downsampling_explorer(torch.rand(20, 20))
    with pytest.raises(ValueError, match="prefilters must be drawn from"):
        widgets.downsampling_explorer(torch.rand(48, 48), prefilters=("median",))
    with pytest.raises(ValueError, match="shifts must hold 1 to 16"):
        widgets.downsampling_animation(torch.rand(48, 48), shifts=range(20))
    with pytest.raises(ValueError, match="factor must be one of"):
        widgets.downsampling_animation(torch.rand(48, 48), factor=5)
    with pytest.raises(ValueError, match="prefilter must be one of"):
        downsample(torch.rand(1, 1, 8, 8), 2, "gauss")
    with pytest.raises(TypeError, match="factor must be an int, got str '2'"):
        downsample(torch.rand(1, 1, 8, 8), "2")
    with pytest.raises(ValueError, match="factor must be a positive int, got 0"):
        downsample(torch.rand(1, 1, 8, 8), 0)


def test_explorer_redraws_and_static_twin_loads_nothing_from_the_network():
    ct = window(ct_slice()[0])
    box = widgets.downsampling_explorer(ct, prefilters=("none",))
    factor, shift, picture = box.children
    before = bytes(picture.value)
    shift.value = 1
    assert bytes(picture.value) != before and bytes(picture.value).startswith(b"\x89PNG")
    html = widgets.animation_html(widgets.downsampling_animation(ct, shifts=range(2)))
    assert "http://" not in html and "https://" not in html and "<img" in html
