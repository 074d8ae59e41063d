"""The practices drop into an nbgrader course unchanged: release, submit, autograde.

In a temporary course folder, nbgrader's own command line generates the student version of
one practice, then autogrades five fabricated submissions: a correct one, a partly wrong one,
one whose function never returns (stopped by nbgrader's timeout), one that raises at import,
and one whose student deleted cells. The scores are read from nbgrader's gradebook.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from notebooks import ROOT

from mednotes.course.student import BEGIN, END

PRACTICE = ROOT / "exercises" / "00_hounsfield_units.ipynb"
ASSIGNMENT = "practice00"
BIN = Path(sys.executable).parent  # nbgrader calls `alembic` by name: the venv's bin on PATH

CONFIG = """\
c = get_config()
c.CourseDirectory.course_id = "cnn-medical"
c.Execute.timeout = 20  # seconds per cell: an infinite loop costs no more than this
"""

pytestmark = pytest.mark.slow  # one nbgrader release and five autograded runs


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(BIN / "nbgrader"), *args], check=False, cwd=course, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def solutions(notebook) -> dict[str, str]:
    """The instructor's solution cells, by grade id, with the markers taken out."""
    return {cell.metadata["nbgrader"]["grade_id"]: "\n".join(
        line for line in cell.source.splitlines() if not (BEGIN.match(line) or END.match(line)))
        for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("solution")}


def by_id(notebook) -> dict[str, nbformat.NotebookNode]:
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in notebook.cells
            if "nbgrader" in cell.metadata}


def fabricate(released: Path, answers: dict[str, str], delete: tuple[str, ...] = (),
              first_cell: str | None = None):
    """A submission: the released notebook with ``answers`` written into its solution cells."""
    notebook = nbformat.read(released, as_version=4)
    for grade_id, source in answers.items():
        by_id(notebook)[grade_id].source = source
    notebook.cells = [c for c in notebook.cells
                      if c.metadata.get("nbgrader", {}).get("grade_id") not in delete]
    if first_cell is not None:
        imports = next(c for c in notebook.cells if c.cell_type == "code"
                       and "from mednotes.course import check" in c.source)
        imports.source = first_cell
    return notebook


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course folder after ``nbgrader generate_assignment`` and ``nbgrader autograde``."""
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text(CONFIG)
    source = course / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    shutil.copy(PRACTICE, source)
    nbgrader(course, "generate_assignment", ASSIGNMENT)
    released = course / "release" / ASSIGNMENT / PRACTICE.name

    right = solutions(nbformat.read(PRACTICE, as_version=4))
    wrong = {**right, "water_hu-air_hu": "water_hu = 0\nair_hu = -1024",
             "my_window": right["my_window"].replace(".clamp(0.0, 1.0)", "")}
    loops = {**right, "hu_from_raw": right["hu_from_raw"].replace(
        "return stored * slope + intercept", "while True:\n        pass")}
    submissions = {
        "correct": fabricate(released, right),
        "partly_wrong": fabricate(released, wrong),
        "infinite_loop": fabricate(released, loops),
        "raises_at_import": fabricate(released, right, first_cell="import mednotes_typo"),
        "deleted_cells": fabricate(released, right, delete=("my_window", "check-window")),
    }
    for student, notebook in submissions.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / PRACTICE.name)
    nbgrader(course, "autograde", ASSIGNMENT)
    return course


def test_the_released_version_has_no_solution_and_no_hidden_test(course):
    released = nbformat.read(course / "release" / ASSIGNMENT / PRACTICE.name, as_version=4)
    code = "\n".join(c.source for c in released.cells if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in code and "HIDDEN TESTS" not in code
    assert "-1000" not in code and ".clamp(" not in code
    # nbgrader's stub follows the line that names what to define
    assert "water_hu = ...  # your answer\nair_hu = ...  # your answer\n# YOUR CODE HERE" in code
    assert code.count("raise NotImplementedError()") == 3


def scores(course: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        out = {}
        for student in book.students:
            notebook = book.find_submission_notebook(PRACTICE.stem, ASSIGNMENT, student.id)
            out[student.id] = {grade.name: grade.score for grade in notebook.grades}
            out[student.id]["total"] = notebook.score
    return out


def test_autograde_scores_each_submission(course):
    got = scores(course)
    ids = ("check-water_hu", "check-air_hu", "check-hu_from_raw", "check-window")
    expected = {
        "correct": (1, 1, 1, 1),
        "partly_wrong": (1, 0, 1, 0),        # air at −1024 HU; a window without clipping
        "infinite_loop": (1, 1, 0, 1),       # stopped by the timeout; the next cells still ran
        "raises_at_import": (0, 0, 0, 0),    # `check` never defined: every graded cell fails
        "deleted_cells": (1, 1, 1, 0),       # the deleted test cell is restored and fails
    }
    for student, points in expected.items():
        assert tuple(got[student][i] for i in ids) == points, (student, got[student])
        assert got[student]["total"] == sum(points), (student, got[student])


def test_the_autograded_notebooks_say_why(course):
    def graded(student: str) -> str:
        path = course / "autograded" / student / ASSIGNMENT / PRACTICE.name
        notebook = nbformat.read(path, as_version=4)
        return "\n".join(o.get("text", "") + o.get("evalue", "") + o.get("ename", "")
                         for c in notebook.cells for o in c.get("outputs", []))

    assert graded("correct").count("✅") == 4 and "❌" not in graded("correct")
    assert re.search(r"❌ air_hu: the answer is too low", graded("partly_wrong"))
    assert "CellTimeoutError" in graded("infinite_loop") or "Timeout" in graded("infinite_loop")
    assert "ModuleNotFoundError" in graded("raises_at_import")
    assert "my_window" in graded("deleted_cells")  # NameError: the function was deleted
