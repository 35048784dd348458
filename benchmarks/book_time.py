"""Run every chapter (``book/*.ipynb``) top to bottom in fast mode; print each one's time and the total.

Uses nbclient (what papermill and nbval build on) with the current Python as the kernel, in a
scratch copy (the stored notebooks are not modified). Exit status 1 if any chapter raises.
Run: ``python benchmarks/book_time.py [book/NN_x.ipynb ...]``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(path: Path, timeout: int) -> tuple[float, str | None]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    try:
        client.execute()
        err = None
    except CellExecutionError as e:
        err = str(e).strip().splitlines()[-1][:200]
    return time.perf_counter() - t0, err


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebooks", nargs="*", help="default: every book/*.ipynb")
    p.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    args = p.parse_args()
    os.environ.setdefault("FREQFUSION_EDU_MODE", "fast")
    paths = [Path(a) for a in args.notebooks] or sorted((ROOT / "book").glob("*.ipynb"))
    print(f"# book run time (mode={os.environ['FREQFUSION_EDU_MODE']}, kernel python3)")
    total, failed = 0.0, []
    for path in paths:
        dt, err = run_one(path.resolve(), args.timeout)
        total += dt
        status = "ok" if err is None else f"FAILED: {err}"
        print(f"  {path.name:40s} {dt:7.1f} s  {status}", flush=True)
        if err:
            failed.append(path.name)
    print(f"  {'total':40s} {total:7.1f} s ({total / 60:.1f} min)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
