"""Sphinx extension: what the site needs that the notebooks and themes do not give it.

Loaded by _config.yml (``sphinx.local_extensions``); checked by the browser tests in
tests/site/ (``make test-site``).

- **Alt text for figures.** A notebook's matplotlib output reaches the page as an image whose
  ``alt`` is its file name, and a static twin's frame player (mednotes.widgets.animation_html)
  has none. Screen readers read either as noise. Each figure gets a text alternative from the
  titles its cell gives it: ``suptitle``, panel titles, axis labels (read from the cell's code,
  never executed); a figure whose cell names none is described by its section. A cell can
  state its own: ``"mystnb": {"image": {"alt": "..."}}`` in its metadata wins.
- **A name for the player's slider**, which matplotlib's template leaves unlabelled.
- **Bibliography entries as list items.** docutils gives the citation list ``role="list"`` and
  each entry the deprecated ``role="doc-biblioentry"``, which a list may not contain (axe:
  aria-required-children, critical); entries become ``role="listitem"``.
- **Each script once.** sphinx-thebe declares ``const THEBE_JS_URL`` in an inline script that
  reaches some pages twice (a SyntaxError in the console); identical scripts are kept once.
- **Students get the student version of a practice** (issue 15). The pages of ``exercises/``
  are the instructor notebooks, solutions included. On those pages:

  - every solution cell (an nbgrader solution cell, or one with a ``BEGIN SOLUTION`` marker)
    is folded behind a toggle that reads "Show solution", whether or not it is tagged
    ``hide-input``;
  - the download button serves the student notebook, written into the site at
    ``practice/<name>.ipynb`` by the generator of ``python -m mednotes.course student`` (the
    download works offline);
  - the Colab and Binder buttons open ``practice/<name>.ipynb`` in the repository: the student
    versions committed there (``make practice``). A copy that is missing or differs from what
    the generator writes today is a build warning, so the buttons never open a stale notebook.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path, PurePosixPath

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: The instructor notebooks (the practice pages) and the folder, in the repository and in the
#: built site, that holds their student versions under the same names.
EXERCISES = "exercises"
STUDENT_FOLDER = "practice"
SHOW_SOLUTION, HIDE_SOLUTION = "Show solution", "Hide solution"

_PLAYER_IMG = re.compile(r'<img id="(_anim_img\w+)"(?![^>]*\balt=)')
_PLAYER_SLIDER = re.compile(r'(<input id="_anim_slider\w+" type="range")(?![^>]*\baria-label=)')
_MAGIC = re.compile(r"^\s*[%!].*$", re.MULTILINE)
_SPACE = re.compile(r"\s+")


def _text(node: ast.expr) -> str | None:
    """A string literal's text; an f-string's with "…" for what it fills in; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    return None


