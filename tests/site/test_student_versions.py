"""Students on the website get the student version of each practice (issue 15).

A practice page is built from the instructor notebook, solutions included. On it, the download
button must serve the student notebook from the site itself, the Colab and Binder buttons must
open the student notebook committed in the repository's practice/ folder, and each solution
must sit behind a toggle that reads "Show solution" (tools/sphinx_site.py does all three).
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import PurePosixPath

import nbformat
import pytest
import yaml
from browsing import BOOK, PAGES, open_page, source_of

PRACTICE_PAGES = [page for page in PAGES if PurePosixPath(page).parent.name == "exercises"]
SOLUTION_MARKER = re.compile(r"^\s*#+ (BEGIN|END) SOLUTION\s*$", re.MULTILINE)
HIDDEN_MARKER = re.compile(r"^\s*#+ (BEGIN|END) HIDDEN TESTS\s*$", re.MULTILINE)
#: What replaces a solution: a function body that raises, or a value to fill in (``rf = ...``).
STUB = re.compile(r"NotImplementedError|^\w+ = \.\.\.(\s|$)", re.MULTILINE)


def solution_cells(notebook) -> dict[int, list[str]]:
    """Each solution cell's index, with the code between its markers (one string per block)."""
    found: dict[int, list[str]] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not SOLUTION_MARKER.search(cell.source):
            continue
        blocks, block = [], None
        for line in cell.source.splitlines():
            if re.match(r"^\s*#+ BEGIN SOLUTION\s*$", line):
                block = []
            elif re.match(r"^\s*#+ END SOLUTION\s*$", line):
                blocks.append("\n".join(block).strip())
                block = None
            elif block is not None:
                block.append(line)
        found[index] = blocks
    return found


def _repository() -> tuple[str, str]:
    """The repository's GitHub path ("owner/name") and branch, as _config.yml states them."""
    repository = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))["repository"]
    path = repository["url"].rstrip("/").split("github.com/")[1]
    return path, repository.get("branch", "main")


def test_the_book_has_practice_pages():
    assert PRACTICE_PAGES, "no exercises/ page in _toc.yml: the tests below would check nothing"


@pytest.fixture(scope="module", params=PRACTICE_PAGES)
def practice(request, new_page):
    """``(page, tab, errors)``: one practice page, opened once for all the tests below (pytest
    runs them page by page), with its console errors."""
    tab, errors = open_page(new_page, request.param, 1280)
    yield request.param, tab, errors
    tab.context.close()


def test_download_serves_the_student_notebook(practice, site_url):
    page, tab, _ = practice
    name = PurePosixPath(page).name
    links = tab.eval_on_selector_all(".dropdown-download-buttons a[href]", "as => as.map(a => a.href)")
    notebooks = [link for link in links if link.split("?")[0].endswith(".ipynb")]
    assert notebooks == [f"{site_url}practice/{name}.ipynb"], \
        f"{page}: the download menu should offer the student notebook alone, offers {links}"
    every_link = tab.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
    instructor = [link for link in every_link if link.split("?")[0].endswith(f"{page}.ipynb")]
    assert not instructor, f"{page}: links to the instructor notebook: {instructor}"

    with urllib.request.urlopen(notebooks[0]) as response:  # the local server: offline
        served = response.read()
    student = nbformat.reads(served.decode("utf-8"), as_version=4)
    nbformat.validate(student)
    text = json.dumps(student)
    assert not SOLUTION_MARKER.search("\n".join(c.source for c in student.cells)) and \
        "HIDDEN TESTS" not in text, f"{page}: the downloaded notebook holds solution markers"
    instructor_notebook = nbformat.read(source_of(page), as_version=4)
    solutions = solution_cells(instructor_notebook)
    assert solutions, f"{page}: the instructor notebook has no solution cell"
    assert len(student.cells) == len(instructor_notebook.cells)
    for index, blocks in solutions.items():
        code = student.cells[index].source
        leaked = [block for block in blocks if block and block in code]
        assert not leaked, f"{page}: cell {index} of the download holds the solution {leaked[0][:120]!r}"
        assert STUB.search(code), f"{page}: cell {index} of the download has no stub to fill in: {code!r}"
    assert not [c for c in student.cells if c.get("outputs")], f"{page}: the download stores outputs"
    committed = BOOK / "practice" / f"{name}.ipynb"
    assert committed.is_file() and committed.read_bytes() == served, \
        f"{page}: the download differs from practice/{name}.ipynb, which Colab and Binder open"


