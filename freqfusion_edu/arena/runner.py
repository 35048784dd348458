"""Run the arena: every (method, seed), one row saved as soon as it finishes, resumable."""
from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path

import torch

from .._validate import check_positive_int
from .methods import METHODS, ArenaError, check_methods
from .results import (check_compatible, format_paired_table, format_table, git_commit,
                      load_results, machine_description, paired_table, save_results, summarize)
from .task import ArenaSettings, make_arena_data, train_method

__all__ = ["run_arena", "DEFAULT_METHODS", "QUICK_METHODS"]

#: Every method, in table order.
DEFAULT_METHODS = list(METHODS)
#: What ``--quick`` runs unless ``--methods`` says otherwise.
QUICK_METHODS = ["bilinear", "bilinear+conv", "freqfusion"]


def run_arena(settings: ArenaSettings, methods: list[str], seeds: int, out=None,
              command: str = "", progress: bool = False, log=None, first_seed: int = 0) -> dict:
    """Train and measure every (method, seed) that ``out`` does not hold yet.

    Rows are computed seed by seed (all methods for seed 0, then seed 1, ...), so an
    interrupted run still holds comparable rows. After each row the whole file is rewritten
    atomically; running the same command again continues where it stopped. A file written
    with other settings is refused (the error names the setting).

    Args:
        settings: :class:`~freqfusion_edu.arena.task.ArenaSettings` (``QUICK``, ``FULL``, ...).
        methods: names from :data:`~freqfusion_edu.arena.methods.METHODS`.
        seeds: number of seeds ``first_seed .. first_seed + seeds - 1``.
        out: JSON path, or ``None`` to keep the results in memory only.
        command: the command line recorded in the provenance.
        progress: show a tqdm progress bar (on stderr).
        log: optional callable receiving one line of text per finished row.
        first_seed: the first seed (default 0). Fresh seeds for a confirmation run start past
            every seed an exploration used (e.g. ``first_seed=10``); stored as ``first_seed``,
            and a file is continued only with the same one.

    Returns:
        The results dict (``settings``, ``methods``, ``seeds``, ``rows``, ``provenance``).
    """
    if not isinstance(settings, ArenaSettings):
        raise TypeError(f"settings must be an ArenaSettings, got {type(settings).__name__}")
    methods = check_methods(methods)
    check_positive_int(seeds, "seeds")
    if isinstance(first_seed, bool) or not isinstance(first_seed, int) or first_seed < 0:
        raise ValueError(f"first_seed must be an integer >= 0, got {first_seed!r}")
    sdict = settings.as_dict()
    results = None
    if out is not None and Path(out).exists():
        results = load_results(out)
        check_compatible(results["settings"], sdict, out)
        stored_first = int(results.get("first_seed", 0))
        if stored_first != first_seed:
            raise ArenaError(f"{out} holds seeds from {stored_first} on, requested first seed "
                             f"{first_seed}; use --first-seed {stored_first} or another --out")
        _check_registered(results, methods, seeds, first_seed, out)
    if results is None:
        results = {"settings": sdict, "methods": [], "seeds": 0, "rows": [], "provenance": {}}
    if first_seed:
        results["first_seed"] = first_seed
    results["methods"] = list(dict.fromkeys(results["methods"] + methods))
    results["seeds"] = max(int(results["seeds"]), seeds)
    done = {(r["method"], r["seed"]) for r in results["rows"]}
    todo = [(m, s) for s in range(first_seed, first_seed + seeds) for m in methods if (m, s) not in done]
    prov = results["provenance"]
    prev_wall = float(prov.get("wall_seconds", 0.0))
    prov.update({"command": command, "commit": git_commit(),
                 "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                 "machine": machine_description(), "torch": torch.__version__,
                 "threads": settings.threads, "wall_seconds": prev_wall})
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="arena", unit="run", dynamic_ncols=True)
    data = make_arena_data(settings) if todo else None
    if data is not None and settings.features == "encoder":
        # the frozen encoder every row used (cached by make_arena_data): its own provenance
        from .encoder import pretrained_encoder

        prov["encoder"] = {k: v for k, v in pretrained_encoder(settings)[1].items() if k != "cached"}
    t_start = time.perf_counter()
    try:
        for method, seed in todo:
            if bar is not None:
                bar.set_postfix_str(f"{method} seed {seed}")
            row = train_method(method, seed, settings, data).row
            results["rows"].append(row)
            prov["wall_seconds"] = round(prev_wall + time.perf_counter() - t_start, 1)
            if out is not None:
                save_results(out, results)
            if log is not None:
                log(f"{method:<16} seed {seed}: mIoU {row['miou']:.1f}, boundary IoU "
                    f"{row['boundary_iou']:.1f}, {row['seconds']:.0f} s")
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    prov["wall_seconds"] = round(prev_wall + time.perf_counter() - t_start, 1)
    if out is not None:
        save_results(out, results)
    return results


def _check_registered(results: dict, methods: list[str], seeds: int, first_seed: int, out) -> None:
    """A pre-registered file (``preregistration`` written before its first row, see
    :mod:`freqfusion_edu.arena.prereg`) is run only with the methods and seeds it registered."""
    reg = results.get("preregistration")
    if not reg:
        return
    if sorted(methods) != sorted(reg["methods"]) or seeds != reg["seeds"] or first_seed != reg["first_seed"]:
        raise ArenaError(
            f"{out} is pre-registered for methods {' '.join(reg['methods'])}, {reg['seeds']} seeds from "
            f"{reg['first_seed']}; requested methods {' '.join(methods)}, {seeds} seeds from {first_seed}. "
            "A registered plan is not changed after the fact: register a new study in another file")


def table_text(results: dict, baseline: str = "bilinear", metric: str = "boundary_iou") -> str:
    """The printed table of a results dict, in the file's method order: mean ± spread per method,
    then (when ``baseline`` and another method share at least 2 seeds) each method's paired
    comparison with ``baseline`` on ``metric``."""
    rows, order = results["rows"], results.get("methods")
    text = format_table(summarize(rows, order))
    seeds = {}
    for r in rows:
        seeds.setdefault(r["method"], set()).add(r["seed"])
    base = seeds.get(baseline, set())
    others = [m for m in (order or list(seeds)) if m != baseline and len(seeds.get(m, set()) & base) >= 2]
    if others:
        table = paired_table(rows, metric, baseline, [baseline] + others)
        text += "\n\n" + format_paired_table(table, baseline, metric)
    return text
