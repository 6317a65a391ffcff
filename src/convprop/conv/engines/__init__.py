"""The engine table: every way convprop computes F, G_delta and G_gw, one row each.

An engine is a module with ``supports(g)``, ``forward(z, w, g)``, ``adjoint_input(eps, w, g)``
and ``adjoint_weight(eps, z, g)``, all on 4-D arrays of one float dtype in the correlation form
(the kernel already flipped for true convolution). An engine that adds a bias inside its
forward, or gets the bias gradient from its G_gw, takes ``b`` and ``with_bias`` itself, and
``keep`` (the caller will call G_gw with this z, or eps, and geometry: work may be kept for
it) (``batch_last``); the others are given them by :func:`_plain` (``keep`` passed on to an
engine whose F and G_delta take it: the Winograd engines and fft). A new engine is one module and
one row of :data:`ENGINES`; ``method="auto"`` picks by :func:`auto_method`, the one rule.

The ``numba_*`` rows are compiled (Numba, the ``fast`` extra, through :mod:`convprop.jit`):
without Numba ``auto`` never picks them and forcing one raises ImportError naming the extra.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from convprop import jit
from convprop.conv.geometry import ConvGeometry

from . import (
    batch_last,
    column_patch,
    direct,
    fft,
    im2col,
    numba_batch_direct,
    numba_batch_last,
    numba_direct,
    numba_im2col,
    numba_tiled,
    numba_winograd,
    shifted_runs,
    winograd,
)


class Engine(NamedTuple):
    """One row of the table: the engine's F, G_delta, G_gw and what it can compute."""

    supports: Callable[[ConvGeometry], bool]
    forward: Callable[..., np.ndarray]  # (z, w, g, b, keep) -> x = z (star) w + b, b may be None
    adjoint_input: Callable[..., np.ndarray]  # (eps, w, g) -> delta
    adjoint_weight: Callable[..., tuple]  # (eps, z, g, with_bias) -> (g_w, g_b or None)
    summary: str
    compiled: bool = False  # needs Numba (jit.available())
    exact: bool = True  # sums of products only: exact on integers (float64, under 2**53)


def _plain(
    engine, summary: str, compiled: bool = False, keeps: bool = False, exact: bool = True
) -> Engine:
    """The row of an engine that knows nothing of the bias: added after F, summed for G;
    ``keeps``: its F and G_delta take ``keep``; ``exact``: see :class:`Engine`."""

    def forward(z, w, g, b=None, keep=False):
        x = engine.forward(z, w, g, keep=keep) if keeps else engine.forward(z, w, g)
        if b is not None:
            x += b.reshape(-1, 1, 1)
        return x

    def adjoint_input(eps, w, g, keep=False):
        if keeps:
            return engine.adjoint_input(eps, w, g, keep=keep)
        return engine.adjoint_input(eps, w, g)

    def adjoint_weight(eps, z, g, with_bias=False):
        g_b = np.einsum("nohw->o", eps) if with_bias else None
        return engine.adjoint_weight(eps, z, g), g_b

    return Engine(
        engine.supports, forward, adjoint_input, adjoint_weight, summary, compiled, exact
    )


def _own_bias(module, summary: str, compiled: bool = False) -> Engine:
    """The row of an engine that handles the bias and ``keep`` of F itself (batch-last)."""

    def adjoint_input(eps, w, g, keep=False):
        return module.adjoint_input(eps, w, g)

    return Engine(
        module.supports, module.forward, adjoint_input, module.adjoint_weight, summary, compiled
    )


