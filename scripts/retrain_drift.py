"""How far the stored results' re-training tests drift with the CPU's kernels.

Every stored long run (``results/arena_*.json``, ``results/ch07_full.json``) has a test that
re-trains its cheapest row on one thread and compares it with the stored numbers. One thread is
bit-for-bit repeatable on one machine, but another CPU makes oneDNN (convolutions), ATen
(elementwise and reductions) and MKL (matrix products) pick other kernels, which add floats in
another order; hundreds of training steps amplify those last-bit differences. This script
measures the amplification: it re-trains each test's row under every kernel setting below, in a
fresh process each (the variables are read when the libraries load), and records how far each
lands from the stored row. It also re-trains each row with one real change to the method (the
learning rate x 1.1) under the default kernels, so the table shows how far a real change moves a
row next to how far the kernels do. ``tests/results/test_retrain_tolerance.py`` derives the
re-training tests' tolerances from this table and checks both sides.

    python scripts/retrain_drift.py --out results/retrain_drift.json

Resumable: each (setting, row) is appended to ``OUT.partial.jsonl`` as it finishes; running the
same command again skips what is there. Rows added to :data:`ROWS` later are measured alone: the
stored file's records seed the partial file, and the provenance keeps the earlier measurement's. ``--jobs 2`` runs two settings at once (one thread
each, so the numbers are those of one thread either way).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout

RESULTS = REPO / "results"
METRICS = ("miou", "boundary_iou", "intra_sim", "margin")

# The rows the re-training tests train: (row id, stored file, method or fusion (None = the
# cheapest row, fewest seconds), seed).
ROWS = [
    ("arena_full:cheapest", "arena_full.json", None, None),
    ("arena_full:freqfusion/0", "arena_full.json", "freqfusion", 0),
    ("arena_scale:cheapest", "arena_scale.json", None, None),
    ("arena_steps:cheapest", "arena_steps.json", None, None),
    ("arena_scale_steps:cheapest", "arena_scale_steps.json", None, None),
    ("arena_steps_long:cheapest", "arena_steps_long.json", None, None),
    ("arena_scale_steps_long:cheapest", "arena_scale_steps_long.json", None, None),
    ("arena_guide:cheapest", "arena_guide.json", None, None),
    ("ch07_full:cheapest", "ch07_full.json", None, None),
    # the second round (scripts/arena_round2.py): pre-registered curves and confirmation runs
    ("arena_curves:cheapest", "arena_curves.json", None, None),
    ("arena_curves_encoder:cheapest", "arena_curves_encoder.json", None, None),
    ("arena_confirm_residual:cheapest", "arena_confirm_residual.json", None, None),
    ("arena_confirm_full:cheapest", "arena_confirm_full.json", None, None),
    ("arena_confirm_steps:cheapest", "arena_confirm_steps.json", None, None),
    ("arena_confirm_scale_steps:cheapest", "arena_confirm_scale_steps.json", None, None),
    # the second round's second batch of confirmations
    ("arena_confirm_scale_steps_long:cheapest", "arena_confirm_scale_steps_long.json", None, None),
    ("arena_confirm_full_rest:cheapest", "arena_confirm_full_rest.json", None, None),
    ("arena_confirm_scale_steps_miou:cheapest", "arena_confirm_scale_steps_miou.json", None, None),
    ("arena_confirm_steps_miou:cheapest", "arena_confirm_steps_miou.json", None, None),
    ("arena_confirm_scale:cheapest", "arena_confirm_scale.json", None, None),
]

# Kernel settings: name -> environment. Each is a cap a process can set on this CPU; together
# they stand for the CPUs a user may have (an AVX2-only machine, an old SSE4.1-only one). On a
# CPU without AVX-512 the AVX-512 caps change nothing (the library never picks above the CPU).
SETTINGS = {
    "default": {},
    "onednn=AVX512_CORE": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "onednn=AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "onednn=SSE41": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    "mkldnn off": {"FREQFUSION_EDU_DRIFT_NO_MKLDNN": "1"},
    "AVX2 machine": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
                     "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "SSE4.1 machine": {"ONEDNN_MAX_CPU_ISA": "SSE41", "ATEN_CPU_CAPABILITY": "default",
                       "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
}
# The real change: one line of the method (the learning rate), default kernels.
CHANGE = "lr x 1.1"
CHANGE_LR_SCALE = 1.1
# The environment of the one-more-run in `make test` (every x86-64 CPU has SSE4.1).
SSE41_ENV = SETTINGS["SSE4.1 machine"]

# The re-training tests' tolerances: per row and metric, at least MARGIN x the largest distance
# from the stored row measured across SETTINGS (results/retrain_drift.json, "kernel_drift"),
# rounded up. tests/results/test_retrain_tolerance.py checks that every tolerance covers its
# measured drift with that margin, and that the real change (CHANGE) moves every row by more.
MARGIN = 2.0
# (mIoU and boundary IoU rounded up to 0.05 points, the similarities to 0.001; floors 0.05, 0.001.)
TOLERANCE: dict[str, dict[str, float]] = {
    "arena_full:cheapest": {"miou": 1.05, "boundary_iou": 1.25, "intra_sim": 0.005, "margin": 0.005},
    "arena_full:freqfusion/0": {"miou": 0.2, "boundary_iou": 0.3, "intra_sim": 0.004, "margin": 0.004},
    "arena_scale:cheapest": {"miou": 0.7, "boundary_iou": 1.25, "intra_sim": 0.005, "margin": 0.009},
    "arena_steps:cheapest": {"miou": 0.7, "boundary_iou": 1.0, "intra_sim": 0.003, "margin": 0.006},
    "arena_scale_steps:cheapest": {"miou": 0.55, "boundary_iou": 1.2, "intra_sim": 0.002, "margin": 0.009},
    "arena_steps_long:cheapest": {"miou": 0.9, "boundary_iou": 2.3, "intra_sim": 0.017, "margin": 0.014},
    "arena_scale_steps_long:cheapest": {"miou": 0.5, "boundary_iou": 1.15, "intra_sim": 0.002,
                                        "margin": 0.007},
    "arena_guide:cheapest": {"miou": 0.35, "boundary_iou": 1.1, "intra_sim": 0.014, "margin": 0.018},
    "ch07_full:cheapest": {"miou": 0.6, "boundary_iou": 0.9, "intra_sim": 0.002, "margin": 0.006},
    "arena_curves:cheapest": {"miou": 0.85, "boundary_iou": 1.2, "intra_sim": 0.019, "margin": 0.027},
    "arena_curves_encoder:cheapest": {"miou": 0.6, "boundary_iou": 1.0, "intra_sim": 0.002, "margin": 0.001},
    "arena_confirm_residual:cheapest": {"miou": 0.35, "boundary_iou": 0.4, "intra_sim": 0.002, "margin": 0.003},
    "arena_confirm_full:cheapest": {"miou": 0.1, "boundary_iou": 0.2, "intra_sim": 0.001, "margin": 0.001},
    "arena_confirm_steps:cheapest": {"miou": 0.55, "boundary_iou": 0.95, "intra_sim": 0.005, "margin": 0.003},
    "arena_confirm_scale_steps:cheapest": {"miou": 1.8, "boundary_iou": 2.8, "intra_sim": 0.003, "margin": 0.003},
    "arena_confirm_scale_steps_long:cheapest": {"miou": 0.55, "boundary_iou": 0.9, "intra_sim": 0.003, "margin": 0.005},
    "arena_confirm_full_rest:cheapest": {"miou": 0.05, "boundary_iou": 0.05, "intra_sim": 0.001, "margin": 0.001},
    "arena_confirm_scale_steps_miou:cheapest": {"miou": 0.55, "boundary_iou": 0.55, "intra_sim": 0.003, "margin": 0.005},
    "arena_confirm_steps_miou:cheapest": {"miou": 0.2, "boundary_iou": 0.35, "intra_sim": 0.003, "margin": 0.004},
    "arena_confirm_scale:cheapest": {"miou": 0.05, "boundary_iou": 0.05, "intra_sim": 0.001, "margin": 0.001},
}


def compare(row_id: str, new: dict, stored: dict | None = None) -> list[str]:
    """What differs between a re-trained row and the stored one by more than its tolerance.

    Returns one line per metric out of tolerance (empty when the row reproduces); ``params``
    must be equal.
    """
    stored = stored if stored is not None else stored_row(row_id)
    bad = [] if new["params"] == stored["params"] else [
        f"params: stored {stored['params']}, re-trained {new['params']}"]
    for k in METRICS:
        tol = TOLERANCE[row_id][k]
        if not abs(new[k] - stored[k]) <= tol:  # `not <=` also catches NaN
            bad.append(f"{k}: stored {stored[k]:.4f}, re-trained {new[k]:.4f}, "
                       f"|difference| {abs(new[k] - stored[k]):.4f} > tolerance {tol}")
    return bad


def assert_reproduces(row_id: str, new: dict) -> None:
    """Fail (AssertionError) when ``new`` is not the stored row ``row_id`` within tolerance."""
    bad = compare(row_id, new)
    assert not bad, (f"{row_id} does not reproduce its stored row:\n  " + "\n  ".join(bad) +
                     "\nA change of what the method computes moves a row by more than another "
                     "CPU's kernels do (results/retrain_drift.json); re-run the stored command "
                     "and commit the new file if the change is meant.")


def load_stored(file: str) -> dict:
    from freqfusion_edu.arena import results as R

    path = RESULTS / file
    return R.load_results(path) if file.startswith("arena") else json.loads(path.read_text())


def stored_row(row_id: str) -> dict:
    """The stored row a re-training test compares with (by its id in :data:`ROWS`)."""
    (_, file, method, seed), = [r for r in ROWS if r[0] == row_id]
    rows = load_stored(file)["rows"]
    if method is None:
        return min(rows, key=lambda r: r["seconds"])
    key = "fusion" if file.startswith("ch07") else "method"
    (row,) = [r for r in rows if r[key] == method and r["seed"] == seed]
    return row


def retrain(row_id: str, lr_scale: float = 1.0, tmp_dir=None) -> dict:
    """Re-train the row ``row_id`` with its stored settings on one thread; its metrics and params.

    ``lr_scale`` multiplies the learning rate (the real change the tolerance must catch).
    """
    import torch

    (_, file, _, _), = [r for r in ROWS if r[0] == row_id]
    data = load_stored(file)
    row = stored_row(row_id)
    if file.startswith("ch07"):
        sys.path.insert(0, str(REPO / "scripts"))
        import ch07_full

        config = json.loads(json.dumps(data["settings"]["config"]))
        config["optim"]["lr"] *= lr_scale
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with tempfile.TemporaryDirectory(dir=tmp_dir) as tmp:
                new = ch07_full.run_one(config, row["fusion"], row["seed"], Path(tmp) / "run")
        finally:
            torch.set_num_threads(threads)
    else:
        from freqfusion_edu.arena.task import FULL, train_method

        full = FULL.as_dict()
        settings = dataclasses.replace(FULL, **{k: v for k, v in data["settings"].items()
                                                if v != full[k]})
        assert settings.as_dict() == data["settings"], file
        settings = dataclasses.replace(settings, lr=settings.lr * lr_scale)
        # a learned-input row re-pretrains its encoder too (in a fresh cache): the stored rows'
        # encoder was pretrained on the machine that made them, and is part of what must reproduce
        cache = tempfile.TemporaryDirectory(dir=tmp_dir) if settings.features == "encoder" else None
        old_cache = os.environ.get("FREQFUSION_EDU_CACHE")
        try:
            if cache is not None:
                os.environ["FREQFUSION_EDU_CACHE"] = cache.name
            new = train_method(row["method"], row["seed"], settings, time_it=False).row
        finally:
            if cache is not None:
                if old_cache is None:
                    os.environ.pop("FREQFUSION_EDU_CACHE", None)
                else:
                    os.environ["FREQFUSION_EDU_CACHE"] = old_cache
                cache.cleanup()
    return {k: new[k] for k in (*METRICS, "params")}


def _worker(setting: str, partial: Path, rows: list[str]) -> None:
    import torch

    if os.environ.get("FREQFUSION_EDU_DRIFT_NO_MKLDNN") == "1":
        torch.backends.mkldnn.enabled = False
    torch.set_num_threads(1)
    lr_scale = CHANGE_LR_SCALE if setting == CHANGE else 1.0
    for row_id in rows:
        t0 = time.perf_counter()
        values = retrain(row_id, lr_scale)
        rec = {"setting": setting, "row": row_id, **values, "commit": _commit(),
               "aten_capability": torch.backends.cpu.get_cpu_capability(),
               "seconds": time.perf_counter() - t0}
        with partial.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(f"{setting:16s} {row_id:32s} mIoU {values['miou']:.3f} bIoU "
              f"{values['boundary_iou']:.3f} ({rec['seconds']:.0f} s)", flush=True)


def _done(partial: Path) -> list[dict]:
    if not partial.exists():
        return []
    return [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]


def summarize(records: list[dict]) -> dict:
    """Per row: stored values, each setting's values, the kernels' largest drift from the stored
    row, and how far the real change moved it."""
    table = {}
    for row_id, *_ in ROWS:
        stored = stored_row(row_id)
        by = {r["setting"]: r for r in records if r["row"] == row_id}
        kernels = [by[s] for s in SETTINGS if s in by]
        entry = {"stored": {k: stored[k] for k in METRICS},
                 "settings": {s: {k: by[s][k] for k in METRICS} for s in (*SETTINGS, CHANGE) if s in by}}
        entry["kernel_drift"] = {k: max((abs(r[k] - stored[k]) for r in kernels), default=None)
                                 for k in METRICS}
        if CHANGE in by:
            entry["change_effect"] = {k: abs(by[CHANGE][k] - stored[k]) for k in METRICS}
        table[row_id] = entry
    return table


def markdown_table(data: dict) -> str:
    """The measurement as a Markdown table: per row, the largest move of mIoU and boundary IoU
    under any kernel setting, the setting that made it, the tolerance, and the real change."""
    lines = ["| re-trained row | stored mIoU / bIoU | kernels' largest move, mIoU / bIoU (setting) "
             "| tolerance, mIoU / bIoU | lr x 1.1 moves it, mIoU / bIoU |",
             "|---|---|---|---|---|"]
    for row_id, e in data["rows"].items():
        st = e["stored"]
        worst = {k: max((s for s in e["settings"] if s != data["settings"]["change"]),
                        key=lambda s: abs(e["settings"][s][k] - st[k])) for k in ("miou", "boundary_iou")}
        d, c = e["kernel_drift"], e["change_effect"]
        tol = TOLERANCE.get(row_id, {})
        fmt_tol = " / ".join(f"{tol[k]:.2f}" if k in tol else "-" for k in ("miou", "boundary_iou"))
        lines.append(
            f"| `{row_id}` | {st['miou']:.2f} / {st['boundary_iou']:.2f} "
            f"| {d['miou']:.3f} ({worst['miou']}) / {d['boundary_iou']:.3f} ({worst['boundary_iou']}) "
            f"| {fmt_tol} | {c['miou']:.2f} / {c['boundary_iou']:.2f} |")
    return "\n".join(lines)


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return " ".join(f for f in ("sse4_1", "avx2", "avx512f", "avx512_bf16", "amx_tile")
                                if f in flags)
    except OSError:
        pass
    return "unknown"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(RESULTS / "retrain_drift.json"))
    p.add_argument("--jobs", type=int, default=1, help="settings run at once (default 1)")
    p.add_argument("--settings", nargs="+", default=[*SETTINGS, CHANGE],
                   help="which settings to run (default: all, then the real change)")
    p.add_argument("--table", action="store_true",
                   help="print the stored measurement (--out) as a Markdown table and stop")
    p.add_argument("--rows", nargs="+", default=None,
                   help="measure only these row ids (default: every row of ROWS not measured yet)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.table:
        print(markdown_table(json.loads(out.read_text())))
        return 0
    partial = out.with_suffix(".partial.jsonl")
    unknown = [s for s in args.settings if s not in SETTINGS and s != CHANGE]
    if unknown:
        p.error(f"--settings: unknown {unknown}; choose from {[*SETTINGS, CHANGE]}")
    wanted = args.rows or [r[0] for r in ROWS]
    unknown = [r for r in wanted if r not in {x[0] for x in ROWS}]
    if unknown:
        p.error(f"--rows: unknown {unknown}; choose from {[r[0] for r in ROWS]}")
    if args.worker:
        done = {r["row"] for r in _done(partial) if r["setting"] == args.worker}
        _worker(args.worker, partial, [r for r in wanted if r not in done])
        return 0

    if not partial.exists() and out.exists():
        # rows added to ROWS after the stored measurement: keep its records, run only the new rows
        partial.write_text("".join(json.dumps(r) + "\n" for r in json.loads(out.read_text())["records"]))
    t0 = time.perf_counter()
    todo = [s for s in args.settings
            if not set(wanted) <= {r["row"] for r in _done(partial) if r["setting"] == s}]
    print(f"{len(args.settings) - len(todo)} settings done, {len(todo)} to do; partial: {partial}")
    running: list[subprocess.Popen] = []
    for s in todo:
        while sum(q.poll() is None for q in running) >= args.jobs:
            time.sleep(1)
        env = {**os.environ, "OMP_NUM_THREADS": "1", **SETTINGS.get(s, {})}
        running.append(subprocess.Popen([sys.executable, __file__, "--out", str(out), "--worker", s,
                                         "--rows", *wanted], env=env))
    codes = [q.wait() for q in running]
    if any(codes):
        print(f"a worker failed (exit codes {codes}); run the command again to resume", file=sys.stderr)
        return 1
    records = _done(partial)
    measured = {(r["setting"], r["row"]) for r in records}
    missing = [row for row, *_ in ROWS if any((s, row) not in measured for s in (*SETTINGS, CHANGE))]
    if missing:
        print(f"measured so far in {partial}; still to measure: {missing} (run again with those --rows)")
        return 0
    earlier = json.loads(out.read_text())["provenance"] if out.exists() else None
    from freqfusion_edu.profiling import machine_info
    import torch

    data = {
        "settings": {"kernel_settings": SETTINGS, "change": CHANGE, "rows": [r[0] for r in ROWS]},
        "rows": summarize(records),
        "provenance": {
            "command": "python scripts/retrain_drift.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "commit": _commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{machine_info()}; CPU flags: {_cpu_flags()}",
            "torch": torch.__version__, "threads": 1,
            # training time summed over every record (some may come from earlier invocations)
            "seconds": round(sum(r["seconds"] for r in records), 1),
            "wall_seconds_last_invocation": round(time.perf_counter() - t0, 1)},
        "records": records,
    }
    if earlier is not None and any("commit" not in r for r in records):
        # records without a commit of their own come from the earlier measurement (rows added later)
        data["provenance"]["earlier_measurement"] = {k: earlier[k] for k in ("command", "commit", "date", "machine")
                                                     if k in earlier}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


def _commit() -> str:
    """The checkout's commit, and which files differed from it (the measurement's code)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.split("\n")
        changed = sorted(line[3:] for line in dirty if line.strip() and "results/" not in line)
        return sha + (f" (with these files changed or added: {', '.join(changed)})" if changed else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
