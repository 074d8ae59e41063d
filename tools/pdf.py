"""Print the whole book as one PDF: the singlehtml build, laid out by headless chromium.

Usage: python tools/pdf.py [--site _build/singlehtml] [--out _build/pdf/book.pdf]

``make pdf`` first builds the one-page site (``jupyter-book build . --builder singlehtml``,
which reuses the execution cache of ``make book``: with a warm cache no notebook runs again),
then runs this script. It needs no network: the page is served on 127.0.0.1 and every request
for another host is refused.

How the page becomes a book:

- chromium (Debian's, driven by Playwright, which downloads no browser; ``CHROMIUM=path`` picks
  another) loads the page as the website does, and the script waits until MathJax has typeset
  every equation, the widget manager has drawn the explorers and every image is decoded;
- ``book/_vendor/print/print.js`` and ``print.css`` make it a book: a title page, a table of
  contents with parts and chapters (numbered as on the website; practices and reference
  unnumbered), a divider page per part, each chapter on a new page, and for each explorer its
  static twin's first frame with a note (the controls only work on a screen);
- the page is printed twice: chromium cannot put page numbers into a table of contents (CSS
  ``target-counter`` is not supported), so the first printing is read back (the PDF's named
  destinations say on which page each chapter starts), the numbers are written into the
  contents, and the page is printed again; a third printing is made only if the numbers moved.

The PDF has bookmarks (the headings) and its table of contents and cross-references are links.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import http.server
import os
import re
import sys
import threading
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PRINT = ROOT / "book" / "_vendor" / "print"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

#: A4 with these margins; the page is laid out (and its scripts measure) at the text width.
MARGIN = {"top": "15mm", "bottom": "16mm", "left": "16mm", "right": "16mm"}
TEXT_WIDTH_PX = round((210 - 32) / 25.4 * 96)
FOOTER = ('<div style="width:100%;font-size:9pt;color:#444;text-align:center;'
          'font-family:sans-serif"><span class="pageNumber"></span></div>')

# What the page must have finished before it is printed (as tests/site/browsing.py waits).
# MathJax loads after the page: its startup promise exists once it has, and resolves when the
# first typesetting is done. (singlehtml keeps no widget state, so the explorers' widgets are
# not drawn: print.js puts a note in their place, and their static twins show them.)
_MATHJAX_STARTED = """() => !document.querySelector('script[src*="mathjax"]') ||
    !!(window.MathJax && MathJax.startup && MathJax.startup.promise)"""
_SETTLE = """async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    await Promise.all([...document.images].map(img => {
        img.loading = 'eager';
        return img.decode().catch(() => null);
    }));
    await document.fonts.ready;
    await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    return document.querySelectorAll('mjx-container').length;
}"""


# --- Reading a printed PDF back (chromium's: plain objects, a classic cross-reference table) ---

def _objects(data: bytes) -> dict[int, bytes]:
    """Each object's dictionary (what precedes its stream, if any), by object number."""
    start = re.findall(rb"startxref\s+(\d+)", data)
    if not start:
        raise ValueError("not a PDF with a cross-reference table (no startxref)")
    table = re.match(rb"xref\s+(\d+)\s+(\d+)\s+", data[int(start[-1]):])
    if not table:
        raise ValueError("the PDF's cross-reference table could not be read")
    first, count = int(table.group(1)), int(table.group(2))
    entries = int(start[-1]) + table.end()
    head, end = re.compile(rb"(\d+) \d+ obj\s*"), re.compile(rb"endobj|\nstream\b")
    objects = {}
    for i in range(count):
        offset, _, kind = data[entries + 20 * i:entries + 20 * i + 18].split()
        if kind != b"n":
            continue
        match = head.match(data, int(offset))
        if match is None:
            raise ValueError(f"object {first + i} is not where the cross-reference table says")
        stop = end.search(data, match.end())
        objects[int(match.group(1))] = data[match.end():stop.start() if stop else len(data)]
    return objects


def _root(data: bytes, objects: dict[int, bytes]) -> bytes:
    root = re.findall(rb"/Root (\d+) 0 R", data)
    if not root:
        raise ValueError("the PDF has no /Root (catalog)")
    return objects[int(root[-1])]


def _page_order(objects: dict[int, bytes], node: int) -> list[int]:
    """The page objects under a /Pages node, in reading order."""
    body = objects[node]
    if re.search(rb"/Type\s*/Pages\b", body):
        kids = re.search(rb"/Kids\s*\[([^\]]*)\]", body)
        refs = [int(n) for n in re.findall(rb"(\d+) 0 R", kids.group(1))] if kids else []
        return [page for kid in refs for page in _page_order(objects, kid)]
    return [node]


def _name(raw: bytes) -> str:
    """A PDF name's text (``#xx`` escapes undone)."""
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw).decode(
        "utf-8", "replace")


