"""Nothing a user wrote is lost, and the loop computes what its docstring says (issue 12, 3-9).

* a new run refuses a folder that holds a run; ``overwrite=True`` replaces it;
* SIGINT / SIGTERM finish the step, write a checkpoint and say which iteration it holds;
* resuming with another batch size, accumulation, seed, world size or training set is refused;
* gradient accumulation divides by the step's valid pixels (M micro-batches of B == one of M*B);
* a failing process leaves the group without a collective (the others are not left waiting);
* ``evaluate`` restores the model's train mode even when a forward pass fails;
* a broken ``param_groups_fn`` raises instead of silently falling back to other learning rates.
"""
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
import torch.nn.functional as F

import _engine_fixtures as fx
from freqfusion_edu.data.transforms import TrainTransform, normalize
from freqfusion_edu.engine import distributed
from freqfusion_edu.engine.builders import Datasets, SeededAugmentation, build_optimizer
from freqfusion_edu.engine.checkpoint import load_checkpoint
from freqfusion_edu.engine.distributed import ResumableDistributedSampler
from freqfusion_edu.engine.evaluate import evaluate
from freqfusion_edu.engine.train import (TrainingInterrupted, checkpoint_path, train)
from freqfusion_edu.errors import CheckpointError, FreqFusionEduError, RunExistsError

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def run(cfg, **kw):
    return train(cfg, build_model_fn=fx.build_model, build_data_fn=fx.build_data, log=None, **kw)


