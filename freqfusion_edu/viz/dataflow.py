"""FreqFusion's data flow as one labelled map (chapter 00, and the top of chapters 03-06).

The map is drawn from one structure, :data:`BOXES` and :data:`ARROWS`. Each box names the
submodules of :class:`freqfusion_edu.FreqFusion` it stands for (``hr_channel_compressor``,
``content_encoder``, ``dysampler``...), the library functions it calls, and the chapter that
builds it. ``tests/viz/test_dataflow_viz.py`` checks that the submodules are exactly the real
module's children, so the picture cannot drift from the code.

Example::

    >>> from freqfusion_edu.viz.dataflow import BOXES, dataflow_figure
    >>> fig = dataflow_figure(highlight="03")      # chapter 03's boxes highlighted
    >>> sorted(b.key for b in BOXES if b.chapter == "03")
    ['alpf', 'alpf_up', 'compress']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["Box", "Arrow", "BOXES", "ARROWS", "CHAPTERS", "boxes_for", "dataflow_figure"]


@dataclass(frozen=True)
class Box:
    """One box of the map.

    Attributes:
        key: short name (``"alpf"``), used by ``highlight`` and the arrows.
        title: the box's first line (bold). lines: the lines under it.
        chapter: two-digit chapter that builds it (``"03"``), or ``""`` for inputs.
        submodules: names of ``FreqFusion`` children this box stands for (``named_children``).
        functions: ``freqfusion_edu`` functions it calls (``carafe``, ``kernel_normalizer``...).
        xy: centre in the map's coordinates (x 0..15, y 0..7). size: (width, height).
        kind: ``"input"``, ``"part"`` or ``"output"`` (colour of the box).
    """

    key: str
    title: str
    lines: tuple[str, ...]
    chapter: str
    submodules: tuple[str, ...]
    functions: tuple[str, ...]
    xy: tuple[float, float]
    size: tuple[float, float] = (2.6, 1.3)
    kind: str = "part"


@dataclass(frozen=True)
class Arrow:
    """An arrow ``src -> dst`` with a label saying what travels along it."""

    src: str
    dst: str
    label: str = ""
    path: tuple[tuple[float, float], ...] = ()
    """Explicit points from ``src``'s edge to ``dst``'s edge (default: a straight line)."""
    label_xy: tuple[float, float] | None = None
    """Where the label goes (default: the middle of the longest segment)."""


CHAPTERS = {"00": "00_index.ipynb", "03": "03_adaptive_lowpass.ipynb", "04": "04_offsets.ipynb",
            "05": "05_adaptive_highpass.ipynb", "06": "06_freqfusion_gpu.ipynb"}
"""Chapters a box can name, with their notebook files under ``book/``."""

BOXES: tuple[Box, ...] = (
    Box("hr", "hr_feat  X", ("high resolution, (N, C_h, 2h, 2w)", "fine detail"), "", (), (),
        (1.5, 5.6), (2.5, 1.1), "input"),
    Box("lr", "lr_feat  Y", ("low resolution, (N, C_l, h, w)", "context, coarse"), "", (), (),
        (1.5, 1.2), (2.5, 1.1), "input"),
    Box("compress", "channel compressors", ("1x1 convs to compressed_channels", "X -> X_c, Y -> Y_c"),
        "03", ("hr_channel_compressor", "lr_channel_compressor"), (), (4.6, 3.4), (2.7, 1.3)),
    Box("ahpf", "AHPF kernel generator", ("content_encoder2: 3x3 logits", "softmax x Hamming -> K_A"),
        "05", ("content_encoder2",), ("kernel_normalizer",), (7.9, 5.6)),
    Box("alpf", "ALPF kernel generator", ("content_encoder: 5x5 logits", "softmax x Hamming -> mask_lr"),
        "03", ("content_encoder",), ("kernel_normalizer", "carafe"), (7.9, 3.4)),
    Box("alpf_up", "ALPF: CARAFE on lr", ("Y upsampled x2 with", "one kernel of mask_lr per pixel"),
        "03", (), ("carafe",), (7.9, 1.2)),
    Box("offsets", "offset generator", ("local similarity -> offsets", "-> resample (optional)"),
        "04", ("dysampler",), ("local_similarity", "sample_with_offsets"), (11.2, 1.2)),
    Box("hr_boost", "AHPF: hr residual boost", ("X + (X - CARAFE(X, K_A))", "= 2X - LP(X)"),
        "05", (), ("carafe",), (11.2, 5.6)),
    Box("out_mask", "mask_lr", ("5x5 low-pass kernels", "(N, 25, 2h, 2w)"), "06", (), (),
        (14.0, 3.4), (1.9, 1.1), "output"),
    Box("out_hr", "hr_feat out", ("(N, C_h, 2h, 2w)",), "06", (), (), (14.0, 5.6), (1.9, 1.0),
        "output"),
    Box("out_lr", "lr_feat out", ("(N, C_l, 2h, 2w)",), "06", (), (), (14.0, 1.2), (1.9, 1.0),
        "output"),
)
"""The boxes of the map, in drawing order."""

ARROWS: tuple[Arrow, ...] = (
    Arrow("hr", "compress", "X"),
    Arrow("lr", "compress", "Y"),
    Arrow("compress", "ahpf", "X_c"),
    Arrow("compress", "alpf", "X_c, Y_c"),
    Arrow("ahpf", "alpf", "boosted X_c", ((7.3, 4.95), (7.3, 4.05))),
    Arrow("alpf", "ahpf", "mask_lr", ((8.5, 4.05), (8.5, 4.95))),
    Arrow("alpf", "alpf_up", "mask_lr", label_xy=(8.35, 2.05)),
    Arrow("lr", "alpf_up", "Y"),
    Arrow("alpf_up", "offsets", "Y up x2"),
    Arrow("compress", "offsets", "guides: boosted X_c, Y_c",
          ((5.6, 2.75), (5.6, 2.3), (10.6, 2.3), (10.6, 1.85)), (9.4, 2.3)),
    Arrow("offsets", "out_lr"),
    Arrow("ahpf", "hr_boost", "K_A"),
    Arrow("hr", "hr_boost", "X", ((1.5, 6.15), (1.5, 6.55), (11.2, 6.55), (11.2, 6.25))),
    Arrow("hr_boost", "out_hr"),
    Arrow("alpf", "out_mask", "mask_lr"),
)
"""What flows between the boxes (``src``/``dst`` are box keys)."""

_FACE = {"input": "#e8e8e8", "part": "#ffffff", "output": "#e8e8e8"}
_HIGHLIGHT = "#ffd54f"


def _check_structure() -> dict[str, Box]:
    by_key = {b.key: b for b in BOXES}
    if len(by_key) != len(BOXES):
        raise RuntimeError("BOXES has duplicate keys")
    for a in ARROWS:
        if a.src not in by_key or a.dst not in by_key:
            raise RuntimeError(f"arrow {a.src} -> {a.dst} names a box that does not exist")
    return by_key


def boxes_for(highlight) -> set[str]:
    """The keys of the boxes ``highlight`` names.

    Args:
        highlight: ``None`` (nothing), a chapter (``"03"``, ``"3"`` or ``3``: all its boxes), a
            box key (``"alpf"``), or an iterable of those.

    Returns:
        a set of box keys.

    Raises:
        ValueError: a chapter without boxes or an unknown key (the message lists the choices).
        TypeError: ``highlight`` of another type.
    """
    by_key = _check_structure()
    if highlight is None:
        return set()
    items = [highlight] if isinstance(highlight, (str, int)) else highlight
    if isinstance(items, (bytes, dict)) or not isinstance(items, Iterable):
        raise TypeError(f"highlight must be None, a chapter ('03'), a box key ('alpf') or a list "
                        f"of those, got {type(highlight).__name__}")
    keys: set[str] = set()
    chapters = sorted({b.chapter for b in BOXES if b.chapter})
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise TypeError(f"highlight items must be chapters or box keys, got "
                            f"{type(item).__name__} ({item!r})")
        s = str(item)
        chapter = s.zfill(2) if s.isdigit() else None
        if chapter is not None:
            found = {b.key for b in BOXES if b.chapter == chapter}
            if not found:
                raise ValueError(f"highlight: chapter {item!r} has no box in the map; chapters "
                                 f"with boxes: {', '.join(chapters)}")
            keys |= found
        elif s in by_key:
            keys.add(s)
        else:
            raise ValueError(f"highlight: {item!r} is neither a chapter ({', '.join(chapters)}) "
                             f"nor a box key ({', '.join(by_key)})")
    return keys


def _edge_point(box: Box, toward: tuple[float, float]) -> tuple[float, float]:
    """Where the line from the box's centre to ``toward`` leaves the box."""
    (x, y), (w, h) = box.xy, box.size
    dx, dy = toward[0] - x, toward[1] - y
    if dx == 0 and dy == 0:
        return x, y
    tx = (w / 2) / abs(dx) if dx else float("inf")
    ty = (h / 2) / abs(dy) if dy else float("inf")
    t = min(tx, ty)
    return x + t * dx, y + t * dy