def _string(raw: bytes) -> str:
    """A PDF text string, given with its delimiters: ``(literal)`` or ``<hex>``."""
    if raw.startswith(b"<"):
        data = bytes.fromhex(raw[1:-1].decode("ascii"))
    else:
        escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
        data = re.sub(rb"\\([0-7]{1,3}|.)", lambda m: bytes([int(m.group(1), 8)])
                      if m.group(1)[:1].isdigit() else escapes.get(m.group(1), m.group(1)),
                      raw[1:-1], flags=re.DOTALL)
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be", "replace")
    return data.decode("latin-1")


def pdf_pages(data: bytes) -> int:
    """How many pages a PDF printed by chromium has."""
    objects = _objects(data)
    pages = re.search(rb"/Pages (\d+) 0 R", _root(data, objects))
    return len(_page_order(objects, int(pages.group(1))))


def pdf_destinations(data: bytes) -> dict[str, int]:
    """The page (counted from 1) of each named destination: chromium names one for every
    element that a link in the document points to, after the element's id."""
    objects = _objects(data)
    root = _root(data, objects)
    pages = _page_order(objects, int(re.search(rb"/Pages (\d+) 0 R", root).group(1)))
    number = {page: i + 1 for i, page in enumerate(pages)}
    dests = re.search(rb"/Dests (\d+) 0 R", root)
    if not dests:
        return {}
    found = {}
    for name, page in re.findall(rb"/([^\s/\[\]<>()]+)\s*\[\s*(\d+) 0 R", objects[int(dests.group(1))]):
        if int(page) in number:
            found[_name(name)] = number[int(page)]
    return found


def pdf_outline(data: bytes) -> list[str]:
    """The titles of the PDF's bookmarks (chromium makes them from the headings)."""
    strings = rb"(\((?:\\.|[^\\)])*\)|<[0-9A-Fa-f\s]*>)"
    return [_string(s) for s in re.findall(rb"/Title\s*" + strings, data, flags=re.DOTALL)]


# --- Serving and printing ---

def book_page(site: Path) -> Path:
    """The HTML file that holds the book: ``index.html``, or the page it redirects to
    (Jupyter Book's singlehtml writes the book to ``<root document>.html``)."""
    index = site / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"no index.html in {site}: build it first "
                                "(jupyter-book build . --builder singlehtml)")
    text = index.read_text(encoding="utf-8", errors="replace")
    redirect = re.search(r'http-equiv="Refresh"\s+content="\d+;\s*url=([^"]+)"', text, re.IGNORECASE)
    page = (site / redirect.group(1) if redirect else index).resolve()
    if not page.is_file() or not page.is_relative_to(site.resolve()):
        raise FileNotFoundError(f"{index} redirects to {redirect.group(1)}, which is not a page "
                                f"of {site}")
    return page