ENGINES: dict[str, Engine] = {
    "direct": _plain(direct, "a product per kernel tap, no patch matrix"),
    "im2col": _plain(im2col, "the patch matrix, one GEMM per block of images (image-major)"),
    "column_patch": _plain(
        column_patch,
        "a patch of the column taps; each row tap one GEMM on it shifted by rows (stride 1)",
    ),
    "batch_last": _own_bias(
        batch_last, "the patch matrix with the batch innermost, one GEMM per batch (small images)"
    ),
    "shifted_runs": _plain(
        shifted_runs, "one channel in and out, stride 1: taps as shifted runs of the batch"
    ),
    "fft": _plain(
        fft, "products of spectra (numpy.fft), for large kernels", keeps=True, exact=False
    ),
    "winograd": _plain(
        winograd,
        "Winograd's F(4x4, 3x3): 36 GEMMs between tile transforms (3x3, stride 1)",
        keeps=True,
        exact=False,  # G's 1/6 and 1/24 round
    ),
    "numba_direct": _plain(
        numba_direct,
        "compiled loops of the seed's formula, row by row (Numba; few channels)",
        compiled=True,
    ),
    "numba_batch_last": _own_bias(
        numba_batch_last,
        "batch_last with its patch packing and col2im as compiled loops (Numba)",
        compiled=True,
    ),
    "numba_batch_direct": _own_bias(
        numba_batch_direct,
        "compiled loops of the formula on batch-last memory, no patch (Numba; few channels)",
        compiled=True,
    ),
    "numba_tiled": _plain(
        numba_tiled,
        "compiled loops of the seed's formula over register tiles of 8 channels (Numba)",
        compiled=True,
    ),
    "numba_im2col": _plain(
        numba_im2col,
        "a compiled patch packing and col2im around one GEMM per block (Numba)",
        compiled=True,
    ),
    "numba_winograd": _plain(
        numba_winograd,
        "winograd with its tile transforms as compiled loops (Numba; 3x3, stride 1)",
        compiled=True,
        keeps=True,
        exact=False,
    ),
}
METHODS = ("auto", *ENGINES)
TILED_POSITIONS = 144  # positions per plane from which numba_tiled takes small images
FFT_TAPS = 81  # kernels of more taps with 9 or more channels in and out: fft, not numba_tiled
WINOGRAD_CHANNELS = 32  # channels in and out from which numba_winograd is picked (3x3)
WINOGRAD_NUMPY_CHANNELS = 64  # from which winograd is, without Numba
DIRECT_BATCH = 16  # images from which numba_batch_direct is picked (a vector's lanes)


def auto_method(g: ConvGeometry) -> str:
    """The engine ``method="auto"`` uses on geometry ``g``, the same for F, G_delta and G_gw:
    the compiled engine measured fastest here (:func:`compiled_method`) where Numba is
    available and one is, else the NumPy engine of :func:`numpy_method`."""
    return compiled_method(g) or numpy_method(g)


