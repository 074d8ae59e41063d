"""Accessibility: axe-core finds no serious or critical violation on any page of the book.

axe-core comes vendored inside the axe-playwright-python package (its axe.min.js is injected
into the page; it fetches nothing from the web, which the offline test would catch).
"""

from __future__ import annotations

import pytest
from browsing import PAGES

#: axe's impact levels that fail the build; "minor" and "moderate" are reported, not failed.
FAILING = {"serious", "critical"}


def report(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} element(s)): {v['help']}")
        for node in v["nodes"][:3]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['html'][:140]}")
        lines.append(f"    see {v['helpUrl']}")
    return "\n  ".join(lines)


@pytest.mark.parametrize("page", PAGES)
def test_no_serious_accessibility_violations(visit, page):
    violations = visit(page).axe
    assert violations is not None, f"{page}: axe did not run"
    failing = [v for v in violations if v["impact"] in FAILING]
    assert not failing, f"{page}: {len(failing)} serious or critical axe violation(s):\n  {report(failing)}"
