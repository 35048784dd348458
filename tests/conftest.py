"""Session-wide test setup.

Triton's interpreter: on a machine without CUDA, ``TRITON_INTERPRET=1`` makes ``@triton.jit``
kernels run on CPU tensors (through numpy), so CARAFE's Triton backend is tested on every machine
(``tests/functional/test_carafe_triton.py``). Triton reads the variable when a kernel is
jitted, i.e. at the first launch of ``freqfusion_edu.functional._carafe_triton``'s kernels;
this file is the first one pytest loads under ``tests/``, so it is set before that. With
CUDA, the kernels are tested on the GPU instead. Nothing else reads the variable: the default
backend on CPU tensors stays the banded loop.
"""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
