"""The built website in a real browser: served on localhost, each page visited once per width.

Run with ``make test-site`` after ``make book`` (settings: see browsing.py). Every request for a
host other than localhost is aborted and recorded: the site must work with no network, and
test_pages.test_no_request_leaves_localhost checks that nothing tried.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest
from browsing import (
    CHROMIUM,
    KEY_PAGES,
    MEASURE,
    SCREENSHOTS,
    SITE,
    WIDTHS,
    Offsite,
    QuietHandler,
    Visit,
    axe_source,
    open_page,
    run_axe,
)


@pytest.fixture(scope="session")
def site_url():
    """The built site, served on 127.0.0.1 at a free port for the whole session."""
    if not (SITE / "index.html").is_file():
        pytest.exit(f"no built site at {SITE}: run `make book` first (or set SITE=path/to/html)",
                    returncode=1)
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def offsite() -> Offsite:
    """Every request aimed off localhost during the session (all of them were aborted)."""
    return Offsite()


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, driven by Playwright (which downloads no browser of its own)."""
    if not Path(CHROMIUM).is_file():
        pytest.exit(f"no chromium at {CHROMIUM}: install it (apt-get install chromium) "
                    "or set CHROMIUM=/path/to/chromium", returncode=1)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def new_page(browser, site_url, offsite):
    """``new_page(width)``: a page in a fresh browser context, with off-site requests blocked."""
    def make(width: int = 1280, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=site_url,
                                      service_workers="block")
        context.route("**/*", offsite.route)
        page = context.new_page()
        page.on("websocket", offsite.websocket)
        page.set_default_timeout(30_000)
        return page

    return make


@pytest.fixture(scope="session")
def visit(new_page):
    """``visit(name, width)``: what the page showed, measured once per session and width.

    At the first width the page is also checked with axe-core (vendored by
    axe-playwright-python); key pages are photographed into SCREENSHOTS, and a summary of every
    visit is written there as report.json at the end of the session.
    """
    axe = axe_source()
    cache: dict[tuple[str, int], Visit] = {}

    def get(name: str, width: int = WIDTHS[0]) -> Visit:
        if (name, width) not in cache:
            page, errors = open_page(new_page, name, width)
            seen = page.evaluate(MEASURE)
            errors = list(errors)  # what the page itself logged; axe's own fetches come later
            violations = None
            if width == WIDTHS[0]:
                violations = run_axe(page, axe)
            if name in KEY_PAGES:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / f"{name.replace('/', '--')}-{width}px.png"))
            cache[name, width] = Visit(name, width, errors, seen, violations)
            page.context.close()
        return cache[name, width]

    yield get
    if cache:  # a summary beside the screenshots, for the person who reads the run
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        summary = {f"{v.page} @ {v.width}px": {
            "console_errors": v.errors,
            "equations": v.seen["math"]["containers"], "equations_shrunk_to_fit": v.seen["shrunk"],
            "images": len(v.seen["images"]), "players": v.seen["players"],
            "sideways_scrollers": sorted({s["kind"] for s in v.seen["scrollers"]}),
            "axe": None if v.axe is None else {
                x["id"]: f"{x['impact']}, {len(x['nodes'])} element(s)" for x in v.axe},
        } for v in cache.values()}
        (SCREENSHOTS / "report.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False),
                                                 encoding="utf-8")
