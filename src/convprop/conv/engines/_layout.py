"""Memory layouts shared by the image-major engines: padded images, tap windows, positions.

Images stay image-major, as NCHW gives them: image ``n`` of the zero-padded batch is ``C`` planes
of ``Hp x Wp`` elements, one after another, so each image is one GEMM operand and nothing is
transposed (``direct``, ``im2col``, ``shifted_runs`` and ``fft``; ``batch_last`` has its own).

**Wide positions** (stride 1). An output position ``(i, j)`` is the flat offset ``q = i*Wp + j``
into a padded plane, and tap ``(a, b)`` of the kernel reads the plane at ``q + a*d*Wp + b*d``:
for every tap, all positions of a plane are one contiguous run, so a tap is a plain view and
a patch row a plain copy. The columns ``j >= Wo`` of each row are junk, computed and dropped
(``kw - 1`` of ``Wp`` columns); the last ``ew - 1`` positions of a plane are junk too and are not
computed, which keeps every read inside its own plane. **Exact positions** (stride > 1) are
``(Ho, Wo)`` with strides ``(s*Wp, s)``.

**Blocks.** ``direct`` and ``im2col`` walk the batch in blocks of images whose patch matrix fits
in the cache (:data:`BLOCK_BYTES`; for the large images they serve, one image per block): the copy
into the patch and the GEMM that reads it then meet in cache rather than in main memory (the
wide layer's F: 40 ms for the whole batch's patch at once, 26 ms image by image). This is a
loop over blocks of whole images, not over pixels, and it exists only for the cache.

Work arrays come from :func:`convprop.conv.workspace.scratch`; nothing from there is ever
returned to a caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import prod

import numpy as np

from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

BLOCK_BYTES = 1 << 20  # patch bytes per block of images: about one core's L2 and a half

# ------------------------------------------------------------------ positions and blocks


def positions(g: ConvGeometry) -> tuple[int, ...]:
    """Shape of the output positions of one plane: ``(m,)`` wide, ``(Ho, Wo)`` exact."""
    if g.wide:
        return (g.ho * g.wp - (g.ew - 1),)
    return (g.ho, g.wo)


def full_positions(g: ConvGeometry) -> tuple[int, ...]:
    """Positions including the junk tail, so that a buffer reshapes to ``(Ho, Wp)`` rows."""
    return (g.ho * g.wp,) if g.wide else (g.ho, g.wo)


def blocks(n: int, bytes_per_image: int) -> Iterator[tuple[int, int]]:
    """``(n0, nb)``: blocks of whole images whose work arrays hold about :data:`BLOCK_BYTES`."""
    nb = max(1, min(n, BLOCK_BYTES // max(1, bytes_per_image)))
    for n0 in range(0, n, nb):
        yield n0, min(nb, n - n0)


# ------------------------------------------------------------------ padded planes


def padded(z: np.ndarray, g: ConvGeometry, name: str = "padded") -> np.ndarray:
    """z zero-padded, image-major ``(N, C, Hp, Wp)``, C-contiguous; z itself when unpadded."""
    if not g.padded and z.flags.c_contiguous:
        return z
    zp = scratch(name, (g.n, g.c, g.hp, g.wp), z.dtype)
    _zero_border(zp, g)
    zp[:, :, g.pt : g.pt + g.h, g.pl : g.pl + g.w] = z
    return zp


def _zero_border(zp: np.ndarray, g: ConvGeometry) -> None:
    rows = slice(g.pt, g.pt + g.h)
    for part in (
        zp[:, :, : g.pt],
        zp[:, :, g.pt + g.h :],
        zp[:, :, rows, : g.pl],
        zp[:, :, rows, g.pl + g.w :],
    ):
        if part.size:
            part.fill(0)


def crop(dp: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """A fresh ``(N, C, H, W)`` array from padded planes ``(N, C, Hp, Wp)``."""
    return dp[:, :, g.pt : g.pt + g.h, g.pl : g.pl + g.w].copy()


def windows(
    zp: np.ndarray, g: ConvGeometry, n0: int, nb: int, *, start: int = 0, count: int | None = None
) -> np.ndarray:
    """View of tap ``(a, b)`` at every output position: ``(nb, C, kh, kw, *positions)``.

    ``zp`` is C-contiguous ``(N, C, ...)``: planes of rows of ``Wp`` (a padded input, or eps
    placed for G_delta). Wide positions are ``count`` flat offsets (default
    :func:`positions`) from ``start`` in each plane. Writable; one tap's positions never overlap.
    """
    item = zp.itemsize
    channels, plane = zp.shape[1], prod(zp.shape[2:])
    lead = (nb, channels, g.kh, g.kw)
    taps = (channels * plane * item, plane * item, g.dh * g.wp * item, g.dw * item)
    if g.wide:
        pos, pos_strides = (positions(g)[0] if count is None else count,), (item,)
    else:
        pos, pos_strides = (g.ho, g.wo), (g.sh * g.wp * item, g.sw * item)
    # as_strided, but faster; numpy checks the view against zp's own extent.
    return np.ndarray(
        (*lead, *pos),
        zp.dtype,
        buffer=zp.reshape(-1),
        offset=(n0 * channels * plane + start) * item,
        strides=(*taps, *pos_strides),
    )


def narrow(out: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """``(nb, O, *full_positions)`` -> a ``(nb, O, Ho, Wo)`` view without the junk."""
    if g.wide:
        return out.reshape(*out.shape[:2], g.ho, g.wp)[..., : g.wo]
    return out.reshape(*out.shape[:2], g.ho, g.wo)


def wide_eps(eps: np.ndarray, g: ConvGeometry, n0: int, nb: int, name: str = "eps") -> np.ndarray:
    """eps of images n0.. on the output positions, ``(nb, O, *positions)``, zero at junk."""
    if not g.wide:
        return eps[n0 : n0 + nb].reshape(nb, g.o, g.ho, g.wo)
    e = scratch(name, (nb, g.o, g.ho, g.wp), eps.dtype)
    e[..., g.wo :] = 0
    e[..., : g.wo] = eps[n0 : n0 + nb]
    return e.reshape(nb, g.o, -1)[..., : positions(g)[0]]


def eps_lead(g: ConvGeometry) -> int:
    """``off(kh-1, kw-1) = (kh-1)*d*Wp + (kw-1)*d``: the zeros before eps when G_delta is F
    again, a correlation of eps with the kernel flipped and transposed (stride 1)."""
    return (g.kh - 1) * g.dh * g.wp + (g.kw - 1) * g.dw


def placed_eps(eps: np.ndarray, g: ConvGeometry, n0: int, nb: int) -> np.ndarray:
    """eps of images n0.. for that correlation, ``el`` ``(nb, O, lead + Hp*Wp)``: after
    ``lead = eps_lead(g)`` zeros, eps's rows on rows of ``Wp``, zero at the junk columns and
    after its last row, so that no position reads across a row or an image (JAX's transpose
    rule). G_delta's positions are then the rows ``pt .. pt + H`` of the padded grid, at
    ``q + off(a, b)`` from ``start = pt*Wp``."""
    lead = eps_lead(g)
    el = scratch("eps_lead", (nb, g.o, lead + g.hp * g.wp), eps.dtype)
    el[..., :lead] = 0
    el[..., lead + g.ho * g.wp :] = 0
    rows = el[..., lead : lead + g.ho * g.wp].reshape(nb, g.o, g.ho, g.wp)
    rows[..., g.wo :] = 0
    rows[..., : g.wo] = eps[n0 : n0 + nb]
    return el
