"""Every ``Explained in:`` line of the library names a page that exists in the table of contents.

A docstring's "Explained in: <title>." is the reader's way from the code to the book; a title
that no page carries is a dead end (seven docstrings once named a chapter that did not exist).
"""

from __future__ import annotations

import functools
import re

import nbformat
import pytest
from notebooks import ROOT, toc_files

LINE = re.compile(r"^\s*Explained in:\s*(?P<title>.+?)\.?\s*$", re.M)

#: Pointers that name a kind of page rather than one page.
EVERYWHERE = {"every chapter (the hidden cells after each experiment)", "every hands-on practice"}


@functools.cache
def page_titles() -> frozenset[str]:
    """The first heading of every page in _toc.yml."""
    titles = set()
    for path in toc_files():
        if path.suffix == ".ipynb":
            first = nbformat.read(path, as_version=4).cells[0].source
        else:
            first = path.read_text(encoding="utf-8")
        titles.add(first.splitlines()[0].lstrip("#").strip())
    return frozenset(titles)


def pointers() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "mednotes").rglob("*.py")):
        for match in LINE.finditer(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(ROOT)), match["title"]))
    return found


def test_the_library_points_to_the_book():
    assert len(pointers()) > 100


@pytest.mark.parametrize("where, title", pointers(), ids=lambda v: str(v)[:60])
def test_explained_in_names_a_page_of_the_book(where, title):
    assert title in EVERYWHERE or title in page_titles(), (
        f"{where}: 'Explained in: {title}' names no page of the book")
