"""Learning-rate schedules for fit(): the multiplier of the base rate at each step."""

from __future__ import annotations

import math

from mednotes._checks import check_choice, check_int, check_positive_int

SCHEDULES = ("constant", "cosine", "onecycle")
WARMUP = 0.2  # share of all steps that "onecycle" spends warming up
START = 0.04  # "onecycle" starts at this fraction of the peak rate


def lr_factor(schedule: str, step: int, total: int) -> float:
    """The factor that multiplies the base learning rate at ``step`` (0-based) of ``total``.

    - ``"constant"``: always 1.
    - ``"cosine"``: half a cosine from 1 down towards 0 over all steps.
    - ``"onecycle"``: a linear warm-up from ``START`` to 1 over the first ``WARMUP`` of the
      steps, then half a cosine down towards 0 (Smith and Topin's one-cycle policy). The
      warm-up lets a large peak rate be used safely; the decay settles the weights.

    Args:
        schedule: ``"constant"``, ``"cosine"`` or ``"onecycle"``.
        step: the step number, an int in ``[0, total)``.
        total: the number of steps in the whole run, >= 1.

    Example:
        >>> [round(lr_factor("onecycle", s, 10), 2) for s in range(10)]
        [0.04, 0.52, 1.0, 0.96, 0.85, 0.69, 0.5, 0.31, 0.15, 0.04]
        >>> lr_factor("constant", 7, 10), round(lr_factor("cosine", 5, 10), 2)
        (1.0, 0.5)
    """
    check_choice("schedule", schedule, SCHEDULES)
    total = check_positive_int("total", total)
    step = check_int("step", step, 0)
    if step >= total:
        raise ValueError(f"step must be in [0, total), got step={step}, total={total}")
    progress = step / total
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    warm = max(1, round(WARMUP * total))
    if step < warm:
        return START + (1 - START) * step / warm
    return 0.5 * (1 + math.cos(math.pi * (step - warm) / (total - warm)))
