"""The shipped-image loaders, checked against the packages that ship the files."""

import numpy as np
import pytest
import torch

from mednotes import data


def test_ct_is_in_hounsfield_units_as_pydicom_computes_them():
    from pydicom.examples import ct
    from pydicom.pixels import apply_modality_lut

    hu, meta = data.ct_slice()
    reference = apply_modality_lut(ct.pixel_array, ct)  # pydicom's own rescale
    assert hu.dtype == torch.float32 and hu.shape == (128, 128)
    np.testing.assert_array_equal(hu.numpy(), reference.astype(np.float32))
    assert meta["units"] == "HU" and meta["modality"] == "CT"
    assert meta["spacing_mm"] == pytest.approx((0.661468, 0.661468))
    assert meta["rescale"] == (1.0, -1024.0)


def test_mr_slice_matches_the_stored_pixels():
    from pydicom.examples import mr

    image, meta = data.mr_slice()
    np.testing.assert_array_equal(image.numpy(), mr.pixel_array.astype(np.float32))
    assert meta["modality"] == "MR" and meta["slice_thickness_mm"] == pytest.approx(0.8)


@pytest.mark.parametrize("loader, name", [(data.fundus, "retina"),
                                          (data.histology, "immunohistochemistry")])
def test_colour_images_are_channels_first_in_unit_range(loader, name):
    import skimage.data

    image, meta = loader()
    raw = getattr(skimage.data, name)()
    assert image.dtype == torch.float32 and image.shape == (3, *raw.shape[:2])
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), raw / 255.0, atol=1e-7)
    assert meta["channels"] == ("red", "green", "blue") and meta["licence"]


def test_brain_template_channels_are_t1_and_tissue_probabilities():
    from nilearn import datasets

    volume, meta = data.brain_template(resolution=2)
    t1 = datasets.load_mni152_template(resolution=2).get_fdata()
    grey = datasets.load_mni152_gm_template(resolution=2).get_fdata()
    assert volume.shape == (4, *t1.shape) and volume.dtype == torch.float32
    np.testing.assert_allclose(volume[0].numpy(), t1, atol=1e-6)
    np.testing.assert_allclose(volume[1].numpy(), grey, atol=1e-6)
    probabilities = volume[1:]
    assert probabilities.min() >= 0 and probabilities.sum(0).max() <= 1 + 1e-5
    assert meta["channels"] == ("t1", "grey matter", "white matter", "csf")
    assert meta["spacing_mm"] == (2.0, 2.0, 2.0)
    # CSF fills the ventricles: a good share of brain voxels, not an empty map.
    assert 0.05 < (volume[3] > 0.5).float().sum() / (volume[0] > 0.1).float().sum() < 0.5


def test_brain_template_rejects_other_resolutions():
    with pytest.raises(ValueError, match="resolution must be 1 or 2"):
        data.brain_template(resolution=3)


def test_loaders_return_copies_so_callers_cannot_corrupt_the_cache():
    hu, _ = data.ct_slice()
    hu.zero_()
    assert data.ct_slice()[0].abs().sum() > 0


def test_load_by_name_and_unknown_names_list_the_valid_ones():
    assert data.load("CT")[1]["modality"] == "CT"
    with pytest.raises(ValueError, match="unknown image name 'pet'; valid names: ct, mr, fundus"):
        data.load("pet")
    with pytest.raises(TypeError, match="name must be a str"):
        data.load(3)


def test_window_matches_an_independent_piecewise_linear_reference():
    hu = torch.linspace(-1200, 1600, 281)
    for name, (center, width) in data.WINDOWS.items():
        reference = np.interp(hu.numpy(), [center - width / 2, center + width / 2], [0.0, 1.0])
        np.testing.assert_allclose(data.window(hu, name).numpy(), reference, atol=1e-6)
        np.testing.assert_allclose(data.window(hu.numpy(), center, width), reference, atol=1e-12)


def test_window_keeps_the_kind_and_device_it_was_given():
    assert isinstance(data.window(np.zeros(3), 0, 10), np.ndarray)
    assert data.window(torch.zeros(3, dtype=torch.int16), 0, 10).dtype == torch.float32


@pytest.mark.parametrize("kwargs, error, message", [
    ({"center": "liver"}, ValueError, "unknown window 'liver'; presets: brain"),
    ({"center": 40}, ValueError, "width is required"),
    ({"center": 40, "width": 0}, ValueError, "width must be positive"),
    ({"center": "bone", "width": 10}, ValueError, "width must be omitted"),
])
def test_window_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        data.window(torch.zeros(2), **kwargs)


def test_window_rejects_lists_and_complex_input():
    with pytest.raises(TypeError, match="image must be a numpy array or torch tensor, got list"):
        data.window([1, 2], 0, 10)
    with pytest.raises(TypeError, match="complex"):
        data.window(torch.zeros(2, dtype=torch.complex64), 0, 10)
