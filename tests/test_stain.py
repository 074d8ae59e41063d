"""Stain tools: colour deconvolution against scikit-image, gradients against gradcheck and an
independent formulation, Macenko against a stain matrix it must recover, stain augmentation,
and the stain options of histology_patches (whose defaults must not change a single bit)."""

import hashlib
import itertools

import numpy as np
import pytest
import torch
from conftest import DEVICES
from skimage.color import hed2rgb, rgb2hed

from mednotes.data import histology, histology_patches
from mednotes.data.stain import (
    HED_FROM_RGB,
    RGB_FROM_HED,
    MacenkoNormalizer,
    StainJitter,
    hed_to_rgb,
    macenko_normalize,
    macenko_stains,
    optical_density,
    rgb_to_hed,
    stain_jitter,
    unmix,
)


def _slide_crop(dtype=torch.float32):
    image, _ = histology()
    return image[:, 100:164, 200:264].to(dtype)


def _channels_last(t):
    return t.movedim(-3, -1).cpu().numpy()


def _tissue_colours(n=6, size=5, seed=0, dtype=torch.float64):
    """RGB made from positive stain amounts, so rgb_to_hed is away from its clamp at 0."""
    g = torch.Generator().manual_seed(seed)
    hed = 0.02 + 0.15 * torch.rand(n, 3, size, size, generator=g, dtype=dtype)
    return hed_to_rgb(hed)


