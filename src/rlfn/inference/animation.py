"""Upscaling an animated GIF, APNG or WebP frame by frame, keeping every frame, its duration and the loop
count (:mod:`rlfn.io.animation` reads and writes them)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..io.animation import animation_format, check_animation_output, open_animation, save_animation
from ..io.atomic import refuse_existing
from ..progress import progress
from .upscaler import Upscaler


def upscale_animation(up: Upscaler, src: str | Path, dst: str | Path, fmt: str | None = None, *, quality: int = 95,
                      overwrite: bool = False, max_pixels: int | None = None, quiet: bool = False,
                      warn: Callable[[str], None] | None = None) -> float:
    """Upscale the animation ``src`` into ``dst`` (GIF, PNG or WebP, from ``fmt`` or the suffix), atomically.
    Returns the input megapixels (all frames). A still GIF comes out as a still GIF."""
    src, dst = Path(src), Path(dst)
    refuse_existing(dst, overwrite)
    out_fmt = animation_format(dst, fmt)
    s = up.scale
    with open_animation(src, max_pixels) as anim:
        w, h = anim.size
        check_animation_output(dst, out_fmt, w * s, h * s, anim.n_frames)
        frames, durations = [], []
        for pixels, duration in progress(anim.frames(), total=anim.n_frames, desc=src.name, quiet=quiet, unit="frame"):
            frames.append(up.upscale_array(pixels))
            durations.append(duration)
        loop, icc, n = anim.loop, anim.icc, anim.n_frames
    if warn is not None and anim.format != out_fmt and out_fmt == "GIF":
        warn(f"{dst.name}: GIF holds 256 colours per frame and binary transparency; the frames are quantised")
    save_animation(frames, durations, dst, out_fmt, loop=loop, quality=quality, icc=icc, overwrite=overwrite)
    return n * w * h / 1e6
