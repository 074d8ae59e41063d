"""The shortcut dataset: the marker goes with the label at the rate asked for, the fixes
remove the correlation or the marker, and the base images are otherwise untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mednotes.data import histology_patches
from mednotes.data.shortcuts import lesion_slices, marked, marker_pattern


@pytest.fixture(scope="module")
def base():
    """Cached items: a list is a dataset too, and renders nothing twice."""
    ds = lesion_slices(200, size=32, seed=3)
    return [ds[i] for i in range(200)]


def _rates(ds):
    labels = np.array([int(ds[i][1]) for i in range(len(ds))])
    marks = np.array([ds.has_marker(i) for i in range(len(ds))])
    return marks[labels == 1].mean(), marks[labels == 0].mean(), labels


@pytest.mark.parametrize("rate", [1.0, 0.9, 0.5, 0.0])
def test_the_marker_follows_the_label_at_the_rate_asked(base, rate):
    with_class, without, labels = _rates(marked(base, marked_class=1, rate=rate))
    assert 0.3 < labels.mean() < 0.7  # lesion slices are about half
    # binomial error with ~100 items per class: 3 standard errors
    assert with_class == pytest.approx(rate, abs=0.15)
    assert without == pytest.approx(1 - rate, abs=0.15)
    if rate in (0.0, 1.0):
        assert with_class == rate and without == 1 - rate


def test_the_marker_is_drawn_where_has_marker_says_and_nowhere_else(base):
    ds = marked(base, rate=0.8, seed=1)
    pattern = torch.from_numpy(marker_pattern("tag", 32))
    h, w = pattern.shape
    for i in range(40):
        image, label = ds[i]
        original, original_label = base[i]
        assert int(label) == int(original_label)
        changed = image != original
        if ds.has_marker(i):
            corner = image[0, 1:1 + h, 1:1 + w]
            assert torch.all(corner[pattern > 0] == original.max())
            assert not changed[0, 1 + h:].any() and not changed[0, :, 1 + w:].any()
        else:
            assert not changed.any()


def test_balance_fix_decorrelates_and_mask_fix_blanks_the_corner(base):
    with_class, without, _ = _rates(marked(base, rate=1.0, fix="balance"))
    assert with_class == pytest.approx(0.5, abs=0.15) and without == pytest.approx(0.5, abs=0.15)
    masked = marked(base, rate=1.0, fix="mask")
    for i in range(20):
        image, _ = masked[i]
        assert not masked.has_marker(i)
        assert image[:, :7, :9].abs().max() == 0
        torch.testing.assert_close(image[:, 7:], base[i][0][:, 7:])
    # the same image with and without the marker differ only inside the corner
    on = marked(base, rate=1.0)
    off = marked(base, rate=0.0)
    for i in range(10):
        diff = (on[i][0] != off[i][0])
        assert diff.any() and not diff[:, 7:].any() and not diff[:, :, 9:].any()


def test_same_seed_same_markers_and_other_datasets_work():
    ds = histology_patches(6, size=32)
    a, b = marked(ds, marked_class=2, rate=0.7, seed=4), marked(ds, marked_class=2, rate=0.7,
                                                                 seed=4)
    assert [a.has_marker(i) for i in range(6)] == [b.has_marker(i) for i in range(6)]
    image, _ = marked(ds, marked_class=2, rate=1.0, marker="ruler")[2]
    assert image.shape == (3, 32, 32)
    assert torch.all(image[:, 1, 1:13] == image.max())  # the ruler's line, in every channel
    assert marker_pattern("ruler", 64).shape == (6, 24) and marker_pattern("tag", 64).shape == (10, 14)


def test_lesion_slices_label_whether_a_lesion_is_there():
    ds = lesion_slices(12, size=32)
    for i in range(12):
        image, label = ds[i]
        assert int(label) == int(ds.mask(i).any())
        assert image.shape == (1, 32, 32) and image.dtype == torch.float32
    assert ds.classes == ("no lesion", "lesion")


def test_bad_input_is_refused_with_the_argument_named(base):
    with pytest.raises(ValueError, match=r"rate must be in \[0.0, 1.0\]"):
        marked(base, rate=1.5)
    with pytest.raises(ValueError, match="rate must be finite"):
        marked(base, rate=float("nan"))
    with pytest.raises(ValueError, match="fix must be one of None, 'balance', 'mask'"):
        marked(base, fix="crop")
    with pytest.raises(ValueError, match="marker must be one of 'tag', 'ruler'"):
        marked(base, marker="arrow")
    with pytest.raises(TypeError, match="marked_class must be an int"):
        marked(base, marked_class="lesion")
    with pytest.raises(ValueError, match="marked_class must be a class of base"):
        marked(lesion_slices(4, size=32), marked_class=2)
    with pytest.raises(TypeError, match="base must be a dataset"):
        marked(42)
    with pytest.raises(ValueError, match="base items must be"):
        marked([(torch.zeros(32, 32), torch.tensor(1))])[0]
    with pytest.raises(ValueError, match="size must be an int between 24 and 512"):
        lesion_slices(4, size=16)
