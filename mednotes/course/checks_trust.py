"""Checks for the trust chapter's practice (Part II, Applications).

Filled in with the chapter; until then it contributes no checks.
"""

from __future__ import annotations

from mednotes.course.compare import Check


def checks() -> dict[str, Check]:
    """The checks of this chapter's practice, by name."""
    return {}
