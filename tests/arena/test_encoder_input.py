"""Issue 19 item 3 (code only, no stored run): ``--set features=encoder`` gives the arena ``hr``
and ``lr`` from a frozen CNN encoder pretrained on separate scenes, cached on disk with its
provenance; the oracle input stays the default and old files read as it."""
import json

import pytest
import torch

from freqfusion_edu import cli
from freqfusion_edu.arena import encoder as E
from freqfusion_edu.arena import results as R
from freqfusion_edu.arena.methods import ArenaError
from freqfusion_edu.arena.task import (FEATURES, FULL, QUICK, build_net, make_arena_data, train_method,
                                       with_overrides)

ENC = ["features=encoder", "encoder_steps=30"]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FREQFUSION_EDU_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "arena_encoders"


def test_defaults_and_old_files_are_the_oracle(tmp_path):
    assert FULL.features == QUICK.features == "oracle" and FEATURES == ("oracle", "encoder")
    path = tmp_path / "old.json"
    old = {k: v for k, v in FULL.as_dict().items() if k not in ("features", "encoder_steps")}
    path.write_text(json.dumps({"settings": old, "rows": [], "methods": [], "seeds": 1}))
    assert R.load_results(path)["settings"] == FULL.as_dict()
    with pytest.raises(ArenaError, match="features: stored 'oracle', requested 'encoder'"):
        R.check_compatible(R.load_results(path)["settings"], with_overrides(FULL, ["features=encoder"]).as_dict())
    with pytest.raises(ArenaError, match="features must be one of oracle, encoder, got 'backbone'"):
        with_overrides(FULL, ["features=backbone"])
    assert make_arena_data(QUICK).train_hr is None


def test_encoder_is_pretrained_once_cached_and_frozen(cache, monkeypatch):
    s = with_overrides(QUICK, ENC)
    enc, prov = E.pretrained_encoder(s)
    assert prov["cached"] is False and prov["loss_last"] < prov["loss_first"]
    for k in ("commit", "date", "machine", "torch", "seconds", "recipe", "key"):
        assert prov[k] not in (None, ""), k
    assert prov["recipe"]["steps"] == 30 and prov["key"] == E.encoder_key(s)
    files = sorted(p.name for p in cache.iterdir())
    assert files == [f"encoder_{prov['key']}.json", f"encoder_{prov['key']}.pt"]
    assert all(not p.requires_grad for p in enc.parameters()) and not enc.training
    # the second call loads the same weights and does not train again
    monkeypatch.setattr(E, "_pretrain", lambda settings: pytest.fail("pretrained twice"))
    again, prov2 = E.pretrained_encoder(s)
    assert prov2["cached"] is True and prov2["loss_last"] == prov["loss_last"]
    for (n, p), (_, q) in zip(enc.state_dict().items(), again.state_dict().items()):
        assert torch.equal(p, q), n
    # another recipe is another file
    assert E.encoder_key(with_overrides(QUICK, ["features=encoder", "encoder_steps=31"])) != prov["key"]


def test_pretraining_is_deterministic_and_uses_separate_scenes(cache):
    s = with_overrides(QUICK, ENC)
    a, _ = E.pretrained_encoder(s, cache=False)
    b, _ = E.pretrained_encoder(s, cache=False)
    for (n, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(p, q), n
    assert E.ENCODER_SEED_OFFSET > 100_000 + s.val_scenes   # beyond the validation scenes' seeds


def test_encoder_data_and_network(cache):
    s = with_overrides(QUICK, ENC)
    d = make_arena_data(s)
    n, size, c = s.train_scenes, s.size, s.channels
    assert tuple(d.train_hr.shape) == (n, c, size // 2, size // 2)
    assert tuple(d.train_coarse.shape) == (n, c, size // 4, size // 4)
    enc, _ = E.pretrained_encoder(s)
    hr, lr = E.encode(enc, d.val_images)
    assert torch.equal(hr, d.val_hr) and torch.equal(lr, d.val_coarse)
    # no image guide: the network starts at the encoder's hr and predicts at the scene's size
    net = build_net("freqfusion", s, 0)
    assert isinstance(net.guide, torch.nn.Identity)
    logits, fused = net(*d.inputs("train", "encoder"))
    assert tuple(logits.shape[-2:]) == (size, size) and tuple(fused.shape[-2:]) == (size // 2, size // 2)
    with pytest.raises(ArenaError, match="features='encoder' needs data made with those settings"):
        make_arena_data(QUICK).inputs("train", "encoder")


def test_a_quick_encoder_row_trains_and_repeats(cache):
    """No stored run uses the encoder yet: re-run a QUICK row twice."""
    s = with_overrides(QUICK, ENC)
    d = make_arena_data(s)
    one = train_method("freqfusion", 0, s, d, time_it=False).row
    two = train_method("freqfusion", 0, s, d, time_it=False).row
    assert 0 < one["miou"] <= 100 and one["params"] == train_method("freqfusion", 1, s, d, time_it=False).row["params"]
    for k in ("miou", "boundary_iou", "intra_sim", "margin", "final_loss"):
        assert one[k] == two[k], k


def test_cli_records_the_encoders_provenance(cache, tmp_path, capsys):
    out = tmp_path / "enc.json"
    assert cli.main(["arena", "--quick", "--no-progress", "--methods", "bilinear", "--out", str(out),
                     "--set", "features=encoder", "--set", "encoder_steps=30"]) == 0
    data = json.loads(out.read_text())
    assert data["settings"]["features"] == "encoder"
    assert data["provenance"]["encoder"]["key"] == E.encoder_key(with_overrides(QUICK, ENC))
    assert data["provenance"]["encoder"]["loss_last"] < data["provenance"]["encoder"]["loss_first"]
