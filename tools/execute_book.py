"""Execute the book's notebooks into Jupyter Book's cache, several at a time.

Usage: python tools/execute_book.py [--jobs N] [--toc _toc.yml] [--config _config.yml]

``make book`` runs this before ``jupyter-book build``. Jupyter Book executes the notebooks that
its cache lacks one after another, and most of them keep one CPU core busy at a time (Python,
matplotlib, small networks on one torch thread), so on a 2-core laptop half the machine idles
through most of a cold build. This script fills the same cache (``execute.cache`` in
``_config.yml``, jupyter-cache's format; each notebook run in its own folder and cached as
myst-nb does it) with ``--jobs`` notebooks at a time, longest first, and Jupyter Book then finds every
notebook cached and only renders. Notebooks whose code has not changed since their last
execution are not run again; a warm rebuild costs only the check.

Each kernel gets ``cores // jobs`` threads (``OMP_NUM_THREADS``), so that two notebooks on two
cores do not fight over them. A notebook that fails is reported with its traceback and the
script exits with status 1 (``make book`` stops there); the others are still executed and
cached. What the kernels print on their own stderr goes to ``execute_book.log`` in the cache.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from build_report import toc_notebooks  # noqa: E402


def execution_settings(config: Path) -> dict:
    """The ``execute`` section of a Jupyter Book ``_config.yml``, with Jupyter Book's defaults:
    ``mode``, ``cache`` (a Path), ``timeout``, ``allow_errors`` and ``exclude``."""
    import yaml

    section = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("execute") or {}
    cache = Path(section.get("cache") or "_build/.jupyter_cache")
    return {"mode": section.get("execute_notebooks", "auto"),
            "cache": cache if cache.is_absolute() else config.parent / cache,
            "timeout": int(section.get("timeout", 30)),
            "allow_errors": bool(section.get("allow_errors", False)),
            "exclude": list(section.get("exclude_patterns") or [])}


def stale_notebooks(cache, notebooks: list[Path]) -> list[Path]:
    """The notebooks for which the cache holds no execution of their current code (the match
    that Jupyter Book makes: the code cells' sources and the kernelspec)."""
    import nbformat

    stale = []
    for path in notebooks:
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            stale.append(path)
    return stale


def previous_seconds(cache) -> dict[str, float]:
    """For each notebook (by absolute path) with a cached execution of any version, how long
    the longest of them took."""
    seconds: dict[str, float] = {}
    for record in cache.list_cache_records():
        took = (record.data or {}).get("execution_seconds") or 0.0
        seconds[record.uri] = max(took, seconds.get(record.uri, 0.0))
    return seconds


def _start_worker(threads: str, log: str) -> None:
    """In a worker process: the thread count that its kernels inherit, and their stderr (the
    kernels' start-up chatter) into ``log`` instead of the build's output."""
    os.environ["OMP_NUM_THREADS"] = threads
    with open(log, "ab") as stream:
        os.dup2(stream.fileno(), 2)


def _execute(path: str, timeout: int, allow_errors: bool):
    """In a worker process: run one notebook in its folder, as myst-nb does in cache mode.

    Returns ``(executed notebook as JSON or None, seconds, error text or None)``; the parent
    process alone writes the cache (SQLite shared by writing processes lost records).
    """
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = nbformat.read(path, as_version=4)
    result = single_nb_execution(notebook, cwd=str(Path(path).parent), timeout=timeout,
                                 allow_errors=allow_errors, meta_override=True)
    if result.err is not None:
        return None, result.time, result.exc_string or repr(result.err)
    return nbformat.writes(notebook), result.time, None


def execute(notebooks: list[Path], settings: dict, jobs: int, *, out=sys.stdout) -> list[Path]:
    """Execute the stale ones of ``notebooks`` into the cache, ``jobs`` at a time.

    Returns the notebooks that failed (empty when all ran or were already cached).
    """
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    settings["cache"].mkdir(parents=True, exist_ok=True)
    cache = get_cache(str(settings["cache"]))
    stale = stale_notebooks(cache, notebooks)
    print(f"execute_book: {len(notebooks) - len(stale)} of {len(notebooks)} notebooks are cached; "
          f"executing {len(stale)}, {jobs} at a time", file=out, flush=True)
    if not stale:
        return []
    # Longest first (by the last execution on record): the pool then ends with short ones.
    took = previous_seconds(cache)
    stale.sort(key=lambda p: -took.get(str(p.resolve()), 0.0))
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // jobs))
    failed: list[Path] = []
    started = time.perf_counter()
    log = settings["cache"] / "execute_book.log"
    log.write_bytes(b"")
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker,
                                                initargs=(threads, str(log))) as pool:
        futures = {pool.submit(_execute, str(path.resolve()), settings["timeout"],
                               settings["allow_errors"]): path for path in stale}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            path = futures[future]
            try:
                executed, seconds, error = future.result()
            except Exception as crash:  # noqa: BLE001  (a kernel that could not start, ...)
                executed, seconds, error = None, 0.0, f"{type(crash).__name__}: {crash}"
            if executed is not None:
                cache.cache_notebook_bundle(
                    CacheBundleIn(nbformat.reads(executed, as_version=4), str(path.resolve()),
                                  data={"execution_seconds": seconds}),
                    check_validity=False, overwrite=True)
            name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            verdict = "ok" if error is None else "FAILED"
            print(f"  [{done}/{len(stale)}] {verdict:6} {seconds:6.1f} s  {name}", file=out,
                  flush=True)
            if error is not None:
                failed.append(path)
                print(error, file=out, flush=True)
    print(f"execute_book: {len(stale) - len(failed)} executed, {len(failed)} failed, "
          f"{time.perf_counter() - started:.0f} s (the kernels' own messages: {log})", file=out,
          flush=True)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", default="auto",
                        help="notebooks at a time: a number, or 'auto' (the CPU cores, at most 4)")
    parser.add_argument("--toc", type=Path, default=ROOT / "_toc.yml",
                        help="the table of contents (default: _toc.yml)")
    parser.add_argument("--config", type=Path, default=ROOT / "_config.yml",
                        help="the book's configuration (default: _config.yml)")
    args = parser.parse_args(argv)
    if args.jobs == "auto":
        jobs = min(4, os.cpu_count() or 1)
    elif args.jobs.isdigit() and int(args.jobs) >= 1:
        jobs = int(args.jobs)
    else:
        parser.error(f"--jobs must be a positive integer or 'auto', got {args.jobs!r}")
    for option, path in (("--toc", args.toc), ("--config", args.config)):
        if not path.is_file():
            parser.error(f"{option}: no file at {path}")
    settings = execution_settings(args.config)
    if settings["mode"] != "cache":
        print(f"execute_book: execute_notebooks is {settings['mode']!r}, not 'cache': nothing to "
              "do (Jupyter Book executes the notebooks itself)")
        return 0
    notebooks = [path for path in toc_notebooks(args.toc) if not any(
        fnmatch.fnmatch(path.relative_to(args.toc.parent).as_posix(), pattern)
        for pattern in settings["exclude"])]
    failed = execute(notebooks, settings, jobs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
