"""A 16-bit PNG written by hand for the tests: an encoder independent of OpenCV and Pillow, which can use every
filter type and Adam7 interlacing (which neither OpenCV nor Pillow writes at 16 bits)."""
from __future__ import annotations

import struct

import numpy as np

from rlfn.io.pngchunks import SIGNATURE, chunk

# Adam7 passes: (first row, first column, row step, column step)
ADAM7 = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _filtered(pixels: np.ndarray, filters: list[int]) -> bytes:
    """The rows of ``pixels`` (h×w×ch uint16), each with its filter type (cycled) in front."""
    h, w, ch = pixels.shape
    raw = np.ascontiguousarray(pixels, dtype=">u2").view(np.uint8).reshape(h, w * ch * 2).astype(np.int32)
    bpp = 2 * ch
    rows = []
    for y in range(h):
        cur = raw[y]
        up = raw[y - 1] if y else np.zeros_like(cur)
        left = np.concatenate([np.zeros(bpp, np.int32), cur[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), up[:-bpp]])
        f = filters[y % len(filters)]
        pred = [0, left, up, (left + up) // 2, _paeth(left, up, upleft)][f]
        rows.append(bytes([f]) + ((cur - pred) % 256).astype(np.uint8).tobytes())
    return b"".join(rows)


def png16(pixels: np.ndarray, filters: list[int] = (0,), interlace: bool = False, chunks: list[bytes] = ()) -> bytes:
    """A 16-bit PNG of h×w×ch pixels (ch 1-4), rows filtered with ``filters`` (types 0-4, cycled), ``chunks``
    placed before the image data."""
    import zlib

    h, w, ch = pixels.shape
    if interlace:
        data = b"".join(_filtered(pixels[y0::dy, x0::dx], list(filters)) for y0, x0, dy, dx in ADAM7
                        if pixels[y0::dy, x0::dx].size)
    else:
        data = _filtered(pixels, list(filters))
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[ch]
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, int(interlace)))
    return SIGNATURE + ihdr + b"".join(chunks) + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")
