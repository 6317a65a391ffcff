"""Engine "fft": the convolution as a product of spectra, for large kernels.

With ``^`` the 2-D DFT of size ``Fh x Fw >= Hp x Wp`` (large enough that no circular wrap
reaches a kept value) and the sums over channels made at each frequency ``f`` (correlation
form)::

    F:        x^[n, o]    = sum_c zp^[n, c] conj(w^[o, c])     then x = x~[s*i, s*j]
    G_delta:  dzp^[n, c]  = sum_o e^[n, o] w^[o, c]            e: eps at (s*i, s*j)
    G_gw:     g_w^[o, c]  = sum_n conj(e^[n, o]) zp^[n, c]     then g_w = g_w~[d*a, d*b]

Speed notes (NumPy 2.4's pocketfft, which keeps float32 as complex64; the large bench row,
8x3x64x64 -> 16, 11x11, 2 cores). Spectra are taken with ``norm="forward"`` and inverted with
``norm="backward"``, one axis at a time: the unscaled transforms (plain ``rfft2`` and
``irfft2``) measured several times slower. The factor ``Fh*Fw`` that each spectrum then lacks
is put back on the kernel's (``F`` times the plain DFT) and on G_gw's product. Zero padding is
written out rather than asked of ``n=``, which measured slow, and the rows past the data are
skipped by the first pass. The kernel's spectrum is taken by numpy.fft too, not by DFT-matrix
GEMMs: any BLAS call leaves the BLAS's threads spinning on the cores the engine's threads
want (F measured 2.8 ms against 1.9). Spectra keep the frequency axis last, so each sum over
channels is one pass of compiled loops over each row of the result (:func:`product_loops`,
where Numba is installed; 0.76 -> 0.3 ms for F's), else a short loop of broadcast
multiply-adds (up to :data:`LOOP_TERMS` terms; a batched GEMM beyond), and the inverse needs
no transposition. Work arrays come from the workspace. Any geometry.

Threads: numpy.fft runs on one thread and releases the GIL. The kernel's spectrum, then F's
and G_delta's work (spectrum, products, inverse) are split over the images of the batch on
:func:`._threads.threads` threads (the BLAS's count); G_gw sums its products per part of the
batch, then adds and inverts them per part of the output channels. The three roles on the
large row, 2 threads against 1: 5.5-5.7 ms against 7.4 on an idle machine; no gain while
another process holds the second core.

Kept spectra: with ``keep`` (the caller will pass this z and geometry to G_gw, as the
autodiff op does), F keeps z's spectrum in the workspace, and G_delta (called by the op
first, with the same eps and ``keep``) eps's; G_gw takes each only when it was kept for this
very z (eps) and geometry object (:func:`convprop.conv.workspace.kept`), and transforms it
otherwise. G_gw on the large row: 0.87 ms with both kept against 2.4 (one thread).
"""

from __future__ import annotations

import numpy as np

from convprop import jit
from convprop.conv import workspace
from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from ._layout import padded
from ._threads import parallel, threads

LOOP_TERMS = 16  # sums over channels of at most this many terms: a loop, not a GEMM
BLOCK_BYTES = 1 << 18  # a loop's sums made a block of rows at a time, the block in cache


