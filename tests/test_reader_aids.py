"""Reader aids: what every chapter and practice promises its reader, checked in the sources (issue 16).

The rules, exactly (the markers are the ones the chapters already use):

**Chapters** (the pages of _toc.yml under ``book/principles``, ``book/data`` and
``book/applications``):

- the first cell is ``# <title>`` and holds an ``In this chapter`` admonition
  (``:::{admonition} In this chapter`` or the same as a backtick fence) with the learning
  objectives (``**You will learn**`` or ``**You will meet**``, then text), the prerequisites
  (``**Prerequisites**:``, then text) and a time estimate (``**Time**:`` stating how many minutes
  or hours it takes "to read" and how long it takes "to run");
- a markdown cell has the heading ``## Summary``, the chapter's last level-2 heading, with a
  list or a table under it;
- after the summary, a ``**Further reading**:`` paragraph that cites at least one work
  (``{cite:p}`` or ``{cite:t}``);
- after the summary, a link to every practice that names the chapter as its companion.

**Practices** (the pages of _toc.yml under ``exercises/``), in their first cell:

- ``Companion to`` followed by a Markdown link to the chapter's notebook (``../book/....ipynb``,
  optionally with a ``#section`` anchor) whose text is that chapter's title;
- ``**Time**:`` with a number of minutes or hours;
- a learning objective: ``**Learning objective**:`` (or ``**Learning objectives**:``, or
  ``**You will practise**:``), then text. The older practices in PRACTICES_WITHOUT_OBJECTIVE
  state what they practise in prose only; the set may only shrink.

**Glossary** (book/reference/glossary.md, listed in _toc.yml): one ``{glossary}`` block; every
entry says where it is ``Explained in`` with a ``{doc}`` link to a page of the book; every
``{term}`` role in the book names one of its terms; every chapter links some of its terms.

**Cross-references where ideas meet**: CROSS_REFERENCES lists pairs of chapters that must link
to each other, both ways, with ``{ref}`` to a section label of the other chapter, ``{doc}`` or a
Markdown link to it. Labels (``(name)=``) sit right above a heading and are unique in the book.
"""

from __future__ import annotations

import functools
import posixpath
import re
from pathlib import Path

import nbformat
import pytest
from notebooks import ROOT, toc_files

CHAPTER_FOLDERS = ("book/principles/", "book/data/", "book/applications/")
GLOSSARY = ROOT / "book" / "reference" / "glossary.md"

#: Practices written before practices stated their objective in a line of its own.
PRACTICES_WITHOUT_OBJECTIVE: frozenset[str] = frozenset()

#: Chapters whose glossary links are still to come (the chapter is being rewritten).
CHAPTERS_WITHOUT_TERMS: frozenset[str] = frozenset()

#: (idea, chapter, chapter): the two chapters link to each other.
CROSS_REFERENCES = [
    ("BatchNorm and 3D batch sizes", "book/principles/02_layers", "book/applications/01_neuroradiology"),
    ("aliasing and thin vessels", "book/principles/03_pooling", "book/applications/03_ophthalmology"),
    ("BatchNorm and 3D batch sizes", "book/principles/02_layers", "book/principles/04_unet"),
    ("Dice and class imbalance", "book/principles/05_losses", "book/applications/01_neuroradiology"),
    ("Dice and class imbalance", "book/principles/05_losses", "book/applications/02_pathology"),
    ("Dice and class imbalance", "book/principles/05_losses", "book/applications/03_ophthalmology"),
    ("receptive field and U-Net depth", "book/principles/01_convolution", "book/principles/04_unet"),
]
#: (idea, from, to): links that exist one way only so far; the way back is still to be written.
ONE_WAY: list[tuple[str, str, str]] = []

ADMONITION = re.compile(r"^(?P<fence>:::|```)\{admonition\}\s+In this chapter\s*\n"
                        r"(?P<body>.*?)^(?P=fence)\s*$",
                        re.MULTILINE | re.DOTALL)
OBJECTIVES = re.compile(r"\*\*You will (learn|meet)\*\*\s+\w")
PREREQUISITES = re.compile(r"\*\*Prerequisites\*\*:\s*\S")
CHAPTER_TIME = re.compile(r"\*\*Time\*\*:[^.]*?\b(minutes?|hours?)\s+to\s+read\b[^.]*?\bto\s+run\b")
PRACTICE_TIME = re.compile(r"\*\*Time\*\*:[^.\n]*?\b(minutes?|hours?)\b")
PRACTICE_OBJECTIVE = re.compile(r"\*\*(Learning objectives?|You will practise)\*\*:\s*\S")
COMPANION = re.compile(r"Companion to[^[]{0,40}\[(?P<text>[^\]]+)\]\((?P<target>[^)\s#]+)(?:#[^)\s]*)?\)")
HEADING2 = re.compile(r"^## +(?P<title>.+?)\s*$", re.MULTILINE)
FURTHER_READING = re.compile(r"^\*\*Further reading\*\*:\s*(?P<text>.+?)(?:\n\s*\n|\Z)",
                             re.MULTILINE | re.DOTALL)
