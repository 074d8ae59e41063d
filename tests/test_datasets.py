"""The book's datasets: deterministic, labels that match the pixels, clear errors.

Every check is exact or has a margin far beyond what the fixed seeds could produce by
chance: a lesion mask pixel *is* a changed pixel, a vessel pixel *is* darker, and so on.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from scipy import ndimage
from torch.utils.data import DataLoader

from mednotes import data
from mednotes.data import augment as aug  # the default augmentation (a function)
from mednotes.data.augmentation import (
    Compose,
    IntensityJitter,
    RandomFlip,
    RandomRot90,
    item_generator,
)
from mednotes.data.medmnist_files import DATASETS
from mednotes.viz import overlay, show_samples

# Small and fast versions of every dataset; the factories make fresh, independent objects.
FACTORIES = {
    "brain2d": lambda seed=0, **kw: data.brain_lesions(6, size=48, seed=seed, **kw),
    "brain3d": lambda seed=0, **kw: data.brain_lesions(3, size=24, dim=3, seed=seed, **kw),
    "vessels": lambda seed=0, **kw: data.retinal_vessels(6, size=48, seed=seed, **kw),
    "histology": lambda seed=0, **kw: data.histology_patches(6, size=32, seed=seed, **kw),
}


def same(a, b) -> bool:
    """Items equal bit for bit (tuples of tensors)."""
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", FACTORIES)
def test_same_seed_same_items_different_seed_different_items(name):
    make = FACTORIES[name]
    first, again, other = make(), make(), make(seed=1)
    for i in range(len(first)):
        assert same(first[i], again[i])
    assert not all(torch.equal(first[i][0], other[i][0]) for i in range(len(first)))
    assert not torch.equal(first[0][0], first[1][0])  # items differ from each other too


@pytest.mark.parametrize("name", FACTORIES)
def test_an_item_does_not_depend_on_what_was_read_before(name):
    make = FACTORIES[name]
    cold = make()[3 % len(make())]
    warm = make()
    for i in reversed(range(len(warm))):
        warm[i]
    assert same(cold, warm[3 % len(warm)])
    assert same(warm[-1], warm[len(warm) - 1])


@pytest.mark.parametrize("name", ["brain2d", "vessels", "histology"])
def test_dataloader_workers_give_the_same_items_as_indexing(name):
    dataset = FACTORIES[name](transform=aug)
    direct = [dataset[i] for i in range(len(dataset))]
    loader = DataLoader(dataset, batch_size=2, num_workers=2, shuffle=False)
    batches = list(loader)
    for b, batch in enumerate(batches):
        for k, part in enumerate(batch):
            expected = torch.stack([direct[2 * b + j][k] for j in range(len(part))])
            assert torch.equal(part, expected)


def test_the_transform_is_seeded_per_item_and_epoch():
    plain = FACTORIES["brain2d"]()
    moved = FACTORIES["brain2d"](transform=aug)
    image, mask = plain.render(2)
    expected = aug(image, mask, item_generator(0, 2, 0))
    assert same(moved[2], expected)
    moved.set_epoch(1)
    assert same(moved[2], aug(image, mask, item_generator(0, 2, 1)))
    assert any(not same(moved[i], FACTORIES["brain2d"](transform=aug)[i]) for i in range(6))
    with pytest.raises(ValueError, match="epoch"):
        moved.set_epoch(-1)


# --------------------------------------------------------------------------- brain lesions


@pytest.fixture(scope="module")
def brains():
    return data.brain_lesions(40, size=64, seed=7)


def test_brain_items_have_the_documented_shapes_and_metadata(brains):
    image, mask = brains[0]
    assert image.dtype == torch.float32 and image.shape == (1, 64, 64)
    assert mask.dtype == torch.int64 and mask.shape == (64, 64)
    assert brains.classes == ("background", "lesion")
    assert {"source", "licence", "generation"} <= set(brains.meta)
    volume, cube = data.brain_lesions(1, dim=3, size=24)[0]
    assert volume.shape == (1, 24, 24, 24) and cube.shape == (24, 24, 24)
    assert data.brain_lesions(1, dim=3).size == 64 and data.brain_lesions(1).size == 128


def test_every_lesion_pixel_is_changed_and_nothing_far_from_a_lesion_is(brains):
    lesion_items = 0
    for i in range(len(brains)):
        with_lesions, mask = brains.render(i, noise=False)
        change = (with_lesions - brains.clean(i))[0].abs().numpy()
        lesion = (mask == 1).numpy()
        if not lesion.any():
            assert change.max() == 0
            continue
        lesion_items += 1
        assert change[lesion].min() >= 0.099  # half of the weakest contrast, 0.2, at least
        # The soft edge reaches at most 1.75 pixels beyond the mask.
        far = ndimage.distance_transform_edt(~lesion) > 2
        assert change[far].max() == 0
    assert lesion_items >= 20


def test_noise_is_separate_and_the_same_with_or_without_lesions(brains):
    for i in range(5):
        noise_with = brains.render(i)[0] - brains.render(i, noise=False)[0]
        noise_without = brains.render(i, lesions=False)[0] - brains.clean(i)
        torch.testing.assert_close(noise_with, noise_without, atol=1e-6, rtol=0)
        assert 0.015 < float(noise_with.std()) < 0.025  # sigma 0.02
    assert same(brains[3], brains.render(3))


def test_some_images_have_no_lesion_and_some_have_several(brains):
    counts = [ndimage.label((brains[i][1] == 1).numpy())[1] for i in range(len(brains))]
    assert 0 in counts and max(counts) >= 2


@pytest.mark.parametrize("prevalence", [0.002, 0.02])
def test_lesion_prevalence_is_what_was_asked(prevalence):
    # Per-item lesion loads vary (log-normal, 20% empty); over 400 items the mean is within
    # a few percent of the target, the tolerance allows 15%.
    ds = data.brain_lesions(400, size=64, prevalence=prevalence, seed=11)
    fractions = np.array([(ds[i][1] == 1).double().mean().item() for i in range(len(ds))])
    assert fractions.mean() == pytest.approx(prevalence, rel=0.15)
    assert 0.1 < (fractions == 0).mean() < 0.3  # empty_fraction 0.2


def test_tissue_classes_come_from_the_template_and_lesions_override_them():
    plain = data.brain_lesions(4, size=48, seed=3)
    tissue = data.brain_lesions(4, size=48, seed=3, tissue_classes=True)
    assert tissue.classes == ("background", "lesion", "grey matter", "white matter", "csf")
    for i in range(4):
        (image_a, lesions), (image_b, labels) = plain[i], tissue[i]
        assert torch.equal(image_a, image_b)
        assert torch.equal(labels == 1, lesions == 1)
        assert set(labels.unique().tolist()) <= {0, 1, 2, 3, 4}
        assert {2, 3}.issubset(labels.unique().tolist())


def test_volumes_have_lesions_inside_the_brain():
    ds = data.brain_lesions(3, size=32, dim=3, seed=2, empty_fraction=0.0)
    brain = ds._anatomy.brain
    for i in range(3):
        mask = ds[i][1].numpy()
        assert (mask == 1).any() and not ((mask == 1) & ~brain).any()


# --------------------------------------------------------------------------- vessels


@pytest.fixture(scope="module")
def fundi():
    return data.retinal_vessels(8, size=64, seed=5)


def test_vessel_pixels_are_darker_in_green_than_the_background(fundi):
    for i in range(len(fundi)):
        drawn, mask = fundi.render(i, noise=False)
        vessel = mask == 1
        assert 0.005 < float(vessel.double().mean()) < 0.25
        background = fundi.clean(i)
        # Exact: every mask pixel lost at least 5% of its green (the weakest case is 11%).
        assert bool((drawn[1][vessel] < 0.95 * background[1][vessel]).all())
        # On the noisy image: darker than the local background (median of the non-vessel
        # pixels around), by far more than the noise.
        image = fundi[i][0][1].numpy()
        local = ndimage.generic_filter(np.where(vessel.numpy(), np.nan, image), np.nanmedian,
                                       size=9, mode="nearest")
        dark = (local - image)[vessel.numpy()]
        assert np.nanmean(dark) > 0.03 and np.nanmean(dark > 0) > 0.9


def test_vessel_images_are_rgb_in_unit_range_with_a_binary_mask(fundi):
    image, mask = fundi[0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    assert set(mask.unique().tolist()) <= {0, 1} and fundi.classes == ("background", "vessel")
    assert "closing" in fundi.meta["source"]


# --------------------------------------------------------------------------- histology


def test_histology_classes_differ_in_nuclear_density_and_size():
    ds = data.histology_patches(60, size=64, seed=4, return_mask=True)
    density, area = {c: [] for c in range(3)}, {c: [] for c in range(3)}
    for i in range(len(ds)):
        image, label, mask = ds[i]
        labelled, count = ndimage.label(mask.numpy())
        density[int(label)].append(float(mask.double().mean()))
        area[int(label)] += list(np.bincount(labelled.ravel())[1:])
        # The mask marks haematoxylin: nuclei are much less red than the rest.
        if count:
            assert float(image[0][mask == 1].mean()) < float(image[0][mask == 0].mean()) - 0.1
    normal, dense, atypical = (ds.classes.index(c) for c in ("normal", "hyperplastic", "atypical"))
    assert np.mean(density[dense]) > 2 * np.mean(density[normal])
    assert np.mean(area[atypical]) > 2 * np.mean(area[normal])
    assert [len(density[c]) for c in range(3)] == [20, 20, 20]  # balanced


def test_histology_items_are_image_and_label_and_stains_vary():
    ds = data.histology_patches(3, size=32)
    image, label = ds[1]
    assert image.shape == (3, 32, 32) and label.dtype == torch.int64 and label.ndim == 0
    fixed = data.histology_patches(3, size=32, stain_variation=False, return_mask=True)
    varied = data.histology_patches(3, size=32, return_mask=True)
    assert torch.equal(fixed[0][2], varied[0][2])  # same nuclei ...
    assert not torch.equal(fixed[0][0], varied[0][0])  # ... other staining


# --------------------------------------------------------------------------- MedMNIST


def write_npz(root, name, images, labels, drop=()):
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    for key in drop:
        del arrays[key]
    np.savez(root / name, **arrays)
    return images, labels


@pytest.mark.parametrize("name, size, shape, image_shape, labels, label_shape", [
    ("pneumoniamnist", 28, (5, 28, 28), (1, 28, 28), [[0], [1], [1], [0], [1]], ()),
    ("pathmnist", 64, (5, 64, 64, 3), (3, 64, 64), [[8], [0], [3], [1], [2]], ()),
    ("organmnist3d", 28, (5, 28, 28, 28), (1, 28, 28, 28), [[10], [0], [1], [2], [3]], ()),
    ("chestmnist", 28, (5, 28, 28), (1, 28, 28), np.eye(14, dtype=np.uint8)[:5], (14,)),
])
def test_medmnist_reads_the_published_layout(tmp_path, name, size, shape, image_shape, labels,
                                             label_shape):
    raw = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    file = f"{name}.npz" if size == 28 else f"{name}_{size}.npz"
    write_npz(tmp_path, file, raw, np.asarray(labels))
    ds = data.medmnist(name, tmp_path, split="val", size=size)
    assert len(ds) == 5 and ds.classes == DATASETS[name].labels
    image, label = ds[2]
    assert image.dtype == torch.float32 and image.shape == image_shape
    pixels = raw[2].astype(np.float32) / 255
    expected = np.moveaxis(pixels, -1, 0) if len(image_shape) == 3 and image_shape[0] == 3 \
        else pixels[None]
    np.testing.assert_array_equal(image.numpy(), expected)
    assert label.dtype == torch.int64 and label.shape == label_shape
    np.testing.assert_array_equal(label.numpy(), np.asarray(labels)[2].squeeze())
    assert "CC BY 4.0" in ds.meta["licence"]
    fig = show_samples(ds, n=2)  # classification: one row, the class in the title
    assert len(fig.axes) == 2 and fig.axes[0].get_title().startswith("#0")
    plt.close(fig)


def test_medmnist_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="valid names: pathmnist, chestmnist"):
        data.medmnist("mnist", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"bloodmnist\.npz.*download"):
        data.medmnist("bloodmnist", tmp_path)
    with pytest.raises(ValueError, match="split must be one of train, val, test"):
        data.medmnist("bloodmnist", tmp_path, split="validation")
    with pytest.raises(ValueError, match="size must be one of"):
        data.medmnist("organmnist3d", tmp_path, size=128)
    images = np.zeros((2, 28, 28, 3), np.uint8)
    write_npz(tmp_path, "bloodmnist.npz", images, np.array([[0], [7]]), drop=["test_labels"])
    assert len(data.medmnist("bloodmnist", tmp_path)) == 2
    with pytest.raises(ValueError, match="'test_labels'"):
        data.medmnist("bloodmnist", tmp_path, split="test")
    write_npz(tmp_path, "dermamnist.npz", images.astype(np.float32), np.array([[0], [1]]))
    with pytest.raises(ValueError, match="uint8"):
        data.medmnist("dermamnist", tmp_path)
    write_npz(tmp_path, "octmnist.npz", images[..., 0], np.array([[0], [9]]))
    with pytest.raises(ValueError, match=r"label values must lie in \[0, 3\]"):
        data.medmnist("octmnist", tmp_path)
    write_npz(tmp_path, "breastmnist.npz", images[..., 0], np.array([[0]]))
    with pytest.raises(ValueError, match="labels must be"):
        data.medmnist("breastmnist", tmp_path)


def test_medmnist_transform_moves_the_image_only(tmp_path):
    write_npz(tmp_path, "pneumoniamnist.npz",
              np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28), np.array([[0], [1]]))
    plain = data.medmnist("pneumoniamnist", tmp_path)
    flipped = data.medmnist("pneumoniamnist", tmp_path, transform=RandomFlip((-1,), p=1.0))
    assert torch.equal(flipped[1][0], plain[1][0].flip(-1)) and flipped[1][1] == 1


# --------------------------------------------------------------------------- augmentation


def smooth_sample(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand((1, *shape), generator=g)
    image = torch.from_numpy(ndimage.gaussian_filter(image.numpy(), (0,) + (1.5,) * len(shape)))
    return image, (image[0] > float(image.median())).long()


@pytest.mark.parametrize("shape", [(16, 16), (12, 16), (8, 10, 10)])
@pytest.mark.parametrize("transform", [RandomFlip(), RandomRot90(), RandomRot90(dims=(0, 1)),
                                       Compose([RandomFlip(), RandomRot90()])])
def test_spatial_transforms_keep_image_and_mask_aligned(shape, transform):
    image, mask = smooth_sample(shape)
    threshold = float(image.median())
    outcomes = set()
    for seed in range(12):
        out, out_mask = transform(image, mask, torch.Generator().manual_seed(seed))
        assert torch.equal(out_mask, (out[0] > threshold).long())  # still aligned
        assert sorted(out.flatten().tolist()) == sorted(image.flatten().tolist())  # moved only
        again = transform(image, mask, torch.Generator().manual_seed(seed))
        assert torch.equal(out, again[0]) and torch.equal(out_mask, again[1])
        outcomes.add(tuple(out.flatten().tolist()))
        if out.shape != image.shape:  # a 90° turn of a square plane
            assert sorted(out.shape) == sorted(image.shape)
    assert len(outcomes) > 1  # it is random


def test_non_square_planes_turn_by_0_or_180_degrees_only():
    image, mask = smooth_sample((6, 10))
    for seed in range(8):
        out, out_mask = RandomRot90()(image, mask, torch.Generator().manual_seed(seed))
        assert out.shape == image.shape and out_mask.shape == mask.shape


def test_intensity_jitter_keeps_the_order_and_leaves_the_mask_alone():
    image, mask = smooth_sample((8, 8, 8))
    order = image.flatten().argsort()
    for seed in range(5):
        out, out_mask = IntensityJitter()(image, mask, torch.Generator().manual_seed(seed))
        assert out_mask is mask
        assert bool((out.flatten()[order].diff() >= 0).all())
        assert not torch.equal(out, image)


def test_augment_works_on_volumes_and_checks_its_inputs():
    image, mask = smooth_sample((6, 8, 8))
    out, out_mask = aug(image, mask, torch.Generator().manual_seed(3))
    assert out.shape == image.shape and int(out_mask.sum()) == int(mask.sum())
    with pytest.raises(ValueError, match="mask shape"):
        aug(image, mask[0])
    with pytest.raises(ValueError, match="image must be"):
        aug(image[0, 0])
    with pytest.raises(TypeError, match="image must be a torch.Tensor"):
        aug(image.numpy())
    with pytest.raises(ValueError, match="p must be"):
        RandomFlip(p=2)


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("call, error, word", [
    (lambda: data.brain_lesions(0), ValueError, "n must be"),
    (lambda: data.brain_lesions(2.5), TypeError, "n must be an int"),
    (lambda: data.brain_lesions(2, size=8), ValueError, "size must be"),
    (lambda: data.brain_lesions(2, dim=4), ValueError, "dim must be 2"),
    (lambda: data.brain_lesions(2, prevalence=0), ValueError, "prevalence must be"),
    (lambda: data.brain_lesions(2, prevalence=0.5), ValueError, "prevalence must be"),
    (lambda: data.brain_lesions(2, empty_fraction=1.0), ValueError, "empty_fraction"),
    (lambda: data.brain_lesions(2, seed=-1), ValueError, "seed must be"),
    (lambda: data.brain_lesions(2, transform=3), TypeError, "transform must be callable"),
    (lambda: data.retinal_vessels(2, size=16), ValueError, "size must be"),
    (lambda: data.retinal_vessels(-1), ValueError, "n must be"),
    (lambda: data.histology_patches(2, size=1000), ValueError, "size must be"),
    (lambda: data.histology_patches(2, noise=-0.1), ValueError, "noise must be"),
    (lambda: data.brain_lesions(2, size=32)[2], IndexError, "out of range"),
    (lambda: data.brain_lesions(2, size=32)["a"], TypeError, "index must be an int"),
])
def test_bad_arguments_fail_with_a_message_naming_them(call, error, word):
    with pytest.raises(error, match=word):
        call()


# --------------------------------------------------------------------------- figures


@pytest.mark.parametrize("make, n, axes", [
    (lambda: data.brain_lesions(3, size=32, tissue_classes=True), 3, 6),
    (lambda: data.brain_lesions(2, size=24, dim=3), 2, 4),
    (lambda: data.retinal_vessels(2, size=32), 2, 4),
    (lambda: data.histology_patches(3, size=32), 3, 3),
    (lambda: data.histology_patches(3, size=32, return_mask=True), 2, 4),
])
def test_show_samples_draws_images_and_overlays_with_a_legend(make, n, axes):
    dataset = make()
    fig = show_samples(dataset, n=n)
    try:
        assert len(fig.axes) == axes
        legend = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
        if axes == 2 * n:
            names = getattr(dataset, "mask_classes", dataset.classes) \
                if getattr(dataset, "return_mask", False) else dataset.classes
            assert set(legend) <= set(names[1:]) and legend
        else:
            assert any(c in fig.axes[0].get_title() for c in dataset.classes)
    finally:
        plt.close(fig)


def test_overlay_checks_the_mask():
    fig, ax = plt.subplots()
    try:
        with pytest.raises(ValueError, match="mask shape"):
            overlay(ax, torch.rand(8, 8), torch.zeros(4, 4, dtype=torch.long))
        with pytest.raises(ValueError, match="mask values"):
            overlay(ax, torch.rand(8, 8), torch.full((8, 8), 3), ("background", "lesion"))
    finally:
        plt.close(fig)