def _fast_len(n: int) -> int:
    """The smallest 5-smooth integer >= n (sizes numpy's FFT handles fastest)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def fft_shape(g: ConvGeometry) -> tuple[int, int]:
    return _fast_len(g.hp), _fast_len(g.wp)


def _complex(dtype) -> np.dtype:
    return np.result_type(dtype, np.complex64)


def _frequencies(g: ConvGeometry) -> int:
    fh, fw = fft_shape(g)
    return fh * (fw // 2 + 1)


# ------------------------------------------------------------------ spectra and inverse


def _spectrum(a: np.ndarray, g: ConvGeometry, name: str, out=None) -> np.ndarray:
    """``rfft2(a, s=fft_shape(g)) / (Fh*Fw)`` as ``(A, B, Fh*Fr)``, in scratch memory (or in
    ``out``, C-contiguous ``(A, B, Fh*Fr)``)."""
    fh, fw = fft_shape(g)
    (p, q, rows, cols), fr = a.shape, fw // 2 + 1
    if cols < fw:
        wide = scratch(name + "_real", (p, q, rows, fw), a.dtype)
        wide[..., cols:] = 0
        wide[..., :cols] = a
        a = wide
    if out is None:
        out = scratch(name, (p, q, fh * fr), _complex(a.dtype))
    tall = out.reshape(p, q, fh, fr)
    tall[:, :, rows:] = 0
    # into the first rows of tall: 20% slower than a contiguous out, faster than copying one
    np.fft.rfft(a, axis=-1, norm="forward", out=tall[:, :, :rows])
    np.fft.fft(tall, axis=-2, norm="forward", out=tall)
    return out


def _kernel_spectrum(w: np.ndarray, g: ConvGeometry, conj: bool = False) -> np.ndarray:
    """``Fh*Fw`` times the DFT of the dilated kernel (its conjugate if ``conj``): (O, C, F)
    for ``w`` ``(O, C, kh, kw)``, (C, O, F) for its transposed view.

    The other factor of each product is a :func:`_spectrum` (the DFT over ``Fh*Fw``), so the
    product is the plain one that ``irfft2`` inverts. A :func:`_spectrum` of the kernel scaled
    by ``(Fh*Fw)**2``: numpy.fft, not a GEMM, whose BLAS threads would then spin on the cores
    the engine's threads use (F measured 2.8 ms against 1.9 on the large row).
    """
    fh, fw = fft_shape(g)
    (p, q), ctype = w.shape[:2], _complex(w.dtype)
    if g.dh * g.dw > 1:
        taps = np.zeros((p, q, g.eh, g.ew), w.dtype)
        taps[:, :, :: g.dh, :: g.dw] = w
        w = taps
    scaled = np.multiply(w, float(fh * fw) ** 2, dtype=w.dtype, order="C")
    scaled = scaled.reshape(1, p * q, *scaled.shape[2:])
    spectrum = np.empty((1, p * q, _frequencies(g)), ctype)

    def kernels(_: int, r0: int, r1: int) -> None:  # split over the threads too
        part = _spectrum(scaled[:, r0:r1], g, "kernel", spectrum[:, r0:r1])
        if conj:
            np.conjugate(part, out=part)

    parallel(p * q, kernels, spectrum.size)
    return spectrum.reshape(p, q, -1)


def _inverse(spectrum: np.ndarray, g: ConvGeometry, rows: int) -> np.ndarray:
    """``irfft2`` of an ``(A, B, Fh*Fr)`` spectrum: rows ``:rows`` of ``(A, B, Fh, Fw)``, in
    scratch memory; the spectrum is overwritten."""
    fh, fw = fft_shape(g)
    s = spectrum.reshape(*spectrum.shape[:2], fh, fw // 2 + 1)
    np.fft.ifft(s, axis=-2, norm="backward", out=s)
    out = scratch("inverse", (*s.shape[:2], rows, fw), spectrum.real.dtype)
    return np.fft.irfft(s[:, :, :rows], n=fw, axis=-1, norm="backward", out=out)


def _sum_products(
    a: np.ndarray, b: np.ndarray, out: np.ndarray, conj: bool = False, ki: bool = False
) -> np.ndarray:
    """``out[i, j, f] = sum_k a'[i, k, f] b[k, j, f]`` for spectra ``a (I, K, F)`` (``(K, I,
    F)`` if ``ki``), ``b (K, J, F)``, ``a' = conj(a)`` if ``conj`` else ``a``; all C-contiguous.

    Up to LOOP_TERMS terms: the loops of :func:`product_loops`, compiled where Numba is
    available (one pass over out), else a broadcast multiply-add per k over the contiguous
    frequency axis, a block of i at a time whose sums stay in cache (:data:`BLOCK_BYTES`).
    More terms: a small complex GEMM at every frequency (after transposing both).
    """
    if jit.available() and b.shape[0] <= LOOP_TERMS:
        _product_kernel(a, b, out, conj, ki)
        return out
    if conj:
        a = np.conjugate(a, out=scratch("conj", a.shape, a.dtype))
    if ki:
        a = a.transpose(1, 0, 2)
    (i, k, f), j = a.shape, b.shape[1]
    if k <= LOOP_TERMS:
        rows = max(1, BLOCK_BYTES // (j * f * a.itemsize))
        term = scratch("term", (min(rows, i), j, f), a.dtype)
        for i0 in range(0, i, rows):
            ab, sums = a[i0 : i0 + rows], out[i0 : i0 + rows]
            part = term[: len(ab)]
            np.multiply(ab[:, 0, None], b[None, 0], out=sums)
            for t in range(1, k):
                sums += np.multiply(ab[:, t, None], b[None, t], out=part)
        return out
    per_f = np.matmul(
        np.ascontiguousarray(a.transpose(2, 0, 1)), np.ascontiguousarray(b.transpose(2, 0, 1))
    )  # (F, I, J)
    np.copyto(out, per_f.transpose(1, 2, 0))
    return out


def product_loops(a: np.ndarray, b: np.ndarray, out: np.ndarray, conj: bool, ki: bool) -> None:
    """``out[i, j, :] = sum_k a'[i, k, :] * b[k, j, :]`` as loops (``a' = conj(a)`` if
    ``conj``; ``a[k, i]`` if ``ki``), each row of out summed in place while it stays in the
    first-level cache (on the large row, F's product 0.76 -> 0.3 ms against NumPy's
    broadcast passes)."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            row = out[i, j]
            row[:] = 0
            for k in range(b.shape[0]):
                x, y = a[k, i] if ki else a[i, k], b[k, j]
                if conj:
                    for f in range(row.shape[0]):
                        row[f] += np.conj(x[f]) * y[f]
                else:
                    for f in range(row.shape[0]):
                        row[f] += x[f] * y[f]