CITATION = re.compile(r"\{cite(:[pt])?\}`[^`]+`")
LABEL = re.compile(r"^\((?P<name>[A-Za-z0-9_.:-]+)\)=\s*$", re.MULTILINE)
ROLE = re.compile(r"\{(?P<role>ref|doc|term)\}`(?P<body>[^`]+)`")
MD_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


# ------------------------------------------------------------------------------ reading pages


def name_of(path: Path) -> str:
    """A page's name as _toc.yml writes it: its path from the root, without the suffix."""
    return path.relative_to(ROOT).with_suffix("").as_posix()


@functools.cache
def pages() -> dict[str, Path]:
    return {name_of(path): path for path in toc_files()}


CHAPTERS = [name for name in pages() if name.startswith(CHAPTER_FOLDERS)]
PRACTICES = [name for name in pages() if name.startswith("exercises/")]


@functools.cache
def markdown(name: str) -> tuple[str, ...]:
    """The markdown cells of a page (a .md page is one cell)."""
    path = pages()[name]
    if path.suffix == ".md":
        return (path.read_text(encoding="utf-8"),)
    return tuple(cell.source for cell in nbformat.read(path, as_version=4).cells
                 if cell.cell_type == "markdown")


def title(name: str) -> str:
    return markdown(name)[0].splitlines()[0].lstrip("#").strip()


def target(source: str, link: str) -> str | None:
    """The page a link on page ``source`` points to, as a toc name (``None``: not a page of the book).

    ``link`` is what a ``{doc}`` role or a Markdown link holds: relative to the source's folder,
    or from the root with a leading ``/``; with or without a suffix, possibly with ``#anchor``.

    Example:
        >>> target("book/principles/04_unet", "01_convolution")
        'book/principles/01_convolution'
        >>> target("exercises/09_unet_sizes", "../book/principles/04_unet.ipynb#valid-or-same")
        'book/principles/04_unet'
    """
    link = link.split("#")[0]
    if not link:
        return None
    base = "" if link.startswith("/") else posixpath.dirname(source)
    resolved = posixpath.normpath(posixpath.join(base, link.lstrip("/")))
    resolved = re.sub(r"\.(ipynb|md)$", "", resolved)
    return resolved if resolved in pages() else None


def role_target(body: str) -> str:
    """The target of a role: ``text <target>`` or the whole body."""
    explicit = re.fullmatch(r"(?s).*<(?P<target>[^<>]+)>\s*", body)
    return (explicit["target"] if explicit else body).strip()


@functools.cache
def labels() -> dict[str, list[str]]:
    """Every ``(label)=`` of the book: label -> the pages that define it."""
    found: dict[str, list[str]] = {}
    for name in pages():
        for text in markdown(name):
            for match in LABEL.finditer(text):
                found.setdefault(match["name"].lower(), []).append(name)
    return found


def links_between(source: str) -> set[str]:
    """The pages that page ``source`` links to: by ``{doc}``, Markdown link, or ``{ref}`` to a label."""
    linked = set()
    for text in markdown(source):
        for match in ROLE.finditer(text):
            if match["role"] == "doc":
                linked.add(target(source, role_target(match["body"])))
            elif match["role"] == "ref":
                linked.update(labels().get(role_target(match["body"]).lower(), []))
        for match in MD_LINK.finditer(text):
            linked.add(target(source, match["target"]))
    linked.discard(None)
    return linked


def after_summary(name: str) -> str:
    """The chapter's markdown from its ``## Summary`` heading on (empty if there is none)."""
    text = "\n\n".join(markdown(name))
    start = re.search(r"^## +Summary\s*$", text, re.MULTILINE)
    return text[start.start():] if start else ""


# ------------------------------------------------------------------------------ chapters


