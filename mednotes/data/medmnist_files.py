"""A reader for MedMNIST ``.npz`` files that the user has downloaded: the library never downloads.

MedMNIST (Yang et al., 2023, *Scientific Data* 10:41) is a collection of small, standardised
biomedical classification datasets: 2D images of 28×28 (and 64, 128, 224 in MedMNIST+) and
3D volumes of 28³ (and 64³). Each dataset is one file ``<name>.npz`` (28 pixels) or
``<name>_<size>.npz`` holding ``train_images``, ``train_labels``, ``val_images``,
``val_labels``, ``test_images`` and ``test_labels``; images are uint8, labels are
``(N, 1)`` class indices or ``(N, k)`` 0/1 flags for the multi-label ChestMNIST.
Get the files from the MedMNIST website (https://medmnist.com) or its Zenodo record and
put them in one folder. Class names and tasks below follow MedMNIST's own ``INFO`` table.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from mednotes._checks import check_int, describe, is_int, sizes
from mednotes.data.synthetic import SeededDataset, check_transform

SPLITS = ("train", "val", "test")


class Info(NamedTuple):
    dim: int  # 2 or 3
    task: str
    labels: tuple[str, ...]
    channels: int = 1  # 3 for the RGB 2D datasets, stored channels-last


_ORGANS = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
           "liver", "lung-left", "lung-right", "pancreas", "spleen")

DATASETS: dict[str, Info] = {
    "pathmnist": Info(2, "multi-class", (
        "adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
        "normal colon mucosa", "cancer-associated stroma",
        "colorectal adenocarcinoma epithelium"), 3),
    "chestmnist": Info(2, "multi-label, binary-class", (
        "atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule",
        "pneumonia", "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis",
        "pleural", "hernia")),
    "dermamnist": Info(2, "multi-class", (
        "actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
        "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
        "vascular lesions"), 3),
    "octmnist": Info(2, "multi-class", (
        "choroidal neovascularization", "diabetic macular edema", "drusen", "normal")),
    "pneumoniamnist": Info(2, "binary-class", ("normal", "pneumonia")),
    "retinamnist": Info(2, "ordinal-regression", ("0", "1", "2", "3", "4"), 3),
    "breastmnist": Info(2, "binary-class", ("malignant", "normal, benign")),
    "bloodmnist": Info(2, "multi-class", (
        "basophil", "eosinophil", "erythroblast",
        "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)", "lymphocyte",
        "monocyte", "neutrophil", "platelet"), 3),
    "tissuemnist": Info(2, "multi-class", (
        "Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
        "Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes",
        "Podocytes", "Proximal Tubule Segments", "Thick Ascending Limb")),
    "organamnist": Info(2, "multi-class", _ORGANS),
    "organcmnist": Info(2, "multi-class", _ORGANS),
    "organsmnist": Info(2, "multi-class", _ORGANS),
    "organmnist3d": Info(3, "multi-class", (  # MedMNIST lists the 3D organs in this order
        "liver", "kidney-right", "kidney-left", "femur-right", "femur-left", "bladder",
        "heart", "lung-right", "lung-left", "spleen", "pancreas")),
    "nodulemnist3d": Info(3, "binary-class", ("benign", "malignant")),
    "adrenalmnist3d": Info(3, "binary-class", ("normal", "hyperplasia")),
    "fracturemnist3d": Info(3, "multi-class", (
        "buckle rib fracture", "nondisplaced rib fracture", "displaced rib fracture")),
    "vesselmnist3d": Info(3, "binary-class", ("vessel", "aneurysm")),
    "synapsemnist3d": Info(3, "binary-class", ("inhibitory synapse", "excitatory synapse")),
}

SIZES = {2: (28, 64, 128, 224), 3: (28, 64)}


def medmnist_path(name: str, root, size: int = 28) -> Path:
    """Where :func:`medmnist` expects the file: ``root/name.npz`` or ``root/name_<size>.npz``.

    Example:
        >>> medmnist_path("pathmnist", "data", size=64).as_posix()
        'data/pathmnist_64.npz'
    """
    key = _check_name(name)
    root = _check_root(root)
    size = _check_size(size, key)
    return root / (f"{key}.npz" if size == 28 else f"{key}_{size}.npz")


def _check_root(root) -> Path:
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (a str or pathlib.Path), got {describe(root)}")
    return Path(root)


def _check_size(size, key: str) -> int:
    dim = DATASETS[key].dim
    if not is_int(size):  # 28.0 or True would otherwise slip through `in`
        raise TypeError(
            f"size must be an int, one of {SIZES[dim]} for the {dim}D dataset {key}, "
            f"got {describe(size)}")
    if size not in SIZES[dim]:
        raise ValueError(
            f"size must be one of {SIZES[dim]} for the {dim}D dataset {key}, got {size!r}")
    return int(size)


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str such as 'pathmnist', got {describe(name)}")
    key = name.strip().lower()
    if key not in DATASETS:
        raise ValueError(f"unknown MedMNIST name {name!r}; valid names: {', '.join(DATASETS)}")
    return key


class MedMNIST(SeededDataset):
    """One split of a MedMNIST dataset read from its ``.npz`` file; see :func:`~mednotes.data.medmnist`."""

    def __init__(self, name: str, root, split: str = "train", *, size: int = 28,
                 transform=None, seed: int = 0):
        key = _check_name(name)
        if not isinstance(split, str):
            raise TypeError(
                f"split must be a str, one of {', '.join(SPLITS)}, got {describe(split)}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        path = medmnist_path(key, root, size)
        size = _check_size(size, key)
        check_int("seed", seed, 0)  # before reading what may be a large file
        check_transform(transform)
        if not path.is_file():
            raise FileNotFoundError(
                f"MedMNIST file not found: {path}. mednotes never downloads data: download "
                f"{path.name} yourself (https://medmnist.com, or the MedMNIST Zenodo record) "
                f"and put it in {Path(root)}")
        info = DATASETS[key]
        images, labels = _read(path, (f"{split}_images", f"{split}_labels"))
        self.images, self.labels = _validate(path, split, key, size, images, labels)
        super().__init__(len(self.images), seed, transform)
        self.name, self.split, self.size = key, split, size
        self.classes = info.labels
        self.task = info.task
        self.multi_label = info.task.startswith("multi-label")
        self.meta = {
            "source": f"MedMNIST v2 / MedMNIST+ {key} ({split} split), read from {path}",
            "licence": "CC BY 4.0 (MedMNIST); cite Yang et al., Scientific Data 10:41 (2023) "
            "and the source dataset",
            "generation": "real images, resized by the MedMNIST authors; read as is",
            "task": info.task,
        }

    def __getitem__(self, index):
        i = self._index(index)
        pixels = torch.from_numpy(self.images[i]).float() / 255.0
        # 2D colour is stored channels-last; grey 2D and 3D volumes have no channel axis.
        if DATASETS[self.name].dim == 2 and self.images.ndim == 4:
            image = pixels.permute(2, 0, 1).contiguous()
        else:
            image = pixels[None]
        image, _ = self._augment(i, image, None)
        label = torch.from_numpy(self.labels[i]) if self.multi_label else torch.tensor(
            int(self.labels[i, 0]))
        return image, label


ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip (.npz) starts with a file or an empty directory
NPY_MAGIC = b"\x93NUMPY"
#: What reading a damaged archive can raise, from zipfile, zlib and numpy's format reader.
READ_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def _read(path: Path, keys: tuple[str, ...]) -> list[np.ndarray]:
    """The arrays ``keys`` of the ``.npz`` file ``path``, or a ValueError naming the path.

    Nothing is unpickled (``allow_pickle=False``): a file is data, never code, so an array
    of Python objects is refused rather than run.
    """
    with open(path, "rb") as file:
        head = file.read(len(NPY_MAGIC))
    if not head.startswith(ZIP_MAGIC):
        what = ("it holds a single .npy array (a renamed .npy file?)"
                if head.startswith(NPY_MAGIC) else "the file is empty" if not head
                else "it does not start like a zip file (a text or web page saved by mistake?)")
        raise ValueError(f"{path} is not a MedMNIST .npz archive: {what}. Download "
                         f"{path.name} again from https://medmnist.com")
    try:
        archive = np.load(path, allow_pickle=False)
    except READ_ERRORS as err:
        raise ValueError(f"{path} is not a readable .npz archive (truncated or corrupt?): "
                         f"{err}. Download {path.name} again") from None
    try:
        out = []
        for key in keys:
            if key not in archive.files:
                raise ValueError(f"{path} has no array {key!r}; it holds "
                                 f"{', '.join(sorted(archive.files)) or 'nothing'}")
            try:
                array = archive[key]
            except READ_ERRORS as err:
                if "allow_pickle" in str(err):
                    raise ValueError(
                        f"{path}: array {key!r} holds Python objects (dtype object); MedMNIST "
                        "arrays hold numbers, and mednotes never unpickles a file") from None
                raise ValueError(f"{path}: array {key!r} cannot be read (truncated or "
                                 f"corrupt file?): {err}") from None
            if not isinstance(array, np.ndarray):  # a zip member that is not a .npy
                raise ValueError(  # noqa: TRY004 - the file is wrong, not an argument's type
                    f"{path}: {key!r} is not a numpy array (the archive holds raw "
                    f"{type(array).__name__}, not a .npy, under that name)")
            out.append(array)
        return out
    finally:
        archive.close()


def _first_bad(labels: np.ndarray, bad: np.ndarray) -> str:
    """``"1.5 (row 3)"``: the first offending label and where it is, for messages."""
    row, col = np.argwhere(bad)[0]
    where = f"row {row}, column {col}" if labels.shape[1] > 1 else f"row {row}"
    return f"{labels[row, col].item()!r} ({where})"


def _validate(path: Path, split: str, key: str, size: int, images: np.ndarray,
              labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check one split against what MedMNIST ships; return images and int64 labels."""
    info = DATASETS[key]
    where = f"{path} ({split})"
    if images.dtype != np.uint8:
        raise ValueError(
            f"{where}: images must be uint8 as MedMNIST ships them, got {images.dtype}")
    colour = info.channels == 3
    shapes = {2: "(N, H, W, 3)" if colour else "(N, H, W)", 3: "(N, D, H, W)"}[info.dim]
    good = images.ndim == (4 if info.dim == 3 or colour else 3) \
        and (not colour or images.shape[-1] == 3)
    if not good:
        kind = "RGB" if colour else "grey-level"
        raise ValueError(f"{where}: images must be {shapes} ({info.dim}D {kind} images), got "
                         f"shape {images.shape}")
    found = images.shape[1:1 + info.dim]
    if found != (size,) * info.dim:
        other = ""
        if len(set(found)) == 1 and found[0] in SIZES[info.dim]:
            right = f"{key}.npz" if found[0] == 28 else f"{key}_{found[0]}.npz"
            other = f"; a {sizes(found)} file is named {right} and read with size={found[0]}"
        raise ValueError(f"{where}: images must be {sizes((size,) * info.dim)} for size={size} "
                         f"(the file name {path.name} says so), got {sizes(found)}{other}")
    if len(images) == 0:
        raise ValueError(f"{where}: the split holds no images")
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2 or len(labels) != len(images):
        raise ValueError(f"{where}: labels must be (N, 1) or (N, k) with N = {len(images)} "
                         f"images, got shape {labels.shape}")
    k = len(info.labels)
    multi_label = info.task.startswith("multi-label")
    if multi_label:
        if labels.shape[1] != k:
            raise ValueError(f"{where}: multi-label labels must have {k} columns, got "
                             f"{labels.shape[1]}")
    elif labels.shape[1] != 1:
        raise ValueError(f"{where}: labels must be (N, 1) class indices, got {labels.shape}")
    integer = np.issubdtype(labels.dtype, np.integer)
    if not (integer or np.issubdtype(labels.dtype, np.floating)):
        raise ValueError(f"{where}: labels must be integer class indices, got dtype "
                         f"{labels.dtype}")
    if not integer:  # floats are fine only when every value is a whole, finite number
        bad = ~np.isfinite(labels)
        if bad.any():
            raise ValueError(
                f"{where}: labels must be finite integers, got {_first_bad(labels, bad)}")
        bad = labels != np.round(labels)
        if bad.any():
            raise ValueError(f"{where}: labels must be whole numbers (class indices), got "
                             f"{_first_bad(labels, bad)}")
    top = 1 if multi_label else k - 1
    bad = (labels < 0) | (labels > top)
    if bad.any():
        what = ("multi-label flags must be 0 or 1" if multi_label else
                f"label values must lie in [0, {k - 1}] ({', '.join(info.labels[:3])}, ...)")
        raise ValueError(f"{where}: {what}, got {_first_bad(labels, bad)}; values span "
                         f"{labels.min().item()!r}..{labels.max().item()!r}")
    return images, labels.astype(np.int64)