_product_kernel = jit.compiled(product_loops, nogil=True)  # nogil: the engine's threads


def _error_spectrum(eps: np.ndarray, g: ConvGeometry, out=None) -> np.ndarray:
    """Spectrum of eps placed at the stride-1 output positions ``(s*i, s*j)``: (N, O, F)."""
    if not g.wide:
        e = np.zeros((len(eps), g.o, (g.ho - 1) * g.sh + 1, (g.wo - 1) * g.sw + 1), eps.dtype)
        e[:, :, :: g.sh, :: g.sw] = eps
        eps = e
    return _spectrum(eps, g, "error", out)


# ------------------------------------------------------------------ F, G_delta, G_gw


def supports(g: ConvGeometry) -> bool:
    """Any geometry."""
    return True


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry, keep: bool = False) -> np.ndarray:
    """F: ``x^[n, o] = sum_c zp^[n, c] conj(w^[o, c])``; then subsample by the stride.

    With ``keep``, z's spectrum stays in the workspace, marked ``(z, g)``, for G_gw."""
    kf = _kernel_spectrum(w.transpose(1, 0, 2, 3), g, conj=True)  # (C, O, F)
    zp, x = padded(z, g), np.empty(g.output_shape, z.dtype)
    key = ("fft_input", g)
    kept = workspace.keep(key, (g.n, g.c, _frequencies(g)), kf.dtype) if keep else None

    def images(_: int, n0: int, n1: int) -> None:
        zf = _spectrum(zp[n0:n1], g, "input", None if kept is None else kept[n0:n1])
        xf = _sum_products(zf, kf, scratch("product", (n1 - n0, g.o, zf.shape[2]), zf.dtype))
        xs = _inverse(xf, g, (g.ho - 1) * g.sh + 1)
        x[n0:n1] = xs[:, :, :: g.sh, : (g.wo - 1) * g.sw + 1 : g.sw]

    parallel(g.n, images, g.n * g.o * kf.shape[2])
    if kept is not None:
        workspace.mark(key, (z, g))
    return x


def adjoint_input(
    eps: np.ndarray, w: np.ndarray, g: ConvGeometry, keep: bool = False
) -> np.ndarray:
    """G_delta: ``dzp^ = sum_o e^ w^``, a circular convolution.

    With ``keep`` (G_gw follows with this eps and g), eps's spectrum stays in the workspace,
    marked ``(eps, g)``."""
    kf = _kernel_spectrum(w, g)  # (O, C, F)
    delta = np.empty(g.input_shape, eps.dtype)
    key = ("fft_error", g)
    kept = workspace.keep(key, (g.n, g.o, _frequencies(g)), kf.dtype) if keep else None

    def images(_: int, n0: int, n1: int) -> None:
        ef = _error_spectrum(eps[n0:n1], g, None if kept is None else kept[n0:n1])
        df = _sum_products(ef, kf, scratch("product", (n1 - n0, g.c, ef.shape[2]), ef.dtype))
        dp = _inverse(df, g, g.hp)
        delta[n0:n1] = dp[:, :, g.pt : g.pt + g.h, g.pl : g.pl + g.w]

    parallel(g.n, images, g.n * g.o * kf.shape[2])
    if kept is not None:
        workspace.mark(key, (eps, g))
    return delta


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w^ = sum_n conj(e^) zp^``, a circular correlation: the sums over the batch
    made per block of images, then added and inverted per block of output channels.

    Reads z's and eps's spectra where F and G_delta kept them for this z, eps and g."""
    fh, fw = fft_shape(g)
    zs = workspace.kept(("fft_input", g), (z, g))
    es = workspace.kept(("fft_error", g), (eps, g))
    zp = padded(z, g) if zs is None else None
    ctype, freqs = _complex(np.result_type(eps, z)), _frequencies(g)
    parts = scratch("fft_parts", (max(1, min(g.n, threads())), g.o, g.c, freqs), ctype)

    def images(part: int, n0: int, n1: int) -> None:
        ef = _error_spectrum(eps[n0:n1], g) if es is None else es[n0:n1]
        zf = _spectrum(zp[n0:n1], g, "input") if zs is None else zs[n0:n1]
        _sum_products(ef, zf, parts[part], conj=True, ki=True)

    used = parallel(g.n, images, g.n * g.o * freqs, parts=len(parts))
    g_w = np.empty(g.kernel_shape, np.result_type(eps, z))

    def channels(_: int, o0: int, o1: int) -> None:
        gf = scratch("weight_spectrum", (o1 - o0, g.c, freqs), ctype)
        np.add.reduce(parts[:used, o0:o1], axis=0, out=gf)
        gf *= float(fh * fw) ** 2  # both factors are DFTs over Fh*Fw
        g_w[o0:o1] = _inverse(gf, g, g.eh)[:, :, :: g.dh, : g.ew : g.dw]

    parallel(g.o, channels, g.o * g.c * freqs)
    return g_w
