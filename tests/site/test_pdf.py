"""`make pdf`'s printer (tools/pdf.py with book/_vendor/print/) on a small singlehtml page.

No build of the book is needed: the page below has what Jupyter Book's singlehtml writes (the
theme's print table of contents, one anchor and top section per document, a static twin, an
explorer's widget view, a hidden solution, a check's verdict). Needs chromium, like the rest of
tests/site (``make test-site``).
"""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path

import pytest
from browsing import CHROMIUM, ROOT


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pdf = _load("pdf")


def _png(value: int) -> str:
    """A 40×30 grey PNG as a data URI (the frames of the fixture's player)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (40, 30), value).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


FILLER = "".join(f"<p>Paragraph {i} of a long chapter, long enough to need a second page "
                 "when it is printed on A4 paper with the book's margins.</p>" for i in range(60))
PLAYER = """
<div class="cell tag_remove-input"><div class="cell_output"><div class="output text_html">
<div class="animation">
  <img id="_anim_imgX" alt="frames">
  <div class="anim-controls">
    <input id="_anim_sliderX" type="range" class="anim-slider" min="0" max="2" step="1" value="0"
           oninput="animX.set_frame(parseInt(this.value));">
    <div class="anim-buttons">
      <button title="First frame" onclick="animX.set_frame(0)">|&lt;</button>
      <button title="Last frame" onclick="animX.set_frame(2)">&gt;|</button>
    </div>
  </div>
</div>
<script>
  var animX = {frames: FRAMES, set_frame: function (i) {
    document.getElementById("_anim_imgX").src = this.frames[i];
    document.getElementById("_anim_sliderX").value = i; }};
  animX.set_frame(2);  // left on its last frame: the PDF must show the first
