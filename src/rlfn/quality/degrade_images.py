"""Degraded LR image sets: a folder of HR images → the LR a model is trained on, or a test set.

What ``rlfn degrade`` runs. Each whole image (cropped at the bottom and right to a multiple of the scale)
is turned into its LR by one of

- the training pipeline (:func:`rlfn.quality.realworld.degrade`, with a :class:`RealWorldConfig`), the
  same steps a training patch goes through, applied to the whole image;
- the bicubic of the benchmarks (:func:`rlfn.quality.degradation.make_lr`), for a config that trains on it;
- a fixed evaluation spec (``jpeg50``, ``noise10+jpeg70``: :func:`rlfn.quality.realworld.degrade_for_eval`).
  With seed 0 this is exactly the LR ``rlfn eval --degrade SPEC`` makes, so ``rlfn eval HR --lr OUT_DIR``
  then gives the same scores.

Randomness comes from the image's name and the seed (:func:`rlfn.quality.realworld.image_seed`): the same
command writes the same files, whatever else the folder holds. Files are written as PNG (lossless: the
degradation is in the pixels, not added by the file format), atomically, named ``<stem>.png``. An alpha
channel is kept, downscaled by the MATLAB bicubic (the noise and JPEG steps model a camera's colour).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import torch

from ..errors import ImageError, WriteError
from ..io.images import list_images, read_rgb_alpha, save_rgb
from ..progress import progress
from .degradation import make_lr, modcrop
from .realworld import EvalDegradation, RealWorldConfig, degrade, degrade_for_eval, image_seed


@dataclass(frozen=True)
class Bicubic:
    """The benchmarks' MATLAB bicubic LR, rounded to 8 bits."""

    def __str__(self) -> str:
        return "bicubic"


Recipe = Union[RealWorldConfig, EvalDegradation, Bicubic]


def describe(recipe: Recipe) -> str:
    if isinstance(recipe, RealWorldConfig):
        return "realworld" if recipe == RealWorldConfig() else "realworld (the config's settings)"
    return str(recipe)


def make_degraded_lr(hr: torch.Tensor, scale: int, recipe: Recipe, name: str, seed: int = 0) -> torch.Tensor:
    """The 3×(H/scale)×(W/scale) uint8 LR of one whole HR image (3×H×W, uint8 or 0–255 float) called
    ``name`` (its file stem: with ``seed``, it decides the random draws)."""
    if min(hr.shape[-2:]) < scale:
        raise ImageError(f"{name}: {hr.shape[-1]}×{hr.shape[-2]} pixels is too small for ×{scale} (the HR needs at "
                         f"least {scale}×{scale} pixels, one LR pixel)")
    hr = modcrop(hr, scale)
    hr8 = hr if hr.dtype == torch.uint8 else hr.round().clamp(0, 255).to(torch.uint8)
    if isinstance(recipe, RealWorldConfig):
        return degrade(hr8, scale, recipe, generator=image_seed(name, seed))
    if isinstance(recipe, EvalDegradation):
        return degrade_for_eval(hr8, scale, recipe, seed=image_seed(name, seed))
    return make_lr(hr8.to(torch.float64), scale).to(torch.uint8)


def output_paths(files: list[Path], out_dir: Path) -> list[Path]:
    """``out_dir/<stem>.png`` for each file; refuses two inputs with one stem (a.jpg and a.png)."""
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise ImageError(f"{seen[f.stem].name} and {f.name} would both be written as {f.stem}.png; rename one")
        seen[f.stem] = f
    return [out_dir / f"{f.stem}.png" for f in files]


def degrade_folder(in_dir: str | Path, out_dir: str | Path, scale: int, recipe: Recipe, seed: int = 0,
                   overwrite: bool = False, quiet: bool = False,
                   skipped: Callable[[str], None] | None = None) -> list[Path]:
    """Write the degraded LR of every image of ``in_dir`` to ``out_dir/<stem>.png``; returns the paths.

    Nothing is written if any output exists and ``overwrite`` is false, or if ``out_dir`` is ``in_dir``. An
    image that cannot be read or degraded (too small for the scale, damaged) is passed over: its one-line
    reason goes to ``skipped`` (default: raised), and the batch goes on.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    files = list_images(in_dir)
    if out_dir.exists() and out_dir.resolve() == in_dir.resolve():
        raise WriteError(f"{out_dir}: is the input folder; give another OUT_DIR")
    targets = output_paths(files, out_dir)
    if not overwrite:
        existing = [t for t in targets if t.exists()]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise WriteError(f"{existing[0]}: exists{more} (pass --overwrite to replace)")
    written = []
    for f, target in progress(list(zip(files, targets)), desc=in_dir.name, quiet=quiet, unit="img"):
        try:
            hr, alpha = read_rgb_alpha(f)
            if min(hr.shape[-2:]) < scale:
                raise ImageError(f"{f}: {hr.shape[-1]}×{hr.shape[-2]} pixels is too small for ×{scale} (the HR needs "
                                 f"at least {scale}×{scale} pixels, one LR pixel)")
            lr = make_degraded_lr(hr, scale, recipe, f.stem, seed)
            if alpha is not None:  # kept, downscaled by the MATLAB bicubic: noise and JPEG belong to the colour
                lr = torch.cat([lr.float(), make_lr(modcrop(alpha, scale), scale)], 0)
        except ImageError as e:
            if skipped is None:
                raise
            skipped(str(e))
            continue
        written.append(save_rgb(lr.float() / 255.0, target, overwrite=True))
    return written
