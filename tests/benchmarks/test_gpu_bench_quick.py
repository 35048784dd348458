"""The benchmark scripts run end to end on tiny sizes, so they cannot rot unnoticed.

No time is asserted (speed claims come from the scripts themselves, run on real sizes): only
that every row is there and every ratio is a finite positive number.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def _run(script, *args, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def _ratio(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.mark.slow  # a subprocess or a training run: several seconds
def test_gpu_bench_quick_writes_every_row(tmp_path):
    out = tmp_path / "gpu.json"
    r = _run("gpu_bench.py", "--quick", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    env = res["environment"]
    assert env["device"] and env["torch"] == torch.__version__ and "triton" in env
    assert res["quick"] is True and res["floor"]["copy_bandwidth_GBps"] > 0

    impls = {row["impl"]: row for row in res["carafe"]}
    cuda = torch.cuda.is_available()
    assert set(impls) == ({"triton", "banded", "unfold"} if cuda else {"banded", "unfold"})
    if not cuda:
        assert any("triton rows skipped" in n for n in res["notes"])
        assert "triton rows skipped" in r.stdout
    for row in impls.values():
        for key in ("fwd_ms", "fwd_bwd_ms", "fwd_x_floor", "fwd_bwd_x_floor", "fwd_peak_x_io",
                    "fwd_bwd_peak_x_io", "unfold_fwd_bwd_x_faster"):
            assert _ratio(row[key]), (row["impl"], key, row[key])

    ff = {(row["fusion"], row["precision"]): row for row in res["freqfusion"]}
    assert set(ff) == {(f, p) for f in ("bilinear+add", "FreqFusion", "FreqFusion+resample")
                       for p in ("float32", "amp")}
    for row in ff.values():
        assert _ratio(row["time_x_bilinear"]) and _ratio(row["mem_x_bilinear"]), row
    assert ff[("bilinear+add", "float32")]["time_x_bilinear"] == 1.0

    step = {row["fusion"]: row for row in res["step"]}
    assert set(step) == {"bilinear", "freqfusion"}
    assert step["freqfusion"]["params"] > step["bilinear"]["params"]
    for row in step.values():
        assert _ratio(row["step_ms"]) and _ratio(row["time_x_bilinear"])
        assert _ratio(row["mem_x_bilinear"])
    assert "| freqfusion |" in r.stdout  # the table is printed too


@pytest.mark.slow  # a subprocess or a training run: several seconds
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_gpu_bench_without_cuda_says_so_and_exits_0(tmp_path):
    r = _run("gpu_bench.py", "--out", str(tmp_path / "x.json"), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "no CUDA device is present" in r.stdout
    assert not (tmp_path / "x.json").exists()  # nothing measured, nothing written


@pytest.mark.slow  # a subprocess or a training run: several seconds
def test_step_bench_quick(tmp_path):
    out = tmp_path / "step.json"
    r = _run("step_bench.py", "--quick", "--out", str(out), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    assert set(res["median_s"]) == {"bilinear+conv", "FreqFusion"}
    assert _ratio(res["ratio"]) and res["threads"] == 1 and res["timer"] == "cpu"
    assert res["ratio"] == pytest.approx(res["median_s"]["FreqFusion"]
                                         / res["median_s"]["bilinear+conv"])
    assert "FreqFusion step / bilinear+conv step" in r.stdout
