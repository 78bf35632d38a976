"""Reading and writing image files with clear errors, and atomic writes.

Pillow does the decoding. Every failure a user can cause (missing file, not an image, truncated data,
a decompression bomb) becomes an :class:`ImageError` naming the file.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (by suffix), sorted by name; an ImageError if it has none."""
    folder = Path(folder)
    if not folder.exists():
        raise ImageError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise ImageError(f"{folder}: is not a folder")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(f"{folder}: has no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image, with EXIF orientation applied."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()  # decode now so that truncated files fail here
                out = ImageOps.exif_transpose(im)
                if out is im:
                    out = im.copy()
                out.info.update({k: v for k, v in im.info.items() if k not in out.info})
                return out
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(
            f"{path}: refused as a possible decompression bomb ({e}); raise the limit with --max-pixels if it is genuine"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: cannot decode image ({e})") from None


def read_rgb(path: str | Path) -> torch.Tensor:
    """An image file as a float32 RGB tensor 3×H×W with values in [0, 255] (grayscale repeated to RGB)."""
    im = open_image(path)
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


def atomic_write(path: str | Path, write, overwrite: bool = False) -> Path:
    """Call ``write(tmp_path)`` then rename to ``path``: a crash never leaves a partial file behind."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ImageError(f"{path}: exists (pass --overwrite to replace it)")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=parent)
        os.close(fd)
    except OSError as e:
        raise ImageError(f"{path}: cannot write there ({e.strerror or e})") from None
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as e:
        raise ImageError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save_rgb(img: torch.Tensor, path: str | Path, overwrite: bool = False) -> Path:
    """Save a 3×H×W [0, 1] tensor as an 8-bit image, atomically."""
    arr = tensor_to_uint8(img)
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image format {Path(path).suffix!r}")
    return atomic_write(path, lambda tmp: Image.fromarray(arr).save(tmp, format=fmt), overwrite=overwrite)

