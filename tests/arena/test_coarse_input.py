"""``coarse_input_prediction``: what the oracle coarse input says by itself (chapter 09's reference)."""
import dataclasses

import pytest
import torch

from freqfusion_edu.arena.task import QUICK, _coarse, coarse_input_prediction, make_arena_data
from freqfusion_edu.errors import ArenaError
from freqfusion_edu.metrics import ConfusionMatrix


def test_noise_free_blocks_are_read_exactly():
    # without noise, a 4x4 block of one class pools to that class's embedding: the map is the labels
    s = dataclasses.replace(QUICK, feature_noise=0.0)
    data = make_arena_data(s)
    y = data.val_labels
    blocky = y[:, ::4, ::4].repeat_interleave(4, 1).repeat_interleave(4, 2)   # one class per 4x4 block
    assert len(blocky.unique()) > 3
    data = data._replace(val_coarse=_coarse(blocky, s, 2), val_labels=blocky)
    assert torch.equal(coarse_input_prediction(data, s), blocky)


def test_noisy_input_is_right_away_from_boundaries_and_wrong_on_some_thin_pixels():
    data = make_arena_data(QUICK)
    pred = coarse_input_prediction(data, QUICK)
    assert pred.shape == data.val_labels.shape and pred.dtype == torch.long
    cm = ConfusionMatrix(len(data.class_names))
    cm.update(pred, data.val_labels)
    assert 0.3 < cm.miou() < 1.0   # informative, but the 4x pooling loses thin things
    assert 0.5 < (pred == data.val_labels).float().mean() < 1.0


def test_refuses_a_learned_input_and_mismatched_settings():
    data = make_arena_data(QUICK)
    with pytest.raises(ArenaError, match="settings.features must be 'oracle'"):
        coarse_input_prediction(data, dataclasses.replace(QUICK, features="encoder"))
    with pytest.raises(ArenaError, match="data has 32 channels, settings.channels is 16"):
        coarse_input_prediction(data, dataclasses.replace(QUICK, channels=16))
    with pytest.raises(ArenaError, match="split must be 'val' or 'train', got 'test'"):
        coarse_input_prediction(data, QUICK, split="test")
