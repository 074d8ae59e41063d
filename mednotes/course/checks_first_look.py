"""Checks for the first-look chapter"s practice: Hounsfield units and display windows.

Used by ``exercises/00_hounsfield_units.ipynb``; the chapter is ``book/principles/00_first_look``.
"""

from __future__ import annotations

import torch

from mednotes.course.compare import Check, refined
from mednotes.data import ct_slice, window


def _ct_raw_and_rescale() -> tuple[torch.Tensor, float, float]:
    """The shipped CT slice as the scanner stored it, with its rescale slope and intercept."""
    hu, meta = ct_slice()
    slope, intercept = meta["rescale"]
    return ((hu - intercept) / slope).round(), slope, intercept


#: The first hint of each check: the idea, before the formula or the step.
IDEAS = {
    "water_hu": (
        "Hounsfield units are defined by two anchors, water and air; the scale is linear "
        "in the attenuation μ between them."
    ),
    "air_hu": (
        "Hounsfield units are defined by two anchors, water and air; the scale is linear "
        "in the attenuation μ between them."
    ),
    "hu_from_raw": (
        "The scanner stores integers; the DICOM header says how to map them back to HU "
        "with a straight line."
    ),
    "window": (
        "A window chooses which HU range fills the grey scale from black to white; "
        "everything outside it saturates."
    ),
}

#: What the feedback calls each test input of the function exercises.
CASE_NAMES = {
    "hu_from_raw": (
        "the shipped CT slice case",
        "the slope-1 case",
        "the slope-0.5 case",
    ),
    "window": (
        "the soft-tissue window case, with values on both sides outside it",
        "the narrow window case",
    ),
}


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    raw, slope, intercept = _ct_raw_and_rescale()
    return refined({
        "hu_from_raw": Check(
            reference=lambda stored, s, b: stored * s + b,
            cases=((raw, slope, intercept), (torch.tensor([0.0, 1000.0, 2024.0]), 1.0, -1024.0),
                   (torch.tensor([10.0, 20.0]), 0.5, -100.0)),
            hint="HU = stored value × RescaleSlope + RescaleIntercept, element by element.",
        ),
        "window": Check(
            reference=lambda hu, c, w: window(hu, c, w),
            cases=((torch.tensor([-1000.0, -160.0, 40.0, 240.0, 2000.0]), 40.0, 400.0),
                   (torch.linspace(-100, 200, 7), 50.0, 100.0)),
            hint="Map [centre − width/2, centre + width/2] linearly to [0, 1], then clip "
                 "values outside the window to 0 and 1 (torch.clamp).",
        ),
        # The two anchors are exact by definition, so they are compared exactly (integers).
        "water_hu": Check(
            reference=lambda: 0,
            hint="HU = 1000 · (μ − μ_water) / (μ_water − μ_air): put water's own attenuation "
                 "in for μ."),
        "air_hu": Check(
            reference=lambda: -1000,
            hint="HU = 1000 · (μ − μ_water) / (μ_water − μ_air): put air's attenuation in for "
                 "μ and simplify the fraction."),
    }, ideas=IDEAS, names=CASE_NAMES)


__all__ = ["CASE_NAMES", "IDEAS", "checks"]
