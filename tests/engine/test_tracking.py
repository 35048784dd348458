"""Issue 21: runs you can watch (TensorBoard, the progress bar) and read back (plot), and a paired
verdict over seeds (compare)."""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import _engine_fixtures as fx
from freqfusion_edu.engine.config import load_config
from freqfusion_edu.engine.tracking import (TENSORBOARD_DIR, class_palette, compare_runs,
                                            config_differences, eval_scalars, load_run,
                                            prediction_panel, read_event_images,
                                            read_event_scalars)
from freqfusion_edu.engine.train import checkpoint_path, train
from freqfusion_edu.errors import RunLogError
from freqfusion_edu.metrics import paired_comparison

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("tensorboard", reason="the [track] extra (tensorboard) is not installed")


def rows(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def run(cfg, **kw):
    return train(cfg, build_model_fn=fx.build_model, build_data_fn=fx.build_data, log=None, **kw)


# ----------------------------------------------------------------------------- TensorBoard
@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """configs/cityscapes_smoke.yaml as shipped (4 iterations, one evaluation at the end)."""
    out = tmp_path_factory.mktemp("smoke")
    cfg = load_config(REPO / "configs" / "cityscapes_smoke.yaml",
                      [f"train.out_dir={out}", "train.progress=false"])
    messages = []
    result = train(cfg, log=messages.append)
    return cfg, result, out, messages


@pytest.mark.slow  # a subprocess or a training run: several seconds
def test_smoke_event_files_hold_the_logged_numbers(smoke):
    cfg, result, out, messages = smoke
    tb = read_event_scalars(out / TENSORBOARD_DIR)
    train_rows, eval_rows = rows(out / "train_log.jsonl"), rows(out / "metrics.jsonl")
    assert [r["iter"] for r in train_rows] == [1, 2, 3, 4] and [r["iter"] for r in eval_rows] == [4]
    # every training row: loss, gradient norm, images/s and one learning rate per parameter group
    groups = [k[3:] for k in train_rows[0] if k.startswith("lr/")]
    assert groups == ["backbone", "backbone_no_decay", "head", "head_no_decay"]
    for key, tag in [("loss", "train/loss"), ("grad_norm", "train/grad_norm"),
                     ("images_per_s", "train/images_per_s")] + [(f"lr/{g}", f"train/lr/{g}") for g in groups]:
        steps, values = zip(*tb[tag])
        assert list(steps) == [r["iter"] for r in train_rows], tag
        np.testing.assert_allclose(values, [r[key] for r in train_rows], rtol=1e-6, err_msg=tag)
    assert [v for _, v in tb["train/loss"]] == pytest.approx([l for _, l in result.losses], rel=1e-6)
    assert all(r["grad_norm"] > 0 for r in train_rows)
    assert "train/peak_memory_gib" not in tb  # CPU: no CUDA memory to report
    # the evaluation: mIoU, boundary IoU and every seen class's IoU, in percent
    final = eval_rows[-1]
    assert tb["val/mIoU"] == [(4, pytest.approx(100 * final["mIoU"], rel=1e-6))]
    assert tb["val/bIoU"] == [(4, pytest.approx(100 * final["bIoU"], rel=1e-6))]
    assert final["mIoU"] == pytest.approx(result.final.miou)
    seen = {k: v for k, v in final.items() if k.startswith("iou/") and not math.isnan(v)}
    assert len(seen) >= 5
    for key, value in seen.items():
        assert tb["val/" + key.replace(" ", "_")] == [(4, pytest.approx(100 * value, rel=1e-6))]
    unseen = [k for k, v in final.items() if k.startswith("iou/") and math.isnan(v)]
    assert unseen and not any("val/" + k.replace(" ", "_") in tb for k in unseen)
    # the run said where its logs are and how to open them
    line = next(m for m in messages if m.startswith("TensorBoard logs:"))
    assert str(out / TENSORBOARD_DIR) in line and f"tensorboard --logdir {out / TENSORBOARD_DIR}" in line


def test_smoke_event_files_hold_prediction_pictures(smoke):
    from freqfusion_edu.engine.builders import build_datasets

    cfg, result, out, _ = smoke
    pictures = read_event_images(out / TENSORBOARD_DIR)
    assert sorted(pictures) == ["val_images/0", "val_images/1"]
    assert [step for step, _ in pictures["val_images/0"]] == [4]
    picture = pictures["val_images/0"][0][1]

    image, label = build_datasets(cfg).val[0]
    h, w = label.shape
    assert picture.shape == (2 * h, 2 * w, 3)
    # top right is the ground truth in the Cityscapes colours
    expected = class_palette(result.class_names)[label.clamp(max=18).numpy()]
    valid = (label != 255).numpy()
    assert (picture[:h, w:][valid] == expected[valid]).all()


def test_prediction_panel_marks_exactly_the_wrong_pixels():
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, 3, (6, 8), generator=g)
    label[0] = 255
    pred = label.clone()
    pred[label == 255] = 1          # anything on ignored pixels is not an error
    pred[3, 4] = (label[3, 4] + 1) % 3
    pal = class_palette(["a", "b", "c"])
    panel = prediction_panel(torch.rand(3, 3, 4, generator=g), label, pred, pal)  # image half-size
    assert panel.shape == (12, 16, 3)
    red = (panel[6:, 8:] == (255, 0, 0)).all(-1)
    assert red.sum() == 1 and red[3, 4]
    assert (panel[6:, :8][1:] == pal[pred[1:].numpy()]).all()
    with pytest.raises(ValueError, match="pred"):
        prediction_panel(torch.rand(3, 6, 8), label, pred[:, :4], pal)


