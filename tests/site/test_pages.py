"""Every page of the table of contents, as a reader's browser shows it (issue 16).

Each page is visited once per width (see conftest.visit); the tests read what was measured.
"""

from __future__ import annotations

import re

import pytest
from browsing import PAGES, SITE, WIDTHS, cells_of, source_of

# Math in Markdown source: $...$ or $$...$$ (dollarmath), {math} roles, or math directives.
SOURCE_MATH = re.compile(r"\$[^$\n]+\$|\$\$|\{math\}|```\{math\}|:::\{math\}|\\begin\{")


@pytest.mark.parametrize("page", PAGES)
def test_loads_without_console_errors(visit, page):
    seen = visit(page)
    assert not seen.errors, f"{page}: {len(seen.errors)} console error(s):\n  " + "\n  ".join(seen.errors)


@pytest.mark.parametrize("page", PAGES)
def test_equations_are_typeset(visit, page):
    seen = visit(page).seen
    math = seen["math"]
    assert not math["untypeset"], f"{page}: math left untypeset by MathJax: {math['untypeset'][:5]}"
    assert not math["errors"], f"{page}: MathJax could not typeset: {math['errors'][:5]}"
    if any(SOURCE_MATH.search(text) for text in cells_of(page, "markdown")):
        assert math["containers"] > 0, f"{page}: its source has math, the page shows no typeset equation"
    assert math["containers"] >= math["elements"], f"{page}: {math}"
    assert not seen["rawTex"], (f"{page}: TeX shown as text ({len(seen['rawTex'])} place(s)):\n  "
                                + "\n  ".join(seen["rawTex"][:10]))


@pytest.mark.parametrize("page", PAGES)
def test_every_image_loads(visit, page):
    images = visit(page).seen["images"]
    broken = [image["src"] for image in images if not image["loaded"]]
    assert images, f"{page}: no image at all (not even the logo): did the page render?"
    assert not broken, f"{page}: {len(broken)} image(s) did not load: {broken}"


def meaningless_alt(alt: str | None) -> bool:
    """No alt, an empty one, or one that is only the image's file name or path."""
    return not alt or not alt.strip() or bool(
        re.fullmatch(r"\S*\.(png|jpe?g|gif|svg|webp)", alt.strip(), re.IGNORECASE))


@pytest.mark.parametrize("page", PAGES)
def test_figures_have_alt_text(visit, page):
    images = [image for image in visit(page).seen["images"] if image["inArticle"]]
    without = [f"{image['src'][:60]} (alt={image['alt']!r})"
               for image in images if meaningless_alt(image["alt"])]
    assert not without, f"{page}: {len(without)} figure(s) without a text alternative: {without[:5]}"


def _is_notebook(page: str) -> bool:
    return source_of(page).suffix == ".ipynb"


@pytest.mark.parametrize("page", PAGES)
def test_launch_and_download_buttons(visit, page):
    seen = visit(page).seen
    suffix = source_of(page).suffix
    assert seen["toggles"]["download"], f"{page}: no visible download button"
    assert seen["printButton"], f"{page}: no 'print to PDF' entry in the download menu"
    if page.startswith("exercises/"):
        # A practice offers its student version instead (test_student_versions.py checks it).
        notebook = f"practice/{page.split('/')[-1]}.ipynb"
        assert any(href.endswith(notebook) for href in seen["download"]), \
            f"{page}: the download menu offers no student notebook: {seen['download']}"
    else:
        notebook = f"{page}.ipynb"
        assert any(href.endswith(f"_sources/{page}{suffix}") for href in seen["download"]), \
            f"{page}: the download menu offers no {suffix} source: {seen['download']}"
        source = SITE / "_sources" / f"{page}{suffix}"
        assert source.is_file(), f"{page}: the downloadable source {source} is not in the site"
    if _is_notebook(page):
        assert seen["toggles"]["launch"], f"{page}: no visible launch button"
        for service in ("mybinder.org", "colab.research.google.com"):
            assert any(service in href and href.endswith(notebook) for href in seen["launch"]), \
                f"{page}: no launch link to {service} for this notebook: {seen['launch']}"


# What may scroll sideways, by width. A scroller is an element whose overflow-x scrolls or clips
# and whose visible content reaches more than 1 px past its box (measured from the boxes of its
# descendants, not scrollWidth, which also counts MathJax's hidden copy for screen readers).
# measure.js names its kind:
# - "code": a code cell's input, or a cell output that is preformatted text. Code keeps its lines.
# - "math": a display equation's box. On a laptop (1280 px) every equation must fit (site.js
#   shrinks one that is at most 30% too wide; report.json lists those); on a phone (390 px) a
#   long display equation may scroll inside its own box, the page itself does not.
# - "table": a table's scroll container. Allowed on a phone only, like math.
# Anything else that scrolls, anything that sticks out past the window's edge with no scroller
# around it, and a page wider than the window, fails.
ALLOWED_SCROLLERS = {1280: {"code"}, 390: {"code", "math", "table"}}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", PAGES)
def test_no_horizontal_overflow(visit, page, width):
    seen = visit(page, width).seen
    sticking = seen["sticking"]
    assert not sticking, f"{page} at {width} px: content sticks out of the window: {sticking[:5]}"
    assert seen["pageWidth"] <= seen["viewport"], (
        f"{page} at {width} px: the page is {seen['pageWidth']} px wide, the window {seen['viewport']} px")
    scrolling = [s for s in seen["scrollers"] if s["kind"] not in ALLOWED_SCROLLERS[width]]
    assert not scrolling, (f"{page} at {width} px: {len(scrolling)} element(s) scroll sideways:\n  "
                           + "\n  ".join(map(str, scrolling[:8])))


def test_no_request_leaves_localhost(visit, offsite):
    """Runs after the page tests (it visits what they did not): nothing asked for the web."""
    for page in PAGES:
        for width in WIDTHS:
            visit(page, width)
    assert not offsite.urls, (f"{len(offsite.urls)} request(s) off localhost (blocked): "
                              f"{sorted(set(offsite.urls))[:20]}")
