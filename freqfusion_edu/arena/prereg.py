"""Pre-registered arena studies: the plan is written into the result file before its first row.

A study found while exploring (many settings tried, the interesting one kept) can look better
than it is. The remedy is to fix what will be run and how it will be judged *before* the run,
and to write that down where the result will be: :func:`register` creates a result file that
holds no rows yet, only ``settings`` and a ``preregistration`` block (the question, the methods,
the seeds, the comparisons that will decide it, the statistic, how many settings were tried
before, the date and the commit). :func:`~freqfusion_edu.arena.runner.run_arena` then fills in
the rows and refuses other methods or seeds for that file; nothing it does changes the block.
Commit the registered file before starting the run, so its history shows the plan came first.

A comparison is ``[a, b, metric]``: method ``a`` minus ``b``, paired by seed, judged by
:func:`freqfusion_edu.metrics.paired_comparison` (mean difference, 95% t interval, seeds ahead).
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from .methods import ArenaError, check_methods
from .results import git_commit, load_results, save_results
from .task import ArenaSettings

__all__ = ["register", "registered_comparisons", "STATISTIC"]

#: The decision rule every registration states.
STATISTIC = ("freqfusion_edu.metrics.paired_comparison on the per-seed differences a - b: "
             "'better' when the whole 95% t interval is above 0, 'worse' when below, else "
             "'no detectable difference'")


def register(path, settings: ArenaSettings, methods: list[str], seeds: int, *, question: str,
             comparisons: list, settings_tried: str, first_seed: int = 0, command: str = "",
             notes: str = "") -> dict:
    """Write a pre-registered, empty result file at ``path`` and return its contents.

    Args:
        path: the result file to create; an existing file is never overwritten (a file that
            already holds exactly this registration is returned as it is).
        settings: the study's :class:`~freqfusion_edu.arena.task.ArenaSettings`.
        methods, seeds, first_seed: what will be run: seeds ``first_seed .. first_seed+seeds-1``.
        question: the question the study answers, in words.
        comparisons: ``[[a, b, metric], ...]``: the comparisons that decide it (``a`` and ``b``
            among ``methods``, ``metric`` ``"boundary_iou"`` or ``"miou"``).
        settings_tried: how many settings were tried before this one, and where.
        command: the command that runs it (``freqfusion-edu arena ...``).
        notes: anything else fixed in advance.

    Raises:
        ArenaError: a comparison names a method outside ``methods`` or another metric; ``path``
            exists and holds something else.
    """
    if not isinstance(settings, ArenaSettings):
        raise TypeError(f"settings must be an ArenaSettings, got {type(settings).__name__}")
    methods = check_methods(methods)
    for c in comparisons:
        if not (isinstance(c, (list, tuple)) and len(c) == 3):
            raise ArenaError(f"comparisons: each must be [a, b, metric], got {c!r}")
        a, b, metric = c
        if a not in methods or b not in methods:
            raise ArenaError(f"comparisons: {a!r} - {b!r} names a method outside methods {methods}")
        if metric not in ("boundary_iou", "miou"):
            raise ArenaError(f"comparisons: metric must be 'boundary_iou' or 'miou', got {metric!r}")
    reg = {"question": question, "methods": list(methods), "seeds": int(seeds),
           "first_seed": int(first_seed), "comparisons": [list(c) for c in comparisons],
           "statistic": STATISTIC, "settings_tried": settings_tried, "command": command,
           "notes": notes}
    path = Path(path)
    if path.exists():
        old = load_results(path)
        same = {k: v for k, v in old.get("preregistration", {}).items()
                if k not in ("registered", "commit")} == reg and old["settings"] == settings.as_dict()
        if same:
            return old
        raise ArenaError(f"{path} exists and holds another study; a registration never overwrites "
                         "a file: choose another path")
    reg.update(registered=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               commit=git_commit())
    results = {"settings": settings.as_dict(), "methods": [], "seeds": 0, "rows": [],
               "provenance": {}, "preregistration": reg}
    if first_seed:
        results["first_seed"] = int(first_seed)
    save_results(path, results)
    return results


def registered_comparisons(results: dict) -> list:
    """``[(a, b, metric, PairedComparison)]`` for the file's registered comparisons, over the
    seeds both methods have (at the end of training; see
    :func:`~freqfusion_edu.arena.results.curve_comparisons` for the points of a curve)."""
    from .results import compare

    reg = results.get("preregistration")
    if not reg:
        raise ArenaError("these results hold no preregistration block")
    return [(a, b, m, compare(results["rows"], a, b, m)) for a, b, m in reg["comparisons"]]
