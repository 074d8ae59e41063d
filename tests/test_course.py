"""Exercise checks and the student-version generator, in both directions."""

from __future__ import annotations

import nbformat
import pytest
import torch

from mednotes.course import check, make_student_notebook, write_student_versions
from mednotes.course.__main__ import main
from mednotes.course.student import strip_solutions
from notebooks import ROOT, execute, text_of

EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


def test_check_accepts_a_correct_function_and_value(capsys):
    assert check("window", lambda hu, c, w: ((hu - (c - w / 2)) / w).clamp(0, 1))
    assert check("air_hu", -1000)
    assert capsys.readouterr().out.count("✅") == 2


def test_check_explains_a_wrong_answer_with_a_hint(capsys):
    verdict = check("window", lambda hu, c, w: (hu - c) / w)  # forgot the clipping and offset
    out = capsys.readouterr().out
    assert not verdict and "❌ window: values differ" in out and "Hint:" in out


def test_check_reports_shapes_crashes_and_unfinished_work(capsys):
    assert not check("hu_from_raw", lambda s, m, b: (s * m + b).flatten()[:3])
    assert not check("hu_from_raw", lambda s, m, b: 1 / 0)

    def unfinished(*args):
        raise NotImplementedError

    assert not check("hu_from_raw", unfinished)
    out = capsys.readouterr().out
    assert "shape" in out and "ZeroDivisionError" in out and "not implemented yet" in out


def test_check_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown check 'nope'; known checks: air_hu"):
        check("nope", 1)


def test_strip_solutions_keeps_the_surroundings_and_indentation():
    source = "x = 1\nif x:\n    # BEGIN SOLUTION\n    y = 2\n    # END SOLUTION\nprint(y)"
    assert strip_solutions(source) == (
        'x = 1\nif x:\n    raise NotImplementedError("Exercise: write your solution here")\nprint(y)'
    )


@pytest.mark.parametrize("source, message", [
    ("# END SOLUTION", "END SOLUTION without BEGIN"),
    ("# BEGIN SOLUTION\nx = 1", "never closed"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside another"),
])
def test_strip_solutions_rejects_broken_markers(source, message):
    with pytest.raises(ValueError, match=message):
        strip_solutions(source)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_student_version_has_no_solution_and_no_output(path):
    instructor = nbformat.read(path, as_version=4)
    student = make_student_notebook(instructor)
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in code and "NotImplementedError" in code
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    assert instructor.cells[0].source == student.cells[0].source
    assert any("BEGIN SOLUTION" in c.source for c in instructor.cells), "instructor copy changed"


@pytest.mark.slow
@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_generated_student_version_fails_its_checks(path, tmp_path):
    [written] = write_student_versions(path, tmp_path)
    try:
        notebook, _ = execute(written)
    except Exception as err:  # a student notebook may stop at the first stub it reaches
        assert "NotImplementedError" in str(err)
        return
    out = text_of(notebook)
    assert "✅" not in out and "❌" in out


def test_writer_never_overwrites_without_force(tmp_path):
    out = tmp_path / "student"
    write_student_versions(ROOT / "exercises", out)
    target = out / EXERCISES[0].name
    target.write_text("a student's work")
    with pytest.raises(FileExistsError, match="--force"):
        write_student_versions(ROOT / "exercises", out)
    assert target.read_text() == "a student's work"
    write_student_versions(ROOT / "exercises", out, force=True)
    assert "BEGIN SOLUTION" not in target.read_text()


def test_writer_refuses_to_write_over_the_instructor_folder():
    with pytest.raises(ValueError, match="out must differ"):
        write_student_versions(ROOT / "exercises", ROOT / "exercises", force=True)


def test_command_line(tmp_path, capsys):
    assert main(["student", str(ROOT / "exercises"), "--out", str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["student", str(ROOT / "exercises"), "--out", str(tmp_path)]) == 2
    assert "already exist" in capsys.readouterr().err
    assert main(["student", str(tmp_path / "nothing.txt"), "--out", str(tmp_path / "x")]) == 2
