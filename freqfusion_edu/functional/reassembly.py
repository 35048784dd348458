r"""CARAFE: content-aware reassembly of features, with mmcv's exact semantics.

Every output pixel ``(ph, pw)`` owns a ``k x k`` kernel (the mask lives at *output* resolution)
and reads the ``k x k`` window of the input centred on its parent pixel ``(ph // s, pw // s)``.
Taps outside the input contribute zero and the kernel is *not* renormalized at borders. Mask
channel ``(g * k + ky) * k + kx`` holds tap ``(ky, kx)`` of channel group ``g``; groups are
contiguous blocks of ``C / G`` channels (CARAFE paper, Wang et al. ICCV 2019, Sec. 3; mmcv's
``carafe`` op).

Two functions compute it:

* :func:`carafe_reference`: five obviously-correct lines (unfold, nearest-upsample, weight, sum).
  It materializes an :math:`N C k^2 H W` tensor (25x the output for ``k = 5``): fine for tests
  and the book, the reason users of other ports run out of memory.
* :func:`carafe`: the one to use. A registered op (``torch.ops.freqfusion_edu.carafe``, with a
  fake implementation and autograd of every order), so ``torch.compile(..., fullgraph=True)``
  and ``torch.export`` see one node; only the inputs are saved for backward.

**Which backend runs where, and why** (:func:`set_backend`, :func:`use_backend`, or the
environment variable ``FREQFUSION_EDU_CARAFE`` with the same names; :func:`resolve_backend`
says what a device gets):

* ``"auto"`` (default): ``"triton"`` on CUDA tensors when Triton imports, ``"banded"`` otherwise.
* ``"triton"``: three Triton kernels (forward, input gradient in a deterministic gather form,
  mask gradient), one launch each per call whatever the size, float32 accumulation for
  float16/bfloat16/float32 inputs. On a GPU every PyTorch op is a kernel launch plus host-side
  dispatch, so a tap loop whose op count grows with the image cannot keep a GPU busy; these
  kernels read each input once per tap from the caches and write each result once. Asking for it
  on a CPU tensor is an error, except under Triton's interpreter (``TRITON_INTERPRET=1``, slow:
  used by the tests).
* ``"banded"``: a tap loop of plain PyTorch ops written straight into the output (see
  ``_carafe_banded``). On the CPU it walks the output in cache-sized bands of rows, so all
  ``k*k`` taps are added while a band stays in cache; on other devices the whole tensor is one
  band, so a call issues a fixed number of ops (``k*k`` products forward, ``3 k*k`` backward,
  plus the views they take).
* ``"compile"``: the banded backward, with the forward's ``k*k`` taps fused into one loop by
  ``torch.compile`` (1.3-1.9x faster than the banded forward in ``benchmarks/carafe_bench.py``
  runs on a 2-core CPU, but the first call compiles for tens of seconds, so it is never the
  default). If compilation fails, a warning says why and the banded forward
  runs instead for the rest of the process (the choice itself is not changed).

``benchmarks/carafe_bench.py`` measures them against the machine's floor.

**Exports:** ``torch.export`` keeps the registered op as one node (a program that calls it
loads after ``import freqfusion_edu``); while ``torch.onnx.export`` runs, :func:`carafe`
emits :func:`carafe_taps` instead, the tap loop in standard operators, because ONNX has no
CARAFE.
"""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from .._validate import check_odd_kernel, check_positive_int, check_tensor, shape_str
from . import _carafe_op

__all__ = ["carafe", "carafe_reference", "carafe_taps", "check_carafe_args", "set_backend", "get_backend",
           "use_backend", "resolve_backend"]

BACKENDS = _carafe_op.BACKENDS


def set_backend(name: str) -> None:
    """Choose the backend of :func:`carafe` for this process (see the module docstring).

    Args:
        name: ``"auto"`` (default: Triton on CUDA, the banded loop elsewhere), ``"banded"``,
            ``"compile"`` or ``"triton"``.

    Raises:
        ValueError: for any other name.

    Example:
        >>> set_backend("banded"); get_backend()
        'banded'
        >>> set_backend("auto")
    """
    _carafe_op.set_backend(name)


def get_backend() -> str:
    """The backend chosen with :func:`set_backend` (``"auto"`` unless changed).

    Example:
        >>> get_backend() in BACKENDS
        True
    """
    return _carafe_op.get_backend()


def use_backend(name: str):
    """Context manager: use backend ``name`` inside the block, restore the previous choice after
    it (also when the block raises).

    Args:
        name: as for :func:`set_backend`.

    Raises:
        ValueError: for an unknown name (before anything changes).

    Example:
        >>> before = get_backend()
        >>> with use_backend("banded"):
        ...     get_backend()
        'banded'
        >>> get_backend() == before
        True
    """
    return _carafe_op.use_backend(name)


