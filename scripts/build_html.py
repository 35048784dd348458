"""Render the executed book (fast mode) to a static site: build/html/index.html and one page per chapter.

Each chapter is executed top to bottom (widgets' state is stored, so pages that load the
ipywidgets manager show them; the static small-multiples figures are plain PNGs and show
everywhere), converted with nbconvert's HTML exporter, and links between chapters are rewritten
from .ipynb to .html.

    python scripts/build_html.py                 # every chapter -> build/html
    python scripts/build_html.py --only 00_index --out /tmp/site
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]


def build(notebooks: list[Path], out: Path, timeout: int = 600) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FREQFUSION_EDU_MODE", "fast")
    exporter = HTMLExporter(template_name="lab")
    written = []
    for nb_path in notebooks:
        t0 = time.perf_counter()
        nb = nbformat.read(nb_path, as_version=4)
        NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                       resources={"metadata": {"path": str(nb_path.parent)}}).execute()
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": nb_path.stem}})
        body = re.sub(r'href="([0-9]{2}_[A-Za-z0-9_]+)\.ipynb', r'href="\1.html', body)
        target = out / f"{nb_path.stem}.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
        print(f"{nb_path.name:40s} -> {target.relative_to(out.parent) if out.parent in target.parents else target}"
              f"  ({time.perf_counter() - t0:.1f} s)", flush=True)
    index = out / "00_index.html"
    if index.exists():
        (out / "index.html").write_text(index.read_text(encoding="utf-8"), encoding="utf-8")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "html")
    ap.add_argument("--only", nargs="*", default=None, help="chapter stems, e.g. 00_index 03_adaptive_lowpass")
    args = ap.parse_args(argv)
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        unknown = set(args.only) - {p.stem for p in chapters}
        if unknown:
            print(f"error: --only names unknown chapters {sorted(unknown)}; "
                  f"have {[p.stem for p in chapters]}", file=sys.stderr)
            return 2
        chapters = [p for p in chapters if p.stem in args.only]
    build(chapters, args.out)
    print(f"static site: {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
