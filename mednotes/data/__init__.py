"""Medical images that ship inside installed packages, and datasets built on them.

Each loader returns ``(tensor, meta)``: a float32 torch tensor and a small dict with the
modality, pixel spacing in mm where known, where the image comes from and its licence.
``load(name)`` reaches every loader by name.

The datasets are ``torch.utils.data.Dataset`` objects, deterministic under a seed, each with
``.classes`` and ``.meta``: :func:`brain_lesions`, :func:`retinal_vessels` (segmentation,
real anatomy with synthetic lesions or vessels), :func:`histology_patches` (classification)
and :func:`medmnist` (reads MedMNIST files the user downloaded). :mod:`.augmentation` holds the
joint image-and-mask augmentations.

Example:
    >>> from mednotes import data
    >>> sorted(data.available())
    ['brain', 'ct', 'fundus', 'histology', 'mr']
"""

from mednotes.data.augmentation import (
    Compose,
    IntensityJitter,
    RandomFlip,
    RandomRot90,
    augment,
)
from mednotes.data.images import (
    available,
    brain_template,
    ct_slice,
    fundus,
    histology,
    load,
    mr_slice,
)
from mednotes.data.intensity import WINDOWS, window
from mednotes.data.lesions import BrainLesions, brain_lesions
from mednotes.data.medmnist_files import MedMNIST, medmnist
from mednotes.data.nuclei import HistologyPatches, histology_patches
from mednotes.data.shortcuts import lesion_slices, marked
from mednotes.data.toy import toy_squares
from mednotes.data.vessels import RetinalVessels, retinal_vessels

__all__ = [
    "BrainLesions",
    "Compose",
    "HistologyPatches",
    "IntensityJitter",
    "MedMNIST",
    "RandomFlip",
    "RandomRot90",
    "RetinalVessels",
    "WINDOWS",
    "augment",
    "available",
    "brain_lesions",
    "brain_template",
    "ct_slice",
    "fundus",
    "histology",
    "histology_patches",
    "lesion_slices",
    "load",
    "marked",
    "medmnist",
    "mr_slice",
    "retinal_vessels",
    "toy_squares",
    "window",
]
