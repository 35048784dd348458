"""Config loading: overrides, unknown keys named with their nearest valid names, every shipped config."""
from pathlib import Path

import pytest

from freqfusion_edu.engine.config import (Config, ConfigError, DataRootError, apply_overrides,
                                          config_from_dict, config_to_dict, load_config,
                                          resolve_data_root)

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_defaults_are_the_segformer_recipe():
    o = Config().optim
    assert (o.lr, o.betas, o.weight_decay, o.head_lr_mult) == (6e-5, (0.9, 0.999), 0.01, 10.0)
    assert (o.warmup_iters, o.warmup_ratio, o.power, o.min_lr) == (1500, 1e-6, 1.0, 0.0)


def test_overrides_change_values_and_types():
    cfg = apply_overrides(Config(), ["optim.lr=1e-4", "model.fusion=freqfusion",
                                     "data.crop_size=[256, 512]", "train.amp=true",
                                     "model.pretrained=null", "train.max_iters=20"])
    assert cfg.optim.lr == pytest.approx(1e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.model.fusion == "freqfusion"
    assert cfg.data.crop_size == (256, 512)
    assert cfg.train.amp is True and cfg.model.pretrained is None and cfg.train.max_iters == 20
    # the input is not modified
    assert Config().optim.lr == 6e-5


@pytest.mark.parametrize("override, suggestion", [("train.lr=1", "optim.lr"),
                                                  ("trian.max_iters=3", "train.max_iters"),
                                                  ("model.fusoin=freqfusion", "model.fusion")])
def test_unknown_key_names_key_and_nearest(override, suggestion):
    with pytest.raises(ConfigError) as e:
        apply_overrides(Config(), [override])
    msg = str(e.value)
    assert override.split("=")[0] in msg and suggestion in msg


def test_bad_values_are_named():
    with pytest.raises(ConfigError, match="train.max_iters"):
        apply_overrides(Config(), ["train.max_iters=many"])
    with pytest.raises(ConfigError, match="eval.mode"):
        config_from_dict({"eval": {"mode": "sliding"}})
    with pytest.raises(ConfigError, match="data.batch_size"):
        config_from_dict({"data": {"batch_size": 0}})
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(Config(), ["train.max_iters"])
    with pytest.raises(ConfigError, match="unknown config key 'modle'"):
        config_from_dict({"modle": {}})


def test_round_trip_through_dict():
    cfg = apply_overrides(Config(), ["data.scale_range=[0.75, 1.5]", "train.seed=3"])
    assert config_from_dict(config_to_dict(cfg)) == cfg


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert cfg.train.max_iters >= 1 and cfg.model.num_classes in (9, 19)
    if cfg.data.dataset == "cityscapes":
        assert cfg.model.num_classes == 19


def test_shipped_configs_match_their_recipes():
    names = {p.name for p in CONFIGS}
    assert {"toy_cpu.yaml", "cityscapes_smoke.yaml", "cityscapes_1gpu.yaml",
            "cityscapes_paper.yaml"} <= names
    paper = load_config(CONFIGS[0].parent / "cityscapes_paper.yaml")
    assert paper.model.backbone == "mit-b1" and paper.data.crop_size == (1024, 1024)
    assert paper.train.max_iters == 160_000 and paper.data.batch_size == 1
    assert (paper.eval.mode, paper.eval.crop, paper.eval.stride) == ("slide", (1024, 1024), (768, 768))
    one = load_config(CONFIGS[0].parent / "cityscapes_1gpu.yaml")
    assert one.model.backbone == "mit-b0" and one.data.crop_size == (512, 1024)


def test_missing_data_root_names_path_and_fix(tmp_path, monkeypatch):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(DataRootError) as e:
        resolve_data_root(str(missing))
    assert str(missing) in str(e.value) and "--set data.root=" in str(e.value)
    monkeypatch.delenv("CITYSCAPES_ROOT", raising=False)
    with pytest.raises(DataRootError, match="CITYSCAPES_ROOT"):
        resolve_data_root("${CITYSCAPES_ROOT}")
    monkeypatch.setenv("CITYSCAPES_ROOT", str(tmp_path))
    assert resolve_data_root("${CITYSCAPES_ROOT}") == tmp_path.resolve()
    # relative sample paths resolve from the repository too (chapters run from book/)
    monkeypatch.chdir(tmp_path)
    assert resolve_data_root("data_samples/cityscapes_mini").name == "cityscapes_mini"
