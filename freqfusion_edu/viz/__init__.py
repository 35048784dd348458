"""Plotting helpers for the book. Each returns a matplotlib Figure; the core never imports this."""
from .dataflow import dataflow_figure  # noqa: F401  (the map of chapters 00 and 03-06)
