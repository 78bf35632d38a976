"""Reading and writing image files with clear errors.

Pillow decodes and encodes, except for the pixels of 16-bit colour PNG and TIFF, which it narrows to 8 bits:
those go through OpenCV and tifffile (:mod:`rlfn.io.deep`, the ``codecs`` extra), while Pillow still reads
their size, frames and metadata. Every failure a user can cause (missing file, not a regular file, not an
image, truncated data, a decompression bomb, several frames or pages) becomes an :class:`ImageError` naming the
file, whatever the decoder raised (:mod:`rlfn.io.files`); files are written atomically (:mod:`rlfn.io.atomic`),
and format limits are checked before encoding.
"""
from __future__ import annotations

import contextlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError
from . import deep
from .atomic import atomic_write, is_temp_name
from .files import check_input, describe, reading

if TYPE_CHECKING:
    import torch
from .pngchunks import HEADER_BYTES, read_header

# zlib level for PNG output. Level 1 writes a 2040×1356 ×4 result in 0.19 s against 0.89 s at Pillow's
# default 6, for a file about a fifth larger: at 6, writing took longer than RLFN-ntire takes to compute the
# image (benchmarks/pipeline_speed.py measures every level; docs/upscale.md has the table).
PNG_COMPRESSION = 1

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def list_files(folder: str | Path, suffixes: Iterable[str], what: str, recursive: bool = False) -> list[Path]:
    """Files in ``folder`` whose suffix is in ``suffixes``, sorted by name, our own temp files left out;
    an ImageError naming ``what`` (for example "images") if it has none."""
    folder = Path(folder)
    if not folder.exists():
        raise ImageError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise ImageError(f"{folder}: is not a folder")
    suffixes = tuple(suffixes)
    files = sorted(p for p in folder.glob("**/*" if recursive else "*")
                   if p.is_file() and p.suffix.lower() in suffixes and not is_temp_name(p.name))
    if not files:
        raise ImageError(f"{folder}: has no {what} ({', '.join(suffixes)})")
    return files


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (by suffix), sorted by name; an ImageError if it has none."""
    return list_files(folder, IMAGE_SUFFIXES, "images", recursive)


def open_image(path: str | Path, max_pixels: int | None = None, data: bytes | None = None) -> Image.Image:
    """Open and fully decode an image, with EXIF orientation applied.

    Images of more than ``max_pixels`` pixels are refused before decoding (a decompression bomb is a tiny
    file that claims enormous dimensions). The default is Pillow's ``Image.MAX_IMAGE_PIXELS``. ``data``: the
    file's bytes, already read (from object storage, say); ``path`` then only names the image in messages.
    """
    if data is None:
        path = Path(path)
        _check_file(path)
    limit = default_max_pixels() if max_pixels is None else max_pixels
    try:
        with _pillow_limit_off():
            im = Image.open(_source(path, data))
        with im:
            _check_size(path, im.size, limit)
            _check_single_frame(path, im)
            im.load()  # decode now so that truncated files fail here
            out = ImageOps.exif_transpose(im)
            if out is im:
                out = im.copy()
            out.info.update({k: v for k, v in im.info.items() if k not in out.info})
            out.format = im.format  # type: ignore[misc]
            return out
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(
            f"{path}: refused as a possible decompression bomb ({e}); raise the limit with --max-pixels if it is genuine"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image Pillow can read") from None
    except (ImageError, MemoryError):
        raise
    except Exception as e:  # whatever a Pillow decoder raises for a damaged file
        raise ImageError(f"{path}: cannot decode image ({describe(e)})") from e


def default_max_pixels() -> int | None:
    return Image.MAX_IMAGE_PIXELS


def _source(path: str | Path, data: bytes | None):
    """What Pillow opens: the file, or its bytes in memory (the same decoders either way)."""
    return path if data is None else io.BytesIO(data)


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    check_input(path, ImageError, "an image")


def _check_single_frame(path: Path, im: Image.Image) -> None:
    """Refuse animations and multi-page files: upscaling the first frame alone would silently drop the rest.
    (MPO, a camera JPEG with a preview or depth image after the photo, is read as its first image.)"""
    frames = getattr(im, "n_frames", 1)
    if frames > 1 and im.format != "MPO":
        raise multi_frame_error(path, frames, im.format)


def multi_frame_error(path: Path, frames: int, fmt: str | None) -> ImageError:
    what, kind = ("a multi-page", "pages") if fmt == "TIFF" else ("an animated", "frames")
    return ImageError(f"{path}: {what} {fmt} of {frames} {kind}; rlfn upscales single images and never keeps just "
                      f"the first of several {kind}: split it into single images first")


# Largest width or height each output format can hold.
FORMAT_LIMITS = {"WEBP": 16383, "JPEG": 65535, "PNG": 2**31 - 1, "TIFF": 2**32 - 1, "BMP": 2**31 - 1}


def check_output_size(path: str | Path, fmt: str, width: int, height: int) -> None:
    """An ImageError, before any work, if a ``width``×``height`` image does not fit format ``fmt``."""
    limit = FORMAT_LIMITS.get(fmt)
    if limit is not None and max(width, height) > limit:
        others = ", ".join(SUFFIX_FOR[k].lstrip(".") for k, v in FORMAT_LIMITS.items()
                           if v >= max(width, height) and k != "BMP")
        name = {"WEBP": "WebP"}.get(fmt, fmt)
        raise ImageError(f"{path}: the output would be {width}×{height}, over {name}'s limit of {limit:,} pixels "
                         f"per side; choose another --ext ({others})")


def _check_size(path: Path, size: tuple[int, int], limit: int | None) -> None:
    w, h = size
    if limit is not None and limit > 0 and w * h > limit:
        raise ImageError(
            f"{path}: {w}×{h} is {w * h / 1e6:.1f} megapixels, over the limit of {limit / 1e6:g} (a possible "
            "decompression bomb); raise the limit with --max-pixels N if the image is genuine"
        )


_limit_lock = threading.Lock()


@contextlib.contextmanager
def _pillow_limit_off():
    """Pillow's own bomb check reads a global; ours (``_check_size``) replaces it so that the limit can be raised."""
    with _limit_lock:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def read_rgb(path: str | Path) -> torch.Tensor:
    """An image file as a float32 RGB tensor 3×H×W with values in [0, 255] (grayscale repeated to RGB)."""
    im = open_image(path)
    with reading(path, ImageError, "cannot decode image"):
        return _rgb_tensor(im)