def resolve_backend(device, name: str | None = None) -> str:
    """The concrete backend :func:`carafe` runs for a tensor on ``device``.

    Args:
        device: a ``torch.device`` or its name (``"cpu"``, ``"cuda:0"``...).
        name: a backend name; default: the current choice (:func:`get_backend`).

    Returns:
        ``"triton"``, ``"banded"`` or ``"compile"``. ``"auto"`` gives ``"triton"`` on CUDA when
        Triton imports, ``"banded"`` otherwise; ``"compile"`` gives ``"banded"`` once
        ``torch.compile`` has failed in this process.

    Raises:
        ValueError: for an unknown name.
        RuntimeError: for ``"triton"`` where it cannot run (no Triton, or a CPU tensor without
            ``TRITON_INTERPRET=1``), with the reason.

    Example:
        >>> resolve_backend("cpu", "auto")
        'banded'
        >>> resolve_backend("meta", "auto")
        'banded'
    """
    return _carafe_op.resolve_backend(device, name)


def check_carafe_args(features, masks, kernel_size, groups, scale_factor) -> None:
    """mmcv's assertions, as errors that name the argument and show the shapes.

    Args:
        features: should be :math:`(N, C, h, w)`, floating point.
        masks: should be :math:`(N, G k^2, h s, w s)`, floating point, on the device of
            ``features``.
        kernel_size: should be an odd positive integer ``k``.
        groups: should be a positive integer ``G`` dividing ``C``.
        scale_factor: should be a positive integer ``s``.

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: naming the first argument that does not fit.

    Example:
        >>> check_carafe_args(torch.zeros(1, 4, 2, 3), torch.zeros(1, 18, 4, 6), 3, 2, 2)
        >>> check_carafe_args(torch.zeros(1, 4, 2, 3), torch.zeros(1, 9, 4, 6), 3, 2, 2)
        Traceback (most recent call last):
        ...
        ValueError: masks must have kernel_size**2 * groups = 3**2 * 2 = 18 channels, got masks (1, 9, 4, 6)
    """
    check_tensor(features, "features", 4, "(N, C, h, w)")
    check_tensor(masks, "masks", 4, "(N, G*k*k, h*s, w*s)")
    check_odd_kernel(kernel_size, "kernel_size")
    check_positive_int(groups, "groups")
    check_positive_int(scale_factor, "scale_factor")
    n, c, h, w = features.shape
    kk = kernel_size * kernel_size
    if masks.shape[0] != n:
        raise ValueError(f"masks must have the batch size of features ({n}), got masks "
                         f"{shape_str(masks)} and features {shape_str(features)}")
    if masks.shape[1] != kk * groups:
        raise ValueError(
            f"masks must have kernel_size**2 * groups = {kernel_size}**2 * {groups} = "
            f"{kk * groups} channels, got masks {shape_str(masks)}")
    want = (h * scale_factor, w * scale_factor)
    if tuple(masks.shape[2:]) != want:
        raise ValueError(
            f"masks must be scale_factor={scale_factor} times the size of features: expected "
            f"spatial size {want[0]}x{want[1]} for features {shape_str(features)}, got masks "
            f"{shape_str(masks)}")
    if c % groups != 0:
        raise ValueError(f"features channels ({c}) must be divisible by groups "
                         f"({groups}); features {shape_str(features)}")
    if masks.device != features.device:
        raise ValueError(f"masks is on {masks.device} but features is on {features.device}")


