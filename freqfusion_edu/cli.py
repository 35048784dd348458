"""``freqfusion-edu`` command line: train, evaluate, plot, compare, verify-data, make-sample, arena.

    freqfusion-edu train CONFIG [--resume | --overwrite] [--set section.key=value ...]
    freqfusion-edu evaluate CONFIG --checkpoint PATH [--set ...]
    freqfusion-edu plot RUN [RUN ...] --out FILE.png [--metrics mIoU bIoU ...]
    freqfusion-edu compare RUN_A [RUN_A ...] --against RUN_B [RUN_B ...] [--metrics ...]
    freqfusion-edu verify-data ROOT
    freqfusion-edu make-sample OUT [--train N] [--val M] [--size H W]
    freqfusion-edu arena [--quick | --full] [--set KEY=VALUE ...] [--seeds N] [--methods M ...] --out FILE.json
    torchrun --nproc_per_node 8 -m freqfusion_edu train CONFIG ...

Mistakes a user can fix (the project's own errors, :mod:`freqfusion_edu.errors`: an unknown config
key, a missing data folder or checkpoint, a folder that already holds a run) end with one readable
``error:`` line and exit status 2. Anything else is a bug and keeps its traceback. ``--debug``
(before or after the command) shows the traceback of every error.

Ctrl-C (or SIGTERM) during ``train`` finishes the current step, writes a checkpoint and prints the
exact command that continues the run (exit status 130, or 143 for SIGTERM).

Adding a command: a ``sub.add_parser(...)`` in :func:`build_parser` and its handler in
``_COMMANDS`` (name -> function of the parsed args returning the exit status).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["main", "build_parser"]


def _count(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="freqfusion-edu",
                                description="Train and evaluate FreqFusion segmentation models.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model from a YAML config")
    # optional here so that `train --set k=v CONFIG` works too (see _config_from_overrides)
    t.add_argument("config", nargs="?", help="YAML config, e.g. configs/cityscapes_1gpu.yaml")
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue from OUT_DIR/last.pt if it exists (safe to pass always)")
    mode.add_argument("--overwrite", action="store_true",
                      help="start from scratch even if OUT_DIR holds a run (deletes its "
                           "checkpoint and logs)")
    t.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override config values, e.g. --set train.max_iters=100 data.root=/data/cs")

    e = sub.add_parser("evaluate", help="evaluate a checkpoint on the validation split")
    e.add_argument("config", nargs="?")
    e.add_argument("--checkpoint", required=True, help="last.pt of a run, or a state_dict file")
    e.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides")

    pl = sub.add_parser("plot", help="draw the loss and validation metrics of runs on shared axes")
    pl.add_argument("runs", nargs="+", metavar="RUN", help="run folders (train.out_dir of each run)")
    pl.add_argument("--out", required=True, metavar="FILE.png", help="image file to write")
    pl.add_argument("--metrics", nargs="+", default=None, metavar="KEY",
                    help="metrics.jsonl keys to draw (default: mIoU bIoU)")

    c = sub.add_parser("compare", help="paired difference of final metrics, runs paired by seed")
    c.add_argument("runs_a", nargs="+", metavar="RUN_A",
                   help="run folders of one setting (e.g. model.fusion=freqfusion), one per seed")
    c.add_argument("--against", nargs="+", required=True, metavar="RUN_B", dest="runs_b",
                   help="run folders of the other setting (e.g. model.fusion=bilinear), same seeds")
    c.add_argument("--metrics", nargs="+", default=None, metavar="KEY",
                   help="metrics.jsonl keys to compare (default: mIoU bIoU pixel_acc)")

    v = sub.add_parser("verify-data", help="check a Cityscapes folder (layout, pairs, labels)")
    v.add_argument("root")

    m = sub.add_parser("make-sample", help="write a small synthetic Cityscapes-like folder")
    m.add_argument("out")
    m.add_argument("--train", type=_count, default=4, help="training images (default 4)")
    m.add_argument("--val", type=_count, default=2, help="validation images (default 2)")
    m.add_argument("--size", type=int, nargs=2, default=[128, 256], metavar=("H", "W"))
    m.add_argument("--seed", type=int, default=0)

    from .arena.command import add_arena_parser  # the upsampler arena (freqfusion_edu/arena/)

    add_arena_parser(sub)

    # `--debug` after the command works too; SUPPRESS keeps a value given before the command
    for sp in sub.choices.values():
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks on errors")
    return p


def _config_from_overrides(parser, args) -> None:
    """``train --set a=1 b=2 CONFIG``: ``--set`` took CONFIG too; take it back (or say how)."""
    if args.config is not None:
        return
    plain = [o for o in args.overrides if "=" not in o]
    if len(plain) == 1:
        args.config = plain[0]
        args.overrides = [o for o in args.overrides if o is not plain[0]]
        return
    sub = args.command
    parser.error(f"{sub}: the config file is missing; put it first: "
                 f"freqfusion-edu {sub} CONFIG --set KEY=VALUE ...")


def _prog() -> list[str]:
    """How this process was started, as the words that start it again."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        per_node = os.environ.get("LOCAL_WORLD_SIZE", str(world))
        return ["torchrun", "--nproc_per_node", per_node, "-m", "freqfusion_edu"]
    if Path(sys.argv[0]).name == "__main__.py":
        return ["python", "-m", "freqfusion_edu"]
    return ["freqfusion-edu"]