# ------------------------------------------------------------------ 3. an earlier run is kept
def test_new_run_refuses_a_folder_that_holds_a_run(tmp_path):
    cfg = fx.tiny_config(tmp_path, train={"max_iters": 2, "checkpoint_every": 0})
    first = run(cfg)
    def files():  # every file, the TensorBoard event files included
        return {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    before = files()
    assert {"last.pt", "train_log.jsonl"} <= set(before)
    from freqfusion_edu.engine.tracking import tensorboard_available

    assert any(n.startswith("tensorboard/events.out.tfevents.") for n in before) == tensorboard_available()
    with pytest.raises(RunExistsError) as e:
        run(cfg)
    msg = str(e.value)
    assert str(tmp_path) in msg and "--resume" in msg and "train.out_dir" in msg
    assert "--overwrite" in msg
    assert isinstance(e.value, FreqFusionEduError) and isinstance(e.value, FileExistsError)
    assert files() == before                                   # nothing touched
    # resume continues it; overwrite replaces it (and says so by starting at 0)
    assert run(cfg, resume=True).start_iteration == 2
    again = run(cfg, overwrite=True)
    assert again.start_iteration == 0 and again.losses == first.losses
    rows = [json.loads(l)["iter"] for l in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert rows == [1, 2]
    with pytest.raises(ValueError, match="exclude"):
        run(cfg, resume=True, overwrite=True)


def test_config_yaml_alone_is_not_a_run(tmp_path):
    (tmp_path / "config.yaml").write_text("{}\n")
    assert run(fx.tiny_config(tmp_path, train={"max_iters": 1})).iterations == 1


# ------------------------------------------------------------------ 4. Ctrl-C / SIGTERM
SIGNAL_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {here!r})
    import _engine_fixtures as fx
    from freqfusion_edu.engine.train import TrainingInterrupted, train
    cfg = fx.tiny_config(sys.argv[1], train={{"max_iters": 1000, "checkpoint_every": 0}})
    try:
        train(cfg, build_model_fn=fx.build_model, build_data_fn=fx.build_data, log=None)
    except TrainingInterrupted as e:
        print("STOPPED", e.signal_name, e.iteration, e.checkpoint, flush=True)
        sys.exit(7)
""")


@pytest.mark.slow  # a subprocess or a training run: several seconds
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_a_checkpoint_of_the_step_it_stopped_after(tmp_path, sig):
    out = tmp_path / "run"
    script = tmp_path / "job.py"
    script.write_text(SIGNAL_SCRIPT.format(here=str(HERE)))
    env = {**os.environ, "FFE_TEST_SLEEP": "0.05", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "train_log.jsonl"
    try:
        deadline = time.time() + 120
        while not (log.exists() and len(log.read_text().splitlines()) >= 2):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "no training progress within 120 s"
            time.sleep(0.05)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 7, stderr[-2000:]
    _, name, it, ckpt = stdout.split()
    assert name == sig.name and ckpt == str(checkpoint_path(out))
    # checkpoint_every=0: only the signal wrote it, at the iteration it reports
    assert load_checkpoint(ckpt)["iteration"] == int(it) >= 2
    rows = [json.loads(l)["iter"] for l in log.read_text().splitlines()]
    assert rows[-1] == int(it)
    cfg = fx.tiny_config(out, train={"max_iters": int(it) + 2, "checkpoint_every": 0})
    assert run(cfg, resume=True).start_iteration == int(it)


def test_stop_request_restores_the_previous_handlers(tmp_path):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    run(fx.tiny_config(tmp_path, train={"max_iters": 1}))
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


# ------------------------------------------------------------------ 5. resume keeps the order
@pytest.mark.parametrize("section,key,value", [("data", "batch_size", 4),
                                               ("train", "grad_accum", 2),
                                               ("train", "seed", 1)])
def test_resume_refuses_a_changed_sample_order(tmp_path, section, key, value):
    run(fx.tiny_config(tmp_path, train={"max_iters": 2}))
    changed = fx.tiny_config(tmp_path, **{section: {key: value}})
    with pytest.raises(CheckpointError) as e:
        run(changed, resume=True)
    assert f"{section}.{key}" in str(e.value) and str(checkpoint_path(tmp_path)) in str(e.value)
    # max_iters is free to change: the schedule is a function of the iteration
    assert run(fx.tiny_config(tmp_path, train={"max_iters": 3}), resume=True).start_iteration == 2


def test_resume_refuses_another_world_size_or_training_set(tmp_path):
    run(fx.tiny_config(tmp_path, train={"max_iters": 2}))
    path = checkpoint_path(tmp_path)
    state = load_checkpoint(path)
    assert state["sampler"]["world_size"] == 1 and state["sampler"]["dataset_len"] == 16
    state["sampler"]["world_size"] = 2
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"2 process\(es\).*nproc_per_node 2"):
        run(fx.tiny_config(tmp_path), resume=True)
    state["sampler"]["world_size"] = 1
    state["sampler"]["dataset_len"] = 20
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="had 20 images"):
        run(fx.tiny_config(tmp_path), resume=True)


# ------------------------------------------------------------------ 6. accumulation
class StripedScenes(fx.RandomScenes):
    """Image ``i`` has ``i`` ignored rows: every micro-batch has its own valid-pixel count."""

    def __init__(self, n, size=(24, 32), seed=0):
        super().__init__(n, size, seed)
        self.labels = self.images.argmax(1)
        for i in range(n):
            self.labels[i, :i] = 255


def build_striped(cfg):
    t = TrainTransform(crop_size=cfg.data.crop_size, scale_range=cfg.data.scale_range,
                       flip_p=0.5, photometric=False)
    return Datasets(SeededAugmentation(StripedScenes(16, seed=1), t), fx.RandomScenes(4, seed=2),
                    fx.CLASS_NAMES)


def test_accumulation_normalizes_by_the_steps_valid_pixels(tmp_path):
    def go(name, batch, accum):
        cfg = fx.tiny_config(tmp_path / name, data={"batch_size": batch, "crop_size": [24, 32],
                                                    "scale_range": [1.0, 1.0]},
                             train={"grad_accum": accum, "max_iters": 2, "checkpoint_every": 0})
        r = train(cfg, build_model_fn=fx.build_model_no_dropout, build_data_fn=build_striped,
                  log=None)
        return cfg, r

    cfg, acc = go("acc", 2, 2)
    _, one = go("one", 4, 1)
    # the first step's loss, computed here: the summed cross-entropy of the 4 images of global
    # batch 0 over their valid pixels, with the initial weights (train seeds before building)
    data = build_striped(cfg)
    torch.manual_seed(cfg.train.seed)
    model = fx.build_model_no_dropout(cfg)
    sampler = iter(ResumableDistributedSampler(16, 4, seed=cfg.train.seed))
    items = [data.train[next(sampler)] for _ in range(4)]
    images = torch.stack([i for i, _ in items])
    labels = torch.stack([l for _, l in items])
    counts = [int((labels[k:k + 2] != 255).sum()) for k in (0, 2)]
    assert counts[0] != counts[1]                    # the two micro-batches differ
    with torch.no_grad():
        want = float(F.cross_entropy(model(normalize(images)), labels, ignore_index=255,
                                     reduction="sum")) / sum(counts)
    assert acc.losses[0][1] == pytest.approx(want, rel=1e-5)
    assert [l for _, l in acc.losses] == pytest.approx([l for _, l in one.losses], rel=1e-5)
    torch.testing.assert_close(acc.model.head.weight, one.model.head.weight, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ 7. leaving on an error
FAIL_SCRIPT = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {here!r})
    import _engine_fixtures as fx
    from freqfusion_edu.engine.train import train

    def build_model(cfg):
        net = fx.TinyNet(cfg.model.num_classes, dropout=0.0)
        if os.environ["RANK"] == "1":
            def broken(x, return_features=False):
                raise RuntimeError("rank 1 fails on purpose")
            net.forward = broken
        return net

    cfg = fx.tiny_config(sys.argv[1], train={{"max_iters": 3, "checkpoint_every": 0}})
    train(cfg, build_model_fn=build_model, build_data_fn=fx.build_data, log=None)
""")


