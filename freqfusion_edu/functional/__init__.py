"""The functional core: pure functions on tensors, shapes in every docstring.

CARAFE and the choice of its backend live in :mod:`freqfusion_edu.functional.reassembly`
(CARAFE is "content-aware reassembly of features"); ``freqfusion_edu.functional.carafe`` is the
function. The old module path ``freqfusion_edu.functional.carafe`` still works in ``from ...
import`` statements (``from freqfusion_edu.functional.carafe import get_backend``): it is an
alias of ``reassembly`` kept for code written before the rename (docs/api_naming.md).
"""
import sys as _sys

from . import reassembly as _reassembly
from .kernels import hamming2d, kernel_normalizer
from .offsets import init_offsets, sample_with_offsets
from .reassembly import (BACKENDS, carafe, carafe_reference, get_backend, resolve_backend,
                         set_backend, use_backend)
from .similarity import local_similarity, neighbour_offsets

# Old import path of the module (the package attribute ``carafe`` is the function).
_sys.modules.setdefault(__name__ + ".carafe", _reassembly)

__all__ = ["carafe", "carafe_reference", "hamming2d", "kernel_normalizer", "init_offsets",
           "sample_with_offsets", "local_similarity", "neighbour_offsets", "set_backend",
           "get_backend", "use_backend", "resolve_backend", "BACKENDS"]