def test_the_toc_has_chapters_and_practices():
    assert len(CHAPTERS) >= 14 and len(PRACTICES) >= 16
    assert "book/principles/03_pooling" in CHAPTERS and "exercises/06_predicting_aliasing" in PRACTICES


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_opens_with_objectives_prerequisites_and_time(name):
    first = markdown(name)[0]
    assert first.startswith("# "), f"{name}: the first cell does not start with '# <title>'"
    box = ADMONITION.search(first)
    assert box, f"{name}: the first cell has no ':::{{admonition}} In this chapter' box"
    body = box["body"]
    assert OBJECTIVES.search(body), f"{name}: the box states no objectives ('**You will learn** ...')"
    assert PREREQUISITES.search(body), f"{name}: the box states no '**Prerequisites**: ...'"
    assert CHAPTER_TIME.search(body), (f"{name}: the box has no '**Time**: about N minutes to read, "
                                       f"... to run' estimate")


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_ends_with_summary_and_further_reading(name):
    text = "\n\n".join(markdown(name))
    headings = [m["title"] for m in HEADING2.finditer(text)]
    assert "Summary" in headings, f"{name}: no '## Summary' heading"
    assert headings[-1] == "Summary", f"{name}: '## Summary' is not the last section: {headings[-3:]}"
    tail = after_summary(name)
    summary = re.split(r"^\*\*(Practice|Further reading)\*\*", tail, flags=re.MULTILINE)[0]
    assert re.search(r"^\s*([-*] |\d+\. |\|)", summary, re.MULTILINE), \
        f"{name}: the summary holds no list or table"
    reading = FURTHER_READING.search(tail)
    assert reading, f"{name}: no '**Further reading**:' paragraph after the summary"
    assert CITATION.search(reading["text"]), f"{name}: the further reading cites nothing"


def companions() -> dict[str, str]:
    """practice -> the chapter its first cell names as its companion (only practices that name one)."""
    found = {}
    for practice in PRACTICES:
        match = COMPANION.search(markdown(practice)[0])
        if match and target(practice, match["target"]):
            found[practice] = target(practice, match["target"])
    return found


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_links_its_practices_after_the_summary(name):
    practices = sorted(p for p, chapter in companions().items() if chapter == name)
    missing = [p for p in practices if p not in links_between_text(name, after_summary(name))]
    assert not missing, f"{name}: its practices are not linked after the summary: {missing}"


def links_between_text(source: str, text: str) -> set[str]:
    """The pages that ``text`` on page ``source`` links to with ``{doc}`` or a Markdown link."""
    linked = {target(source, role_target(m["body"])) for m in ROLE.finditer(text) if m["role"] == "doc"}
    linked |= {target(source, m["target"]) for m in MD_LINK.finditer(text)}
    return linked - {None}


# ------------------------------------------------------------------------------ practices


@pytest.mark.parametrize("name", PRACTICES)
def test_practice_links_back_to_its_chapter(name):
    first = markdown(name)[0]
    match = COMPANION.search(first)
    assert match, f"{name}: the first cell has no 'Companion to ... [chapter title](../book/....ipynb)'"
    chapter = target(name, match["target"])
    assert chapter in CHAPTERS, f"{name}: 'Companion to' links {match['target']}, which is no chapter"
    assert match["text"] == title(chapter), (
        f"{name}: the link back says {match['text']!r}, the chapter is called {title(chapter)!r}")


@pytest.mark.parametrize("name", PRACTICES)
def test_practice_states_time_and_objective(name):
    first = markdown(name)[0]
    assert PRACTICE_TIME.search(first), f"{name}: no '**Time**: about N minutes' in the first cell"
    has_objective = bool(PRACTICE_OBJECTIVE.search(first))
    if name in PRACTICES_WITHOUT_OBJECTIVE:
        assert not has_objective, (f"{name} now states its objective: remove it from "
                                   "PRACTICES_WITHOUT_OBJECTIVE")
    else:
        assert has_objective, f"{name}: no '**Learning objective**: ...' in the first cell"


def test_practices_without_objective_exist():
    assert PRACTICES_WITHOUT_OBJECTIVE <= set(PRACTICES)


# ------------------------------------------------------------------------------ glossary


def glossary_entries() -> list[tuple[list[str], str]]:
    """(terms, definition) for each entry of the glossary's ``{glossary}`` block."""
    text = GLOSSARY.read_text(encoding="utf-8")
    block = re.search(r"^```\{glossary\}\n(?P<body>.*?)^```\s*$", text, re.MULTILINE | re.DOTALL)
    assert block, "book/reference/glossary.md has no ```{glossary} block"
    entries: list[tuple[list[str], str]] = []
    for line in block["body"].splitlines():
        if not line.strip() or line.startswith(":"):  # a blank line, or an option such as :sorted:
            continue
        if not line.startswith(" "):  # a term: a new entry, or one more name for this one
            if not entries or entries[-1][1]:
                entries.append(([], ""))
            entries[-1][0].append(line.strip())
        else:
            assert entries, f"glossary: a definition before any term: {line!r}"
            entries[-1] = (entries[-1][0], f"{entries[-1][1]} {line.strip()}".strip())
    terms = [e[0] for e in entries if not e[1]]
    assert not terms, f"glossary: terms without a definition: {terms}"
    return entries


@functools.cache
def glossary_terms() -> frozenset[str]:
    return frozenset(term.lower() for terms, _ in glossary_entries() for term in terms)


