"""The committed student versions in practice/ are exactly what the generator makes of exercises/.

The website's practice pages open practice/<name>.ipynb on Colab and Binder (tools/sphinx_site.py),
so a stale or missing copy would hand students an old practice, or a 404. `make practice`
regenerates the folder. The site side is checked in a browser by tests/site/test_student_versions.py.
"""

from __future__ import annotations

import doctest
import importlib.util
import re

import nbformat
import pytest
import tomllib
import yaml
from notebooks import ROOT, toc_files

from mednotes.course import write_student_versions
from mednotes.course.student import BEGIN, END

EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
PRACTICE = ROOT / "practice"
REGENERATE = "run `make practice` and commit practice/"


def _sphinx_site():
    spec = importlib.util.spec_from_file_location("sphinx_site", ROOT / "tools" / "sphinx_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def solution_blocks(notebook) -> list[str]:
    """The code between each BEGIN SOLUTION and END SOLUTION marker, one string per block."""
    blocks, block = [], None
    for cell in notebook.cells:
        for line in cell.source.splitlines() if cell.cell_type == "code" else []:
            if BEGIN.match(line):
                block = []
            elif END.match(line):
                blocks.append("\n".join(block))
                block = None
            elif block is not None:
                block.append(line)
    return blocks


def test_there_are_practices():
    assert EXERCISES, "no exercises/*.ipynb: the checks below would check nothing"


def test_practice_folder_is_what_the_generator_writes_today(tmp_path):
    written = write_student_versions(ROOT / "exercises", tmp_path)
    missing = [p.name for p in written if not (PRACTICE / p.name).is_file()]
    stale = [p.name for p in written
             if (PRACTICE / p.name).is_file() and (PRACTICE / p.name).read_bytes() != p.read_bytes()]
    assert not missing, f"practice/ lacks the student version of {missing}: {REGENERATE}"
    assert not stale, f"practice/ holds stale student versions of {stale}: {REGENERATE}"


def test_practice_folder_holds_no_notebook_without_its_practice():
    practices = {p.name for p in EXERCISES}
    orphans = sorted(p.name for p in PRACTICE.glob("*.ipynb") if p.name not in practices)
    assert not orphans, f"practice/ holds {orphans}, which exercises/ no longer has: delete them"


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_student_version_holds_no_solution(path):
    """Independent of the generator's own tests: no solution block survives, word for word."""
    instructor = nbformat.read(path, as_version=4)
    student_path = PRACTICE / path.name
    if not student_path.is_file():
        pytest.fail(f"practice/{path.name} is missing: {REGENERATE}")
    student = nbformat.read(student_path, as_version=4)
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    blocks = solution_blocks(instructor)
    assert blocks, f"{path.name}: the instructor version has no solution block"
    leaked = [block for block in blocks if block.strip() and block.strip() in code]
    assert not leaked, f"practice/{path.name} holds solution code: {leaked[0][:200]!r}"
    assert not re.search(r"(BEGIN|END) (SOLUTION|HIDDEN TESTS)", code)
    assert "NotImplementedError" in code or "= ...  # your answer" in code, "no stub to fill in"
    assert not [c for c in student.cells if c.get("outputs")], "the student version stores outputs"
    assert not [c for c in student.cells if "nbgrader" in c.metadata]


def test_practice_folder_is_neither_a_page_nor_a_test():
    """The student versions fail by design: the book must not build them, nor nbval run them."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "practice" in config["exclude_patterns"]
    assert not [p for p in toc_files() if p.parent == PRACTICE]
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--ignore=practice" in pytest_options["addopts"].split()
    assert "practice" not in pytest_options["testpaths"]


def test_site_extension_examples():
    failed, attempted = doctest.testmod(_sphinx_site())
    assert attempted and not failed


@pytest.mark.parametrize(("url", "expected"), [
    ("https://colab.research.google.com/github/o/r/blob/main/exercises/00_hu.ipynb",
     "https://colab.research.google.com/github/o/r/blob/main/practice/00_hu.ipynb"),
    ("https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/exercises/00_hu.ipynb",
     "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/practice/00_hu.ipynb"),
    # Another page's notebook, or a name that only ends the same way, is left alone.
    ("https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/exercises/01_sizes.ipynb",
     "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/exercises/01_sizes.ipynb"),
    ("https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/old_exercises/00_hu.ipynb",
     "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/old_exercises/00_hu.ipynb"),
])
def test_launch_urls_open_the_student_version(url, expected):
    assert _sphinx_site().student_launch_url(url, "exercises/00_hu") == expected


def test_launch_urls_keep_the_books_folder_in_the_repository():
    url = "https://colab.research.google.com/github/o/r/blob/main/site/exercises/00_hu.ipynb"
    assert _sphinx_site().student_launch_url(url, "exercises/00_hu", "/site/") == \
        "https://colab.research.google.com/github/o/r/blob/main/site/practice/00_hu.ipynb"


def test_only_practice_pages_get_student_versions():
    site = _sphinx_site()
    assert site.practice_name("exercises/07_dice") == "07_dice"
    assert [site.practice_name(p) for p in ("book/index", "exercises", "book/exercises/x")] == [None] * 3
