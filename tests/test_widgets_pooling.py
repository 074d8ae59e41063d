"""The downsampling explorer: its numbers against independent computations, its refusals."""

import numpy as np
import pytest
import torch

from mednotes import widgets
from mednotes.data import ct_slice, window
from mednotes.widgets.downsampling import _downsampling_figure, downsample, shift_difference


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


def test_shown_error_is_the_relative_norm_of_the_shown_difference():
    image = window(ct_slice()[0])[:96, :96].double()
    for factor in (2, 4):
        for shift in (0, 1, factor):
            out, _, diff, error = shift_difference(image, factor, "none", shift)
            # independent: roll the input, subsample with numpy, compare with the rolled output
            moved = np.roll(image.numpy(), (shift, shift), (0, 1))[::factor, ::factor]
            np.testing.assert_allclose(out.numpy(), moved, atol=1e-12)
            if shift % factor == 0:
                ref = np.roll(image.numpy()[::factor, ::factor], (shift // factor,) * 2, (0, 1))
                np.testing.assert_allclose(diff.numpy(), moved - ref, atol=1e-12)
                assert error == 0.0
            else:
                assert error == pytest.approx(float(diff.norm()) / float((out - diff).norm()))
                assert error > 0.05


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


def test_explorer_redraws_and_static_twin_loads_nothing_from_the_network():
    ct = window(ct_slice()[0])
    box = widgets.downsampling_explorer(ct, prefilters=("none",))
    factor, shift, picture = box.children
    before = bytes(picture.value)
    shift.value = 1
    assert bytes(picture.value) != before and bytes(picture.value).startswith(b"\x89PNG")
    html = widgets.animation_html(widgets.downsampling_animation(ct, shifts=range(2)))
    assert "http://" not in html and "https://" not in html and "<img" in html
