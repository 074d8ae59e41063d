"""The sliding-window explorer: its frames against a fresh sliding_window_inference and the
predictor on the whole image, its window outlines, its refusals, its redraw and its static
twin."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mednotes.inference import blend_weights, sliding_window_inference, window_starts
from mednotes.widgets import sliding_window
from mednotes.widgets.sliding_window import (
    box_predictor,
    seam_error,
    sliding_window_animation,
    sliding_window_explorer,
    sliding_window_frames,
)


@pytest.fixture(scope="module")
def image():
    torch.manual_seed(0)
    return torch.rand(40, 44)


@pytest.fixture(scope="module")
def frames(image):
    return sliding_window_frames(image, roi_size=16, overlaps=(0.0, 0.5))


def test_frames_match_a_fresh_computation(image, frames):
    x = image[None, None]
    whole = box_predictor(x)[0, 0].numpy()
    np.testing.assert_allclose(frames["whole"], whole, rtol=1e-6)
    for overlap in (0.0, 0.5):
        for mode in ("constant", "gaussian"):
            frame = frames[overlap, mode]
            out = sliding_window_inference(x, 16, box_predictor, overlap=overlap, mode=mode)
            np.testing.assert_allclose(frame["output"], out[0, 0].numpy(), rtol=1e-6)
            np.testing.assert_allclose(frame["seam"], np.abs(out[0, 0].numpy() - whole),
                                       atol=1e-7)
            np.testing.assert_allclose(frame["weights"],
                                       blend_weights((40, 44), 16, overlap, mode).numpy())
            assert frame["starts"] == window_starts((40, 44), 16, overlap)
            assert seam_error(frames, overlap, mode) == pytest.approx(frame["seam"].mean())


def test_box_predictor_is_a_zero_padded_mean():
    x = torch.rand(2, 1, 12, 12)
    kernel = torch.full((1, 1, 5, 5), 1 / 25)
    torch.testing.assert_close(box_predictor(x, 5), F.conv2d(x, kernel, padding=2))


def test_gaussian_blending_shrinks_the_seam_of_overlapping_windows(frames):
    assert seam_error(frames, 0.5, "gaussian") < 0.5 * seam_error(frames, 0.5, "constant")
    # without overlap each pixel has one window (but the last one, moved back, overlaps)
    assert seam_error(frames, 0.0, "constant") > 0.0


def test_a_network_is_read_through_a_softmax(image):
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 2, 3, padding=1)
    frames = sliding_window_frames(image, net, roi_size=16, overlaps=(0.5,), channel=1)
    with torch.no_grad():
        whole = net(image[None, None]).softmax(1)[0, 1].numpy()
    np.testing.assert_allclose(frames["whole"], whole, rtol=1e-5)
    # a 3x3 convolution sees one pixel of padding: the seam is confined to window edges
    assert frames[0.5, "gaussian"]["seam"].max() > 0


def test_bad_input_is_refused_with_the_argument_named(image, frames):
    with pytest.raises(ValueError, match=r"image must be 2D \(H, W\)"):
        sliding_window_frames(image[None], roi_size=16)
    with pytest.raises(TypeError, match="image has dtype torch.int64"):
        sliding_window_frames(image.long(), roi_size=16)
    with pytest.raises(TypeError, match="predictor must be callable"):
        sliding_window_frames(image, "net", roi_size=16)
    with pytest.raises(ValueError, match="roi_size must be an int between 2 and 40"):
        sliding_window_frames(image, roi_size=64)
    with pytest.raises(ValueError, match=r"overlaps must be in \[0.0, 1.0\)"):
        sliding_window_frames(image, roi_size=16, overlaps=(0.0, 1.0))
    with pytest.raises(TypeError, match="overlaps must be a sequence"):
        sliding_window_frames(image, roi_size=16, overlaps=0.5)
    with pytest.raises(ValueError, match="modes must be one of"):
        sliding_window_frames(image, roi_size=16, modes=("box",))
    with pytest.raises(ValueError, match="channel must be below"):
        sliding_window_frames(image, roi_size=16, overlaps=(0.0,), channel=1)
    with pytest.raises(ValueError, match="width must be odd"):
        box_predictor(image[None, None], 4)
    with pytest.raises(TypeError, match="frames must be the dict"):
        sliding_window_explorer([1, 2])
    with pytest.raises(ValueError, match="overlap must be one of the frames' overlaps"):
        sliding_window_explorer(frames, overlap=0.25)
    with pytest.raises(ValueError, match="mode must be one of"):
        sliding_window_explorer(frames, mode="linear")
    with pytest.raises(ValueError, match="interval_ms must be a positive int"):
        sliding_window_animation(frames, interval_ms=0)


def test_explorer_redraws_and_reports_the_shown_setting(frames):
    box = sliding_window_explorer(frames)
    slider, toggle, readout, picture = box.children
    first = bytes(picture.value)
    assert readout.value.startswith("9 windows")            # starts 0, 16, 24 on both axes
    slider.value = 0.5
    assert bytes(picture.value) != first and bytes(picture.value).startswith(b"\x89PNG")
    assert readout.value.startswith("20 windows")           # 0, 8, 16, 24 (and 28 across)
    toggle.value = "gaussian"
    assert f"seam mean {seam_error(frames, 0.5, 'gaussian'):.4f}" in readout.value


def test_figure_draws_the_windows_it_is_asked_for(frames):
    fig, update = sliding_window._figure(frames)
    error = update(0.5, "gaussian")
    rows, cols = frames[0.5, "gaussian"]["starts"]
    (shown,) = [c for c in fig.axes[0].collections if c.get_visible()]
    assert len(shown.get_paths()) == len(rows) * len(cols)
    corners = sorted(tuple(p.vertices.min(0)[::-1] + 0.5) for p in shown.get_paths())
    assert corners == sorted((r, c) for r in rows for c in cols)
    assert all(np.ptp(p.vertices, 0).tolist() == [16, 16] for p in shown.get_paths())
    assert error == pytest.approx(seam_error(frames, 0.5, "gaussian"))
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(),
                                  frames[0.5, "gaussian"]["seam"])


def test_static_twin_has_a_frame_per_setting_and_loads_nothing(frames):
    from mednotes.widgets import animation_html

    html = animation_html(sliding_window_animation(frames))
    assert "http://" not in html and "https://" not in html
    assert html.count("frames[3]") == 1 and html.count("frames[4]") == 0
