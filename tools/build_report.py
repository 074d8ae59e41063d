"""What a build of the book cost: notebook execution times, and what the site weighs.

Usage: python tools/build_report.py [--build _build] [--top 10]

After ``make book``. For every notebook in ``_toc.yml`` it prints how long its cached execution
took and when it ran (jupyter-cache keeps both in ``_build/.jupyter_cache``: the record that
matches the notebook's current code, so a notebook edited since the build shows as not cached),
the five slowest, and the sum: what a cold build spends executing, on however many cores
(``make book`` runs notebooks side by side, tools/execute_book.py). Then the size of
the site (``_build/html``), by top-level folder, and its largest files.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def toc_documents(toc: Path = ROOT / "_toc.yml") -> list[str]:
    """Every document of the table of contents, in reading order, as written there (the
    suffix, if any, left on)."""
    import yaml

    def walk(entry) -> list[str]:
        if not isinstance(entry, dict):
            return []
        found = [entry["file"]] if "file" in entry else []
        for key in ("parts", "chapters", "sections"):
            for child in entry.get(key) or []:
                found += walk(child)
        return found

    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    return [data["root"], *walk(data)]


def toc_notebooks(toc: Path = ROOT / "_toc.yml") -> list[Path]:
    """The notebooks of the table of contents, in reading order."""
    paths = [toc.parent / (re.sub(r"\.ipynb$", "", f) + ".ipynb") for f in toc_documents(toc)]
    return [p for p in paths if p.is_file()]


def execution_times(cache_dir: Path, notebooks: list[Path]) -> list[dict]:
    """For each notebook, its cached execution: ``seconds`` and ``executed`` (a datetime),
    both None when no cache record matches the notebook's current code."""
    import nbformat
    from jupyter_cache import get_cache

    if not (cache_dir / "global.db").is_file():
        raise FileNotFoundError(f"no jupyter-cache at {cache_dir}: run `make book` first")
    cache = get_cache(str(cache_dir))
    rows = []
    for path in notebooks:
        try:
            record = cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            rows.append({"notebook": path, "seconds": None, "executed": None})
            continue
        rows.append({"notebook": path, "seconds": (record.data or {}).get("execution_seconds"),
                     "executed": record.created})
    return rows


def site_files(site: Path) -> list[tuple[int, Path]]:
    """Every file of the site with its size in bytes, largest first."""
    files = [(p.stat().st_size, p) for p in site.rglob("*") if p.is_file()]
    return sorted(files, key=lambda f: (-f[0], str(f[1])))


def _mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, default=ROOT / "_build",
                        help="the build folder (default: _build)")
    parser.add_argument("--toc", type=Path, default=ROOT / "_toc.yml",
                        help="the table of contents (default: _toc.yml)")
    parser.add_argument("--top", type=int, default=10, help="how many of the largest files to list")
    args = parser.parse_args(argv)
    root = args.toc.parent

    try:
        rows = execution_times(args.build / ".jupyter_cache", toc_notebooks(args.toc))
    except FileNotFoundError as error:
        print(f"build report: {error}", file=sys.stderr)
        return 1
    timed = [r for r in rows if r["seconds"] is not None]
    total = sum(r["seconds"] for r in timed)
    print(f"Notebook execution ({args.build / '.jupyter_cache'}): {len(timed)} of {len(rows)} "
          f"notebooks cached, {total:.0f} s ({total / 60:.1f} min) of execution in all "
          "(make book runs them several at a time: its wall time is less)")
    print(f"  {'seconds':>8}  {'executed':16}  notebook")
    for row in rows:
        seconds = f"{row['seconds']:8.1f}" if row["seconds"] is not None else f"{'—':>8}"
        when = f"{row['executed']:%Y-%m-%d %H:%M}" if row["executed"] else "not cached"
        print(f"  {seconds}  {when:16}  {row['notebook'].relative_to(root)}")
    print("Five slowest:")
    for row in sorted(timed, key=lambda r: -r["seconds"])[:5]:
        print(f"  {row['seconds']:8.1f}  {row['notebook'].relative_to(root)}")
    stale = [str(r["notebook"].relative_to(root)) for r in rows if r["seconds"] is None]
    if stale:
        print(f"Not cached (they execute on the next build): {', '.join(stale)}")

    site = args.build / "html"
    if not (site / "index.html").is_file():
        print(f"build report: no site at {site}", file=sys.stderr)
        return 1
    files = site_files(site)
    size = sum(s for s, _ in files)
    print(f"Site {site}: {_mb(size)} in {len(files)} files")
    folders: dict[str, int] = {}
    for s, p in files:
        parts = p.relative_to(site).parts
        key = parts[0] + "/" if len(parts) > 1 else "(top-level files)"
        folders[key] = folders.get(key, 0) + s
    for key, s in sorted(folders.items(), key=lambda f: -f[1]):
        print(f"  {_mb(s):>9}  {key}")
    print(f"{args.top} largest files:")
    for s, p in files[:args.top]:
        print(f"  {_mb(s):>9}  {p.relative_to(site)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
