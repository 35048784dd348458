"""Chapter 07's full mode as a script: bilinear vs FreqFusion on the toy street scenes, 5 seeds.

The settings are ``configs/toy_ch07.yaml`` with no override, exactly what the chapter trains
in full mode (``FREQFUSION_EDU_MODE=full``). Each (fusion, seed) run is appended to the result
file as soon as it finishes (written atomically), so an interrupted run continues where it
stopped when started again with the same command. One thread, as the stored run::

    OMP_NUM_THREADS=1 python scripts/ch07_full.py --out results/ch07_full.json

The JSON holds ``settings`` (the config as a dict, the seeds and fusions), ``rows`` (one per run:
``fusion``, ``seed``, ``miou``, ``boundary_iou``, ``intra_sim``, ``inter_sim``, ``margin``,
``per_class_iou``, ``params``, ``loss_first``, ``loss_last``, ``seconds``, ``cpu_seconds``) and
``provenance`` (``command``, ``commit`` (at the start of the invocation that wrote the last row),
``date``, ``machine``, ``torch``, ``threads``, ``seconds`` and ``cpu_seconds``, summed over rows).
``tests/results/test_ch07_full.py`` re-runs the cheapest row and compares.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "toy_ch07.yaml"
FUSIONS = ("bilinear", "freqfusion")
SEEDS = (0, 1, 2, 3, 4)


def run_one(config: dict, fusion: str, seed: int, out_dir) -> dict:
    """Train one (fusion, seed) run of the settings ``config`` (a config dict); return its row."""
    from freqfusion_edu.engine.config import apply_overrides, config_from_dict
    from freqfusion_edu.engine.train import train

    cfg = apply_overrides(config_from_dict(config), [
        f"model.fusion={fusion}", f"train.seed={seed}", f"train.out_dir={out_dir}",
        "train.progress=false"])
    t0, c0 = time.perf_counter(), time.process_time()
    r = train(cfg, log=None)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    f = r.final
    losses = [loss for _, loss in r.losses]
    q = max(1, len(losses) // 10)  # mean of the first / last tenth of the iterations
    return {"fusion": fusion, "seed": seed, "miou": 100 * f.miou,
            "boundary_iou": 100 * f.mean_boundary_iou,
            "intra_sim": f.feature_similarity["intra"], "inter_sim": f.feature_similarity["inter"],
            "margin": f.feature_similarity["margin"],
            "per_class_iou": {n: round(100 * float(v), 2) for n, v in zip(f.class_names, f.iou)},
            "params": sum(p.numel() for p in r.model.parameters()),
            "loss_first": sum(losses[:q]) / q, "loss_last": sum(losses[-q:]) / q,
            "seconds": seconds, "cpu_seconds": cpu_seconds}


def load_settings(config_path=CONFIG) -> dict:
    from freqfusion_edu.engine.config import config_to_dict, load_config

    return config_to_dict(load_config(config_path))


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return sha + (" (working tree had uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def _save(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1, allow_nan=False)
        fh.write("\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO / "results" / "ch07_full.json"))
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    p.add_argument("--runs", default=None, help="folder for checkpoints (default: a temporary one)")
    p.add_argument("--config", default=str(CONFIG), help="settings (default: configs/toy_ch07.yaml)")
    args = p.parse_args(argv)
    out = Path(args.out)
    settings = {"config": load_settings(args.config), "fusions": list(FUSIONS),
                "seeds": list(args.seeds)}
    if out.exists():
        data = json.loads(out.read_text())
        if data.get("settings", {}).get("config") != settings["config"]:
            print(f"{out} holds runs of other settings; delete it or pass another --out", file=sys.stderr)
            return 2
        data["settings"]["seeds"] = sorted(set(data["settings"]["seeds"]) | set(args.seeds))
    else:
        data = {"settings": settings, "rows": [], "provenance": {}}
    threads = torch.get_num_threads()
    commit = _commit()  # the code this process runs: recorded before the first run
    done = {(r["fusion"], r["seed"]) for r in data["rows"]}
    runs = Path(args.runs) if args.runs else Path(tempfile.mkdtemp(prefix="ch07_full_"))
    todo = [(s, f) for s in args.seeds for f in FUSIONS if (f, s) not in done]
    print(f"{len(done)} runs stored, {len(todo)} to do, {threads} thread(s)", flush=True)
    for seed, fusion in todo:
        row = run_one(data["settings"]["config"], fusion, seed, runs / f"{fusion}_s{seed}_{time.time_ns()}")
        data["rows"].append(row)
        prev = data["provenance"].get("seconds", 0.0)
        prev_cpu = data["provenance"].get("cpu_seconds", 0.0)
        data["provenance"] = {
            "command": "OMP_NUM_THREADS=1 python scripts/ch07_full.py " + " ".join(
                argv if argv is not None else sys.argv[1:]),
            "commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {_cpu_name()}, "
                       f"{os.cpu_count()} logical cores (shared), {platform.system()} {platform.release()}",
            "torch": torch.__version__, "threads": threads,
            "seconds": prev + row["seconds"], "cpu_seconds": prev_cpu + row["cpu_seconds"]}
        _save(out, data)
        print(f"{fusion:10s} seed {seed}: mIoU {row['miou']:.2f}  bIoU {row['boundary_iou']:.2f}  "
              f"IntraSim {row['intra_sim']:.4f}  margin {row['margin']:.4f}  ({row['seconds']:.0f} s)",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
