"""The learning-rate schedule: linear warm-up from warmup_ratio, then poly decay to min_lr."""
import pytest
import torch

from freqfusion_edu.engine.builders import PolyWarmup, build_optimizer, default_param_groups
from freqfusion_edu.engine.config import config_from_dict


def test_warmup_then_poly_shape():
    s = PolyWarmup(max_iters=1000, warmup_iters=100, warmup_ratio=1e-6, power=1.0)
    f = [s.factor(i) for i in range(1001)]
    assert f[0] == pytest.approx(1e-6, abs=1e-9)           # starts at lr * warmup_ratio
    warm = f[:101]
    assert all(b > a for a, b in zip(warm, warm[1:]))       # rises during the warm-up
    decay = f[100:]
    assert all(b < a for a, b in zip(decay, decay[1:]))     # then falls every step
    assert f[1000] == 0.0
    assert f[100] == pytest.approx(0.9)                     # poly value at the end of warm-up
    assert f[550] == pytest.approx(0.45)                    # linear for power 1
    s2 = PolyWarmup(1000, 0, power=2.0)
    assert s2.factor(500) == pytest.approx(0.25)


def test_min_lr_and_groups_follow_the_factor():
    cfg = config_from_dict({"optim": {"lr": 1e-3, "min_lr": 1e-4, "warmup_iters": 0},
                            "train": {"max_iters": 10}})
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1))
    opt = build_optimizer(net, cfg, default_param_groups)
    s = PolyWarmup.from_config(cfg)
    assert s.apply(opt, 10) == pytest.approx(1e-4 * cfg.optim.head_lr_mult)
    s.apply(opt, 0)
    assert sorted(g["lr"] for g in opt.param_groups) == pytest.approx([1e-2, 1e-2])
    assert {g["weight_decay"] for g in opt.param_groups} == {0.0, 0.01}
