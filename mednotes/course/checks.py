"""Immediate feedback for exercises: ``check(name, answer)`` prints ✅ or ❌ with a hint.

Each check knows how to get the reference answer from mednotes itself
(:mod:`mednotes.course.registry` lists them, the ``checks_<chapter>`` modules define them), and
:mod:`mednotes.course.compare` decides whether an answer matches. An answer may be a value, or
a function that the check calls on its own test inputs. A failed check prints the first hint;
``hint(name)`` hands out the next one, the idea first and then the formula or the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mednotes._checks import check_bool
from mednotes.course.compare import judge
from mednotes.course.registry import CHECKS, lookup, page

#: How many hints of each check a student has seen in this session (check name -> level).
_SHOWN: dict[str, int] = {}


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`~mednotes.course.check`; true when the answer passed.

    Args:
        name: the check's name.
        passed: whether the answer matched the reference.
        reason: what was wrong, in one sentence; empty when it passed.
        hint: the hint printed with a failure (level 1); empty when it passed.
        reread: the section to reread, a Markdown link relative to ``exercises/``.
    """

    name: str
    passed: bool
    reason: str = ""
    hint: str = ""
    reread: str = ""

    @property
    def message(self) -> str:
        """What :func:`~mednotes.course.check` prints: the verdict, and on failure the hint,
        how to get the next one and the section to reread."""
        if self.passed:
            return f"✅ {self.name}: correct."
        lines = [f"❌ {self.name}: {self.reason}.", f"   Hint: {self.hint}"]
        if len(lookup(self.name).hints) > 1:
            lines.append(f'   More help: hint("{self.name}") gives the next hint.')
        lines.append(f"   Reread: {self.reread}")
        return "\n".join(lines)

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """Show nothing in a notebook: check() has already printed the verdict."""


class CheckFailed(AssertionError):
    """Raised by ``check(..., strict=True)`` for an answer that did not pass.

    It is an ``AssertionError``, so that a graded cell fails as nbgrader expects, but a
    notebook shows it as one line under the verdict, not as a traceback.
    """

    def _render_traceback_(self) -> list[str]:  # IPython's hook for a custom traceback
        return [f"CheckFailed: {self}"]


def _reread(name: str) -> str:
    title, path = page(name)
    return f"[{title}](../{path})" if path else title


def check(name: str, answer: Any, *, strict: bool = False, quiet: bool = False) -> Verdict:
    """Compare ``answer`` with the reference for exercise ``name``; print a verdict.

    A wrong answer is never an exception: text, True/False, complex numbers, None, NaN, a
    wrong shape, a function that raises or takes the wrong arguments all print ❌ with what
    went wrong, a hint and the chapter to reread. Neither gives the answer away: a wrong number
    is told "too high" or "too low", and the hint names the idea or the formula, not the value.
    An unfinished exercise (``...`` or ``raise NotImplementedError``) is "not implemented yet".
    Only a ``name`` that is not a check raises (a ValueError that suggests close names).

    Args:
        name: the exercise's check name (see ``mednotes.course.CHECKS``).
        answer: a value, or a function that will be called on the check's test inputs.
        strict: raise ``CheckFailed`` (an ``AssertionError``) after printing a failure,
            so that an autograded cell fails; the graded cells of the practices use it.
        quiet: print nothing (a hidden graded test).

    Returns:
        A :class:`~mednotes.course.checks.Verdict`, true when the answer matches the
        reference (a notebook shows only the printed line).

    Explained in: every hands-on practice.

    Example:
        >>> check("water_hu", 0)
        ✅ water_hu: correct.
        Verdict(name='water_hu', passed=True, reason='', hint='', reread='')
        >>> bool(check("nyquist_after_stride", 0.5))
        ❌ nyquist_after_stride: the answer is too high.
           Hint: Sampling sets a limit on the frequencies a grid can represent: what is it for the grid that is left?
           More help: hint("nyquist_after_stride") gives the next hint.
           Reread: [Pooling, downsampling and aliasing](../book/principles/03_pooling.ipynb)
        False
        >>> bool(check("water_hu", "0", quiet=True))
        False
    """
    check_bool("strict", strict)
    check_bool("quiet", quiet)
    spec = lookup(name)
    why = judge(spec, answer)
    if why:
        _SHOWN[name] = max(_SHOWN.get(name, 0), 1)
        verdict = Verdict(name, False, why, spec.hints[0], _reread(name))
    else:
        verdict = Verdict(name, True)
    if not quiet:
        print(verdict.message)
    if strict and not verdict:
        raise CheckFailed(f"{name} has not passed yet (the line above says why)")
    return verdict


def hint(name: str) -> None:
    """Print the next hint for exercise ``name``: level 1 is the idea, level 2 the formula or
    the step. After the last level it prints the last one again, and says so. No hint states
    the answer.

    Args:
        name: the exercise's check name, as in ``check(name, answer)``.

    Example:
        >>> _ = _SHOWN.pop("air_hu", None)  # as if nothing had been asked yet
        >>> hint("air_hu")
        Hint 1 of 2 for air_hu: Hounsfield units are defined by two anchors, water and air; the scale is linear in the attenuation μ between them.
        >>> hint("air_hu")
        Hint 2 of 2 for air_hu: HU = 1000 · (μ − μ_water) / (μ_water − μ_air): put air's attenuation in for μ and simplify the fraction.
        >>> hint("air_hu")
        Hint 2 of 2 for air_hu (the last one): HU = 1000 · (μ − μ_water) / (μ_water − μ_air): put air's attenuation in for μ and simplify the fraction.
    """
    hints = lookup(name).hints
    seen = _SHOWN.get(name, 0)
    level = min(seen + 1, len(hints))
    again = " (the last one)" if seen >= len(hints) else ""
    _SHOWN[name] = level
    print(f"Hint {level} of {len(hints)} for {name}{again}: {hints[level - 1]}")


__all__ = ["CHECKS", "CheckFailed", "Verdict", "check", "hint"]