def dataflow_figure(highlight=None, title: str | None = None):
    """FreqFusion's data flow: inputs, compressors, the ALPF and AHPF kernel generators, CARAFE,
    the offset generator, the residual boost and the three outputs, each box naming the
    chapter that builds it.

    Args:
        highlight: boxes to highlight (yellow, thick frame): ``None``, a chapter (``"03"``), a
            box key or a list of those (see :func:`boxes_for`).
        title: figure title (default: one that says what is highlighted).

    Returns:
        a closed matplotlib Figure (show it as a cell's value or with ``display``). Each box's
        patch has ``gid`` ``"box:<key>"``, each arrow ``"arrow:<src>-><dst>"``.

    Raises:
        ValueError, TypeError: an unknown ``highlight`` (see :func:`boxes_for`).
    """
    lit = boxes_for(highlight)
    by_key = _check_structure()
    fig, ax = plt.subplots(figsize=(15, 5.6))
    ax.set_xlim(0, 15.2)
    ax.set_ylim(0.3, 6.8)
    ax.set_axis_off()
    for b in BOXES:
        (x, y), (w, h) = b.xy, b.size
        on = b.key in lit
        patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04,rounding_size=0.12",
                               facecolor=_HIGHLIGHT if on else _FACE[b.kind],
                               edgecolor="black", linewidth=3.0 if on else 1.0,
                               linestyle="-" if b.kind != "input" else "--", zorder=2)
        patch.set_gid(f"box:{b.key}")
        ax.add_patch(patch)
        ax.text(x, y + h / 2 - 0.2, b.title, ha="center", va="top", fontsize=9.5,
                fontweight="bold", zorder=3)
        for i, line in enumerate(b.lines):
            ax.text(x, y + h / 2 - 0.5 - 0.26 * i, line, ha="center", va="top", fontsize=8,
                    family="monospace" if "(" in line and "N," in line else None, zorder=3)
        if b.chapter:
            ax.text(x + w / 2 - 0.06, y - h / 2 + 0.06, f"ch {b.chapter}", ha="right", va="bottom",
                    fontsize=7.5, style="italic", color="0.25", zorder=3)
    for a in ARROWS:
        s, d = by_key[a.src], by_key[a.dst]
        pts = list(a.path) or [_edge_point(s, d.xy), _edge_point(d, s.xy)]
        for q0, q1 in zip(pts[:-2], pts[1:-1]):  # all segments but the last: plain lines
            ax.plot([q0[0], q1[0]], [q0[1], q1[1]], color="0.2", linewidth=1.1, zorder=1,
                    solid_capstyle="round")
        arrow = FancyArrowPatch(pts[-2], pts[-1], arrowstyle="-|>", mutation_scale=12,
                                linewidth=1.1, color="0.2", zorder=1, shrinkA=0, shrinkB=2)
        arrow.set_gid(f"arrow:{a.src}->{a.dst}")
        ax.add_patch(arrow)
        if a.label:
            seg = max(zip(pts[:-1], pts[1:]),
                      key=lambda q: abs(q[1][0] - q[0][0]) + abs(q[1][1] - q[0][1]))
            mx, my = (seg[0][0] + seg[1][0]) / 2, (seg[0][1] + seg[1][1]) / 2
            if a.label_xy is not None:
                mx, my = a.label_xy
            ax.text(mx, my, a.label, ha="center", va="center", fontsize=7.5, color="0.15",
                    bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"),
                    zorder=4)
    if title is None:
        if lit:
            names = [by_key[k].title for k in (b.key for b in BOXES) if k in lit]
            title = "FreqFusion's data flow; highlighted: " + ", ".join(names)
        else:
            title = "FreqFusion's data flow (each box names the chapter that builds it)"
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    plt.close(fig)
    return fig