@pytest.mark.slow  # a subprocess or a training run: several seconds
def test_a_failing_process_does_not_leave_the_others_waiting(tmp_path):
    script = tmp_path / "fail_job.py"
    script.write_text(FAIL_SCRIPT.format(here=str(HERE)))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path / "out")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        _, stderr = proc.communicate(timeout=120)   # no barrier waiting for a process that is gone
    except subprocess.TimeoutExpired:
        proc.terminate()           # torchrun passes SIGTERM on to its workers and waits for them
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        pytest.fail("the processes were still waiting 120 s after rank 1 failed")
    assert proc.returncode != 0
    assert "rank 1 fails on purpose" in stderr


def test_cleanup_without_a_group_is_a_no_op():
    distributed.cleanup_distributed(error=True)
    distributed.cleanup_distributed()
    for dead in ("barrier", "is_main"):
        assert not hasattr(distributed, dead)


# ------------------------------------------------------------------ 8. evaluate's train mode
def test_evaluate_restores_train_mode_when_a_forward_fails():
    class FailsOnSecond(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0
            self.conv = torch.nn.Conv2d(3, 2, 1)

        def forward(self, x):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("boom")
            return self.conv(x)

    model = FailsOnSecond().train()
    data = [(torch.rand(3, 4, 4), torch.zeros(4, 4, dtype=torch.long)) for _ in range(3)]
    with pytest.raises(RuntimeError, match="boom"):
        evaluate(model, data, 2, boundary_ratio=0.0)
    assert model.training


# ------------------------------------------------------------------ 9. no silent fall-back
def test_a_broken_param_groups_fn_raises(tmp_path):
    cfg = fx.tiny_config(tmp_path)
    model = fx.TinyNet()

    def broken(model, lr, weight_decay, head_lr_mult):
        return {"params": list(model.parameters())}["no such key"]

    with pytest.raises(KeyError, match="no such key"):
        build_optimizer(model, cfg, broken)
    # the default groups work for any model: head.* gets lr * head_lr_mult
    opt = build_optimizer(model, cfg)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["head"] == pytest.approx(cfg.optim.lr * cfg.optim.head_lr_mult)
    assert lrs["backbone"] == pytest.approx(cfg.optim.lr)
