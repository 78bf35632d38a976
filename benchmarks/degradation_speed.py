"""Speed of the real-world degradation pipeline: degraded samples/s on one thread.

Each sample is one HR patch (default 192×192, ×4 → 48×48 LR, the CPU training patch) taken from real photos
and degraded with its own seed, as a loader worker would. Compare with the network's training rate
(patches/s, from benchmarks/train_throughput.py): the pipeline should be well above it, so that the network
sets the training speed. The MATLAB-bicubic LR of the same patches (today's on-the-fly mode) is timed too.

    python benchmarks/degradation_speed.py [--data DIR ...] [--patch 192] [--scale 4] [--samples 200] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = [REPO.parent / "shared" / "data" / "train" / "sun-hays-80"]


def load_patches(folders: list[str], patch: int, count: int) -> list[torch.Tensor]:
    """``count`` HR patches, cropped at seeded positions from the photos (or smooth noise without photos)."""
    from rlfn.io.images import list_images, read_rgb

    files = [f for d in folders if Path(d).is_dir() for f in list_images(d)]
    rng = np.random.default_rng(0)
    if not files:
        print("degradation_speed: no photos found; using synthetic patches (give --data)", file=sys.stderr)
        coarse = torch.rand(count, 3, patch // 8, patch // 8, generator=torch.Generator().manual_seed(0))
        big = torch.nn.functional.interpolate(coarse, size=(patch, patch), mode="bicubic").clamp(0, 1)
        return [(p * 255).round().to(torch.uint8) for p in big]
    images = []
    for f in files[:20]:
        im = read_rgb(f).round().clamp(0, 255).to(torch.uint8)
        if min(im.shape[1:]) >= patch:
            images.append(im)
    out = []
    for _ in range(count):
        im = images[int(rng.integers(len(images)))]
        y, x = int(rng.integers(im.shape[1] - patch + 1)), int(rng.integers(im.shape[2] - patch + 1))
        out.append(im[:, y: y + patch, x: x + patch].contiguous())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=[str(p) for p in DEFAULT_DATA])
    ap.add_argument("--patch", type=int, default=192, help="HR patch side")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--samples", type=int, default=200, help="timed samples per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from rlfn.quality.degradation import make_lr
    from rlfn.quality.realworld import RealWorldDegradation

    patches = load_patches(args.data, args.patch, args.samples)
    deg = RealWorldDegradation(args.scale)  # runs on --threads threads
    for i in range(5):  # warm-up: FFT plans, Pillow, allocator
        deg(patches[i], (0, 0, i))
    real, bicubic = [], []
    for r in range(args.rounds):
        t0 = time.perf_counter()
        for i, hr in enumerate(patches):
            deg(hr, (0, r, i))
        real.append(len(patches) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for hr in patches:
            make_lr(hr.to(torch.float64), args.scale)
        bicubic.append(len(patches) / (time.perf_counter() - t0))
        print(f"round {r + 1}/{args.rounds}: real-world {real[-1]:.1f}, bicubic {bicubic[-1]:.1f} samples/s",
              file=sys.stderr)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"HR patch {args.patch}x{args.patch} -> LR {args.patch // args.scale}x{args.patch // args.scale} (x{args.scale}), "
          f"{args.threads} thread(s), {len(patches)} samples x {args.rounds} rounds, load average {load:.2f}")
    print(f"real-world degradation: {statistics.median(real):.1f} samples/s (median; best {max(real):.1f})")
    print(f"MATLAB bicubic LR:      {statistics.median(bicubic):.1f} samples/s (median; best {max(bicubic):.1f})")


if __name__ == "__main__":
    main()
