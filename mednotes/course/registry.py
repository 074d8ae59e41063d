"""Every exercise check by name, collected from the ``checks_<chapter>`` modules.

To add a practice, write its checks in the module of its chapter (or a new
``checks_<chapter>.py`` listed in :data:`CHAPTERS`); :data:`CHECKS` picks them up.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping

from mednotes._checks import describe
from mednotes.course.compare import Check

#: The modules holding the checks, one per chapter, in the book's order.
CHAPTERS = ("checks_first_look", "checks_convolution", "checks_layers", "checks_pooling",
            "checks_unet", "checks_losses", "checks_resnets", "checks_neuroradiology",
            "checks_pathology", "checks_ophthalmology", "checks_trust")


class _Checks(Mapping):
    """A read-only dict of every check, built on first use.

    Building the checks loads images and builds layers; importing :mod:`mednotes.course`
    in every exercise should not pay for that until a check runs or the dict is read.
    """

    def __init__(self) -> None:
        self._checks: dict[str, Check] | None = None

    def _load(self) -> dict[str, Check]:
        if self._checks is None:
            merged: dict[str, Check] = {}
            for chapter in CHAPTERS:
                module = importlib.import_module(f"mednotes.course.{chapter}")
                for name, spec in module.checks().items():
                    if name in merged:
                        raise RuntimeError(f"check {name!r} is defined twice (again in {chapter})")
                    merged[name] = spec
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
        >>> lookup("windw")
        Traceback (most recent call last):
        ...
        ValueError: unknown check 'windw'; did you mean 'window'? (mednotes.course.CHECKS lists all 48)
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


__all__ = ["CHAPTERS", "CHECKS", "lookup"]
