"""viz.benchmarks: the bar labels of chapter 06's time/memory figure stay readable."""
import math

import matplotlib

matplotlib.use("Agg")

from freqfusion_edu.viz.benchmarks import plot_time_memory

# chapter 06's seven rows: CARAFE implementations and FreqFusion variants, long names
NAMES = ["CARAFE: unfold (reference)", "CARAFE: library", "FF: bilinear + add", "FF: FreqFusion",
         "FF: use_checkpoint", "FF: autocast bfloat16", "FF: channels_last"]


def test_long_rotated_bar_labels_do_not_overlap():
    fig = plot_time_memory([{"impl": n, "ms": 1.0 + i, "MiB": 2.0 + i} for i, n in enumerate(NAMES)], log=True)
    fig.canvas.draw()
    for ax in fig.axes:
        labels = ax.get_xticklabels()
        assert [t.get_text() for t in labels] == NAMES
        # Rotated labels are parallel slanted lines, one per tick: they stay apart when the distance
        # between neighbouring lines, tick spacing x sin(angle), exceeds a line of text.
        angle = math.radians(labels[0].get_rotation())
        ticks = ax.transData.transform([(i, 1.0) for i in range(len(NAMES))])[:, 0]
        spacing = float(min(b - a for a, b in zip(ticks, ticks[1:])))
        line = labels[0].get_fontsize() * fig.dpi / 72 * 1.2          # font size in pixels, with leading
        assert spacing * math.sin(angle) > line, (math.degrees(angle), spacing, line)
