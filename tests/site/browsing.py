"""What the site tests share: where things are, the pages to visit, the server, how a page is opened.

Settings, all optional (environment variables):

- ``SITE``: the built site (default ``_build/html``);
- ``CHROMIUM``: the browser to drive (default ``/usr/bin/chromium``; Playwright downloads nothing);
- ``SCREENSHOTS``: where page pictures go (default ``screenshots/`` beside the site's ``html/``,
  so ``_build/screenshots/`` for the default site).
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("SITE", ROOT / "_build" / "html")).resolve()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS", SITE.parent / "screenshots"))
#: The checkout the site was built from (``<book>/_build/html``): its table of contents and
#: sources say what the site must contain. Falls back to this repository.
BOOK = SITE.parents[1] if (SITE.parents[1] / "_toc.yml").is_file() else ROOT
LOCAL_HOSTS = {"localhost", "127.0.0.1"}
#: The two widths every page must fit: a laptop and a phone (CSS pixels).
WIDTHS = (1280, 390)
#: Pages whose pictures are kept for a human to look at (see SCREENSHOTS).
KEY_PAGES = ("book/index", "book/principles/01_convolution", "book/principles/03_pooling",
             "book/principles/05_losses", "exercises/06_predicting_aliasing", "book/reference/api")
#: What a page looks like to the checks, measured in the page itself once it has settled.
MEASURE = Path(__file__).with_name("measure.js").read_text(encoding="utf-8")


def toc_pages(toc: Path = BOOK / "_toc.yml") -> list[str]:
    """Every document of the table of contents, in reading order, without its suffix."""
    spec = importlib.util.spec_from_file_location("build_report", ROOT / "tools" / "build_report.py")
    build_report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_report)
    return [re.sub(r"\.(md|ipynb|rst)$", "", page) for page in build_report.toc_documents(toc)]


PAGES = toc_pages()


def source_of(page: str) -> Path:
    """The file a page was built from (a notebook or a Markdown file)."""
    for suffix in (".ipynb", ".md"):
        if (BOOK / f"{page}{suffix}").is_file():
            return BOOK / f"{page}{suffix}"
    raise FileNotFoundError(f"_toc.yml names {page}, which has no .ipynb or .md source")


def cells_of(page: str, kind: str) -> list[str]:
    """The sources of a page's cells of one kind ("markdown" or "code"); a .md page is one Markdown cell."""
    path = source_of(page)
    if path.suffix == ".md":
        return [path.read_text(encoding="utf-8")] if kind == "markdown" else []
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == kind]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site without logging each request (a 404 still reaches the browser's console)."""

    def log_message(self, format, *args):
        pass


@dataclass
class Offsite:
    """Requests aimed off localhost: all aborted, all listed here."""

    urls: list[str] = field(default_factory=list)

    def route(self, route):
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.urls.append(url)
            route.abort("blockedbyclient")

    def websocket(self, ws):
        if urlsplit(ws.url).hostname not in LOCAL_HOSTS:
            self.urls.append(ws.url)


@dataclass
class Visit:
    """What one page showed at one width: its errors, measure.js's findings, axe's violations."""

    page: str
    width: int
    errors: list[str]
    seen: dict
    axe: list[dict] | None = None


def open_page(make_page, name: str, width: int):
    """Load ``name`` (a toc entry) at ``width`` and wait until math, images and widgets have settled.

    Returns:
        (page, errors): the open page, and its console errors and uncaught exceptions (a list
        that keeps growing while the page stays open).
    """
    page = make_page(width)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console.error: {msg.text} ({msg.location.get('url', '')})")
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.goto(f"{name}.html", wait_until="networkidle")
    # The ipywidgets manager draws each saved widget view into a div after its script tag.
    page.wait_for_function("""() => [...document.querySelectorAll(
        'script[type="application/vnd.jupyter.widget-view+json"]')]
        .every(s => s.parentElement.querySelector('.widget-subarea > *'))""")
    # MathJax typesets after its startup promise resolves; lazy images load only when asked.
    page.evaluate("""async () => {
        if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
        await Promise.all([...document.images].map(img => {
            img.loading = 'eager';
            return img.decode().catch(() => null);
        }));
        await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    }""")
    page.wait_for_load_state("networkidle")
    return page, errors


#: axe-core, as vendored by the axe-playwright-python package (read from its installed files).
def axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


# axe's colour-contrast rule costs about 10 ms per element; a chapter's highlighted code has
# thousands of tokens (a minute per page). Code takes its colours from one highlighting style,
# so one token of each highlighting class stands for all of them.
_RUN_AXE = """async () => {
    const options = {resultTypes: ["violations"]};
    const runs = [
        await axe.run(document, {...options, rules: {"color-contrast": {enabled: false}}}),
        await axe.run({exclude: [[".highlight"]]}, {...options, runOnly: ["color-contrast"]}),
    ];
    const samples = new Map();
    for (const token of document.querySelectorAll(".highlight pre span[class]")) {
        if (!samples.has(token.className) && token.textContent.trim()) samples.set(token.className, token);
    }
    if (samples.size) {
        runs.push(await axe.run({include: [...samples.values()]}, {...options, runOnly: ["color-contrast"]}));
    }
    const byRule = new Map();
    for (const run of runs) {
        for (const v of run.violations) {
            if (byRule.has(v.id)) byRule.get(v.id).nodes.push(...v.nodes);
            else byRule.set(v.id, v);
        }
    }
    return [...byRule.values()].map(v => ({
        id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
        nodes: v.nodes.map(n => ({target: n.target, html: n.html, summary: n.failureSummary}))}));
}"""


def run_axe(page, source: str) -> list[dict]:
    """axe-core's violations on the open page (all rules; colour contrast of code by sample)."""
    page.evaluate(source)
    return page.evaluate(_RUN_AXE)
