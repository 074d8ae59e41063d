"""Immediate feedback for exercises: ``check(name, answer)`` prints ✅ or ❌ with a hint.

Each check knows how to get the reference answer from mednotes itself
(:mod:`mednotes.course.registry` lists them, the ``checks_<chapter>`` modules define them), and
:mod:`mednotes.course.compare` decides whether an answer matches. An answer may be a value, or
a function that the check calls on its own test inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mednotes.course.compare import judge
from mednotes.course.registry import CHECKS, lookup


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`~mednotes.course.check`; true when the answer passed.

    Args:
        name: the check's name.
        passed: whether the answer matched the reference.
        reason: what was wrong, in one sentence; empty when it passed.
    """

    name: str
    passed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """Show nothing in a notebook: check() has already printed the verdict."""


def check(name: str, answer: Any) -> Verdict:
    """Compare ``answer`` with the reference for exercise ``name``; print a verdict.

    A wrong answer is never an exception: text, True/False, complex numbers, None, NaN, a
    wrong shape, a function that raises or takes the wrong arguments all print ❌ with what
    went wrong and a hint. Neither gives the answer away: a wrong number is told "too high" or
    "too low", and the hint names the idea or the formula, not the value. Only a ``name`` that
    is not a check raises (a ValueError that suggests close names).

    Args:
        name: the exercise's check name (see ``mednotes.course.CHECKS``).
        answer: a value, or a function that will be called on the check's test inputs.

    Returns:
        A :class:`~mednotes.course.checks.Verdict`, true when the answer matches the
        reference (a notebook shows only the printed line).

    Explained in: every hands-on practice.

    Example:
        >>> check("water_hu", 0)
        ✅ water_hu: correct.
        Verdict(name='water_hu', passed=True, reason='')
        >>> bool(check("nyquist_after_stride", 0.5))
        ❌ nyquist_after_stride: the answer is too high.
           Hint: Keeping every s-th pixel leaves 1/s samples per original pixel, and a grid represents frequencies up to half of its sampling rate.
        False
        >>> bool(check("water_hu", "0"))
        ❌ water_hu: the answer is a str '0'; give a number, not text in quotes.
           Hint: HU = 1000 · (μ − μ_water) / (μ_water − μ_air): put water's own attenuation in for μ.
        False
    """
    spec = lookup(name)
    why = judge(spec, answer)
    if why:
        print(f"❌ {name}: {why}.\n   Hint: {spec.hint}")
    else:
        print(f"✅ {name}: correct.")
    return Verdict(name, not why, why)


__all__ = ["CHECKS", "Verdict", "check"]
