"""The bicubic degradation of the SR benchmarks, on [0, 255] values: HR → LR (``make_lr``), the bicubic
baseline LR → SR (``bicubic_upscale``), and reading (HR, LR) pairs, made or from paired LR folders.

Used by evaluation, the training data, the trainer's validation images and the scripts.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ImageError
from ..io.images import read_rgb
from .imresize import imresize


def modcrop(img: torch.Tensor, scale: int) -> torch.Tensor:
    """``img`` cropped at the bottom and right to a multiple of ``scale``."""
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


def make_lr(hr255: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB ``imresize(hr, 1/scale, 'bicubic')`` on uint8-level values, rounded as MATLAB returns uint8."""
    return imresize(hr255.to(torch.float64), scale=1.0 / scale).round().clamp(0, 255)


def bicubic_upscale(lr255: torch.Tensor, scale: int) -> torch.Tensor:
    """The bicubic baseline: MATLAB ``imresize(lr, scale, 'bicubic')``, rounded as MATLAB returns uint8."""
    return imresize(lr255.to(torch.float64), scale=float(scale)).round().clamp(0, 255)


def find_lr_file(lr_dir: Path, hr_path: Path, scale: int) -> Path:
    """The LR file paired with ``hr_path`` in ``lr_dir``: the same stem, optionally with an x{scale} suffix."""
    stem = hr_path.stem
    for name in (stem, f"{stem}x{scale}", f"{stem}_x{scale}", f"{stem}_LR", f"{stem}_LRBI_x{scale}"):
        for p in lr_dir.glob(f"{name}.*"):
            if p.is_file():
                return p
    raise ImageError(f"{lr_dir}: no LR image for {hr_path.name} (looked for {stem}.*, {stem}x{scale}.*)")


def read_pair(hr_path: Path, lr_dir: Path | None, scale: int, bicubic_lr: bool = True
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(HR, LR) of one benchmark or training image, 3×H×W float in [0, 255].

    With ``lr_dir``: the paired LR file, HR cropped to LR × scale. Without: HR cropped to a multiple of the
    scale and LR made from it by :func:`make_lr` (``bicubic_lr=False``: None, for LR made later).
    """
    hr = read_rgb(hr_path)
    if lr_dir is not None:
        lr = read_rgb(find_lr_file(Path(lr_dir), hr_path, scale))
        hr = hr[:, : lr.shape[1] * scale, : lr.shape[2] * scale]
        if hr.shape[1] != lr.shape[1] * scale or hr.shape[2] != lr.shape[2] * scale:
            raise ImageError(f"{hr_path}: HR {tuple(hr.shape[1:])} is smaller than its LR {tuple(lr.shape[1:])} × {scale}")
        return hr, lr
    hr = modcrop(hr, scale)
    if min(hr.shape[1:]) < scale:
        raise ImageError(f"{hr_path}: too small for x{scale}")
    return hr, make_lr(hr, scale) if bicubic_lr else None
