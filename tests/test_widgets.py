"""Explorers and their static twins: the numbers they show, and what they refuse."""

import numpy as np
import pytest
import torch

from mednotes import widgets
from mednotes.widgets.sliding import _correlate_valid, _sliding_figure
from mednotes.conv import correlate
from mednotes.data import ct_slice
from mednotes.viz import image_grid


def test_sliding_window_sums_are_the_library_cross_correlation():
    rng = np.random.default_rng(1)
    image, kernel = rng.random((9, 11)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(_correlate_valid(image, kernel), correlate(image, kernel),
                               atol=1e-12)


def test_sliding_figure_fills_the_map_in_raster_order():
    image = np.arange(25.0).reshape(5, 5) / 25
    fig, update, count = _sliding_figure(image, np.ones((3, 3)))
    assert count == 9
    update(4)  # the centre output pixel (1, 1)
    shown = fig.axes[4].images[0].get_array()
    assert np.isfinite(np.ma.filled(shown, np.nan)).sum() == 5
    total = image[1:4, 1:4].sum()
    assert fig.axes[3].get_xlabel() == f"sum = {total:+.2f}"
    assert fig.axes[4].get_xlabel() == f"pixel (1, 1) = {total:+.2f}"


def test_explorer_refuses_images_too_large_to_read():
    with pytest.raises(ValueError, match="at most 16×16.*pass a crop"):
        widgets.correlation_explorer(torch.rand(40, 40))
    with pytest.raises(ValueError, match="image must be 2D"):
        widgets.correlation_animation(torch.rand(3, 8, 8))


def test_static_twins_load_nothing_from_the_network():
    hu = ct_slice()[0]
    for anim in (widgets.window_animation(hu, steps=1), widgets.correlation_animation(hu[:5, :5] / 1000)):
        html = widgets.animation_html(anim)
        assert "http://" not in html and "https://" not in html and "<img" in html
    anim = widgets.window_animation(hu, steps=1)
    with pytest.raises(ValueError, match="mode must be"):
        widgets.animation_html(anim, mode="bounce")
    assert "once" in widgets.animation_html(anim, mode="once")


def test_window_explorer_redraws_when_a_slider_moves():
    box = widgets.window_explorer(ct_slice()[0])
    center, width, picture = box.children
    before = bytes(picture.value)
    center.value = 400
    assert bytes(picture.value) != before and bytes(picture.value).startswith(b"\x89PNG")


def test_image_grid_checks_its_arguments():
    with pytest.raises(ValueError, match="kind has 1 entries, images has 2"):
        image_grid([np.zeros((4, 4))] * 2, kind=["anatomy"])
    with pytest.raises(ValueError, match="titles has 1 entries"):
        image_grid([np.zeros((4, 4))] * 2, titles=["a"])
    with pytest.raises(ValueError, match="kind must be one of"):
        image_grid([np.zeros((4, 4))], kind="rainbow")
