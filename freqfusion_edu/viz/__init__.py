"""Plotting helpers for the book. Each returns a matplotlib Figure; the core never imports this."""
