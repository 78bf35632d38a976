"""Synthetic training images of graphics: text, flat shapes, stripes and checks on plain, graded or cloudy grounds.

Why: our default weights trail the official RLFN-S most on sharp, high-contrast content (a slide's text and
flat graphics, a comic, striped cloth: +0.7 to +1.1 dB per image at ×2) and least on natural photos (under
0.25 dB), and our training photos hold little such content. These images are drawn from a seed with the fonts
installed on the machine, so nothing is downloaded; the same seed and fonts give the same images.

Each image is drawn at 1×, 2× or 4× its size and reduced with a Lanczos filter: at 1× edges are pixel-sharp, as
on a screen; at 2× and 4× they are anti-aliased, as in a photograph of a sign or a print.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from rlfn.io.atomic import atomic_write
from rlfn.progress import progress

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
             "/Library/Fonts", "/System/Library/Fonts", "C:/Windows/Fonts")
_LETTERS = "abcdefghijklmnopqrstuvwxyzabcdeeeeiioonnrrsstt"
_PUNCT = ".,;:!?-()/%&@#$'\""


def find_fonts(dirs: tuple[str, ...] = FONT_DIRS) -> list[Path]:
    """The TrueType/OpenType fonts under `dirs` that FreeType opens, sorted by name (so the set is stable)."""
    found = set()
    for d in dirs:
        p = Path(d).expanduser()
        if p.is_dir():
            found.update(f for f in p.rglob("*") if f.suffix.lower() in (".ttf", ".otf") and f.is_file())
    usable = []
    for f in sorted(found, key=lambda f: (f.name, str(f))):
        try:
            ImageFont.truetype(str(f), 12)
        except OSError:
            continue
        usable.append(f)
    return usable


def _font(fonts: list[Path], rng: np.random.Generator, size: int) -> ImageFont.FreeTypeFont:
    if fonts:
        return ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), size)
    return ImageFont.load_default(size)  # Pillow's own scalable font where none is installed


def _luma(c: tuple[int, int, int]) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _colour(rng: np.random.Generator, against: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    """A random colour; against a ground, mostly one of high contrast (graphics are made to be read)."""
    for _ in range(20):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.25:  # greys, black and white are common in print and on screens
            g = int(rng.choice([0, 255, int(rng.integers(0, 256))]))
            c = (g, g, g)
        if against is None or rng.random() < 0.15 or abs(_luma(c) - _luma(against)) > 80:
            return c
    return (255, 255, 255) if _luma(against) < 128 else (0, 0, 0)


def _word(rng: np.random.Generator) -> str:
    n = int(rng.integers(1, 11))
    w = "".join(_LETTERS[i] for i in rng.integers(0, len(_LETTERS), n))
    r = rng.random()
    if r < 0.25:
        w = w.capitalize()
    elif r < 0.35:
        w = w.upper()
    elif r < 0.45:
        w = str(int(rng.integers(0, 10 ** int(rng.integers(1, 6)))))
    if rng.random() < 0.2:
        w += _PUNCT[int(rng.integers(len(_PUNCT)))]
    return w


def _ground(rng: np.random.Generator, side: int) -> tuple[Image.Image, tuple[int, int, int]]:
    """A plain, linearly graded or cloudy ground, and its mean colour."""
    a = _colour(rng)
    r = rng.random()
    if r < 0.55:
        return Image.new("RGB", (side, side), a), a
    if r < 0.8:
        b = _colour(rng)
        t = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:side, 0:side] / side
        ramp = (xx * math.cos(t) + yy * math.sin(t))
        ramp = (ramp - ramp.min()) / max(ramp.max() - ramp.min(), 1e-6)
        arr = np.array(a, np.float32) * (1 - ramp[..., None]) + np.array(b, np.float32) * ramp[..., None]
    else:
        cells = int(rng.integers(2, 9))
        arr = rng.uniform(0, 255, (cells, cells, 3)).astype(np.float32)
        arr = np.asarray(Image.fromarray(arr.astype(np.uint8)).resize((side, side), Image.BICUBIC), np.float32)
    im = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    mean = tuple(int(v) for v in np.asarray(im).reshape(-1, 3).mean(0))
    return im, mean


def _polygon(rng: np.random.Generator, side: int) -> list[tuple[float, float]]:
    cx, cy = rng.uniform(0, side, 2)
    r = rng.uniform(0.05, 0.35) * side
    n = int(rng.integers(3, 9))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = r * rng.uniform(0.5, 1.0, n)
    return [(float(cx + q * math.cos(t)), float(cy + q * math.sin(t))) for q, t in zip(radii, angles)]


def _stripe_mask(side: int, period: float, width: int, t: float) -> Image.Image:
    """White parallel lines of `width` every `period` pixels at angle `t`, on black, over the whole canvas."""
    mask = Image.new("L", (side, side), 0)
    d = ImageDraw.Draw(mask)
    ux, uy = math.cos(t), math.sin(t)  # along the lines
    nx, ny = -uy, ux  # across them
    c, reach = side / 2, side * 0.75
    for k in range(int(-reach / period), int(reach / period) + 1):
        ox, oy = c + nx * k * period, c + ny * k * period
        d.line([(ox - ux * reach, oy - uy * reach), (ox + ux * reach, oy + uy * reach)], fill=255, width=width)
    return mask


def _stripes(rng: np.random.Generator, side: int, s: int, ground: tuple[int, int, int]) -> Image.Image:
    """Stripes (cloth, blinds, a zebra's coat) or checks in two colours, over the whole canvas."""
    c1, c2 = _colour(rng), _colour(rng, ground)
    period = rng.uniform(2.0, 14.0) * s
    width = max(1, int(round(period * rng.uniform(0.25, 0.6))))
    t = rng.uniform(0, math.pi)
    mask = _stripe_mask(side, period, width, t)
    if rng.random() < 0.3:  # checks: the lines crossed by as many at right angles, alternate cells swapped
        other = _stripe_mask(side, period, max(1, int(round(period / 2))), t + math.pi / 2)
        mask = Image.fromarray(np.asarray(mask) ^ np.asarray(other))
    return Image.composite(Image.new("RGB", (side, side), c2), Image.new("RGB", (side, side), c1), mask)


def render_graphic(rng: np.random.Generator, size: int, fonts: list[Path]) -> Image.Image:
    """One `size`² RGB image of text, shapes and stripes."""
    s = int(rng.choice([1, 1, 2, 4]))  # drawing scale: 1 = pixel-sharp edges, 2 and 4 = anti-aliased
    side = size * s
    im, ground = _ground(rng, side)
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(6, 30))):
        kind = rng.random()
        if kind < 0.4:  # a block of text
            fs = int(round(rng.choice([rng.uniform(8, 20), rng.uniform(20, 80)]) * s))
            font = _font(fonts, rng, fs)
            x, y = rng.uniform(-0.1, 0.9, 2) * side
            colour = _colour(rng, ground)
            for _ in range(int(rng.integers(1, 8))):
                line = " ".join(_word(rng) for _ in range(int(rng.integers(1, 9))))
                d.text((float(x), float(y)), line, fill=colour, font=font)
                y += fs * rng.uniform(1.05, 1.5)
        elif kind < 0.75:  # a flat shape, filled or outlined
            colour = _colour(rng, ground)
            width = max(1, int(round(rng.uniform(1, 8) * s)))
            fill = colour if rng.random() < 0.6 else None
            outline = None if fill is not None and rng.random() < 0.6 else _colour(rng, ground)
            x0, y0 = rng.uniform(-0.1, 1.0, 2) * side
            w, h = rng.uniform(0.03, 0.5, 2) * side
            box = [float(x0), float(y0), float(x0 + w), float(y0 + h)]
            shape = rng.random()
            if shape < 0.3:
                d.rectangle(box, fill=fill, outline=outline, width=width)
            elif shape < 0.45:
                d.rounded_rectangle(box, radius=float(min(w, h) * rng.uniform(0.05, 0.5)), fill=fill,
                                    outline=outline, width=width)
            elif shape < 0.65:
                d.ellipse(box, fill=fill, outline=outline, width=width)
            elif shape < 0.85:
                d.polygon(_polygon(rng, side), fill=fill, outline=outline, width=width)
            else:
                pts = [tuple(float(v) for v in rng.uniform(0, side, 2)) for _ in range(int(rng.integers(2, 6)))]
                d.line(pts, fill=colour, width=width, joint="curve")
        else:  # a patch of stripes or checks inside a shape
            mask = Image.new("L", (side, side), 0)
            md = ImageDraw.Draw(mask)
            if rng.random() < 0.5:
                md.polygon(_polygon(rng, side), fill=255)
            else:
                x0, y0 = rng.uniform(0, 0.8, 2) * side
                w, h = rng.uniform(0.1, 0.5, 2) * side
                md.rectangle([float(x0), float(y0), float(x0 + w), float(y0 + h)], fill=255)
            im.paste(_stripes(rng, side, s, ground), (0, 0), mask)
    if s > 1:
        im = im.resize((size, size), Image.LANCZOS)
    if rng.random() < 0.25:  # a little optical softness, as in a photograph
        im = im.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 0.7))))
    return im


def write_graphics(out_dir: str | Path, count: int, size: int = 512, seed: int = 0,
                   fonts: list[Path] | None = None, quiet: bool = True) -> list[Path]:
    """Write `count` images (graphic_0000.png, ...) and graphics.json (seed, size, fonts) into `out_dir`.

    Image i depends only on (seed, i) and the fonts, so a set can be extended or completed; an existing image
    is kept as it is.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fonts = find_fonts() if fonts is None else fonts
    paths = []
    for i in progress(range(count), desc="graphics", unit="image", quiet=quiet):
        p = out / f"graphic_{i:04d}.png"
        if not p.exists():
            im = render_graphic(np.random.default_rng([seed, i]), size, fonts)
            atomic_write(p, lambda tmp, im=im: im.save(tmp, format="PNG"))
        paths.append(p)
    info = {"seed": seed, "size": size, "count": count, "fonts": [f.name for f in fonts]}
    atomic_write(out / "graphics.json", lambda tmp: tmp.write_text(json.dumps(info, indent=1) + "\n"),
                 overwrite=True)
    return paths