def _texts(node: ast.expr) -> list[str]:
    """The strings of a list or tuple literal (or of one string)."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return [t for t in map(_text, node.elts) if t]
    text = _text(node)
    return [text] if text else []


def figure_titles(source: str) -> dict[str, list[str]]:
    """The titles a cell's code gives its figures, read from its string literals.

    Returns:
        ``{"suptitle": [...], "titles": [...], "labels": [...]}``: figure titles, panel titles
        and axis labels, in the order the code states them.

    Example:
        >>> figure_titles('fig = image_grid([a, b], ["CT", "mask"], suptitle="Two views")')
        {'suptitle': ['Two views'], 'titles': ['CT', 'mask'], 'labels': []}
    """
    found: dict[str, list[str]] = {"suptitle": [], "titles": [], "labels": []}
    try:
        tree = ast.parse(_MAGIC.sub("", source))
    except SyntaxError:
        return found
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
        if name == "suptitle" and call.args:
            found["suptitle"] += _texts(call.args[0])
        elif name in ("set_title", "title") and call.args:
            found["titles"] += _texts(call.args[0])
        elif name in ("set_xlabel", "set_ylabel", "xlabel", "ylabel") and call.args:
            found["labels"] += _texts(call.args[0])
        elif name == "image_grid" and len(call.args) > 1:
            found["titles"] += _texts(call.args[1])
        for keyword in call.keywords:
            if keyword.arg == "suptitle":
                found["suptitle"] += _texts(keyword.value)
            elif keyword.arg in ("title", "titles"):
                found["titles"] += _texts(keyword.value)
    for key, values in found.items():
        found[key] = list(dict.fromkeys(_SPACE.sub(" ", v).strip() for v in values if v.strip()))
    return found


def alt_text(source: str, section: str) -> str:
    """A text alternative for the figure a cell draws.

    Example:
        >>> alt_text('ax.set_title("loss"); ax.set_xlabel("step")', "Training")
        'Figure: loss (axes: step).'
        >>> alt_text('plt.imshow(x)', "Pooling")
        'Figure of the section “Pooling”.'
    """
    titles = figure_titles(source)
    parts = []
    if titles["suptitle"]:
        parts.append("; ".join(titles["suptitle"]))
    if titles["titles"]:
        panels = "; ".join(titles["titles"][:8])
        parts.append(f"panels: {panels}" if parts or len(titles["titles"]) > 1 else panels)
    if not parts:
        return f"Figure of the section “{section}”."
    text = "Figure: " + ". ".join(parts)
    if titles["labels"] and not titles["suptitle"]:
        text += f" (axes: {', '.join(titles['labels'][:4])})"
    return text + "."


def _section_title(node: nodes.Node) -> str:
    while node is not None:
        if isinstance(node, nodes.section) and node.children and isinstance(node[0], nodes.title):
            return node[0].astext()
        node = node.parent
    return "this page"


def _cell_sources(path: Path) -> list[str]:
    if path.suffix != ".ipynb":
        return []
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return ["".join(c.get("source", "")) if c.get("cell_type") == "code" else "" for c in cells]


def describe_figures(app, doctree: nodes.document) -> None:
    """Give every image and frame player of a notebook's outputs a text alternative."""
    env = app.env
    sources = _cell_sources(Path(env.doc2path(env.docname)))
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") != "cell_code":
            continue
        index = cell.get("cell_index")
        source = sources[index] if isinstance(index, int) and index < len(sources) else ""
        section = _section_title(cell)
        for image in cell.findall(nodes.image):
            if not image.get("alt"):
                image["alt"] = alt_text(source, section)
        for raw in cell.findall(nodes.raw):
            html = raw.astext()
            if "_anim_img" not in html:
                continue
            alt = (f"Animation, frame by frame, of the section “{section}”: "
                   "step through it with the player's buttons.").replace('"', "&quot;")
            html = _PLAYER_IMG.sub(lambda m, alt=alt: f'<img id="{m.group(1)}" alt="{alt}"', html)
            html = _PLAYER_SLIDER.sub(r'\1 aria-label="Frame"', html)
            raw.children = [nodes.Text(html)]


def unique_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep each script once per page (same file, or same inline body, and same attributes)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # The twin copies differ only in how they say "no file": None or "".
        attributes = sorted(getattr(script, "attributes", {}).items())
        key = (getattr(script, "filename", script) or "", repr(attributes))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def listitem_citations(app, pagename, templatename, context, doctree) -> None:
    """Citations inside ``role="list"`` are list items, not the deprecated doc-biblioentry."""
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


# ------------------------------------------------------------------- practices: student versions


def practice_name(pagename: str) -> str | None:
    """The notebook name of a practice page, or None for any other page.

    Example:
        >>> practice_name("exercises/00_hounsfield_units"), practice_name("book/index")
        ('00_hounsfield_units', None)
    """
    path = PurePosixPath(pagename)
    return path.name if path.parent == PurePosixPath(EXERCISES) else None


def _is_solution(cell: nodes.Element, source: str) -> bool:
    from mednotes.course.student import BEGIN

    nbgrader = (cell.get("cell_metadata") or {}).get("nbgrader") or {}
    return nbgrader.get("solution") is True or any(map(BEGIN.match, source.splitlines()))


#: What a solution cell hides: its source always, and whatever else its tags already hid
#: (MyST-NB's modes; one it adds later hides the whole cell).
_SOLUTION_HIDE_MODE = {None: "input", "input": "input", "output": "input+output",
                       "input+output": "input+output", "all": "all"}


def fold_solutions(app, doctree: nodes.document) -> None:
    """Fold every solution cell of a practice behind a "Show solution" toggle."""
    env = app.env
    if practice_name(env.docname) is None:
        return
    sources = _cell_sources(Path(env.doc2path(env.docname)))
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") != "cell_code":
            continue
        index = cell.get("cell_index")
        source = sources[index] if isinstance(index, int) and index < len(sources) else ""
        if not _is_solution(cell, source):
            continue
        cell["hide_mode"] = _SOLUTION_HIDE_MODE.get(cell.get("hide_mode"), "all")
        cell["prompt_show"], cell["prompt_hide"] = SHOW_SOLUTION, HIDE_SOLUTION
        cell["classes"].append("solution")


def drop_hidden_tests_from_page(app, doctree: nodes.document) -> None:
    """Leave nbgrader's hidden tests out of the code a practice page shows.

    They are for grading (an instructor may keep real tests there) and, between their
    ``### BEGIN/END HIDDEN TESTS`` markers, only clutter a reader's view of a check cell.
    """
    from mednotes.course.student import HIDDEN_BEGIN, drop_hidden_tests

    if practice_name(app.env.docname) is None:
        return
    for block in doctree.findall(nodes.literal_block):
        code = block.astext()
        if not any(map(HIDDEN_BEGIN.match, code.splitlines())):
            continue
        shown = drop_hidden_tests(code)
        block.rawsource = shown  # what Sphinx highlights
        block.children = []
        block += nodes.Text(shown)


