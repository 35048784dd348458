"""The loop: exact resume, kill -9 loses at most one checkpoint interval, weights_only checkpoints."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import _engine_fixtures as fx
from freqfusion_edu.engine.checkpoint import load_checkpoint, save_checkpoint
from freqfusion_edu.engine.train import checkpoint_path, train

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def run(cfg, **kw):
    return train(cfg, build_model_fn=fx.build_model, build_data_fn=fx.build_data, log=None, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 6-iteration run (checkpoints every 3)."""
    out = tmp_path_factory.mktemp("ref")
    return run(fx.tiny_config(out, train={"eval_at_end": True}))


def test_losses_fall_and_files_are_written(reference):
    losses = [l for _, l in reference.losses]
    assert [i for i, _ in reference.losses] == list(range(1, 7))
    assert losses[-1] < losses[0]
    out = reference.out_dir
    rows = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in rows] == list(range(1, 7))
    assert rows[-1]["last_loss"] == pytest.approx(losses[-1])
    metrics = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["iter"] for m in metrics] == [6]
    assert 0 <= metrics[0]["mIoU"] <= 1 and "iou/a" in metrics[0] and 0 <= metrics[0]["bIoU"] <= 1
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["iter", "train_loss", "lr"]


def test_checkpoint_loads_with_weights_only(reference):
    path = checkpoint_path(reference.out_dir)
    state = torch.load(path, weights_only=True)
    assert state["iteration"] == 6 and state["sampler"]["consumed"] == 12
    model = fx.TinyNet()
    model.load_state_dict(state["model"])
    torch.testing.assert_close(model.head.weight, reference.model.head.weight)
    assert not [p for p in os.listdir(reference.out_dir) if p.endswith(".tmp")]


def test_resume_gives_identical_losses(reference, tmp_path):
    cfg = fx.tiny_config(tmp_path, train={"eval_at_end": True})
    first = run(cfg, stop_at=3)
    assert [i for i, _ in first.losses] == [1, 2, 3]
    second = run(cfg, resume=True)
    assert second.start_iteration == 3
    assert first.losses + second.losses == reference.losses          # bit-identical
    torch.testing.assert_close(second.model.head.weight, reference.model.head.weight, rtol=0, atol=0)
    assert second.final.miou == reference.final.miou
    # the resumed log holds every iteration exactly once
    rows = [json.loads(l)["iter"] for l in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert rows == list(range(1, 7))


def test_grad_accum_and_amp_run(tmp_path):
    acc = run(fx.tiny_config(tmp_path / "a", train={"grad_accum": 2, "max_iters": 2}))
    assert len(acc.losses) == 2 and all(l > 0 for _, l in acc.losses)
    state = load_checkpoint(checkpoint_path(tmp_path / "a"))
    assert state["sampler"]["consumed"] == 2 * 2 * 2   # iterations x micro-batches x batch
    amp = run(fx.tiny_config(tmp_path / "b", train={"amp": True, "max_iters": 2}))
    fp32 = run(fx.tiny_config(tmp_path / "c", train={"max_iters": 2}))
    # bf16 autocast changes the numbers a little, not the meaning
    assert amp.losses[0][1] == pytest.approx(fp32.losses[0][1], rel=0.05)
    assert amp.losses[0][1] != fp32.losses[0][1]


def test_atomic_save_keeps_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"iteration": 1}, path)

    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(Exception):
        save_checkpoint({"iteration": 2, "bad": Boom()}, path)
    assert load_checkpoint(path)["iteration"] == 1
    assert os.listdir(tmp_path) == ["last.pt"]


SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {here!r})
    import _engine_fixtures as fx
    from freqfusion_edu.engine.train import train
    cfg = fx.tiny_config(sys.argv[1], train={{"max_iters": 10, "checkpoint_every": 2}})
    train(cfg, resume=True, build_model_fn=fx.build_model, build_data_fn=fx.build_data, log=None)
""")


@pytest.mark.slow  # a subprocess or a training run: several seconds
def test_kill_9_then_resume_loses_at_most_one_interval(tmp_path):
    out = tmp_path / "run"
    script = tmp_path / "job.py"
    script.write_text(SCRIPT.format(here=str(HERE)))
    env = {**os.environ, "FFE_TEST_SLEEP": "0.3", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), str(out)], env=env)
    log = out / "train_log.jsonl"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:   # wait for a checkpoint and one more iteration
            if checkpoint_path(out).exists() and log.exists() and len(log.read_text().splitlines()) >= 3:
                break
            assert proc.poll() is None, "the training process ended early"
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint within 120 s")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done_before = len(log.read_text().splitlines())
    saved = load_checkpoint(checkpoint_path(out))["iteration"]
    assert saved % 2 == 0 and done_before - saved <= 2          # at most one interval lost
    cfg = fx.tiny_config(out, train={"max_iters": 10, "checkpoint_every": 2})
    resumed = run(cfg, resume=True)
    assert resumed.start_iteration == saved and resumed.iterations == 10
    reference = run(fx.tiny_config(tmp_path / "ref", train={"max_iters": 10, "checkpoint_every": 2}))
    assert resumed.losses == reference.losses[saved:]
    rows = [json.loads(l)["iter"] for l in log.read_text().splitlines()]
    assert rows == list(range(1, 11))


def test_activation_checkpointing_gives_the_same_losses(tmp_path):
    plain = run(fx.tiny_config(tmp_path / "p", train={"max_iters": 2}))
    ckpt = run(fx.tiny_config(tmp_path / "c", train={"max_iters": 2, "activation_checkpointing": True}))
    assert getattr(ckpt.model.backbone[0], "_ffe_checkpointed", False)
    assert [l for _, l in ckpt.losses] == pytest.approx([l for _, l in plain.losses], abs=1e-6)