def read_alpha(path: str | Path) -> torch.Tensor | None:
    """An image file's alpha channel as a float32 1×H×W tensor in [0, 255]; None when it has none or it is
    fully opaque (a palette's transparency counts)."""
    im = open_image(path)
    with reading(path, ImageError, "cannot decode image"):
        return _alpha_tensor(im)


def read_rgb_alpha(path: str | Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`read_rgb` and :func:`read_alpha` of one file, decoded once."""
    im = open_image(path)
    with reading(path, ImageError, "cannot decode image"):
        im.load()
        return _rgb_tensor(im), _alpha_tensor(im)


def _alpha_tensor(im: Image.Image) -> torch.Tensor | None:
    import torch

    if "A" not in im.getbands() and "transparency" not in im.info:
        return None
    if im.mode in ("LA", "RGBA", "La", "RGBa", "PA"):
        a = np.asarray(im.getchannel("A"), dtype=np.uint8)
    else:
        a = np.asarray(im.convert("RGBA").getchannel("A"), dtype=np.uint8)
    if a.min() == 255:
        return None
    return torch.from_numpy(a.astype(np.float32))[None]


def _rgb_tensor(im: Image.Image) -> torch.Tensor:
    import torch  # only the tensor readers need it: the image I/O of `rlfn upscale` stays torch-free

    if im.mode != "RGB":
        if im.mode in ("I;16", "I;16B", "I", "F"):
            arr = np.asarray(im, dtype=np.float64)
            arr = arr / (65535.0 if arr.max() > 255 else 255.0) * 255.0
            t = torch.from_numpy(arr.round().astype(np.float32))
            return t[None].repeat(3, 1, 1)
        im = im.convert("RGB")
    arr = np.asarray(im, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float()


def tensor_to_uint8(img: torch.Tensor) -> np.ndarray:
    """3×H×W float in [0, 1] → H×W×3 uint8."""
    return (img.detach().float().clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).cpu().numpy()


def save_rgb(img: torch.Tensor, path: str | Path, overwrite: bool = False) -> Path:
    """Save a 3×H×W [0, 1] tensor (4×H×W: RGBA) as an 8-bit image, atomically."""
    arr = tensor_to_uint8(img)
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image format {Path(path).suffix!r}")
    return atomic_write(path, lambda tmp: Image.fromarray(arr).save(tmp, format=fmt), overwrite=overwrite)



# ---- Pictures: pixels plus what must survive an upscale (bit depth, alpha, ICC profile, EXIF) ----------------

# Output formats by name or suffix → Pillow format name.
FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF"}
SUFFIX_FOR = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "BMP": "image/bmp", "TIFF": "image/tiff"}
_ORIENTATION = 0x0112


@dataclass
class Picture:
    """An image as H×W×C pixels, C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA), uint8 or uint16."""

    pixels: np.ndarray
    icc: bytes | None = None
    exif: bytes | None = None  # orientation already applied and reset
    format: str | None = None  # Pillow's name for the file's format ("PNG", "JPEG", ...)
    dpi: tuple[float, float] | None = None

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]

    @property
    def bits(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)

    @property
    def is_gray(self) -> bool:
        return self.channels in (1, 2)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow says it."""
        return self.pixels.shape[1], self.pixels.shape[0]


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """Pillow's format name for ``fmt`` (png, jpg, webp, bmp, tif) or, without it, for the suffix of ``path``."""
    key = (fmt or Path(path).suffix).lower().lstrip(".")
    if key not in FORMATS:
        raise ImageError(f"{path}: unknown output format {key!r}; choose one of png, jpg, webp, bmp, tif")
    return FORMATS[key]


