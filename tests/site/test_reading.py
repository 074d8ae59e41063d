"""What a reader does besides reading: play a static twin, search the book (issue 16)."""

from __future__ import annotations

import pytest
from browsing import KEY_PAGES, PAGES, SCREENSHOTS, cells_of, open_page

#: Pages whose code shows a static twin: the frame player of mednotes.widgets.animation_html.
TWIN_PAGES = [page for page in PAGES if any("animation_html(" in code for code in cells_of(page, "code"))]


def test_the_book_has_static_twins():
    assert TWIN_PAGES, "no page of _toc.yml calls animation_html: the twin test would check nothing"


@pytest.mark.parametrize("page", TWIN_PAGES)
def test_static_twins_move(new_page, page):
    tab, errors = open_page(new_page, page, 1280)
    calls = sum(code.count("animation_html(") for code in cells_of(page, "code"))
    players = tab.locator("div.animation")
    assert players.count() >= calls, \
        f"{page}: its code shows {calls} player(s), the page has {players.count()}"
    for i in range(players.count()):
        player = players.nth(i)
        frame = player.locator("img[id^='_anim_img']")
        first = frame.get_attribute("src")
        assert first and first.startswith("data:image/"), f"{page}: player {i + 1} shows no frame"

        player.get_by_role("button", name="Next frame", exact=True).click()
        assert frame.get_attribute("src") != first, \
            f"{page}: player {i + 1}: 'Next frame' did not change the picture"
        player.get_by_role("button", name="First frame", exact=True).click()
        assert frame.get_attribute("src") == first, f"{page}: player {i + 1}: 'First frame' did not go back"

        player.get_by_role("button", name="Play", exact=True).click()
        handle = frame.element_handle()
        tab.wait_for_function("([img, first]) => img.getAttribute('src') !== first", arg=[handle, first],
                              timeout=10_000)
        player.get_by_role("button", name="Pause", exact=True).click()
        if i == 0 and page in KEY_PAGES:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            player.screenshot(path=str(SCREENSHOTS / f"{page.replace('/', '--')}-player.png"))
    assert not errors, f"{page}: console errors while playing: {errors}"
    tab.context.close()


@pytest.mark.parametrize(("term", "page"), [("Dice", "book/principles/05_losses"),
                                            ("aliasing", "book/principles/03_pooling")])
def test_search_finds(new_page, term, page):
    tab, errors = open_page(new_page, "search", 1280)
    tab.goto(f"search.html?q={term}")
    tab.wait_for_function("() => /found/i.test(document.querySelector('.search-summary')?.textContent || '')",
                          timeout=60_000)
    found = tab.eval_on_selector_all("#search-results ul.search li a",
                                     "links => links.map(a => a.getAttribute('href'))")
    assert any(href.split("?")[0].split("#")[0].endswith(f"{page}.html") for href in found), \
        f"searching {term!r} did not find {page}: {found[:10]}"
    if term == "Dice":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / "search-Dice-1280px.png"))
    assert not errors, f"search page: console errors: {errors}"
    tab.context.close()
