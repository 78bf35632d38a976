"""Benchmark evaluation: the SR papers' protocol (and the NTIRE one) over folders of images.

LR images are made from HR with the MATLAB-compatible bicubic resize and rounded to uint8, unless a
paired LR folder is given. A fixed degradation (:class:`~rlfn.quality.realworld.EvalDegradation`, e.g.
JPEG at quality 50) may then be applied to that LR, made or given, with a noise seed taken from each
image's name (:func:`~rlfn.quality.realworld.image_seed`), so runs repeat. SR output is rounded to uint8
before measuring, as the papers do.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch

from ..errors import ImageError
from ..io.images import list_images, save_rgb
from ..models.descriptor import SRModel
from ..progress import progress
from .degradation import bicubic_upscale, read_pair
from .metrics import SSIM_WINDOW, crop_border, psnr, psnr_rgb, psnr_y, ssim, ssim_y, to_255
from .realworld import EvalDegradation, image_seed

Protocol = Literal["y", "rgb"]
PROTOCOLS = {
    "y": "Y channel (BT.601), border = scale",
    "rgb": "RGB, border 4 (NTIRE)",
}


@dataclass
class ImageScore:
    name: str
    psnr: float
    ssim: float
    bicubic_psnr: float
    bicubic_ssim: float


@dataclass
class DatasetResult:
    dataset: str
    images: int
    psnr: float
    ssim: float
    bicubic_psnr: float
    bicubic_ssim: float
    per_image: list[ImageScore] = field(default_factory=list)

    def as_dict(self, per_image: bool = True) -> dict:
        d = asdict(self)
        if not per_image:
            d.pop("per_image")
        return d


def border_of(scale: int, protocol: Protocol) -> int:
    return scale if protocol == "y" else 4


def check_scorable(path: Path, hr: torch.Tensor, scale: int, protocol: Protocol) -> None:
    """An ImageError naming ``path`` if its HR image is too small for SSIM once the border is cropped."""
    need = SSIM_WINDOW + 2 * border_of(scale, protocol)
    h, w = hr.shape[-2:]
    if min(h, w) < need:
        raise ImageError(f"{path}: {w}×{h} is too small to score at x{scale}: the SSIM window ({SSIM_WINDOW} px) "
                         f"plus the {border_of(scale, protocol)}-pixel border needs at least {need}×{need} pixels")


def score(sr255: torch.Tensor, hr255: torch.Tensor, scale: int, protocol: Protocol) -> tuple[float, float]:
    if protocol == "y":
        return psnr_y(sr255, hr255, scale), ssim_y(sr255, hr255, scale)
    b = border_of(scale, protocol)
    return psnr_rgb(sr255, hr255, b), ssim(crop_border(sr255, b), crop_border(hr255, b))


def evaluate_folder(
    model: SRModel,
    hr_dir: str | Path,
    lr_dir: str | Path | None = None,
    protocol: Protocol = "y",
    save_dir: str | Path | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    degradation: EvalDegradation | None = None,
) -> DatasetResult:
    """Score ``model`` on every image of ``hr_dir`` (and the bicubic baseline next to it).

    ``degradation``: applied to each LR (made or paired) before the model and the bicubic baseline see it.
    """
    hr_dir = Path(hr_dir)
    files = list_images(hr_dir)
    scale = model.scale
    scores: list[ImageScore] = []
    for path in progress(files, desc=hr_dir.name, quiet=quiet, unit="img"):
        hr, lr = read_pair(path, lr_dir, scale)
        check_scorable(path, hr, scale, protocol)
        if degradation is not None and degradation.steps:
            lr = degradation.apply(lr.round().clamp(0, 255).to(torch.uint8), image_seed(path.stem))
        hr, lr = hr.to(torch.float64), lr.to(torch.float64)
        sr = to_255(model(lr.float() / 255.0).cpu())
        bic = bicubic_upscale(lr, scale)
        p, s = score(sr, hr, scale, protocol)
        bp, bs = score(bic, hr, scale, protocol)
        scores.append(ImageScore(path.stem, p, s, bp, bs))
        if save_dir is not None:
            save_rgb(sr / 255.0, Path(save_dir) / hr_dir.name / f"{path.stem}_x{scale}.png", overwrite=overwrite)
    n = len(scores)
    return DatasetResult(
        dataset=hr_dir.name,
        images=n,
        psnr=sum(s.psnr for s in scores) / n,
        ssim=sum(s.ssim for s in scores) / n,
        bicubic_psnr=sum(s.bicubic_psnr for s in scores) / n,
        bicubic_ssim=sum(s.bicubic_ssim for s in scores) / n,
        per_image=scores,
    )
