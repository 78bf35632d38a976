"""Make the real-world picture (issue 15): one crop of a photo whose LR was JPEG-compressed (or given noise,
then JPEG) as photos from the web are, upscaled ×4 by bicubic, by the default (bicubic-trained) model, by
``--denoise 0.5`` and by the real-world model, beside the original; PSNR (Y) of each crop in its label.

    python scripts/realworld_picture.py ../shared/data/benchmarks/Set14/lenna.png --box 200 200 128 \
        --degrade jpeg50 -o docs/realworld.png
"""
from __future__ import annotations

import argparse

import torch

import rlfn
from compare_crops import crop_panels, save_sheet
from rlfn.io.images import read_rgb
from rlfn.models.interpolate import interpolate
from rlfn.quality.degradation import bicubic_upscale, modcrop
from rlfn.quality.metrics import to_255
from rlfn.quality.realworld import degrade_for_eval


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image")
    ap.add_argument("--box", nargs=3, type=int, metavar=("X", "Y", "SIZE"), default=(200, 200, 128),
                    help="crop in HR pixels")
    ap.add_argument("--degrade", default="jpeg50", help="what the LR goes through, as in rlfn eval (default: jpeg50)")
    ap.add_argument("--real", default=None, help="real-world weights (default: the ones shipped in the package)")
    ap.add_argument("--zoom", type=int, default=2)
    ap.add_argument("-o", "--output", default="docs/realworld.png")
    args = ap.parse_args()

    s = 4
    hr = modcrop(read_rgb(args.image), s).double()
    lr = degrade_for_eval(hr, s, args.degrade, seed=0).double()
    default = rlfn.load_model("rlfn_s", s, pretrained="ours")
    real = rlfn.load_model("rlfn_s", s, weights=args.real) if args.real else rlfn.load_model("rlfn_s", s, pretrained="real")
    half = interpolate(default, real, 0.5)
    outputs = {
        f"LR, {args.degrade} (nearest)": torch.nn.functional.interpolate(lr[None], scale_factor=s, mode="nearest")[0],
        "bicubic": bicubic_upscale(lr, s),
        "default model": to_255(default(lr.float() / 255)),
        "--denoise 0.5": to_255(half(lr.float() / 255)),
        "real-world model": to_255(real(lr.float() / 255)),
    }
    save_sheet(crop_panels(outputs, hr, args.box, args.zoom, "original"), args.output)


if __name__ == "__main__":
    main()