class _Handler(http.server.SimpleHTTPRequestHandler):
    """The site's files; the book's page at ``/``. singlehtml writes the page's links relative
    to the site's root (``_static/...``) whatever folder the page is in."""

    page: Path

    def do_GET(self):
        if urlsplit(self.path).path in ("/", "/index.html"):
            body = self.page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()

    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serve(site: Path, page: Path):
    """Serve ``site`` on 127.0.0.1 (a free port), with ``page`` at ``/``; yields the URL."""
    handler = type("Handler", (_Handler,), {"page": page})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(handler, directory=str(site)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def book_info(config: Path = ROOT / "_config.yml") -> dict:
    """The title page's text, from the book's configuration (``_config.yml``)."""
    import yaml

    settings = yaml.safe_load(config.read_text(encoding="utf-8")) if config.is_file() else {}
    url = (settings.get("repository") or {}).get("url", "")
    author = settings.get("author", "")
    copyright = str(settings.get("copyright", "")).strip()
    return {
        "title": settings.get("title", ""),
        "author": author,
        "date": f"Printed on {date.today():%d %B %Y}" + (f"; © {copyright} {author}" if copyright else ""),
        "note": "The explorers and animations are interactive on the website and in the notebooks.",
        "source": f"Source: {url}" if url else "",
    }


def _event_loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def print_book(site: Path, out: Path, *, info: dict | None = None, chromium: str = CHROMIUM,
               timeout_s: float = 180) -> dict:
    """Print the singlehtml site in ``site`` to the PDF ``out``.

    Args:
        site: the singlehtml build (its ``index.html``, or the page that one redirects to, is the
            whole book).
        out: the PDF to write (its folder is created).
        info: the title page's ``title``, ``subtitle``, ``author``, ``date``, ``note`` and
            ``source`` lines; by default from ``_config.yml`` (:func:`book_info`).
        chromium: the browser's executable.
        timeout_s: how long the page may take to load and settle.

    Returns:
        A summary: ``pages``, ``bytes``, ``chapters``, ``parts``, ``twins``, ``widgets``,
        ``toc`` (target id -> the page the PDF puts it on), ``toc_printed`` (target id -> the
        number the contents print for it), ``toc_missing``, ``printings``, ``equations``,
        ``offsite`` (refused requests), ``errors`` (the page's console errors), ``seconds`` and
        ``times`` (seconds to load and settle, and for each printing).
    """
    if _event_loop_running():
        # Playwright's sync API refuses to start inside a running asyncio loop (a notebook, or a
        # pytest session whose browser fixtures already hold one); a thread of its own has none.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(print_book, site, out, info=info, chromium=chromium,
                               timeout_s=timeout_s).result()
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    if not Path(chromium).is_file():
        raise FileNotFoundError(f"no chromium at {chromium}: install it (apt-get install chromium) "
                                "or set CHROMIUM=/path/to/chromium")
    site = site.resolve()
    page_file = book_page(site)
    # Where the page really is: links that singlehtml writes as "<that path>#id" stay inside.
    info = {**book_info(), **(info or {}), "pagePath": "/" + page_file.relative_to(site).as_posix()}
    offsite: list[str] = []
    errors: list[str] = []
    times: dict[str, float] = {}

    def route(request_route):
        url = request_route.request.url
        if urlsplit(url).path == "/searchindex.js" and not (site / "searchindex.js").is_file():
            request_route.fulfill(body="", content_type="text/javascript")  # singlehtml has none
        elif urlsplit(url).hostname in ("127.0.0.1", "localhost") or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            offsite.append(url)
            request_route.abort("blockedbyclient")

    options = {"format": "A4", "margin": MARGIN, "print_background": True, "outline": True,
               "tagged": True, "display_header_footer": True, "header_template": "<span></span>",
               "footer_template": FOOTER}
    with serve(site, page_file) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": TEXT_WIDTH_PX, "height": 1000},
                                          service_workers="block")
            context.route("**/*", route)
            page = context.new_page()
            page.set_default_timeout(timeout_s * 1000)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.emulate_media(media="print")
            page.goto(url, wait_until="networkidle")
            page.wait_for_function(_MATHJAX_STARTED)
            equations = page.evaluate(_SETTLE)
            times["load"] = time.perf_counter() - started
            page.add_style_tag(path=str(PRINT / "print.css"))
            page.add_script_tag(path=str(PRINT / "print.js"))
            summary = page.evaluate("info => mednotesPrint.prepare(info)", info)
            page.evaluate(_SETTLE)
            numbers: dict[str, int] = {}
            for printings in range(1, 4):
                begun = time.perf_counter()
                data = page.pdf(**options)
                times[f"printing {printings}"] = time.perf_counter() - begun
                found = pdf_destinations(data)
                now = {t: found[t] for t in summary["targets"] if t in found}
                if now == numbers:
                    break
                numbers = now
                page.evaluate("pages => mednotesPrint.setPageNumbers(pages)", numbers)
            else:
                data = page.pdf(**options)
                printings = 4
            printed = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
                '.pdf-toc-page')].map(n => [n.dataset.target, n.textContent]))""")
        finally:
            browser.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    missing = [t for t in summary["targets"] if t not in numbers]
    return {"pages": pdf_pages(data), "bytes": len(data), "chapters": summary["chapters"],
            "parts": summary["parts"], "twins": summary["twins"], "widgets": summary["widgets"],
            "toc": numbers, "toc_printed": printed, "toc_missing": missing, "printings": printings,
            "equations": equations, "offsite": offsite, "errors": errors,
            "seconds": time.perf_counter() - started, "times": times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "singlehtml",
                        help="the singlehtml build (default: _build/singlehtml)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf" / "book.pdf",
                        help="the PDF to write (default: _build/pdf/book.pdf)")
    args = parser.parse_args(argv)
    try:
        result = print_book(args.site, args.out)
    except FileNotFoundError as error:
        print(f"pdf: {error}", file=sys.stderr)
        return 1
    print(f"pdf: {args.out}: {result['pages']} pages, {result['bytes'] / 1e6:.1f} MB; "
          f"{result['parts']} parts, {result['chapters']} chapters, {result['equations']} equations; "
          f"{result['twins']} static twins shown by their first frame, {result['widgets']} explorers' "
          "widgets by a note; "
          f"printed {result['printings']} times in {result['seconds']:.0f} s "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in result['times'].items())})")
    problems = 0
    if result["toc_missing"]:
        print(f"pdf: no page number found for {result['toc_missing']}", file=sys.stderr)
        problems += 1
    if result["offsite"]:
        print(f"pdf: refused {len(result['offsite'])} request(s) off this machine, e.g. "
              f"{result['offsite'][0]}", file=sys.stderr)
        problems += 1
    for error in result["errors"]:
        print(f"pdf: the page reported: {error}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
