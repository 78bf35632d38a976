"""Speed of 16-bit image files through ``rlfn.io.images``: read (load_picture) and write (save_picture).

One 2000×1500 16-bit RGB picture (smooth gradients and waves plus a little seeded noise, so it compresses like a
photo rather than like noise or a flat field) is written and read as PNG and as TIFF; each time is the median of
``--repeat`` runs. Run it against two checkouts to compare them, e.g.

    PYTHONPATH=src python benchmarks/codec_speed.py [--width 2000] [--height 1500] [--repeat 5]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def test_picture(width: int, height: int) -> np.ndarray:
    """Deterministic H×W×3 uint16 content: gradients, waves and light noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / width, y / height
    r = 0.5 + 0.35 * np.sin(6.0 * u + 2.0 * v) + 0.1 * u
    g = 0.5 + 0.3 * np.cos(4.0 * v - 3.0 * u * v) + 0.1 * v
    b = 0.5 + 0.25 * np.sin(9.0 * (u - 0.5) ** 2 + 7.0 * (v - 0.5) ** 2)
    noise = np.random.default_rng(0).normal(0.0, 0.004, size=(height, width, 3))
    img = np.stack([r, g, b], axis=2) + noise
    return (np.clip(img, 0.0, 1.0) * 65535.0).round().astype(np.uint16)


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=2000)
    ap.add_argument("--height", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    import rlfn.io.images as images
    from rlfn.io.images import Picture, load_picture, save_picture

    pixels = test_picture(args.width, args.height)
    print(f"rlfn.io.images from {Path(images.__file__).parent}")
    print(f"{args.width}×{args.height} 16-bit RGB, median of {args.repeat}\n")
    print("| format | write ms | read ms | file MB | read back exact |")
    print("|--------|---------:|--------:|--------:|:---------------:|")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, suffix in (("PNG", ".png"), ("TIFF", ".tif")):
            path = Path(tmp) / f"bench{suffix}"
            write = median_ms(lambda: save_picture(Picture(pixels), path, overwrite=True), args.repeat)
            read = median_ms(lambda: load_picture(path), args.repeat)
            back = load_picture(path)
            exact = back.pixels.dtype == np.uint16 and np.array_equal(back.pixels, pixels)
            print(f"| {fmt:<6} | {write:8.0f} | {read:7.0f} | {path.stat().st_size / 1e6:7.1f} | "
                  f"{'yes' if exact else 'NO':^15} |")


if __name__ == "__main__":
    main()
