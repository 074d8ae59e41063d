"""mednotes.data.fundus_enhance against scikit-image's equalize_adapthist called directly,
the green channel against plain indexing, the transform inside a dataset, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import DEVICES
from skimage.exposure import equalize_adapthist

from mednotes.data import fundus, retinal_vessels
from mednotes.data.fundus_enhance import FundusEnhance, clahe, green_channel


@pytest.fixture(scope="module")
def photo():
    """The real fundus photograph, shrunk to 128×128 RGB in [0, 1]."""
    image, _ = fundus()
    return torch.nn.functional.interpolate(image[None], size=(128, 128), mode="area")[0]


def test_green_channel_is_channel_one_with_its_dim_kept(photo):
    assert torch.equal(green_channel(photo), photo[1:2])
    batch = torch.stack([photo, photo.flip(-1)])
    assert torch.equal(green_channel(batch), batch[:, 1:2])
    # in the photograph the vessels are darkest, relative to their surroundings, in green
    assert green_channel(photo).shape == (1, 128, 128)


@pytest.mark.parametrize("clip_limit, kernel_size", [(0.01, None), (0.03, 16), (0.005, (8, 32)),
                                                     (1.0, None)])
def test_clahe_matches_skimage_plane_by_plane(photo, clip_limit, kernel_size):
    got = clahe(photo, clip_limit=clip_limit, kernel_size=kernel_size)
    for c in range(3):
        want = equalize_adapthist(photo[c].double().numpy(), kernel_size=kernel_size,
                                  clip_limit=clip_limit)
        np.testing.assert_allclose(got[c].numpy(), want, atol=1e-6)
    assert got.dtype == photo.dtype and got.shape == photo.shape


@pytest.mark.parametrize("device", DEVICES)
def test_clahe_keeps_batch_shape_dtype_and_device(photo, device):
    batch = torch.stack([photo, 0.5 * photo]).double().to(device)
    got = clahe(batch, nbins=128)
    assert got.shape == batch.shape and got.dtype == torch.float64
    assert got.device.type == torch.device(device).type
    for n in range(2):
        want = equalize_adapthist(batch[n, 1].cpu().numpy(), nbins=128)
        np.testing.assert_allclose(got[n, 1].cpu().numpy(), want, atol=1e-12)


def test_a_larger_clip_limit_gives_more_local_contrast(photo):
    g = green_channel(photo)
    inside = photo[0] > 0.08
    spread = [clahe(g, clip_limit=c)[0][inside].std().item() for c in (0.002, 0.01, 0.05)]
    assert spread[0] < spread[1] < spread[2]


def test_transform_in_a_dataset_gives_the_enhanced_green_channel():
    plain = retinal_vessels(3, size=64, seed=5)
    enhanced = retinal_vessels(3, size=64, seed=5, transform=FundusEnhance(clip_limit=0.02))
    for i in range(3):
        image, mask = plain[i]
        out, out_mask = enhanced[i]
        assert torch.equal(out_mask, mask)
        want = clahe(image[1:2], clip_limit=0.02)
        outside = (image == 0).all(0, keepdim=True)
        torch.testing.assert_close(out, want.masked_fill(outside, 0.0))
        assert (out[outside] == 0).all() and outside.any()
    t = FundusEnhance()
    image, _ = plain[0]
    out, none = t(image)
    assert none is None and out.shape == (1, 64, 64)
    assert "clip_limit=0.01" in repr(t)


def test_bad_input_is_refused_with_the_argument_named(photo):
    with pytest.raises(TypeError, match="image must be a torch.Tensor"):
        green_channel(photo.numpy())
    with pytest.raises(ValueError, match="image must be RGB"):
        green_channel(photo[:2])
    with pytest.raises(TypeError, match="image has dtype torch.uint8"):
        clahe((photo * 255).to(torch.uint8))
    with pytest.raises(ValueError, match=r"image values must lie in \[0, 1\]"):
        clahe(photo * 2)
    with pytest.raises(ValueError, match="NaN or inf"):
        clahe(torch.full((1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match=r"image must be \(C, H, W\)"):
        clahe(photo[0])
    with pytest.raises(ValueError, match="image is empty"):
        clahe(torch.zeros(0, 8, 8))
    with pytest.raises(ValueError, match="clip_limit must be in"):
        clahe(photo, clip_limit=0.0)
    with pytest.raises(ValueError, match="clip_limit must be finite"):
        clahe(photo, clip_limit=float("nan"))
    with pytest.raises(TypeError, match="clip_limit must be a real number"):
        FundusEnhance(clip_limit="0.01")
    with pytest.raises(TypeError, match="kernel_size must be None, an int"):
        clahe(photo, kernel_size=8.0)
    with pytest.raises(ValueError, match="kernel_size must be an int >= 2"):
        clahe(photo, kernel_size=1)
    with pytest.raises(ValueError, match="nbins must be an int >= 2"):
        clahe(photo, nbins=1)
    with pytest.raises(ValueError, match=r"one RGB image \(3, H, W\)"):
        FundusEnhance()(photo[None])
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        FundusEnhance()(photo, None, 0)
