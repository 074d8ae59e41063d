"""Check that the built site works offline: no page loads a script, style or font from the web.

Usage: python tools/check_site.py _build/html
Exits non-zero, listing the offending pages, when a page would need the network to render.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Links (<a href>) may point anywhere: readers follow them on purpose. What a page *loads*
# must come from the site itself.
LOADS = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=[\"'](https?:)?//([^\"'/]+)", re.I)


MATHJAX = re.compile(r"<script[^>]*src=[\"']([^\"']*mathjax[^\"']*)", re.I)


def main(site: Path) -> int:
    problems = []
    pages = sorted(site.rglob("*.html"))
    if not pages:
        problems.append(f"no HTML pages under {site}")
    for page in pages:
        text = page.read_text(encoding="utf-8", errors="replace")
        for match in LOADS.finditer(text):
            problems.append(f"{page.relative_to(site)}: <{match.group(1)}> loads from {match.group(4)}")
        mathjax = MATHJAX.findall(text)
        if any("_static/mathjax/" not in src for src in mathjax):
            problems.append(f"{page.relative_to(site)}: MathJax is not the local copy: {mathjax}")
        if 'class="math' in text and not mathjax:
            problems.append(f"{page.relative_to(site)}: has math but loads no MathJax")
    for needed in ("_static/mathjax/tex-chtml.js", "_static/widgets/embed-amd.js",
                   "_static/widgets/require.js", "searchindex.js", "genindex.html"):
        if not (site / needed).exists():
            problems.append(f"missing {needed}")
    for problem in problems:
        print("offline check:", problem)
    print(f"offline check: {len(pages)} pages, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
