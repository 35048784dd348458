"""``freqfusion-edu`` command line: train, evaluate, verify-data, make-sample.

    freqfusion-edu train CONFIG [--resume] [--set section.key=value ...]
    freqfusion-edu evaluate CONFIG --checkpoint PATH [--set ...]
    freqfusion-edu verify-data ROOT
    freqfusion-edu make-sample OUT [--train N] [--val M] [--size H W]
    torchrun --nproc_per_node 8 -m freqfusion_edu train CONFIG ...

Mistakes a user can fix (an unknown config key, a missing data folder or checkpoint) end with one
readable ``error:`` line and exit status 2, not a traceback; ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="freqfusion-edu",
                                description="Train and evaluate FreqFusion segmentation models.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model from a YAML config")
    t.add_argument("config", help="YAML config, e.g. configs/cityscapes_1gpu.yaml")
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT_DIR/last.pt if it exists (safe to pass always)")
    t.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override config values, e.g. --set train.max_iters=100 data.root=/data/cs")

    e = sub.add_parser("evaluate", help="evaluate a checkpoint on the validation split")
    e.add_argument("config")
    e.add_argument("--checkpoint", required=True, help="last.pt of a run, or a state_dict file")
    e.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides")

    v = sub.add_parser("verify-data", help="check a Cityscapes folder (layout, pairs, labels)")
    v.add_argument("root")

    m = sub.add_parser("make-sample", help="write a small synthetic Cityscapes-like folder")
    m.add_argument("out")
    m.add_argument("--train", type=int, default=4, help="training images (default 4)")
    m.add_argument("--val", type=int, default=2, help="validation images (default 2)")
    m.add_argument("--size", type=int, nargs=2, default=[128, 256], metavar=("H", "W"))
    m.add_argument("--seed", type=int, default=0)
    return p


def _run(args) -> int:
    if args.command in ("train", "evaluate"):
        from .engine.config import load_config

        cfg = load_config(args.config, args.overrides)
        if args.command == "train":
            from .engine.train import train

            train(cfg, resume=args.resume)
        else:
            from .engine.train import evaluate_config

            evaluate_config(cfg, args.checkpoint)
        return 0
    if args.command == "verify-data":
        from .data.cityscapes import verify_cityscapes

        report = verify_cityscapes(args.root)
        print(report)
        return 0 if report.ok else 1
    if args.command == "make-sample":
        from .data.synthetic_cityscapes import generate_cityscapes_like

        for name in ("train", "val"):
            if getattr(args, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(args, name)}")
        generate_cityscapes_like(args.out, splits={"train": args.train, "val": args.val},
                                 size=tuple(args.size), seed=args.seed)
        print(f"wrote {args.train} train + {args.val} val images of {args.size[0]}x{args.size[1]} "
              f"to {args.out}")
        return 0
    raise AssertionError(args.command)  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``freqfusion-edu`` and ``python -m freqfusion_edu``; returns the exit status."""
    from .engine.config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ConfigError, FileNotFoundError, ValueError, ImportError) as e:
        if args.debug:
            raise
        msg = " ".join(str(e).split())  # one line, whatever the message's layout
        print(f"error: {msg}", file=sys.stderr)
        return 2
