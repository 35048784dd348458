"""The arena's second round: pre-registered learning curves (oracle and learned-encoder input) and
confirmation runs on fresh seeds of the wins the earlier, exploring studies found.

Round two's first registration (the curves and four confirmations) re-tested 8 chosen wins; the
remaining 23 first-round wins of FreqFusion or its parts were registered afterwards, as a second
batch (``BATCH_2``: five more confirmation files), so that every first-round win is re-tested.

    python scripts/arena_round2.py --register        # write the plans into the result files
    git add results/arena_*.json && git commit       # commit the plans before any row exists
    python scripts/arena_round2.py --run --jobs 2    # run (resumable: run it again to continue)
    python scripts/arena_round2.py --status          # rows done per study

Each study is one ``freqfusion-edu arena`` command writing one result file whose
``preregistration`` block (:mod:`freqfusion_edu.arena.prereg`) says, before the first row, what
will be run and which paired comparisons decide it. ``--register`` also stores the frozen
encoder's own pretraining record in ``results/arena_encoder.json``. Chapter 09 reads the files.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout

RESULTS = REPO / "results"

#: How many settings were tried before this round, written into every registration.
SETTINGS_TRIED = (
    "Before this registration the arena was run in 7 settings stored in results/ (arena_full, "
    "arena_scale, arena_steps, arena_scale_steps, arena_steps_long, arena_scale_steps_long, "
    "arena_guide: scene size 48/64, 300/600/1200 steps, a 2- or 4-conv image guide), and an "
    "outside review of the arena tried about 13 more (among them the residual decoder) without "
    "storing them. The curves below were fixed before any of their rows was run; their setting is "
    "the stored run's (FULL, plain decoder) with 1200 steps, not one picked for its outcome.")

#: The second batch's account: registered after the first batch's rows were run and shown.
SETTINGS_TRIED_2 = (
    SETTINGS_TRIED[:SETTINGS_TRIED.index(" The curves below")] + " Round two then ran its first batch "
    "of 6 registered studies (the curves with the oracle and the learned input, 4 confirmations). "
    "This second batch adds no new setting: each file re-runs the settings of the stored exploring "
    "run whose wins it re-tests, on seeds no run at those settings has used, and together the batch "
    "re-tests every first-round win of FreqFusion or its parts that the first batch left out (23).")

#: The studies registered in the second batch (the others are the first batch).
BATCH_2 = ("confirm_scale_steps_long", "confirm_full_rest", "confirm_scale_steps_miou",
           "confirm_steps_miou", "confirm_scale")


def settings_tried_of(name: str) -> str:
    """The 'settings tried' text a study was registered with."""
    return SETTINGS_TRIED_2 if name in BATCH_2 else SETTINGS_TRIED


CURVE_METHODS = ["bilinear", "bilinear+conv", "conv@fuser", "ff-alpf", "ff-alpf+ahpf", "freqfusion"]
CURVE_COMPARISONS = [
    ["freqfusion", "bilinear", "boundary_iou"],
    ["freqfusion", "bilinear+conv", "boundary_iou"],
    ["freqfusion", "conv@fuser", "boundary_iou"],
    ["ff-alpf", "bilinear", "boundary_iou"],
    ["ff-alpf+ahpf", "ff-alpf", "boundary_iou"],
    ["freqfusion", "ff-alpf+ahpf", "boundary_iou"],
    ["freqfusion", "bilinear", "miou"],
]
CURVE_NOTES = ("Each run is one cosine schedule over 1200 steps, evaluated on the validation scenes "
               "after 300, 600, 900 and 1200 steps (curve_every=300): the early points are networks "
               "in mid-training. Every comparison is reported at every point; the 1200-step point is "
               "the primary one. No correction for multiple comparisons: a comparison's verdict is "
               "read with its interval, and a win counts as confirmed only when a run on fresh seeds "
               "finds it again.")

#: name -> (result file, --set overrides of FULL, methods, seeds, first seed, question,
#: comparisons, notes). Order = run order.
STUDIES = {
    "curves": ("arena_curves.json", ["steps=1200", "curve_every=300"], CURVE_METHODS, 10, 0,
               "On the oracle task (class-embedding lr, image-guide hr, plain decoder), how do boundary "
               "IoU and mIoU of FreqFusion, its parts, bilinear-and-add and two controls with "
               "FreqFusion's parameters (wider decoder; conv block at the fuser) develop over 1200 steps?",
               CURVE_COMPARISONS, CURVE_NOTES),
    "curves_encoder": ("arena_curves_encoder.json", ["steps=1200", "curve_every=300", "features=encoder"],
                       CURVE_METHODS, 10, 0,
                       "The same curves with a learned input: hr and lr from a small CNN encoder "
                       "(1/2 and 1/4 of the scene) pretrained for segmentation on separate scenes and "
                       "frozen (results/arena_encoder.json), instead of the oracle class code.",
                       CURVE_COMPARISONS, CURVE_NOTES),
    "confirm_residual": ("arena_confirm_residual.json", ["decoder=residual"],
                         ["bilinear", "bilinear+conv", "conv@fuser", "freqfusion"], 10, 10,
                         "Confirmation on fresh seeds of the outside review's finding with the residual "
                         "decoder at 300 steps: FreqFusion ahead of the wider-decoder control "
                         "(+2.8 [+0.7, +4.9] boundary IoU, 5 of 5 seeds) and of bilinear.",
                         [["freqfusion", "bilinear+conv", "boundary_iou"],
                          ["freqfusion", "bilinear", "boundary_iou"],
                          ["freqfusion", "conv@fuser", "boundary_iou"]],
                         "Seeds 10-19: no exploring run used them."),
    "confirm_full": ("arena_confirm_full.json", [],
                     ["bilinear", "bilinear+conv", "ff-alpf", "ff-alpf+ahpf", "freqfusion"], 10, 10,
                     "Confirmation on fresh seeds of the stored run's (arena_full.json) detectable "
                     "differences that bear on FreqFusion: AHPF added to the ALPF (+4.25 boundary IoU), "
                     "full FreqFusion over the ALPF alone (+2.78), the wider-decoder control over "
                     "FreqFusion in mIoU (+3.60).",
                     [["ff-alpf+ahpf", "ff-alpf", "boundary_iou"],
                      ["freqfusion", "ff-alpf", "boundary_iou"],
                      ["bilinear+conv", "freqfusion", "miou"]],
                     "Seeds 10-19: no exploring run used them."),
    "confirm_steps": ("arena_confirm_steps.json", ["steps=600"], ["bilinear", "freqfusion"], 10, 10,
                      "Confirmation on fresh seeds of arena_steps.json's finding: at 600 steps FreqFusion "
                      "ahead of bilinear (+2.57 [+0.44, +4.70] boundary IoU, 4 of 5 seeds).",
                      [["freqfusion", "bilinear", "boundary_iou"]],
                      "Seeds 10-19: no exploring run used them."),
    "confirm_scale_steps": ("arena_confirm_scale_steps.json", ["size=64", "steps=600"],
                            ["bilinear", "ff-alpf+ahpf", "freqfusion"], 10, 10,
                            "Confirmation on fresh seeds of arena_scale_steps.json's findings: on 64x64 "
                            "scenes at 600 steps FreqFusion (+4.70 [+3.05, +6.35]) and ALPF+AHPF (+5.64) "
                            "ahead of bilinear in boundary IoU, 5 of 5 seeds.",
                            [["freqfusion", "bilinear", "boundary_iou"],
                             ["ff-alpf+ahpf", "bilinear", "boundary_iou"]],
                            "Seeds 10-19: no exploring run used them."),
    # --- the second batch, registered after the first had run (BATCH_2, SETTINGS_TRIED_2) ---
    "confirm_scale_steps_long": (
        "arena_confirm_scale_steps_long.json", ["size=64", "steps=1200"],
        ["bilinear", "ff-alpf+ahpf", "freqfusion"], 10, 10,
        "Confirmation on fresh seeds of arena_scale_steps_long.json's detectable differences (64x64 "
        "scenes, 1200 steps): ALPF+AHPF ahead of bilinear (+2.79 boundary IoU, +1.26 mIoU) and of "
        "FreqFusion (+0.97, +0.46), FreqFusion ahead of bilinear (+1.83, +0.80), 5 of 5 seeds each.",
        [["ff-alpf+ahpf", "bilinear", "boundary_iou"], ["ff-alpf+ahpf", "bilinear", "miou"],
         ["ff-alpf+ahpf", "freqfusion", "boundary_iou"], ["ff-alpf+ahpf", "freqfusion", "miou"],
         ["freqfusion", "bilinear", "boundary_iou"], ["freqfusion", "bilinear", "miou"]],
        "Seeds 10-19: no run at these settings used them."),
    "confirm_full_rest": (
        "arena_confirm_full_rest.json", [],
        ["nearest", "carafe", "deconv", "ff-alpf", "ff-alpf+offsets", "ff-alpf+ahpf", "freqfusion"], 10, 10,
        "Confirmation on fresh seeds of the stored run's (arena_full.json) remaining detectable "
        "differences of FreqFusion or its parts: ALPF+AHPF ahead of nearest, CARAFE and "
        "ALPF+offsets (boundary IoU and mIoU) and of the ALPF alone (mIoU); FreqFusion ahead of the "
        "transposed convolution (boundary IoU), of CARAFE and of ALPF+offsets (both metrics).",
        [["ff-alpf+ahpf", "nearest", "boundary_iou"], ["ff-alpf+ahpf", "nearest", "miou"],
         ["ff-alpf+ahpf", "carafe", "boundary_iou"], ["ff-alpf+ahpf", "carafe", "miou"],
         ["ff-alpf+ahpf", "ff-alpf", "miou"],
         ["ff-alpf+ahpf", "ff-alpf+offsets", "boundary_iou"], ["ff-alpf+ahpf", "ff-alpf+offsets", "miou"],
         ["freqfusion", "deconv", "boundary_iou"],
         ["freqfusion", "carafe", "boundary_iou"], ["freqfusion", "carafe", "miou"],
         ["freqfusion", "ff-alpf+offsets", "boundary_iou"], ["freqfusion", "ff-alpf+offsets", "miou"]],
        "Seeds 10-19, as arena_confirm_full.json (which holds other methods): ff-alpf, ff-alpf+ahpf "
        "and freqfusion are run again here so that every comparison is paired within this file."),
    "confirm_scale_steps_miou": (
        "arena_confirm_scale_steps_miou.json", ["size=64", "steps=600"],
        ["bilinear", "ff-alpf+ahpf", "freqfusion"], 10, 20,
        "Confirmation on fresh seeds of arena_scale_steps.json's mIoU differences (64x64 scenes, "
        "600 steps), which the first batch did not register: ALPF+AHPF (+2.90) and FreqFusion "
        "(+2.38) ahead of bilinear, 5 of 5 seeds.",
        [["ff-alpf+ahpf", "bilinear", "miou"], ["freqfusion", "bilinear", "miou"]],
        "Seeds 20-29: seeds 10-19 of this setting were run and shown by the first batch "
        "(arena_confirm_scale_steps.json), so these re-tests use seeds no run has used."),
    "confirm_steps_miou": (
        "arena_confirm_steps_miou.json", ["steps=600"], ["bilinear", "freqfusion"], 10, 20,
        "Confirmation on fresh seeds of arena_steps.json's mIoU difference (600 steps), which the "
        "first batch did not register: FreqFusion ahead of bilinear (+1.37 [+0.12, +2.61], 4 of 5 seeds).",
        [["freqfusion", "bilinear", "miou"]],
        "Seeds 20-29: seeds 10-19 of this setting were run and shown by the first batch "
        "(arena_confirm_steps.json), so this re-test uses seeds no run has used."),
    "confirm_scale": (
        "arena_confirm_scale.json", ["size=64"], ["ff-alpf+ahpf", "freqfusion"], 10, 10,
        "Confirmation on fresh seeds of arena_scale.json's detectable differences (64x64 scenes, 300 "
        "steps): ALPF+AHPF ahead of FreqFusion (+2.79 boundary IoU, +2.33 mIoU, 5 of 5 seeds).",
        [["ff-alpf+ahpf", "freqfusion", "boundary_iou"], ["ff-alpf+ahpf", "freqfusion", "miou"]],
        "Seeds 10-19: no run at these settings used them."),
}


def command(name: str, out_dir: Path = RESULTS) -> list[str]:
    file, sets, methods, seeds, first, *_ = STUDIES[name]
    cmd = ["freqfusion-edu", "arena", "--full"]
    for s in sets:
        cmd += ["--set", s]
    cmd += ["--seeds", str(seeds)]
    if first:
        cmd += ["--first-seed", str(first)]
    return cmd + ["--methods", *methods, "--out", str(out_dir / file)]


def display_command(name: str) -> str:
    """The command as the provenance records it (paths relative to the repository)."""
    cmd = command(name, Path("results"))
    return " ".join(shlex.quote(c) for c in cmd)


def settings_of(name: str):
    from freqfusion_edu.arena.task import FULL, with_overrides

    return with_overrides(FULL, STUDIES[name][1])


def register_all(names=None) -> None:
    """Register ``names`` (default: every study); a file already registered is left as it is."""
    from freqfusion_edu.arena.prereg import register

    names = list(names or STUDIES)
    for name in names:
        file, sets, methods, seeds, first, question, comparisons, notes = STUDIES[name]
        register(RESULTS / file, settings_of(name), methods, seeds, first_seed=first,
                 question=question, comparisons=comparisons, settings_tried=settings_tried_of(name),
                 command=display_command(name), notes=notes)
        print(f"registered {file}")
    if "curves_encoder" in names:
        write_encoder_record()


def write_encoder_record(path: Path = RESULTS / "arena_encoder.json") -> dict:
    """Pretrain (or load from the cache) the encoder the learned-input study uses, and store its
    recipe, provenance and its own validation scores."""
    from freqfusion_edu.arena.encoder import evaluate_encoder, pretrained_encoder

    settings = settings_of("curves_encoder")
    enc, prov = pretrained_encoder(settings)
    record = {"recipe": prov["recipe"], "key": prov["key"], "scenes": prov["scenes"],
              "loss_first": prov["loss_first"], "loss_last": prov["loss_last"],
              "val": evaluate_encoder(enc, settings),
              "provenance": {"command": "python scripts/arena_round2.py --register",
                             **{k: prov[k] for k in ("commit", "date", "machine", "torch", "threads",
                                                     "seconds")}}}
    if prov.get("cached"):
        record["provenance"]["note"] = "pretrained earlier with the same recipe; loaded from the cache"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path.name}: encoder alone mIoU {record['val']['miou']:.1f}, "
          f"boundary IoU {record['val']['boundary_iou']:.1f}")
    return record


def status() -> None:
    for name, (file, _, methods, seeds, *_rest) in STUDIES.items():
        path = RESULTS / file
        n = len(json.loads(path.read_text())["rows"]) if path.exists() else 0
        print(f"{name:<22} {n:>3} / {len(methods) * seeds} rows  ({file})")


def run(jobs: int, names: list[str]) -> None:
    """Run the studies, ``jobs`` at a time (one thread each), each resumable by itself."""
    exe = Path(sys.executable).parent / "freqfusion-edu"
    queue, running = list(names), []
    logs = RESULTS / "logs"
    logs.mkdir(exist_ok=True)
    while queue or running:
        while queue and len(running) < jobs:
            name = queue.pop(0)
            cmd = command(name, Path("results"))   # relative: the provenance names no machine's path
            cmd[0] = str(exe) if exe.exists() else cmd[0]
            log = open(logs / f"{name}.log", "a")
            print(f"{datetime.datetime.now():%H:%M:%S} start {name}", flush=True)
            env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
            running.append((name, subprocess.Popen(cmd + ["--no-progress"], stdout=log,
                                                   stderr=subprocess.STDOUT, cwd=REPO, env=env)))
        time.sleep(5)
        for name, p in list(running):
            if p.poll() is not None:
                running.remove((name, p))
                print(f"{datetime.datetime.now():%H:%M:%S} {name} exited {p.returncode}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--register", action="store_true", help="write the plans (never overwrites)")
    ap.add_argument("--run", action="store_true", help="run the registered studies")
    ap.add_argument("--status", action="store_true", help="rows done per study")
    ap.add_argument("--jobs", type=int, default=1, help="studies run at once (default 1)")
    ap.add_argument("--only", nargs="+", choices=list(STUDIES), help="these studies only")
    args = ap.parse_args(argv)
    if args.register:
        register_all(args.only)
    if args.run:
        run(args.jobs, args.only or list(STUDIES))
    if args.status or not (args.register or args.run):
        status()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