def test_launch_buttons_open_the_student_notebook(practice):
    page, tab, _ = practice
    name = PurePosixPath(page).name
    repository, branch = _repository()
    links = tab.eval_on_selector_all(".dropdown-launch-buttons a[href]", "as => as.map(a => a.href)")
    colab = f"https://colab.research.google.com/github/{repository}/blob/{branch}/practice/{name}.ipynb"
    binder = f"https://mybinder.org/v2/gh/{repository}/{branch}?urlpath=lab/tree/practice/{name}.ipynb"
    assert colab in links, f"{page}: no Colab link to the student notebook ({colab}): {links}"
    assert binder in links, f"{page}: no Binder link to the student notebook ({binder}): {links}"
    assert not [link for link in links if "exercises/" in link], \
        f"{page}: a launch button opens the instructor notebook: {links}"
    assert (BOOK / "practice" / f"{name}.ipynb").is_file(), \
        f"{page}: the launch buttons open practice/{name}.ipynb, which the repository lacks"


def test_solutions_sit_behind_a_show_solution_toggle(practice):
    page, tab, errors = practice
    solutions = solution_cells(nbformat.read(source_of(page), as_version=4))
    # The page's code cells whose code carries the markers: the solution cells, as rendered.
    cells = tab.evaluate("""() => [...document.querySelectorAll("div.cell")].map((cell, i) => [i,
        /^\\s*#+ BEGIN SOLUTION\\s*$/m.test(cell.querySelector(".cell_input")?.textContent || "")])
        .filter(([, solution]) => solution).map(([i]) => i)""")
    assert len(cells) == len(solutions), \
        f"{page}: {len(solutions)} solution cell(s) in the notebook, {len(cells)} on the page"
    for number, index in enumerate(cells, start=1):
        cell = tab.locator("div.cell").nth(index)
        summary = cell.locator("details > summary").first
        code = cell.locator(".cell_input")
        assert summary.count(), f"{page}: solution {number} is not behind a toggle"
        assert summary.inner_text().strip() == "Show solution", \
            f"{page}: solution {number}'s toggle reads {summary.inner_text().strip()!r}"
        assert summary.get_attribute("aria-label") in (None, "Show solution"), \
            f"{page}: solution {number}'s toggle is named {summary.get_attribute('aria-label')!r}"
        assert not code.is_visible(), f"{page}: solution {number} shows before its toggle is opened"
        summary.click()
        assert code.is_visible(), f"{page}: opening solution {number}'s toggle does not show it"
        assert summary.inner_text().strip() == "Hide solution"
    assert not errors, f"{page}: console errors: {errors}"


def _hidden_test_cells(page: str) -> list[str]:
    notebook = nbformat.read(source_of(page), as_version=4)
    return [cell.source for cell in notebook.cells
            if cell.cell_type == "code" and HIDDEN_MARKER.search(cell.source)]


def test_some_practice_has_hidden_tests():
    assert any(_hidden_test_cells(page) for page in PRACTICE_PAGES), \
        "no practice has nbgrader hidden tests: the test below would check nothing"


def test_hidden_tests_are_left_out_of_the_page(practice):
    from mednotes.course.student import drop_hidden_tests

    page, tab, errors = practice
    shown = tab.evaluate("""() => [...document.querySelectorAll("div.cell .cell_input pre")]
        .map(pre => pre.textContent)""")
    assert not [code for code in shown if "HIDDEN TESTS" in code], \
        f"{page}: nbgrader's hidden tests are shown"
    for source in _hidden_test_cells(page):  # the rest of each such cell is still there
        kept = drop_hidden_tests(source).strip()
        assert any(code.strip() == kept for code in shown), \
            f"{page}: the check cell without its hidden tests is not on the page:\n{kept}"
    assert not errors, f"{page}: console errors: {errors}"
