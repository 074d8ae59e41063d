"""Internal links and anchors of the built site: none broken (issue 16, "Link check").

tools/check_links.py reads every HTML page of the site and follows every link that stays on it:
the file must exist and a ``#fragment`` must be the id of an element on the target page. The
checker is first tried on a small site made here, with links broken in each way it must catch.
"""

from __future__ import annotations

import doctest
import importlib.util
import sys

import pytest
from browsing import ROOT, SITE

_SPEC = importlib.util.spec_from_file_location("check_links", ROOT / "tools" / "check_links.py")
check_links = importlib.util.module_from_spec(_SPEC)
sys.modules["check_links"] = check_links  # dataclasses look their module up by name
_SPEC.loader.exec_module(check_links)


@pytest.fixture
def small_site(tmp_path):
    """A site of three pages: index.html, book/a.html and book/sub/ (an index.html in a folder)."""
    (tmp_path / "book" / "sub").mkdir(parents=True)
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "x.css").write_text("")
    (tmp_path / "book" / "sub" / "index.html").write_text('<h1 id="top">Sub</h1>')
    (tmp_path / "book" / "a.html").write_text(
        '<section id="intro"><h2>Intro</h2></section><a name="old-anchor"></a>'
        '<a href="#intro">self</a><a href="../index.html">home</a><a href="sub/">folder</a>'
        '<a href="sub/index.html#top">anchor in folder</a><a href="/book/a.html#old-anchor">root</a>'
        '<a href="../_static/x.css">file</a><a href="a.html?highlight=dice#intro">query</a>'
        '<a href="https://example.org/#nowhere">web</a><a href="#">button</a>'
        '<a href="mailto:someone@example.org">mail</a><a href="a%2Ehtml#intro">quoted</a>')
    (tmp_path / "index.html").write_text('<a href="book/a.html#intro">chapter</a>')
    return tmp_path


def test_the_checker_passes_good_links(small_site):
    broken, pages, links = check_links.check(small_site)
    assert broken == []
    assert pages == 3
    assert links == 9  # the web link, the bare '#' and the mail link are not followed


@pytest.mark.parametrize(("href", "reason"), [
    ("#missing", "no id 'missing' on book/a.html"),
    ("b.html", "no file book/b.html"),
    ("sub/index.html#intro", "no id 'intro' on book/sub/index.html"),
    ("../index.html#intro", "no id 'intro' on index.html"),
    ("nowhere/", "no file book/nowhere/index.html"),
    ("../_static/x.css#a", "an anchor into .css, not a page"),
    ("../../outside.html", "points outside the site"),
])
def test_the_checker_finds_each_kind_of_broken_link(small_site, href, reason):
    page = small_site / "book" / "a.html"
    page.write_text(page.read_text() + f'<a href="{href}">bad</a>')
    broken, _, _ = check_links.check(small_site)
    assert [(b.page, b.href, b.reason) for b in broken] == [("book/a.html", href, reason)]


def test_the_checker_examples_run():
    failed, attempted = doctest.testmod(check_links)
    assert attempted >= 3 and failed == 0


def test_the_command_line_reports_and_fails(small_site, capsys):
    assert check_links.main(small_site) == 0
    (small_site / "index.html").write_text('<a href="book/a.html#gone">x</a>')
    assert check_links.main(small_site) == 1
    out = capsys.readouterr().out
    assert "index.html: book/a.html#gone (no id 'gone' on book/a.html)" in out
    assert "1 broken" in out


def test_no_internal_link_of_the_site_is_broken():
    if not (SITE / "index.html").is_file():
        pytest.exit(f"no built site at {SITE}: run `make book` first (or set SITE=path/to/html)",
                    returncode=1)
    broken, pages, links = check_links.check(SITE)
    assert pages >= 20 and links > 1000, f"only {pages} pages and {links} links: is the site complete?"
    assert not broken, f"{len(broken)} broken internal link(s):\n  " + "\n  ".join(map(str, broken[:40]))