def compiled_method(g: ConvGeometry) -> str | None:
    """The compiled engine for ``g`` where one measured faster than the NumPy engines, else
    None (and None without Numba).

    Measured per role on the bench's conv rows and in the LeNet-5 step (float32, 2 cores,
    interleaved, best of several rounds; ``docs/performance.md``), in the order tried:

    * one channel in and out (the seed's layer), stride 1 along the rows: numba_direct, the
      formula's loops with no patch at all;
    * a 3x3 kernel, stride 1, dilation 1, 32 or more channels in and out
      (:data:`WINOGRAD_CHANNELS`, :func:`winograd_pays`): numba_winograd, Winograd's F(4x4,
      3x3), whose GEMMs do a quarter of the direct products, also on batches of small images
      (16x64x8x8 F+G 1.65 ms against numba_batch_last's 1.89). F+G as the autodiff calls
      them: the wide row 22.5 ms against numba_tiled's 25.6 (7.8 + 7.8 + 10.1 per role),
      128x32x14x14 7.7 against 9.1; 128x64x7x7 11.4 against column_patch's 20.1. The ResNet-8
      training step (batch 128, 1x28x28: its 32- and 64-channel stages) 228-234 ms against
      242-244 without it (before numba_tiled's register tiles);
    * stride 1 where :func:`tiled_pays`: numba_tiled, the formula's loops over register
      tiles of 8 channels by 48 positions (:mod:`convprop.simd`), at 65-80% of the matmul
      peak on 2 threads. F+G as the autodiff calls them, 2 threads, best of 3 rounds (ms,
      numba_tiled against the earlier pick): the resnet row 2.8 against 4.6 (its tiles of 4
      channels by 32 positions), ResNet-8's stem 128x1x28x28 -> 16 0.99 against
      numba_batch_direct's 5.2 (the ResNet-8 training step, batch 128, 174 -> 138 ms),
      64x16x14x14 -> 32 2.2 against 2.6, 32x24x16x16 -> 24 1.2 against numba_batch_last's
      4.1, 1x1 kernels 16x128x16x16 -> 128 2.4 against 5.5, 32x64x32x32 -> 64 5x5 83 against
      column_patch's 199, the large row 3.2 against fft's 4.0, 8x32x32x32 -> 32 9x9 9.6
      against 14.9, 4x64x32x32 -> 64 8x8 19 against 65;
    * a stride over 1, a kernel larger than 1x1 and 16 or more images (a vector's lanes):
      numba_batch_direct, the formula's loops on batch-last memory in register tiles of up
      to 24 vectors of images (:mod:`convprop.simd`), no patch, the strides built into the
      compiled loops (F+G: the transposed convolution's k4 s2 layer 1.02 ms against
      numba_batch_last's 1.78; ResNet-8's downsampling 128x16x28x28 -> 32 3x3 s2 12.5 against
      im2col's 20.1 and 128x32x14x14 -> 64 7.0 against numba_batch_last's 8.3, the ResNet-8
      training step 145 -> 129 ms; 16x3x224x224 -> 64 7x7 s2 165 against im2col's 172,
      32x64x56x56 -> 128 3x3 s2 112 against 141; a strided 1x1 kernel slower, 128x16x28x28
      -> 32 7.1 against numba_batch_last's 6.2);
    * where the NumPy rule picks batch_last (a batch of small images, :func:`small_images`):
      at stride 1 with 16 or more images numba_batch_direct again (the LeNet-5 step 3.76-3.89
      -> 2.59-2.68 ms with both of LeNet's layers on it, 2 BLAS threads, interleaved; LeNet-2
      F+G at the public functions 2.02-2.25 -> 0.96-1.18 ms, PyTorch 0.98-1.00 in the same
      rounds; against numba_batch_last with many patch rows, ``C*kh*kw``, once bounded at 160:
      64x32x10x10 -> 16 1.33 ms against 3.94, 32x64x6x6 -> 64 1.39 against 2.75,
      16x128x4x4 -> 64 0.81 against 1.39, 32x256x2x2 -> 256 3.5 against 7.1), else (under 16
      images, 8x128x4x4: 1.50 against 1.53) numba_batch_last, the same GEMMs with a compiled
      col2im and strided packing (the LeNet-5 step with both of LeNet's layers on it 4.36 ->
      4.02 ms against both on im2col);
    * otherwise None: the BLAS engines of :func:`numpy_method`.
    """
    if not jit.available():
        return None
    if g.c == g.o == 1 and ENGINES["numba_direct"].supports(g):
        return "numba_direct"
    if winograd_pays(g, WINOGRAD_CHANNELS):
        return "numba_winograd"
    if tiled_pays(g):
        return "numba_tiled"
    if not g.wide and g.n >= DIRECT_BATCH and g.kh * g.kw > 1:
        return "numba_batch_direct"
    if numpy_method(g) == "batch_last":
        direct = g.wide and g.n >= DIRECT_BATCH
        return "numba_batch_direct" if direct else "numba_batch_last"
    return None


def tiled_pays(g: ConvGeometry) -> bool:
    """Stride 1, except (measured, F+G, 2 threads):

    * a kernel of more than :data:`FFT_TAPS` taps with more than 8 channels in and out, where
      fft's products cost less (8x16x64x64 -> 16, 11x11: 10.1 ms against numba_tiled's 14.9;
      with 3 channels in, the large row, numba_tiled is faster, 3.2 against 4.0);
    * a batch of small images (:func:`numpy_method` picks batch_last) unless the kernel is
      3x3 or smaller on planes of :data:`TILED_POSITIONS` or more positions (``Ho*Wp``): a
      tile spans 48 positions and each image starts its own, so small planes waste them
      (64x16x10x10 -> 16 0.87 ms against numba_batch_direct's 0.72, 12x12 1.02 against
      1.23; 32x256x2x2 64 against 3.5), and LeNet's 5x5 layers keep their batch-last chain
      (the LeNet-5 step 2.0 ms, 2.8 with its first layer on numba_tiled though that layer
      alone is faster on it, 0.36 against 0.89: the layouts converted in between).
    """
    if not g.wide or (g.kh * g.kw > FFT_TAPS and min(g.c, g.o) > 8):
        return False
    if numpy_method(g) == "batch_last":
        return g.kh * g.kw <= 9 and g.ho * g.wp >= TILED_POSITIONS
    return True


