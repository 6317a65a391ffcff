"""Engine "winograd": a 3x3 kernel, stride 1, by Winograd's minimal filtering F(4x4, 3x3).

The seed's F, ``x(j) = sum_k w(k) z(j + 2 - k)``, costs 9 products an output. Winograd's
minimal filtering algorithm (Lavin and Gray, "Fast Algorithms for Convolutional Neural
Networks", 2016) computes a tile of 4x4 outputs of a 3x3 correlation from the 6x6 inputs
under it with 36 products, 2.25 an output, between three fixed linear maps:

    y = A^T [ (G w G^T) (.) (B^T d B) ] A        (tile d 6x6, kernel w 3x3, y 4x4)

(``(.)`` the elementwise product; the matrices :data:`BT`, :data:`G`, :data:`AT` below). In a
layer the product at each of the 36 tile positions ``xi`` sums over the input channels, so F
is 36 matrix products, one per ``xi``, between the kernel's transform and the tiles'::

    V[xi, c, p] = (B^T d[c, p] B)[xi]          d[c, p]: the 6x6 tile p of zp (tiles overlap by 2)
    U[xi, o, c] = (G w[o, c] G^T)[xi]
    M[xi]       = U[xi] V[xi]                  (O, C) (C, P): a GEMM of 1/4 of im2col's work
    x tile p    = A^T M[:, o, p] A             (4x4 of x[n, o], cropped at the image's edge)

F is linear in z, a chain of four maps (tiling, B, U, A), so G_delta is the chain of their
transposes in reverse order, and G_gw, linear in w, reads the same pieces (the transposition
principle)::

    G_delta:  E[xi, o, p] = (A e[o, p] A^T)[xi]   (e: the 4x4 tile p of eps, zero off the image)
              delta tile p += B (U[xi]^T E[xi]) B^T   (6x6, added where tiles overlap)
    G_gw:     g_w[o, c] = G^T ( sum_p E[xi, o, p] V[xi, c, p] ) G

Each transform here is written once as a small matrix product and its adjoint beside it;
compiled loops for the same four tile transforms are in :mod:`.numba_winograd`. The products
by ``G`` (``1/6``, ``1/24``) are not exact in binary: results differ from the direct sums by a
few float32 roundings more than the GEMM engines' (relative error ~1e-6 against float64 on
the bench's rows; tested against im2col). Stride 1, dilation 1, a 3x3 kernel, any padding
and channel count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from convprop.conv import workspace
from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from ._layout import blocks
from ._threads import parallel, threads

M_OUT, ALPHA = 4, 6  # outputs per tile side; inputs per tile side, M_OUT + 3 - 1

BT = np.array(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    np.float64,
)
G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ]
)
AT = np.array(
    [
        [1, 1, 1, 1, 1, 0],
        [0, 1, -1, 2, -2, 0],
        [0, 1, 1, 4, 4, 0],
        [0, 1, -1, 8, -8, 1],
    ],
    np.float64,
)


def supports(g: ConvGeometry) -> bool:
    """A 3x3 kernel, stride 1 and dilation 1 (any padding)."""
    return g.kh == g.kw == 3 and g.wide and g.dh == g.dw == 1


def tiles(g: ConvGeometry) -> tuple[int, int]:
    """Tiles down and across an output plane: ``ceil(Ho/4), ceil(Wo/4)``."""
    return -(-g.ho // M_OUT), -(-g.wo // M_OUT)


def image_blocks(g: ConvGeometry, itemsize: int) -> Iterator[tuple[int, int]]:
    """``(n0, nb)``: blocks of whole images whose tiles' transforms (``V`` or ``M``, 36 numbers
    a tile and channel) hold about :data:`._layout.BLOCK_BYTES` (:func:`._layout.blocks`): a
    block's V and M stay in cache between the transforms and the GEMMs."""
    th, tw = tiles(g)
    return blocks(g.n, ALPHA * ALPHA * th * tw * max(g.c, g.o) * itemsize)


# ------------------------------------------------------------------ the four tile transforms
# Each on a block of images, z and delta (nb, C, H, W), x and eps (nb, O, Ho, Wo); inside, the
# channels last (``p, c``): a tile's channels are one row of the GEMM.


