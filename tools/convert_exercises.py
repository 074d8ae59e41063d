"""Convert practice notebooks to nbgrader's format, with links that work everywhere.

Usage:
    python tools/convert_exercises.py [NOTEBOOK_OR_FOLDER ...] [--execute] [--check] [--force]

The notebooks are rewritten in place, so the script changes nothing without ``--force``: it
says which notebooks it would rewrite (as ``--check`` does) and exits 1.

With no path it converts every ``exercises/*.ipynb``. Running it again changes nothing
(idempotent), so it can run over old and new practices alike. For each notebook it:

- turns MyST roles such as {doc}`../book/principles/03_pooling` into plain Markdown links,
  [Pooling, downsampling and aliasing](../book/principles/03_pooling.ipynb), which render in
  Jupyter, Colab and on the website (Jupyter Book resolves a relative .ipynb link to the page);
- writes the solution markers as nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION``, and
  puts ``name = ...  # your answer`` before a block that assigns a value, so that nbgrader's
  student version names what to define too;
- marks each solution cell as an nbgrader solution cell, and each cell that calls
  ``check("name", answer)`` as an autograded test cell worth one point per check: the calls
  get ``strict=True`` (a failed check raises ``AssertionError``), and a hidden test repeats
  each check with the library's own ``check``, in case the student redefined it. A cell with
  several bare check calls is split into one test cell per check;
- gives every nbgrader cell a unique ``grade_id`` (schema version 3);
- imports ``hint`` beside ``check``, so that ``hint("name")``, which a failed check suggests,
  works in the notebook.

``--execute`` re-runs each converted notebook in its folder and stores the outputs (the
instructor versions are committed with outputs, which nbval compares). ``--check`` changes
nothing and exits 1 when a notebook is not converted yet.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<body>[^`]+)`")
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
MARKER = re.compile(r"^(?P<indent>\s*)#{1,3} (?P<what>BEGIN|END) SOLUTION\s*$", re.MULTILINE)
BEGIN = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
HIDDEN = re.compile(r"\n?^### BEGIN HIDDEN TESTS$.*?^### END HIDDEN TESTS$", re.MULTILINE | re.DOTALL)
STUB_LINE = re.compile(r"^(\w+)\s*=\s*\.\.\.(\s|$)")
IMPORT_CHECK = re.compile(r"^from mednotes\.course import check\s*$", re.MULTILINE)
HIDDEN_TEST = ("### BEGIN HIDDEN TESTS\n"
               "from mednotes.course import check as _check  # the library's own check\n"
               "{asserts}\n"
               "### END HIDDEN TESTS")


# ------------------------------------------------------------------------ links


def _title(path: Path) -> str | None:
    """The first level-1 heading of a notebook or a Markdown page."""
    if path.suffix == ".ipynb":
        cells = nbformat.read(path, as_version=4).cells
        text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    match = re.search(r"^# (.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


def _link(match: re.Match, folder: Path, problems: list[str]) -> str:
    role, body = match.group("role"), match.group("body").strip()
    if role != "doc":
        problems.append(f"MyST role {{{role}}} left as it is: {match.group(0)}")
        return match.group(0)
    explicit = EXPLICIT.match(body)
    text, target = (explicit.group("text"), explicit.group("target")) if explicit else (None, body)
    for suffix in (".ipynb", ".md", ""):
        candidate = folder / f"{target}{suffix}"
        if candidate.is_file():
            return f"[{text or _title(candidate) or target}]({target}{suffix})"
    problems.append(f"{{doc}} target not found, left as it is: {target}")
    return match.group(0)


def convert_links(source: str, folder: Path, problems: list[str]) -> str:
    """Every {doc} role in a Markdown cell as a plain Markdown link to the page's file."""
    return ROLE.sub(lambda m: _link(m, folder, problems), source)


# ------------------------------------------------------------------------ solution cells


def _assigned(block: list[str]) -> list[str]:
    try:
        tree = ast.parse("\n".join(block))
    except SyntaxError:
        return []
    assigns = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    if not all(isinstance(n, ast.Assign) and all(isinstance(t, ast.Name) for t in n.targets)
               for n in assigns):
        return []  # the block does more than import and assign: a value stub is not enough
    return list(dict.fromkeys(t.id for n in assigns for t in n.targets))


def convert_solution(source: str) -> str:
    """nbgrader's markers, and a ``name = ...  # your answer`` line before a value block."""
    lines = MARKER.sub(lambda m: f"{m.group('indent')}### {m.group('what')} SOLUTION",
                       source).split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        begin = BEGIN.match(lines[index])
        if begin and begin.group("indent") == "":
            end = next(i for i in range(index + 1, len(lines)) if END.match(lines[i]))
            stubbed = {m.group(1) for line in out if (m := STUB_LINE.match(line))}
            out += [f"{name} = ...  # your answer" for name in _assigned(lines[index + 1:end])
                    if name not in stubbed]
            out += lines[index:end + 1]
            index = end + 1
        else:
            out.append(lines[index])
            index += 1
    return "\n".join(out)


def _solution_id(source: str) -> str:
    tree = ast.parse(source)
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    names = names or [t.id for n in tree.body if isinstance(n, ast.Assign)
                      for t in n.targets if isinstance(t, ast.Name)]
    return "-".join(dict.fromkeys(names)) or "solution"


# ------------------------------------------------------------------------ test cells