def winograd_pays(g: ConvGeometry, channels: int) -> bool:
    """A 3x3 kernel at stride 1 and dilation 1, ``channels`` or more in and out, and output
    planes of 7x7 or more (on 4x4 planes, one tile each, numba_winograd measured slower than
    numba_batch_last: 8x128x4x4 F+G 2.11 ms against 1.31)."""
    return winograd.supports(g) and min(g.c, g.o) >= channels and min(g.ho, g.wo) >= 7


def small_images(g: ConvGeometry) -> bool:
    """A batch of 4 or more small images (``Ho * Wp <= 1024``) whose whole patch is one
    block of the batch-last engines (:data:`batch_last.BATCH_BYTES`)."""
    one_block = g.c * g.kh * g.kw * g.ho * g.wo * g.n * 4 <= batch_last.BATCH_BYTES  # float32
    return g.n >= 4 and g.ho * g.wp <= 1024 and one_block


def numpy_method(g: ConvGeometry) -> str:
    """The NumPy engine for geometry ``g`` (the rule without Numba).

    Calibrated on the engine table of ``convprop bench`` (float32, 2 cores, each engine forced
    in turn on each row and role) and the kernel sweep of ``convprop.bench.scaling``:

    * stride 1 and a kernel of 64 taps or more (8x8 and up): fft, whose cost grows with the
      image and not with the kernel (11x11 on 8x3x64x64, the bench's engine table, 2
      threads: F 1.85 ms, G_delta 1.78, G_gw 1.92 against im2col's 5.49, 6.13, 5.54, with
      its work split over the BLAS's threads and compiled sums where Numba is there; before
      those, F and G_gw about even with im2col, G_delta half of it);
    * one channel in and out, stride 1 (the seed's layer): shifted_runs;
    * a batch of small images, the whole batch's patch in one block (:func:`small_images`):
      batch_last, whose one GEMM is then large enough to run the BLAS well (LeNet-2: 2.1 ms
      F+G against im2col's 2.9), and whose batch-last results feed the pool and the next
      layer without a transpose: LeNet's first layer (25 patch rows) is slower alone at the
      public functions, which return NCHW copies (F+G 3.2 ms against im2col's 2.3), but the
      LeNet-5 step is faster with it (4.78 -> 4.54 ms, 2 threads, interleaved). Over several
      blocks (the resnet row's 29 MB of patch) im2col's one GEMM per block is faster (15 ms
      against 24);
    * a 3x3 kernel, stride 1 and dilation 1, 64 or more channels in and out
      (:data:`WINOGRAD_NUMPY_CHANNELS`): winograd, Winograd's F(4x4, 3x3) (F+G as the autodiff
      calls them, without Numba, 2 BLAS threads, a busy machine: the wide row 56.0 ms against
      column_patch's 63.1; 128x64x7x7 13.4 against 18.2; 16x128x16x16 20.4 against 26.5; at
      32 channels even on 16x16 images, 10.9 against 11.0, and slower on 14x14, 32.6 against
      20.5);
    * stride 1 with 48 or more patch rows per row tap (``C*kw``): column_patch, a third of
      im2col's patch for a 3x3 kernel (resnet row F+G 15.5 -> 13.0 ms; wide 60.9 -> 59.5,
      2 threads, interleaved);
    * otherwise im2col.
    """
    if g.wide and g.kh * g.kw >= 64:
        return "fft"
    if g.c == g.o == 1 and g.wide:
        return "shifted_runs"
    if small_images(g):
        return "batch_last"
    if winograd_pays(g, WINOGRAD_NUMPY_CHANNELS):
        return "winograd"
    if g.wide and g.c * g.kw >= 48:
        return "column_patch"
    return "im2col"


def engine_for(method: str, g: ConvGeometry) -> Engine:
    """The engine ``method`` names for geometry ``g``: ValueError (one line) if there is no
    such engine or it cannot compute this geometry."""
    if method == "auto":
        return ENGINES[auto_method(g)]
    engine = ENGINES.get(method)
    if engine is None:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if engine.compiled and not jit.available():
        raise ImportError(f"method {method!r} is compiled: {jit.MISSING}")
    if not engine.supports(g):
        raise ValueError(
            f"method {method!r} cannot compute this convolution: it needs "
            f"{engine.supports.__doc__.strip().rstrip('.').lower()}, got C_in={g.c}, "
            f"C_out={g.o}, stride {(g.sh, g.sw)}"
        )
    return engine
