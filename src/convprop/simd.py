"""Register tiles of vectors for the compiled loops: sums that stay in vector registers.

A *tile* is ``rows x cols`` vectors of :func:`lanes` numbers (one vector register each; with
AVX-512, 64 bytes: 16 float32, 8 float64), the running sums of a register-blocked kernel.
Five operations make the kernels of :mod:`convprop.conv.engines.numba_batch_direct` and
``numba_tiled``, each a NumPy formula on a ``(rows, cols*L)`` array (``L`` lanes; flat arrays,
offsets in elements)::

    fill(values, start, rows, cols)      t[r, :]         = values[start + r]
    outer(t, w, wi, z, zi)               t[r, :]        += w[wi + r] * z[zi : zi + cols*L]
    products(t, e, ei, es, z, zi, zs)    t[r, c]        += e[ei + r*es :][:L] * z[zi + c*zs :][:L]
    store(t, out, oi, rs)                out[oi + r*rs :][:cols*L] = t[r, :]
    totals(t, out, oi, rs, cs)           out[oi + r*rs + c*cs]     = sum(t[r, c])

(``t[r, c]``: the c-th vector of row r, ``t[r, c*L : (c+1)*L]``), and a sixth moves runs of
numbers in whole vectors, ``move(dst, di, src, si, n)``: ``dst[di : di + n] = src[si : si + n]``.
In plain Python (``.py_func``, or without Numba) they are those formulas. Inside a compiled
function (after :func:`register`, which the kernels' callers call first), a tile is an LLVM
array of ``rows*cols`` vectors passed by value, each operation unrolled into vector loads and
FMAs with the tile's indices constant, so the sums live in registers between the calls:
``outer`` is the outer product of ``rows`` weights (broadcast) with ``cols`` vectors of
inputs, ``rows*cols`` FMAs for ``cols`` loads. LLVM's own vectorisers do this only for small
tiles (``jit.stack_array`` with the SLP vectoriser: 8 registers; 16 or more spilled to memory
at a twentieth of the speed, measured); written here a tile holds up to about 24 of the 32
AVX-512 registers (:func:`registers`). ``rows`` and ``cols`` must be compile-time constants
(globals or closure constants of the kernel). Numba's disk cache keys on the kernel's own
file, not this one: after editing the code generation here, clear the kernels' caches.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


@functools.cache
def registers() -> tuple[int, int]:
    """``(bytes per vector register, vector registers)`` of this CPU as LLVM compiles for it:
    ``(64, 32)`` with AVX-512, else ``(32, 16)`` (AVX2; also where llvmlite, Numba's, is
    missing and nothing is compiled)."""
    try:
        from llvmlite import binding
    except ImportError:
        return 32, 16
    return (64, 32) if binding.get_host_cpu_features().get("avx512f") else (32, 16)


def lanes(dtype: Any) -> int:
    """Numbers per vector register of ``dtype``: with AVX-512 16 float32, 8 float64."""
    return registers()[0] // np.dtype(dtype).itemsize


def rows_for(channels: int, cols: int, most: int) -> int:
    """Channels per tile of ``cols`` vectors, at most ``most`` (``rows*cols`` sums): the fewest
    FMAs and loads in all, ``ceil(channels/rows) * (rows*cols + rows + cols)`` (the last group
    shifted back overlaps the one before; LeNet's 16 channels by 4 vectors: 4; 6: 6)."""
    sizes = range(1, min(channels, most // cols) + 1)
    return min(sizes, key=lambda r: (-(-channels // r) * (r * cols + r + cols), -r))


def fill(values: np.ndarray, start: int, rows: int, cols: int) -> np.ndarray:
    """A tile whose row ``r`` is ``values[start + r]`` in every lane."""
    width = cols * lanes(values.dtype)
    return np.repeat(values[start : start + rows, None], width, axis=1)


def outer(t: np.ndarray, w: np.ndarray, wi: int, z: np.ndarray, zi: int) -> np.ndarray:
    """``t + outer(w[wi : wi + rows], z[zi : zi + cols*L])``."""
    return t + np.outer(w[wi : wi + t.shape[0]], z[zi : zi + t.shape[1]])


def products(
    t: np.ndarray, e: np.ndarray, ei: int, es: int, z: np.ndarray, zi: int, zs: int
) -> np.ndarray:
    """``t[r, c] + e[ei + r*es :][:L] * z[zi + c*zs :][:L]`` (``t[r, c]``: its c-th vector)."""
    L = lanes(t.dtype)
    rows, cols = t.shape[0], t.shape[1] // L
    er = np.stack([e[ei + r * es : ei + r * es + L] for r in range(rows)])  # (rows, L)
    zc = np.stack([z[zi + c * zs : zi + c * zs + L] for c in range(cols)])  # (cols, L)
    return t + (er[:, None, :] * zc[None, :, :]).reshape(rows, cols * L)


def store(t: np.ndarray, out: np.ndarray, oi: int, rs: int) -> None:
    """``out[oi + r*rs :][:cols*L] = t[r]`` for each row."""
    for r in range(t.shape[0]):
        out[oi + r * rs : oi + r * rs + t.shape[1]] = t[r]


def zeros(n: int, like: np.ndarray) -> np.ndarray:
    """``np.zeros(n, like.dtype)`` whose first element starts a vector register's width of
    memory (64 bytes with AVX-512), so that vectors read at multiples of ``L`` from it are
    aligned loads, none split across two cache lines (Numba's arrays start on 32 bytes)."""
    width, item = registers()[0], like.dtype.itemsize
    buf = np.zeros(n + width // item, like.dtype)
    skip = (width - buf.ctypes.data % width) % width // item
    return buf[skip : skip + n]


def move(dst: np.ndarray, di: int, src: np.ndarray, si: int, n: int) -> None:
    """``dst[di : di + n] = src[si : si + n]`` (no tile): compiled, whole vectors, the last
    one shifted back to end at ``n`` (overlapping the one before), where ``n >= L``."""
    dst[di : di + n] = src[si : si + n]


def totals(t: np.ndarray, out: np.ndarray, oi: int, rs: int, cs: int) -> None:
    """``out[oi + r*rs + c*cs] = sum of the lanes of t[r, c]``."""
    L = lanes(t.dtype)
    sums = t.reshape(t.shape[0], -1, L).sum(axis=2)
    for r in range(sums.shape[0]):
        for c in range(sums.shape[1]):
            out[oi + r * rs + c * cs] = sums[r, c]


@functools.cache
def register() -> None:
    """Teach Numba the tile type and the five operations (once, before the first compile of
    a kernel that uses them; imports Numba)."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.core.extending import intrinsic, models, overload, register_model

    i32 = ir.IntType(32)

    class Tile(types.Type):
        def __init__(self, dtype: Any, rows: int, cols: int):
            self.dtype, self.rows, self.cols = dtype, rows, cols
            self.lanes = lanes(str(dtype))
            super().__init__(name=f"Tile({dtype}, {rows}x{cols}x{self.lanes})")

    @register_model(Tile)
    class TileModel(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            vector = ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), fe_type.lanes)
            super().__init__(dmm, fe_type, ir.ArrayType(vector, fe_type.rows * fe_type.cols))

    def at(builder, start, k):  # start + k, in start's integer type
        return builder.add(start, ir.Constant(start.type, k))

    def element(context, builder, aryty, ary, index):  # pointer to ary.reshape(-1)[index]
        return builder.gep(context.make_array(aryty)(context, builder, ary).data, [index])

    def load_vector(context, builder, aryty, ary, index, n):
        p = element(context, builder, aryty, ary, index)
        vp = builder.bitcast(p, ir.VectorType(p.type.pointee, n).as_pointer())
        return builder.load(vp, align=aryty.dtype.bitwidth // 8)  # unaligned

    def splat(builder, x, n):
        vt = ir.VectorType(x.type, n)
        v = builder.insert_element(ir.Constant(vt, ir.Undefined), x, ir.Constant(i32, 0))
        mask = ir.Constant(ir.VectorType(i32, n), [0] * n)
        return builder.shuffle_vector(v, ir.Constant(vt, ir.Undefined), mask)

    def fma(builder, a, b, c):  # a * b + c, one rounding
        name = f"llvm.fma.v{a.type.count}{'f32' if a.type.element == ir.FloatType() else 'f64'}"
        f = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(a.type, [a.type] * 3), name
        )
        return builder.call(f, [a, b, c])

    def literal(x):
        return isinstance(x, types.IntegerLiteral)

    def flat(dtype, *arrays):  # 1-D C-contiguous arrays of dtype: a flat index is an offset
        return all(
            isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype == dtype
            for a in arrays
        )

    @intrinsic
    def fill_(typingctx, values, start, rows, cols):
        if not (literal(rows) and literal(cols) and flat(getattr(values, "dtype", None), values)):
            return None
        tile = Tile(values.dtype, rows.literal_value, cols.literal_value)

        def codegen(context, builder, sig, args):
            t = ir.Constant(context.get_value_type(tile), ir.Undefined)
            for r in range(tile.rows):
                x = builder.load(
                    element(context, builder, sig.args[0], args[0], at(builder, args[1], r))
                )
                v = splat(builder, x, tile.lanes)
                for c in range(tile.cols):
                    t = builder.insert_value(t, v, r * tile.cols + c)
            return t

        return tile(values, start, rows, cols), codegen

    @intrinsic
    def outer_(typingctx, t, w, wi, z, zi):
        if not (isinstance(t, Tile) and flat(t.dtype, w, z)):
            return None

        def codegen(context, builder, sig, args):
            tile, (tv, wa, wi_, za, zi_) = sig.args[0], args
            n = tile.lanes
            zs = [
                load_vector(context, builder, sig.args[3], za, at(builder, zi_, n * c), n)
                for c in range(tile.cols)
            ]
            for r in range(tile.rows):
                wr = builder.load(element(context, builder, sig.args[1], wa, at(builder, wi_, r)))
                wv = splat(builder, wr, n)
                for c in range(tile.cols):
                    k = r * tile.cols + c
                    tv = builder.insert_value(
                        tv, fma(builder, zs[c], wv, builder.extract_value(tv, k)), k
                    )
            return tv

        return t(t, w, wi, z, zi), codegen

    @intrinsic
    def products_(typingctx, t, e, ei, es, z, zi, zs):
        if not (isinstance(t, Tile) and flat(t.dtype, e, z)):
            return None

        def codegen(context, builder, sig, args):
            tile, (tv, ea, ei_, es_, za, zi_, zs_) = sig.args[0], args
            n = tile.lanes

            def offset(start, step, k):
                return builder.add(start, builder.mul(step, ir.Constant(step.type, k)))

            ev = [
                load_vector(context, builder, sig.args[1], ea, offset(ei_, es_, r), n)
                for r in range(tile.rows)
            ]
            zv = [
                load_vector(context, builder, sig.args[4], za, offset(zi_, zs_, c), n)
                for c in range(tile.cols)
            ]
            for r in range(tile.rows):
                for c in range(tile.cols):
                    k = r * tile.cols + c
                    tv = builder.insert_value(
                        tv, fma(builder, ev[r], zv[c], builder.extract_value(tv, k)), k
                    )
            return tv

        return t(t, e, ei, es, z, zi, zs), codegen

    @intrinsic
    def store_(typingctx, t, out, oi, rs):
        if not (isinstance(t, Tile) and flat(t.dtype, out)):
            return None

        def codegen(context, builder, sig, args):
            tile, (tv, oa, oi_, rs_) = sig.args[0], args
            n = tile.lanes
            for r in range(tile.rows):
                row = builder.add(oi_, builder.mul(rs_, ir.Constant(rs_.type, r)))
                for c in range(tile.cols):
                    p = element(context, builder, sig.args[1], oa, at(builder, row, n * c))
                    p = builder.bitcast(p, ir.VectorType(p.type.pointee, n).as_pointer())
                    v = builder.extract_value(tv, r * tile.cols + c)
                    builder.store(v, p, align=sig.args[1].dtype.bitwidth // 8)
            return context.get_dummy_value()

        return types.none(t, out, oi, rs), codegen

    @intrinsic
    def totals_(typingctx, t, out, oi, rs, cs):
        if not (isinstance(t, Tile) and flat(t.dtype, out)):
            return None

        def codegen(context, builder, sig, args):
            tile, (tv, oa, oi_, rs_, cs_) = sig.args[0], args

            def halves(v):  # the lanes' sum by halving: lo + hi, log2(L) vector adds
                n = v.type.count
                while n > 1:
                    n //= 2
                    lo = builder.shuffle_vector(
                        v, v, ir.Constant(ir.VectorType(i32, n), list(range(n)))
                    )
                    hi = builder.shuffle_vector(
                        v, v, ir.Constant(ir.VectorType(i32, n), list(range(n, 2 * n)))
                    )
                    v = builder.fadd(lo, hi)
                return builder.extract_element(v, ir.Constant(i32, 0))

            for r in range(tile.rows):
                for c in range(tile.cols):
                    s = halves(builder.extract_value(tv, r * tile.cols + c))
                    index = builder.add(
                        oi_,
                        builder.add(
                            builder.mul(rs_, ir.Constant(rs_.type, r)),
                            builder.mul(cs_, ir.Constant(cs_.type, c)),
                        ),
                    )
                    builder.store(s, element(context, builder, sig.args[1], oa, index))
            return context.get_dummy_value()

        return types.none(t, out, oi, rs, cs), codegen

    @intrinsic
    def vector_move(typingctx, dst, di, src, si):
        if not flat(getattr(dst, "dtype", None), dst, src):
            return None

        def codegen(context, builder, sig, args):
            (da, di_, sa, si_), n = args, lanes(str(sig.args[0].dtype))
            v = load_vector(context, builder, sig.args[2], sa, si_, n)
            p = element(context, builder, sig.args[0], da, di_)
            p = builder.bitcast(p, ir.VectorType(p.type.pointee, n).as_pointer())
            builder.store(v, p, align=sig.args[0].dtype.bitwidth // 8)
            return context.get_dummy_value()

        return types.none(dst, di, src, si), codegen

    @overload(move, inline="always")
    def _move(dst, di, src, si, n):
        if not flat(getattr(dst, "dtype", None), dst, src):
            return None
        width = lanes(str(dst.dtype))

        def run(dst, di, src, si, n):
            if n < width:
                for j in range(n):
                    dst[di + j] = src[si + j]
                return
            for j in range(0, n - width, width):
                vector_move(dst, di + j, src, si + j)
            vector_move(dst, di + n - width, src, si + n - width)

        return run

    @overload(zeros, inline="always")
    def _zeros(n, like):
        if not isinstance(like, types.Array):
            return None
        width, item = registers()[0], like.dtype.bitwidth // 8

        def aligned(n, like):
            buf = np.zeros(n + width // item, like.dtype)
            skip = (width - buf.ctypes.data % width) % width // item
            return buf[skip : skip + n]

        return aligned

    @overload(fill, prefer_literal=True, inline="always")
    def _fill(values, start, rows, cols):
        return lambda values, start, rows, cols: fill_(values, start, rows, cols)

    @overload(outer, inline="always")
    def _outer(t, w, wi, z, zi):
        if isinstance(t, Tile):
            return lambda t, w, wi, z, zi: outer_(t, w, wi, z, zi)
        return None

    @overload(products, inline="always")
    def _products(t, e, ei, es, z, zi, zs):
        if isinstance(t, Tile):
            return lambda t, e, ei, es, z, zi, zs: products_(t, e, ei, es, z, zi, zs)
        return None

    @overload(store, inline="always")
    def _store(t, out, oi, rs):
        if isinstance(t, Tile):
            return lambda t, out, oi, rs: store_(t, out, oi, rs)
        return None

    @overload(totals, inline="always")
    def _totals(t, out, oi, rs, cs):
        if isinstance(t, Tile):
            return lambda t, out, oi, rs, cs: totals_(t, out, oi, rs, cs)
        return None
