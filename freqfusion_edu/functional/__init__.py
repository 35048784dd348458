"""The functional core: pure functions on tensors, shapes in every docstring."""
from .carafe import carafe, carafe_reference
from .kernels import hamming2d, kernel_normalizer
from .offsets import init_offsets, sample_with_offsets
from .similarity import local_similarity, neighbour_offsets

__all__ = ["carafe", "carafe_reference", "hamming2d", "kernel_normalizer", "init_offsets",
           "sample_with_offsets", "local_similarity", "neighbour_offsets"]
