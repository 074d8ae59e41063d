"""Medical images that ship inside installed packages, loaded with no download.

Each loader returns ``(tensor, meta)``: a float32 torch tensor and a small dict with the
modality, pixel spacing in mm where known, where the image comes from and its licence.
``load(name)`` reaches every loader by name.

Example:
    >>> from mednotes import data
    >>> sorted(data.available())
    ['brain', 'ct', 'fundus', 'histology', 'mr']
"""

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

__all__ = [
    "WINDOWS",
    "available",
    "brain_template",
    "ct_slice",
    "fundus",
    "histology",
    "load",
    "mr_slice",
    "window",
]