def test_resumed_run_continues_the_curves_without_duplicate_steps(tmp_path):
    """A run that logged past its last checkpoint (killed) and is resumed: TensorBoard shows
    every iteration once, with the values of the run that finished, as train_log.jsonl does."""
    cfg = fx.tiny_config(tmp_path, train={"checkpoint_every": 2, "eval_every": 2,
                                          "eval_at_end": True, "tensorboard_images": 1})
    run(cfg, stop_at=2)                                      # checkpoint at 2
    shutil.copy(checkpoint_path(tmp_path), tmp_path / "at2.pt")
    run(cfg, resume=True, stop_at=5)                          # logs 3..5, checkpoint at 5
    shutil.copy(tmp_path / "at2.pt", checkpoint_path(tmp_path))  # as if killed after 2
    final = run(cfg, resume=True)                             # 3..6 again
    assert final.start_iteration == 2
    assert len(list((tmp_path / TENSORBOARD_DIR).glob("events.out.tfevents.*"))) == 3
    tb = read_event_scalars(tmp_path / TENSORBOARD_DIR)
    log = rows(tmp_path / "train_log.jsonl")
    assert [s for s, _ in tb["train/loss"]] == [1, 2, 3, 4, 5, 6] == [r["iter"] for r in log]
    np.testing.assert_allclose([v for _, v in tb["train/loss"]], [r["loss"] for r in log], rtol=1e-6)
    evals = rows(tmp_path / "metrics.jsonl")
    assert [s for s, _ in tb["val/mIoU"]] == [2, 4, 6] == [r["iter"] for r in evals]
    np.testing.assert_allclose([v for _, v in tb["val/mIoU"]], [100 * r["mIoU"] for r in evals],
                               rtol=1e-6)


def test_overwrite_starts_the_curves_afresh(tmp_path):
    cfg = fx.tiny_config(tmp_path, train={"max_iters": 2})
    run(cfg)
    run(cfg, overwrite=True)
    assert len(list((tmp_path / TENSORBOARD_DIR).glob("events.out.tfevents.*"))) == 1
    assert [s for s, _ in read_event_scalars(tmp_path / TENSORBOARD_DIR)["train/loss"]] == [1, 2]


def test_without_tensorboard_training_runs_and_says_how_to_turn_it_on(tmp_path, monkeypatch):
    import freqfusion_edu.engine.train as engine_train

    monkeypatch.setattr(engine_train, "tensorboard_available", lambda: False)
    messages = []
    result = train(fx.tiny_config(tmp_path, train={"max_iters": 2}), build_model_fn=fx.build_model,
                   build_data_fn=fx.build_data, log=messages.append)
    assert result.iterations == 2 and not (tmp_path / TENSORBOARD_DIR).exists()
    said = [m for m in messages if "TensorBoard" in m]
    assert len(said) == 1 and "freqfusion-edu[track]" in said[0]
    # switched off in the config: not a word
    messages.clear()
    train(fx.tiny_config(tmp_path / "off", train={"max_iters": 1, "tensorboard": False}),
          build_model_fn=fx.build_model, build_data_fn=fx.build_data, log=messages.append)
    assert not [m for m in messages if "TensorBoard" in m]
    assert not (tmp_path / "off" / TENSORBOARD_DIR).exists()


