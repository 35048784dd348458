"""The command line: readable one-line errors, verify-data and make-sample."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from freqfusion_edu.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_unknown_key_is_one_line_without_traceback(capsys):
    code = main(["train", str(REPO / "configs/toy_cpu.yaml"), "--set", "train.lr=1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error:")
    assert "'train.lr'" in err and "optim.lr" in err and "Traceback" not in err


def test_unknown_key_in_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  max_iter: 3\n")
    assert main(["train", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "train.max_iter" in err and "train.max_iters" in err


def test_missing_data_names_path_and_fix(tmp_path, capsys):
    missing = tmp_path / "cityscapes"
    code = main(["train", str(REPO / "configs/cityscapes_smoke.yaml"), "--set",
                 f"data.root={missing}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert str(missing) in err and "data.root" in err and "download" in err


def test_missing_config_file(capsys):
    assert main(["evaluate", "no/such.yaml", "--checkpoint", "x.pt"]) == 2
    assert "no/such.yaml" in capsys.readouterr().err


def test_make_sample_then_verify(tmp_path, capsys):
    out = tmp_path / "sample"
    assert main(["make-sample", str(out), "--train", "1", "--val", "1", "--size", "64", "128"]) == 0
    assert len(list((out / "leftImg8bit" / "train").rglob("*_leftImg8bit.png"))) == 1
    assert main(["verify-data", str(out)]) == 0
    assert main(["verify-data", str(tmp_path / "nothing")]) == 1
    assert str(tmp_path / "nothing") in capsys.readouterr().out


@pytest.mark.slow  # a subprocess or a training run: several seconds
def test_module_entry_point_exits_non_zero():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "freqfusion_edu", "train",
                           str(REPO / "configs/toy_cpu.yaml"), "--set", "modle.fusion=x"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "modle.fusion" in done.stderr and "model.fusion" in done.stderr


# ------------------------------------------------------------------ issue 12: items 3, 4, 9, 10
def test_only_the_projects_errors_become_one_line(monkeypatch, capsys):
    import freqfusion_edu.engine.train as engine_train
    from freqfusion_edu.errors import DataError

    def shape_bug(*a, **k):
        raise ValueError("a shape bug deep in a model")

    monkeypatch.setattr(engine_train, "train", shape_bug)
    with pytest.raises(ValueError, match="shape bug"):       # a bug keeps its traceback
        main(["train", str(REPO / "configs/toy_cpu.yaml")])

    def user_error(*a, **k):
        raise DataError("label file x.png holds values [40]")

    monkeypatch.setattr(engine_train, "train", user_error)
    assert main(["train", str(REPO / "configs/toy_cpu.yaml")]) == 2
    assert capsys.readouterr().err == "error: label file x.png holds values [40]\n"


def test_broken_yaml_names_line_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  max_iters: 3\n seed: 1\n")
    assert main(["train", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.yaml" in err and "line 3, column 2" in err


def test_debug_works_after_the_command(capsys):
    from freqfusion_edu.errors import ConfigError

    for argv in (["--debug", "train", str(REPO / "configs/toy_cpu.yaml"), "--set", "train.lr=1"],
                 ["train", str(REPO / "configs/toy_cpu.yaml"), "--set", "train.lr=1", "--debug"]):
        with pytest.raises(ConfigError, match="train.lr"):
            main(argv)


def test_set_before_config(tmp_path, monkeypatch):
    import freqfusion_edu.engine.train as engine_train

    seen = {}
    monkeypatch.setattr(engine_train, "train",
                        lambda cfg, resume, overwrite: seen.update(cfg=cfg, resume=resume))
    assert main(["train", "--set", "train.max_iters=7", "optim.lr=0.5",
                 str(REPO / "configs/toy_cpu.yaml"), "--resume"]) == 0
    assert seen["cfg"].train.max_iters == 7 and seen["cfg"].optim.lr == 0.5 and seen["resume"]
    with pytest.raises(SystemExit) as e:                     # no config at all: say where it goes
        main(["train", "--set", "train.max_iters=7"])
    assert e.value.code == 2


def _toy_args(out):
    return ["train", str(REPO / "configs/toy_cpu.yaml"), "--set", f"train.out_dir={out}",
            "train.max_iters=100000", "train.checkpoint_every=0", "train.eval_every=0",
            "train.progress=false", "train.log_every=1", "data.toy_train=8", "data.toy_val=2",
            "data.batch_size=2", "data.crop_size=[32,64]", "data.toy_size=[32,64]"]


def test_existing_run_is_refused_on_one_line(tmp_path, capsys):
    (tmp_path / "train_log.jsonl").write_text('{"iter": 1, "loss": 1.0}\n')
    args = _toy_args(tmp_path) + ["train.max_iters=1"]   # the last value of a key wins
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path) in err and "--resume" in err
    assert "--overwrite" in err and "train.out_dir" in err
    assert (tmp_path / "train_log.jsonl").read_text() == '{"iter": 1, "loss": 1.0}\n'


@pytest.mark.slow  # a subprocess or a training run: several seconds
def test_ctrl_c_prints_the_exact_resume_command(tmp_path):
    import shlex
    import signal
    import time

    import torch

    out = tmp_path / "run"
    args = _toy_args(out) + ["--overwrite"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "freqfusion_edu", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "train_log.jsonl"
    try:
        deadline = time.time() + 120
        while not (log.exists() and log.read_text().count("\n") >= 2):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "no training progress within 120 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    lines = err.strip().splitlines()
    assert lines[-1].strip() == shlex.join(["python", "-m", "freqfusion_edu"]
                                           + _toy_args(out) + ["--resume"])
    held = torch.load(out / "last.pt", weights_only=True)["iteration"]
    assert f"holds iteration {held}" in err and held >= 2


def test_a_hard_interrupt_says_which_iteration_the_checkpoint_holds(tmp_path, monkeypatch, capsys):
    # a second Ctrl-C (or one before the loop) gives a plain KeyboardInterrupt: the message
    # reads the iteration from the checkpoint on disk
    import torch

    import freqfusion_edu.engine.train as engine_train

    def killed(cfg, resume, overwrite):
        torch.save({"iteration": 5}, tmp_path / "last.pt")
        raise KeyboardInterrupt

    monkeypatch.setattr(engine_train, "train", killed)
    args = ["train", str(REPO / "configs/toy_cpu.yaml"), "--set", f"train.out_dir={tmp_path}"]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert f"{tmp_path / 'last.pt'} holds iteration 5" in err
    assert err.strip().endswith(" ".join(args[1:]) + " --resume")
