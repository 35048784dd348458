"""The classroom checks: right answers pass, almost-right answers fail with the specific hint."""
import math
import re

import pytest
import torch
import torch.nn.functional as F

from freqfusion_edu import (carafe, carafe_reference, hamming2d, kernel_normalizer,
                            local_similarity, neighbour_offsets)
from freqfusion_edu import checks
from freqfusion_edu.checks import CheckError
from freqfusion_edu.checks._common import MESSAGE_WIDTH
from freqfusion_edu.metrics import (BoundaryIoU, confusion_matrix, iou_from_confusion,
                                    mask_to_boundary, mean_iou)


def fails_with(check, fn, *fragments, **kw):
    """Run ``check(fn)``, expect a CheckError whose message contains every fragment.

    The message is wrapped for ``nbgrader validate`` (no line longer than
    ``MESSAGE_WIDTH``), so fragments are looked for with line breaks read as spaces.
    """
    with pytest.raises(CheckError) as info:
        check(fn, **kw)
    msg = str(info.value)
    too_long = [line for line in msg.split("\n") if len(line) > MESSAGE_WIDTH]
    assert not too_long, f"lines nbgrader validate would cut: {too_long}"
    flat = " ".join(msg.split())
    for frag in fragments:
        assert " ".join(frag.split()) in flat, f"{frag!r} not in message: {msg}"
    return msg


def test_check_error_is_an_assertion_error():
    # nbgrader counts a test cell as failed when it raises; students know AssertionError
    assert issubclass(CheckError, AssertionError)


