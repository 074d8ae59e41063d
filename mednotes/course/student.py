"""Student versions of exercise notebooks: solutions out, stubs in, outputs cleared.

Solution code sits between a ``# BEGIN SOLUTION`` and an ``# END SOLUTION`` line; the student
version keeps the lines outside the markers and replaces the inside with a stub that raises
``NotImplementedError``, indented like the marker.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
STUB = '{indent}raise NotImplementedError("Exercise: write your solution here")'


def strip_solutions(source: str) -> str:
    """Replace every solution block in one cell's source with a stub.

    Example:
        >>> print(strip_solutions("def f(x):\\n    # BEGIN SOLUTION\\n    return 2 * x\\n    # END SOLUTION"))
        def f(x):
            raise NotImplementedError("Exercise: write your solution here")
    """
    out, indent = [], None
    for number, line in enumerate(source.splitlines(), start=1):
        begin = BEGIN.match(line)
        if begin:
            if indent is not None:
                raise ValueError(f"line {number}: BEGIN SOLUTION inside another solution block")
            indent = begin.group("indent")
            out.append(STUB.format(indent=indent))
        elif END.match(line):
            if indent is None:
                raise ValueError(f"line {number}: END SOLUTION without BEGIN SOLUTION")
            indent = None
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise ValueError("a BEGIN SOLUTION block is never closed by END SOLUTION")
    return "\n".join(out)


def make_student_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with solutions stubbed and every output cleared."""
    student = nbformat.from_dict(notebook)
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        try:
            cell.source = strip_solutions(cell.source)
        except ValueError as err:
            raise ValueError(f"cell {index}: {err}") from None
        cell.outputs = []
        cell.execution_count = None
        tags = [t for t in cell.metadata.get("tags", []) if t != "hide-input"]
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    student.metadata.pop("widgets", None)
    return student


def write_student_versions(source: str | Path, out: str | Path, *, force: bool = False) -> list[Path]:
    """Write the student version of one notebook, or of every notebook in a folder.

    Args:
        source: an ``.ipynb`` file or a folder of them (instructor versions).
        out: the folder to write into; created when missing.
        force: overwrite notebooks that already exist in ``out``. Without it nothing is
            written when any target exists, so a student's work is never lost.

    Returns:
        The paths written.
    """
    source, out = Path(source), Path(out)
    if source.is_dir():
        notebooks = sorted(source.glob("*.ipynb"))
    elif source.suffix == ".ipynb" and source.is_file():
        notebooks = [source]
    else:
        raise ValueError(f"source must be an .ipynb file or a folder of them, got {str(source)!r}")
    if not notebooks:
        raise ValueError(f"source folder {str(source)!r} holds no .ipynb notebooks")
    if out.resolve() == (source if source.is_dir() else source.parent).resolve():
        raise ValueError("out must differ from the instructor folder, or solutions would be lost")
    targets = [out / nb.name for nb in notebooks]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise FileExistsError(
            f"{len(existing)} student notebook(s) already exist, e.g. {existing[0]}; "
            "pass --force to overwrite them"
        )
    students = [make_student_notebook(nbformat.read(nb, as_version=4)) for nb in notebooks]
    out.mkdir(parents=True, exist_ok=True)
    for target, student in zip(targets, students):
        nbformat.write(student, target)
    return targets