</script>
</div></div></div>
""".replace("FRAMES", str([_png(30), _png(120), _png(220)]))

PAGE = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Fixture book</title></head>
<body>
<div id="jb-print-docs-body" class="onlyprint"><h1>Fixture book</h1>
 <div id="jb-print-toc"><nav>
  <p class="caption" role="heading"><span class="caption-text">Principles</span></p>
  <ul><li><a href="#document-book/one">1. One chapter</a></li>
      <li><a href="#document-book/two">2. Another chapter</a></li></ul>
  <p class="caption" role="heading"><span class="caption-text">Reference</span></p>
  <ul><li><a href="#document-book/notation">Notation</a></li></ul>
 </nav></div>
</div>
<article class="bd-article">
<section id="fixture-book"><h1>Fixture book<a class="headerlink" href="#fixture-book">#</a></h1>
<p><em>A subtitle from the front page.</em></p>
<p>See <a href="book/index.html#one-chapter">the first chapter</a>.</p>
<img src="https://example.org/tracker.png" alt="">
<div class="toctree-wrapper compound">
<span id="document-book/one"></span><section id="one-chapter"><h2>1. One chapter</h2>
{FILLER}
<div class="cell"><div class="cell_input"><pre>explorer()</pre></div>
<div class="cell_output"><script type="application/vnd.jupyter.widget-view+json">{{"model_id": "m"}}</script></div></div>
{PLAYER}
</section>
<span id="document-book/two"></span><section id="another-chapter"><h2>2. Another chapter</h2>
<div class="cell tag_hide-input"><details class="admonition hide above-input">
<summary><p class="collapsed admonition-title">Show code cell source</p></summary>
<div class="cell_input"><pre>### BEGIN SOLUTION
answer = 42
### END SOLUTION</pre></div></details></div>
<div class="cell tag_hide-input"><details class="admonition hide above-input">
<summary><p>Show code cell source</p></summary><div class="cell_input"><pre>plot()</pre></div></details></div>
<div class="cell"><div class="cell_output"><pre>\u2705 answer: correct.</pre></div></div>
<div class="cell"><div class="cell_input"><pre>lonely_explorer()</pre></div>
<div class="cell_output"><script type="application/vnd.jupyter.widget-view+json">{{"model_id": "n"}}</script></div></div>
</section>
<span id="document-book/notation"></span><section id="notation"><h2>Notation</h2><p>f ⋆ g</p></section>
</div></section>
</article>
</body></html>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A singlehtml-like site whose index.html redirects to the book's page, as Jupyter Book's does."""
    root = tmp_path_factory.mktemp("singlehtml")
    (root / "book").mkdir()
    (root / "book" / "index.html").write_text(PAGE, encoding="utf-8")
    (root / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/index.html" />',
                                     encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def printed(site, browser, tmp_path_factory):
    # ``browser`` first: the session's Playwright then holds an asyncio loop in this thread, as it
    # does in ``make test-site``, where printing once failed because of it.
    out = tmp_path_factory.mktemp("pdf") / "book.pdf"
    info = {"title": "Fixture book", "author": "The fixture's authors", "date": "Printed today",
            "note": "", "source": ""}
    result = pdf.print_book(site, out, info=info, chromium=CHROMIUM, timeout_s=60)
    return result, out.read_bytes()


def test_the_pdf_has_a_title_page_contents_parts_and_chapters(printed):
    result, data = printed
    assert data.startswith(b"%PDF-")
    assert result["pages"] == pdf.pdf_pages(data)
    # title, contents, part I, chapter one (two pages), chapter two, reference divider, notation
    assert result["pages"] >= 8, result
    assert (result["parts"], result["chapters"], result["twins"], result["widgets"]) == (2, 3, 1, 2)
    outline = pdf.pdf_outline(data)  # the bookmarks (in the file's order, not the reading order)
    for heading in ("Fixture book", "Contents", "About this book", "Principles", "1. One chapter",
                    "2. Another chapter", "Reference", "Notation"):
        assert heading in outline, (heading, outline)


def test_the_contents_give_the_page_where_each_chapter_starts(printed):
    result, data = printed
    assert not result["toc_missing"]
    where = pdf.pdf_destinations(data)
    toc = result["toc"]
    assert set(toc) == {"fixture-book", "pdf-part-1", "one-chapter", "another-chapter",
                        "pdf-part-2", "notation"}
    # the numbers printed in the contents are where the final PDF puts each chapter
    assert all(where[target] == page for target, page in toc.items()), (toc, where)
    assert result["toc_printed"] == {target: str(page) for target, page in toc.items()}
    order = ["fixture-book", "pdf-part-1", "one-chapter", "another-chapter", "pdf-part-2", "notation"]
    pages = [toc[t] for t in order]
    assert pages == sorted(set(pages)), pages  # each on a later page than the one before
    assert toc["fixture-book"] == 3  # after the title page and the contents
    assert toc["another-chapter"] - toc["one-chapter"] >= 2  # the long chapter takes two pages
    assert result["printings"] in (2, 3)


def test_nothing_is_fetched_from_the_network(printed):
    result, _ = printed
    assert result["offsite"] == ["https://example.org/tracker.png"]


def test_the_print_script_turns_the_screen_only_parts_into_notes(site, browser):
    """The page as print.js leaves it, in print media: what the PDF shows."""
    with pdf.serve(site, pdf.book_page(site)) as url:
        page = browser.new_page()
        try:
            page.emulate_media(media="print")
            page.goto(url)
            page.add_style_tag(path=str(pdf.PRINT / "print.css"))
            page.add_script_tag(path=str(pdf.PRINT / "print.js"))
            summary = page.evaluate("info => mednotesPrint.prepare(info)",
                                    {"title": "Fixture book", "pagePath": "/book/index.html"})
            assert summary["targets"][0] == "fixture-book"
            shown = page.evaluate("""() => {
                const visible = s => { const e = document.querySelector(s);
                                       return !!e && getComputedStyle(e).display !== 'none'; };
                return {
                    title: visible('.pdf-title-page h1'), contents: visible('.pdf-toc h1'),
                    parts: [...document.querySelectorAll('.pdf-part')].map(
                        p => [...p.children].map(c => c.textContent.trim())),
                    controls: visible('.animation .anim-controls'),
                    frame: document.getElementById('_anim_imgX').src,
                    notes: [...document.querySelectorAll('.pdf-note')].map(n => n.textContent),
                    widgets: [...document.querySelectorAll('.cell_output:has(script[type*=widget-view])')]
                        .filter(o => getComputedStyle(o).display !== 'none').length,
                    hidden: [...document.querySelectorAll('details')].filter(
                        d => getComputedStyle(d).display !== 'none').length,
                    verdict: [...document.querySelectorAll('pre')].map(p => p.textContent)
                        .find(t => t.includes('answer: correct')),
                    link: document.querySelector('a[href*="one-chapter"]').getAttribute('href'),
                    themeToc: visible('#jb-print-docs-body'),
                };
            }""")
        finally:
            page.close()
    assert shown["title"] and shown["contents"]
    assert shown["parts"] == [["Part I", "Principles"], ["Reference"]]
    assert not shown["controls"] and not shown["widgets"] and not shown["themeToc"]
    assert shown["frame"] == _png(30), "the twin must show its first frame"
    # one note for the twin (its explorer's widgets need none), one for the explorer without a
    # twin, one for the hidden solution
    assert len(shown["notes"]) == 3, shown["notes"]
    twin, solution, lonely = shown["notes"]
    assert twin.startswith("Interactive on the website: the first of 3 frames")
    assert solution.startswith("Solution hidden")
    assert lonely == "Explorer: interactive in a running notebook."
    assert shown["hidden"] == 0, "hidden code is left out (a solution becomes a note)"
    assert shown["verdict"] == "\u2713 answer: correct."
    assert shown["link"] == "#one-chapter", "a link into the same page must stay inside the PDF"


def test_reading_a_pdf_that_is_not_one_fails_clearly():
    with pytest.raises(ValueError, match="startxref"):
        pdf.pdf_pages(b"%PDF-1.4 nothing else")


def test_a_site_that_was_not_built_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no index.html in"):
        pdf.print_book(tmp_path, tmp_path / "book.pdf", chromium=CHROMIUM)
    assert pdf.main(["--site", str(tmp_path), "--out", str(tmp_path / "x.pdf")]) == 1
    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/index.html" />')
    with pytest.raises(FileNotFoundError, match="redirects to book/index.html, which is not a page"):
        pdf.print_book(tmp_path, tmp_path / "book.pdf", chromium=CHROMIUM)


def test_a_missing_browser_is_named(site, tmp_path):
    with pytest.raises(FileNotFoundError, match="no chromium at /nowhere/chromium"):
        pdf.print_book(site, tmp_path / "book.pdf", chromium="/nowhere/chromium")


def test_printing_starts_its_own_thread_only_inside_a_running_event_loop():
    import asyncio

    async def inside():
        return pdf._event_loop_running()

    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:  # a thread with no loop
        assert pool.submit(pdf._event_loop_running).result() is False
        assert pool.submit(asyncio.run, inside()).result() is True