def test_the_glossary_is_in_the_toc_after_the_notation():
    names = list(pages())
    assert "book/reference/glossary" in names, "_toc.yml does not list book/reference/glossary"
    assert names.index("book/reference/glossary") == names.index("book/reference/notation") + 1


def test_the_glossary_has_the_book_s_terms():
    entries = glossary_entries()
    assert 40 <= len(entries) <= 75, f"the glossary has {len(entries)} entries"
    for needed in ("receptive field", "aliasing", "nyquist limit", "cross-correlation",
                   "transposed convolution", "batch normalization", "dead unit", "skip connection",
                   "u-net", "residual connection", "dice coefficient", "hd95", "hounsfield unit",
                   "intensity window", "stain deconvolution", "cldice", "calibration", "grad-cam",
                   "integrated gradients", "sliding-window inference", "overlap-tile",
                   "data leakage"):
        assert needed in glossary_terms(), f"the glossary has no entry for {needed!r}"


@pytest.mark.parametrize("entry", glossary_entries(), ids=lambda e: e[0][0] if isinstance(e, tuple) else "")
def test_each_glossary_entry_names_the_chapter_that_explains_it(entry):
    terms, definition = entry
    assert "Explained" in definition, f"glossary {terms}: no 'Explained in ...'"
    explained = definition[definition.index("Explained"):]
    docs = [m["body"] for m in ROLE.finditer(explained) if m["role"] == "doc"]
    pages_named = [target("book/reference/glossary", role_target(doc)) for doc in docs]
    assert docs and None not in pages_named, (
        f"glossary {terms}: 'Explained in' must link pages of the book with {{doc}}: {docs}")
    before = definition[:definition.index("Explained")]
    sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z{])", before) if s]
    assert 1 <= len(sentences) <= 4, f"glossary {terms}: {len(sentences)} sentences before 'Explained in'"


def test_every_term_role_names_a_glossary_term():
    unknown = []
    for name in pages():
        for text in markdown(name):
            for match in ROLE.finditer(text):
                if match["role"] == "term" and role_target(match["body"]).lower() not in glossary_terms():
                    unknown.append(f"{name}: {{term}}`{match['body']}`")
    assert not unknown, "terms that the glossary does not define:\n  " + "\n  ".join(unknown)


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_links_glossary_terms(name):
    linked = {role_target(m["body"]).lower() for text in markdown(name)
              for m in ROLE.finditer(text) if m["role"] == "term"}
    if name in CHAPTERS_WITHOUT_TERMS:
        assert not linked, f"{name} now links glossary terms: remove it from CHAPTERS_WITHOUT_TERMS"
    else:
        assert len(linked) >= 2, f"{name}: links only {sorted(linked)} to the glossary"


# ------------------------------------------------------------------------------ cross-references


def test_labels_are_unique_and_sit_above_headings():
    problems = [f"({label})= is defined on {where}" for label, where in labels().items() if len(where) > 1]
    for name in pages():
        for text in markdown(name):
            for match in LABEL.finditer(text):
                after = text[match.end():].lstrip("\n")
                if not after.startswith("#"):
                    problems.append(f"{name}: ({match['name']})= is not followed by a heading")
    assert not problems, "\n".join(problems)


def test_every_ref_names_a_label():
    unknown = [f"{name}: {{ref}}`{m['body']}`" for name in pages() for text in markdown(name)
               for m in ROLE.finditer(text)
               if m["role"] == "ref" and role_target(m["body"]).lower() not in labels()]
    assert not unknown, "references to labels that do not exist:\n  " + "\n  ".join(unknown)


def _pairs():
    for idea, one, other in CROSS_REFERENCES:
        yield pytest.param(one, other, id=f"{idea}: {one.split('/')[-1]} -> {other.split('/')[-1]}")
        yield pytest.param(other, one, id=f"{idea}: {other.split('/')[-1]} -> {one.split('/')[-1]}")
    for idea, one, other in ONE_WAY:
        yield pytest.param(one, other, id=f"{idea}: {one.split('/')[-1]} -> {other.split('/')[-1]}")


@pytest.mark.parametrize(("source", "destination"), list(_pairs()))
def test_ideas_that_meet_are_cross_referenced(source, destination):
    assert source in CHAPTERS and destination in CHAPTERS
    assert destination in links_between(source), f"{source} does not link to {destination}"


def test_a_link_to_another_chapter_is_found_in_each_form():
    assert target("book/principles/03_pooling", "../applications/03_ophthalmology") == \
        "book/applications/03_ophthalmology"
    assert target("book/principles/03_pooling", "/book/principles/01_convolution.ipynb") == \
        "book/principles/01_convolution"
    assert target("book/principles/03_pooling", "../../exercises/nothing") is None
    assert role_target("the U-Net chapter <unet-receptive-field>") == "unet-receptive-field"
    assert role_target("receptive field") == "receptive field"
