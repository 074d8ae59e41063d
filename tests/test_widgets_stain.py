"""The stain explorer: its probabilities against the classifiers called directly, its
refusals, its redraw and its static twin."""

import numpy as np
import pytest
import torch

from mednotes.data import histology_patches
from mednotes.data.stain import rgb_to_hed, stain_jitter
from mednotes.widgets import stain
from mednotes.widgets.stain import (
    recolour,
    stain_animation,
    stain_explorer,
    stain_probabilities,
)

CLASSES = ("normal", "hyperplastic", "atypical")


@pytest.fixture(scope="module")
def patch():
    return histology_patches(1, size=32)[0][0]


def darkness(images):
    """A classifier that depends on the stain: more haematoxylin, more 'atypical'."""
    h = rgb_to_hed(images)[:, 0].mean((1, 2))
    logits = torch.stack([-20 * h, torch.zeros_like(h), 20 * h], 1)
    return logits.softmax(1)


def flat(images):
    return torch.full((len(images), 3), 1 / 3)


MODELS = {"darkness": darkness, "flat": flat}


def test_recolour_scales_the_two_stains(patch):
    out = recolour(patch, 1.8, 0.6)
    want = stain_jitter(patch, torch.tensor([1.8, 0.6, 1.0]), torch.zeros(3))
    torch.testing.assert_close(out, want)
    hed, base = rgb_to_hed(out.double()), rgb_to_hed(recolour(patch, 1.0, 1.0).double())
    assert hed[0].sum() / base[0].sum() == pytest.approx(1.8, rel=0.02)
    assert hed[1].sum() / base[1].sum() == pytest.approx(0.6, rel=0.05)


def test_probabilities_are_the_classifiers_own_answers(patch):
    for h, e in ((1.0, 1.0), (2.5, 0.5), (0.4, 1.7)):
        got = stain_probabilities(patch, MODELS, CLASSES, h, e)
        image = recolour(patch, h, e)[None]
        np.testing.assert_allclose(got["darkness"], darkness(image)[0].double().numpy(), rtol=1e-6)
        np.testing.assert_allclose(got["flat"], np.full(3, 1 / 3), rtol=1e-6)
    low = stain_probabilities(patch, MODELS, CLASSES, 0.5)["darkness"]
    high = stain_probabilities(patch, MODELS, CLASSES, 2.5)["darkness"]
    assert high[2] > low[2]


def test_explorer_redraws_and_reports_the_answers(patch):
    box = stain_explorer(patch, MODELS, CLASSES)
    haematoxylin, eosin, readout, picture = box.children
    first = bytes(picture.value)
    assert first.startswith(b"\x89PNG") and readout.value.startswith("darkness: ")
    haematoxylin.value = 2.5
    assert bytes(picture.value) != first
    p = stain_probabilities(patch, MODELS, CLASSES, 2.5, 1.0)["darkness"]
    assert f"darkness: {CLASSES[int(p.argmax())]} ({p.max():.2f})" in readout.value
    eosin.value = 0.5
    p = stain_probabilities(patch, MODELS, CLASSES, 2.5, 0.5)["darkness"]
    assert f"({p.max():.2f})" in readout.value


def test_figure_shows_the_bars_it_is_asked_for(patch):
    fig, update = stain._stain_figure(patch, MODELS, CLASSES)
    probs = update(2.0, 1.0)
    bars = [p for p in fig.axes[1].patches]
    heights = np.array([b.get_height() for b in bars])
    np.testing.assert_allclose(heights[:3], probs["darkness"])
    np.testing.assert_allclose(heights[3:], probs["flat"])
    assert "haematoxylin ×2.00" in fig.axes[0].get_title()


def test_static_twin_has_a_frame_per_scale_and_loads_nothing(patch):
    from mednotes.widgets import animation_html

    html = animation_html(stain_animation(patch, MODELS, CLASSES, scales=(0.5, 1.0, 1.5, 2.0)))
    assert "http://" not in html and "https://" not in html
    assert html.count("frames[3]") == 1 and html.count("frames[4]") == 0


def test_bad_input_is_refused_with_the_argument_named(patch):
    with pytest.raises(ValueError, match=r"patch must be one RGB image \(3, H, W\)"):
        stain_explorer(patch[None], MODELS, CLASSES)
    with pytest.raises(TypeError, match="patch must be a torch.Tensor"):
        recolour(patch.numpy(), 1.0, 1.0)
    with pytest.raises(TypeError, match="models must be a dict"):
        stain_explorer(patch, [darkness], CLASSES)
    with pytest.raises(TypeError, match="models must map names"):
        stain_explorer(patch, {"a": 3}, CLASSES)
    with pytest.raises(TypeError, match="classes must be a sequence of class names"):
        stain_explorer(patch, MODELS, "abc")
    with pytest.raises(ValueError, match=r"haematoxylin must be in \[0.25, 3.0\]"):
        stain_explorer(patch, MODELS, CLASSES, haematoxylin=5.0)
    with pytest.raises(ValueError, match="eosin must be > 0.0"):
        recolour(patch, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"must return probabilities of shape \(N, 2\)"):
        stain_probabilities(patch, MODELS, ("a", "b"))
    with pytest.raises(ValueError, match="interval_ms must be a positive int"):
        stain_animation(patch, MODELS, CLASSES, interval_ms=0)
    with pytest.raises(TypeError, match="scales must be a sequence"):
        stain_animation(patch, MODELS, CLASSES, scales=2.0)
    with pytest.raises(ValueError, match="at most 4 classifiers"):
        stain_explorer(patch, {str(i): flat for i in range(5)}, CLASSES)