def carafe_reference(features: torch.Tensor, masks: torch.Tensor, kernel_size: int,
                     groups: int = 1, scale_factor: int = 1) -> torch.Tensor:
    r"""CARAFE written the obvious way (the "HR unfold" form of docs/official_module.md, section 7.2). Memory-hungry.

    Args:
        features: :math:`(N, C, h, w)`.
        masks: :math:`(N, G k^2, h s, w s)` reassembly kernels at output resolution.
        kernel_size: odd ``k``.
        groups: ``G``, channel groups sharing one kernel.
        scale_factor: integer ``s``.

    Returns:
        :math:`(N, C, h s, w s)`.

    Example:
        >>> x = torch.arange(4.).view(1, 1, 2, 2)
        >>> m = torch.zeros(1, 9, 2, 2); _ = m[:, 4].fill_(1)   # identity kernel (centre tap)
        >>> carafe_reference(x, m, 3).equal(x)
        True
    """
    check_carafe_args(features, masks, kernel_size, groups, scale_factor)
    n, c, h, w = features.shape
    k, g, s = kernel_size, groups, scale_factor
    u = F.unfold(features, k, padding=k // 2).view(n, c, k * k, h, w)
    u = u.repeat_interleave(s, dim=3).repeat_interleave(s, dim=4)
    u = u.view(n, g, c // g, k * k, h * s, w * s)
    m = masks.view(n, g, 1, k * k, h * s, w * s).to(u.dtype)
    return (u * m).sum(dim=3).view(n, c, h * s, w * s)


def _in_onnx_export() -> bool:
    # torch.onnx is imported only by code that exports; do not import it for every call
    onnx = sys.modules.get("torch.onnx")
    return onnx is not None and onnx.is_in_onnx_export()


def carafe_taps(features: torch.Tensor, masks: torch.Tensor, kernel_size: int,
                groups: int = 1, scale_factor: int = 1) -> torch.Tensor:
    r"""CARAFE as a loop over the :math:`k^2` taps in plain operators (pad, nearest upsample,
    slice, multiply, add): what :func:`carafe` exports to ONNX, which has no CARAFE operator.

    The input is zero-padded by ``k // 2`` and nearest-upsampled by ``s`` once; tap
    ``(ky, kx)`` of output pixel ``(p, q)`` reads input pixel ``(p // s + ky - k // 2,
    q // s + kx - k // 2)``, which is upsampled pixel ``(p + s ky, q + s kx)``: one slice per
    tap. Memory: the upsampled padded input (``s^2`` times the input) and one product at a time;
    no :math:`C k^2 H W` tensor. Slower than the registered op, and it keeps every tap's product
    for backward: for export, not for training.

    Args and returns: as :func:`carafe` (no backend, no autocast handling).

    Example:
        >>> x, m = torch.randn(1, 4, 3, 5), torch.randn(1, 18, 6, 10)
        >>> torch.allclose(carafe_taps(x, m, 3, 2, 2), carafe_reference(x, m, 3, 2, 2), atol=1e-5)
        True
    """
    check_carafe_args(features, masks, kernel_size, groups, scale_factor)
    n, c, h, w = features.shape
    k, g, s, r = kernel_size, groups, scale_factor, kernel_size // 2
    H, W = h * s, w * s
    x = F.pad(features, (r, r, r, r))
    if s > 1:
        x = F.interpolate(x, scale_factor=s, mode="nearest")
    x = x.reshape(n, g, c // g, x.shape[-2], x.shape[-1])
    m = masks.reshape(n, g, 1, k * k, H, W)
    out = None
    for ky in range(k):
        for kx in range(k):
            term = x[..., s * ky:s * ky + H, s * kx:s * kx + W] * m[:, :, :, ky * k + kx]
            out = term if out is None else out + term
    return out.reshape(n, c, H, W)


def carafe(features: torch.Tensor, masks: torch.Tensor, kernel_size: int,
           groups: int = 1, scale_factor: int = 1) -> torch.Tensor:
    r"""Content-aware reassembly of features (mmcv ``carafe`` semantics), on any device.

    Convention: output pixel :math:`(p_h, p_w)` is
    :math:`\sum_{k_y,k_x} M[g k^2 + k_y k + k_x, p_h, p_w] \cdot X[c, p_h/\!/s + k_y - r, p_w/\!/s + k_x - r]`
    with :math:`r = (k-1)/2`, :math:`g = c /\!/ (C/G)` and zero outside the input.

    Args:
        features: :math:`(N, C, h, w)` input map; any strides.
        masks: :math:`(N, G k^2, h s, w s)` one kernel per output pixel and group (usually the
            output of :func:`kernel_normalizer`).
        kernel_size: odd kernel size ``k``.
        groups: number of channel groups ``G`` sharing one kernel (``C % G == 0``).
        scale_factor: integer upsampling factor ``s`` (1 filters without resizing).

    Returns:
        :math:`(N, C, h s, w s)`, contiguous, in the promoted dtype of ``features`` and
        ``masks``. Gradients of every order with respect to both inputs (CARAFE is bilinear,
        so its derivatives are CARAFE-shaped ops again).

    Raises:
        TypeError: if an input is not a floating-point tensor.
        ValueError: if ``kernel_size`` is even, the mask has the wrong number of channels or the
            wrong size, ``C`` is not divisible by ``groups``, or the tensors are on two devices.
        RuntimeError: if the backend is ``"triton"`` and Triton cannot run on this device.

    Memory (banded backend): only the inputs are saved for backward; forward needs the output
    and one zero-padded, column-repeated copy of the input (``s`` times its size); backward adds
    one band of products (about 1 MiB on the CPU) and the gradients themselves. The Triton
    kernels need nothing but their results.

    Example:
        >>> x = torch.tensor([[[[1., 2.], [3., 4.]]]])
        >>> m = torch.full((1, 9, 4, 4), 1 / 9)          # box filter, upsample x2
        >>> carafe(x, m, 3, 1, 2)[0, 0]
        tensor([[1.1111, 1.1111, 1.1111, 1.1111],
                [1.1111, 1.1111, 1.1111, 1.1111],
                [1.1111, 1.1111, 1.1111, 1.1111],
                [1.1111, 1.1111, 1.1111, 1.1111]])
        >>> x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
        >>> m = torch.randn(1, 9, 6, 6, dtype=torch.float64, requires_grad=True)
        >>> torch.autograd.gradgradcheck(lambda a, b: carafe(a, b, 3, 1, 2), (x, m))
        True
    """
    check_carafe_args(features, masks, kernel_size, groups, scale_factor)
    dtype = torch.promote_types(features.dtype, masks.dtype)
    if _in_onnx_export():  # ONNX has no CARAFE: export the tap loop in standard operators
        return carafe_taps(features.to(dtype), masks.to(dtype), kernel_size, groups,
                           scale_factor)
    if not torch.compiler.is_compiling():  # a backend that cannot run fails before any work
        _carafe_op.resolve_backend(features.device)
    return _carafe_op.carafe_op(features.to(dtype), masks.to(dtype), kernel_size, groups,
                                scale_factor)
