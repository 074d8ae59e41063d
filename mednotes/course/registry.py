"""Every exercise check by name, collected from the ``checks_<chapter>`` modules.

To add a practice, write its checks in the module of its chapter (or a new
``checks_<chapter>.py`` listed in :data:`CHAPTERS`); :data:`CHECKS` picks them up.
"""

from __future__ import annotations

import difflib
import importlib
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

from mednotes._checks import describe
from mednotes.course.compare import Check

#: The modules holding the checks, one per chapter, in the book's order.
CHAPTERS = ("checks_first_look", "checks_convolution", "checks_layers", "checks_pooling",
            "checks_unet", "checks_losses", "checks_resnets", "checks_training",
            "checks_neuroradiology", "checks_pathology", "checks_ophthalmology", "checks_trust")

#: The chapter each module's checks practise: its title and its notebook, relative to the
#: repository's root. A failed check names it as the section to reread. The four Part II
#: titles are stand-ins: where the notebook is present (a clone of the repository), its own
#: first heading is used instead.
PAGES = {
    "checks_first_look": ("Setup and first look", "book/principles/00_first_look.ipynb"),
    "checks_convolution": ("Convolution and cross-correlation",
                           "book/principles/01_convolution.ipynb"),
    "checks_layers": ("Building a layer: affine maps, activations and normalization",
                      "book/principles/02_layers.ipynb"),
    "checks_pooling": ("Pooling, downsampling and aliasing", "book/principles/03_pooling.ipynb"),
    "checks_unet": ("What a CNN sees: encoders, decoders and U-Net",
                    "book/principles/04_unet.ipynb"),
    "checks_losses": ("Losses: cross-entropy, Dice and rare lesions",
                      "book/principles/05_losses.ipynb"),
    "checks_resnets": ("Residual networks: depth, gradients and the shortcut",
                       "book/principles/06_resnets.ipynb"),
    "checks_training": ("Training a segmentation network", "book/principles/07_training.ipynb"),
    "checks_neuroradiology": ("Neuroradiology: lesion segmentation on brain MRI",
                              "book/applications/01_neuroradiology.ipynb"),
    "checks_pathology": ("Pathology: patch classification on histology",
                         "book/applications/02_pathology.ipynb"),
    "checks_ophthalmology": ("Ophthalmology: retinal vessel segmentation",
                             "book/applications/03_ophthalmology.ipynb"),
    "checks_trust": ("Trust and interpretability", "book/applications/04_trust.ipynb"),
}


class _Checks(Mapping):
    """A read-only dict of every check, built on first use.

    Building the checks loads images and builds layers; importing :mod:`mednotes.course`
    in every exercise should not pay for that until a check runs or the dict is read.
    """

    def __init__(self) -> None:
        self._checks: dict[str, Check] | None = None
        self.chapter: dict[str, str] = {}  # check name -> the module that defines it

    def _load(self) -> dict[str, Check]:
        if self._checks is None:
            merged: dict[str, Check] = {}
            for chapter in CHAPTERS:
                module = importlib.import_module(f"mednotes.course.{chapter}")
                for name, spec in module.checks().items():
                    if name in merged:
                        raise RuntimeError(f"check {name!r} is defined twice (again in {chapter})")
                    merged[name] = spec
                    self.chapter[name] = chapter
            self._checks = merged
        return self._checks

    def __getitem__(self, name: str) -> Check:
        return self._load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"<{len(self)} exercise checks: {', '.join(self)}>"


#: Every check, by the name that ``check(name, answer)`` takes.
CHECKS: Mapping[str, Check] = _Checks()


def lookup(name: str) -> Check:
    """The check called ``name``, or an error that suggests the names it may have meant.

    Example:
        >>> lookup("air_hu").reference()
        -1000
        >>> lookup("windw")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: unknown check 'windw'; did you mean 'window'? (mednotes.course.CHECKS lists all ...)
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be the check's name as a str, such as 'window'; "
                        f"got {describe(name)}")
    if name in CHECKS:
        return CHECKS[name]
    close = difflib.get_close_matches(name, list(CHECKS), n=3, cutoff=0.6)
    if close:
        options = " or ".join(repr(c) for c in close)
        raise ValueError(f"unknown check {name!r}; did you mean {options}? "
                         f"(mednotes.course.CHECKS lists all {len(CHECKS)})")
    raise ValueError(f"unknown check {name!r}; the checks are: {', '.join(sorted(CHECKS))}")


#: The repository's root, where the book's notebooks are when mednotes runs from a clone.
ROOT = Path(__file__).resolve().parents[2]


@cache
def _heading(path: str) -> str | None:
    """The first level-1 heading of the notebook at ``path``; None when it is not there."""
    try:
        cells = json.loads((ROOT / path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return None
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            source = "".join(cell.get("source", ""))
            match = re.search(r"^# (.+)$", source, re.MULTILINE)
            if match:
                return match.group(1).strip()
    return None


def page(name: str) -> tuple[str, str]:
    """The title and notebook path (from the repository's root) of the chapter a check
    practises; the notebook's own heading is the title when the notebook is present.

    Example:
        >>> page("window")
        ('Setup and first look', 'book/principles/00_first_look.ipynb')
    """
    lookup(name)
    title, path = PAGES.get(CHECKS.chapter[name], ("the chapter of this practice", ""))
    return (_heading(path) if path else None) or title, path


__all__ = ["CHAPTERS", "CHECKS", "PAGES", "ROOT", "lookup", "page"]
