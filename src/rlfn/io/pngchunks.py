"""A PNG file's chunks as bytes: its header, and metadata chunks added after it. No pixels are touched here.

OpenCV (libpng) encodes and decodes the pixels of 16-bit colour PNGs (:mod:`rlfn.io.deep`); this module only
reads the IHDR chunk (to know, before decoding, whether a file needs OpenCV) and splices iCCP, eXIf and pHYs
chunks into a stream that OpenCV has encoded. Why not ``cv2.imencodeWithMetadata``: it exists only from OpenCV
4.12, writes no pHYs, and libpng then vets the ICC profile and fails the whole image for one it dislikes, while
rlfn carries profiles through unchanged, as Pillow does for 8-bit files. A chunk is length, type, body, CRC-32.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEADER_BYTES = 33  # signature, then the IHDR chunk (length, type, 13-byte body, CRC)


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    bit_depth: int
    colour_type: int  # 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA
    interlace: int

    def pack(self) -> bytes:
        return chunk(b"IHDR", struct.pack(">IIBBBBB", self.width, self.height, self.bit_depth, self.colour_type,
                                          0, 0, self.interlace))


def read_header(head: bytes) -> Header | None:
    """The IHDR of a PNG from its first :data:`HEADER_BYTES` bytes, or None if they are not a PNG's."""
    if len(head) < HEADER_BYTES or not head.startswith(SIGNATURE) or head[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return Header(w, h, depth, ctype, interlace)


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def icc_chunk(icc: bytes) -> bytes:
    return chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc))  # name, NUL, compression method 0 (zlib)


def exif_chunk(exif: bytes) -> bytes:
    """An eXIf chunk: the TIFF-structured EXIF block, without the ``Exif\\0\\0`` prefix that JPEG files use."""
    return chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif)


def dpi_chunk(dpi: tuple[float, float]) -> bytes:
    """A pHYs chunk: pixels per metre, unit 1 (metre)."""
    x, y = (max(1, int(d / 0.0254 + 0.5)) for d in dpi)
    return chunk(b"pHYs", struct.pack(">IIB", x, y, 1))


def with_chunks(png: bytes, chunks: list[bytes], header: Header | None = None) -> bytes:
    """``png`` with ``chunks`` right after its IHDR (where iCCP, eXIf and pHYs may go: before PLTE and IDAT),
    and with its IHDR replaced by ``header`` if one is given."""
    if read_header(png) is None:
        raise ValueError("not a PNG stream")
    return SIGNATURE + (header.pack() if header else png[8:HEADER_BYTES]) + b"".join(chunks) + png[HEADER_BYTES:]
