"""The Grad-CAM layer viewer: its maps against grad_cam layer by layer, its refusals, its
redraw and its static twin."""

import numpy as np
import pytest
import torch
from torch import nn

from mednotes.explain import grad_cam
from mednotes.widgets.gradcam import (
    grad_cam_animation,
    grad_cam_explorer,
    grad_cam_layers,
)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8, 2)).eval()
    x = torch.randn(3, 1, 16, 16)
    layers = {"block 1": net[1], "block 2": net[4]}
    return net, x, layers, grad_cam_layers(net, x, 1, layers)


def test_maps_are_grad_cam_scaled_to_their_maximum(setup):
    net, x, layers, maps = setup
    assert list(maps) == ["block 1", "block 2"]
    for name, layer in layers.items():
        want = grad_cam(net, x, 1, layer)[:, 0]
        for i in range(3):
            if want[i].max() > 0:
                np.testing.assert_allclose(maps[name][i], (want[i] / want[i].max()).numpy(),
                                           rtol=1e-5, atol=1e-7)
                assert maps[name][i].max() == pytest.approx(1.0)


def test_explorer_redraws_and_reports_the_peak(setup):
    _, x, _, maps = setup
    box = grad_cam_explorer(x, maps)
    layer, image, readout, picture = box.children
    first, text = bytes(picture.value), readout.value
    row, col = np.unravel_index(np.argmax(maps["block 1"][0]), (16, 16))
    assert text.startswith(f"peak at row {row}, col {col}")
    layer.value = "block 2"
    assert bytes(picture.value) != first and bytes(picture.value).startswith(b"\x89PNG")
    image.value = 2
    row, col = np.unravel_index(np.argmax(maps["block 2"][2]), (16, 16))
    assert readout.value.startswith(f"peak at row {row}, col {col}")


def test_static_twin_has_a_frame_per_layer_and_loads_nothing(setup):
    from mednotes.widgets import animation_html

    _, x, _, maps = setup
    html = animation_html(grad_cam_animation(x, maps, index=1))
    assert "http://" not in html and "https://" not in html
    assert html.count("frames[1]") == 1 and html.count("frames[2]") == 0


def test_bad_input_is_refused_with_the_argument_named(setup):
    net, x, layers, maps = setup
    with pytest.raises(TypeError, match="layers must be a dict"):
        grad_cam_layers(net, x, 1, [net[1]])
    with pytest.raises(ValueError, match=r"images must be a batch \(N, C, H, W\)"):
        grad_cam_layers(net, x[0], 1, layers)
    with pytest.raises(TypeError, match="maps must be the dict"):
        grad_cam_explorer(x, [1])
    with pytest.raises(ValueError, match=r"maps\['a'\] must be an array of shape \(3, 16, 16\)"):
        grad_cam_explorer(x, {"a": np.zeros((2, 16, 16))})
    with pytest.raises(ValueError, match="layer must be one of 'block 1', 'block 2'"):
        grad_cam_explorer(x, maps, layer="block 3")
    with pytest.raises(ValueError, match="index must be an int between 0 and 2"):
        grad_cam_explorer(x, maps, index=3)
    with pytest.raises(ValueError, match="interval_ms must be a positive int"):
        grad_cam_animation(x, maps, interval_ms=0)
