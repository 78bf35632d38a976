"""16-bit colour TIFF, which Pillow narrows to 8 bits (it has no 16-bit RGB mode).

Writing: a baseline little-endian TIFF, one deflate-compressed strip per 64 rows, with the ICC profile.
Reading: Pillow parses the tags; the strips (uncompressed or deflate, optionally with horizontal
differencing) are decoded here. Other layouts (LZW, tiles, planes) fall back to Pillow's 8 bits.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, TiffImagePlugin

ROWS_PER_STRIP = 64
_SHORT, _LONG, _UNDEFINED = 3, 4, 7


def is_16bit_colour(im: Image.Image) -> bool:
    """A TIFF whose samples are 16-bit and which Pillow opened as 8-bit RGB(A)."""
    if not isinstance(im, TiffImagePlugin.TiffImageFile) or im.mode not in ("RGB", "RGBA"):
        return False
    bits = im.tag_v2.get(258)
    return isinstance(bits, tuple) and len(bits) >= 3 and all(b == 16 for b in bits)


def read(path: str | Path) -> tuple[np.ndarray, bytes | None]:
    """H×W×C uint16 pixels (C = 3 or 4) and the ICC profile of a 16-bit RGB(A) TIFF's first page.

    Strips, uncompressed or deflate, with or without horizontal differencing: what image editors and our
    own writer produce. Anything else raises ValueError (the caller then falls back to Pillow's 8 bits).
    """
    with Image.open(path) as im:
        if not is_16bit_colour(im):
            raise ValueError("not a 16-bit RGB(A) TIFF")
        tags = im.tag_v2
        w, h = im.size
        ch = len(tags[258])
        compression = tags.get(259, 1)
        predictor = tags.get(317, 1)
        if tags.get(284, 1) != 1 or 322 in tags:
            raise ValueError("tiled or planar 16-bit TIFF")
        if compression not in (1, 8, 32946) or predictor not in (1, 2):
            raise ValueError(f"16-bit TIFF compression {compression} / predictor {predictor}")
        offsets, counts = tags[273], tags[279]
        offsets = offsets if isinstance(offsets, tuple) else (offsets,)
        counts = counts if isinstance(counts, tuple) else (counts,)
        endian = ">" if im.fp is not None and _header(path) == b"MM" else "<"
        icc = im.info.get("icc_profile")
    parts = []
    with open(path, "rb") as f:
        for off, n in zip(offsets, counts):
            f.seek(off)
            block = f.read(n)
            if len(block) < n:
                raise ValueError("truncated strip")
            parts.append(zlib.decompress(block) if compression != 1 else block)
    data = b"".join(parts)
    need = h * w * ch * 2
    if len(data) < need:
        raise ValueError("truncated image data")
    arr = np.frombuffer(data, dtype=endian + "u2", count=h * w * ch).reshape(h, w, ch).astype(np.uint16)
    if predictor == 2:  # horizontal differencing: a running sum along each row, modulo 2**16
        arr = np.cumsum(arr, axis=1, dtype=np.uint16)
    return arr, icc


def _header(path: str | Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(2)


def encode(pixels: np.ndarray, icc: bytes | None = None) -> bytes:
    """A deflate-compressed 16-bit RGB or RGBA TIFF of H×W×C uint16 pixels."""
    h, w, ch = pixels.shape
    if ch not in (3, 4):
        raise ValueError("16-bit TIFF writing here is for RGB and RGBA; Pillow writes grey")
    data = np.ascontiguousarray(pixels, dtype="<u2")
    strips = [zlib.compress(data[y : y + ROWS_PER_STRIP].tobytes(), 6) for y in range(0, h, ROWS_PER_STRIP)]
    entries = [
        (256, _LONG, [w]),
        (257, _LONG, [h]),
        (258, _SHORT, [16] * ch),
        (259, _SHORT, [8]),  # deflate (Adobe)
        (262, _SHORT, [2]),  # RGB
        (273, _LONG, [0] * len(strips)),  # strip offsets: filled below
        (277, _SHORT, [ch]),
        (278, _LONG, [ROWS_PER_STRIP]),
        (279, _LONG, [len(s) for s in strips]),
        (284, _SHORT, [1]),  # interleaved
    ]
    if ch == 4:
        entries.append((338, _SHORT, [2]))  # unassociated alpha
    if icc:
        entries.append((34675, _UNDEFINED, icc))
    entries.sort(key=lambda e: e[0])
    # Layout: header, IFD, out-of-line values, strips.
    ifd_size = 2 + 12 * len(entries) + 4
    extra = bytearray()
    base = 8 + ifd_size
    fixups = []
    packed = []
    for tag, typ, values in entries:
        if typ == _UNDEFINED:
            blob = bytes(values)  # type: ignore[arg-type]
            count = len(blob)
        else:
            fmt = "<" + ("H" if typ == _SHORT else "I") * len(values)  # type: ignore[arg-type]
            blob = struct.pack(fmt, *values)  # type: ignore[arg-type]
            count = len(values)  # type: ignore[arg-type]
        if len(blob) <= 4:
            packed.append((tag, typ, count, blob.ljust(4, b"\0"), None))
        else:
            off = base + len(extra)
            extra += blob + (b"\0" if len(blob) % 2 else b"")
            packed.append((tag, typ, count, struct.pack("<I", off), off))
        if tag == 273:
            fixups.append(packed[-1])
    strip_start = base + len(extra)
    offsets = []
    pos = strip_start
    for s in strips:
        offsets.append(pos)
        pos += len(s)
    # Write the strip offsets where they live (inline for one strip, else in `extra`).
    tag, typ, count, field, off = fixups[0]
    offs_blob = struct.pack("<" + "I" * len(offsets), *offsets)
    if off is None:
        packed = [(t, ty, c, offs_blob if t == 273 else f, o) for t, ty, c, f, o in packed]
    else:
        rel = off - base
        extra[rel : rel + len(offs_blob)] = offs_blob
    out = bytearray(b"II*\0" + struct.pack("<I", 8))
    out += struct.pack("<H", len(entries))
    for tag, typ, count, field, _ in packed:
        out += struct.pack("<HHI", tag, typ, count) + field
    out += struct.pack("<I", 0)
    out += extra
    for s in strips:
        out += s
    return bytes(out)
