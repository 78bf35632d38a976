"""Draw examples/demo.png: a small synthetic test card (our own image, so the repository ships no
third-party pictures) with text, fine stripes, circles and gradients, where upscaling differences show."""
from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont


def draw(w: int = 192, h: int = 128) -> Image.Image:
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (int(255 * x / w), int(180 + 60 * math.sin(y / 9)), int(255 * (1 - y / h)))
    d = ImageDraw.Draw(img)
    for i in range(12):  # converging lines: aliasing shows here
        d.line([(8, 120), (8 + i * 7, 60)], fill=(20, 20, 20), width=1)
    for r in range(4, 30, 5):
        d.ellipse([150 - r, 40 - r, 150 + r, 40 + r], outline=(250, 250, 250) if r % 2 else (30, 30, 120))
    d.rectangle([96, 70, 184, 120], fill=(245, 240, 230))
    font = ImageFont.load_default()
    d.text((100, 74), "RLFN x4", fill=(10, 10, 10), font=font)
    d.text((100, 90), "rlfn upscale", fill=(160, 20, 20), font=font)
    d.text((100, 104), "0123456789", fill=(20, 60, 160), font=font)
    d.text((8, 8), "demo", fill=(255, 255, 255), font=font)
    # a slight blur, as a camera or a downscale would leave it
    return img.filter(ImageFilter.GaussianBlur(0.6))


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "examples" / "demo.png")
    draw().save(out, optimize=True)
    print(out)
