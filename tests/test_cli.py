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


def test_module_entry_point_exits_non_zero():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "freqfusion_edu", "train",
                           str(REPO / "configs/toy_cpu.yaml"), "--set", "modle.fusion=x"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "modle.fusion" in done.stderr and "model.fusion" in done.stderr
