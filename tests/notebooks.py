"""Run notebooks the way the book build and a student do: in their own folder, fresh kernel."""

from __future__ import annotations

import time
from pathlib import Path

import nbclient
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> list[Path]:
    """Every notebook or page listed in _toc.yml, as paths that exist."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries = [toc["root"]]

    def walk(items):
        for item in items:
            if "file" in item:
                entries.append(item["file"])
            walk(item.get("chapters", []) + item.get("sections", []))

    walk(toc.get("parts", []))
    paths = []
    for entry in entries:
        matches = [ROOT / f"{entry}{suffix}" for suffix in (".ipynb", ".md")]
        found = [m for m in matches if m.exists()]
        assert found, f"_toc.yml lists {entry!r}, which is neither .ipynb nor .md"
        paths.append(found[0])
    return paths


def execute(path: Path, timeout: int = 180) -> tuple[nbformat.NotebookNode, float]:
    """Execute a notebook with its folder as working directory; returns it and the seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - start


def text_of(notebook: nbformat.NotebookNode) -> str:
    """All stream and plain-text outputs of a notebook, joined."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
            if output.get("output_type") == "error":
                parts.append(f"{output['ename']}: {output['evalue']}")
    return "\n".join(parts)
