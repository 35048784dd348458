"""freqfusion_edu: a pure-PyTorch FreqFusion and the library behind the FreqFusion course.

The public API re-exports the functional core and the modules; heavier parts (plots, widgets,
models, the training engine) are imported from their submodules so that ``import freqfusion_edu``
needs only torch, numpy and kornia.
"""
from .functional import (carafe, carafe_reference, get_backend, hamming2d, init_offsets,
                         kernel_normalizer, local_similarity, neighbour_offsets, resolve_backend,
                         sample_with_offsets, set_backend, use_backend)
from .functional.padding import crop_to, pad_to_multiple
from .nn import FreqFusion, FreqFusionOutput, LocalSimGuidedSampler
from .official import load_official

__version__ = "0.1.0"

__all__ = ["FreqFusion", "FreqFusionOutput", "LocalSimGuidedSampler", "carafe",
           "carafe_reference", "hamming2d", "kernel_normalizer", "local_similarity",
           "neighbour_offsets", "init_offsets", "sample_with_offsets", "pad_to_multiple",
           "crop_to", "set_backend", "get_backend", "use_backend", "resolve_backend",
           "load_official",
           "__version__"]
