"""The data-flow map (issue 18 item 1): drawn from one structure that must match the code."""
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgba

import freqfusion_edu
from freqfusion_edu import FreqFusion
from freqfusion_edu.viz import dataflow_figure as exported
from freqfusion_edu.viz.dataflow import ARROWS, BOXES, CHAPTERS, boxes_for, dataflow_figure

ROOT = Path(__file__).resolve().parents[2]


def _patches(fig, prefix):
    ax = fig.axes[0]
    return {p.get_gid()[len(prefix):]: p for p in ax.patches if (p.get_gid() or "").startswith(prefix)}


def test_boxes_name_exactly_the_real_submodules_of_freqfusion():
    # Every child of the full module (offset generator included) is drawn, and nothing else.
    ff = FreqFusion(16, 16, compressed_channels=8, feature_resample=True, feature_resample_group=4)
    children = {name for name, _ in ff.named_children()}
    drawn = [m for b in BOXES for m in b.submodules]
    assert sorted(drawn) == sorted(children)
    assert len(drawn) == len(set(drawn)), "a submodule is drawn twice"
    # without the offset generator, only the dysampler disappears
    plain = {name for name, _ in FreqFusion(16, 16).named_children()}
    assert children - plain == {"dysampler"}
    assert [b.key for b in BOXES if "dysampler" in b.submodules] == ["offsets"]


def test_boxes_name_real_library_functions_and_chapters():
    for b in BOXES:
        for f in b.functions:
            assert callable(getattr(freqfusion_edu, f, None)), f"{b.key}: freqfusion_edu.{f} does not exist"
        if b.kind == "input":
            assert b.chapter == ""
        else:
            assert b.chapter in CHAPTERS, (b.key, b.chapter)
    for chapter, name in CHAPTERS.items():
        assert (ROOT / "book" / name).exists(), name
        assert name.startswith(chapter)
    # the parts the brief names, each with its chapter
    expected = {"compress": "03", "alpf": "03", "alpf_up": "03", "offsets": "04", "ahpf": "05",
                "hr_boost": "05"}
    assert {b.key: b.chapter for b in BOXES if b.key in expected} == expected
    assert {b.key for b in BOXES if b.kind == "output"} == {"out_mask", "out_hr", "out_lr"}
    assert {b.key for b in BOXES if b.kind == "input"} == {"hr", "lr"}


def test_arrows_connect_existing_boxes_and_every_box_is_connected():
    keys = {b.key for b in BOXES}
    touched = set()
    for a in ARROWS:
        assert a.src in keys and a.dst in keys
        touched |= {a.src, a.dst}
    assert touched == keys
    # the outputs come from the right parts
    into = {a.dst: a.src for a in ARROWS if a.dst.startswith("out_")}
    assert into == {"out_mask": "alpf", "out_hr": "hr_boost", "out_lr": "offsets"}


def test_figure_draws_every_box_and_arrow_and_highlights_only_the_chosen_chapter():
    fig = dataflow_figure(highlight="03")
    assert isinstance(fig, matplotlib.figure.Figure)
    boxes, arrows = _patches(fig, "box:"), _patches(fig, "arrow:")
    assert set(boxes) == {b.key for b in BOXES}
    assert set(arrows) == {f"{a.src}->{a.dst}" for a in ARROWS}
    lit = {k for k, p in boxes.items() if p.get_linewidth() > 2}
    assert lit == {"compress", "alpf", "alpf_up"}
    yellow = to_rgba("#ffd54f")
    for k, p in boxes.items():
        assert np.allclose(p.get_facecolor(), yellow) == (k in lit), k
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sum(t == "ch 03" for t in texts) == 3 and "ch 04" in texts and texts.count("ch 05") == 2
    assert "highlighted" in fig.axes[0].get_title()
    # nothing highlighted by default
    plain = _patches(dataflow_figure(), "box:")
    assert all(p.get_linewidth() < 2 for p in plain.values())
    assert exported is dataflow_figure


@pytest.mark.parametrize("chapter, keys", [("04", {"offsets"}), (5, {"ahpf", "hr_boost"}),
                                            ("6", {"out_mask", "out_hr", "out_lr"}),
                                            (["alpf", "04"], {"alpf", "offsets"})])
def test_highlight_accepts_chapters_keys_and_lists(chapter, keys):
    assert boxes_for(chapter) == keys
    lit = {k for k, p in _patches(dataflow_figure(chapter), "box:").items() if p.get_linewidth() > 2}
    assert lit == keys


def test_highlight_rejects_what_is_not_in_the_map():
    with pytest.raises(ValueError, match=r"highlight: chapter '07' has no box.*03, 04, 05, 06"):
        dataflow_figure("07")
    with pytest.raises(ValueError, match=r"highlight: 'carafe' is neither a chapter .* nor a box key .*alpf"):
        boxes_for("carafe")
    with pytest.raises(TypeError, match="highlight must be None"):
        boxes_for(3.0)
    with pytest.raises(TypeError, match="highlight items must be chapters or box keys, got bool"):
        boxes_for([True])