def resume_command(argv: Sequence[str], prog: Sequence[str] | None = None) -> str:
    """The command that continues the run ``argv`` (the arguments after the program) started.

    ``prog`` defaults to how this process was started (``freqfusion-edu``,
    ``python -m freqfusion_edu`` or ``torchrun --nproc_per_node N -m freqfusion_edu``).

    >>> resume_command(["train", "my config.yaml", "--overwrite", "--set", "train.max_iters=9"],
    ...                prog=["freqfusion-edu"])
    "freqfusion-edu train 'my config.yaml' --set train.max_iters=9 --resume"
    """
    words = [a for a in argv if a != "--overwrite"]
    if "--resume" not in words:
        words.append("--resume")
    return shlex.join(list(_prog() if prog is None else prog) + words)


def _interrupted(args, argv: Sequence[str], exc: KeyboardInterrupt) -> int:
    """Say which iteration the checkpoint holds and how to continue; the exit status."""
    from .engine.train import TrainingInterrupted, checkpoint_path

    name = getattr(exc, "signal_name", "SIGINT")
    if isinstance(exc, TrainingInterrupted):
        where = (f"stopped after iteration {exc.iteration}; the checkpoint {exc.checkpoint} "
                 f"holds iteration {exc.iteration}.")
    else:
        where = "interrupted."
        cfg = getattr(args, "cfg", None)
        if cfg is not None:
            ckpt = checkpoint_path(cfg.train.out_dir)
            held = None
            if ckpt.is_file():
                from .engine.checkpoint import load_checkpoint
                try:
                    held = int(load_checkpoint(ckpt)["iteration"])
                except Exception:  # noqa: BLE001 - only a message depends on it
                    held = None
            where = (f"interrupted; the last checkpoint {ckpt} holds iteration {held}."
                     if held is not None else f"interrupted before the first checkpoint ({ckpt}).")
    msg = f"{name}: {where}"
    if args.command == "train":
        msg += f"\nContinue the run with:\n  {resume_command(argv)}"
    print(msg, file=sys.stderr, flush=True)
    return 143 if name == "SIGTERM" else 130


# --------------------------------------------------------------------------------- commands
def _cmd_train(args) -> int:
    from .engine.config import load_config
    from .engine.train import train

    args.cfg = load_config(args.config, args.overrides)
    train(args.cfg, resume=args.resume, overwrite=args.overwrite)
    return 0


def _cmd_evaluate(args) -> int:
    from .engine.config import load_config
    from .engine.train import evaluate_config

    args.cfg = load_config(args.config, args.overrides)
    evaluate_config(args.cfg, args.checkpoint)
    return 0


def _cmd_plot(args) -> int:
    try:
        import matplotlib
    except ImportError:
        from .errors import MissingDependencyError

        raise MissingDependencyError("plot draws with matplotlib, which is not installed: "
                                     "pip install 'freqfusion-edu[book]' (or pip install "
                                     "matplotlib)") from None
    matplotlib.use("Agg")  # a file, never a window
    from .viz.runs import plot_runs

    fig = plot_runs(args.runs, metrics=args.metrics)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out} ({len(args.runs)} run(s): training loss"
          + "".join(f", {ax.get_title().split(' (')[0].replace('validation ', '')}"
                    for ax in fig.axes[1:]) + ")")
    return 0


def _cmd_compare(args) -> int:
    from .engine.tracking import compare_runs

    print(compare_runs(args.runs_a, args.runs_b, metrics=args.metrics))
    return 0


def _cmd_verify_data(args) -> int:
    from .data.cityscapes import verify_cityscapes

    report = verify_cityscapes(args.root)
    print(report)
    return 0 if report.ok else 1


def _cmd_make_sample(args) -> int:
    from .data.synthetic_cityscapes import generate_cityscapes_like

    generate_cityscapes_like(args.out, splits={"train": args.train, "val": args.val},
                             size=tuple(args.size), seed=args.seed)
    print(f"wrote {args.train} train + {args.val} val images of {args.size[0]}x{args.size[1]} "
          f"to {args.out}")
    return 0


def _cmd_arena(args) -> int:
    from .arena.command import run_arena_command

    return run_arena_command(args)


_COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "plot": _cmd_plot,
             "compare": _cmd_compare, "verify-data": _cmd_verify_data,
             "make-sample": _cmd_make_sample, "arena": _cmd_arena}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``freqfusion-edu`` and ``python -m freqfusion_edu``; returns the exit status."""
    from .errors import FreqFusionEduError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("train", "evaluate"):
        _config_from_overrides(parser, args)
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt as e:
        if args.debug:
            raise
        return _interrupted(args, argv, e)
    except FreqFusionEduError as e:
        if args.debug:
            raise
        msg = " ".join(str(e).split())  # one line, whatever the message's layout
        print(f"error: {msg}", file=sys.stderr)
        return 2
