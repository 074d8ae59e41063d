"""The prose of every page is free of shell-expansion debris and of broken math.

Markdown written through an unquoted shell heredoc loses its math: ``$k$`` becomes ``$`` (the
shell expands ``$k`` to nothing), ``$$`` becomes the shell's process id (``24803``) and ``$-``
becomes its option flags (``hmB``, as in "every hmBth pixel"). MyST renders what is left
without an error, so only a check of the source finds it. :func:`debris` is that check; it runs
over the markdown cells of every notebook under ``book/`` and ``exercises/`` and over every
``.md`` page under ``book/``.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from notebooks import ROOT

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)")
BARE_NUMBER = re.compile(r"^\s*\d{3,}\s*$")
NUMBER_BEFORE_MATH = re.compile(r"^\s*\d{3,}[ \t]+(\\[A-Za-z]|[A-Za-z]\w*[_^])")

HMB = "'hmB' is the shell's option flags, left where `$-` was"
BARE = "a line that is a bare number, where `$$` was (a process id?)"
NUMBER_FIRST = "a number before a formula, where `$$` was (a process id?)"
UNCLOSED_INLINE = "a `$` opens inline math that never closes in its paragraph (odd count)"
UNCLOSED_DISPLAY = "display math `$$` is never closed"
EMPTY_INLINE = "empty inline math `$$`"
EMPTY_DISPLAY = "empty display math `$$ $$`"
LOST_FORMULA = "empty math `$$` inside a sentence (a lost formula?)"
SPACED = ("`${}$` is not math but text between two `$` whose variables were lost "
          "(math may not start or end with a space)")


def _blank(text: str) -> str:
    """``text`` with every character but newlines turned into a space (keeps positions)."""
    return re.sub(r"[^\n]", " ", text)


def _without_code(lines: list[str]) -> list[str]:
    """The lines with fenced code blocks and inline code spans blanked out."""
    out, fence = [], None
    for line in lines:
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
            out.append(_blank(line))
        elif fence is not None:
            stripped = line.strip()
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence = None
            out.append(_blank(line))
        else:
            out.append(CODE_SPAN.sub(lambda m: _blank(m.group(0)), line))
    return out


class _Lines:
    """Line numbers (1-based) of positions in a text, and which lines are blank."""

    def __init__(self, text: str, original: list[str]) -> None:
        self.starts = [m.start() for m in re.finditer(r"^", text, flags=re.MULTILINE)]
        self.blank = {n for n, line in enumerate(original, 1) if not line.strip()}

    def of(self, position: int) -> int:
        return sum(1 for s in self.starts if s <= position)


def _inline(content: str) -> str:
    """What is wrong with the inline math ``$content$``; ``""`` when nothing."""
    if not content.strip():
        return EMPTY_INLINE
    if content[0].isspace() or content[-1].isspace():
        shown = re.sub(r"\s+", " ", content)
        return SPACED.format(shown if len(shown) <= 40 else f"{shown[:18]}...{shown[-18:]}")
    return ""


def _double_dollar(text: str, i: int) -> tuple[str, int]:
    """A ``$$`` at ``i`` outside math: ``("display", i + 2)`` when it opens a display block,
    else the problem (or ``""`` for ``$$...$$`` on one line) and where to go on."""
    line_start = text.rfind("\n", 0, i) + 1
    line_end = text.find("\n", i)
    line_end = len(text) if line_end == -1 else line_end
    if not text[line_start:i].strip():
        return "display", i + 2
    close = text.find("$$", i + 2, line_end)
    if close != -1 and text[i + 2:close].strip():
        return "", close + 2  # $$...$$ inside a sentence: display math on one line
    return LOST_FORMULA, i + 2


def _math_problems(text: str, lines: _Lines) -> list[tuple[int, str]]:
    """Pair the ``$`` and ``$$`` delimiters of ``text`` (code already blanked) as MyST does.

    Inline math ``$...$`` must close within its paragraph and neither start nor end with a
    space (``$ pixels with stride $`` is two lost variables, not math); display math opens
    with ``$$`` at the start of a line and must close; ``$$`` inside a sentence with nothing
    to enclose is a lost formula. ``\\$`` is a literal dollar.
    """
    problems, state, start, i = [], None, 0, 0
    while i < len(text):
        if text.startswith("\\$", i):
            i += 2
            continue
        if state == "inline" and text[i] == "\n" and lines.of(i) + 1 in lines.blank:
            problems.append((lines.of(start), UNCLOSED_INLINE))
            state = None
        if text.startswith("$$", i) and state == "display":
            if not text[start + 2:i].strip():
                problems.append((lines.of(start), EMPTY_DISPLAY))
            state, i = None, i + 2
        elif text.startswith("$$", i) and state is None:
            what, after = _double_dollar(text, i)
            if what == "display":
                state, start = "display", i
            elif what:
                problems.append((lines.of(i), what))
            i = after
        elif text[i] == "$" and state is None:
            state, start, i = "inline", i, i + 1
        elif text[i] == "$" and state == "inline":
            what = _inline(text[start + 1:i])
            if what:
                problems.append((lines.of(start), what))
            state, i = None, i + 1
        else:
            i += 1
    if state == "inline":
        problems.append((lines.of(start), UNCLOSED_INLINE))
    elif state == "display":
        problems.append((lines.of(start), UNCLOSED_DISPLAY))
    return problems


def debris(markdown: str) -> list[tuple[int, str, str]]:
    """Shell-expansion debris and broken math in one markdown text.

    Args:
        markdown: a markdown cell's source or a whole ``.md`` page.

    Returns:
        ``(line number, what is wrong, the line)`` for each problem, 1-based; empty when clean.

    Example:
        >>> debris("A window of $k$ pixels.")
        []
        >>> [what for _, what, _ in debris("keep every hmBth pixel")] == [HMB]
        True
    """
    original = markdown.split("\n")
    masked = _without_code(original)
    text = "\n".join(masked)
    found = [(n, HMB) for n, line in enumerate(original, 1) if "hmB" in line]
    for n, line in enumerate(masked, 1):
        if BARE_NUMBER.match(line):
            found.append((n, BARE))
        elif NUMBER_BEFORE_MATH.match(line):
            found.append((n, NUMBER_FIRST))
    found += _math_problems(text, _Lines(text, original))
    return [(n, what, original[n - 1]) for n, what in sorted(found, key=lambda p: p[0])]


# ------------------------------------------------------------------------ the checker itself

#: Text as the shell left it in exercises/05 and 06 (and variants): each must be caught.
DAMAGED = [
    ("A pooling window of $ pixels with stride $ and $ pixels of padding on each side turns\n"
     "$ pixels into $\\lfloor (n + 2p - k)/s \\rfloor + 1$."),
    ("Keeping every hmBth pixel samples the image at /s$ samples per original pixel; the\n"
     "highest frequency that grid represents is half of that. What is it, in cycles per\n"
     "original pixel, for  = 30"),
    ("A sampled cosine of frequency $ is indistinguishable from one of frequency  + m r$ for\n"
     "any integer $, where  = 1/s$ is the sampling rate."),
    ("multiple of /s$:\n\n24803\n"
     "f_\\text{alias} = \\left| f - \\frac{\\operatorname{round}(f s)}{s} \\right| .\n24803\n\n"
     "Frequencies below the new Nyquist limit /(2s)$ stay where they are."),
    "24803 f_\\text{alias} = |f - m r| 24803",
    "Make a vertical grating of frequency $ on 240×240 pixels, keep every hmBth column and row.",
    "The cost is $$ per pixel.",
    "An odd count: $a$ and $b.",
    "$$\nx = 1\n",
    "$k\n\nis cut by a paragraph$",
    "$$\n$$",
]

#: Text that is right, including the tricky cases: all of it must pass.
CLEAN = [
    "A window of $k$ pixels with stride $s$ and padding $p$.",
    "$$\nn_\\text{out} = \\left\\lfloor \\frac{n + 2p - k}{s} \\right\\rfloor + 1 .\n$$",
    "$$\nx = 1\n$$ (eq-label)\n\nand $y$ after it.",
    "Display math inline: $$a + b$$ in a sentence.",
    ("Inline math may wrap a line: the mean $\\mu_\\mathcal{B}$ and variance\n"
     "$\\sigma^2_\\mathcal{B}$ of $n = N \\cdot H\n\\cdot W$ values."),
    "In code, `x[$]` and ``a $ b`` and `$$` are not math.",
    "```python\nprice = '$5'\nprint('$$')\n```\nafter the fence, $k$.",
    "~~~\n$ echo $HOME\n~~~",
    "A literal dollar: it costs \\$5, or \\$10 with tax.",
    "Keep every $s$-th pixel: the grid has $1/s$ samples per pixel and Nyquist $1/(2s)$.",
    "There were 2000 HU on the display, and 128 pixels.",
    "| size | 128 |\n| --- | --- |",
    "{doc}`../book/principles/03_pooling` links with a role.",
]


@pytest.mark.parametrize("text", DAMAGED, ids=range(len(DAMAGED)))
def test_debris_is_found(text):
    assert debris(text), f"no problem found in damaged text:\n{text}"


@pytest.mark.parametrize("text", CLEAN, ids=range(len(CLEAN)))
def test_clean_text_passes(text):
    assert debris(text) == []


def test_each_kind_of_debris_is_named():
    kinds = {what for text in DAMAGED for _, what, _ in debris(text)}
    assert {HMB, BARE, NUMBER_FIRST, UNCLOSED_INLINE, UNCLOSED_DISPLAY, LOST_FORMULA,
            EMPTY_DISPLAY} <= kinds
    assert any(kind.startswith("`$ pixels with stride $` is not math") for kind in kinds)


def test_the_report_names_the_line():
    [(number, what, line)] = debris("Intro.\n\nKeep every hmBth pixel.")
    assert (number, what, line) == (3, HMB, "Keep every hmBth pixel.")
    problems = debris("before\n$$\nf = 1\n$$\nafter: multiple of /s$:\n\n24803\n")
    assert [(n, line) for n, _, line in problems] == [(5, "after: multiple of /s$:"),
                                                      (7, "24803")]


# ------------------------------------------------------------------------ every page


def _pages() -> list:
    pages = sorted((ROOT / "book").rglob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))
    pages += sorted((ROOT / "book").rglob("*.md"))
    return [p for p in pages if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts]


PAGES = _pages()


def test_every_page_is_found():
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"book/index.md", "exercises/05_pooling_sizes.ipynb",
            "exercises/06_predicting_aliasing.ipynb"} <= names
    assert sum(p.suffix == ".ipynb" for p in PAGES) >= 10


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_page_has_no_shell_debris_or_broken_math(path):
    if path.suffix == ".ipynb":
        cells = [(f"cell {i}", cell.source)
                 for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
                 if cell.cell_type == "markdown"]
    else:
        cells = [("page", path.read_text(encoding="utf-8"))]
    report = [f"{path.relative_to(ROOT)}: {where}, line {n}: {what}\n    {line!r}"
              for where, source in cells for n, what, line in debris(source)]
    assert not report, "\n".join(report)
