"""Issue 19, item 2: the decoder's form as a setting (``--set decoder=plain|residual``, old files
read as ``plain``) and the second capacity control ``conv@fuser``."""
import dataclasses
import json

import pytest
import torch

from freqfusion_edu import cli
from freqfusion_edu.arena import results as R
from freqfusion_edu.arena.methods import (METHODS, ArenaError, ConvFuser, build_fuser, count_params,
                                          freqfusion_params, fuser_block_width)
from freqfusion_edu.arena.task import (DECODERS, FULL, QUICK, ArenaSettings, build_net,
                                       make_arena_data, train_method, with_overrides)


def _inputs(s, n=2):
    d = make_arena_data(s)
    return d.train_images[:n], d.train_coarse[:n]


# ----------------------------------------------------------------------------- decoder setting
def test_default_decoder_is_plain_and_computes_classifier_of_convs():
    assert FULL.decoder == QUICK.decoder == "plain" and DECODERS == ("plain", "residual")
    net = build_net("bilinear", QUICK, 0)
    x, c = _inputs(QUICK)
    with torch.no_grad():
        logits, fused = net(x, c)
        ref = net.classifier(net.decoder(fused))
        ref = torch.nn.functional.interpolate(ref, size=x.shape[-2:], mode="bilinear", align_corners=False)
    assert not net.residual
    assert torch.equal(logits, ref)     # bit for bit: the stored runs' network


def test_residual_decoder_adds_the_fused_map_and_keeps_the_same_weights():
    s = with_overrides(QUICK, ["decoder=residual"])
    plain, res = build_net("freqfusion", QUICK, 3), build_net("freqfusion", s, 3)
    assert res.residual
    for (n1, p1), (n2, p2) in zip(plain.named_parameters(), res.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2), n1
    x, c = _inputs(QUICK)
    with torch.no_grad():
        logits, fused = res(x, c)
        ref = res.classifier(fused + res.decoder(fused))
        ref = torch.nn.functional.interpolate(ref, size=x.shape[-2:], mode="bilinear", align_corners=False)
        assert torch.equal(logits, ref)
        assert not torch.allclose(logits, plain(x, c)[0])


def test_decoder_override_and_bad_names():
    s = with_overrides(FULL, ["decoder=residual"])
    assert s.decoder == "residual" and dataclasses.replace(s, decoder="plain") == FULL
    with pytest.raises(ArenaError, match=r"--set decoder=resid: decoder must be one of plain, residual, got 'resid'"):
        with_overrides(FULL, ["decoder=resid"])
    with pytest.raises(ValueError, match="decoder must be one of plain, residual, got 3"):
        ArenaSettings(decoder=3)


def test_a_file_written_before_decoder_existed_reads_as_plain(tmp_path):
    path = tmp_path / "old.json"
    old = {k: v for k, v in FULL.as_dict().items() if k != "decoder"}
    path.write_text(json.dumps({"settings": old, "rows": [], "methods": [], "seeds": 1}))
    stored = R.load_results(path)["settings"]
    assert stored["decoder"] == "plain" and stored == FULL.as_dict()
    R.check_compatible(stored, FULL.as_dict())
    with pytest.raises(ArenaError, match="decoder: stored 'plain', requested 'residual'"):
        R.check_compatible(stored, with_overrides(FULL, ["decoder=residual"]).as_dict())


def test_stored_results_written_before_the_setting_read_as_plain():
    from pathlib import Path

    old = []
    for path in sorted((Path(__file__).resolve().parents[2] / "results").glob("arena_*.json")):
        raw = json.loads(path.read_text())
        if "rows" not in raw:
            continue   # arena_encoder.json: the frozen encoder's record, not a result file
        if "decoder" not in raw["settings"]:
            old.append(path.name)
            assert R.load_results(path)["settings"]["decoder"] == "plain", path.name
        else:   # written since: the stored value is kept
            assert R.load_results(path)["settings"]["decoder"] == raw["settings"]["decoder"], path.name
    assert "arena_full.json" in old and len(old) >= 7


