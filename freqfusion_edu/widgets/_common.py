"""What every explorer needs: a figure as PNG bytes, shown at its own pixel width."""
from __future__ import annotations

import io

import ipywidgets as widgets
import matplotlib.pyplot as plt

__all__ = ["figure_png", "show_png"]


def figure_png(fig, dpi: int = 80) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it (explorers redraw often)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def show_png(image: widgets.Image, png: bytes) -> None:
    """Put a PNG into an Image widget at its own pixel width.

    JupyterLab stretches an Image widget to the output's width unless told otherwise, which
    blurs a small figure; the PNG header says how wide it really is.
    """
    image.value = png
    image.width = str(int.from_bytes(png[16:20], "big"))  # IHDR width
