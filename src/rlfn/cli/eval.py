"""``rlfn eval``: PSNR/SSIM of a model on folders of HR images (or paired HR/LR folders)."""
from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RLFNError
from .common import (add_device_argument, add_json_argument, add_model_arguments, add_overwrite_argument,
                     add_quiet_argument, add_threads_argument, load_from_args, refuse_json_file, write_json)

if TYPE_CHECKING:
    from ..quality.evaluate import DatasetResult


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("datasets", nargs="+", metavar="HR_DIR", help="folders of HR images (e.g. Set5 Set14)")
    add_model_arguments(p)
    # One folder per --lr (repeat it for several HR folders): a list option would swallow the HR folders
    # that follow it ("rlfn eval --lr LR HR").
    p.add_argument("--lr", dest="lr_dirs", action="append", metavar="LR_DIR", default=None,
                   help="the LR folder paired with an HR_DIR; repeat once per HR_DIR, in the same order "
                        "(default: make LR with MATLAB-compatible bicubic)")
    # rlfn.quality.evaluate.PROTOCOLS' keys, written out so that parsing does not import torch (a test checks)
    p.add_argument("--protocol", choices=PROTOCOL_NAMES, default="y",
                   help="y: PSNR/SSIM on the BT.601 Y channel, border = scale (the papers); "
                        "rgb: RGB with a 4-pixel border (NTIRE) (default: %(default)s)")
    p.add_argument("--degrade", metavar="SPEC", default="clean",
                   help="degrade the LR (made or given by --lr) before upscaling, as users meet images: jpegQ, "
                        "noiseS (Gaussian, 0-255 levels) or both, e.g. jpeg50, noise10+jpeg70; the noise is "
                        "seeded per image name, so runs repeat (default: %(default)s)")
    p.add_argument("--save", metavar="DIR", default=None, help="save the SR images under DIR/<dataset>/")
    add_overwrite_argument(p, "existing files under --save and an existing --json file")
    add_json_argument(p, "the results")
    p.add_argument("--per-image", action="store_true", help="also print every image's scores")
    add_device_argument(p)
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="fp32: the plain float32 forward, which reproduces the papers' numbers; bf16/fp16: the "
                        "fast path rlfn upscale runs in that precision, to see what it costs (default: %(default)s)")
    add_threads_argument(p)
    add_quiet_argument(p)


PROTOCOL_NAMES = ("rgb", "y")


def format_table(label: str, r: DatasetResult, per_image: bool = False) -> str:
    lines = [f"{r.dataset} ({r.images} images)", f"  {'method':<34} {'PSNR':>8} {'SSIM':>8}",
             f"  {'bicubic':<34} {r.bicubic_psnr:8.2f} {r.bicubic_ssim:8.4f}",
             f"  {label:<34} {r.psnr:8.2f} {r.ssim:8.4f}"]
    if per_image:
        for s in r.per_image:
            lines.append(f"    {s.name:<32} {s.psnr:8.2f} {s.ssim:8.4f}   (bicubic {s.bicubic_psnr:.2f} / {s.bicubic_ssim:.4f})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..inference.devices import resolve_device
    from ..quality.evaluate import PROTOCOLS, evaluate_folder
    from ..quality.realworld import parse_eval_degradation

    if args.lr_dirs is not None and len(args.lr_dirs) != len(args.datasets):
        raise RLFNError(f"--lr gives {len(args.lr_dirs)} folders for {len(args.datasets)} HR folders; give one per HR folder")
    for d in args.datasets + (args.lr_dirs or []):
        if not Path(d).is_dir():
            raise RLFNError(f"{d}: {'is a file, not a folder' if Path(d).exists() else 'no such folder'}")
    degradation = parse_eval_degradation(args.degrade)
    refuse_json_file(args.json, args.overwrite)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model = load_from_args(args, resolve_device(args.device))
    label = f"{model.variant} x{model.scale}" + (f" ({model.source})" if model.source in ("ours", "official") else "")
    described = model.describe()
    if args.precision != "fp32":
        import torch

        from ..inference.fastpath import optimize

        model = optimize(model, dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[args.precision])
        label += f" {args.precision}"
    # With --json -, standard output carries the JSON alone; the tables go to standard error.
    say = functools.partial(print, file=sys.stderr if args.json == "-" else sys.stdout, flush=True)
    say(f"{described}\nprotocol: {PROTOCOLS[args.protocol]}")
    if args.precision != "fp32":
        say(f"precision: {args.precision} (the fast path of rlfn upscale)")
    if degradation.steps:
        say(f"degradation: {degradation} (applied to the LR, seeded per image)")
    results = []
    start = time.perf_counter()
    for i, d in enumerate(args.datasets):
        lr = args.lr_dirs[i] if args.lr_dirs else None
        r = evaluate_folder(model, d, lr, args.protocol, args.save, args.overwrite, args.quiet, degradation)
        results.append(r)
        say(format_table(label, r, args.per_image))
    if not args.quiet:
        print(f"{sum(r.images for r in results)} images in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if args.json:
        payload = {
            "model": model.variant,
            "scale": model.scale,
            "weights": model.source,
            "protocol": args.protocol,
            "protocol_description": PROTOCOLS[args.protocol],
            "degradation": str(degradation),
            "results": [r.as_dict() for r in results],
        }
        write_json(args.json, payload, args.overwrite)
    return 0
