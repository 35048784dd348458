"""What every explorer needs: a figure as PNG bytes, shown at its own pixel width."""
from __future__ import annotations

import io

import ipywidgets as widgets
import matplotlib.pyplot as plt

__all__ = ["figure_png", "show_png", "check_kernel_sizes", "check_logits_fn"]


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


def check_kernel_sizes(kernel_sizes) -> list[int]:
    """The kernel-size choices of an explorer: a non-empty list of odd positive integers."""
    sizes = [int(k) for k in kernel_sizes]
    if not sizes or any(k < 1 or k % 2 == 0 for k in sizes):
        raise ValueError(f"kernel_sizes must be odd positive integers, got {kernel_sizes!r}")
    return sizes


def check_logits_fn(logits_fn, signature: str) -> None:
    """``None`` or a callable; ``signature`` says what it should look like in the message."""
    if logits_fn is not None and not callable(logits_fn):
        raise TypeError(f"logits_fn must be callable({signature}) -> (1, k*k, H, W) logits, "
                        f"got {type(logits_fn).__name__}")