def _exif_without_orientation(im: Image.Image) -> bytes | None:
    return _orientation_and_exif(im)[1]


def _orientation_and_exif(im: Image.Image) -> tuple[int, bytes | None]:
    """The EXIF orientation of an opened image (1 if none) and its EXIF without it (None if none)."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1, None  # Pillow would decode the whole image to look for an eXIf chunk after the pixels
    try:
        exif = im.getexif()
        orientation = int(exif.get(_ORIENTATION, 1))
    except Exception:  # a malformed EXIF block is not worth failing the image for
        return 1, None
    if not exif:
        return orientation, None
    if _ORIENTATION in exif:
        del exif[_ORIENTATION]
    try:
        return orientation, exif.tobytes()
    except Exception:
        return orientation, None


def _dpi(im: Image.Image) -> tuple[float, float] | None:
    dpi = im.info.get("dpi")
    try:
        return (float(dpi[0]), float(dpi[1])) if dpi else None
    except (TypeError, ValueError, IndexError):
        return None


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an H×W×C array, as ImageOps.exif_transpose does to images."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
           7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1], 8: lambda a: a.transpose(1, 0, 2)[::-1]}
    op = ops.get(orientation)
    return np.ascontiguousarray(op(arr)) if op else arr


def _deep_kind(path: Path, im: Image.Image, data: bytes | None = None) -> str | None:
    """For a 16-bit file of several channels, whose pixels Pillow would narrow to 8 bits: "PNG", "PNG LA" (grey +
    alpha) or "TIFF"; None for any other file. 16-bit grey stays with Pillow, which keeps its 16 bits."""
    if im.format == "PNG":
        if data is None:
            with open(path, "rb") as f:
                hdr = read_header(f.read(HEADER_BYTES))
        else:
            hdr = read_header(data[:HEADER_BYTES])
        if hdr is None or hdr.bit_depth != 16 or hdr.colour_type not in (2, 4, 6):
            return None
        return "PNG LA" if hdr.colour_type == 4 else "PNG"
    if im.format == "TIFF":
        tags = getattr(im, "tag_v2", {})
        bits, formats = tags.get(258), tags.get(339, 1)
        bits = bits if isinstance(bits, tuple) else (bits,)
        formats = formats if isinstance(formats, tuple) else (formats,)
        if (len(bits) >= 2 and all(b == 16 for b in bits) and all(f == 1 for f in formats)  # unsigned integers
                and tags.get(262) in (1, 2)):  # grey (black is 0) or RGB, with extra samples
            return "TIFF"
    return None


def _load_deep(path: Path, limit: int | None, data: bytes | None = None) -> Picture | None:
    """A 16-bit colour PNG or TIFF read at full depth, or None for any other file (which Pillow reads)."""
    try:
        with _pillow_limit_off():
            im = Image.open(_source(path, data))  # the header and metadata only: no pixel is decoded
    except Exception:
        return None  # open_image reports it properly
    with im:
        kind = _deep_kind(path, im, data)
        if kind is None:
            return None
        _check_single_frame(path, im)
        _check_size(path, im.size, limit)
        orientation, exif = _orientation_and_exif(im)
        icc, dpi, fmt = im.info.get("icc_profile") or None, _dpi(im), im.format
    pixels = (deep.decode_tiff(path, data) if kind == "TIFF"
              else deep.decode_png(path, grey_alpha=kind == "PNG LA", data=data))
    return Picture(_orient(pixels, orientation), icc, exif, fmt, dpi)


def pixels_of(im: Image.Image) -> np.ndarray:
    """H×W×C uint8/uint16 pixels of a decoded Pillow image, keeping grey, alpha and 16-bit depth."""
    mode = im.mode
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)[:, :, None]
    if mode == "I":  # 16-bit greys sometimes arrive as 32-bit integers
        arr = np.asarray(im)
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo < 0 or hi > 65535:  # truly 32-bit (or signed) samples: clipping them would saturate the image
            raise ImageError(f"32-bit integer pixels (values {lo:,} to {hi:,}) are not supported; convert the image "
                             "to 16 or 8 bits per sample")
        return arr.astype(np.uint16)[:, :, None]
    if mode == "F":  # float TIFFs: [0, 1] if they look like it, else taken as 16-bit counts
        arr = np.asarray(im, dtype=np.float64)
        if np.nanmax(arr, initial=0) <= 1.0:
            arr = arr * 65535
        return np.clip(np.nan_to_num(arr), 0, 65535).round().astype(np.uint16)[:, :, None]
    if mode in ("1", "L"):
        return np.asarray(im.convert("L"))[:, :, None]
    if mode in ("LA", "La"):
        return np.asarray(im.convert("LA"))
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    if mode in ("RGBA", "RGBa"):
        return np.asarray(im.convert("RGBA"))
    return np.asarray(im.convert("RGB"))


def load_picture(path: str | Path, max_pixels: int | None = None, data: bytes | None = None) -> Picture:
    """Read an image keeping what an upscale must preserve: grey vs colour, alpha, 16 bits, ICC, EXIF.

    ``data``: the file's bytes, already read (``rlfn.ray`` reads them from any filesystem); they go through
    the same decoders as the file would, and ``path`` (a path or a URI) only names the image in messages."""
    if data is None:
        path = Path(path)
        _check_file(path)
    with reading(path, ImageError, "cannot decode image"):
        return _load_picture(path, max_pixels, data)


def _load_picture(path: Path, max_pixels: int | None, data: bytes | None = None) -> Picture:
    limit = default_max_pixels() if max_pixels is None else max_pixels
    pic = _load_deep(path, limit, data)
    if pic is not None:
        return pic
    im = open_image(path, max_pixels=limit, data=data)
    return picture_of(im)  # (a CMYK profile does not fit the RGB pixels: dropped)


def picture_to_pil(pic: Picture) -> Image.Image:
    """A Pillow image of an 8-bit picture, or of a 16-bit grey one (mode I;16)."""
    arr = np.ascontiguousarray(pic.pixels)
    if pic.bits == 16:
        if pic.channels != 1:
            raise ValueError("Pillow holds 16-bit pixels only for single-channel images")
        return Image.frombytes("I;16", pic.size, arr[:, :, 0].astype("<u2").tobytes())
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[pic.channels]
    return Image.frombuffer(mode, pic.size, arr, "raw", mode, 0, 1)


def to_8bit(arr: np.ndarray) -> np.ndarray:
    """uint16 pixels rounded to uint8 (other arrays are returned as they are)."""
    return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8) if arr.dtype == np.uint16 else arr


def save_picture(pic: Picture, path: str | Path, fmt: str | None = None, *, quality: int = 95,
                 overwrite: bool = False, warn: Callable[[str], None] | None = None,
                 png_compression: int = PNG_COMPRESSION) -> Path:
    """Write ``pic`` atomically in ``fmt`` (default: from the suffix), converting what the format cannot hold
    (see :func:`encode_picture`, which makes the bytes)."""
    path = Path(path)
    fmt = format_for(path, fmt)
    check_output_size(path, fmt, *pic.size)
    data = encode_picture(pic, fmt, quality=quality, warn=warn, png_compression=png_compression, name=path.name)
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), overwrite=overwrite)


def picture_of(im: Image.Image, keep_exif: bool = True) -> Picture:
    """A decoded Pillow image as a :class:`Picture` (its pixels, ICC profile, EXIF and dpi)."""
    icc = im.info.get("icc_profile") if im.mode != "CMYK" else None
    exif = _exif_without_orientation(im) if keep_exif else None
    return Picture(np.ascontiguousarray(pixels_of(im)), icc or None, exif, im.format, _dpi(im))


def encode_picture(pic: Picture, fmt: str, *, quality: int = 95, warn: Callable[[str], None] | None = None,
                   png_compression: int = PNG_COMPRESSION, name: str = "image") -> bytes:
    """``pic`` encoded in Pillow format ``fmt``: the one encoder of ``rlfn upscale`` and ``rlfn serve``.

    16 bits survive in PNG (any channels) and TIFF (grey, RGB, RGBA), colour through the ``codecs`` extra;
    JPEG has no alpha (dropped, with a warning); the ICC profile and EXIF go along wherever the format carries
    them (a 16-bit colour TIFF gets the ICC profile, not the EXIF). ``name`` names the image in warnings.
    """
    note = warn or (lambda _msg: None)
    arr = pic.pixels
    if fmt in ("JPEG", "BMP") and pic.has_alpha:
        # Pillow writes BMP without an alpha mask (readers take the fourth byte for padding): say so, drop it
        what = "JPEG has no alpha channel" if fmt == "JPEG" else "BMP as written here keeps no alpha"
        note(f"{name}: {what}; the alpha is dropped (choose png, webp or tif to keep it)")
        arr = arr[:, :, :-1]
    # No 16-bit grey + alpha TIFF is written: Pillow, and so rlfn itself, could not open it.
    if arr.dtype == np.uint16 and not (fmt == "PNG" or (fmt == "TIFF" and arr.shape[2] != 2)):
        note(f"{name}: {fmt} cannot hold these 16-bit pixels here; written with 8 bits (choose png to keep 16)")
        arr = to_8bit(arr)
    if fmt == "WEBP" and arr.shape[2] == 2:  # WebP has no grey + alpha
        arr = np.concatenate([arr[:, :, :1]] * 3 + [arr[:, :, 1:]], axis=2)
    out = Picture(arr, pic.icc, pic.exif, pic.format, pic.dpi)
    deep_colour = arr.dtype == np.uint16 and arr.shape[2] > 1  # Pillow would narrow it: OpenCV or tifffile
    if deep_colour:
        deep.check_writer(name, fmt)
    if deep_colour or (fmt == "PNG" and arr.dtype == np.uint8 and arr.shape[2] != 2 and deep.has_opencv()):
        # 8-bit PNG too where OpenCV is installed: libpng through it is over twice as fast as Pillow's writer
        if fmt == "PNG":
            return deep.encode_png(arr, pic.icc, pic.exif, pic.dpi, png_compression)
        return deep.encode_tiff(arr, pic.icc, pic.dpi)
    im = picture_to_pil(out)
    kw: dict = {}
    if pic.icc and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        kw["icc_profile"] = pic.icc
    if pic.exif and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        kw["exif"] = pic.exif
    if pic.dpi and fmt in ("PNG", "JPEG", "TIFF"):
        kw["dpi"] = pic.dpi
    if fmt == "PNG":
        kw["compress_level"] = png_compression
    elif fmt == "JPEG":
        kw.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        kw.update(quality=quality, method=4)
    elif fmt == "TIFF":
        from PIL import features

        if features.check("libtiff"):
            kw["compression"] = "tiff_adobe_deflate"
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()
