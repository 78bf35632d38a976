"""Uploaded bytes in, encoded bytes out, in memory only, with errors that carry an HTTP status.

Decoding happens in two steps. :func:`probe` reads only the header (cheap, on the event loop): it tells a
file that is no image (400) from an image of a kind the server does not take (415) and refuses sizes over
the pixel limit before any pixel is decoded (413; a decompression bomb is a small file that claims an
enormous size). :func:`decode` then decodes on a worker thread. Only the formats ``rlfn upscale`` reads
(PNG, JPEG, WebP, BMP, TIFF) are ever decoded.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError
from ..io.images import MEDIA_TYPES, encode_picture, picture_of

READABLE = tuple(MEDIA_TYPES)  # what is decoded; anything else Pillow recognises is a 415


class HTTPImageError(ImageError):
    """An :class:`ImageError` with the HTTP status that answers it."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Probe:
    format: str  # Pillow's name, one of READABLE
    width: int
    height: int


def _open(data: bytes, formats: tuple[str, ...] | None) -> Image.Image:
    # Pillow's own bomb check (a warning over Image.MAX_IMAGE_PIXELS, an error over twice that) stays in
    # force; ours, below, is the stricter server limit, checked before any decoding.
    return Image.open(io.BytesIO(data), formats=formats)


def probe(data: bytes, max_pixels: int) -> Probe:
    """The format and size of an upload, from its header only; raises :class:`HTTPImageError`."""
    if not data:
        raise HTTPImageError(400, "the upload is empty")
    try:
        with _open(data, READABLE) as im:
            fmt, (w, h) = im.format, im.size
            frames = getattr(im, "n_frames", 1)
    except Image.DecompressionBombError as e:
        raise HTTPImageError(413, f"refused as a possible decompression bomb ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        fmt = _other_format(data)
        if fmt is not None:
            raise HTTPImageError(
                415, f"{fmt} images are not supported; send PNG, JPEG, WebP, BMP or TIFF") from None
        raise HTTPImageError(400, "not an image (PNG, JPEG, WebP, BMP or TIFF) that can be read") from None
    if w < 1 or h < 1:
        raise HTTPImageError(400, f"an empty image ({w}×{h})")
    if frames > 1 and fmt != "MPO":  # never upscale the first frame alone and drop the rest
        raise HTTPImageError(415, f"an image with {frames} frames or pages ({fmt}); send a single image")
    if w * h > max_pixels:
        raise HTTPImageError(
            413, f"the image is {w}×{h} = {w * h / 1e6:.2f} megapixels, over this server's limit of "
                 f"{max_pixels / 1e6:g} (a possible decompression bomb; the limit is the --max-pixels option)")
    return Probe(fmt, w, h)


def _other_format(data: bytes) -> str | None:
    """The name of a format Pillow recognises but the server does not decode (GIF, ICO...), else None.
    Only headers are parsed; nothing is decoded."""
    try:
        with _open(data, None) as im:
            return im.format
    except Exception:  # noqa: BLE001 - anything Pillow cannot even identify is simply not an image
        return None


def decode(data: bytes, max_pixels: int) -> Image.Image:
    """Decode an upload fully (EXIF orientation applied); raises :class:`HTTPImageError`."""
    p = probe(data, max_pixels)
    try:
        with _open(data, (p.format,)) as im:
            im.load()
            out = ImageOps.exif_transpose(im)
            if out is im:
                out = im.copy()
            icc = im.info.get("icc_profile")
    except Image.DecompressionBombError as e:
        raise HTTPImageError(413, f"refused as a possible decompression bomb ({e})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise HTTPImageError(400, f"cannot decode the {p.format} image ({e})") from None
    out.info.pop("exif", None)  # EXIF (places, camera serials) is not sent back
    if icc and out.mode != "CMYK":
        out.info["icc_profile"] = icc
    return out


def encode(im: Image.Image, fmt: str, quality: int = 95) -> bytes:
    """``im`` in Pillow format ``fmt`` by the encoder ``rlfn upscale`` writes files with
    (:func:`rlfn.io.images.encode_picture`): the same bytes for the same pixels and options. EXIF is not kept."""
    return encode_picture(picture_of(im, keep_exif=False), fmt, quality=quality)
