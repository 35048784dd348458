"""The upsampler arena: every upsampler behind one interface, ``fuse(hr, lr) -> fused``, on one task.

* :mod:`~freqfusion_edu.arena.methods`: the contestants (:data:`METHODS`, :func:`build_fuser`).
* :mod:`~freqfusion_edu.arena.task`: the fixed task (generated scenes, coarse semantic input, an
  image guide), the shared network, training and metrics (:func:`train_method`).
* :mod:`~freqfusion_edu.arena.encoder`: the learned input (``--set features=encoder``): a frozen CNN
  encoder pretrained on separate scenes, cached on disk with its provenance.
* :mod:`~freqfusion_edu.arena.runner`: all (method, seed) pairs, saved row by row, resumable.
* :mod:`~freqfusion_edu.arena.results`: result files, mean ± spread, paired comparisons
  (:func:`~freqfusion_edu.arena.results.compare`, :func:`~freqfusion_edu.arena.results.paired_table`).

Run it with ``freqfusion-edu arena --quick --out /tmp/arena.json``; chapter 09 reads the stored
full run ``results/arena_full.json``.
"""
from .methods import METHODS, build_fuser, check_methods, count_params
from .results import (compare, format_paired_table, format_table, load_results, paired_table,
                      save_results, summarize)
from .runner import DEFAULT_METHODS, QUICK_METHODS, run_arena, table_text
from .task import FULL, QUICK, ArenaSettings, make_arena_data, settings_for, train_method

__all__ = ["METHODS", "build_fuser", "check_methods", "count_params", "format_table",
           "load_results", "save_results", "summarize", "compare", "paired_table",
           "format_paired_table", "DEFAULT_METHODS",
           "QUICK_METHODS", "run_arena", "table_text", "FULL", "QUICK", "ArenaSettings",
           "make_arena_data", "settings_for", "train_method"]
