"""16-bit PNG reading and writing for the colour types Pillow narrows to 8 bits (RGB, RGBA, grey+alpha).

Pillow keeps only single-channel images at 16 bits; a 48-bit RGB PNG comes back as 8-bit RGB. This is a
small PNG codec (numpy + zlib) for exactly those files. Unfiltering runs along anti-diagonals: a byte
depends on its left, upper and upper-left neighbours only, so all bytes on one anti-diagonal are
independent and one numpy step decodes them, whatever mix of filters the rows use.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type → samples per pixel


class PNGFormatError(ValueError):
    pass


@dataclass
class PNGHeader:
    width: int
    height: int
    bit_depth: int
    color_type: int
    interlace: int


@dataclass
class PNG16:
    pixels: np.ndarray  # H×W×C uint16
    icc: bytes | None = None
    exif: bytes | None = None
    frames: int = 1  # an animated PNG (acTL chunk) has more; ``pixels`` is then its default image only


def read_header(path: str | Path) -> PNGHeader | None:
    """The IHDR of a PNG file, or None if the file is no PNG."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or not head.startswith(SIGNATURE) or head[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return PNGHeader(w, h, depth, ctype, interlace)


def needs_own_decoder(path: str | Path) -> bool:
    """True for 16-bit PNGs with more than one channel, the ones Pillow would narrow to 8 bits."""
    try:
        hdr = read_header(path)
    except OSError:
        return False
    return hdr is not None and hdr.bit_depth == 16 and hdr.color_type in (2, 4, 6)


def _chunks(data: bytes):
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if len(body) < length:
            raise PNGFormatError("truncated PNG chunk")
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(crc) < 4 or struct.unpack(">I", crc)[0] != zlib.crc32(kind + body) & 0xFFFFFFFF:
            raise PNGFormatError(f"corrupt PNG chunk {kind.decode('latin-1')!r} (CRC mismatch or truncated)")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length
    raise PNGFormatError("truncated PNG: no IEND chunk")


def _unfilter(raw: np.ndarray, height: int, stride: int, bpp: int) -> np.ndarray:
    """Undo PNG filtering of ``raw`` (height × (1 + stride) bytes); returns height × stride uint8."""
    rows = raw.reshape(height, 1 + stride)
    ftype = rows[:, 0].astype(np.int16)
    if ftype.max(initial=0) > 4:
        raise PNGFormatError("bad PNG filter type")
    w = stride // bpp
    filt = rows[:, 1:].reshape(height, w, bpp).astype(np.int16)
    if np.all(ftype == 0):
        return rows[:, 1:].copy()
    # Skewed layout: pixel (y, x) sits at column x + y + 1, one zero row on top and a zero column on the
    # left stand for the missing neighbours at the edges.
    sk = np.zeros((height + 1, w + height + 1, bpp), dtype=np.int16)
    ys = np.arange(height)
    for k in range(w + height - 1):
        x = k - ys
        valid = (x >= 0) & (x < w)
        y = ys[valid]
        xv = x[valid]
        col = k + 1
        a = sk[y + 1, col - 1]  # left (same row, previous pixel)
        b = sk[y, col - 1]  # up (pixel (y-1, x) sits in row y of sk at column x + (y-1) + 1 = col - 1)
        c = sk[y, col - 2] if col >= 2 else np.zeros_like(a)  # up-left
        f = filt[y, xv]
        t = ftype[y][:, None]
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        pred = np.select([t == 0, t == 1, t == 2, t == 3], [0, a, b, (a + b) >> 1], paeth)
        sk[y + 1, col] = (f + pred) & 0xFF
    out = np.empty((height, w, bpp), dtype=np.uint8)
    for yy in range(height):
        out[yy] = sk[yy + 1, yy + 1 : yy + 1 + w]
    return out.reshape(height, stride)


def read(path: str | Path) -> PNG16:
    """Decode a non-interlaced 16-bit PNG of any colour type to H×W×C uint16."""
    data = Path(path).read_bytes()
    if not data.startswith(SIGNATURE):
        raise PNGFormatError("not a PNG file")
    hdr: PNGHeader | None = None
    idat: list[bytes] = []
    icc = exif = None
    frames = 1
    for kind, body in _chunks(data):
        if kind == b"IHDR":
            if len(body) < 13:
                raise PNGFormatError("IHDR chunk too short")
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body[:13])
            hdr = PNGHeader(w, h, depth, ctype, interlace)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"iCCP":
            icc = _icc_profile(body)
        elif kind == b"eXIf":
            exif = body
        elif kind == b"acTL" and len(body) >= 4:
            frames = max(frames, struct.unpack(">I", body[:4])[0])
    if hdr is None or hdr.bit_depth != 16 or hdr.color_type not in _CHANNELS:
        raise PNGFormatError("not a 16-bit grey/RGB(A) PNG")
    if hdr.interlace:
        raise PNGFormatError("interlaced 16-bit PNG")
    ch = _CHANNELS[hdr.color_type]
    bpp = 2 * ch
    stride = hdr.width * bpp
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise PNGFormatError(f"corrupt image data ({e})") from None
    if len(raw) < hdr.height * (1 + stride):
        raise PNGFormatError("truncated image data")
    buf = np.frombuffer(raw, dtype=np.uint8, count=hdr.height * (1 + stride))
    px = _unfilter(buf, hdr.height, stride, bpp)
    arr = px.view(">u2").reshape(hdr.height, hdr.width, ch).astype(np.uint16)
    return PNG16(arr, icc, exif, frames)


_MAX_ICC = 64 << 20


def _icc_profile(body: bytes) -> bytes | None:
    """The profile of an iCCP chunk, or None if it is damaged: like Pillow for 8-bit PNGs, a colour profile
    that cannot be read is dropped, not a reason to refuse the image."""
    name_end = body.find(b"\0")
    if name_end < 0 or name_end + 2 > len(body) or body[name_end + 1] != 0:
        return None
    d = zlib.decompressobj()
    try:
        icc = d.decompress(body[name_end + 2 :], _MAX_ICC)
    except zlib.error:
        return None
    if d.unconsumed_tail or not d.eof:
        return None  # larger than any real profile, or cut short
    return icc or None


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def encode(pixels: np.ndarray, icc: bytes | None = None, exif: bytes | None = None, level: int = 6) -> bytes:
    """A 16-bit PNG of H×W×C (C = 1..4) or H×W uint16 pixels. Rows use the Up filter (cheap, compresses well)."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    h, w, ch = pixels.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[ch]
    be = np.ascontiguousarray(pixels, dtype=">u2").view(np.uint8).reshape(h, w * ch * 2)
    filtered = np.empty((h, 1 + w * ch * 2), dtype=np.uint8)
    filtered[:, 0] = 2
    filtered[0, 1:] = be[0]
    np.subtract(be[1:], be[:-1], out=filtered[1:, 1:])  # uint8 arithmetic wraps mod 256, as PNG wants
    comp = zlib.compressobj(level)
    parts = [SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0))]
    if icc:
        parts.append(_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc)))
    if exif:
        parts.append(_chunk(b"eXIf", exif))
    step = max(1, (1 << 22) // filtered.shape[1])  # feed zlib ~4 MB at a time
    idat = []
    for i in range(0, h, step):
        idat.append(comp.compress(filtered[i : i + step].tobytes()))
    idat.append(comp.flush())
    parts.append(_chunk(b"IDAT", b"".join(idat)))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def write(path: str | Path, pixels: np.ndarray, icc: bytes | None = None, exif: bytes | None = None) -> None:
    Path(path).write_bytes(encode(pixels, icc, exif))
