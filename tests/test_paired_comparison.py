"""freqfusion_edu.metrics.paired_comparison: hand computations, scipy's t, pairing and errors."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from freqfusion_edu.metrics import PairedComparison, paired_comparison, t_quantile


def test_hand_computed_five_seeds():
    a = [52.0, 50.5, 49.0, 51.0, 53.5]
    b = [50.0, 48.0, 47.5, 47.0, 49.5]
    r = paired_comparison(a, b)
    # differences 2, 2.5, 1.5, 4, 4: mean 2.8, squared deviations sum 5.3, sd sqrt(5.3/4)
    sd = math.sqrt(5.3 / 4)
    half = 2.7764451051977987 * sd / math.sqrt(5)   # t_{0.975, 4} from tables: 2.7764
    assert r.differences == (2.0, 2.5, 1.5, 4.0, 4.0)
    assert r.mean == pytest.approx(2.8)
    assert r.low == pytest.approx(2.8 - half, abs=1e-9)
    assert r.high == pytest.approx(2.8 + half, abs=1e-9)
    assert (r.n, r.ahead, r.verdict, r.unpaired) == (5, 5, "better", 0)
    assert str(r) == "+2.80 [+1.37, +4.23], 5 of 5 seeds ahead"


def test_swapping_a_and_b_mirrors_everything():
    a, b = [3.0, 1.0, 4.0, 1.0], [2.0, 2.0, 2.0, 0.5]
    r, s = paired_comparison(a, b), paired_comparison(b, a)
    assert s.mean == pytest.approx(-r.mean)
    assert (s.low, s.high) == pytest.approx((-r.high, -r.low))
    assert r.ahead == 3 and s.ahead == 1     # ties would count for neither


def test_verdicts_better_worse_and_no_detectable_difference():
    assert paired_comparison([2.0, 3.0, 2.5], [1.0, 1.9, 1.6]).verdict == "better"
    assert paired_comparison([1.0, 1.9, 1.6], [2.0, 3.0, 2.5]).verdict == "worse"
    mixed = paired_comparison([1.0, 3.0, 2.0, 2.0], [2.0, 1.0, 2.5, 1.0])
    assert mixed.low < 0 < mixed.high and mixed.verdict == "no detectable difference"
    same = paired_comparison([1.0, 2.0], [1.0, 2.0])
    assert (same.mean, same.low, same.high, same.ahead) == (0.0, 0.0, 0.0, 0)
    assert same.verdict == "no detectable difference"


@pytest.mark.parametrize("df", [1, 2, 4, 9, 30, 200])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.95, 0.975, 0.995, 0.9995])
def test_t_quantile_matches_scipy(p, df):
    stats = pytest.importorskip("scipy.stats")
    assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9, abs=1e-10)
    assert t_quantile(1 - p, df) == pytest.approx(stats.t.ppf(1 - p, df), rel=1e-9, abs=1e-10)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_interval_matches_scipy(confidence):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    a, b = rng.normal(50, 2, 7), rng.normal(49, 2, 7)
    r = paired_comparison(a, b, confidence=confidence)
    d = a - b
    low, high = stats.t.interval(confidence, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (r.low, r.high) == pytest.approx((low, high), rel=1e-9)
    assert r.confidence == confidence
    # and the same interval scipy's paired t-test implies: 0 inside iff p >= 1 - confidence
    p = stats.ttest_rel(a, b).pvalue
    assert (r.low < 0 < r.high) == (p >= 1 - confidence)


def test_t_quantile_known_table_values():
    assert t_quantile(0.975, 1) == pytest.approx(12.7062047, rel=1e-7)
    assert t_quantile(0.975, 4) == pytest.approx(2.7764451, rel=1e-7)
    assert t_quantile(0.95, 10) == pytest.approx(1.8124611, rel=1e-7)
    assert t_quantile(0.5, 3) == 0.0


def test_dicts_pair_by_seed_and_report_unpaired():
    a = {0: 51.0, 1: 50.0, 2: 52.0, 5: 99.0}
    b = {2: 50.0, 1: 49.5, 0: 50.0, 9: 0.0}
    r = paired_comparison(a, b)
    assert r.n == 3 and r.unpaired == 2
    assert r.differences == (1.0, 0.5, 2.0)     # order of a's keys
    assert str(r).endswith("3 of 3 seeds ahead (2 unpaired seeds left out)")
    # the same numbers as lists in seed order give the same result
    same = paired_comparison([51.0, 50.0, 52.0], [50.0, 49.5, 50.0])
    assert (same.mean, same.low, same.high) == (r.mean, r.low, r.high)


def test_arrays_tensors_and_numpy_scalars_are_accepted():
    ref = paired_comparison([1.0, 2.0, 4.0], [0.0, 1.0, 1.0])
    for a, b in [(np.array([1.0, 2.0, 4.0]), np.array([0.0, 1.0, 1.0])),
                 (torch.tensor([1.0, 2.0, 4.0]), torch.tensor([0.0, 1.0, 1.0])),
                 ((1, 2, 4), (0, 1, 1)),
                 ([np.float32(1), np.int64(2), np.float64(4)], [0.0, 1.0, 1.0])]:
        r = paired_comparison(a, b)
        assert (r.mean, r.low, r.high) == pytest.approx((ref.mean, ref.low, ref.high))


def test_result_is_frozen():
    r = paired_comparison([1.0, 2.0], [0.0, 0.5])
    assert isinstance(r, PairedComparison)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.mean = 0.0


@pytest.mark.parametrize("a, b, kind, words", [
    ([1.0], [0.0], ValueError, "at least 2 paired seeds, got 1"),
    ({0: 1.0, 1: 2.0}, {1: 1.0, 2: 3.0}, ValueError, "at least 2 paired seeds, got 1"),
    ([1.0, 2.0, 3.0], [1.0, 2.0], ValueError, "got 3 and 2 values"),
    ([1.0, float("nan")], [1.0, 2.0], ValueError, "a[1] must be finite, got nan"),
    ([1.0, 2.0], [1.0, float("inf")], ValueError, "b[1] must be finite"),
    ({0: 1.0, 1: float("nan")}, {0: 1.0, 1: 2.0}, ValueError, "a[1] must be finite"),
    ([1.0, "2"], [1.0, 2.0], TypeError, "a[1] must be a real number, got str"),
    ([1.0, True], [1.0, 2.0], TypeError, "a[1] must be a real number, got bool"),
    ("12", "34", TypeError, "a must be a list/tuple/1-D array"),
    ({1.0, 2.0}, {3.0, 4.0}, TypeError, "got set"),
    ({0: 1.0, 1: 2.0}, [1.0, 2.0], TypeError, "both be dicts"),
    (np.ones((2, 2)), np.ones((2, 2)), ValueError, "a must be 1-D"),
])
def test_errors_name_the_argument(a, b, kind, words):
    with pytest.raises(kind) as info:
        paired_comparison(a, b)
    assert words in str(info.value)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1, True, "95%"])
def test_bad_confidence(confidence):
    with pytest.raises(ValueError, match="confidence must be a number strictly between 0 and 1"):
        paired_comparison([1.0, 2.0], [0.0, 1.0], confidence=confidence)


def test_bad_t_quantile_arguments():
    with pytest.raises(ValueError, match="p must be a probability"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="df must be a finite number > 0"):
        t_quantile(0.9, 0)
