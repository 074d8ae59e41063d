"""Loaders for the real images the book uses: CT, MR, fundus, histology and a brain template.

Every file comes from a package installed with the course environment (pydicom, scikit-image,
nilearn), so the book builds and the notebooks run with no network.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
import torch

from mednotes._checks import describe, is_int

Meta = dict[str, Any]


def _needs(package: str, loader: str):
    """Import ``package`` or explain which extra to install for ``loader``."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError as err:  # pragma: no cover - the course environment has them all
        raise ImportError(
            f"mednotes.data.{loader}() needs the package '{package.split('.')[0]}': "
            "pip install 'mednotes[data]'"
        ) from err


def _dicom_slice(example: str, loader: str) -> tuple[torch.Tensor, Meta]:
    examples = _needs("pydicom.examples", loader)
    ds = getattr(examples, example)
    # Stored values become physical units through the rescale pair (Hounsfield units for CT).
    slope = float(getattr(ds, "RescaleSlope", 1.0))
    intercept = float(getattr(ds, "RescaleIntercept", 0.0))
    pixels = ds.pixel_array.astype(np.float32) * slope + intercept
    row_mm, col_mm = (float(v) for v in ds.PixelSpacing)
    meta: Meta = {
        "modality": str(ds.Modality),
        "spacing_mm": (row_mm, col_mm),
        "slice_thickness_mm": float(ds.SliceThickness) if "SliceThickness" in ds else None,
        "rescale": (slope, intercept),
        "units": "HU" if ds.Modality == "CT" else "arbitrary (scanner units)",
        "source": f"pydicom.examples.{example} ({ds.filename.rsplit('/', 1)[-1]}), "
        "a test file shipped with pydicom",
        "licence": "distributed with pydicom (MIT licence); anonymised test data",
    }
    return torch.from_numpy(np.ascontiguousarray(pixels)), meta


@functools.cache
def _ct() -> tuple[torch.Tensor, Meta]:
    return _dicom_slice("ct", "ct_slice")


def ct_slice() -> tuple[torch.Tensor, Meta]:
    """A 128×128 axial CT slice in Hounsfield units (HU).

    The stored integers are turned into HU with the DICOM rescale slope and intercept,
    so air reads about −1000, water 0 and bone several hundred to over a thousand.

    Shape:
        ``(128, 128)``, float32.

    Explained in: Setup and first look.

    Example:
        >>> hu, meta = ct_slice()
        >>> hu.shape, meta["modality"], meta["units"]
        (torch.Size([128, 128]), 'CT', 'HU')
        >>> bool(hu.min() < -800)   # air around the patient reads far below water (0 HU)
        True
    """
    image, meta = _ct()
    return image.clone(), dict(meta)


@functools.cache
def _mr() -> tuple[torch.Tensor, Meta]:
    return _dicom_slice("mr", "mr_slice")


def mr_slice() -> tuple[torch.Tensor, Meta]:
    """A 64×64 MR slice in scanner units (MR intensities have no absolute scale).

    Shape:
        ``(64, 64)``, float32.

    Example:
        >>> image, meta = mr_slice()
        >>> image.shape, meta["modality"], meta["spacing_mm"]
        (torch.Size([64, 64]), 'MR', (0.3125, 0.3125))
    """
    image, meta = _mr()
    return image.clone(), dict(meta)


def _rgb(name: str, loader: str) -> torch.Tensor:
    skdata = _needs("skimage.data", loader)
    pixels = getattr(skdata, name)().astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


@functools.cache
def _fundus() -> torch.Tensor:
    return _rgb("retina", "fundus")


def fundus() -> tuple[torch.Tensor, Meta]:
    """A colour fundus photograph of a normal left eye, channels first, values in [0, 1].

    Shape:
        ``(3, 1411, 1411)``, float32, RGB.

    Example:
        >>> image, meta = fundus()
        >>> image.shape, meta["modality"]
        (torch.Size([3, 1411, 1411]), 'fundus photography')
    """
    meta: Meta = {
        "modality": "fundus photography",
        "spacing_mm": None,
        "channels": ("red", "green", "blue"),
        "source": "skimage.data.retina(): M. Häggström, 'Fundus photograph of normal left eye'",
        "licence": "CC0 1.0 (public domain dedication)",
    }
    return _fundus().clone(), meta


@functools.cache
def _histology() -> torch.Tensor:
    return _rgb("immunohistochemistry", "histology")


def histology() -> tuple[torch.Tensor, Meta]:
    """An immunohistochemistry slide of colonic glands (DAB with haematoxylin), values in [0, 1].

    Shape:
        ``(3, 512, 512)``, float32, RGB.

    Example:
        >>> image, meta = histology()
        >>> image.shape, meta["stain"]
        (torch.Size([3, 512, 512]), 'DAB (FHL2) with haematoxylin counterstain')
    """
    meta: Meta = {
        "modality": "brightfield microscopy",
        "spacing_mm": None,
        "channels": ("red", "green", "blue"),
        "stain": "DAB (FHL2) with haematoxylin counterstain",
        "source": "skimage.data.immunohistochemistry(), Center for Microscopy and Molecular "
        "Imaging (CMMI)",
        "licence": "no known copyright restrictions",
    }
    return _histology().clone(), meta


