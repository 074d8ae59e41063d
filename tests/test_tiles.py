"""Tiling with background rejection, and stitching per-tile values back into a heat map."""

import itertools

import numpy as np
import pytest
import torch
from conftest import DEVICES

from mednotes.data import histology
from mednotes.data.stain import optical_density
from mednotes.data.tiles import stitch, tile, tile_starts, tissue_mask


@pytest.mark.parametrize("length, size, stride", [(10, 4, 4), (10, 4, 3), (8, 4, 2), (7, 7, 1),
                                                  (512, 64, 64), (500, 64, 48)])
def test_tiles_cover_every_pixel_and_stay_inside(length, size, stride):
    starts = tile_starts(length, size, stride)
    covered = np.zeros(length, int)
    for s in starts:
        covered[s:s + size] += 1
    assert covered.min() >= 1 and starts[-1] + size == length and starts[0] == 0
    assert all(b - a <= stride for a, b in itertools.pairwise(starts))
    assert starts == sorted(set(starts))


def test_every_pixel_of_the_slide_is_in_some_tile_when_nothing_is_rejected():
    image, _ = histology()
    kept = tile(image[:, :200, :230], 48, 40, min_tissue=0.0)
    covered = torch.zeros(200, 230, dtype=torch.int64)
    for (r, c), patch in zip(kept.coords.tolist(), kept.tiles):
        covered[r:r + 48, c:c + 48] += 1
        assert torch.equal(patch, image[:, r:r + 48, c:c + 48])
    assert covered.min() >= 1 and kept.image_size == (200, 230)


@pytest.mark.parametrize("device", DEVICES)
def test_a_known_tissue_region_keeps_exactly_the_right_tiles(device):
    # white glass with a pink-purple block of tissue over rows 16..47, columns 8..39
    image = torch.ones(3, 64, 64)
    image[:, 16:48, 8:40] = torch.tensor([0.7, 0.4, 0.7])[:, None, None]
    kept = tile(image.to(device), 16, min_tissue=0.5)
    assert set(map(tuple, kept.coords.tolist())) == {(16, 0), (16, 16), (16, 32),
                                                     (32, 0), (32, 16), (32, 32)}
    fractions = dict(zip(map(tuple, kept.coords.tolist()), kept.tissue.tolist()))
    assert fractions[16, 16] == 1.0 and fractions[16, 0] == 0.5 and fractions[32, 32] == 0.5
    assert kept.tiles.device.type == device
    # a stricter threshold drops the half-filled tiles
    assert set(map(tuple, tile(image, 16, min_tissue=0.75).coords.tolist())) == {(16, 16),
                                                                                 (32, 16)}
    # with saturation the same region is found
    strict = tile(image, 16, min_tissue=0.75, method="saturation")
    assert set(map(tuple, strict.coords.tolist())) == {(16, 16), (32, 16)}


def test_tissue_fraction_is_the_share_of_tissue_pixels_in_each_tile():
    image, _ = histology()
    image = image[:, :128, :128]
    kept = tile(image, 32, 16, min_tissue=0.0)
    mask = optical_density(image).norm(dim=0) > 0.15
    for (r, c), fraction in zip(kept.coords.tolist(), kept.tissue.tolist()):
        assert fraction == pytest.approx(mask[r:r + 32, c:c + 32].float().mean().item(), abs=1e-6)
    assert torch.equal(tissue_mask(image), mask)
    saturation = (image.amax(0) - image.amin(0)) / image.amax(0)
    assert torch.equal(tissue_mask(image, "saturation", 0.2), saturation > 0.2)


def test_a_given_mask_replaces_the_tissue_detector():
    image = torch.ones(3, 8, 8)
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[4:, 4:] = True
    assert tile(image, 4, mask=mask).coords.tolist() == [[4, 4]]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("stride", [16, 8, 12])
def test_stitch_inverts_tile_on_a_constant_map(device, stride):
    image = torch.full((3, 40, 56), 0.25, device=device)
    kept = tile(image, 16, stride, min_tissue=0.0)
    means = kept.tiles.mean((1, 2, 3))
    heat = stitch(means, kept.coords, 16, kept.image_size)
    torch.testing.assert_close(heat, torch.full((40, 56), 0.25, device=device))
    vectors = stitch(kept.tiles.mean((2, 3)), kept.coords, 16, kept.image_size)
    torch.testing.assert_close(vectors, image)


def test_stitch_averages_overlaps_and_leaves_uncovered_pixels_blank():
    coords = torch.tensor([[0, 0], [0, 2]])
    heat = stitch(torch.tensor([1.0, 3.0]), coords, 4, (6, 6))
    assert heat[0, 0] == 1.0 and heat[0, 2] == 2.0 and heat[0, 5] == 3.0   # overlap: the mean
    assert torch.isnan(heat[4:]).all() and not torch.isnan(heat[:4]).any()


def test_bad_input_is_refused_with_the_argument_named():
    image = torch.rand(3, 16, 16)
    with pytest.raises(ValueError, match=r"image must be one image \(C, H, W\)"):
        tile(image[None], 4)
    with pytest.raises(TypeError, match="image must be a torch.Tensor"):
        tile(image.numpy(), 4)
    with pytest.raises(ValueError, match="size 32 is larger than the image"):
        tile(image, 32)
    with pytest.raises(TypeError, match="size must be an int"):
        tile(image, 4.0)
    with pytest.raises(ValueError, match="stride must be a positive int"):
        tile(image, 4, 0)
    with pytest.raises(ValueError, match=r"min_tissue must be in \[0.0, 1.0\]"):
        tile(image, 4, min_tissue=1.5)
    with pytest.raises(ValueError, match="method must be one of 'density', 'saturation'"):
        tile(image, 4, method="otsu")
    with pytest.raises(ValueError, match="threshold must be >= 0.0"):
        tissue_mask(image, threshold=-0.1)
    with pytest.raises(TypeError, match="mask must be a bool torch.Tensor"):
        tile(image, 4, mask=torch.ones(16, 16))
    with pytest.raises(ValueError, match="mask must have the image's size"):
        tile(image, 4, mask=torch.ones(8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="image must be RGB"):
        tissue_mask(torch.rand(1, 8, 8))
    coords = torch.tensor([[0, 0], [4, 4]])
    with pytest.raises(ValueError, match="values has 3 entries but coords has 2 tiles"):
        stitch(torch.ones(3), coords, 4, (8, 8))
    with pytest.raises(TypeError, match="coords must be an integer tensor"):
        stitch(torch.ones(2), coords.float(), 4, (8, 8))
    with pytest.raises(ValueError, match="outside the image"):
        stitch(torch.ones(2), coords, 6, (8, 8))
    with pytest.raises(ValueError, match=r"values must be \(K,\) or \(K, C\)"):
        stitch(torch.ones(2, 1, 1), coords, 4, (8, 8))
    with pytest.raises(TypeError, match="image_size must be a pair"):
        stitch(torch.ones(2), coords, 4, 8)
