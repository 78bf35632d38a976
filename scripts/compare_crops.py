"""Make the README's comparison picture: one crop of a benchmark image as LR, bicubic, our shipped
weights, the official weights and the HR original, side by side, with PSNR (Y) of each crop.

    python scripts/compare_crops.py ../shared/data/benchmarks/Set14/zebra.png --box 250 100 96 \
        --official ../shared/weights/official/rlfn_s_x4.pth -o docs/comparison.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

import rlfn
from rlfn.quality.degradation import bicubic_upscale, make_lr, modcrop
from rlfn.io.atomic import atomic_write
from rlfn.io.images import read_rgb
from rlfn.quality.metrics import psnr_y, to_255


def panel(img255: torch.Tensor, box: tuple[int, int, int], zoom: int, label: str) -> Image.Image:
    x, y, s = box
    crop = img255[:, y : y + s, x : x + s].round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    im = Image.fromarray(crop).resize((s * zoom, s * zoom), Image.NEAREST)
    canvas = Image.new("RGB", (im.width, im.height + 22), "white")
    canvas.paste(im, (0, 22))
    ImageDraw.Draw(canvas).text((4, 5), label, fill="black", font=ImageFont.load_default())
    return canvas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image")
    ap.add_argument("--box", nargs=3, type=int, metavar=("X", "Y", "SIZE"), default=(250, 100, 96),
                    help="crop in HR pixels")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--ours", default=None, help="our weights (default: the ones shipped in the package)")
    ap.add_argument("--official", required=True, help="official checkpoint path")
    ap.add_argument("--zoom", type=int, default=2)
    ap.add_argument("-o", "--output", default="docs/comparison.png")
    args = ap.parse_args()

    s = args.scale
    hr = modcrop(read_rgb(args.image), s).double()
    lr = make_lr(hr, s)
    ours = rlfn.load_model("rlfn_s", s, weights=args.ours) if args.ours else rlfn.load_model("rlfn_s", s)
    official = rlfn.load_file(args.official)
    outputs = {
        "LR (nearest)": torch.nn.functional.interpolate(lr[None], scale_factor=s, mode="nearest")[0],
        "bicubic": bicubic_upscale(lr, s),
        "ours": to_255(ours(lr.float() / 255)),
        "official": to_255(official(lr.float() / 255)),
    }
    save_sheet(crop_panels(outputs, hr, args.box, args.zoom, "HR (original)"), args.output)


def crop_panels(outputs: dict[str, torch.Tensor], hr: torch.Tensor, box: tuple[int, int, int], zoom: int,
                hr_label: str) -> list[Image.Image]:
    """One panel per output, labelled with its crop's PSNR (Y) against ``hr`` (not for LR panels), then ``hr``."""
    x, y, size = box
    panels = []
    for name, img in outputs.items():
        crop_psnr = psnr_y(img[:, y : y + size, x : x + size], hr[:, y : y + size, x : x + size], 0)
        label = name if name.startswith("LR") else f"{name}  {crop_psnr:.2f} dB"
        panels.append(panel(img, box, zoom, label))
    panels.append(panel(hr, box, zoom, hr_label))
    return panels


def save_sheet(panels: list[Image.Image], output: str, gap: int = 6) -> None:
    """The panels side by side, written atomically as a PNG (replacing ``output``)."""
    sheet = Image.new("RGB", (sum(p.width for p in panels) + gap * (len(panels) - 1), panels[0].height), "white")
    for i, p in enumerate(panels):
        sheet.paste(p, (i * (p.width + gap), 0))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, lambda tmp: sheet.save(tmp, format="PNG", optimize=True), overwrite=True)
    print(output)


if __name__ == "__main__":
    main()
