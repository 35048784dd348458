"""Shared bits of the benchmark scripts: argument parsing, the machine line, timers, the commit."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

import torch  # noqa: E402

from freqfusion_edu.profiling import machine_info  # noqa: E402


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="intra-op thread counts to time (default: 1 2)")
    p.add_argument("--timer", choices=["auto", "wall", "cpu"], default="auto",
                   help="'cpu' = process CPU time (robust on a shared machine, 1 thread only); "
                        "'auto' = cpu for 1 thread, wall otherwise (default)")
    p.add_argument("--min-run-time", type=float, default=1.0,
                   help="seconds of timed runs per measurement (default 1.0)")
    p.add_argument("--quick", action="store_true", help="small sizes, short runs (smoke test)")
    return p


def timer_for(args, threads: int) -> str:
    if args.timer != "auto":
        return args.timer
    return "cpu" if threads == 1 else "wall"


def header(title: str) -> None:
    print(f"# {title}")
    print(f"machine: {machine_info()}")
    print(f"torch.get_num_threads() at start: {torch.get_num_threads()}")


def git_commit() -> str | None:
    """The checkout's short commit hash for a result's provenance (``None`` outside git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_json(path, result: dict) -> None:
    """Write a benchmark's result dict as indented JSON (folders created), and say where."""
    import json

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {path}")
