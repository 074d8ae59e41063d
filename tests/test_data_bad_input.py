"""mednotes.data fed bad input: every mistake is refused with a message that names the argument.

The review behind these tests fed the public API of mednotes.data hundreds of wrong values
(strings for flags, NaN for ranges, 64-pixel files under the 28-pixel name, renamed or broken
files) and found some taken silently. Each case below asserts the exception type and a
fragment of the message that names what was wrong; the last part checks that the
augmentations keep the device and dtype of what they are given, on CPU and CUDA.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from conftest import DEVICES
from mednotes import data
from mednotes.data.augmentation import (
    Compose,
    IntensityJitter,
    RandomFlip,
    RandomRot90,
    item_generator,
)
from mednotes.data.synthetic import item_rng

NAN, INF = float("nan"), float("inf")


def raises(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------- augmentations


@pytest.mark.parametrize("make, error, message", [
    # RandomFlip(p=...): a probability, a real number in [0, 1]
    (lambda: RandomFlip(p="0.5"), TypeError, "p must be a real number, got str '0.5'"),
    (lambda: RandomFlip(p=None), TypeError, "p must be a real number, got NoneType"),
    (lambda: RandomFlip(p=True), TypeError, "p must be a real number, got bool True"),
    (lambda: RandomFlip(p=0.5j), TypeError, "p must be a real number, got complex"),
    (lambda: RandomFlip(p=torch.tensor(0.5)), TypeError, "p must be a real number, got Tensor"),
    (lambda: RandomFlip(p=NAN), ValueError, "p must be finite, got nan"),
    (lambda: RandomFlip(p=INF), ValueError, "p must be finite, got inf"),
    (lambda: RandomFlip(p=-0.1), ValueError, r"p must be in \[0.0, 1.0\], got -0.1"),
    (lambda: RandomFlip(p=1.5), ValueError, r"p must be in \[0.0, 1.0\], got 1.5"),
    # RandomFlip(dims=...): distinct spatial axes
    (lambda: RandomFlip(dims=-1), TypeError, "dims must be a tuple of spatial axes"),
    (lambda: RandomFlip(dims="01"), TypeError, "dims must be a tuple of spatial axes"),
    (lambda: RandomFlip(dims=(0.0,)), TypeError, "dims must hold ints"),
    (lambda: RandomFlip(dims=(True,)), TypeError, "dims must hold ints"),
    (lambda: RandomFlip(dims=()), ValueError, "dims must name at least one spatial axis"),
    (lambda: RandomFlip(dims=(0, 0)), ValueError, r"dims must not repeat an axis, got \(0, 0\)"),
    (lambda: RandomFlip(dims=(3,)), ValueError, r"dims \(3,\) names an axis outside -3..2"),
    (lambda: RandomFlip(dims=(-4,)), ValueError, r"dims \(-4,\) names an axis outside"),
    # RandomRot90(dims=...): a plane, two different axes
    (lambda: RandomRot90(dims=(0,)), ValueError, "dims must name 2 different spatial axes"),
    (lambda: RandomRot90(dims=(0, 1, 2)), ValueError, "dims must name 2 different spatial axes"),
    (lambda: RandomRot90(dims=(1, 1)), ValueError, "dims must not repeat an axis"),
    (lambda: RandomRot90(dims=(0, 5)), ValueError, "dims .* names an axis outside"),
    (lambda: RandomRot90(dims=None), TypeError, "dims must be a tuple of spatial axes"),
    (lambda: RandomRot90(dims=(0, "1")), TypeError, "dims must hold ints"),
    # IntensityJitter ranges: finite (low, high) pairs, low <= high, scale and gamma > 0
    (lambda: IntensityJitter(gamma=(NAN, 1)), ValueError, r"gamma\[0\] must be finite, got nan"),
    (lambda: IntensityJitter(gamma=(0.8, INF)), ValueError, r"gamma\[1\] must be finite, got inf"),
    (lambda: IntensityJitter(gamma=(1.25, 0.8)), ValueError, "gamma must be .* low <= high"),
    (lambda: IntensityJitter(gamma=(0, 1)), ValueError, r"gamma\[0\] must be > 0.0, got 0.0"),
    (lambda: IntensityJitter(gamma=(-1, 1)), ValueError, r"gamma\[0\] must be > 0.0"),
    (lambda: IntensityJitter(gamma=1.0), TypeError, "gamma must be a .low, high. pair"),
    (lambda: IntensityJitter(gamma=(1.0,)), TypeError, "gamma must be a .low, high. pair"),
    (lambda: IntensityJitter(scale=(NAN, NAN)), ValueError, r"scale\[0\] must be finite"),
    (lambda: IntensityJitter(scale=(-INF, 1)), ValueError, r"scale\[0\] must be finite"),
    (lambda: IntensityJitter(scale=(1.1, 0.9)), ValueError, "scale must be .* low <= high"),
    (lambda: IntensityJitter(scale=(0, 1)), ValueError, r"scale\[0\] must be > 0.0"),
    (lambda: IntensityJitter(scale="0.9"), TypeError, "scale must be a .low, high. pair"),
    (lambda: IntensityJitter(scale=("0.9", 1.1)), TypeError, r"scale\[0\] must be a real"),
    (lambda: IntensityJitter(shift=(NAN, 0)), ValueError, r"shift\[0\] must be finite"),
    (lambda: IntensityJitter(shift=(0, INF)), ValueError, r"shift\[1\] must be finite"),
    (lambda: IntensityJitter(shift=(0.1, -0.1)), ValueError, "shift must be .* low <= high"),
    (lambda: IntensityJitter(shift=(0, 1j)), TypeError, r"shift\[1\] must be a real number"),
    (lambda: IntensityJitter(shift=None), TypeError, "shift must be a .low, high. pair"),
    # Compose
    (lambda: Compose(RandomFlip()), TypeError, "transforms must be a list of transforms"),
    (lambda: Compose("flip"), TypeError, "transforms must be a list of transforms, got str"),
    (lambda: Compose([RandomFlip(), 3]), TypeError, r"transforms\[1\] is int 3"),
])
def test_augmentation_constructors_refuse_bad_arguments(make, error, message):
    raises(make, error, message)


def test_a_shift_may_be_negative_and_a_range_may_be_a_single_value():
    jitter = IntensityJitter(scale=(2, 2), shift=(-1, -1), gamma=(1, 1))
    image = torch.rand(1, 4, 4)
    out, _ = jitter(image, None, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, image * 2 - 1)


TRANSFORMS = {
    "flip": RandomFlip(),
    "rot90": RandomRot90(),
    "jitter": IntensityJitter(),
    "compose": Compose([RandomFlip(), RandomRot90()]),
    "empty compose": Compose([]),
    "augment": data.augment,
}
IMAGE = torch.rand(1, 6, 6)
MASK = torch.zeros(6, 6, dtype=torch.long)


@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("args, error, message", [
    ((IMAGE.numpy(),), TypeError, "image must be a torch.Tensor, got ndarray"),
    (([[1.0]],), TypeError, "image must be a torch.Tensor, got list"),
    ((torch.rand(6, 6),), ValueError, r"image must be \(C, H, W\) or \(C, D, H, W\), got 2 dims"),
    ((torch.rand(6),), ValueError, "image must be .* got 1 dims"),
    ((torch.rand(1, 1, 2, 6, 6),), ValueError, "image must be .* got 5 dims"),
    ((torch.zeros(1, 0, 6),), ValueError, r"image is empty: shape \(1, 0, 6\)"),
    ((torch.zeros(1, 6, 6, dtype=torch.long),), TypeError, "image has dtype torch.int64"),
    ((torch.zeros(1, 6, 6, dtype=torch.uint8),), TypeError, "image has dtype torch.uint8"),
    ((torch.zeros(1, 6, 6, dtype=torch.bool),), TypeError, "image has dtype torch.bool"),
    ((torch.zeros(1, 6, 6, dtype=torch.complex64),), TypeError, "image has complex dtype"),
    ((IMAGE, MASK.numpy()), TypeError, "mask must be a torch.Tensor or None, got ndarray"),
    ((IMAGE, "mask"), TypeError, "mask must be a torch.Tensor or None, got str"),
    ((IMAGE, MASK[0]), ValueError, r"mask shape \(6,\) must equal the image's spatial shape"),
    ((IMAGE, MASK[None]), ValueError, r"mask shape \(1, 6, 6\) must equal"),
    ((IMAGE, MASK.T[:5]), ValueError, r"mask shape \(5, 6\) must equal"),
    ((IMAGE, MASK.to(torch.complex64)), TypeError, "mask must be a label map, got complex"),
    ((IMAGE, None, 0), TypeError, "generator must be a torch.Generator or None, got int 0"),
    ((IMAGE, None, np.random.default_rng(0)), TypeError, "generator must be a torch.Generator"),
    ((IMAGE, MASK, "seed"), TypeError, "generator must be a torch.Generator or None, got str"),
])
def test_every_transform_checks_image_mask_and_generator(name, args, error, message):
    raises(lambda: TRANSFORMS[name](*args), error, message)


@pytest.mark.parametrize("name", ["jitter", "augment"])
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_intensity_jitter_refuses_an_image_with_nan_or_inf(name, bad):
    # One inf would make the range infinite and every pixel NaN: refused instead.
    image = IMAGE.clone()
    image[0, 2, 3] = bad
    raises(lambda: TRANSFORMS[name](image, MASK, torch.Generator().manual_seed(0)), ValueError,
           "image must be finite: its minimum is")


@pytest.mark.parametrize("transform, shape, message", [
    (RandomFlip(dims=(2,)), (1, 6, 6), r"dims \(2,\) is out of range for an image with 2 spatial"),
    (RandomFlip(dims=(-3,)), (1, 6, 6), r"dims \(-3,\) is out of range"),
    (RandomFlip(dims=(0, -2)), (1, 6, 6), r"dims \(0, -2\) names the same axis twice"),
    (RandomRot90(dims=(0, 2)), (1, 6, 6), r"dims \(0, 2\) is out of range"),
    (RandomRot90(dims=(0, -3)), (1, 4, 4, 4), r"dims \(0, -3\) names the same axis twice"),
])
def test_axes_are_checked_against_the_sample(transform, shape, message):
    raises(lambda: transform(torch.rand(shape)), ValueError, message)


def test_compose_and_datasets_check_what_a_transform_returns():
    image_only = Compose([lambda image, mask, generator: image])
    raises(lambda: image_only(IMAGE, MASK), TypeError,
           r"must return a pair \(image, mask\), got a single tensor of shape \(1, 6, 6\)")
    dataset = data.histology_patches(2, size=32, transform=lambda i, m, g: None)
    raises(lambda: dataset[0], TypeError, r"must return a pair \(image, mask\), got NoneType")


def test_a_mask_on_another_device_is_refused():
    meta = torch.zeros(6, 6, dtype=torch.long, device="meta")
    raises(lambda: RandomFlip()(IMAGE, meta), ValueError, "mask is on meta, image is on cpu")


@pytest.mark.parametrize("call, error, message", [
    (lambda: item_generator(-1, 0), ValueError, "seed must be an int >= 0, got -1"),
    (lambda: item_generator(0.5, 0), TypeError, "seed must be an int, got float 0.5"),
    (lambda: item_generator(0, -2), ValueError, "index must be an int >= 0, got -2"),
    (lambda: item_generator(0, NAN), TypeError, "index must be an int, got float nan"),
    (lambda: item_generator(0, 1, True), TypeError, "epoch must be an int, got bool True"),
    (lambda: item_generator(0, 1, "1"), TypeError, "epoch must be an int, got str"),
    (lambda: item_rng(0, 1, -1), ValueError, "stream must be an int >= 0"),
    (lambda: item_rng("0", 1), TypeError, "seed must be an int, got str"),
])
def test_random_streams_refuse_bad_seeds(call, error, message):
    raises(call, error, message)


# --------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("call, error, message", [
    # numbers of items, sizes, seeds: ints, never bools, floats or strings
    (lambda: data.brain_lesions(True), TypeError, "n must be an int, got bool True"),
    (lambda: data.brain_lesions(NAN), TypeError, "n must be an int, got float nan"),
    (lambda: data.brain_lesions("4"), TypeError, "n must be an int, got str '4'"),
    (lambda: data.brain_lesions(-3), ValueError, "n must be a positive int, got -3"),
    (lambda: data.brain_lesions(2, size=0), ValueError, "size must be an int between 24 and 512"),
    (lambda: data.brain_lesions(2, size=-64), ValueError, "size must be an int between"),
    (lambda: data.brain_lesions(2, size=64.0), TypeError, "size must be an int, got float 64.0"),
    (lambda: data.brain_lesions(2, size=INF), TypeError, "size must be an int, got float inf"),
    (lambda: data.brain_lesions(2, size="64"), TypeError, "size must be an int, got str"),
    (lambda: data.brain_lesions(2, dim=3, size=256), ValueError, "size must be .* 24 and 192"),
    (lambda: data.brain_lesions(2, dim="2"), TypeError, "dim must be the int 2 .slices. or 3"),
    (lambda: data.brain_lesions(2, dim=2.0), TypeError, "dim must be the int 2 .* got float"),
    (lambda: data.brain_lesions(2, dim=True), TypeError, "dim must be the int 2 .* got bool"),
    (lambda: data.brain_lesions(2, dim=1), ValueError, r"dim must be 2 \(slices\) or 3"),
    (lambda: data.brain_lesions(2, seed=1.5), TypeError, "seed must be an int, got float 1.5"),
    (lambda: data.brain_lesions(2, seed=True), TypeError, "seed must be an int, got bool"),
    (lambda: data.brain_lesions(2, max_lesions=0), ValueError, "max_lesions must be an int"),
    (lambda: data.brain_lesions(2, max_lesions=2.5), TypeError, "max_lesions must be an int"),
    # fractions and noise levels: finite real numbers in range
    (lambda: data.brain_lesions(2, prevalence=NAN), ValueError, "prevalence must be finite"),
    (lambda: data.brain_lesions(2, prevalence=INF), ValueError, "prevalence must be finite"),
    (lambda: data.brain_lesions(2, prevalence="1%"), TypeError, "prevalence must be a real number"),
    (lambda: data.brain_lesions(2, prevalence=-0.01), ValueError, r"prevalence must be in \(0.0"),
    (lambda: data.brain_lesions(2, empty_fraction=NAN), ValueError, "empty_fraction must be fin"),
    (lambda: data.brain_lesions(2, empty_fraction=-0.2), ValueError, "empty_fraction must be in"),
    (lambda: data.brain_lesions(2, noise=NAN), ValueError, "noise must be finite, got nan"),
    (lambda: data.brain_lesions(2, noise=-INF), ValueError, "noise must be finite, got -inf"),
    (lambda: data.brain_lesions(2, noise=0.1j), TypeError, "noise must be a real number"),
    (lambda: data.brain_lesions(2, noise=False), TypeError, "noise must be a real .* got bool"),
    # flags: True or False only ("False" is truthy in python)
    (lambda: data.brain_lesions(2, tissue_classes="False"), TypeError,
     "tissue_classes must be True or False, got str 'False'"),
    (lambda: data.brain_lesions(2, tissue_classes=1), TypeError,
     "tissue_classes must be True or False, got int 1"),
    (lambda: data.brain_lesions(2, transform="augment"), TypeError,
     "transform must be callable or None, got str 'augment'"),
    (lambda: data.retinal_vessels(True), TypeError, "n must be an int, got bool"),
    (lambda: data.retinal_vessels(0), ValueError, "n must be a positive int, got 0"),
    (lambda: data.retinal_vessels(2, size=0), ValueError, "size must be .* 32 and 1024, got 0"),
    (lambda: data.retinal_vessels(2, size=128.0), TypeError, "size must be an int, got float"),
    (lambda: data.retinal_vessels(2, size=NAN), TypeError, "size must be an int, got float nan"),
    (lambda: data.retinal_vessels(2, seed=-1), ValueError, "seed must be an int >= 0"),
    (lambda: data.retinal_vessels(2, noise=NAN), ValueError, "noise must be finite"),
    (lambda: data.retinal_vessels(2, noise=INF), ValueError, "noise must be finite"),
    (lambda: data.retinal_vessels(2, noise="0.01"), TypeError, "noise must be a real number"),
    (lambda: data.retinal_vessels(2, noise=2.0), ValueError, r"noise must be in \[0.0, 1.0\]"),
    (lambda: data.retinal_vessels(2, transform=[]), TypeError, "transform must be callable"),
    (lambda: data.histology_patches(0), ValueError, "n must be a positive int"),
    (lambda: data.histology_patches(2.0), TypeError, "n must be an int, got float"),
    (lambda: data.histology_patches(2, size=-32), ValueError, "size must be an int between 32"),
    (lambda: data.histology_patches(2, size="32"), TypeError, "size must be an int, got str"),
    (lambda: data.histology_patches(2, seed=NAN), TypeError, "seed must be an int, got float"),
    (lambda: data.histology_patches(2, noise=NAN), ValueError, "noise must be finite"),
    (lambda: data.histology_patches(2, noise=INF), ValueError, "noise must be finite"),
    (lambda: data.histology_patches(2, return_mask="False"), TypeError,
     "return_mask must be True or False, got str 'False'"),
    (lambda: data.histology_patches(2, return_mask=0), TypeError,
     "return_mask must be True or False, got int 0"),
    (lambda: data.histology_patches(2, return_mask=None), TypeError,
     "return_mask must be True or False, got NoneType"),
    (lambda: data.HistologyPatches(2, return_mask="True"), TypeError,
     "return_mask must be True or False"),
    (lambda: data.histology_patches(2, stain_variation="no"), TypeError,
     "stain_variation must be True or False, got str 'no'"),
    (lambda: data.BrainLesions(2, tissue_classes="yes"), TypeError, "tissue_classes must be True"),
    (lambda: data.RetinalVessels(2, noise="none"), TypeError, "noise must be a real number"),
])
def test_dataset_constructors_refuse_bad_arguments(call, error, message):
    raises(call, error, message)


def test_a_numpy_bool_is_a_bool_and_numpy_ints_are_ints():
    ds = data.histology_patches(np.int64(2), size=np.int32(32), seed=np.uint8(1),
                                return_mask=np.bool_(True))
    assert ds.return_mask is True and len(ds[0]) == 3 and ds.size == 32


@pytest.fixture(scope="module")
def small():
    return {
        "brain": data.brain_lesions(3, size=24),
        "vessels": data.retinal_vessels(3, size=32),
        "histology": data.histology_patches(3, size=32),
    }


@pytest.mark.parametrize("name, call, error, message", [
    ("brain", lambda d: d.render(0, lesions="False"), TypeError,
     "lesions must be True or False, got str 'False'"),
    ("brain", lambda d: d.render(0, noise=0), TypeError, "noise must be True or False, got int 0"),
    ("brain", lambda d: d.clean(1.0), TypeError, "index must be an int, got float"),
    ("vessels", lambda d: d.render(0, vessels="no"), TypeError,
     "vessels must be True or False, got str 'no'"),
    ("vessels", lambda d: d.render(0, noise=None), TypeError, "noise must be True or False"),
    ("histology", lambda d: d.render(0, noise="False"), TypeError, "noise must be True or False"),
    ("histology", lambda d: d.label("0"), TypeError, "index must be an int, got str"),
    ("brain", lambda d: d[True], TypeError, "index must be an int, got bool True"),
    ("vessels", lambda d: d[NAN], TypeError, "index must be an int, got float"),
    ("histology", lambda d: d[3], IndexError, "index 3 is out of range for a dataset of 3"),
    ("histology", lambda d: d[-4], IndexError, "index -4 is out of range"),
    ("brain", lambda d: d.set_epoch("1"), TypeError, "epoch must be an int, got str"),
    ("brain", lambda d: d.set_epoch(1.0), TypeError, "epoch must be an int, got float"),
])
def test_dataset_methods_refuse_bad_arguments(small, name, call, error, message):
    raises(lambda: call(small[name]), error, message)


# --------------------------------------------------------------------------- MedMNIST files


def splits(images, labels) -> dict[str, np.ndarray]:
    return {f"{s}_{k}": a for s in ("train", "val", "test")
            for k, a in (("images", images), ("labels", labels))}


GREY = np.zeros((3, 28, 28), np.uint8)
GOOD_LABELS = np.array([[0], [1], [1]])


@pytest.mark.parametrize("name, arrays, message", [
    # labels: whole, finite numbers in the dataset's class range
    ("pneumoniamnist", splits(GREY, np.array([[0.0], [1.0], [NAN]])),
     r"labels must be finite integers, got nan \(row 2\)"),
    ("pneumoniamnist", splits(GREY, np.array([[0.0], [INF], [1.0]])),
     r"labels must be finite integers, got inf \(row 1\)"),
    ("pneumoniamnist", splits(GREY, np.array([[0.0], [0.5], [1.0]])),
     r"labels must be whole numbers \(class indices\), got 0.5 \(row 1\)"),
    ("pneumoniamnist", splits(GREY, np.array([[0], [2], [1]])),
     r"label values must lie in \[0, 1\] .* got 2 \(row 1\)"),
    ("pneumoniamnist", splits(GREY, np.array([[0], [-1], [1]], np.int8)),
     r"label values must lie in \[0, 1\] .* got -1"),
    ("pneumoniamnist", splits(GREY, np.array([[0], [2**63 + 1], [1]], np.uint64)),
     r"label values must lie in \[0, 1\]"),
    ("pneumoniamnist", splits(GREY, np.array([[True], [False], [True]])),
     "labels must be integer class indices, got dtype bool"),
    ("pneumoniamnist", splits(GREY, np.array([["0"], ["1"], ["1"]])),
     "labels must be integer class indices, got dtype <U1"),
    ("pneumoniamnist", splits(GREY, np.array([[0], [1], [1]], np.complex64)),
     "labels must be integer class indices, got dtype complex64"),
    ("chestmnist", splits(GREY, np.full((3, 14), 2, np.uint8)),
     r"multi-label flags must be 0 or 1, got 2 \(row 0, column 0\)"),
    ("chestmnist", splits(GREY, np.full((3, 14), 0.5)), "labels must be whole numbers"),
    # images: uint8, of the size the file name promises, with the dataset's channels
    ("pneumoniamnist", splits(np.zeros((3, 64, 64), np.uint8), GOOD_LABELS),
     (r"images must be 28×28 for size=28 \(the file name pneumoniamnist.npz says so\), got "
      r"64×64; a 64×64 file is named pneumoniamnist_64.npz and read with size=64")),
    ("pneumoniamnist", splits(np.zeros((3, 28, 30), np.uint8), GOOD_LABELS),
     "images must be 28×28 for size=28 .* got 28×30"),
    ("organmnist3d", splits(np.zeros((3, 64, 64, 64), np.uint8), GOOD_LABELS),
     "images must be 28×28×28 for size=28 .* organmnist3d_64.npz and read with size=64"),
    ("pneumoniamnist", splits(np.zeros((3, 28, 28, 3), np.uint8), GOOD_LABELS),
     r"images must be \(N, H, W\) \(2D grey-level images\), got shape \(3, 28, 28, 3\)"),
    ("pathmnist", splits(GREY, GOOD_LABELS),
     r"images must be \(N, H, W, 3\) \(2D RGB images\), got shape \(3, 28, 28\)"),
    ("organmnist3d", splits(GREY, GOOD_LABELS), r"images must be \(N, D, H, W\)"),
    ("pneumoniamnist", splits(GREY.astype(np.int64), GOOD_LABELS), "images must be uint8"),
    ("pneumoniamnist", splits(GREY[:0], GOOD_LABELS[:0]), "the split holds no images"),
    ("pneumoniamnist", splits(GREY, GOOD_LABELS[:2]), r"labels must be \(N, 1\) or \(N, k\)"),
])
def test_medmnist_refuses_files_whose_arrays_are_wrong(tmp_path, name, arrays, message):
    np.savez(tmp_path / f"{name}.npz", **arrays)
    with pytest.raises(ValueError, match=message) as info:
        data.medmnist(name, tmp_path)
    assert str(tmp_path / f"{name}.npz") in str(info.value)  # the message names the file


def test_medmnist_accepts_whole_float_labels_and_the_right_size(tmp_path):
    np.savez(tmp_path / "pneumoniamnist_64.npz",
             **splits(np.zeros((3, 64, 64), np.uint8), np.array([[0.0], [1.0], [1.0]])))
    ds = data.medmnist("pneumoniamnist", tmp_path, size=64)
    assert [int(ds[i][1]) for i in range(3)] == [0, 1, 1] and ds[0][1].dtype == torch.int64


def npz_bytes(tmp_path, compressed=False) -> bytes:
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 3), dtype=np.uint8)
    source = tmp_path / "source.npz"
    (np.savez_compressed if compressed else np.savez)(source, **splits(images, GOOD_LABELS))
    return source.read_bytes()


def renamed_npy(tmp_path, path):
    np.save(tmp_path / "plain.npy", np.zeros((3, 28, 28, 3), np.uint8))
    (tmp_path / "plain.npy").rename(path)


def corrupt_member(tmp_path, path, compressed):
    raw = bytearray(npz_bytes(tmp_path, compressed))
    raw[200:260] = b"x" * 60  # inside the first member's data; the zip directory is intact
    path.write_bytes(bytes(raw))


def object_labels(tmp_path, path):
    arrays = splits(np.zeros((3, 28, 28, 3), np.uint8), GOOD_LABELS)
    arrays["train_labels"] = np.array([0, 1, None], dtype=object)
    np.savez(path, **arrays)


def zip_without_npy(tmp_path, path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train_images.npy", b"not a numpy file")
        archive.writestr("train_labels.npy", b"neither")


HOSTILE = {
    "renamed .npy": (renamed_npy, r"is not a MedMNIST .npz archive: it holds a single .npy"),
    "text file": (lambda t, p: p.write_text("404 Not Found\n"),
                  "is not a MedMNIST .npz archive: it does not start like a zip file"),
    "empty file": (lambda t, p: p.write_bytes(b""),
                   "is not a MedMNIST .npz archive: the file is empty"),
    "truncated": (lambda t, p: p.write_bytes(npz_bytes(t)[:3000]),
                  r"is not a readable .npz archive \(truncated or corrupt\?\)"),
    "corrupt member": (lambda t, p: corrupt_member(t, p, False),
                       r"array 'train_images' cannot be read \(truncated or corrupt file\?\)"),
    "corrupt compressed member": (lambda t, p: corrupt_member(t, p, True),
                                  "array 'train_images' cannot be read"),
    "object array": (object_labels, (r"array 'train_labels' holds Python objects .dtype "
                                     r"object.; MedMNIST arrays hold numbers, and mednotes "
                                     r"never unpickles")),
    "zip of non-npy": (zip_without_npy, "'train_images' is not a numpy array"),
    "missing key": (lambda t, p: np.savez(p, train_images=np.zeros((3, 28, 28, 3), np.uint8)),
                    "has no array 'train_labels'; it holds train_images"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_medmnist_refuses_broken_files_with_a_message_naming_the_path(tmp_path, case):
    write, message = HOSTILE[case]
    path = tmp_path / "bloodmnist.npz"
    write(tmp_path, path)
    with pytest.raises(ValueError, match=message) as info:
        data.medmnist("bloodmnist", tmp_path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": 3}, TypeError, "name must be a str such as 'pathmnist', got int 3"),
    ({"name": None}, TypeError, "name must be a str"),
    ({"root": 3}, TypeError, r"root must be a folder path \(a str or pathlib.Path\), got int 3"),
    ({"root": None}, TypeError, "root must be a folder path"),
    ({"split": 0}, TypeError, "split must be a str, one of train, val, test, got int 0"),
    ({"split": "Train"}, ValueError, "split must be one of train, val, test, got 'Train'"),
    ({"size": 28.0}, TypeError, r"size must be an int, one of \(28, 64, 128, 224\) .* float 28.0"),
    ({"size": True}, TypeError, "size must be an int, .* got bool True"),
    ({"size": "28"}, TypeError, "size must be an int, .* got str"),
    ({"size": NAN}, TypeError, "size must be an int, .* got float nan"),
    ({"size": 0}, ValueError, r"size must be one of \(28, 64, 128, 224\) .* got 0"),
    ({"size": -28}, ValueError, "size must be one of .* got -28"),
    ({"seed": -1}, ValueError, "seed must be an int >= 0"),
    ({"seed": 0.0}, TypeError, "seed must be an int, got float"),
    ({"transform": "augment"}, TypeError, "transform must be callable or None"),
])
def test_medmnist_refuses_bad_arguments_before_reading(tmp_path, kwargs, error, message):
    np.savez(tmp_path / "pathmnist.npz", **splits(np.zeros((3, 28, 28, 3), np.uint8),
                                                  GOOD_LABELS))
    arguments = {"name": "pathmnist", "root": tmp_path, **kwargs}
    raises(lambda: data.medmnist(**arguments), error, message)
    raises(lambda: data.MedMNIST(**arguments), error, message)


def test_medmnist_reads_a_str_root_and_a_pathlike_one(tmp_path):
    np.savez(tmp_path / "pathmnist.npz", **splits(np.zeros((3, 28, 28, 3), np.uint8),
                                                  GOOD_LABELS))
    assert len(data.medmnist("pathmnist", str(tmp_path))) == len(data.medmnist("pathmnist",
                                                                               tmp_path)) == 3


# --------------------------------------------------------------------------- devices


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("name", ["flip", "rot90", "jitter", "augment"])
def test_transforms_keep_the_device_and_dtype_and_match_the_cpu(device, dtype, name):
    transform = TRANSFORMS[name]
    image = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(1)).to(dtype)
    mask = (image[0] > 0.5).to(torch.int64)
    for seed in range(4):
        expected, expected_mask = transform(image, mask, torch.Generator().manual_seed(seed))
        out, out_mask = transform(image.to(device), mask.to(device),
                                  torch.Generator().manual_seed(seed))
        assert out.device == torch.device(device) == out_mask.device
        assert out.dtype == dtype and out_mask.dtype == torch.int64
        # The same generator gives the same moves on every device.
        assert torch.equal(out_mask.cpu(), expected_mask)
        tolerance = 2e-3 if dtype == torch.float16 else 1e-6
        torch.testing.assert_close(out.cpu(), expected, atol=tolerance, rtol=0)

