"""Validation during training: the benchmark protocol of ``rlfn eval`` on the config's validation folders."""
from __future__ import annotations

from typing import Callable

from ..io.images import list_images
from ..models.descriptor import SRModel
from ..models.rlfn import RLFN
from ..models.weights import OURS_PIXEL_RANGE
from ..quality.degradation import read_pair
from ..quality.evaluate import evaluate_folder
from ..quality.realworld import parse_eval_degradation
from .config import ValConfig
from .runlog import RunLog


def validate(module: RLFN, val: ValConfig, variant: str, scale: int, log: RunLog, where: str,
             record: Callable[[dict], None], global_step: int) -> float | None:
    """PSNR/SSIM (Y channel) of ``module`` on every validation folder under every ``val.degrade`` condition,
    logged, recorded and sent to TensorBoard (with a few SR images of the clean LR); returns the PSNR on the
    first folder under the first condition."""
    was_training = module.training
    module.eval()
    sr_model = SRModel(module, variant, scale, OURS_PIXEL_RANGE, module.channels, module.mid_channels,
                       module.num_blocks, source="training")
    psnr_first = None
    conditions = [(spec, parse_eval_degradation(spec)) for spec in val.degrade]
    for hr_dir, lr_dir in zip(val.hr_dirs, val.lr_dirs or [None] * len(val.hr_dirs)):
        for spec, deg in conditions:
            r = evaluate_folder(sr_model, hr_dir, lr_dir, "y", quiet=True, degradation=deg)
            psnr_first = r.psnr if psnr_first is None else psnr_first
            suffix = f" {spec}" if deg.steps else ""  # clean keeps the records and tags it always had
            log(f"val {r.dataset}{suffix}: PSNR {r.psnr:.3f} dB  SSIM {r.ssim:.4f}  (bicubic {r.bicubic_psnr:.3f} / "
                f"{r.bicubic_ssim:.4f})  {where}")
            entry = {"kind": "val", "dataset": r.dataset, "psnr": r.psnr, "ssim": r.ssim,
                     "bicubic_psnr": r.bicubic_psnr, "bicubic_ssim": r.bicubic_ssim}
            if deg.steps:
                entry["degrade"] = spec
            record(entry)
            tag = r.dataset + suffix.replace(" ", "_")
            log.scalars({f"val/{tag}/psnr": r.psnr, f"val/{tag}/ssim": r.ssim}, global_step)
    if log.writer and val.images > 0:
        for path in list_images(val.hr_dirs[0])[: val.images]:
            _, lr = read_pair(path, None, scale)
            log.writer.add_image(f"val_images/{path.stem}", sr_model(lr.float() / 255).cpu(), global_step)
    module.train(was_training)
    return psnr_first
