"""``rlfn eval``: PSNR/SSIM of a model on folders of HR images (or paired HR/LR folders)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..errors import RLFNError
from ..inference.devices import resolve_device
from ..quality.evaluate import PROTOCOLS, DatasetResult, evaluate_folder
from ..quality.realworld import parse_eval_degradation
from .common import add_model_arguments, load_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("datasets", nargs="+", metavar="HR_DIR", help="folders of HR images (e.g. Set5 Set14)")
    add_model_arguments(p)
    p.add_argument("--lr", dest="lr_dirs", nargs="+", metavar="LR_DIR", default=None,
                   help="paired LR folders, one per HR_DIR (default: make LR with MATLAB-compatible bicubic)")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="y",
                   help="y: PSNR/SSIM on the BT.601 Y channel, border = scale (the papers); "
                        "rgb: RGB with a 4-pixel border (NTIRE) (default: %(default)s)")
    p.add_argument("--degrade", metavar="SPEC", default="clean",
                   help="degrade the LR (made or given by --lr) before upscaling, as users meet images: jpegQ, "
                        "noiseS (Gaussian, 0-255 levels) or both, e.g. jpeg50, noise10+jpeg70; the noise is "
                        "seeded per image name, so runs repeat (default: %(default)s)")
    p.add_argument("--save", metavar="DIR", default=None, help="save the SR images under DIR/<dataset>/")
    p.add_argument("--overwrite", action="store_true", help="replace existing files under --save and an existing --json file")
    p.add_argument("--json", metavar="FILE", default=None, help="write the results as JSON")
    p.add_argument("--per-image", action="store_true", help="also print every image's scores")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default: %(default)s)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")


def format_table(label: str, r: DatasetResult, per_image: bool = False) -> str:
    lines = [f"{r.dataset} ({r.images} images)", f"  {'method':<34} {'PSNR':>8} {'SSIM':>8}",
             f"  {'bicubic':<34} {r.bicubic_psnr:8.2f} {r.bicubic_ssim:8.4f}",
             f"  {label:<34} {r.psnr:8.2f} {r.ssim:8.4f}"]
    if per_image:
        for s in r.per_image:
            lines.append(f"    {s.name:<32} {s.psnr:8.2f} {s.ssim:8.4f}   (bicubic {s.bicubic_psnr:.2f} / {s.bicubic_ssim:.4f})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.lr_dirs is not None and len(args.lr_dirs) != len(args.datasets):
        raise RLFNError(f"--lr gives {len(args.lr_dirs)} folders for {len(args.datasets)} HR folders; give one per HR folder")
    for d in args.datasets + (args.lr_dirs or []):
        if not Path(d).is_dir():
            raise RLFNError(f"{d}: {'is a file, not a folder' if Path(d).exists() else 'no such folder'}")
    degradation = parse_eval_degradation(args.degrade)
    model = load_from_args(args, resolve_device(args.device))
    label = f"{model.variant} x{model.scale}" + (f" ({model.source})" if model.source in ("ours", "official") else "")
    print(f"{model.describe()}\nprotocol: {PROTOCOLS[args.protocol]}")
    if degradation.steps:
        print(f"degradation: {degradation} (applied to the LR, seeded per image)")
    results = []
    if args.json:  # before the work, not after it
        from ..io.atomic import refuse_existing

        refuse_existing(args.json, args.overwrite, "--json")
    start = time.perf_counter()
    for i, d in enumerate(args.datasets):
        lr = args.lr_dirs[i] if args.lr_dirs else None
        r = evaluate_folder(model, d, lr, args.protocol, args.save, args.overwrite, args.quiet, degradation)
        results.append(r)
        print(format_table(label, r, args.per_image), flush=True)
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
        from ..io.atomic import atomic_write

        atomic_write(args.json, lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n"),
                     overwrite=args.overwrite)
    return 0
