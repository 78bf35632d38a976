"""Pixels of 16-bit colour files, which Pillow narrows to 8 bits: PNG through OpenCV (libpng), TIFF through tifffile.
OpenCV also writes 8-bit PNG where it is installed (:func:`encode_png`, over twice as fast as Pillow).

Both libraries come with the ``codecs`` extra and are imported only when such a file is met (OpenCV also at
the first PNG written), so that no command starts slower for them; without them, reading or writing a 16-bit
colour file is one ImageError that says how to install them, never a silent drop to 8 bits. Pixels only: size, frames, ICC profile, EXIF and orientation
are read by Pillow, which opens these files without decoding them (:mod:`rlfn.io.images`), and metadata is
added to OpenCV's PNG stream by :mod:`rlfn.io.pngchunks`. Pixels are H×W×C uint16 in RGB order, C = 2 (grey +
alpha), 3 (RGB) or 4 (RGBA).
"""
from __future__ import annotations

import functools
import importlib
import io
import logging
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import ImageError
from . import native_stderr
from .pngchunks import Header, dpi_chunk, exif_chunk, icc_chunk, with_chunks

INSTALL = 'pip install "rlfn[codecs]"'
_LIBRARY = {"cv2": "OpenCV", "tifffile": "tifffile"}
_TIFF_CONTIG, _TIFF_RGB = 1, 2  # PlanarConfiguration 1: samples interleaved; Photometric 2: RGB
_ASSOCIATED_ALPHA, _UNASSOCIATED_ALPHA = 1, 2  # ExtraSamples values


def _library(name: str, path: str | Path, what: str) -> ModuleType:
    try:
        module = importlib.import_module(name)
    except ImportError:
        raise ImageError(f"{path}: {what} needs {_LIBRARY[name]} to keep its 16 bits, which rlfn's codecs extra "
                         f"installs: {INSTALL}") from None
    log = logging.getLogger(name)
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        # tifffile logs each tag it skips in a damaged file; in a program that set up no logging, Python would
        # print those on stderr beside rlfn's own one line. A program that did set it up still gets them.
        log.addHandler(logging.NullHandler())
    return module


def check_writer(path: str | Path, fmt: str) -> None:
    """An ImageError now, before any file is made, if the library that writes 16-bit colour ``fmt`` is missing."""
    _library("cv2" if fmt == "PNG" else "tifffile", path, f"writing a 16-bit colour {fmt}")


def _rgb(bgr: np.ndarray) -> np.ndarray:
    """OpenCV's BGR(A) channel order as RGB(A), or back: the same swap of the first three channels."""
    return bgr[:, :, [2, 1, 0, 3][: bgr.shape[2]]]


def _file_bytes(path: str | Path, data: bytes | None) -> np.ndarray:
    return np.fromfile(path, dtype=np.uint8) if data is None else np.frombuffer(data, dtype=np.uint8)


def decode_png(path: str | Path, grey_alpha: bool = False, data: bytes | None = None) -> np.ndarray:
    """The pixels of a 16-bit RGB, RGBA or (``grey_alpha``) grey + alpha PNG, interlaced or not; from ``data``,
    the file's bytes, when given (``path`` then only names it).

    OpenCV applies no EXIF orientation with ``IMREAD_UNCHANGED``: the caller does, as for every format."""
    cv2 = _library("cv2", path, "a 16-bit colour PNG")
    with native_stderr.caught() as said:
        arr = cv2.imdecode(_file_bytes(path, data), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError(native_stderr.reason(said, "OpenCV could not decode it"))
    if arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"OpenCV decoded it as {arr.dtype} {arr.shape}, not 16-bit colour")
    if grey_alpha:  # libpng expands grey + alpha to BGRA, the grey in all three colour channels
        return np.ascontiguousarray(arr[:, :, [0, 3]])
    return np.ascontiguousarray(_rgb(arr))


@functools.lru_cache(maxsize=1)
def has_opencv() -> bool:
    """Whether OpenCV can be imported (the ``codecs`` extra). Cached: Python does not cache a failed
    import, and this is asked at every PNG written."""
    try:
        _library("cv2", "", "")
    except ImageError:
        return False
    return True


