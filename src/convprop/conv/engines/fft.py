"""Engine "fft": the convolution as a product of spectra, for large kernels.

With ``^`` the 2-D DFT of size ``Fh x Fw >= Hp x Wp`` (large enough that no circular wrap
reaches a kept value) and the sums over channels made at each frequency ``f`` (correlation
form)::

    F:        x^[n, o]    = sum_c zp^[n, c] conj(w^[o, c])     then x = x~[s*i, s*j]
    G_delta:  dzp^[n, c]  = sum_o e^[n, o] w^[o, c]            e: eps at (s*i, s*j)
    G_gw:     g_w^[o, c]  = sum_n conj(e^[n, o]) zp^[n, c]     then g_w = g_w~[d*a, d*b]

Speed notes (NumPy 2.4's pocketfft). Spectra are taken with ``norm="forward"`` and inverted
with ``norm="backward"``, one axis at a time: the unscaled transforms (plain ``rfft2`` and
``irfft2``) measured several times slower. The factor ``Fh*Fw`` that each spectrum then lacks
is put back on the kernel's (``F`` times the plain DFT) and on G_gw's product. Zero padding is
written out rather than asked of ``n=``, which measured slow, and the rows past the data are
skipped by the first pass. The kernel, a few taps, is transformed by two small DFT matrix
products instead. Spectra keep the frequency axis last, so each sum over channels is a short
loop of broadcast multiply-adds (up to :data:`LOOP_TERMS` terms; a batched GEMM beyond) and
the inverse needs no transposition. Work arrays come from the workspace. Any geometry.
"""

from __future__ import annotations

import numpy as np

from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from ._layout import crop, padded

LOOP_TERMS = 16  # sums over channels of at most this many terms: a loop, not a GEMM


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


# ------------------------------------------------------------------ spectra and inverse


def _spectrum(a: np.ndarray, g: ConvGeometry, name: str) -> np.ndarray:
    """``rfft2(a, s=fft_shape(g)) / (Fh*Fw)`` as ``(A, B, Fh*Fr)``, in scratch memory."""
    fh, fw = fft_shape(g)
    (p, q, rows, cols), fr = a.shape, fw // 2 + 1
    if cols < fw:
        wide = scratch(name + "_real", (p, q, rows, fw), a.dtype)
        wide[..., cols:] = 0
        wide[..., :cols] = a
        a = wide
    short = scratch(name + "_short", (p, q, rows, fr), _complex(a.dtype))
    np.fft.rfft(a, axis=-1, norm="forward", out=short)  # a contiguous out: twice as fast
    tall = scratch(name, (p, q, fh, fr), short.dtype)
    tall[:, :, rows:] = 0
    tall[:, :, :rows] = short
    np.fft.fft(tall, axis=-2, norm="forward", out=tall)
    return tall.reshape(p, q, -1)