def test_cli_stores_the_decoder_and_refuses_another_on_resume(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["arena", "--quick", "--no-progress", "--methods", "nearest", "--out", str(out)]
    assert cli.main(args + ["--set", "decoder=residual"]) == 0
    data = json.loads(out.read_text())
    assert data["settings"]["decoder"] == "residual"
    assert "--set decoder=residual" in data["provenance"]["command"]
    assert cli.main(args) != 0
    assert "decoder: stored 'residual', requested 'plain'" in capsys.readouterr().err


def test_default_quick_row_is_unchanged_by_spelling_the_default_out():
    a = train_method("bilinear", 0, QUICK, time_it=False).row
    b = train_method("bilinear", 0, with_overrides(QUICK, ["decoder=plain"]), time_it=False).row
    r = train_method("bilinear", 0, with_overrides(QUICK, ["decoder=residual"]), time_it=False).row
    for k in ("miou", "boundary_iou", "intra_sim", "margin", "final_loss"):
        assert a[k] == b[k], k
    assert a["final_loss"] != r["final_loss"]


# ----------------------------------------------------------------------------- conv@fuser
def test_conv_at_fuser_spends_freqfusions_parameters_at_the_fuser():
    for c, m in ((32, 8), (16, 16), (32, 32)):
        ff = freqfusion_params(c, m)
        f = build_fuser("conv@fuser", c, m)
        w = fuser_block_width(c, ff)
        assert isinstance(f, ConvFuser) and f.width == w
        assert count_params(f) == w * (18 * c + 1) + c
        # the closest width: one unit more or less is at least as far from freqfusion's count
        assert abs(count_params(f) - ff) <= (18 * c + 1) / 2 + 1, (c, m, ff, count_params(f))
    assert METHODS["conv@fuser"].family == "control" and not METHODS["conv@fuser"].widens_decoder


def test_conv_at_fuser_is_bilinear_add_plus_a_residual_block():
    f = build_fuser("conv@fuser", 8, 8)
    hr, lr = torch.randn(1, 8, 6, 6), torch.randn(1, 8, 3, 3)
    x = torch.nn.functional.interpolate(lr, scale_factor=2, mode="bilinear", align_corners=False) + hr
    torch.testing.assert_close(f(hr, lr), x + f.block(x))
    with torch.no_grad():
        f.block[2].weight.zero_()
        f.block[2].bias.zero_()
    torch.testing.assert_close(f(hr, lr), build_fuser("bilinear", 8)(hr, lr))
    with pytest.raises(ValueError, match="width must be an integer >= 1, got 0"):
        ConvFuser(8, 0)


def test_conv_at_fuser_shares_every_other_weight_with_bilinear():
    a, b = build_net("bilinear", FULL, 2), build_net("conv@fuser", FULL, 2)
    for part in ("guide", "decoder", "classifier"):
        for (n, p), (_, q) in zip(getattr(a, part).named_parameters(), getattr(b, part).named_parameters()):
            assert torch.equal(p, q), (part, n)
    assert R.pairing("conv@fuser", "bilinear") == "full"
    assert R.pairing("conv@fuser", "bilinear+conv") == "partial"


@pytest.mark.parametrize("decoder", DECODERS)
def test_conv_at_fuser_trains_on_quick_settings_and_repeats(decoder):
    """No stored result holds conv@fuser or the residual decoder yet: re-run a QUICK row twice."""
    s = with_overrides(QUICK, [f"decoder={decoder}"])
    one = train_method("conv@fuser", 0, s, time_it=False).row
    two = train_method("conv@fuser", 0, s, time_it=False).row
    assert one["params"] == count_params(build_fuser("conv@fuser", s.channels, s.compressed_channels))
    assert 0 < one["miou"] <= 100 and 0 <= one["boundary_iou"] <= 100
    for k in ("miou", "boundary_iou", "intra_sim", "margin", "final_loss"):
        assert one[k] == two[k], k
