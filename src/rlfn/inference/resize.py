"""Output sizes other than the model's own: ``--outscale 3`` from a ×4 model, or ``--width 1920``.

The model runs at its scale; the result is then resized with Pillow's antialiased bicubic filter (its
kernel widens with the reduction, so shrinking a ×4 result to ×3 does not alias). 8-bit images are resized
as they are; 16-bit and float ones channel by channel in 32-bit float, so that no precision is lost.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import ConfigError

MAX_SIDE = 1 << 20  # a million pixels a side: far beyond any image, a guard against typos


@dataclass(frozen=True)
class OutputSize:
    """What the output's size should be: ``outscale`` × the input's, or a ``width`` and/or ``height``
    (the aspect ratio is kept; with both, the image fits inside that box). All None: the model's scale."""

    outscale: float | None = None
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        if self.outscale is not None and (self.width is not None or self.height is not None):
            raise ConfigError("give either an output scale or a width/height, not both")
        if self.outscale is not None and not (math.isfinite(self.outscale) and 0 < self.outscale <= 64):
            raise ConfigError(f"output scale {self.outscale}: give a number above 0 and at most 64")
        for name, v in (("width", self.width), ("height", self.height)):
            if v is not None and not (1 <= v <= MAX_SIDE):
                raise ConfigError(f"output {name} {v}: give a number of pixels between 1 and {MAX_SIDE}")

    @property
    def native(self) -> bool:
        return self.outscale is None and self.width is None and self.height is None

    def for_input(self, width: int, height: int, scale: int) -> tuple[int, int]:
        """The output (width, height) for an input of ``width`` × ``height`` and a ×``scale`` model."""
        if self.native:
            return width * scale, height * scale
        if self.outscale is not None:
            f = self.outscale
        elif self.width is not None and self.height is not None:
            f = min(self.width / width, self.height / height)
        elif self.width is not None:
            f = self.width / width
        else:
            f = self.height / height
        w, h = max(1, round(width * f)), max(1, round(height * f))
        # The side that was asked for is exact, whatever the rounding of the factor does to it.
        if self.width is not None and (self.height is None or w >= self.width):
            w = self.width
        if self.height is not None and (self.width is None or h >= self.height):
            h = self.height
        return w, h

    def label(self, scale: int) -> str:
        """What ``{scale}`` in an output name stands for: ``3``, ``1.5``, ``1920w``; the model's scale when native."""
        if self.outscale is not None:
            return f"{self.outscale:g}"
        if self.width is not None and self.height is not None:
            return f"{self.width}x{self.height}"
        if self.width is not None:
            return f"{self.width}w"
        if self.height is not None:
            return f"{self.height}h"
        return str(scale)


def resize_pixels(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H×W×C pixels (uint8, uint16 or float in [0, 1]) resized to ``size`` = (width, height), same dtype."""
    w, h = size
    if (pixels.shape[1], pixels.shape[0]) == (w, h):
        return pixels
    if pixels.dtype == np.uint8 and pixels.shape[2] in (1, 3, 4):
        grey = pixels.shape[2] == 1
        # RGBA is resized premultiplied by Pillow, so colours under transparent pixels do not bleed.
        im = Image.fromarray(np.ascontiguousarray(pixels[:, :, 0] if grey else pixels))
        out = np.asarray(im.resize((w, h), Image.Resampling.BICUBIC))
        return out[:, :, None] if grey else out
    maxval = 65535.0 if pixels.dtype == np.uint16 else (255.0 if pixels.dtype == np.uint8 else 1.0)
    out = np.empty((h, w, pixels.shape[2]), dtype=pixels.dtype)
    for c in range(pixels.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(pixels[:, :, c], dtype=np.float32))
        big = np.clip(np.asarray(plane.resize((w, h), Image.Resampling.BICUBIC)), 0, maxval)
        out[:, :, c] = big.round() if maxval != 1.0 else big
    return out


# ---- does the output fit in memory? ---------------------------------------------------------------------------


def available_memory() -> int | None:
    """Bytes this process may still allocate, as far as the system says: MemAvailable (Linux), lowered by an
    address-space limit (``ulimit -v``, RLIMIT_AS) less what the process already maps; None where unknown."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm", encoding="ascii") as f:
                mapped = int(f.read().split()[0]) * resource.getpagesize()
            left = max(0, soft - mapped)
            avail = left if avail is None else min(avail, left)
    except (ImportError, OSError, ValueError):
        pass
    return avail


SMALL_OUTPUT = 256 * 2**20  # outputs below this are never refused for memory (and the memory is not looked up)


def output_bytes(in_size: tuple[int, int], scale: int, out_size: tuple[int, int], channels: int, itemsize: int) -> int:
    """What an upscale holds at its peak beside the model's own buffers: the ×scale result, and for another
    output size the resized copy (plus a 32-bit float plane while resizing 16-bit or float pixels)."""
    (w, h), (ow, oh) = in_size, out_size
    need = w * scale * h * scale * channels * itemsize
    if (ow, oh) != (w * scale, h * scale):
        need += ow * oh * channels * itemsize + (ow * oh * 4 * 2 if itemsize != 1 else 0)
    return need


def check_output_fits(in_size: tuple[int, int], scale: int, out_size: tuple[int, int], channels: int,
                      itemsize: int, available: int | None = None) -> None:
    """An :class:`ImageError` before any work when the output cannot fit in the memory left (one line that
    names the size, what it needs and the limit); nothing where the memory left is unknown."""
    from ..errors import ImageError

    need = output_bytes(in_size, scale, out_size, channels, itemsize)
    if need < SMALL_OUTPUT and available is None:
        return  # not worth a look at /proc: most images, and every request rlfn serve takes by default
    avail = available_memory() if available is None else available
    if avail is not None and need > avail:
        ow, oh = out_size
        raise ImageError(
            f"the output would be {ow}×{oh} ({ow * oh / 1e6:,.0f} megapixels, about {need / 2**30:.1f} GiB with "
            f"its intermediate results), more than the {avail / 2**30:.1f} GiB of memory available; ask for a "
            "smaller --width, --height or --outscale")