def medmnist(name: str, root, split: str = "train", *, size: int = 28, transform=None,
             seed: int = 0) -> MedMNIST:
    """One split of a MedMNIST dataset from ``<root>/<name>.npz`` (or ``<name>_<size>.npz``).

    The whole split is read into memory (28×28 files are a few to a few hundred MB; the 224
    files can be several GB). Nothing is downloaded: a missing file is an error that says
    where to put it.

    Args:
        name: a MedMNIST name, one of ``DATASETS`` (e.g. ``"pathmnist"``,
            ``"organmnist3d"``).
        root: the folder holding the ``.npz`` files.
        split: ``"train"``, ``"val"`` or ``"test"``.
        size: image side: 28 (``name.npz``), or 64, 128, 224 for 2D and 64 for 3D
            (``name_<size>.npz``, MedMNIST+).
        transform: ``transform(image, None, generator)``, e.g. :func:`~mednotes.data.augmentation.augment`.
        seed: seeds the transform's randomness (with the index and the epoch).

    Shape:
        image ``(C, H, W)`` (C = 1 or 3) or ``(1, D, H, W)``, float32 in [0, 1]; label
        ``()`` int64 class index, or ``(k,)`` int64 0/1 flags for multi-label ChestMNIST.

    Raises:
        TypeError: ``name`` or ``split`` not a str, ``root`` not a path, ``size`` or ``seed``
            not an int, ``transform`` not callable.
        ValueError: unknown name (lists valid names), bad split or size; a file that is not
            a readable ``.npz`` archive (a renamed ``.npy``, a text file, a truncated or
            corrupt download) or holds Python objects (never unpickled); arrays that are
            missing (names the array) or malformed: images not uint8, not of the size and
            channels the name promises, labels that are not whole, finite numbers in the
            dataset's class range (0/1 flags for ChestMNIST). Every message names the path.
        FileNotFoundError: the file is not there (names the path expected).

    Explained in: Data for the book: labelled datasets.

    Example:
        >>> import tempfile, os
        >>> root = tempfile.mkdtemp()
        >>> arrays = {f"{s}_{k}": a for s in ("train", "val", "test") for k, a in
        ...           (("images", np.zeros((2, 28, 28), np.uint8)),
        ...            ("labels", np.array([[0], [1]])))}
        >>> np.savez(os.path.join(root, "pneumoniamnist.npz"), **arrays)
        >>> ds = medmnist("pneumoniamnist", root)
        >>> image, label = ds[1]
        >>> image.shape, ds.classes[label]
        (torch.Size([1, 28, 28]), 'pneumonia')
    """
    return MedMNIST(name, root, split, size=size, transform=transform, seed=seed)