def _on_tiles(left: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``L t L^T`` for every tile: ``t`` ``(k, k, ...)`` -> ``(l*l, ...)`` (``L`` is l x k)."""
    k, rest = t.shape[0], t.shape[2:]
    both = np.kron(left, left).astype(t.dtype)  # (l*l, k*k): (L t L^T) flattened
    return (both @ t.reshape(k * k, -1)).reshape(-1, *rest)


def _whole_tiles(z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """zp channels-last, extended with zeros to whole tiles: ``(nb, 4*th + 2, 4*tw + 2, C)``."""
    th, tw = tiles(g)
    zq = np.zeros((z.shape[0], M_OUT * th + 2, M_OUT * tw + 2, g.c), z.dtype)
    zq[:, g.pt : g.pt + g.h, g.pl : g.pl + g.w] = z.transpose(0, 2, 3, 1)
    return zq


def input_transform(z: np.ndarray, g: ConvGeometry, out: np.ndarray | None = None) -> np.ndarray:
    """``V[xi, p, c] = (B^T d[p, c] B)[xi]``, ``d[p, c][i, j] = zp[n, 4*ty + i, 4*tx + j, c]``
    for tile ``p = (n*th + ty)*tw + tx`` of the block: ``(36, P, C)``."""
    (th, tw), zq = tiles(g), _whole_tiles(z, g)
    s = zq.strides
    d = np.lib.stride_tricks.as_strided(
        zq, (ALPHA, ALPHA, zq.shape[0], th, tw, g.c), (s[1], s[2], s[0], 4 * s[1], 4 * s[2], s[3])
    )
    return _into(out, _on_tiles(BT, d).reshape(ALPHA * ALPHA, -1, g.c))


def input_transform_adjoint(ve: np.ndarray, g: ConvGeometry, delta: np.ndarray) -> None:
    """The adjoint of :func:`input_transform`: ``B ve[:, p, c] B^T`` added onto the tile's 6x6
    place (tiles overlap by two rows and columns), on the image: ``delta += ...``."""
    (th, tw), nb = tiles(g), delta.shape[0]
    dt = _on_tiles(BT.T, ve.reshape(ALPHA, ALPHA, -1)).reshape(ALPHA, ALPHA, nb, th, tw, g.c)
    zq = np.zeros((nb, M_OUT * th + 2, M_OUT * tw + 2, g.c), ve.dtype)
    for i in range(ALPHA):
        for j in range(ALPHA):
            zq[:, i : i + M_OUT * th : M_OUT, j : j + M_OUT * tw : M_OUT] += dt[i, j]
    delta += zq[:, g.pt : g.pt + g.h, g.pl : g.pl + g.w].transpose(0, 3, 1, 2)


def output_transform(m: np.ndarray, g: ConvGeometry, x: np.ndarray) -> None:
    """``x[n, 4*ty + u, 4*tx + v, o] = (A^T m[:, p, o] A)[u, v]``, cropped to ``(Ho, Wo)``."""
    (th, tw), nb = tiles(g), x.shape[0]
    y = _on_tiles(AT, m.reshape(ALPHA, ALPHA, -1)).reshape(M_OUT, M_OUT, nb, th, tw, g.o)
    y = y.transpose(2, 3, 0, 4, 1, 5).reshape(nb, M_OUT * th, M_OUT * tw, g.o)
    x[...] = y[:, : g.ho, : g.wo].transpose(0, 3, 1, 2)


def output_transform_adjoint(
    eps: np.ndarray, g: ConvGeometry, out: np.ndarray | None = None
) -> np.ndarray:
    """The adjoint of :func:`output_transform`: ``E[xi, p, o] = (A e[p, o] A^T)[xi]``, ``e``
    eps's 4x4 tile ``p`` (zero past the image's edge): ``(36, P, O)``."""
    (th, tw), nb = tiles(g), eps.shape[0]
    e = np.zeros((nb, M_OUT * th, M_OUT * tw, g.o), eps.dtype)
    e[:, : g.ho, : g.wo] = eps.transpose(0, 2, 3, 1)
    e = e.reshape(nb, th, M_OUT, tw, M_OUT, g.o).transpose(2, 4, 0, 1, 3, 5)
    return _into(out, _on_tiles(AT.T, np.ascontiguousarray(e)).reshape(ALPHA * ALPHA, -1, g.o))


def _into(out: np.ndarray | None, a: np.ndarray) -> np.ndarray:
    """``a``, or ``a`` copied into ``out`` where the caller gave one (``out`` returned)."""
    if out is None:
        return a
    out[...] = a
    return out


def kernel_transform(w: np.ndarray) -> np.ndarray:
    """``U[xi, o, c] = (G w[o, c] G^T)[xi]``: ``(36, O, C)``."""
    o, c = w.shape[:2]
    t = np.ascontiguousarray(w.reshape(o * c, 9).T).reshape(3, 3, o * c)
    return np.ascontiguousarray(_on_tiles(G, t).reshape(ALPHA * ALPHA, o, c))


def kernel_transform_adjoint(gu: np.ndarray) -> np.ndarray:
    """The adjoint of :func:`kernel_transform`: ``g_w[o, c] = G^T gu[:, o, c] G``."""
    o, c = gu.shape[1:]
    t = _on_tiles(G.T, gu.reshape(ALPHA, ALPHA, o * c))
    return np.ascontiguousarray(t.reshape(9, o * c).T).reshape(o, c, 3, 3)


class Transforms(NamedTuple):
    """The tile transforms an engine uses: NumPy's (:data:`NUMPY`) or compiled ones, with the
    signatures of the functions above."""

    input: Callable[..., np.ndarray]  # (z, g, out=None) -> V
    input_adjoint: Callable[[np.ndarray, ConvGeometry, np.ndarray], None]
    output: Callable[[np.ndarray, ConvGeometry, np.ndarray], None]
    output_adjoint: Callable[..., np.ndarray]  # (eps, g, out=None) -> E
    width: Callable[[int], int] = int  # the channels of V, M and E for C or O channels (>=)


NUMPY = Transforms(
    input_transform,
    input_transform_adjoint,
    output_transform,
    output_transform_adjoint,
)

# ------------------------------------------------------------------ F and G
# Block by block of images, so that a block's V, M and E stay in cache between the
# transforms and the GEMMs; the blocks split over the engines' threads (each GEMM on one BLAS
# thread: the wide row 44-47 -> 27 ms on 2 cores, numba_winograd). With ``keep`` (the
# autodiff: G follows with the same arrays and geometry) F keeps every block's V, and
# G_delta every block's E, in the workspace
# (:func:`convprop.conv.workspace.keep`): G_gw is then only its GEMMs.


def padded_kernel(w: np.ndarray, g: ConvGeometry, t: Transforms, dtype) -> np.ndarray:
    """U ``(36, O', C')`` with the channels of the transforms (``t.width``), zero beyond w's."""
    u = kernel_transform(w).astype(dtype)
    op, cp = t.width(g.o), t.width(g.c)
    if (op, cp) == (g.o, g.c):
        return u
    wide = np.zeros((ALPHA * ALPHA, op, cp), dtype)
    wide[:, : g.o, : g.c] = u
    return wide