#: MyST-NB names every toggle "Toggle hidden content", over its visible label; a solution's
#: toggle is named by what it shows ("Show solution" / "Hide solution"), as a reader sees it.
_SOLUTION_SUMMARY = re.compile(r'<summary aria-label="Toggle hidden content">(\s*<p class="collapsed '
                               rf'admonition-title">{SHOW_SOLUTION}</p>)')


def name_solution_toggles(app, pagename, templatename, context, doctree) -> None:
    """A solution toggle's accessible name is its visible label."""
    body = context.get("body")
    if body and practice_name(pagename) is not None:
        context["body"] = _SOLUTION_SUMMARY.sub(r"<summary>\1", body)


def student_launch_url(url: str, pagename: str, path_to_docs: str = "") -> str:
    """A launch button's URL, opening the student version of a practice instead.

    Example:
        >>> student_launch_url("https://colab.research.google.com/github/o/r/blob/main/"
        ...                    "exercises/01_conv_arithmetic.ipynb", "exercises/01_conv_arithmetic")
        'https://colab.research.google.com/github/o/r/blob/main/practice/01_conv_arithmetic.ipynb'
    """
    prefix = f"{path_to_docs.strip('/')}/" if path_to_docs.strip("/") else ""
    instructor = f"{prefix}{pagename}.ipynb"
    student = f"{prefix}{STUDENT_FOLDER}/{practice_name(pagename)}.ipynb"
    return re.sub(rf"(?<=[/=]){re.escape(instructor)}$", student, url)


def student_buttons(app, pagename, templatename, context, doctree) -> None:
    """On a practice page, the download and launch buttons give the student notebook.

    Runs after sphinx-book-theme has made its header buttons (priority 501).
    """
    name = practice_name(pagename)
    if name is None or not context.get("header_buttons"):
        return
    path_to_docs = app.config.html_theme_options.get("path_to_docs", "")
    download = f"{context['pathto'](STUDENT_FOLDER, 1)}/{name}.ipynb"
    leaks = []
    for group in context["header_buttons"]:
        for button in group.get("buttons", []):
            url = button.get("url", "")
            if group.get("label") == "download-buttons" and url.endswith(".ipynb"):
                button.update(url=download, tooltip="Download the student notebook (no solutions)")
            elif group.get("label") == "launch-buttons" and url:
                button["url"] = student_launch_url(url, pagename, path_to_docs)
            if f"{pagename}.ipynb" in button.get("url", ""):
                leaks.append(button.get("text") or button.get("label"))
    if leaks:
        logger.warning(f"the {', '.join(leaks)} button(s) still open the instructor notebook "
                       f"(a change in sphinx-book-theme?)", location=pagename)


def write_student_notebooks(app, exception) -> None:
    """Write each practice's student version into the site; warn when the repository's differs.

    The site's copy is generated afresh, so the download always matches its page. The Colab and
    Binder buttons open the repository's copy, which must be the same file (``make practice``).
    """
    if exception is not None or app.builder.format != "html":
        return
    from mednotes.course.student import write_student_versions

    site, repository = Path(app.outdir) / STUDENT_FOLDER, Path(app.srcdir) / STUDENT_FOLDER
    for docname in sorted(app.env.found_docs):
        name = practice_name(docname)
        source = Path(app.env.doc2path(docname))
        if name is None or source.suffix != ".ipynb":
            continue
        try:
            [written] = write_student_versions(source, site, force=True)
        except ValueError as err:
            logger.warning(f"no student version: {err}", location=docname)
            continue
        committed = repository / written.name
        if not committed.is_file() or committed.read_bytes() != written.read_bytes():
            state = "is missing" if not committed.is_file() else "differs from the generated one"
            logger.warning(f"{STUDENT_FOLDER}/{written.name} {state}: the Colab and Binder buttons "
                           f"open it; run `make practice` to regenerate the student notebooks",
                           location=docname)


def setup(app):
    app.connect("doctree-read", describe_figures)
    app.connect("doctree-read", fold_solutions)
    app.connect("doctree-read", drop_hidden_tests_from_page)
    app.connect("html-page-context", unique_scripts, priority=900)
    app.connect("html-page-context", listitem_citations)
    app.connect("html-page-context", name_solution_toggles)
    app.connect("html-page-context", student_buttons, priority=600)
    app.connect("build-finished", write_student_notebooks)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