def check_calls(source: str) -> list[ast.Call]:
    """The ``check("name", answer, ...)`` calls in a cell, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name) and node.func.id == "check"
             and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
             and isinstance(node.args[0].value, str)]
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def _offset(lines: list[str], lineno: int, col: int) -> int:
    return sum(len(line) + 1 for line in lines[:lineno - 1]) + len(
        lines[lineno - 1].encode()[:col].decode())


def split_bare_checks(source: str) -> list[str]:
    """A cell made only of several bare ``check(...)`` lines, as one source per check."""
    tree = ast.parse(source)
    bare = all(isinstance(n, ast.Expr) and check_calls(ast.get_source_segment(source, n))
               for n in tree.body)
    if len(tree.body) < 2 or not bare:
        return [source]
    return [ast.get_source_segment(source, node) for node in tree.body]


def convert_test(source: str) -> str:
    """``strict=True`` in every check call, and the hidden tests after them (rewritten)."""
    source = HIDDEN.sub("", source).rstrip()
    lines = source.split("\n")
    calls = check_calls(source)
    asserts = []
    for call in reversed(calls):
        answer = ast.get_source_segment(source, call.args[1])
        asserts.insert(0, f"assert _check({json.dumps(call.args[0].value)}, {answer}, quiet=True)")
        if any(k.arg == "strict" for k in call.keywords):
            continue
        end = _offset(lines, call.end_lineno, call.end_col_offset) - 1  # the closing ")"
        source = source[:end].rstrip().rstrip(",") + ", strict=True" + source[end:]
        lines = source.split("\n")
    return source + "\n" + HIDDEN_TEST.format(asserts="\n".join(asserts))


# ------------------------------------------------------------------------ notebooks


def _nbgrader(grade_id: str, *, solution: bool, points: int = 0) -> dict:
    meta = {"grade": not solution, "grade_id": grade_id, "locked": not solution,
            "schema_version": 3, "solution": solution, "task": False}
    if not solution:
        meta["points"] = points
    return meta


def convert_notebook(notebook: nbformat.NotebookNode, folder: Path,
                     problems: list[str]) -> nbformat.NotebookNode:
    """The converted copy of one instructor notebook (see the module's docstring)."""
    notebook = nbformat.from_dict(notebook)
    cells, used = [], set()

    def unique(grade_id: str) -> str:
        grade_id = re.sub(r"[^\w-]", "-", grade_id)
        candidate, number = grade_id, 2
        while candidate in used:
            candidate, number = f"{grade_id}-{number}", number + 1
        used.add(candidate)
        return candidate

    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = convert_links(cell.source, folder, problems)
            cells.append(cell)
        elif cell.cell_type != "code":
            cells.append(cell)
        elif MARKER.search(cell.source):
            if check_calls(cell.source):
                problems.append(f"cell {cell.get('id')}: a solution and a check in one cell")
            cell.source = convert_solution(cell.source)
            cell.metadata["nbgrader"] = _nbgrader(unique(_solution_id(cell.source)),
                                                  solution=True)
            cells.append(cell)
        elif IMPORT_CHECK.search(cell.source):
            cell.source = IMPORT_CHECK.sub("from mednotes.course import check, hint", cell.source)
            cells.append(cell)
        elif check_calls(cell.source):
            parts = split_bare_checks(HIDDEN.sub("", cell.source).rstrip())
            for number, part in enumerate(parts):
                new = nbformat.from_dict(cell) if number == 0 else nbformat.v4.new_code_cell(
                    metadata={k: v for k, v in cell.metadata.items() if k != "execution"})
                if number:
                    new["id"] = f"{cell.get('id', 'check')}-{number}"[:64]
                    new.outputs = []
                new.source = convert_test(part)
                names = [c.args[0].value for c in check_calls(part)]
                new.metadata["nbgrader"] = _nbgrader(unique("check-" + "-".join(names)),
                                                     solution=False, points=len(names))
                cells.append(new)
        else:
            cells.append(cell)
    notebook.cells = cells
    nbformat.validate(notebook)
    return notebook


def execute(notebook: nbformat.NotebookNode, folder: Path) -> None:
    """Run the notebook in ``folder`` and keep its outputs (no timing metadata)."""
    import nbclient

    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(folder)}}).execute()


def _paths(arguments: list[str]) -> list[Path]:
    if not arguments:
        return sorted((ROOT / "exercises").glob("*.ipynb"))
    paths = []
    for argument in map(Path, arguments):
        paths += sorted(argument.glob("*.ipynb")) if argument.is_dir() else [argument]
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="notebooks or folders (default: exercises/)")
    parser.add_argument("--execute", action="store_true", help="re-run and store outputs")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a notebook is not converted yet")
    parser.add_argument("--force", action="store_true",
                        help="rewrite the notebooks in place (without it, nothing is written)")
    args = parser.parse_args(argv)
    stale = 0
    for path in _paths(args.paths):
        problems: list[str] = []
        before = nbformat.read(path, as_version=4)
        after = convert_notebook(before, path.parent, problems)
        for problem in problems:
            print(f"{path.name}: {problem}", file=sys.stderr)
        changed = nbformat.writes(after) != nbformat.writes(before)
        if args.check:
            stale += changed
            print(f"{path.name}: {'needs converting' if changed else 'converted'}")
            continue
        if (changed or args.execute) and not args.force:
            stale += 1
            print(f"{path.name}: would be rewritten in place; run again with --force")
            continue
        if args.execute:
            execute(after, path.parent)
        if changed or args.execute:
            nbformat.write(after, path)
        print(f"{path.name}: {'converted' if changed else 'unchanged'}"
              f"{', executed' if args.execute else ''}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