def _each_block(g: ConvGeometry, itemsize: int, block: Callable, with_part: bool = False) -> int:
    """``block(n0, nb)`` (with ``with_part``, ``block(n0, nb, part)``) for every block of
    :func:`image_blocks`, the blocks split over the engines' threads
    (:func:`._threads.parallel`), each thread's GEMMs on one BLAS thread; the number of
    parts."""
    every = list(image_blocks(g, itemsize))

    def task(part: int, start: int, stop: int) -> None:
        for n0, nb in every[start:stop]:
            block(n0, nb, part) if with_part else block(n0, nb)

    work = g.n * ALPHA * ALPHA * (g.c + g.o) * tiles(g)[0] * tiles(g)[1]
    return parallel(len(every), task, work, gemms=True)


def _kept_tiles(name: str, t: Transforms, g: ConvGeometry, width: int, dtype):
    """A workspace array for every tile's transform ``(36, P, width)``, or None if too large."""
    th, tw = tiles(g)
    return workspace.keep((name, t, g), (ALPHA * ALPHA, g.n * th * tw, width), dtype)


def _tiles_of(block: np.ndarray | None, g: ConvGeometry, n0: int, nb: int):
    """The tiles of images ``n0 .. n0 + nb`` in a whole batch's kept transform (or None)."""
    if block is None:
        return None
    th, tw = tiles(g)
    per = th * tw
    return block[:, n0 * per : (n0 + nb) * per]


