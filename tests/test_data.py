"""The shipped-image loaders, checked against the packages that ship the files."""

import numpy as np
import pytest
import torch

from conftest import DEVICES
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


@pytest.mark.parametrize("resolution, error, message", [
    (3, ValueError, "resolution must be 1 or 2"),
    (0, ValueError, "resolution must be 1 or 2"),
    (2.0, TypeError, "resolution must be the int 1 or 2 .mm., got float 2.0"),
    (True, TypeError, "resolution must be the int 1 or 2 .mm., got bool True"),
    ("2", TypeError, "resolution must be the int 1 or 2 .mm., got str '2'"),
    (float("nan"), TypeError, "resolution must be the int"),
])
def test_brain_template_rejects_other_resolutions(resolution, error, message):
    with pytest.raises(error, match=message):
        data.brain_template(resolution=resolution)


def test_loaders_return_copies_so_callers_cannot_corrupt_the_cache():
    hu, _ = data.ct_slice()
    hu.zero_()
    assert data.ct_slice()[0].abs().sum() > 0


def test_load_by_name_and_unknown_names_list_the_valid_ones():
    assert data.load("CT")[1]["modality"] == "CT"
    with pytest.raises(ValueError, match="unknown image name 'pet'; valid names: ct, mr, fundus"):
        data.load("pet")
    with pytest.raises(TypeError, match="name must be a str such as 'ct', got int 3"):
        data.load(3)
    with pytest.raises(TypeError, match="name must be a str"):
        data.load(None)
    with pytest.raises(TypeError, match="resolution must be the int 1 or 2"):
        data.load("brain", resolution=1.0)


def test_window_matches_an_independent_piecewise_linear_reference():
    hu = torch.linspace(-1200, 1600, 281)
    for name, (center, width) in data.WINDOWS.items():
        reference = np.interp(hu.double().numpy(), [center - width / 2, center + width / 2],
                              [0.0, 1.0])
        np.testing.assert_allclose(data.window(hu, name).numpy(), reference, atol=1e-6)
        np.testing.assert_allclose(data.window(hu.double().numpy(), center, width), reference,
                                   atol=1e-12)
        np.testing.assert_allclose(data.window(hu.numpy(), center, width), reference, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype, expected", [
    (torch.float32, torch.float32),
    (torch.float64, torch.float64),
    (torch.float16, torch.float16),
    (torch.bfloat16, torch.bfloat16),
    (torch.int16, torch.float32),  # stored CT values are integers
    (torch.int64, torch.float32),
])
def test_window_keeps_the_device_and_floating_dtype_it_was_given(device, dtype, expected):
    hu = torch.tensor([-1000, 0, 40, 240, 3000], device=device).to(dtype)
    out = data.window(hu, "soft tissue")  # [-160, 240] HU
    assert out.device == hu.device and out.dtype == expected
    tolerance = 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-6
    np.testing.assert_allclose(out.cpu().double().numpy(), [0.0, 0.4, 0.5, 1.0, 1.0],
                               atol=tolerance)


@pytest.mark.parametrize("dtype, expected", [
    (np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float16),
    (np.int16, np.float64), (np.uint8, np.float64),
])
def test_window_keeps_numpy_arrays_and_their_floating_dtype(dtype, expected):
    out = data.window(np.array([0, 50, 100, 200], dtype=dtype), 50, 100)
    assert isinstance(out, np.ndarray) and out.dtype == expected
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0, 1.0], atol=1e-3)


def test_window_maps_infinite_pixels_to_the_ends_and_keeps_nan():
    out = data.window(torch.tensor([-float("inf"), float("nan"), float("inf"), 40.0]), 40, 80)
    assert out[0] == 0 and bool(out[1].isnan()) and out[2] == 1 and out[3] == 0.5


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"center": "liver"}, ValueError, "unknown window center='liver'; presets: 'brain'"),
    ({"center": "40"}, ValueError, "unknown window center='40'"),
    ({"center": 40}, ValueError, "width is required"),
    ({"center": 40, "width": 0}, ValueError, "width must be > 0.0, got 0.0"),
    ({"center": 40, "width": -80}, ValueError, "width must be > 0.0, got -80.0"),
    ({"center": "bone", "width": 10}, ValueError, "width must be omitted"),
    ({"center": NAN, "width": 100}, ValueError, "center must be finite, got nan"),
    ({"center": INF, "width": 100}, ValueError, "center must be finite, got inf"),
    ({"center": -INF, "width": 100}, ValueError, "center must be finite, got -inf"),
    ({"center": 40, "width": NAN}, ValueError, "width must be finite, got nan"),
    ({"center": 40, "width": INF}, ValueError, "width must be finite, got inf"),
    ({"center": np.float32(NAN), "width": 100}, ValueError, "center must be finite"),
    ({"center": None, "width": 100}, TypeError, "center must be a number .HU. or a preset"),
    ({"center": [40], "width": 100}, TypeError, "center must be a number .* got list"),
    ({"center": True, "width": 100}, TypeError, "center must be a number .* got bool True"),
    ({"center": 1j, "width": 100}, TypeError, "center must be a number .* got complex"),
    ({"center": torch.tensor(40.0), "width": 100}, TypeError, "center must be a number .* Tensor"),
    ({"center": 40, "width": "400"}, TypeError, "width must be a real number, got str '400'"),
    ({"center": 40, "width": 2j}, TypeError, "width must be a real number, got complex"),
    ({"center": 40, "width": False}, TypeError, "width must be a real number, got bool"),
])
def test_window_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        data.window(torch.zeros(2), **kwargs)


@pytest.mark.parametrize("image, message", [
    ([1, 2], "image must be a numpy array or torch tensor, got list"),
    (3.0, "image must be a numpy array or torch tensor, got float"),
    (torch.zeros(2, dtype=torch.complex64), "image must hold real numbers, .*complex64"),
    (np.zeros(2, dtype=np.complex128), "image must hold real numbers, .*complex128"),
    (torch.zeros(2, dtype=torch.bool), "image must hold real numbers, .*torch.bool"),
    (np.zeros(2, dtype=bool), "image must hold real numbers, .*bool"),
    (np.array(["1", "2"]), "image must hold real numbers, .*<U1"),
    (np.array([1.0, None]), "image must hold real numbers, .*object"),
])
def test_window_rejects_what_is_not_a_real_image(image, message):
    with pytest.raises(TypeError, match=message):
        data.window(image, 0, 10)