def png_params(cv2: ModuleType, compression: int) -> list[int]:
    """OpenCV's PNG settings for zlib level ``compression``. Level 1 is OpenCV's own default, the Sub filter
    with run-length zlib: measured on a 2040×1356 ×4 output, 113 ms and 3.03 MB, against 241 ms and 3.02 MB
    for level 1 with libpng's adaptive filters and 994 ms, 2.60 MB at level 6 (Pillow's default)."""
    if compression == 1 and hasattr(cv2, "IMWRITE_PNG_FILTER"):  # the filter option came in OpenCV 4.12
        return [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
                cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
    return [cv2.IMWRITE_PNG_COMPRESSION, compression]


def encode_png(pixels: np.ndarray, icc: bytes | None = None, exif: bytes | None = None,
               dpi: tuple[float, float] | None = None, compression: int = 1) -> bytes:
    """A PNG of 8- or 16-bit grey, grey + alpha, RGB or RGBA pixels, with the ICC profile, EXIF and
    resolution given. libpng through OpenCV: at the same compression level it writes a PNG more than twice
    as fast as Pillow (``benchmarks/pipeline_speed.py --sections png``)."""
    import cv2  # present: see check_writer / has_opencv
    h, w, ch = pixels.shape
    header = None
    with native_stderr.caught() as said:
        if ch == 2:
            if not hasattr(cv2, "IMWRITE_PNG_FILTER"):
                raise ValueError("grey + alpha PNG through OpenCV needs OpenCV 4.12 or later")
            # OpenCV writes 1, 3 or 4 channels. A grey + alpha row holds the same bytes as a grey row twice as
            # wide, and with the Up filter (each byte minus the byte above it, whatever the pixel size) so does
            # the compressed data: only the IHDR (width, colour type 4) differs, and it is replaced.
            ok, buf = cv2.imencode(".png", np.ascontiguousarray(pixels).reshape(h, 2 * w),
                                   [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP,
                                    cv2.IMWRITE_PNG_COMPRESSION, compression])
            header = Header(w, h, 8 * pixels.dtype.itemsize, 4, 0)
        else:
            if ch > 1:  # cvtColor swaps to BGR(A) in a fraction of the time of a NumPy fancy-index copy
                bgr = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2BGR if ch == 3 else cv2.COLOR_RGBA2BGRA)
            else:
                bgr = np.ascontiguousarray(pixels[:, :, 0])
            ok, buf = cv2.imencode(".png", bgr, png_params(cv2, compression))
    if not ok:
        raise ValueError(native_stderr.reason(said, "OpenCV could not encode it"))
    extra = [icc_chunk(icc)] if icc else []
    extra += [exif_chunk(exif)] if exif else []
    extra += [dpi_chunk(dpi)] if dpi else []
    return with_chunks(buf.tobytes(), extra, header) if extra or header else buf.tobytes()


def decode_tiff(path: str | Path, data: bytes | None = None) -> np.ndarray:
    """The pixels of the first page of a 16-bit RGB(A) or grey + alpha TIFF: strips or tiles, samples interleaved
    or in separate planes, and any compression tifffile decodes (without imagecodecs: none, deflate). Other
    compressions (LZW...) of interleaved samples go to OpenCV's libtiff. ``data``: as for :func:`decode_png`."""
    tifffile = _library("tifffile", path, "a 16-bit colour TIFF")
    with tifffile.TiffFile(path if data is None else io.BytesIO(data)) as tif:
        page = tif.pages[0]
        colours = 3 if page.photometric == _TIFF_RGB else 1
        extras = tuple(page.extrasamples or ())
        if extras:
            alpha = extras[0] in (_ASSOCIATED_ALPHA, _UNASSOCIATED_ALPHA)
        else:  # no ExtraSamples tag (OpenCV writes none): an extra sample is alpha, as Pillow takes it
            alpha = page.samplesperpixel > colours
        if page.compression in tifffile.TIFF.DECOMPRESSORS:
            try:
                arr = page.asarray()
            except zlib.error as e:  # named "error" alone, it would say little
                raise ValueError(f"damaged deflate data: {e}") from None
            if page.planarconfig != _TIFF_CONTIG:
                arr = np.moveaxis(arr, 0, -1)  # planes S×H×W → H×W×S
        elif page.planarconfig == _TIFF_CONTIG and colours == 3:
            arr = _decode_tiff_opencv(path, data)
        else:  # OpenCV reads interleaved RGB(A) only (separate planes come back scrambled)
            name = getattr(page.compression, "name", page.compression)
            raise ValueError(f"{name} compression in this layout needs the imagecodecs package: "
                             "pip install imagecodecs")
    if arr.ndim != 3 or arr.dtype != np.uint16 or arr.shape[2] < colours + alpha:
        raise ValueError(f"unexpected TIFF layout {arr.dtype} {arr.shape}")
    arr = arr[:, :, : colours + alpha]
    if alpha and extras[:1] == (_ASSOCIATED_ALPHA,):
        arr = _unpremultiply(arr)
    return np.ascontiguousarray(arr)


def _decode_tiff_opencv(path: str | Path, data: bytes | None) -> np.ndarray:
    cv2 = _library("cv2", path, "a 16-bit colour TIFF in this compression")
    with native_stderr.caught() as said:
        arr = cv2.imdecode(_file_bytes(path, data), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError(native_stderr.reason(said, "OpenCV could not decode it"))
    return _rgb(arr) if arr.ndim == 3 else arr


def _unpremultiply(arr: np.ndarray) -> np.ndarray:
    """Associated (premultiplied) alpha to the straight alpha that every other path of rlfn carries."""
    alpha = arr[:, :, -1:].astype(np.float64)
    colour = arr[:, :, :-1] * 65535.0 / np.maximum(alpha, 1.0)
    colour = np.where(alpha > 0, colour, 0.0)
    return np.concatenate([np.clip(colour.round(), 0, 65535).astype(np.uint16), arr[:, :, -1:]], axis=2)


def encode_tiff(pixels: np.ndarray, icc: bytes | None = None, dpi: tuple[float, float] | None = None) -> bytes:
    """A deflate-compressed 16-bit TIFF (horizontal predictor) of RGB or RGBA pixels (grey + alpha too, though
    Pillow cannot open that), with the ICC profile and resolution given."""
    import tifffile  # present: see check_writer
    ch = pixels.shape[2]
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ascontiguousarray(pixels), photometric="rgb" if ch >= 3 else "minisblack",
                     planarconfig="contig", extrasamples=("unassalpha",) if ch in (2, 4) else None,
                     compression="zlib", compressionargs={"level": 1}, predictor=True,  # fast; still ~20% smaller
                     iccprofile=icc or None, resolution=tuple(dpi) if dpi else None,
                     resolutionunit="inch" if dpi else None, metadata=None, software=False)
    return buf.getvalue()
