"""Arena result files: atomic saving, resuming, summaries (mean ± spread) and paired comparisons.

A result file is JSON::

    {"settings": {...ArenaSettings...}, "methods": [...], "seeds": [...],
     "rows": [{"method", "seed", "miou", "boundary_iou", "intra_sim", "margin", "params",
               "seconds", "rel_time", ...}, ...],
     "provenance": {"command", "commit", "date", "machine", "torch", "threads", "wall_seconds"}}

The spread of a metric is the sample standard deviation over seeds (``ddof=1``; 0 for one
seed); it describes a method alone. Two methods are compared with the book's one statistic,
:func:`freqfusion_edu.metrics.paired_comparison`, on the per-seed differences
(:func:`paired_differences` pairs each seed's row of one method with the same seed's row of the
other): :func:`compare` for one pair, :func:`paired_table` for every method against a baseline.
Rows of one seed share the image guide's initialisation and the batches; they also share the
decoder's, except when one method widens the decoder (:func:`pairing`).
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
from pathlib import Path

from ..metrics import PairedComparison, paired_comparison
from .methods import METHODS, ArenaError

__all__ = ["load_results", "save_results", "check_compatible", "summarize", "paired_differences",
           "format_table",
           "compare", "complete_seeds", "curve_rows", "curve_steps", "curve_comparisons", "curve_summary", "paired_table", "format_paired_table", "pairing", "per_class_summary", "pareto_front", "machine_description", "git_commit", "METRICS"]

#: Metrics summarised per method: (key, column title, format).
METRICS = (("miou", "mIoU", "{:.1f}"), ("boundary_iou", "bIoU", "{:.1f}"),
           ("intra_sim", "IntraSim", "{:.3f}"), ("margin", "margin", "{:.3f}"),
           ("rel_time", "time/bilinear", "{:.2f}"))


def save_results(path, results: dict) -> None:
    """Write ``results`` as JSON atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(results, f, indent=1, allow_nan=False)
            f.write("\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# Settings added to ArenaSettings after result files were written, with the value every file
# written before used: a file without the key is read as holding that value.
SETTINGS_ADDED_LATER = {"guide_convs": 2, "decoder": "plain", "features": "oracle", "encoder_steps": 600,
                        "curve_every": 0}


def load_results(path) -> dict:
    """Read a result file; a clear :class:`~freqfusion_edu.arena.methods.ArenaError` if it is not an arena result file.

    Settings added later (:data:`SETTINGS_ADDED_LATER`) that the file lacks are filled in with
    the value the code used when it was written."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ArenaError(f"{path} is not valid JSON ({e}); delete it or pass another --out") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or "settings" not in data:
        raise ArenaError(f"{path} is not an arena result file (no 'rows' and 'settings'); "
                         "pass another --out")
    if isinstance(data["settings"], dict):
        for key, value in SETTINGS_ADDED_LATER.items():
            data["settings"].setdefault(key, value)
    return data


def check_compatible(stored: dict, settings: dict, path="the result file") -> None:
    """Refuse to mix rows computed with different settings; the message names the setting."""
    keys = sorted(set(stored) | set(settings))
    diff = [k for k in keys if stored.get(k) != settings.get(k)]
    if diff:
        what = ", ".join(f"{k}: stored {stored.get(k)!r}, requested {settings.get(k)!r}" for k in diff)
        raise ArenaError(f"{path} was written with other settings ({what}); use the same mode "
                         "and --set values, or another --out")


def _mean_std(v: list[float]) -> tuple[float, float]:
    v = [x for x in v if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return math.nan, math.nan
    m = sum(v) / len(v)
    if len(v) < 2:
        return m, 0.0
    return m, math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


def summarize(rows: list[dict], methods: list[str] | None = None) -> dict:
    """Per method: ``n`` (seeds), ``params`` and ``(mean, spread)`` of every metric in :data:`METRICS`.

    Example:
        >>> rows = [{"method": "a", "seed": s, "miou": v, "boundary_iou": v, "intra_sim": 1.0,
        ...          "margin": 0.1, "rel_time": 1.0, "params": 0} for s, v in enumerate([50., 52.])]
        >>> s = summarize(rows)["a"]
        >>> s["n"], s["miou"][0], round(s["miou"][1], 3)
        (2, 51.0, 1.414)
    """
    order = methods or list(dict.fromkeys(r["method"] for r in rows))
    out = {}
    for m in order:
        rs = [r for r in rows if r["method"] == m]
        if not rs:
            continue
        d = {"n": len(rs), "params": rs[0].get("params")}
        for key, _, _ in METRICS:
            d[key] = _mean_std([r.get(key) for r in rs])
        out[m] = d
    return out


def _per_seed(rows: list[dict], method: str, metric: str) -> dict:
    vals = {}
    for r in rows:
        if r["method"] == method:
            if metric not in r:
                raise KeyError(f"metric {metric!r} is not in the rows; they have {sorted(r)}")
            vals[r["seed"]] = r[metric]
    return vals


def _paired(rows: list[dict], a: str, b: str, metric: str) -> tuple[list, list, list]:
    """Seeds both methods have (sorted), with a's and b's values: the one pairing of rows."""
    va, vb = _per_seed(rows, a, metric), _per_seed(rows, b, metric)
    for m, v in ((a, va), (b, vb)):
        if not v:
            have = list(dict.fromkeys(r["method"] for r in rows))
            raise ArenaError(f"method {m!r} has no rows; the rows hold {have}")
    seeds = sorted(set(va) & set(vb))
    return seeds, [va[k] for k in seeds], [vb[k] for k in seeds]


def paired_differences(rows: list[dict], a: str, b: str, metric: str = "boundary_iou") -> list[float]:
    """Per-seed differences ``a - b`` of ``metric``, over the seeds both methods have, by seed.

    Rows of one seed share the shared parts' initialisation and the batches, so these pair each
    seed's ``a`` with the same seed's ``b`` (what two means and spreads cannot show).

    Example:
        >>> rows = [{"method": m, "seed": s, "miou": v} for m, s, v in
        ...         [("a", 0, 60.0), ("a", 1, 55.0), ("b", 0, 58.0), ("b", 1, 56.0), ("b", 2, 50.0)]]
        >>> paired_differences(rows, "a", "b", "miou")
        [2.0, -1.0]
    """
    _, va, vb = _paired(rows, a, b, metric)
    return [x - y for x, y in zip(va, vb)]


def compare(rows: list[dict], a: str, b: str, metric: str = "boundary_iou",
            confidence: float = 0.95) -> PairedComparison:
    """:func:`~freqfusion_edu.metrics.paired_comparison` of method ``a`` against ``b`` on ``metric``,
    paired by seed (:func:`paired_differences`); seeds only one method has are left out.

    Example:
        >>> rows = [{"method": m, "seed": s, "miou": v} for m, vals in
        ...         (("a", [52.0, 50.5, 49.0]), ("b", [50.0, 48.0, 47.5])) for s, v in enumerate(vals)]
        >>> r = compare(rows, "a", "b", "miou")
        >>> print(r), r.verdict
        +2.00 [+0.76, +3.24], 3 of 3 seeds ahead
        (None, 'better')
    """
    seeds, va, vb = _paired(rows, a, b, metric)
    bad = [f"{m!r} seed {k}: {v!r}" for k, x, y in zip(seeds, va, vb) for m, v in ((a, x), (b, y))
           if v is None or (isinstance(v, float) and not math.isfinite(v))]
    if bad:
        raise ArenaError(f"{metric} is missing or not a number in {len(bad)} row(s) ({', '.join(bad)}): "
                         "a failed, unfinished or hand-edited row; re-run it with the command in the "
                         "file's provenance")
    if len(seeds) < 2:
        raise ArenaError(f"{a!r} and {b!r} share {len(seeds)} seed(s) in these rows; a paired "
                         "comparison needs at least 2")
    d = paired_differences(rows, a, b, metric)
    return paired_comparison(d, [0.0] * len(d), confidence=confidence)


def complete_seeds(rows: list[dict], methods: list[str] | None = None) -> tuple[list[dict], list[int]]:
    """The rows of the seeds that every method has, and those seeds (sorted).

    A result file of an unfinished run holds some (method, seed) rows and not others; a paired
    comparison or a table of means should use only the seeds every compared method has.

    Args:
        rows: result rows (dicts with ``"method"`` and ``"seed"``).
        methods: the methods that must all be present for a seed to count, and the only methods
            whose rows are kept; ``None`` or empty: every method that has a row.

    Example:
        >>> rows = [{"method": m, "seed": s} for m, s in [("a", 0), ("b", 0), ("a", 1), ("c", 0)]]
        >>> kept, seeds = complete_seeds(rows, ["a", "b"])
        >>> seeds, [(r["method"], r["seed"]) for r in kept]
        ([0], [('a', 0), ('b', 0)])
        >>> complete_seeds(rows)[1]   # a, b and c: only seed 0 has all three
        [0]
    """
    wanted = set(methods or {r["method"] for r in rows})
    by_seed: dict = {}
    for r in rows:
        by_seed.setdefault(r["seed"], set()).add(r["method"])
    seeds = sorted(s for s, ms in by_seed.items() if ms >= wanted)
    keep = set(seeds)
    return [r for r in rows if r["seed"] in keep and r["method"] in wanted], seeds


def curve_rows(rows: list[dict], step: int) -> list[dict]:
    """The rows as they stood at training step ``step`` of their learning curves: each row whose
    ``curve`` has that step, with ``miou`` and ``boundary_iou`` taken from the curve (the other
    keys are the final row's). Feed them to :func:`compare` or :func:`summarize`.

    Example:
        >>> rows = [{"method": "a", "seed": 0, "miou": 70.0, "boundary_iou": 60.0,
        ...          "curve": {"steps": [5, 10], "miou": [50.0, 70.0], "boundary_iou": [40.0, 60.0]}}]
        >>> [(r["miou"], r["boundary_iou"]) for r in curve_rows(rows, 5)]
        [(50.0, 40.0)]
    """
    out = []
    for r in rows:
        c = r.get("curve")
        if not c or step not in c["steps"]:
            continue
        i = c["steps"].index(step)
        out.append(dict(r, miou=c["miou"][i], boundary_iou=c["boundary_iou"][i]))
    return out


def curve_steps(rows: list[dict]) -> list[int]:
    """The training steps every row's learning curve has (sorted; ``[]`` without curves)."""
    sets = [set(r["curve"]["steps"]) for r in rows if r.get("curve")]
    if not sets or len(sets) < len(rows):
        return []
    return sorted(set.intersection(*sets))


def curve_comparisons(rows: list[dict], a: str, b: str, metric: str = "boundary_iou") -> list:
    """``[(step, PairedComparison)]``: :func:`compare` of ``a`` against ``b`` at each step of the
    rows' learning curves (:func:`curve_rows`), paired by seed at every step."""
    steps = curve_steps([r for r in rows if r["method"] in (a, b)])
    if not steps:
        raise ArenaError(f"the rows of {a!r} and {b!r} hold no common learning-curve steps; "
                         "a curve needs runs made with --set curve_every=K")
    return [(k, compare(curve_rows(rows, k), a, b, metric)) for k in steps]


def curve_summary(rows: list[dict], methods: list[str] | None = None,
                  metric: str = "boundary_iou") -> dict:
    """Per method, the learning curve of ``metric`` over seeds: ``{method: {"steps": [...],
    "mean": [...], "sd": [...], "n": seeds}}`` at the steps every row of the method has.

    Example:
        >>> rows = [{"method": "a", "seed": s, "curve": {"steps": [5, 10], "miou": [m, m + 10],
        ...          "boundary_iou": [m, m]}} for s, m in ((0, 40.0), (1, 44.0))]
        >>> c = curve_summary(rows, metric="miou")["a"]
        >>> c["steps"], c["mean"], [round(v, 3) for v in c["sd"]], c["n"]
        ([5, 10], [42.0, 52.0], [2.828, 2.828], 2)
    """
    order = methods or list(dict.fromkeys(r["method"] for r in rows))
    out = {}
    for m in order:
        rs = [r for r in rows if r["method"] == m]
        steps = curve_steps(rs)
        if not steps:
            continue
        stats = [_mean_std([x[metric] for x in curve_rows(rs, k)]) for k in steps]
        out[m] = {"steps": steps, "mean": [a for a, _ in stats], "sd": [b for _, b in stats], "n": len(rs)}
    return out


def pairing(a: str, b: str) -> str:
    """``'full'`` when rows of one seed of ``a`` and ``b`` start from the same shared weights,
    ``'partial'`` when one of them widens the decoder (``bilinear+conv``): then only the image
    guide and the batches are shared, and the decoder starts from other weights.

    Example:
        >>> pairing("freqfusion", "bilinear"), pairing("freqfusion", "bilinear+conv")
        ('full', 'partial')
    """
    for m in (a, b):
        if m not in METHODS:
            raise ArenaError(f"unknown method {m!r}; choose from {list(METHODS)}")
    return "partial" if METHODS[a].widens_decoder != METHODS[b].widens_decoder else "full"


def paired_table(rows: list[dict], metric: str = "boundary_iou", baseline: str = "bilinear",
                 methods: list[str] | None = None, confidence: float = 0.95) -> dict:
    """Every method against ``baseline`` on ``metric``: ``{method: PairedComparison}`` (method
    minus baseline, in the rows' order or ``methods``' order; the baseline itself is left out).

    Example:
        >>> rows = [{"method": m, "seed": s, "miou": v} for m, vals in
        ...         (("base", [50.0, 48.0, 47.5]), ("x", [52.0, 50.5, 49.0]), ("y", [49.0, 49.0, 47.0]))
        ...         for s, v in enumerate(vals)]
        >>> t = paired_table(rows, "miou", "base")
        >>> {m: c.verdict for m, c in t.items()}
        {'x': 'better', 'y': 'no detectable difference'}
    """
    order = methods or list(dict.fromkeys(r["method"] for r in rows))
    if baseline not in {r["method"] for r in rows}:
        raise ArenaError(f"baseline {baseline!r} has no rows; the rows hold {order}")
    return {m: compare(rows, m, baseline, metric, confidence) for m in order if m != baseline}


def format_paired_table(table: dict, baseline: str, metric: str = "boundary_iou") -> str:
    """Plain text of :func:`paired_table`: one line per method, its mean paired difference to
    ``baseline`` with the interval, seeds ahead and the verdict.

    Example:
        >>> rows = [{"method": m, "seed": s, "miou": v} for m, vals in
        ...         (("base", [50.0, 48.0]), ("x", [52.0, 50.5])) for s, v in enumerate(vals)]
        >>> print(format_paired_table(paired_table(rows, "miou", "base"), "base", "miou"))
        miou, method - base, paired by seed (95% t interval)
        method          difference [interval]                   seeds ahead  verdict
        x               +2.25 [-0.93, +5.43]                         2 of 2  no detectable difference
    """
    conf = {round(100 * c.confidence) for c in table.values()} or {95}
    lines = [f"{metric}, method - {baseline}, paired by seed ({'/'.join(map(str, sorted(conf)))}% t interval)",
             f"{'method':<16}{'difference [interval]':<40}{'seeds ahead':>11}  verdict"]
    for m, c in table.items():
        cell = f"{c.mean:+.2f} [{c.low:+.2f}, {c.high:+.2f}]"
        lines.append(f"{m:<16}{cell:<40}{f'{c.ahead} of {c.n}':>11}  {c.verdict}")
    return "\n".join(lines)


def per_class_summary(rows: list[dict], class_names, key: str = "iou_per_class",
                      methods: list[str] | None = None) -> dict:
    """``{method: {class name: (mean, spread)}}`` of a per-class metric over seeds.

    ``key`` is ``'iou_per_class'`` or ``'biou_per_class'`` (values in %, ``None`` where a class
    is absent); a class absent from every seed gets ``(nan, nan)``.

    Example:
        >>> rows = [{"method": "a", "iou_per_class": [10.0, None]},
        ...         {"method": "a", "iou_per_class": [20.0, None]}]
        >>> d = per_class_summary(rows, ["sky", "pole"])["a"]
        >>> d["sky"][0], math.isnan(d["pole"][0])
        (15.0, True)
    """
    if key not in ("iou_per_class", "biou_per_class"):
        raise ValueError(f"key must be 'iou_per_class' or 'biou_per_class', got {key!r}")
    order = methods or list(dict.fromkeys(r["method"] for r in rows))
    out = {}
    for m in order:
        vals = [r[key] for r in rows if r["method"] == m]
        if vals:
            out[m] = {c: _mean_std([v[i] for v in vals]) for i, c in enumerate(class_names)}
    return out


def pareto_front(summary: dict, metric: str = "boundary_iou", cost: str = "rel_time") -> list[str]:
    """Methods no other method dominates (at least as good on ``metric`` *and* at most as costly,
    strictly better on one), by mean values; ``cost`` is ``'rel_time'`` or ``'params'``.

    Example:
        >>> s = {"a": {"b": (50, 1), "rel_time": (1.0, 0)}, "b": {"b": (55, 1), "rel_time": (2.0, 0)},
        ...      "c": {"b": (52, 1), "rel_time": (3.0, 0)}}
        >>> pareto_front(s, "b")
        ['a', 'b']
    """
    def val(m, key):
        v = summary[m][key]
        return float(v[0] if isinstance(v, tuple) else v)

    front = []
    for m in summary:
        dominated = any(
            val(o, metric) >= val(m, metric) and val(o, cost) <= val(m, cost)
            and (val(o, metric) > val(m, metric) or val(o, cost) < val(m, cost))
            for o in summary if o != m)
        if not dominated:
            front.append(m)
    return front


def format_table(summary: dict) -> str:
    """A plain-text table, one line per method: mean ± spread of each metric, params, seeds."""
    head = f"{'method':<16}" + "".join(f"{t:>17}" for _, t, _ in METRICS) + f"{'params':>9}{'seeds':>6}"
    lines = [head, "-" * len(head)]
    for m, d in summary.items():
        cells = []
        for key, _, fmt in METRICS:
            mean, sd = d[key]
            cells.append(f"{'n/a':>17}" if math.isnan(mean) else
                         f"{(fmt.format(mean) + ' ± ' + fmt.format(sd)):>17}")
        lines.append(f"{m:<16}" + "".join(cells) + f"{d['params'] or 0:>9}{d['n']:>6}")
    return "\n".join(lines)


def git_commit(cwd=None) -> str:
    """``git rev-parse HEAD`` of ``cwd`` (with ``+dirty`` if the package has local changes),
    or ``'unknown'`` outside a git checkout."""
    try:
        here = cwd or Path(__file__).resolve().parent
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        if not sha:
            return "unknown"
        package = Path(__file__).resolve().parents[1]  # freqfusion_edu/: all the code a run uses
        dirty = subprocess.run(["git", "status", "--porcelain", "--", str(package)], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_description() -> str:
    """CPU model, core count and OS, e.g. ``'AMD EPYC ... , 2 CPUs, Linux x86_64'``."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or 'unknown CPU'}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}"
