"""Student versions of exercise notebooks: solutions out, stubs in, outputs cleared.

Solution code sits between a ``### BEGIN SOLUTION`` and an ``### END SOLUTION`` line
(nbgrader's markers; the older ``# BEGIN SOLUTION`` works too). The student version keeps the
lines outside the markers and replaces the inside with a stub that names what to define:

- a block at the top level of a cell that assigns values, ``rf = 10``, becomes
  ``rf = ...  # your answer``, so that an unfinished exercise gets the check's friendly
  "not implemented yet" and not a ``NameError`` (no stub is added when the instructor cell
  already has that line before the block, as nbgrader's own student version needs);
- a block inside a function becomes ``raise NotImplementedError(...)``, indented like the
  marker.

nbgrader's hidden tests (``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN TESTS``) are removed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: nbformat pulls in jsonschema, 3 s of every practice's start
    import nbformat

BEGIN = re.compile(r"^(?P<indent>\s*)#+ BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*#+ END SOLUTION\s*$")
HIDDEN_BEGIN = re.compile(r"^\s*#+ BEGIN HIDDEN TESTS\s*$")
HIDDEN_END = re.compile(r"^\s*#+ END HIDDEN TESTS\s*$")
STUB = '{indent}raise NotImplementedError("Exercise: write your solution here")'
VALUE_STUB = "{name} = ...  # your answer"


def assigned_names(code: str) -> list[str]:
    """The names a top-level block of code assigns, in order; ``[]`` if it assigns none or
    does more than import and assign (then a value stub would not be enough).

    Example:
        >>> assigned_names("margin = (572 - 388) // 2\\ntiles = 3 * 3")
        ['margin', 'tiles']
        >>> assigned_names("import math\\np0 = math.exp(1) / (math.exp(1) + 1)")
        ['p0']
        >>> assigned_names("for i in range(3):\\n    print(i)")
        []
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            names += [t.id for t in node.targets if t.id not in names]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names += [node.target.id] if node.target.id not in names else []
        elif not isinstance(node, (ast.Import, ast.ImportFrom)):
            return []
    return names


def _stub(indent: str, block: list[str], before: list[str]) -> list[str]:
    """The lines that replace one solution block, given the lines kept before it."""
    names = assigned_names("\n".join(block)) if indent == "" else []
    if not names:
        return [STUB.format(indent=indent)]
    stubbed = {m.group(1) for line in before
               if (m := re.match(r"^(\w+)\s*=\s*\.\.\.(\s|$)", line))}
    return [VALUE_STUB.format(name=name) for name in names if name not in stubbed]


def _hidden_test_lines(lines: list[str]) -> set[int]:
    """The numbers (from 1) of the lines in nbgrader's hidden-test blocks, markers included."""
    hidden: set[int] = set()
    start = None
    for number, line in enumerate(lines, start=1):
        if HIDDEN_BEGIN.match(line):
            if start is not None:
                raise ValueError(f"line {number}: BEGIN HIDDEN TESTS inside another block")
            start = number
        elif HIDDEN_END.match(line):
            if start is None:
                raise ValueError(f"line {number}: END HIDDEN TESTS without BEGIN HIDDEN TESTS")
            hidden.update(range(start, number + 1))
            start = None
    if start is not None:
        raise ValueError("a BEGIN HIDDEN TESTS block is never closed by END HIDDEN TESTS")
    return hidden


def drop_hidden_tests(source: str) -> str:
    """One cell's source without its hidden tests (and their markers); solutions are kept.

    What the website shows of an instructor's notebook: the solutions sit behind a toggle,
    the hidden tests are for grading only.

    Example:
        >>> print(drop_hidden_tests("check('rf', rf)\\n### BEGIN HIDDEN TESTS\\nassert rf == 10\\n### END HIDDEN TESTS"))
        check('rf', rf)
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a cell's code as a str, got {type(source).__name__}")
    lines = source.splitlines()
    hidden = _hidden_test_lines(lines)
    return "\n".join(line for number, line in enumerate(lines, start=1) if number not in hidden)


def strip_solutions(source: str) -> str:
    """Replace every solution block in one cell's source with a stub; drop hidden tests.

    Example:
        >>> print(strip_solutions("def f(x):\\n    ### BEGIN SOLUTION\\n    return 2 * x\\n    ### END SOLUTION"))
        def f(x):
            raise NotImplementedError("Exercise: write your solution here")
        >>> print(strip_solutions("### BEGIN SOLUTION\\nrf = 10\\n### END SOLUTION\\ncheck('receptive_field', rf)"))
        rf = ...  # your answer
        check('receptive_field', rf)
    """
    out: list[str] = []
    block: list[str] = []
    indent: str | None = None
    lines = source.splitlines()
    hidden = _hidden_test_lines(lines)
    for number, line in enumerate(lines, start=1):
        begin = BEGIN.match(line)
        if number in hidden:
            if indent is not None:
                raise ValueError(f"line {number}: BEGIN HIDDEN TESTS inside another block")
            continue
        if begin:
            if indent is not None:
                raise ValueError(f"line {number}: BEGIN SOLUTION inside another solution block")
            indent, block = begin.group("indent"), []
        elif END.match(line):
            if indent is None:
                raise ValueError(f"line {number}: END SOLUTION without BEGIN SOLUTION")
            out += _stub(indent, block, out)
            indent = None
        elif indent is None:
            out.append(line)
        else:
            block.append(line)
    if indent is not None:
        raise ValueError("a BEGIN SOLUTION block is never closed by END SOLUTION")
    return "\n".join(out)


def make_student_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with solutions stubbed, hidden tests and every output removed,
    and no nbgrader metadata (this version is for use without nbgrader)."""
    import nbformat

    student = nbformat.from_dict(notebook)
    for index, cell in enumerate(student.cells):
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type != "code":
            continue
        try:
            cell.source = strip_solutions(cell.source)
        except ValueError as err:
            raise ValueError(f"cell {index}: {err}") from None
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
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
        out: the folder to write into; created when missing. It may not be the instructor
            folder or lie inside it (``exercises/``), where the student versions would be
            taken for practices of their own, or overwrite the solutions.
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
    folder = (source if source.is_dir() else source.parent).resolve()
    if out.resolve() == folder or out.resolve().is_relative_to(folder):
        raise ValueError(f"out must lie outside the instructor folder {str(folder)!r}, or "
                         f"solutions would be lost or student versions mixed with them; "
                         f"got {str(out)!r}")
    targets = [out / nb.name for nb in notebooks]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise FileExistsError(
            f"{len(existing)} student notebook(s) already exist, e.g. {existing[0]}; "
            "pass --force to overwrite them"
        )
    import nbformat

    students = [make_student_notebook(nbformat.read(nb, as_version=4)) for nb in notebooks]
    out.mkdir(parents=True, exist_ok=True)
    for target, student in zip(targets, students):
        nbformat.write(student, target)
    return targets