# ------------------------------------------------------------------ 1. carafe_by_hand
def good_windows(x, k):
    n, c, h, w = x.shape
    return F.unfold(x, k, padding=k // 2).view(n, c, k * k, h, w)


def test_unfold_passes_and_prints(capsys):
    checks.check_unfold(good_windows)
    checks.check_unfold(good_windows, kernel_size=5, size=(3, 4))
    assert capsys.readouterr().out.count("OK:") == 2


def test_unfold_typical_slips():
    fails_with(checks.check_unfold, lambda x, k: F.unfold(x, k).view(*x.shape[:2], k * k, -1),
               "shape (1, 2, 9, 4, 5) expected", "pad by k // 2")
    fails_with(checks.check_unfold,
               lambda x, k: good_windows(x, k).view(*x.shape[:2], k, k, *x.shape[2:])
               .transpose(2, 3).reshape(*x.shape[:2], k * k, *x.shape[2:]), "transposed")
    fails_with(checks.check_unfold,
               lambda x, k: F.unfold(F.pad(x, (k // 2,) * 4, mode="replicate"), k)
               .view(*x.shape[:2], k * k, *x.shape[2:]), "replicate padding")


def test_unfold_one_pixel_shift_gets_the_shift_hint():
    def padded_on_one_side(x, k):       # F.pad(x, (0, 2r, 0, 2r)): every window one pixel off
        n, c, h, w = x.shape
        return F.unfold(F.pad(x, (0, 2 * (k // 2)) * 2), k).view(n, c, k * k, h, w)

    def loop_one_row_up(x, k):          # a double loop that slices one row too high
        n, c, h, w = x.shape
        r = k // 2
        xp = F.pad(x, (r + 1,) * 4)
        return torch.stack([xp[..., ky:ky + h, kx + 1:kx + 1 + w]
                            for ky in range(k) for kx in range(k)], 2)

    fails_with(checks.check_unfold, padded_on_one_side, "shifted by one pixel",
               "reads the pixel below and right of it", "F.pad(x, (r, r, r, r))")
    fails_with(checks.check_unfold, loop_one_row_up, "shifted by one pixel",
               "reads the pixel above it", "x[i + ky - r, j + kx - r], r = k // 2 = 1")
    fails_with(checks.check_unfold, loop_one_row_up, "reads the pixel above it",
               "r = k // 2 = 2", kernel_size=5, size=(6, 7))
    # a right answer is never mistaken for a shift, and a transposed one keeps its own hint
    checks.check_unfold(good_windows, kernel_size=5, size=(6, 7))
    fails_with(checks.check_unfold,
               lambda x, k: good_windows(x, k).view(*x.shape[:2], k, k, *x.shape[2:])
               .transpose(2, 3).reshape(*x.shape[:2], k * k, *x.shape[2:]), "transposed")


def test_messages_fit_nbgrader_validate_but_book_messages_are_left_alone():
    long = "word " * 40
    assert all(len(line) <= MESSAGE_WIDTH for line in str(CheckError(long)).split("\n"))
    assert str(CheckError("short\nlines stay")) == "short\nlines stay"
    assert str(CheckError(long, wrap=False)) == long        # the book's expect/expect_close
    with pytest.raises(CheckError) as info:
        checks.expect(False, long)
    assert "\n" not in str(info.value)


def test_using_references_swaps_and_restores():
    from freqfusion_edu.checks import REFERENCES, using_references

    def student_windows(x, k):
        raise NotImplementedError()

    def student_carafe_s1(features, masks, kernel_size):   # right, but calls the broken windows
        u = ns["windows"](features, kernel_size)
        return (u * masks[:, None]).sum(dim=2)

    ns = {"windows": student_windows}
    fails_with(checks.check_carafe, student_carafe_s1, "NotImplementedError")
    with using_references(ns, "windows", "shift"):
        assert ns["windows"] is REFERENCES["windows"] and ns["shift"] is REFERENCES["shift"]
        checks.check_carafe(student_carafe_s1)
    assert ns == {"windows": student_windows}            # restored; "shift" was absent: removed

    def wrong_carafe_s1(features, masks, kernel_size):
        return 2 * student_carafe_s1(features, masks, kernel_size)

    with pytest.raises(CheckError) as info:
        with using_references(ns, "windows"):
            checks.check_carafe(wrong_carafe_s1)
    assert "ran with the reference `windows`" in " ".join(str(info.value).split())
    assert ns["windows"] is student_windows               # restored after a failure too
    with pytest.raises(ValueError, match="no reference for \\['windowz'\\]"):
        with using_references(ns, "windowz"):
            pass
    with pytest.raises(TypeError, match="namespace must be a dict"):
        with using_references(None, "windows"):
            pass


def test_every_reference_passes_its_check(capsys):
    from freqfusion_edu.checks import REFERENCES as R
    checks.check_unfold(R["windows"])
    checks.check_carafe(R["carafe_s1"])
    checks.check_softmax_kernels(R["softmax_kernels"], kernel_size=5, group=2)
    checks.check_neighbour_offsets(R["offsets"])
    checks.check_shift(R["shift"])
    checks.check_highpass(R["highpass"])
    checks.check_residual_boost(R["residual_boost"])
    checks.check_class_centres(R["class_centres"])
    checks.check_confusion_matrix(R["confusion"])
    checks.check_iou(R["iou_per_class"])
    checks.check_boundary(R["boundary"], dilation=2)
    assert capsys.readouterr().out.count("OK:") == 11


def test_carafe_passes_for_reference_and_library(capsys):
    checks.check_carafe(carafe_reference, kernel_size=5, group_size=2, scale_factor=2)
    checks.check_carafe(lambda x, m, k: carafe(x, m, k))  # scale 1, one group: 3 arguments
    assert "borders included" in capsys.readouterr().out


def renormalized(x, m, k, g=1, s=1):
    return carafe(x, m, k, g, s) / carafe(torch.ones_like(x), m, k, g, s)


def test_carafe_renormalized_border_gets_border_hint():
    msg = fails_with(checks.check_carafe, renormalized,
                     "differs from carafe only on the border rows/columns", "max error",
                     "NOT renormalized", scale_factor=2)
    assert " at (" in msg  # the position of the largest error is named


def test_carafe_unknown_border_error_gets_generic_border_hint():
    def half_border(x, m, k, g=1, s=1):  # some other border bug
        out = carafe(x, m, k, g, s).clone()
        out[..., 0, 3] += 0.41
        return out
    fails_with(checks.check_carafe, half_border, "only on the border rows/columns",
               "max error 0.41 at (0, 3)", "counted as zero, without renormalizing")


def test_carafe_transposed_taps_and_groups_and_upsample_first():
    def transposed(x, m, k, g=1, s=1):
        n, c, h, w = m.shape
        mt = m.view(n, g, k, k, h, w).transpose(2, 3).reshape(n, c, h, w)
        return carafe(x, mt, k, g, s)
    fails_with(checks.check_carafe, transposed, "taps are transposed")

    def interleaved(x, m, k, g=1, s=1):
        c = x.shape[1]
        perm = torch.arange(c).view(c // g, g).t().reshape(-1)
        return carafe(x[:, perm], m, k, g, s)[:, torch.argsort(perm)]
    fails_with(checks.check_carafe, interleaved, "groups are interleaved", group_size=2)

    def upsample_first(x, m, k, g=1, s=1):
        return carafe(F.interpolate(x, scale_factor=s, mode="nearest"), m, k, g, 1)
    fails_with(checks.check_carafe, upsample_first, "LOW-resolution input", scale_factor=2)


def test_carafe_wrong_shape_and_crash_and_not_implemented():
    fails_with(checks.check_carafe, lambda x, m, k, g=1, s=1: x, "shape (1, 4, 10, 12) expected",
               "got (1, 4, 5, 6)", scale_factor=2)

    def crash(x, m, k, g=1, s=1):
        return x @ m
    fails_with(checks.check_carafe, crash, "crash raised RuntimeError", "it was called with")

    def todo(x, m, k):
        raise NotImplementedError()
    fails_with(checks.check_carafe, todo, "still raises NotImplementedError")
    fails_with(checks.check_carafe, lambda x, m, k: None, "returned None")


# ------------------------------------------------------------------ 2. kernel_normalizer
def test_softmax_kernels():
    checks.check_softmax_kernels(lambda m, k, g=1: kernel_normalizer(m, k, groups=g), group=2)

    def over_all_channels(m, k, g=1):  # softmax over G*k*k instead of per group
        return m.softmax(1)
    fails_with(checks.check_softmax_kernels, over_all_channels, "your kernel sums to",
               "each group separately", group=2)

    def spatial_softmax(m, k, g=1):
        return m.flatten(2).softmax(-1).view_as(m)
    fails_with(checks.check_softmax_kernels, spatial_softmax, "your kernel sums to", "over the k*k taps")


def test_windowed_kernels():
    checks.check_windowed_kernels(lambda m, k, win, g=1: kernel_normalizer(m, k, win, g))

    def forgot_renorm(m, k, win, g=1):
        n, c, h, w = m.shape
        p = m.view(n, g, k * k, h, w).softmax(2) * win.reshape(1, 1, k * k, 1, 1)
        return p.view(n, c, h, w)
    msg = fails_with(checks.check_windowed_kernels, forgot_renorm, "your kernel sums to",
                     "at pixel (", "did you forget to renormalize after the window?")
    assert re.search(r"sums to 0\.\d+ at pixel \(\d+, \d+\)", msg), msg  # computed, not canned

    def window_on_logits(m, k, win, g=1):
        n, c, h, w = m.shape
        return (m.view(n, g, k * k, h, w) * win.reshape(1, 1, k * k, 1, 1)).softmax(2).view_as(m)
    fails_with(checks.check_windowed_kernels, window_on_logits, "AFTER the softmax")

    fails_with(checks.check_windowed_kernels, lambda m, k, win, g=1: kernel_normalizer(m, k, groups=g),
               "ignore the window")


def true_gain(kernel, fy, fx):
    k = kernel.shape[-1]
    ky = torch.arange(k, dtype=torch.float64).view(-1, 1)
    kx = torch.arange(k, dtype=torch.float64).view(1, -1)
    h = (kernel.double() * torch.exp(-2j * math.pi * (fy * ky + fx * kx))).sum()
    return float(abs(h))


def test_gain():
    checks.check_gain(true_gain)
    fails_with(checks.check_gain, lambda w, fy, fx: float(
        (w.double() * torch.cos(2 * math.pi * (fy * torch.arange(3.).view(-1, 1)
                                               + fx * torch.arange(3.).view(1, -1)))).sum()),
        "take abs()")
    fails_with(checks.check_gain, lambda w, fy, fx: true_gain(w.t(), fy, fx), "fy goes with the row")
    fails_with(checks.check_gain, lambda w, fy, fx: true_gain(w, fy, fx) + 0.5, "sum of the taps")


# ------------------------------------------------------------------ 3. local_similarity
def test_neighbour_offsets():
    checks.check_neighbour_offsets(neighbour_offsets)
    checks.check_neighbour_offsets(neighbour_offsets, kernel_size=5, dilation=1)
    with_centre = lambda k=3, d=2: [(dy * d, dx * d) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    fails_with(checks.check_neighbour_offsets, with_centre, "9 offsets expected 8", "drop the centre")
    column_major = lambda k=3, d=2: [(dx, dy) for dy, dx in neighbour_offsets(k, d)]
    fails_with(checks.check_neighbour_offsets, column_major, "wrong order", "column by column")
    fails_with(checks.check_neighbour_offsets, lambda k=3, d=2: neighbour_offsets(k, 1), "not dilated")


def good_shift(x, dy, dx):
    h, w = x.shape[-2:]
    p = max(abs(dy), abs(dx))
    return F.pad(x, (p, p, p, p))[..., p + dy:p + dy + h, p + dx:p + dx + w]


def test_shift():
    checks.check_shift(good_shift)
    fails_with(checks.check_shift, lambda x, dy, dx: good_shift(x, -dy, -dx), "the other way")
    fails_with(checks.check_shift, lambda x, dy, dx: torch.roll(x, (-dy, -dx), (-2, -1)),
               "torch.roll wraps around")


def test_local_similarity():
    checks.check_local_similarity(local_similarity)
    with_centre = lambda x, k=3, d=2: torch.ones(1, k * k, *x.shape[-2:])
    fails_with(checks.check_local_similarity, with_centre,
               "shape (1, 8, 6, 7) expected, got (1, 9, 6, 7): drop the centre tap")
    reordered = lambda x, k=3, d=2: local_similarity(x, k, d)[:, [0, 3, 5, 1, 6, 2, 4, 7]]
    fails_with(checks.check_local_similarity, reordered, "wrong neighbour order", "channel 1 is neighbour")

    def replicate(x, k=3, d=2):
        pad = (k // 2) * d
        xp = F.pad(x, (pad,) * 4, mode="replicate")
        h, w = x.shape[-2:]
        return torch.stack([F.cosine_similarity(x, xp[..., pad + dy:pad + dy + h, pad + dx:pad + dx + w], dim=1)
                            for dy, dx in neighbour_offsets(k, d)], 1)
    fails_with(checks.check_local_similarity, replicate, "zero padding")
    fails_with(checks.check_local_similarity, lambda x, k=3, d=2: local_similarity(x, k, 1), "not dilated")

    def centre_kept(x, k=3, d=2):  # the slices are off by one: the centre stays, neighbour k*k//2 - 1 goes
        taps = F.unfold(x, k, dilation=d, padding=d * (k // 2)).view(x.shape[0], x.shape[1], k * k, *x.shape[-2:])
        sims = F.cosine_similarity(taps, taps[:, :, k * k // 2 : k * k // 2 + 1], dim=1)
        return torch.cat([sims[:, : k * k // 2 - 1], sims[:, k * k // 2 :]], dim=1)
    fails_with(checks.check_local_similarity, centre_kept, "your channel 3 is 1 everywhere",
               "drop tap 4 (the centre)")
    fails_with(checks.check_local_similarity, centre_kept, "your channel 11 is 1 everywhere",
               "drop tap 12 (the centre)", kernel_size=5)


# ------------------------------------------------------------------ 4. highpass
def test_highpass_and_boost_and_freqfusion():
    checks.check_highpass(lambda x, m, k: x - carafe(x, m, k))
    fails_with(checks.check_highpass, lambda x, m, k: carafe(x, m, k) - x, "wrong sign")
    fails_with(checks.check_highpass, lambda x, m, k: carafe(x, m, k), "you returned the low-pass")
    checks.check_residual_boost(lambda x, m, k: 2 * x - carafe(x, m, k))
    fails_with(checks.check_residual_boost, lambda x, m, k: x - carafe(x, m, k), "adds X back")
    ok = lambda x, a: 2 * x - carafe(x, kernel_normalizer(a, 3, hamming2d(3)), 3)
    checks.check_freqfusion_hr(ok)
    fails_with(checks.check_freqfusion_hr,
               lambda x, a: 2 * x - carafe(x, kernel_normalizer(a, 3), 3), "Hamming window")


# ------------------------------------------------------------------ 5. feature_similarity
def centres(f, y, k):
    x = f.flatten(1)
    return torch.stack([x[:, y.flatten() == c].mean(1) for c in range(k)])


def test_class_centres():
    checks.check_class_centres(centres)
    fails_with(checks.check_class_centres, lambda f, y, k: centres(f, y, k).nan_to_num(0.0), "NaN")
    sums = lambda f, y, k: torch.stack([f.flatten(1)[:, y.flatten() == c].sum(1) for c in range(k)])
    fails_with(checks.check_class_centres,
               lambda f, y, k: torch.where(centres(f, y, k).isnan(), centres(f, y, k), sums(f, y, k)),
               "MEAN feature")
    fails_with(checks.check_class_centres, lambda f, y, k: centres(f, y, k).t(), "(K, C)")


def intra(f, y, mu, per_class=True):
    x, yf = f.flatten(1), y.flatten()
    if not per_class:
        own = F.cosine_similarity(x, mu[yf.clamp_max(len(mu) - 1)].t(), dim=0)
        return float(own[yf != 255].mean())
    per = [F.cosine_similarity(x[:, yf == c], mu[c][:, None], dim=0).mean()
           for c in range(len(mu)) if (yf == c).any()]
    return float(torch.stack(per).mean())


def test_intra_inter_margin():
    checks.check_intra_similarity(intra)
    fails_with(checks.check_intra_similarity, lambda f, y, mu: intra(f, y, mu, False),
               "average per class first")

    def inter(mu, diag=False):
        mu = mu[~mu.isnan().any(1)]
        cos = F.cosine_similarity(mu[:, None], mu[None], dim=2)
        return float(cos.mean()) if diag else float(((cos.sum(1) - 1) / (len(mu) - 1)).mean())
    checks.check_inter_similarity(inter)
    fails_with(checks.check_inter_similarity, lambda mu: inter(mu, True), "leave out the diagonal")
    fails_with(checks.check_inter_similarity, lambda mu: float(F.cosine_similarity(
        mu[:, None], mu[None], dim=2).mean()), "NaN", "absent")

    from freqfusion_edu.metrics import feature_similarity
    checks.check_margin(lambda f, y, mu: feature_similarity(f[None], y[None], len(mu))["margin"])
    r = lambda f, y, mu: feature_similarity(f[None], y[None], len(mu))
    fails_with(checks.check_margin, lambda f, y, mu: r(f, y, mu)["intra"] - r(f, y, mu)["inter"],
               "IntraSim - InterSim")


# ------------------------------------------------------------------ 6. segmentation_metrics
def test_confusion_matrix():
    checks.check_confusion_matrix(confusion_matrix)
    fails_with(checks.check_confusion_matrix,
               lambda p, t, k, ig=255: confusion_matrix(p, t, k, ig).t(), "transposed", "GROUND TRUTH")
    fails_with(checks.check_confusion_matrix,
               lambda p, t, k, ig=255: torch.bincount(k * t.flatten() + p.flatten(), minlength=k * k)
               .view(k, k), "ignore_index")


def test_iou_and_mean_iou():
    checks.check_iou(iou_from_confusion)
    fails_with(checks.check_iou, lambda cm: iou_from_confusion(cm).nan_to_num(0.0), "return NaN")

    def no_minus_tp(cm):
        cm = cm.double()
        u = cm.sum(0) + cm.sum(1)
        return torch.where(u > 0, cm.diagonal() / u.clamp_min(1), torch.full_like(u, math.nan))
    fails_with(checks.check_iou, no_minus_tp, "counts TP once")

    def recall(cm):
        cm = cm.double()
        r = cm.sum(1)
        return torch.where(cm.sum(0) + r > 0, cm.diagonal() / r.clamp_min(1),
                           torch.full_like(r, math.nan))
    fails_with(checks.check_iou, recall, "recall")
    checks.check_mean_iou(mean_iou)
    fails_with(checks.check_mean_iou, lambda cm: float(iou_from_confusion(cm).nan_to_num(0).mean()),
               "absent class as IoU 0")
    fails_with(checks.check_mean_iou, lambda cm: float(iou_from_confusion(cm).mean()), "torch.nanmean")


def test_boundary_and_boundary_iou():
    checks.check_boundary(mask_to_boundary)
    checks.check_boundary(mask_to_boundary, dilation=2)

    def outside_is_foreground(m, d):
        comp = F.pad(1.0 - m.float()[None, None], (d,) * 4, value=0.0)
        return m & ~(F.max_pool2d(comp, 2 * d + 1, stride=1)[0, 0] < 0.5)
    fails_with(checks.check_boundary, outside_is_foreground, "image border are boundary")
    fails_with(checks.check_boundary, lambda m, d: m & ~mask_to_boundary(m, d), "eroded interior")

    def biou(p, t, k, d, ignore_index=255, use_ignore=True):
        b = BoundaryIoU(k, dilation=d, ignore_index=ignore_index if use_ignore else -1)
        b.update(p, torch.where(t == 255, torch.zeros_like(t), t) if not use_ignore else t)
        return b.compute()[0]
    checks.check_boundary_iou(biou)

    def mask_iou(p, t, k, d, ignore_index=255):
        v = t != ignore_index
        out = [((p == c) & (t == c) & v).sum() / ((p == c) & v | (t == c) & v).sum() for c in range(k)]
        return torch.stack(out).double()
    fails_with(checks.check_boundary_iou, mask_iou, "ordinary (mask) IoU")


# ------------------------------------------------------------------ the package's layout
def test_one_module_per_assignment_and_every_name_still_importable():
    """``checks`` is a package with one module per classroom assignment; every public name (what
    the assignments and tests import) still comes from ``freqfusion_edu.checks`` directly."""
    import importlib
    from pathlib import Path

    import freqfusion_edu.checks as pkg
    root = Path(__file__).resolve().parents[1]
    assignments = sorted(p.name for p in (root / "classroom" / "source").iterdir() if p.is_dir())
    modules = sorted(p.stem for p in Path(pkg.__file__).parent.glob("*.py")
                     if not p.stem.startswith("_"))
    book = [m for m in modules if m.startswith("book")]  # the book's check cells (issue 13)
    assert [m for m in modules if m not in book] == assignments
    for name in assignments:
        mod = importlib.import_module(f"freqfusion_edu.checks.{name}")
        for fn in mod.__all__:
            assert getattr(pkg, fn) is getattr(mod, fn), fn
    exported = set(pkg.__all__)
    assert exported == {"CheckError", "using_references"} | {n for m in assignments + book for n in
                                         importlib.import_module(f"freqfusion_edu.checks.{m}").__all__}
    # what the notebooks call: checks.check_* in every source and release notebook
    used = set()
    for nb in (root / "classroom").glob("*/*/*.ipynb"):
        used |= set(re.findall(r"checks\.(check_\w+)", nb.read_text()))
    assert used and used <= exported, used - exported
    # students see the public name in tracebacks, not the private module
    assert f"{CheckError.__module__}.{CheckError.__qualname__}" == "freqfusion_edu.checks.CheckError"


def test_one_ignore_index():
    from freqfusion_edu.checks import _common
    from freqfusion_edu.data import cityscapes
    assert _common.IGNORE_INDEX is cityscapes.IGNORE_INDEX == 255