def _kernel_spectrum(w: np.ndarray, g: ConvGeometry, conj: bool = False) -> np.ndarray:
    """``Fh*Fw`` times the DFT of the dilated kernel (its conjugate if ``conj``), (O, C, F).

    The other factor of each product is a :func:`_spectrum` (the DFT over ``Fh*Fw``), so the
    product is the plain one that ``irfft2`` inverts. Computed as ``Fh_mat @ w @ Fw_mat``,
    the DFT matrices restricted to the kernel's taps ``d*a`` and ``d*b``.
    """
    fh, fw = fft_shape(g)
    ctype, sign = _complex(w.dtype), 1 if conj else -1
    turn = sign * 2j * np.pi
    rows = np.exp(turn * np.outer(np.arange(fh), g.dh * np.arange(g.kh)) / fh)  # (Fh, kh)
    cols = np.exp(turn * np.outer(g.dw * np.arange(g.kw), np.arange(fw // 2 + 1)) / fw)
    half = w.reshape(-1, g.kw) @ (cols * (fh * fw)).astype(ctype)  # (O*C*kh, Fr)
    full = np.matmul(rows.astype(ctype), half.reshape(g.o * g.c, g.kh, -1))  # (O*C, Fh, Fr)
    return full.reshape(g.o, g.c, -1)


def _inverse(spectrum: np.ndarray, g: ConvGeometry, rows: int) -> np.ndarray:
    """``irfft2`` of an ``(A, B, Fh*Fr)`` spectrum: rows ``:rows`` of ``(A, B, Fh, Fw)``."""
    fh, fw = fft_shape(g)
    s = spectrum.reshape(*spectrum.shape[:2], fh, fw // 2 + 1)
    np.fft.ifft(s, axis=-2, norm="backward", out=s)
    out = scratch("inverse", (*s.shape[:2], rows, fw), spectrum.real.dtype)
    return np.fft.irfft(s[:, :, :rows], n=fw, axis=-1, norm="backward", out=out)


def _sum_products(a: np.ndarray, b: np.ndarray, name: str) -> np.ndarray:
    """``out[i, j, f] = sum_k a[i, k, f] b[k, j, f]`` for spectra ``a (I, K, F)``, ``b (K, J, F)``.

    Up to LOOP_TERMS terms, one broadcast multiply-add per k over the contiguous frequency
    axis; more, a small complex GEMM at every frequency (after transposing both).
    """
    (i, k, f), j = a.shape, b.shape[1]
    out = scratch(name, (i, j, f), a.dtype)
    if k <= LOOP_TERMS:
        term = scratch("term", (i, j, f), a.dtype)
        np.multiply(a[:, 0, None], b[None, 0], out=out)
        for t in range(1, k):
            out += np.multiply(a[:, t, None], b[None, t], out=term)
        return out
    per_f = np.matmul(
        np.ascontiguousarray(a.transpose(2, 0, 1)), np.ascontiguousarray(b.transpose(2, 0, 1))
    )  # (F, I, J)
    np.copyto(out, per_f.transpose(1, 2, 0))
    return out


def _error_spectrum(eps: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """Spectrum of eps placed at the stride-1 output positions ``(s*i, s*j)``: (N, O, F)."""
    if not g.wide:
        e = np.zeros((g.n, g.o, (g.ho - 1) * g.sh + 1, (g.wo - 1) * g.sw + 1), eps.dtype)
        e[:, :, :: g.sh, :: g.sw] = eps
        eps = e
    return _spectrum(eps, g, "error")


# ------------------------------------------------------------------ F, G_delta, G_gw


def supports(g: ConvGeometry) -> bool:
    """Any geometry."""
    return True


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``x^[n, o] = sum_c zp^[n, c] conj(w^[o, c])``; then subsample by the stride."""
    kf = _kernel_spectrum(w, g, conj=True).transpose(1, 0, 2)  # (C, O, F)
    xf = _sum_products(_spectrum(padded(z, g), g, "input"), kf, "product")
    x = _inverse(xf, g, (g.ho - 1) * g.sh + 1)
    return x[:, :, :: g.sh, : (g.wo - 1) * g.sw + 1 : g.sw].astype(z.dtype)


def _delta(ef: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """delta from eps's spectrum (N, O, F): ``dzp^[n, c] = sum_o e^[n, o] w^[o, c]``."""
    df = _sum_products(ef, _kernel_spectrum(w, g), "product")
    return crop(_inverse(df, g, g.hp), g).astype(ef.real.dtype, copy=False)


def _g_w(ef: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """g_w from eps's spectrum (N, O, F): ``g_w^[o, c] = sum_n conj(e^[n, o]) zp^[n, c]``."""
    fh, fw = fft_shape(g)
    eh = np.conjugate(ef, out=scratch("error_conj", ef.shape, ef.dtype)).transpose(1, 0, 2)
    gf = _sum_products(eh, _spectrum(padded(z, g), g, "input"), "product")  # (O, C, F)
    gf *= float(fh * fw) ** 2  # both factors are DFTs over Fh*Fw
    g_w = _inverse(gf, g, g.eh)[:, :, :: g.dh, : g.ew : g.dw]
    return g_w.astype(ef.real.dtype)


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: ``dzp^ = sum_o e^ w^``, a circular convolution."""
    return _delta(_error_spectrum(eps, g), w, g)


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w^ = sum_n conj(e^) zp^``, a circular correlation."""
    return _g_w(_error_spectrum(eps, g), z, g)
