"""The seed's 2-D convolution layer: forward F and back-propagation G on plain NumPy arrays.

Notation (midterm II, question 2): input ``z``, kernel ``w``, output ``x = F(z, w)``, error
``eps = dL/dx``, and ``(delta, g_w) = G(eps, z, w)`` with ``delta = G_delta(eps, w) = dL/dz`` (the
adjoint of F in ``z``) and ``g_w = G_gw(eps, z) = dL/dw`` (the adjoint of F in ``w``). Both are
defined by the dot-product identity ``<F(z, w), eps> = <z, G_delta(eps, w)> = <w, G_gw(eps, z)>``.

Two kinds of convolution; every function takes ``kind=``:

* ``"convolution"`` (the default, the seed's choice): true convolution, kernel flipped. For the
  seed's 3x3 kernel, "valid", stride 1 (so ``k - 1 = 2``), and eps zero outside its 126x126 range::

      F:        x(j1, j2)     = sum_{k1,k2} w(k1, k2) z(j1 + 2 - k1, j2 + 2 - k2)
      G_delta:  delta(n1, n2) = sum_{k1,k2} w(k1, k2) eps(n1 - 2 + k1, n2 - 2 + k2)
      G_gw:     g_w(k1, k2)   = sum_{j1,j2} eps(j1, j2) z(j1 + 2 - k1, j2 + 2 - k2)

  ``F`` is ``scipy.signal.convolve2d(z, w, "valid")``; ``delta`` is eps zero-padded by ``k - 1``
  on each side and correlated with w, ``correlate2d(eps, w, "full")``; ``g_w`` is
  ``correlate2d(z, eps, "valid")`` flipped on both axes.
* ``"correlation"``: what ``torch.nn.functional.conv2d`` computes (cross-correlation)::

      F:        x(j1, j2)     = sum_{k1,k2} w(k1, k2) z(j1 + k1, j2 + k2)
      G_delta:  delta(n1, n2) = sum_{k1,k2} w(k1, k2) eps(n1 - k1, n2 - k2)
      G_gw:     g_w(k1, k2)   = sum_{j1,j2} eps(j1, j2) z(j1 + k1, j2 + k2)

The seed's written solution differs in two places. Its Q2.4 writes ``eps(j1 + k1, j2 + k2)`` and
so drops the ``k - 1 = 2`` offset. Its Q2.5 is the correlation gradient above, which is the flip
``g_w(2 - k1, 2 - k2)`` of the gradient for the convolution it set out to differentiate. The
functions here implement the formulas above, which the tests check against the dot-product
identity, central differences and torch autograd.

In general, with stride ``s``, dilation ``d`` and the zero-padded input ``zp``, the correlation is
``x[n, o, i, j] = sum_{c, a, b} w[o, c, a, b] zp[n, c, s*i + d*a, s*j + d*b]``. True convolution
is that correlation with the kernel flipped on both spatial axes, and ``g_w`` is flipped back.

Arrays are one image ``(H, W)`` with a kernel ``(kh, kw)``, or a batch ``(N, C_in, H, W)`` with
kernels ``(C_out, C_in, kh, kw)`` (PyTorch's NCHW / OIHW), and an optional bias ``(C_out,)``.
``groups=q`` (every function) splits the channels as PyTorch does: kernels
``(C_out, C_in/q, kh, kw)``, group j's outputs see only group j's inputs; the engine runs once per
group on the channel slices (:mod:`.grouped`), and one group is a single engine call.
:func:`conv_transpose_geometry` gives the convolution whose G_delta is a transposed convolution
(``convprop.ops.conv_transpose2d``, ``nn.ConvTranspose2d``).

**Dtypes.** Float arrays are computed in their dtype (float16 in float32; mixed dtypes in NumPy's
result type) and returned in it. Integer and bool arrays are exact: when every array is an
integer one, the work is in float64, which holds every integer below 2**53 and every sum of
them exactly, and the result is int64. Inputs whose sums could reach 2**53 (bounded by
``max|a| max|b|`` times the number of terms of one sum) raise ValueError; ``method="auto"``
takes im2col where it would take fft, and ``method="fft"`` is refused (its rounding is not
exact). An integer array beside a float one takes the float's dtype (float32 at least).

The public functions, in :mod:`.functions`: :func:`conv2d` (F, with an optional bias),
:func:`conv2d_adjoint_input` (G_delta), :func:`conv2d_adjoint_weight` (G_gw, and on request the
bias gradient ``g_b = sum_{n,i,j} eps``), :func:`conv2d_backward` (both G). The autodiff op
``convprop.ops.conv2d`` calls exactly these: F computes the geometry once
(:func:`conv_geometry`, in :mod:`.geometry`, with :func:`conv2d_output_shape` and
:func:`conv2d_padding`) and hands it to G as ``geometry=``; it asks for results in the engine's
memory layout with ``contiguous=False``.

**Engines** (``method=``; each names one code path, a module of :mod:`.engines` and one row of
:data:`ENGINES`; forcing one that cannot compute a geometry raises ValueError):

* ``"direct"``: a product per kernel tap on strided views, no patch matrix;
* ``"im2col"``: the patch matrix ``(C*kh*kw, positions)``, one GEMM per cache-sized block of
  images;
* ``"column_patch"``: stride 1, a patch of the kernel's column taps only, each row tap a GEMM
  on it shifted by whole rows (a ``kh``-th of im2col's patch);
* ``"batch_last"``: im2col with the batch innermost, one GEMM for a batch of small images; its
  results are views of batch-last ``(C, H, W, N)`` memory; it folds the bias into F's GEMM and
  its G_gw reuses the patch F kept;
* ``"shifted_runs"``: one channel in and out, stride 1 (the seed's layer): every tap is a
  shifted run of the whole batch;
* ``"fft"``: products of spectra from ``numpy.fft``, for large kernels;
* ``"numba_direct"``: the seed's formula as compiled loops over runs of positions (Numba, the
  ``fast`` extra), stride 1, for few channels;
* ``"numba_batch_last"``: batch_last with its col2im (a gather, each number written once)
  and its strided packing as compiled loops (Numba);
* ``"numba_batch_direct"``: the formula's loops on batch-last memory in register tiles of
  vectors (:mod:`convprop.simd`), no patch, stride 1 (LeNet's layers) (Numba);
* ``"numba_im2col"``: the patch packed and col2im done by compiled loops around the GEMMs
  (Numba); forcing a compiled engine without Numba raises ImportError naming the extra;
* ``"auto"`` (default): one rule, :func:`choose_method`: the compiled engine measured faster
  where Numba is installed, else the NumPy rule.

Their work arrays, and what F keeps for G, live in one workspace (:mod:`.workspace`, with
:func:`workspace.clear`).
"""

from __future__ import annotations

from . import workspace
from .engines import ENGINES, METHODS
from .functions import (
    choose_method,
    conv2d,
    conv2d_adjoint_input,
    conv2d_adjoint_weight,
    conv2d_backward,
)
from .geometry import (
    KINDS,
    PADDINGS,
    ConvGeometry,
    conv2d_output_shape,
    conv2d_padding,
    conv_geometry,
    conv_transpose_geometry,
)

__all__ = [
    "ENGINES",
    "KINDS",
    "METHODS",
    "PADDINGS",
    "ConvGeometry",
    "choose_method",
    "conv2d",
    "conv2d_adjoint_input",
    "conv2d_adjoint_weight",
    "conv2d_backward",
    "conv2d_output_shape",
    "conv2d_padding",
    "conv_geometry",
    "conv_transpose_geometry",
    "workspace",
]
