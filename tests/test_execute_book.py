"""tools/execute_book.py: the book's notebooks executed in parallel into Jupyter Book's cache.

A small book of three notebooks (one of which fails) in a temporary folder; each runs in a real
kernel. What is checked is what Jupyter Book relies on: after the script, the cache matches
every notebook that ran (``match_cache_notebook``, the call myst-nb makes before deciding to
execute), the outputs are those of a run in the notebook's own folder, and nothing runs twice.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("execute_book", ROOT / "tools" / "execute_book.py")
execute_book = importlib.util.module_from_spec(spec)
sys.modules["execute_book"] = execute_book  # its worker processes find their function by name
spec.loader.exec_module(execute_book)


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def book(tmp_path):
    (tmp_path / "_config.yml").write_text(
        "execute:\n  execute_notebooks: cache\n  cache: _build/.jupyter_cache\n  timeout: 60\n",
        encoding="utf-8")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: part/one\n  - file: part/two.ipynb\n",
        encoding="utf-8")
    # Each writes where it runs and prints the thread count its kernel was given.
    _notebook(tmp_path / "intro.ipynb", "import os\nopen('ran-intro', 'w').close()",
              "print(os.environ.get('OMP_NUM_THREADS'))")
    _notebook(tmp_path / "part" / "one.ipynb", "open('ran-one', 'w').close()", "print(6 * 7)")
    _notebook(tmp_path / "part" / "two.ipynb", "raise RuntimeError('chapter two is broken')")
    return tmp_path


def test_the_notebooks_of_the_toc_are_executed_in_their_folders_and_cached(book, capfd):
    settings = execute_book.execution_settings(book / "_config.yml")
    assert settings["mode"] == "cache" and settings["timeout"] == 60
    notebooks = execute_book.toc_notebooks(book / "_toc.yml")
    assert [p.relative_to(book).as_posix() for p in notebooks] == [
        "intro.ipynb", "part/one.ipynb", "part/two.ipynb"]
    out = io.StringIO()
    failed = execute_book.execute(notebooks, settings, 2, out=out)
    report = out.getvalue()
    assert failed == [book / "part" / "two.ipynb"], report
    assert "0 of 3 notebooks are cached; executing 3, 2 at a time" in report
    assert "chapter two is broken" in report and "FAILED" in report
    assert "2 executed, 1 failed" in report
    assert (book / "ran-intro").is_file() and (book / "part" / "ran-one").is_file()
    # The kernels' start-up messages go to a log in the cache, not into the build's output.
    assert "IPKernelApp" not in capfd.readouterr().err
    assert (settings["cache"] / "execute_book.log").is_file()

    from jupyter_cache import get_cache

    cache = get_cache(str(settings["cache"]))
    records = [(r.uri, r.hashkey) for r in cache.list_cache_records()]
    assert execute_book.stale_notebooks(cache, notebooks) == [book / "part" / "two.ipynb"], (
        report, records)
    merged = cache.merge_match_into_notebook(nbformat.read(notebooks[1], as_version=4))[1]
    assert merged.cells[1].outputs[0]["text"] == "42\n"
    # Two notebooks on however many cores: each kernel gets its share, at least one thread.
    intro = cache.merge_match_into_notebook(nbformat.read(notebooks[0], as_version=4))[1]
    threads = int(intro.cells[1].outputs[0]["text"])
    assert threads == max(1, (execute_book.os.cpu_count() or 1) // 2)


def test_a_second_run_executes_only_what_changed(book):
    settings = execute_book.execution_settings(book / "_config.yml")
    notebooks = execute_book.toc_notebooks(book / "_toc.yml")[:2]
    assert execute_book.execute(notebooks, settings, 1, out=io.StringIO()) == []
    out = io.StringIO()
    assert execute_book.execute(notebooks, settings, 1, out=out) == []
    assert "2 of 2 notebooks are cached; executing 0" in out.getvalue()
    _notebook(book / "part" / "one.ipynb", "print('edited')")  # its code changed
    out = io.StringIO()
    assert execute_book.execute(notebooks, settings, 1, out=out) == []
    assert "1 of 2 notebooks are cached; executing 1" in out.getvalue()
    assert "part/one.ipynb" in out.getvalue() and "intro.ipynb" not in out.getvalue()


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True, "2"])
def test_jobs_must_be_a_positive_integer(book, jobs):
    settings = execute_book.execution_settings(book / "_config.yml")
    with pytest.raises(ValueError, match="jobs"):
        execute_book.execute([], settings, jobs)


def test_the_command_line_refuses_bad_jobs_and_missing_files(book, capsys):
    for argv in (["--jobs", "zero"], ["--jobs", "0"], ["--toc", str(book / "none.yml")]):
        with pytest.raises(SystemExit) as exit_info:
            execute_book.main(argv + ["--config", str(book / "_config.yml")])
        assert exit_info.value.code == 2
    assert "--jobs must be a positive integer" in capsys.readouterr().err


def test_a_book_that_does_not_cache_is_left_to_jupyter_book(book, capsys):
    config = book / "_config.yml"
    config.write_text(config.read_text().replace("cache\n  cache", "force\n  cache"))
    assert execute_book.main(["--toc", str(book / "_toc.yml"), "--config", str(config)]) == 0
    assert "not 'cache': nothing to do" in capsys.readouterr().out
    assert not (book / "_build").exists()


def test_the_book_itself_is_configured_for_the_cache_that_the_script_fills():
    settings = execute_book.execution_settings(ROOT / "_config.yml")
    assert settings["mode"] == "cache"
    assert settings["cache"] == ROOT / "_build" / ".jupyter_cache"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    book_recipe = makefile.split("\nbook:", 1)[1].split("\n\n", 1)[0]
    assert book_recipe.index("tools/execute_book.py") < book_recipe.index("jupyter-book build")
