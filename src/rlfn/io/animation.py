"""Animated GIF, APNG and WebP: every frame read with its duration, and written back animated.

Pillow hands out each frame already composed onto the whole canvas (GIF disposal, APNG blending and WebP
blending applied), so frames are read as whole RGBA pictures and written back whole; the encoders then
store only what changed between frames. In GIF output, transparency is binary: alpha is cut at one half,
and frames are disposed to the background when any pixel is transparent (so an earlier frame never shows
through a transparent pixel of a later one). Like Pillow, the GIF and APNG writers merge consecutive
identical frames into one, adding their durations; the timing is unchanged.

The writers need every frame at once, so an animation is held in memory: one whose upscaled frames would
not fit in half of this machine's memory is refused before the work (a video container streams instead).
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageSequence

from ..errors import ImageError
from .atomic import atomic_write
from .files import check_input, describe
from .images import check_output_size, default_max_pixels

ANIMATION_FORMATS = {"gif": "GIF", "png": "PNG", "apng": "PNG", "webp": "WEBP"}
GIF_LIMIT = 65535  # its width and height are 16-bit numbers


def is_animation(path: str | Path) -> bool:
    """True for a GIF, PNG or WebP file of several frames. 16-bit APNGs are left out: Pillow would narrow
    their frames to 8 bits, and the still-image reader refuses them with a reason."""
    path = Path(path)
    if not path.is_file():  # a named pipe would block open(); the image reader refuses such files
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's decompression-bomb warning: the readers apply their own limit
            with Image.open(path) as im:
                if im.format not in ("GIF", "PNG", "WEBP") or getattr(im, "n_frames", 1) < 2:
                    return False
                return not (im.format == "PNG" and _png_bit_depth(path) == 16)
    except Exception:  # noqa: BLE001 - not an image at all: the image reader says so properly
        return False


def _png_bit_depth(path: Path) -> int:
    """The bit depth in a PNG's header (the byte after IHDR's width and height)."""
    with open(path, "rb") as f:
        head = f.read(25)
    return head[24] if len(head) == 25 and head[12:16] == b"IHDR" else 0


def animation_format(path: str | Path, fmt: str | None = None) -> str:
    """Pillow's format name for writing an animation to ``path`` (or as ``fmt``): GIF, PNG (APNG) or WEBP."""
    key = (fmt or Path(path).suffix).lower().lstrip(".")
    if key not in ANIMATION_FORMATS:
        raise ImageError(f"{path}: an animation is written as gif, png (APNG) or webp, not {key or 'without suffix'}; "
                         "choose one with --ext")
    return ANIMATION_FORMATS[key]


@dataclass
class Animation:
    """An open animation: its size, frame count, loop count and colour profile; :meth:`frames` reads it."""

    im: Image.Image
    path: Path
    format: str
    size: tuple[int, int]
    n_frames: int
    loop: int | None  # None: play once (a GIF without a loop extension)
    icc: bytes | None

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        """(H×W×4 uint8 RGBA pixels, duration in milliseconds) for every frame, in order."""
        for i, frame in enumerate(ImageSequence.Iterator(self.im)):
            try:
                frame.load()  # the duration of a WebP frame is known once it is decoded
                pixels = np.asarray(frame.convert("RGBA"))
            except Exception as e:  # noqa: BLE001 - whatever the decoder raises for a damaged frame
                raise ImageError(f"{self.path}: cannot decode frame {i + 1} of {self.n_frames} ({describe(e)})") from e
            yield pixels, float(frame.info.get("duration") or 0)


@contextlib.contextmanager
def open_animation(path: str | Path, max_pixels: int | None = None) -> Iterator[Animation]:
    path = Path(path)
    check_input(path, ImageError, "an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the size is checked below, against --max-pixels
            im = Image.open(path)
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: refused as a possible decompression bomb ({e})") from None
    except Exception as e:  # noqa: BLE001 - Pillow's UnidentifiedImageError and the like
        raise ImageError(f"{path}: not an image Pillow can read ({describe(e)})") from None
    with im:
        limit = default_max_pixels() if max_pixels is None else max_pixels
        w, h = im.size
        if limit and w * h > limit:
            raise ImageError(f"{path}: {w}×{h} is {w * h / 1e6:.1f} megapixels, over the limit of {limit / 1e6:g} (a "
                             "possible decompression bomb); raise the limit with --max-pixels N if it is genuine")
        loop = im.info.get("loop")
        yield Animation(im, path, im.format or "", (w, h), getattr(im, "n_frames", 1),
                        int(loop) if loop is not None else None, im.info.get("icc_profile") or None)


def check_animation_output(path: str | Path, fmt: str, width: int, height: int, frames: int, channels: int = 4) -> None:
    """An ImageError, before the work, if the output does not fit ``fmt`` or would not fit in memory."""
    if fmt == "GIF" and max(width, height) > GIF_LIMIT:
        raise ImageError(f"{path}: the output would be {width}×{height}, over GIF's limit of {GIF_LIMIT:,} pixels per "
                         "side; choose --ext png or webp")
    check_output_size(path, fmt, width, height)
    need = frames * width * height * channels
    try:
        have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): no guard
        return
    if need > have // 2:
        raise ImageError(f"{path}: {frames} upscaled frames of {width}×{height} need {need / 1e9:.1f} GB held at once "
                         f"(the GIF/APNG/WebP writers take every frame together), over half of this machine's "
                         f"{have / 1e9:.1f} GB; convert it to a video (.mp4) first")


def save_animation(frames: list[np.ndarray], durations: list[float], path: str | Path, fmt: str | None = None, *,
                   loop: int | None = 0, quality: int = 95, icc: bytes | None = None, overwrite: bool = False) -> Path:
    """Write RGBA frames (H×W×4 uint8) with their durations (ms) as an animated GIF, APNG or WebP, atomically.
    Fully opaque animations are written without alpha."""
    fmt = animation_format(path, fmt)
    if not frames:
        raise ImageError(f"{path}: an animation needs at least one frame")
    alpha = any(int(f[:, :, 3].min()) < 255 for f in frames)
    images = []
    for f in frames:
        if not alpha:
            images.append(Image.fromarray(np.ascontiguousarray(f[:, :, :3]), "RGB"))
            continue
        if fmt == "GIF":  # one transparent palette entry: each pixel is transparent or not
            f = f.copy()
            clear = f[:, :, 3] < 128
            f[clear] = 0
            f[~clear, 3] = 255
        images.append(Image.fromarray(f, "RGBA"))
    kw: dict = {"save_all": True, "append_images": images[1:], "duration": [round(d, 3) for d in durations]}
    if fmt == "GIF":
        kw["duration"] = [int(round(d)) for d in durations]
        if loop is not None:
            kw["loop"] = loop
        if alpha:
            kw["disposal"] = 2
    else:
        kw["loop"] = 1 if loop is None else loop  # APNG and WebP: 1 = play once, as a GIF without a loop
    if fmt == "WEBP":
        kw.update(quality=quality, method=4)
    if icc and fmt in ("PNG", "WEBP"):
        kw["icc_profile"] = icc
    return atomic_write(path, lambda tmp: images[0].save(tmp, format=fmt, **kw), overwrite=overwrite)