BRAIN_CHANNELS = ("t1", "grey matter", "white matter", "csf")


def _compute_brain(resolution: int) -> dict[str, np.ndarray]:
    datasets = _needs("nilearn.datasets", "brain_template")
    t1_img = datasets.load_mni152_template(resolution=resolution)
    grey = datasets.load_mni152_gm_template(resolution=resolution).get_fdata()
    white = datasets.load_mni152_wm_template(resolution=resolution).get_fdata()
    brain = datasets.load_mni152_brain_mask(resolution=resolution).get_fdata()
    t1 = t1_img.get_fdata()
    # nilearn ships grey- and white-matter maps but no CSF map: inside the brain mask, what is
    # neither grey nor white matter is taken as CSF (ventricles and sulci).
    csf = np.clip(brain - grey - white, 0.0, 1.0) * (brain > 0)
    volume = np.stack([t1, grey, white, csf]).astype(np.float32)
    spacing = np.array([float(z) for z in t1_img.header.get_zooms()[:3]])
    return {"volume": np.ascontiguousarray(volume), "spacing": spacing}


@functools.cache
def _brain(resolution: int) -> tuple[torch.Tensor, tuple[float, ...]]:
    # nilearn costs about 5 s per process (its import, then resampling the 1 mm volumes);
    # the result is kept on disk (mednotes.data._cache) and read back in about 0.1 s.
    from mednotes.data._cache import cached_arrays

    arrays = cached_arrays(f"brain-{resolution}mm", ("volume", "spacing"), _compute_brain,
                           args=(resolution,), packages=("nilearn",))
    return (torch.from_numpy(arrays["volume"]),
            tuple(float(z) for z in arrays["spacing"]))


def brain_template(resolution: int = 2) -> tuple[torch.Tensor, Meta]:
    """The MNI152 (ICBM 2009a symmetric) T1 brain template with tissue probability maps.

    Channel 0 is the T1-weighted template (values in [0, 1]); channels 1–3 are the
    probabilities of grey matter, white matter and cerebrospinal fluid (CSF).

    The first call in a process reads nilearn's files (about 5 s); the arrays are then kept
    in mednotes' cache folder (``$MEDNOTES_CACHE``, else ``~/.cache/mednotes``; set it empty
    to keep nothing), and later processes read them back in about 0.1 s.

    Args:
        resolution: voxel size in mm, 1 (197×233×189 voxels) or 2 (99×117×95).

    Shape:
        ``(4, X, Y, Z)`` in the template's RAS voxel order, float32.

    Example:
        >>> volume, meta = brain_template()
        >>> tuple(volume.shape), meta["channels"]
        ((4, 99, 117, 95), ('t1', 'grey matter', 'white matter', 'csf'))
    """
    if not is_int(resolution):  # 2.0 or True would otherwise pass as 2 or 1
        raise TypeError(f"resolution must be the int 1 or 2 (mm), got {describe(resolution)}")
    if resolution not in (1, 2):
        raise ValueError(f"resolution must be 1 or 2 (mm), got {resolution!r}")
    resolution = int(resolution)
    volume, spacing = _brain(resolution)
    meta: Meta = {
        "modality": "MR (T1-weighted template)",
        "spacing_mm": spacing,
        "channels": BRAIN_CHANNELS,
        "source": "nilearn.datasets.load_mni152_template / _gm_template / _wm_template / "
        "_brain_mask (MNI ICBM152 2009a nonlinear symmetric); CSF = brain mask minus grey "
        "and white matter",
        "licence": "MNI ICBM152 templates: free use with acknowledgement (Fonov et al., 2011)",
    }
    return volume.clone(), meta


_LOADERS: dict[str, Callable[..., tuple[torch.Tensor, Meta]]] = {
    "ct": ct_slice,
    "mr": mr_slice,
    "fundus": fundus,
    "histology": histology,
    "brain": brain_template,
}


def available() -> list[str]:
    """Names accepted by :func:`load`.

    Example:
        >>> "ct" in available()
        True
    """
    return list(_LOADERS)


def load(name: str, **kwargs: Any) -> tuple[torch.Tensor, Meta]:
    """Load a shipped image by name: one of ``available()``.

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.

    Example:
        >>> image, meta = load("mr")
        >>> meta["modality"]
        'MR'
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str such as 'ct', got {describe(name)}")
    key = name.strip().lower()
    if key not in _LOADERS:
        raise ValueError(f"unknown image name {name!r}; valid names: {', '.join(_LOADERS)}")
    return _LOADERS[key](**kwargs)