# ------------------------------------------------------------------ forward vs scikit-image


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rgb_to_hed_matches_skimage(device, dtype):
    image = _slide_crop(dtype)
    g = torch.Generator().manual_seed(1)
    noise = torch.rand(2, 3, 8, 8, generator=g, dtype=dtype)   # any colour, negatives clamped
    noise[0, :, 0, 0] = 0.0                                      # black: the 1e-6 floor
    for batch in (image, noise):
        got = rgb_to_hed(batch.to(device))
        assert got.dtype == dtype and got.device.type == device
        want = rgb2hed(_channels_last(batch), channel_axis=-1)
        tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-10,
                                                                            "atol": 1e-12}
        np.testing.assert_allclose(_channels_last(got), want, **tol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hed_to_rgb_matches_skimage(device, dtype):
    g = torch.Generator().manual_seed(2)
    hed = torch.rand(2, 3, 6, 6, generator=g, dtype=dtype) * 0.3 - 0.02   # a few negatives
    got = hed_to_rgb(hed.to(device))
    want = hed2rgb(_channels_last(hed), channel_axis=-1)
    tol = ({"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32
           else {"rtol": 1e-10, "atol": 1e-12})
    np.testing.assert_allclose(_channels_last(got), want, **tol)
    np.testing.assert_allclose(HED_FROM_RGB @ RGB_FROM_HED, np.eye(3), atol=1e-12)


def test_round_trip_on_stained_colours():
    rgb = _tissue_colours()
    torch.testing.assert_close(hed_to_rgb(rgb_to_hed(rgb)), rgb, rtol=1e-10, atol=1e-12)


def test_optical_density_is_minus_log10_of_the_transmitted_fraction():
    values = torch.tensor([[255.0, 127.0, 0.0]], dtype=torch.float64)
    got = optical_density(values, background=255.0, offset=1.0)
    want = -np.log10((values.numpy() + 1) / 255)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    # the 1e-6 floor of scikit-image: a black pixel has density 6, not inf
    assert optical_density(torch.zeros(1)).item() == pytest.approx(6.0)


@pytest.mark.parametrize("device", DEVICES)
def test_unmix_solves_the_mixing_and_matches_numpy_least_squares(device):
    g = torch.Generator().manual_seed(3)
    stains = torch.tensor(RGB_FROM_HED[:2].T, dtype=torch.float64)        # (3, 2)
    amounts = torch.rand(2, 4, 5, generator=g, dtype=torch.float64)
    density = torch.einsum("cs,shw->chw", stains, amounts)
    torch.testing.assert_close(unmix(density.to(device), stains.to(device)).cpu(), amounts)
    noisy = density + 0.01 * torch.randn(density.shape, generator=g, dtype=torch.float64)
    want = np.linalg.lstsq(stains.numpy(), noisy.reshape(3, -1).numpy(), rcond=None)[0]
    np.testing.assert_allclose(unmix(noisy[None].to(device), stains.to(device))[0].cpu()
                               .reshape(2, -1).numpy(), want, rtol=1e-9, atol=1e-12)
    # three stains: colour deconvolution is exactly rgb_to_hed without the clamp, times 6
    rgb = _tissue_colours(1)[0]
    full = unmix(optical_density(rgb), torch.tensor(RGB_FROM_HED.T))
    torch.testing.assert_close(full / 6, rgb_to_hed(rgb))


# ------------------------------------------------------------------ backward


def test_gradcheck_in_float64():
    rgb = _tissue_colours(2, 3).requires_grad_(True)
    assert torch.autograd.gradcheck(rgb_to_hed, (rgb,))
    hed = (0.02 + 0.1 * torch.rand(2, 3, 3, 3, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(hed_to_rgb, (hed,))
    scale = torch.tensor([1.2, 0.8, 1.0], dtype=torch.float64, requires_grad=True)
    shift = torch.tensor([0.01, -0.005, 0.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(stain_jitter, (_tissue_colours(1, 3)[0].requires_grad_(True),
                                                   scale, shift))


def _independent_rgb_to_hed(rgb):
    # base-10 optical density over 6, and a linear solve instead of the stored inverse
    density = -torch.log10(rgb) / 6
    rows = density.movedim(-3, -1).reshape(-1, 3)
    m = torch.tensor(RGB_FROM_HED, dtype=rgb.dtype)
    return torch.linalg.solve(m.T, rows.T).T.reshape(rgb.movedim(-3, -1).shape).movedim(-1, -3)


def _independent_hed_to_rgb(hed):
    m = torch.tensor(RGB_FROM_HED, dtype=hed.dtype)
    return torch.pow(10.0, -6 * torch.einsum("nshw,sc->nchw", hed, m))


def test_gradients_match_an_independent_formulation():
    g = torch.Generator().manual_seed(4)
    rgb = _tissue_colours(3, 4, seed=5)
    weights = torch.randn(rgb.shape, generator=g, dtype=torch.float64)
    grads = []
    for fn in (rgb_to_hed, _independent_rgb_to_hed):
        x = rgb.clone().requires_grad_(True)
        (fn(x) * weights).sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)
    hed = 0.02 + 0.1 * torch.rand(3, 3, 4, 4, generator=g, dtype=torch.float64)
    grads = []
    for fn in (hed_to_rgb, _independent_hed_to_rgb):
        x = hed.clone().requires_grad_(True)
        (fn(x) * weights).sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_bfloat16_autocast_stays_close(device):
    image = _slide_crop().to(device)
    want = rgb_to_hed(image)
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
        got = rgb_to_hed(image)
        back = hed_to_rgb(want)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.float(), want, rtol=0.05, atol=5e-3)
    torch.testing.assert_close(back.float(), hed_to_rgb(want), rtol=0.05, atol=1e-2)


# ------------------------------------------------------------------ stain augmentation


@pytest.mark.parametrize("device", DEVICES)
def test_stain_jitter_scales_each_stain_by_its_factor(device):
    rgb = _tissue_colours(2, 4).to(device)
    scale = torch.tensor([[1.5, 0.7, 1.0], [0.6, 1.3, 1.1]], dtype=torch.float64, device=device)
    shift = torch.tensor([[0.01, 0.0, 0.0], [0.0, -0.01, 0.0]], dtype=torch.float64,
                         device=device)
    out = stain_jitter(rgb, scale, shift)
    want = rgb_to_hed(rgb) * scale[..., None, None] + shift[..., None, None]
    torch.testing.assert_close(rgb_to_hed(out), want)
    torch.testing.assert_close(stain_jitter(rgb, torch.ones(3, dtype=torch.float64,
                                                            device=device),
                                            torch.zeros(3, dtype=torch.float64, device=device)),
                               rgb)


@pytest.mark.parametrize("device", DEVICES)
def test_stain_jitter_transform_draws_in_range_and_repeats_under_a_generator(device):
    jitter = StainJitter(scale=(0.5, 2.0), shift=(0.0, 0.0))
    rgb = _tissue_colours(1, 6, dtype=torch.float32)[0]
    mask = torch.ones(6, 6, dtype=torch.int64)
    out, kept = jitter(rgb.to(device), mask.to(device), torch.Generator().manual_seed(9))
    again, _ = jitter(rgb, mask, torch.Generator().manual_seed(9))
    assert kept is not None and torch.equal(kept.cpu(), mask)
    torch.testing.assert_close(out.cpu(), again, rtol=1e-5, atol=1e-6)   # same draws anywhere
    ratio = (rgb_to_hed(again) / rgb_to_hed(rgb)).flatten(1)
    assert (ratio.std(1) < 1e-3).all()                   # one factor per stain per image
    assert ((ratio.mean(1) > 0.5 - 1e-4) & (ratio.mean(1) < 2.0 + 1e-4)).all()
    other, _ = jitter(rgb, None, torch.Generator().manual_seed(10))
    assert not torch.allclose(other, again)
    assert out.dtype == torch.float32


# ------------------------------------------------------------------ Macenko


def _synthesised(stains, n=40, seed=0):
    """An image made with known stain vectors: pure-stain pixels and mixtures."""
    g = torch.Generator().manual_seed(seed)
    amounts = 0.05 + torch.rand(2, n * n, generator=g, dtype=torch.float64)
    amounts[1, : n * n // 4] = 0          # pure first stain
    amounts[0, n * n // 4: n * n // 2] = 0  # pure second stain
    amounts[:, -n:] = 0                   # some background
    return (10 ** -(stains @ amounts)).reshape(3, n, n), amounts


@pytest.mark.parametrize("device", DEVICES)
def test_macenko_recovers_the_stain_matrix_it_was_made_with(device):
    # not Ruifrok's vectors, so nothing can come from a stored default
    stains = torch.tensor([[0.5, 0.1], [0.8, 0.8], [0.3, 0.6]], dtype=torch.float64)
    stains = stains / stains.norm(dim=0)
    image, amounts = _synthesised(stains)
    found, top = macenko_stains(image.to(device))
    assert found.device.type == device and found.shape == (3, 2) and top.shape == (2,)
    best = max(min(abs(torch.dot(found[:, i].cpu(), stains[:, j]).item())
                   for i, j in zip(range(2), perm)) for perm in itertools.permutations(range(2)))
    assert best > 0.999
    torch.testing.assert_close(found.cpu(), stains, atol=2e-3, rtol=0)   # H (more red) first
    want = torch.quantile(amounts, 0.99, dim=1)
    torch.testing.assert_close(top.cpu(), want, rtol=0.02, atol=0)


def test_macenko_finds_ruifrok_vectors_in_histology_patches():
    images = torch.stack([histology_patches(8, size=64)[i][0] for i in range(8)])
    found, _ = macenko_stains(images)
    ruifrok = torch.tensor(RGB_FROM_HED[:2].T, dtype=torch.float32)
    ruifrok = ruifrok / ruifrok.norm(dim=0)
    cosines = (found * ruifrok).sum(1)                  # (8, 2)
    assert found.shape == (8, 3, 2)
    assert cosines.mean() > 0.98 and cosines.min() > 0.9


@pytest.mark.parametrize("device", DEVICES)
def test_normalising_a_stain_scaled_copy_brings_it_back(device):
    stains = torch.tensor(RGB_FROM_HED[:2].T, dtype=torch.float64)
    stains = stains / stains.norm(dim=0)
    image, amounts = _synthesised(stains, seed=1)
    scaled = (10 ** -(stains @ (amounts * torch.tensor([[1.6], [0.6]], dtype=torch.float64))))
    scaled = scaled.reshape(image.shape)
    assert (scaled - image).abs().mean() > 0.05                 # a visible change
    target = macenko_stains(image)
    back = macenko_normalize(scaled.to(device), *(t.to(device) for t in target))
    assert (back.cpu() - image).abs().mean() < 0.005
    norm = MacenkoNormalizer().fit(image).to(device)
    torch.testing.assert_close(norm(scaled[None].to(device))[0], back)
    state = norm.state_dict()
    assert set(state) == {"stains", "max_amounts"}
    # a real patch too: a stain-scaled copy moves back towards the patch
    patch = histology_patches(1, size=64, noise=0.0)[0][0].double()
    darker = stain_jitter(patch, torch.tensor([1.6, 0.7, 1.0], dtype=torch.float64),
                          torch.zeros(3, dtype=torch.float64))
    restored = macenko_normalize(darker, *macenko_stains(patch))
    assert (restored - patch).abs().mean() < 0.3 * (darker - patch).abs().mean()


def test_an_empty_tile_passes_through_normalisation_unchanged():
    target = macenko_stains(histology_patches(1, size=64)[0][0])
    blank = torch.full((2, 3, 8, 8), 0.98)
    torch.testing.assert_close(macenko_normalize(blank, *target), blank)
    with pytest.raises(ValueError, match="only 0 pixels with optical density above beta"):
        macenko_stains(blank)


# ------------------------------------------------------------------ bad input


def test_bad_input_is_refused_with_the_argument_named():
    rgb = torch.rand(3, 4, 4)
    with pytest.raises(ValueError, match=r"image must be \(3, H, W\) or \(N, 3, H, W\)"):
        rgb_to_hed(torch.rand(4, 4, 4))
    with pytest.raises(TypeError, match="image has dtype torch.int64"):
        rgb_to_hed(torch.ones(3, 4, 4, dtype=torch.int64))
    with pytest.raises(TypeError, match="image must be a torch.Tensor"):
        rgb_to_hed(np.ones((3, 4, 4)))
    with pytest.raises(ValueError, match="hed must be"):
        hed_to_rgb(torch.rand(2, 4, 4))
    with pytest.raises(ValueError, match="image is empty"):
        rgb_to_hed(torch.rand(3, 0, 4))
    with pytest.raises(ValueError, match="background must be > 0"):
        optical_density(rgb, background=0.0)
    with pytest.raises(ValueError, match="offset must be finite"):
        optical_density(rgb, offset=float("nan"))
    with pytest.raises(ValueError, match=r"scale must have shape \(3,\)"):
        stain_jitter(rgb, torch.ones(2), torch.zeros(3))
    with pytest.raises(TypeError, match="shift must be a torch.Tensor"):
        stain_jitter(rgb, torch.ones(3), 0.0)
    with pytest.raises(ValueError, match=r"stains must be \(3, S\)"):
        unmix(rgb, torch.ones(2, 2))
    with pytest.raises(TypeError, match="scale must be a \\(low, high\\) pair"):
        StainJitter(scale=1.2)
    with pytest.raises(ValueError, match="scale\\[0\\] must be > 0.0"):
        StainJitter(scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="shift must be a \\(low, high\\) pair with low <= high"):
        StainJitter(shift=(0.1, -0.1))
    with pytest.raises(ValueError, match="alpha must be in \\[0.0, 50.0\\)"):
        macenko_stains(rgb, alpha=50)
    with pytest.raises(ValueError, match="beta must be >= 0.0"):
        macenko_stains(rgb, beta=-1)
    with pytest.raises(ValueError, match=r"stains must be \(3, 2\)"):
        macenko_normalize(rgb, torch.ones(3, 3), torch.ones(2))
    with pytest.raises(ValueError, match="max_amounts must hold 2 positive numbers"):
        macenko_normalize(rgb, torch.ones(3, 2), torch.tensor([1.0, 0.0]))
    with pytest.raises(RuntimeError, match=r"call .fit\(target\) first"):
        MacenkoNormalizer()(rgb)
    with pytest.raises(ValueError, match="target must be one image"):
        MacenkoNormalizer().fit(torch.rand(2, 3, 4, 4))


# ------------------------------------------------------------------ histology_patches' stains

#: sha256 of items generated before stain_scale/stain_shift existed (mednotes at 7730511).
BEFORE = {
    "default": "3b57c070cef75cb9e8c048d1007735233dc81c4526d4d007020487f06a28a665",
    "size32_seed3": "b7c0d713ed042746e12c3f70c228f47fcb0c320ff7aa8f3142530abbf70480bb",
    "no_variation_seed1": "46613ddcc3f3d86a750fb3ee7bcf1e7316f32e06ca38251992ed7a1c09c88f69",
    "mask_size48_seed2": "c03cb0f2975f7af4197e854ef33aea55cc8e713f06ac9d01dc8189f45164dc1f",
}
SETTINGS = {"default": {}, "size32_seed3": {"size": 32, "seed": 3},
            "no_variation_seed1": {"stain_variation": False, "seed": 1},
            "mask_size48_seed2": {"return_mask": True, "size": 48, "seed": 2}}


def _digest(dataset, n=6):
    h = hashlib.sha256()
    for i in range(n):
        for t in dataset[i]:
            h.update(t.numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("name", list(SETTINGS))
def test_default_stains_give_bit_identical_items_to_before(name):
    assert _digest(histology_patches(6, **SETTINGS[name])) == BEFORE[name]


def test_the_old_defaults_written_out_give_the_same_items():
    explicit = histology_patches(4, size=32, stain_scale=((0.7, 1.3), (0.7, 1.3)),
                                 stain_shift=(-0.004, 0.004))
    default = histology_patches(4, size=32)
    for i in range(4):
        assert torch.equal(explicit[i][0], default[i][0])


def test_a_shifted_stain_range_changes_the_stains_and_nothing_else():
    base = histology_patches(6, size=32, noise=0.0)
    darker = histology_patches(6, size=32, noise=0.0, stain_scale=((1.6, 2.2), (0.7, 1.3)))
    for i in range(6):
        h0, h1 = rgb_to_hed(base[i][0].double()), rgb_to_hed(darker[i][0].double())
        ratio = h1[0].max() / h0[0].max()
        assert 1.6 / 1.3 - 0.05 < ratio < 2.2 / 0.7 + 0.05   # more haematoxylin
        assert base[i][1] == darker[i][1]
    assert "haematoxylin 1.6-2.2, eosin 0.7-1.3" in darker.meta["generation"]
    with pytest.raises(TypeError, match="stain_scale must be a \\(low, high\\) pair"):
        histology_patches(2, stain_scale=1.5)
    with pytest.raises(ValueError, match="stain_scale\\[1\\]\\[0\\] must be > 0.0"):
        histology_patches(2, stain_scale=((0.5, 1.0), (0.0, 1.0)))
    with pytest.raises(ValueError, match="stain_shift must have low <= high"):
        histology_patches(2, stain_shift=(0.01, -0.01))
