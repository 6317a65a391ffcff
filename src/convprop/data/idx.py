"""The IDX file format of MNIST and Fashion-MNIST: a reader that checks everything, and a writer.

An IDX file is a header followed by the array's elements in C order, big-endian::

    byte 0-1   0x00 0x00            magic
    byte 2     type code            0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                    0x0D float32, 0x0E float64
    byte 3     ndim                 number of dimensions
    then       ndim x uint32        the size of each dimension, big-endian
    then       prod(sizes) items    the data

The files are often stored gzip-compressed (``train-images-idx3-ubyte.gz``); the reader recognises
a gzip stream by its own magic bytes (``0x1f 0x8b``), whatever the file is called.
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import zlib

import numpy as np

__all__ = ["IdxError", "read_idx", "write_idx"]

# type code -> big-endian NumPy dtype
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# native dtype -> type code, for the writer
_TYPE_CODES: dict[np.dtype, int] = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"
MAX_NDIM = 32  # the most dimensions every supported NumPy version can hold
MAX_DATA_BYTES = 1 << 32  # 4 GiB: the largest IDX data read (MNIST's images: 47 MB)
_CHUNK = 1 << 20  # gzip output is inflated this much at a time


class IdxError(ValueError):
    """A file that is not a well-formed IDX file; the message names the file and the fault."""


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a native-endian NumPy array.

    The header is checked in full before any data is touched: the magic number, the type code,
    the number of dimensions, and that the data holds exactly ``prod(sizes)`` elements.

    Args:
        path: the file to read.

    Returns:
        A new, writeable array of the file's shape and dtype (``uint8`` for MNIST).

    Raises:
        IdxError: the file is not a well-formed IDX file, or its gzip stream is corrupt; the
            message starts with the path.
        OSError: the file cannot be opened (missing, a directory, no permission).
    """
    name = os.fspath(path)
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device never ends
            raise IdxError(f"{name}: not a regular file")
        if info.st_size > MAX_DATA_BYTES + 4 + 4 * MAX_NDIM:
            raise IdxError(
                f"{name}: {info.st_size} bytes, more than the {MAX_DATA_BYTES} bytes of data "
                "an IDX file may hold here (convprop.data.idx.MAX_DATA_BYTES)"
            )
        blob = f.read()
    if blob[:2] == _GZIP_MAGIC:
        blob = _gunzip(blob, name)
    return _parse(blob, name)


def _gunzip(blob: bytes, name: str) -> bytes:
    """Decompress a gzip stream (one member or several), never past what the IDX header asks.

    The output grows a chunk at a time; as soon as it holds the header, the header is checked
    and fixes the total: a stream that inflates to more (a "zip bomb", or plain trailing data)
    is stopped one byte past it and reported oversized, and a header that
    declares more than :data:`MAX_DATA_BYTES` is refused before the data is inflated. Every
    way the stream can be corrupt becomes an IdxError.
    """
    out, data = bytearray(), blob
    header, total = None, None
    while True:
        member = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer, CRC checked
        while True:
            room = _CHUNK if total is None else min(_CHUNK, total + 1 - len(out))
            try:
                piece = member.decompress(data, room)
            except zlib.error as err:
                raise IdxError(f"{name}: corrupt gzip stream: {err}") from None
            out += piece
            data = member.unconsumed_tail
            if header is None:
                header = _header(out, name)
                total = None if header is None else header[2] + header[3]
            if total is not None and len(out) > total:
                dims = "x".join(str(n) for n in header[0])
                raise IdxError(
                    f"{name}: oversized: header says {dims} {header[1].name} = {header[3]} "
                    "bytes of data, the gzip stream holds more (stopped there, not inflated)"
                )
            if member.eof or not (data or piece):
                break
        if not member.eof:
            raise IdxError(f"{name}: corrupt gzip stream: it ends before its end-of-stream marker")
        data = member.unused_data
        if not data.strip(b"\x00"):  # the end, or the zero padding gzip allows after it
            return bytes(out)
        if data[:2] != _GZIP_MAGIC:
            raise IdxError(f"{name}: corrupt gzip stream: trailing bytes after its last member")


def _header(
    blob: bytes | bytearray, name: str
) -> tuple[tuple[int, ...], np.dtype, int, int] | None:
    """``(shape, dtype, header bytes, data bytes)`` of a complete header; None while ``blob``
    is shorter than its header. Raises IdxError for a header that cannot be right."""
    if len(blob) < 4:
        return None
    if blob[0] != 0 or blob[1] != 0:
        raise IdxError(
            f"{name}: bad magic number 0x{bytes(blob[:4]).hex()}: an IDX file starts with two "
            "zero bytes (is this an IDX file?)"
        )
    code, ndim = blob[2], blob[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IdxError(f"{name}: unknown type code 0x{code:02X} (known: {known})")
    if not 1 <= ndim <= MAX_NDIM:
        raise IdxError(f"{name}: bad dimension count {ndim}: expected 1 to {MAX_NDIM}")
    header_len = 4 + 4 * ndim
    if len(blob) < header_len:
        return None
    shape = tuple(int(s) for s in np.frombuffer(blob, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if expected > MAX_DATA_BYTES:
        dims = "x".join(str(s) for s in shape)
        raise IdxError(
            f"{name}: header says {dims} {dtype.name} = {expected} bytes of data, more than "
            f"the {MAX_DATA_BYTES} an IDX file may hold here (convprop.data.idx.MAX_DATA_BYTES)"
        )
    return shape, dtype, header_len, expected


def _parse(blob: bytes, name: str) -> np.ndarray:
    """Check an IDX header against the bytes that follow it and return the array."""
    header = _header(blob, name)
    if header is None and len(blob) < 4:
        raise IdxError(
            f"{name}: truncated header: an IDX file starts with 4 bytes of magic, "
            f"found {len(blob)} bytes"
        )
    if header is None:
        raise IdxError(
            f"{name}: truncated header: {blob[3]} dimensions need a {4 + 4 * blob[3]}-byte "
            f"header, found {len(blob)} bytes"
        )
    shape, dtype, header_len, expected = header
    found = len(blob) - header_len
    if found != expected:
        fault = "truncated" if found < expected else "oversized"
        dims = "x".join(str(s) for s in shape)
        raise IdxError(
            f"{name}: {fault}: header says {dims} {dtype.name} = {expected} bytes of data, "
            f"found {found}"
        )
    data = np.frombuffer(blob, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # a native-endian, writeable copy


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    The dtype must be one IDX can hold: uint8, int8, int16, int32, float32 or float64 (any byte
    order). The gzip header carries no timestamp, so the same array always gives the same bytes.

    Raises:
        ValueError: the dtype has no IDX type code, the array is 0-d or has more than
            ``MAX_NDIM`` dimensions, or a dimension does not fit in a uint32.
    """
    array = np.asarray(array)
    code = _TYPE_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        known = ", ".join(dt.name for dt in _TYPE_CODES)
        raise ValueError(f"IDX cannot hold dtype {array.dtype}; use one of: {known}")
    if not 1 <= array.ndim <= MAX_NDIM:
        raise ValueError(f"IDX holds 1 to {MAX_NDIM} dimensions, got a {array.ndim}-d array")
    if max(array.shape) >= 2**32:
        raise ValueError(f"IDX dimensions are uint32; shape {array.shape} does not fit")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    blob = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    name = os.fspath(path)
    if name.endswith(".gz"):
        blob = gzip.compress(blob, mtime=0)
    with open(name, "wb") as f:
        f.write(blob)
