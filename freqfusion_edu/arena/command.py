"""``freqfusion-edu arena``: the command-line face of the upsampler arena.

    freqfusion-edu arena [--quick | --full] [--set KEY=VALUE ...] [--seeds N] [--first-seed K] [--methods M ...] --out FILE.json

Kept apart from :mod:`freqfusion_edu.cli` so the CLI only adds one sub-parser and one call;
importing this module is cheap (torch is imported when the command runs).
"""
from __future__ import annotations

import argparse
import shlex

__all__ = ["add_arena_parser", "run_arena_command"]


def add_arena_parser(sub) -> argparse.ArgumentParser:
    """Add the ``arena`` sub-command to an ``add_subparsers()`` object."""
    a = sub.add_parser(
        "arena", help="compare upsamplers (bilinear, CARAFE, FreqFusion, ...) on a fixed task",
        description="Train every method on the arena task for several seeds and save one row per "
                    "(method, seed) as soon as it finishes; run the same command again to continue "
                    "an interrupted run. Prints mean ± spread per method at the end.")
    mode = a.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="tiny scenes and few steps (seconds per run): a smoke test")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="the settings of results/arena_full.json (the default)")
    a.set_defaults(mode="full")
    a.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change one task setting of the chosen mode, e.g. --set size=64 --set "
                        "steps=600 (keys: the fields of freqfusion_edu.arena.ArenaSettings but "
                        "mode); stored in the JSON, and a resumed run must give the same values")
    a.add_argument("--seeds", type=int, default=None,
                   help="number of seeds 0..N-1 (default: 1 with --quick, 5 with --full)")
    a.add_argument("--first-seed", type=int, default=0, metavar="K",
                   help="first seed (default 0): seeds K..K+N-1, e.g. fresh seeds for a confirmation run")
    a.add_argument("--methods", nargs="+", default=None, metavar="M",
                   help="methods to run (default: bilinear bilinear+conv freqfusion with --quick, "
                        "all with --full)")
    a.add_argument("--out", required=True, help="result JSON; rows already in it are kept and skipped")
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    return a


def run_arena_command(args) -> int:
    """Run ``arena`` from parsed ``args``; returns the exit status."""
    from .methods import ArenaError, check_methods
    from .runner import DEFAULT_METHODS, QUICK_METHODS, run_arena, table_text
    from .task import settings_for, with_overrides

    settings = with_overrides(settings_for(args.mode), args.overrides)
    methods = args.methods or (QUICK_METHODS if args.mode == "quick" else DEFAULT_METHODS)
    try:
        check_methods(methods)
    except ArenaError as e:
        raise ArenaError(str(e).replace("in methods", "in --methods")) from None
    seeds = args.seeds if args.seeds is not None else (1 if args.mode == "quick" else 5)
    if isinstance(seeds, bool) or seeds < 1:
        raise ArenaError(f"--seeds must be an integer >= 1, got {seeds}")
    # the canonical form of what runs (defaults spelled out), whatever the caller typed
    if isinstance(args.first_seed, bool) or args.first_seed < 0:
        raise ArenaError(f"--first-seed must be an integer >= 0, got {args.first_seed}")
    sets = "".join(f" --set {shlex.quote(o.replace(' ', ''))}" for o in args.overrides)
    first = f" --first-seed {args.first_seed}" if args.first_seed else ""
    command = (f"freqfusion-edu arena --{args.mode}{sets} --seeds {seeds}{first} --methods "
               + " ".join(shlex.quote(m) for m in methods) + f" --out {shlex.quote(str(args.out))}")
    results = run_arena(settings, methods, seeds, args.out, command=command,
                        progress=not args.no_progress, first_seed=args.first_seed)
    print(table_text(results))
    print(f"{len(results['rows'])} rows in {args.out} "
          f"({results['provenance']['wall_seconds']:.0f} s of compute in total)")
    return 0
