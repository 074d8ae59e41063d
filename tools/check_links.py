"""Check the built site's internal links: every <a href> on the site reaches a page, and an anchor on it.

Usage: python tools/check_links.py _build/html
Exits non-zero, listing each broken link with the page it is on, when a link inside the site
points to a file that does not exist or to a ``#fragment`` that no element of the target page
carries as its ``id`` (or, on an ``<a>``, its ``name``).

What counts as internal: a relative href (``../book/principles/03_pooling.html#aliasing``,
``#summary``) or one that starts with ``/``. Links to other sites (``https://...``,
``mailto:``, ``//host/...``) are the reader's choice to follow and are not fetched: the site
must work offline. A bare ``#`` (the theme's buttons) points nowhere on purpose and is skipped.
The check reads the HTML as it was written; ids that scripts add after loading do not count.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Broken:
    """One link that does not resolve: where it is, what it says, and why it fails."""

    page: str
    href: str
    reason: str

    def __str__(self) -> str:
        return f"{self.page}: {self.href} ({self.reason})"


class _Page(HTMLParser):
    """The ids and the <a href> targets of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "a":
            if values.get("name"):
                self.ids.add(values["name"])
            if values.get("href") is not None:
                self.hrefs.append(values["href"])

    handle_startendtag = handle_starttag


def read_page(path: Path) -> tuple[set[str], list[str]]:
    """The element ids (and ``<a name>``) of the page at ``path``, and the hrefs of its links.

    Example:
        >>> import tempfile
        >>> page = Path(tempfile.mkdtemp()) / "p.html"
        >>> _ = page.write_text('<h2 id="a">A</h2><a href="#a">x</a><a name="b" href="q.html">y</a>')
        >>> ids, hrefs = read_page(page)
        >>> sorted(ids), hrefs
        (['a', 'b'], ['#a', 'q.html'])
    """
    parser = _Page()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser.ids, parser.hrefs


def is_internal(href: str) -> bool:
    """Whether ``href`` names a place on this site (a relative or root-relative link).

    Example:
        >>> [is_internal(h) for h in ("../a.html#x", "#top", "/b.html", "https://x.org", "//cdn/x.js", "#")]
        [True, True, True, False, False, False]
    """
    href = href.strip()
    if not href or href == "#":
        return False
    parts = urlsplit(href)
    return not parts.scheme and not parts.netloc


def target_of(site: Path, page: Path, href: str) -> tuple[Path, str]:
    """The file and the (unquoted) fragment an internal ``href`` on ``page`` points to.

    A directory stands for its ``index.html``. A root-relative href (``/x.html``) is taken
    relative to the site's top folder.
    """
    parts = urlsplit(href.strip())
    path = unquote(parts.path)
    if not path:
        target = page
    elif path.startswith("/"):
        target = site / path.lstrip("/")
    else:
        target = page.parent / path
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def check(site: Path) -> tuple[list[Broken], int, int]:
    """Every broken internal link of the site at ``site``.

    Returns:
        (broken, pages, links): the broken links (sorted by page), the number of HTML pages read
        and the number of internal links checked.
    """
    site = site.resolve()
    pages = sorted(site.rglob("*.html"))
    ids = {}
    hrefs = {}
    for page in pages:
        ids[page], hrefs[page] = read_page(page)
    broken: list[Broken] = []
    checked = 0
    for page in pages:
        for href in hrefs[page]:
            if not is_internal(href):
                continue
            checked += 1
            name = page.relative_to(site).as_posix()
            target, fragment = target_of(site, page, href)
            try:
                target = target.resolve()
                target.relative_to(site)
            except ValueError:
                broken.append(Broken(name, href, "points outside the site"))
                continue
            if not target.is_file():
                broken.append(Broken(name, href, f"no file {target.relative_to(site).as_posix()}"))
                continue
            if not fragment:
                continue
            if target.suffix != ".html":
                broken.append(Broken(name, href, f"an anchor into {target.suffix or 'a file'}, not a page"))
                continue
            if target not in ids:
                ids[target], hrefs[target] = read_page(target)
            if fragment not in ids[target]:
                where = target.relative_to(site).as_posix()
                broken.append(Broken(name, href, f"no id {fragment!r} on {where}"))
    return broken, len(pages), checked


def main(site: Path) -> int:
    if not (site / "index.html").is_file():
        print(f"link check: no built site at {site} (no index.html)")
        return 1
    broken, pages, links = check(site)
    for link in broken:
        print("link check:", link)
    print(f"link check: {pages} pages, {links} internal links, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