def _chain(a, first, kernel, last, out, g: ConvGeometry, t: Transforms, kept: str | None):
    """``last(first(a's block) @ kernel)`` into ``out``'s block, for every block of images:
    F's and G_delta's common shape (a tile transform, 36 GEMMs, a tile transform). With
    ``kept`` (a workspace name), every block's first transform is kept in the workspace
    under ``(kept, t, g)`` and marked filled for ``(a, g)``, for G_gw."""
    # the first transform's channels are the kernel's rows (padded to whole steps)
    tiles = _kept_tiles(kept, t, g, kernel.shape[1], a.dtype) if kept else None

    def block(n0: int, nb: int) -> None:
        v = first(a[n0 : n0 + nb], g, _tiles_of(tiles, g, n0, nb))
        m = scratch("winograd_m", (ALPHA * ALPHA, v.shape[1], kernel.shape[2]), a.dtype)
        last(np.matmul(v, kernel, out=m), g, out[n0 : n0 + nb])

    _each_block(g, a.itemsize, block)
    if tiles is not None:
        workspace.mark((kept, t, g), (a, g))  # filled: G_gw may reuse it


def forward(
    z: np.ndarray, w: np.ndarray, g: ConvGeometry, t: Transforms = NUMPY, keep: bool = False
) -> np.ndarray:
    """F: ``x tile p = A^T M[:, p] A``, ``M[xi] = V[xi] U[xi]^T``: 36 GEMMs ``(P, C) (C, O)``."""
    ut = padded_kernel(w, g, t, z.dtype).transpose(0, 2, 1)  # U[xi]^T: (36, C, O)
    x = np.empty((g.n, g.o, g.ho, g.wo), z.dtype)
    _chain(z, t.input, ut, t.output, x, g, t, "winograd_v" if keep else None)
    return x


def adjoint_input(
    eps: np.ndarray, w: np.ndarray, g: ConvGeometry, t: Transforms = NUMPY, keep: bool = False
) -> np.ndarray:
    """G_delta: ``delta tile p += B (E[xi] U[xi])[p] B^T``, 36 GEMMs ``(P, O) (O, C)``."""
    u = padded_kernel(w, g, t, eps.dtype)
    delta = np.zeros((g.n, g.c, g.h, g.w), eps.dtype)
    _chain(eps, t.output_adjoint, u, t.input_adjoint, delta, g, t, "winograd_e" if keep else None)
    return delta


def adjoint_weight(
    eps: np.ndarray, z: np.ndarray, g: ConvGeometry, t: Transforms = NUMPY
) -> np.ndarray:
    """G_gw: ``g_w[o, c] = G^T (sum_p E[xi, p, o] V[xi, p, c]) G``, 36 GEMMs ``(O, P) (P, C)``
    a block, summed; with the V that F kept for this z and the E that G_delta kept for this
    eps (same geometry), the 36 GEMMs over the whole batch and nothing else."""
    vk = workspace.kept(("winograd_v", t, g), (z, g))
    ek = workspace.kept(("winograd_e", t, g), (eps, g))
    if vk is not None and ek is not None:
        gu = np.empty((ALPHA * ALPHA, ek.shape[2], vk.shape[2]), eps.dtype)

        def products(part: int, start: int, stop: int) -> None:  # xi in start .. stop
            np.matmul(ek[start:stop].transpose(0, 2, 1), vk[start:stop], out=gu[start:stop])

        parallel(ALPHA * ALPHA, products, ek.size + vk.size, gemms=True)
    else:
        shape = (ALPHA * ALPHA, t.width(g.o), t.width(g.c))
        sums = np.zeros((threads(), *shape), eps.dtype)  # one per thread, summed after

        def block(n0: int, nb: int, part: int) -> None:
            e = _tiles_of(ek, g, n0, nb)
            e = t.output_adjoint(eps[n0 : n0 + nb], g) if e is None else e
            v = _tiles_of(vk, g, n0, nb)
            v = t.input(z[n0 : n0 + nb], g) if v is None else v
            sums[part] += np.matmul(
                e.transpose(0, 2, 1), v, out=scratch("winograd_gu", shape, e.dtype)
            )

        gu = sums[: _each_block(g, eps.itemsize, block, with_part=True)].sum(axis=0)
    return kernel_transform_adjoint(gu[:, : g.o, : g.c]).astype(eps.dtype)
