"""Every book notebook executes; the table of contents and the notebooks agree."""

from __future__ import annotations

import pytest

from notebooks import ROOT, execute, toc_files

BOOK_NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


def test_every_notebook_is_in_the_table_of_contents():
    listed = set(toc_files())
    missing = [str(p.relative_to(ROOT)) for p in BOOK_NOTEBOOKS + EXERCISES if p not in listed]
    assert not missing, f"not in _toc.yml: {missing}"


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: p.stem)
def test_chapters_are_committed_without_outputs(path):
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    stored = [i for i, c in enumerate(notebook.cells) if c.get("outputs")]
    assert not stored, f"{path.name}: cells {stored} hold outputs; the build executes chapters"


@pytest.mark.slow
@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_executes(path):
    notebook, seconds = execute(path)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    print(f"{path.name}: executed in {seconds:.1f} s")


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS + EXERCISES, ids=lambda p: p.stem)
def test_notebooks_install_mednotes_from_the_configured_repository(path):
    """Colab and Binder readers need the first code cell to install mednotes when missing."""
    import nbformat
    import yaml

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    notebook = nbformat.read(path, as_version=4)
    first = next(c for c in notebook.cells if c.cell_type == "code")
    assert "import mednotes" in first.source and f"git+{url}" in first.source
    assert "remove-cell" in first.metadata.get("tags", []), "the install cell is for notebooks only"