def test_progress_bar_shows_images_per_second_and_eta(tmp_path, capsys):
    cfg = fx.tiny_config(tmp_path, train={"max_iters": 3, "progress": True, "tensorboard": False})
    train(cfg, build_model_fn=fx.build_model, build_data_fn=fx.build_data, log=lambda s: None)
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()
    last = [line for line in bar if line.startswith("train:") and "3/3" in line][-1]
    assert "ETA" in last and "img/s=" in last and "loss=" in last and "mem=" not in last


def test_eval_scalars_are_percent_and_skip_unseen_classes():
    got = eval_scalars({"iter": 3, "mIoU": 0.5, "pixel_acc": 0.75, "feat_margin": 0.01,
                        "iou/a": 0.25, "iou/b": float("nan"), "train_loss": 1.0})
    assert got == {"val/mIoU": 50.0, "val/pixel_acc": 75.0, "val/feat_margin": 0.01,
                   "val/iou/a": 25.0}


# ----------------------------------------------------------------------------- stored runs
def fake_run(folder, seed, fusion, miou, biou, head_width=32, max_iters=10, last_iter=None):
    """A run folder as train() writes it, with chosen final numbers (fractions, as logged)."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    cfg = {"model": {"fusion": fusion, "head_width": head_width},
           "train": {"seed": seed, "max_iters": max_iters, "out_dir": str(folder)}}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    (folder / "train_log.jsonl").write_text("".join(
        json.dumps({"iter": i, "loss": 2.0 / i}) + "\n" for i in range(1, max_iters + 1)))
    it = max_iters if last_iter is None else last_iter
    (folder / "metrics.jsonl").write_text(
        json.dumps({"iter": it // 2, "mIoU": miou / 2, "bIoU": biou / 2}) + "\n"
        + json.dumps({"iter": it, "mIoU": miou, "bIoU": biou}) + "\n")
    return folder


MIOU_FF, MIOU_BI = [0.520, 0.505, 0.490, 0.510, 0.535], [0.500, 0.480, 0.475, 0.470, 0.495]


@pytest.fixture
def stored(tmp_path):
    ff = [fake_run(tmp_path / f"ff{s}", s, "freqfusion", MIOU_FF[s], 0.30 + 0.01 * s) for s in range(5)]
    bi = [fake_run(tmp_path / f"bi{s}", s, "bilinear", MIOU_BI[s], 0.31 + 0.01 * s) for s in range(5)]
    return ff, bi


def test_compare_stored_runs_gives_the_known_answer(stored):
    ff, bi = stored
    c = compare_runs(ff, list(reversed(bi)))          # pairing is by seed, not by order
    assert c.seeds == (0, 1, 2, 3, 4) and (c.label_a, c.label_b) == ("freqfusion", "bilinear")
    miou = c.results["mIoU"]
    assert miou.differences == pytest.approx((2.0, 2.5, 1.5, 4.0, 4.0))
    assert (miou.mean, miou.ahead, miou.n) == (pytest.approx(2.8), 5, 5)
    assert str(miou) == "+2.80 [+1.37, +4.23], 5 of 5 seeds ahead" and miou.verdict == "better"
    biou = c.results["bIoU"]                           # 1 point behind on every seed
    assert biou.mean == pytest.approx(-1.0) and biou.ahead == 0 and biou.verdict == "worse"
    text = str(c)
    assert "freqfusion minus bilinear" in text and "+2.80 [+1.37, +4.23], 5 of 5 seeds ahead" in text
    assert "pixel_acc" not in c.results                # not logged by these runs


def test_compare_refuses_configs_that_differ_in_more_than_the_fusion(stored, tmp_path):
    ff, bi = stored
    shutil.rmtree(bi[3])
    fake_run(bi[3], 3, "bilinear", 0.47, 0.34, head_width=16)
    with pytest.raises(RunLogError, match=r"model\.head_width \(32 in ff0, 16 in bi3\)"):
        compare_runs(ff, bi)
    assert config_differences({"model": {"fusion": "a"}, "train": {"seed": 0, "out_dir": "x"}},
                              {"model": {"fusion": "b"}, "train": {"seed": 1, "out_dir": "y"}},
                              ["model.fusion", "train.seed", "train.out_dir"]) == []


def test_compare_refuses_unpaired_unfinished_and_duplicate_runs(stored, tmp_path):
    ff, bi = stored
    with pytest.raises(RunLogError, match=r"seeds \[4\] are only in RUNS_A"):
        compare_runs(ff, bi[:4])
    late = fake_run(tmp_path / "late", 5, "freqfusion", 0.5, 0.3, last_iter=6)
    with pytest.raises(RunLogError, match="has not finished .*iteration 6, train.max_iters is 10"):
        compare_runs(ff + [late], bi)
    with pytest.raises(RunLogError, match="both have train.seed 0"):
        compare_runs(ff + [ff[0]], bi)
    with pytest.raises(RunLogError, match="at least 2 seeds"):
        compare_runs(ff[:1], bi[:1])
    with pytest.raises(RunLogError, match="no config.yaml"):
        load_run(tmp_path)


def test_compare_command_on_trained_toy_runs(tmp_path, capsys):
    """Real runs (the engine's tiny stand-in model, 2 seeds x 2 settings) through the CLI: the
    printed verdict is paired_comparison of the runs' own final mIoU."""
    from freqfusion_edu.cli import main

    finals = {}
    for fusion in ("freqfusion", "bilinear"):
        for seed in (0, 1):
            cfg = fx.tiny_config(tmp_path / f"{fusion}{seed}",
                                 model={"fusion": fusion}, train={"seed": seed, "max_iters": 2,
                                                                  "eval_at_end": True,
                                                                  "tensorboard": False})
            finals[fusion, seed] = 100 * run(cfg).final.miou
    assert main(["compare", str(tmp_path / "freqfusion0"), str(tmp_path / "freqfusion1"),
                 "--against", str(tmp_path / "bilinear0"), str(tmp_path / "bilinear1")]) == 0
    out = capsys.readouterr().out
    expected = paired_comparison([finals["freqfusion", 0], finals["freqfusion", 1]],
                                 [finals["bilinear", 0], finals["bilinear", 1]])
    line = next(l for l in out.splitlines() if l.strip().startswith("mIoU"))
    assert str(expected) in line and "freqfusion minus bilinear" in out
    # a run of another config is refused on one error line, naming the key
    cfg = fx.tiny_config(tmp_path / "other", model={"fusion": "bilinear"},
                         train={"seed": 1, "max_iters": 2, "eval_at_end": True,
                                "tensorboard": False}, optim={"lr": 0.02})
    run(cfg)
    code = main(["compare", str(tmp_path / "freqfusion0"), str(tmp_path / "freqfusion1"),
                 "--against", str(tmp_path / "bilinear0"), str(tmp_path / "other")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1
    assert "optim.lr (0.01 in freqfusion0, 0.02 in other)" in err


def test_plot_command_draws_every_run_on_shared_axes(stored, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from freqfusion_edu.cli import main
    from freqfusion_edu.viz.runs import plot_runs

    ff, bi = stored
    fig = plot_runs([ff[0], bi[0]])
    loss_ax, miou_ax, biou_ax = fig.axes[:3]
    assert [l.get_label() for l in loss_ax.get_lines()] == ["ff0", "bi0"]
    x, y = loss_ax.get_lines()[0].get_data()
    assert list(x) == list(range(1, 11)) and list(y) == pytest.approx([2.0 / i for i in range(1, 11)])
    x, y = miou_ax.get_lines()[1].get_data()
    assert list(x) == [5, 10] and list(y) == pytest.approx([50.0 / 2, 50.0])   # percent
    assert "mIoU" in miou_ax.get_title() and "bIoU" in biou_ax.get_title()
    out = tmp_path / "curves.png"
    assert main(["plot", str(ff[0]), str(bi[0]), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert "training loss, mIoU, bIoU" in capsys.readouterr().out
    assert main(["plot", str(ff[0]), "--out", str(out), "--metrics", "nope"]) == 2
    assert "'nope' is in no run's metrics.jsonl" in capsys.readouterr().err
